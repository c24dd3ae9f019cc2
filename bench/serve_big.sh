#!/usr/bin/env bash
# bench/serve_big.sh — issue 19 target 2 through the product: a big SQLite catalog
# (bench/catalog_bench.c: a tuned catalog's real items plus synthetic ones drawn around them,
# with their parents' fields), `lookalike optimize` writing its saved index (wall time, peak
# RSS, file size), then `lookalike serve` started twice on it (bench/saved_index.sh: start ->
# first answered /api/items/ID/similar, VmRSS then) and 200 similar-item requests over HTTP
# twice (p50/p99, served from the mapped file: the first pass from disk where the page cache
# lacks the pages). Writes the "Serving a big catalog" table into
# docs/PERFORMANCE.md (between its serve-big markers) and prints the README "Measured" row.
#   bash bench/serve_big.sh [BUILD] [--db TUNED] [--n 10000000] [--out DIR] [--no-doc] [--keep]
# (BUILD: the build folder, as bench/run.sh passes it; default /tmp/lk-bench-build.) Needs about
# 4.6 KB of disk a row under --out (46 GB at 10M: the catalog and its saved index, removed at
# the end unless --keep; an existing DIR/big.db of the right size is reused). Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${LOOKALIKE_TUNED_DB:-/tmp/lk-bench-tuned.db} N=10000000 OUT=/tmp/lk-serve-big DOC=1 KEEP=0
BUILD=${BUILD:-/tmp/lk-bench-build}
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$1; shift; fi
usage() { echo "usage: bash bench/serve_big.sh [BUILD] [--db TUNED] [--n N] [--out DIR] [--no-doc] [--keep]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --db|--n|--out) [ $# -ge 2 ] || usage ;;&
    --db) DB=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-doc) DOC=0; shift ;;
    --keep) KEEP=1; shift ;;
    *) usage ;;
  esac
done
[[ "$N" =~ ^[0-9]+$ ]] || { echo "serve_big: --n takes a whole number" >&2; exit 2; }
[ -f "$DB" ] || { echo "serve_big: no tuned catalog $DB (bench/run.sh makes one; or --db)" >&2; exit 1; }
make -s BUILD="$BUILD" "$BUILD/lookalike" "$BUILD/bench/catalog_bench" >&2
BIN=$BUILD/lookalike
mkdir -p "$OUT"
BIG=$OUT/big.db
have=0
[ -f "$BIG" ] && have=$(sqlite3 "$BIG" "select count(*) from vectors" 2>/dev/null || echo 0)
cleanup() { [ "$KEEP" = 1 ] || rm -f "$BIG" "$BIG".lkx* "$BIG"-wal "$BIG"-shm; }
trap cleanup EXIT
LOG=$OUT/results.txt
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }
say "date $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; load before $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$have" != "$N" ]; then
  need_kb=$(( N * 4700 / 1024 ))
  avail_kb=$(df -Pk "$OUT" | awk 'NR == 2 {print $4}')
  if [ "$avail_kb" -lt "$need_kb" ]; then
    echo "serve_big: $OUT has $((avail_kb / 1048576)) GiB free, $N items need about $((need_kb / 1048576)) GiB" >&2
    exit 1
  fi
  rm -f "$BIG" "$BIG".lkx* "$BIG"-wal "$BIG"-shm
  cp "$DB" "$BIG"
  t0=$(date +%s)
  "$BUILD/bench/catalog_bench" --db "$BIG" --n "$N" > "$OUT/gen.log" 2>&1
  say "catalog $N items written in $(( $(date +%s) - t0 )) s"
else
  rm -f "$BIG".lkx "$BIG".lkx.tmp
  say "catalog $N items reused"
fi
say "catalog file $(( $(stat -c %s "$BIG") / 1048576 )) MiB"
/usr/bin/time -f 'optimize wall %e s, peak RSS %M kB' "$BIN" optimize --db "$BIG" --json > "$OUT/optimize.json" 2> "$OUT/optimize.err" || {
  cat "$OUT/optimize.err" >&2; exit 1; }
grep 'optimize wall' "$OUT/optimize.err" | tee -a "$LOG"
if [ -f "$BIG.lkx" ]; then say "index file $(( $(stat -c %s "$BIG.lkx") / 1048576 )) MiB"; else say "no index file (a catalog this small takes the exact index)"; fi
for i in 1 2; do
  say "serve start $i: $(bash bench/saved_index.sh "$BIN" "$BIG" "$OUT/serve$i.log" | head -1)"
