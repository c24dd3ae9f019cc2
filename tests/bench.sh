#!/usr/bin/env bash
# tests/bench.sh [BUILD] — the benchmarks' report writers, without running a benchmark:
# bench/peers_report.py on a fixture (tests/fixtures/peers_results.txt) into a copy of
# docs/PERFORMANCE.md: only its peers-bench markers' text changes, rerunning changes nothing,
# each method's fastest setting at recall@10 >= 0.95 and >= 0.99 is the one expected (filtered
# rows left out), a peer that wins is named as winning, a method short of a target says so,
# a file without the markers is refused and left as it was, and a 10M run goes into its own
# section; bench/search_report.py on its fixture (tests/fixtures/search_results.txt). Under a
# second.
# Last line: "bench: N passed, M failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "  ok   $1"; }
ko() { fail=$((fail + 1)); echo "  FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
T=$(mktemp -d /tmp/lk-bench-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
export PYTHONDONTWRITEBYTECODE=1
FIX=$ROOT/tests/fixtures/peers_results.txt
cp "$ROOT/docs/PERFORMANCE.md" "$T/doc.md"
outside() { sed '/<!-- peers-bench:begin -->/,/<!-- peers-bench:end -->/d' "$1"; }
$PY "$ROOT/bench/peers_report.py" "$FIX" "$T/doc.md" > "$T/out.txt"
check "peers_report writes its table" test $? -eq 0 -a -s "$T/out.txt"
check "only the text between the markers changed" cmp -s <(outside "$ROOT/docs/PERFORMANCE.md") <(outside "$T/doc.md")
cp "$T/doc.md" "$T/doc1.md"
$PY "$ROOT/bench/peers_report.py" "$FIX" "$T/doc.md" > /dev/null
check "a second run changes nothing" cmp -s "$T/doc.md" "$T/doc1.md"
has() { grep -qF -- "$1" "$T/doc.md"; }
check "every setting listed, filtered rows left out" has "| ours (coarse-only, 256-d codes) | nprobe 2, exact re-rank of 20 | 0.900 |" &&
  ! has "| 0.999 |"
check ">= 0.95: ours at nprobe 4 (not the faster filtered row)" \
  has "Ours at >= 0.95: ours (coarse-only, 256-d codes), nprobe 4, exact re-rank of 20."
check ">= 0.95: hnswlib ef 10 wins on p50, CPU p50 and RAM + mapped" \
  has "- hnswlib HNSW, M 16, ef_construction 100 (ef 10): p50 0.60x, p99 2.00x, CPU p50 0.60x, CPU p99 2.00x, RAM 4.00x, RAM + mapped 0.91x: **hnswlib HNSW, M 16, ef_construction 100 wins on p50, CPU p50, RAM + mapped**."
check ">= 0.95: ours ahead of IVF-Flat on every count" \
  has "- FAISS IVF47,Flat (nprobe 4): p50 6.00x, p99 6.00x, CPU p50 6.00x, CPU p99 6.00x, RAM 4.67x, RAM + mapped 1.06x: ours is ahead on every count."
check ">= 0.99: ours at nprobe 8, hnswlib at ef 32" has "Ours at >= 0.99: ours (coarse-only, 256-d codes), nprobe 8, exact re-rank of 20." &&
  has "| hnswlib HNSW, M 16, ef_construction 100 | ef 32 | 0.995 | 0.100 | 0.300 |"
check ">= 0.99: IVF-Flat never reaches it" has "| FAISS IVF47,Flat | never (best 0.970) |"
check "the Python call floor is stated" has "faiss 7 µs"
printf '# no markers\n' > "$T/bare.md"
$PY "$ROOT/bench/peers_report.py" "$FIX" "$T/bare.md" > /dev/null 2> "$T/err.txt"
rc=$?
check "a file without the markers is refused and kept" \
  test $rc -ne 0 -a "$(cat "$T/bare.md")" = "# no markers" -a -n "$(grep -F 'no <!-- peers-bench:begin -->' "$T/err.txt")"
# a run of 10,000,000 goes into the "Peers at 10M" section, the 1M one is kept
sed 's/ n=1000 / n=10000000 /' "$FIX" > "$T/fix10m.txt"
cp "$T/doc1.md" "$T/doc10m.md"
$PY "$ROOT/bench/peers_report.py" "$T/fix10m.txt" "$T/doc10m.md" > /dev/null
check "a 10M run writes between the peers-bench-10M markers only" \
  bash -c "cmp -s <(sed '/<!-- peers-bench-10M:begin -->/,/<!-- peers-bench-10M:end -->/d' '$T/doc1.md') <(sed '/<!-- peers-bench-10M:begin -->/,/<!-- peers-bench-10M:end -->/d' '$T/doc10m.md') && sed -n '/peers-bench-10M:begin/,/peers-bench-10M:end/p' '$T/doc10m.md' | grep -qF '10,000,000 vectors'"
# bench/search_report.py on tests/fixtures/search_results.txt: two of our IVF configurations (the
# engine's coarse-only one, then fine + coarse) and FAISS; FAISS's ratio is to the engine's
SFIX=$ROOT/tests/fixtures/search_results.txt
cp "$ROOT/docs/PERFORMANCE.md" "$T/sdoc.md"
$PY "$ROOT/bench/search_report.py" "$SFIX" "$T/sdoc.md" > /dev/null
check "search_report writes between the search-bench markers only" \
  bash -c "cmp -s <(sed '/<!-- search-bench:begin -->/,/<!-- search-bench:end -->/d' '$ROOT/docs/PERFORMANCE.md') <(sed '/<!-- search-bench:begin -->/,/<!-- search-bench:end -->/d' '$T/sdoc.md')"
shas() { grep -qF -- "$1" "$T/sdoc.md"; }
check "search_report lists both of our builds" \
  shas "| ours (the engine's): IVF47, coarse-only int8 256-d codes | 280 (300 before \`lk_ivf_trim\`) | 1.0 s + 2.0 s |" &&
  shas "| ours: IVF47, int8 codes 128-d coarse + 768-d fine | 939 (960 before \`lk_ivf_trim\`) | 3.0 s + 4.0 s |"
check "search_report: each build's fastest setting at >= 0.95 (filtered rows left out)" \
  shas "ours, coarse-only 256-d (280 B/item) is fastest at nprobe 48, rerank 200, refine 200: p50 0.90 ms" &&
  shas "ours, 128-d + 768-d fine (939 B/item) is fastest at nprobe 32, rerank 400, refine 200: p50 1.70 ms"
check "search_report: the engine default is marked in the engine's build only" \
  shas "| **ours, coarse-only 256-d, engine default** | 48 | 200 | 200 | none |" &&
  test "$(grep -c 'engine default\*\*' "$T/sdoc.md")" -eq 1
check "search_report: FAISS's ratio is to the engine's configuration" \
  shas "p50 94.50 ms = 105.0x ours, coarse-only 256-d (CPU time 105.0x); 6.43x its RAM per item"
check "search_report: violations are summed over both builds" shas "Filters: 1 disallowed or missing hits"
echo "bench: $pass passed, $fail failed"
[ $fail -eq 0 ]
