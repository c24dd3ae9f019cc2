#!/usr/bin/env bash
# bench/search.sh — search benchmarks (issue 5): the catalog's exact search, plain float scan vs
# the int8-shortlist scan; the IVF index on N vectors drawn around the catalog's real ones (the
# engine's configuration, then fine + coarse codes);
# FAISS (Debian's python3-faiss) on the same vectors in the same run. Writes the tables into
# docs/PERFORMANCE.md's "## Search" section (between its search-bench markers).
#   bash bench/search.sh [BUILD] [--db DB] [--n 1000000] [--queries 300] [--out DIR] [--no-doc]
# (BUILD: the build folder, as bench/run.sh passes it; default /tmp/lk-bench-build)
# Needs ~8 GB of disk under --out for 1M x 1792 floats (removed at the end) and ~3 GB RAM.
# Without DB (default /tmp/full-p80.db, which bench/index.sh makes) it indexes the shared
# catalog with the default recipe first (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
DB=/tmp/full-p80.db N=1000000 NQ=300 OUT=/tmp/lk-search-bench DOC=1
BUILD=${BUILD:-/tmp/lk-bench-build}
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$1; shift; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --db) DB=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    --queries) NQ=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-doc) DOC=0; shift ;;
    *) echo "usage: bash bench/search.sh [--db DB] [--n N] [--queries Q] [--out DIR] [--no-doc]" >&2; exit 2 ;;
  esac
done
BIN=${LK_SEARCH_BENCH:-}
if [ -z "$BIN" ]; then
  make -s BUILD="$BUILD" "$BUILD/bench/search_bench" >&2
  BIN=$BUILD/bench/search_bench
fi
if [ ! -f "$DB" ]; then
  DATA=${LOOKALIKE_DATA:-$PWD/../shared/data/fashion-catalog}
  echo "search: no $DB, indexing $DATA with the default recipe" >&2
  make -s BUILD="$BUILD" "$BUILD/lookalike" >&2
  "$BUILD/lookalike" index "$DATA/images" --styles "$DATA/styles.csv" --db "$DB" --quiet >&2
fi
. bench/peer_env.sh
peer_env faiss:python3-faiss numpy:python3-numpy
mkdir -p "$OUT"
LOG=$OUT/results.txt
: > "$LOG"
run() { echo "+ $*" >&2; "$@" | tee -a "$LOG"; }
{
  echo "date $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; $(nproc) cores)"
} | tee -a "$LOG"
T0=$(date +%s)
run "$BIN" exact --db "$DB" --queries "${EXACT_QUERIES:-1000}" --reps 3 --threads 1 --out "$OUT"
echo "+ $BIN exact ... --threads 2" >&2
"$BIN" exact --db "$DB" --queries "${EXACT_QUERIES:-1000}" --reps 1 --threads 2 | grep RESULT | sed 's/^RESULT exact /RESULT exact2 /' | tee -a "$LOG"
# the engine's configuration first (what `--index ivf` builds at this size: coarse-only codes of
# at most 256 principal directions, every candidate re-scored exactly; nprobe 48, re-rank 200),
# then int8 codes of 768 fine + 128 coarse directions, the richer codes it once used
run "$BIN" ivf --db "$DB" --n "$N" --queries "$NQ" --out "$OUT" --fine 0 --coarse 256 --code-share engine \
  --nprobe 32,48,64,96 --rerank 200,400 --refine 200
run "$BIN" ivf --db "$DB" --n "$N" --queries "$NQ" --out "$OUT" --nprobe 32,64,96,128
run "${PEER_ENV[@]}" $PY bench/search_faiss.py --dir "$OUT" --build-threads "$(nproc)" --nprobe 32,64,96,128
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); total $(( $(date +%s) - T0 )) s" | tee -a "$LOG"
rm -f "$OUT"/base.npy "$OUT"/train.npy
[ "$DOC" = 1 ] && $PY bench/search_report.py "$LOG" docs/PERFORMANCE.md
echo "results: $LOG" >&2