done
# 200 similar-item requests to one server, one at a time (ids spread over the catalog)
"$BIN" serve --db "$BIG" --host 127.0.0.1 --port 0 2> "$OUT/serve-lat.log" &
P=$!
port=
for _ in $(seq 600); do
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$OUT/serve-lat.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { kill $P; echo "serve_big: the server did not start" >&2; cat "$OUT/serve-lat.log" >&2; exit 1; }
sqlite3 "$BIG" "select id from vectors where id % $(( N / 200 > 0 ? N / 200 : 1 )) = 7 limit 200" > "$OUT/ids.txt"
# the first pass reads the pages its searches touch from disk unless the page cache has them
# (the file is bigger than the RAM at 10M); the second asks the same again
for pass in 1 2; do
  for id in $(cat "$OUT/ids.txt"); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/api/items/$id/similar?k=10"
  done > "$OUT/lat$pass.txt"
done
for id in $(head -50 "$OUT/ids.txt"); do
  curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/api/items/$id/similar?k=10&baseColour=Red"
done > "$OUT/lat-red.txt"
rss=$(awk '/VmRSS/ {print $2}' /proc/$P/status) anon=$(awk '/RssAnon/ {print $2}' /proc/$P/status)
kill -TERM $P; wait $P || true
pct() { sort -n "$1" | awk -v q="$2" '{a[NR]=$1} END {i=int(q*NR+0.5); if (i<1) i=1; if (i>NR) i=NR; printf "%.1f", a[i]*1000}'; }
say "similar over HTTP: $(wc -l < "$OUT/lat1.txt") requests p50 $(pct "$OUT/lat1.txt" 0.5) ms p99 $(pct "$OUT/lat1.txt" 0.99) ms; again p50 $(pct "$OUT/lat2.txt" 0.5) ms p99 $(pct "$OUT/lat2.txt" 0.99) ms; with baseColour=Red p50 $(pct "$OUT/lat-red.txt" 0.5) ms p99 $(pct "$OUT/lat-red.txt" 0.99) ms; VmRSS after $((rss / 1024)) MiB (anonymous $((anon / 1024)))"
say "load after $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$LOG" "$N" "$DOC" <<'EOF'
import re, sys
log, n, doc = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
t = open(log).read()
def g(p, d="?"):
    m = re.search(p, t)
    return m.group(1) if m else d
opt_s, opt_kb = g(r"optimize wall ([\d.]+) s"), g(r"peak RSS (\d+) kB", "0")
fmb = int(g(r"index file (\d+) MiB", "0"))
starts = re.findall(r"serve start \d: first search after ([\d.]+) s; VmRSS (\d+) MiB \(anonymous (\d+)", t)
lat = re.search(r"p50 ([\d.]+) ms p99 ([\d.]+) ms; again p50 ([\d.]+) ms p99 ([\d.]+) ms; with baseColour=Red p50 ([\d.]+) ms p99 ([\d.]+) ms", t)
rows = ["| items | `optimize` (stream + write) | index file | serve: start -> first search (runs 1, 2) | serve: RSS then (anonymous) | similar over HTTP p50 / p99: first, again | with a colour filter |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {n:,} | {float(opt_s) / 60:.1f} min, peak RSS {int(opt_kb) / 1048576:.1f} GiB | {fmb:,} MiB | "
        + ", ".join(f"{float(s[0]):.1f} s" for s in starts) + " | "
        + ", ".join(f"{int(s[1]):,} MiB ({int(s[2]):,})" for s in starts) + " | "
        + (f"{lat.group(1)} / {lat.group(2)} ms, {lat.group(3)} / {lat.group(4)} ms | {lat.group(5)} / {lat.group(6)} ms |" if lat else "? | ? |")]
head = [l for l in t.splitlines() if l.startswith("date") or l.startswith("load after") or l.startswith("catalog")]
block = "\n".join(["<!-- serve-big:begin -->", "`bash bench/serve_big.sh` (" + "; ".join(head) + "):", ""] + rows + ["<!-- serve-big:end -->"])
print(block)
if starts:
    print(f"\nREADME row: | `serve` of a {n:,}-item catalog from its saved index | optimize {float(opt_s) / 60:.1f} min; start to first answered search "
          + ", ".join(f"{float(s[0]):.1f} s" for s in starts) + (f"; similar over HTTP p50 {lat.group(1)} ms (asked again {lat.group(3)} ms)" if lat else "") + " | `bench/serve_big.sh` |")
if doc:
    p = "docs/PERFORMANCE.md"
    d = open(p).read()
    if "<!-- serve-big:begin -->" in d:
        d = re.sub(r"<!-- serve-big:begin -->.*?<!-- serve-big:end -->", lambda _: block, d, flags=re.S)
        open(p, "w").write(d)
    else:
        print("serve_big: docs/PERFORMANCE.md has no serve-big markers; table not written", file=sys.stderr)
EOF
echo "results: $LOG" >&2
