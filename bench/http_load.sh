#!/usr/bin/env bash
# bench/http_load.sh [BUILD] — photo-search throughput and latency through HTTP: indexes a
# sample of the shared catalog (or uses $LOOKALIKE_BENCH_DB), starts `lookalike serve` on a
# loopback port and runs bench/http_load.js (closed-loop multipart POST /api/search, k=10)
# with 1, 2 and 8 concurrent clients. Prints a table and writes it into docs/PERFORMANCE.md
# under "## HTTP search" (replacing that section only). Not part of `make test`.
#   LOOKALIKE_BENCH_ITEMS   catalog size to index, or "all" (default 5000)
#   LOOKALIKE_BENCH_SECONDS seconds per concurrency level (default 10)
#   LOOKALIKE_BENCH_THREADS server --threads (default 4)
#   LOOKALIKE_BENCH_DB      an existing catalog to serve instead of indexing one
set -euo pipefail
B=${1:-build}
ROOT=$PWD
case $B in /*) BIN=$B/lookalike ;; *) BIN=$ROOT/$B/lookalike ;; esac
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
ITEMS=${LOOKALIKE_BENCH_ITEMS:-5000}
SECS=${LOOKALIKE_BENCH_SECONDS:-10}
THREADS=${LOOKALIKE_BENCH_THREADS:-4}
OUT=$ROOT/docs/PERFORMANCE.md
[ -x "$BIN" ] || { echo "http_load: no binary at $BIN (run make)"; exit 1; }
command -v node >/dev/null || { echo "http_load: node is required"; exit 1; }

T=$(mktemp -d /tmp/lk-httpbench-XXXXXX)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

DB=${LOOKALIKE_BENCH_DB:-}
if [ -z "$DB" ]; then
  DB=$T/c.db
  if [ "$ITEMS" = all ]; then
    echo "http_load: indexing the whole catalog (a few minutes)"
    "$BIN" index "$DATA/images" --styles "$DATA/styles.csv" --db "$DB" > "$T/index.log" 2>&1
  else
    echo "http_load: indexing $ITEMS products spread over the catalog"
    mkdir -p "$T/img"
    tail -n +2 "$DATA/styles.csv" | cut -d, -f1 | sort -n > "$T/all"
    total=$(wc -l < "$T/all")
    awk -v n="$ITEMS" -v t="$total" 'BEGIN { step = t / n } NR >= next_pick { print; next_pick += step }' next_pick=1 "$T/all" |
      head -n "$ITEMS" > "$T/ids"
    while read -r id; do [ -f "$DATA/images/$id.jpg" ] && ln -s "$DATA/images/$id.jpg" "$T/img/$id.jpg"; done < "$T/ids"
    "$BIN" index "$T/img" --styles "$DATA/styles.csv" --db "$DB" > "$T/index.log" 2>&1
  fi
fi

"$BIN" serve --db "$DB" --host 127.0.0.1 --port 0 --threads "$THREADS" --quiet 2> "$T/server.log" &
SERVER=$!
PORT=
for _ in $(seq 300); do
  PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/server.log" 2>/dev/null)
  [ -n "$PORT" ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$T/server.log"; exit 1; }
  sleep 0.1
done
URL=http://127.0.0.1:$PORT
NVEC=$(curl -s "$URL/health" | sed -n 's/.*"vectors":\([0-9]*\).*/\1/p')
IDX=$(curl -s "$URL/health" | sed -n 's/.*"index":"\([a-z]*\)".*/\1/p')
EMB=$(sed -n 's/.*, \([0-9]*\) embedders.*/\1/p' "$T/server.log")
idle_pct() { # share of CPU time idle over 2 s: other work on the machine skews the numbers
  local a b c d e f g h t1 i1
  read -r _ a b c d e f g h _ < /proc/stat; t1=$((a + b + c + d + e + f + g + h)); i1=$((d + e))
  sleep 2
  read -r _ a b c d e f g h _ < /proc/stat
  echo $(( 100 * (d + e - i1) / (a + b + c + d + e + f + g + h - t1 + 1) ))
}
IDLE0=$(idle_pct)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
mapfile -t PHOTOS < <(ls "$DATA/photos-225x300" | sort -n | head -50 | sed "s|^|$DATA/photos-225x300/|")
echo "http_load: $NVEC searchable items, server --threads $THREADS ($EMB embedders), ${SECS}s per level, CPU idle before: $IDLE0%"
node "$ROOT/bench/http_load.js" "$URL" 1 2 10 "${PHOTOS[@]}" > /dev/null   # warm-up

