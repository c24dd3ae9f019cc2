#!/usr/bin/env bash
# bench/run.sh [BUILD] — what `make bench` runs (issue 5, "Speed"; not part of `make test`):
# first the two CPU-bound ones, before the runs that fill the disk and the page cache with
# ~60 GB of files: embedding throughput beside TFLite and PyTorch (bench/embed.sh, ~11 min)
# and decode beside PIL (bench/decode.sh, ~2 min); then indexing the whole catalog in exact and int8 compute with their quality
# (bench/index.sh, ~5 min, which leaves the full catalog for the next two), vector search beside
# FAISS (bench/search.sh, ~19 min: the engine's IVF configuration at 1M and a richer one), the
# IVF beside hnswlib and FAISS at 1M on a tuned catalog (bench/peers.sh, ~18 min, after ~2 min
# of `tune`), ten million items through the saved IVF with filters, and the raw 1,792-d recipe
# at 1M (bench/big.sh, ~5.5 min and ~12 GB of disk), `serve` of a ten-million-item catalog from
# its saved index (bench/serve_big.sh, ~12 min, ~46 GB) and search through HTTP on the full
# catalog (bench/http_load.sh, ~1 min). Each prints its table and writes it into its own
# section of docs/PERFORMANCE.md. About 75 minutes on the 2-core machine (2026-12-07); it
# should be otherwise idle: every table records the load.
# (`make bench-peers-10m`, the peers at 10M, is apart: ~75 min.)
# One script failing does not stop the others; the exit status says whether all passed.
set -uo pipefail
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
failed=()
export LOOKALIKE_BENCH_DB=${LOOKALIKE_BENCH_DB:-/tmp/full-p80.db}
# the tuned 256-d catalog peers.sh and big.sh draw their vectors around: `lookalike tune`'s
# defaults on the bench catalog, made once
export LOOKALIKE_TUNED_DB=${LOOKALIKE_TUNED_DB:-/tmp/lk-bench-tuned.db}
tuned() {
  [ -f "$LOOKALIKE_TUNED_DB" ] && return 0
  echo "bench: tuning $LOOKALIKE_BENCH_DB into $LOOKALIKE_TUNED_DB (lookalike tune's defaults)"
  make -s BUILD="$B" "$B/lookalike" && "$B/lookalike" tune --db "$LOOKALIKE_BENCH_DB" --out "$LOOKALIKE_TUNED_DB" --quiet
}
for s in embed decode index search peers big serve_big http_load; do
  [ -f "bench/$s.sh" ] || { echo "bench: no bench/$s.sh, skipped"; continue; }
  echo "=== bench/$s.sh ($(date -u +%H:%M:%S) UTC, $(uptime | sed 's/.*load/load/'))"
  case $s in
    search) bash bench/search.sh "$B" --db "$LOOKALIKE_BENCH_DB" || failed+=("$s") ;;
    peers | big | serve_big) { tuned && bash "bench/$s.sh" "$B" --db "$LOOKALIKE_TUNED_DB"; } || failed+=("$s") ;;
    *) bash "bench/$s.sh" "$B" || failed+=("$s") ;;
  esac
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}"
  exit 1
fi
echo "bench: all tables written to docs/PERFORMANCE.md"