stage_mean() { # mean of a search stage from /metrics, ms
  curl -s "$URL/metrics" | awk -v s="$1" '
    $1 == "lookalike_search_stage_seconds_sum{stage=\"" s "\"}" { sum = $2 }
    $1 == "lookalike_search_stage_seconds_count{stage=\"" s "\"}" { n = $2 }
    END { if (n > 0) printf "%.1f", sum / n * 1000; else printf "-" }'
}

rows=()
printf '%8s %8s %8s %8s %8s %8s %7s\n' clients req/s p50_ms p90_ms p99_ms max_ms errors
for c in 1 2 8; do
  j=$(node "$ROOT/bench/http_load.js" "$URL" "$c" "$SECS" 10 "${PHOTOS[@]}")
  read -r rps p50 p90 p99 mx err < <(echo "$j" | node -e '
    const j = JSON.parse(require("fs").readFileSync(0, "utf8"));
    console.log([j.rps, j.p50_ms, j.p90_ms, j.p99_ms, j.max_ms, j.errors].join(" "));')
  printf '%8s %8s %8s %8s %8s %8s %7s\n' "$c" "$rps" "$p50" "$p90" "$p99" "$mx" "$err"
  rows+=("| $c | $rps | $p50 | $p90 | $p99 | $mx | $err |")
done
IDLE1=$(idle_pct)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
dec=$(stage_mean decode); que=$(stage_mean queue); emb=$(stage_mean embed); knn=$(stage_mean knn)
echo "http_load: mean stages over all requests: decode $dec ms, queue $que ms, embed $emb ms, knn $knn ms"

cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
{
  echo "## HTTP search"
  echo
  echo "\`bench/http_load.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores ($cpu), catalog of $NVEC items,"
  echo "\`lookalike serve --threads $THREADS\` ($EMB embedders), closed-loop clients on loopback with"
  echo "keep-alive, each sending multipart \`POST /api/search\` (k=10) of 225x300 shop photos back to"
  echo "back for ${SECS} s. Latency is from request to last response byte, as the client sees it; the"
  echo "client runs on the same cores. CPU idle just before the run: $IDLE0%, just after: $IDLE1%"
  echo "(less than ~95% means other work on the machine skewed the numbers); load average (1/5/15 min)"
  echo "before: $LOAD0, after: $LOAD1."

  echo
  echo "| clients | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Mean server-side stages per search: decode $dec ms, waiting for an embedder $que ms,"
  echo "embed $emb ms, k-NN ($IDX index) $knn ms. A search is CPU-bound from end to end, so once every"
  echo "core is busy more clients add queueing latency, not requests per second."
  echo
} > "$T/section.md"
if [ -f "$OUT" ]; then # replace our section, keep the others
  awk -v sec="$T/section.md" '
    /^## HTTP search[[:space:]]*$/ { skip = 1; while ((getline l < sec) > 0) print l; done = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
    END { if (!done) { print ""; while ((getline l < sec) > 0) print l } }' "$OUT" > "$T/perf.md"
  cp "$T/perf.md" "$OUT"
else
  { echo "# Performance"; echo; cat "$T/section.md"; } > "$OUT"
fi
echo "http_load: wrote the \"HTTP search\" section of docs/PERFORMANCE.md"
