#!/usr/bin/env bash
# bench/big.sh — issue 19's ten million items on this machine: bench/big_bench.c draws N rows
# around a tuned catalog's real 256-d vectors into a float32 vector file, builds the IVF with
# the items' fields as filter columns (coarse-only codes, exact re-rank from the mapped file),
# saves it, loads it back, and measures memory, p50/p99 and recall@10, unfiltered and with a
# ~2 % shopper's filter. Writes the "Ten million items" table into docs/PERFORMANCE.md (between
# its big-bench markers) and prints the README "Measured" row. Then the same for the raw 1,792-d
# recipe at 1M (issue 19 target 1's third catalog: RAW_DB's vectors, the engine's 256-d codes,
# nprobe 32-96 and the engine's tuned depth, rerank 200; ~1.5 min, 7.5 GB of disk), between the
# big-raw-bench markers (--raw-n 0 skips it).
#   bash bench/big.sh [BUILD] [--db DB] [--n 10000000] [--queries 300] [--out DIR] [--no-doc] [--keep]
#                     [--bench-args "ARGS"]   (more big_bench options: --nprobe, --rerank, --nlist...)
#                     [--raw-db DB] [--raw-n 1000000]
# (BUILD: the build folder, as bench/run.sh passes it; default /tmp/lk-bench-build)
# Needs ~1.4 KB of disk per row under --out (~14 GB at 10M: the vector file and the saved index,
# both removed at the end unless --keep) and ~5 GB of RAM besides the page cache. Without DB
# (default $LOOKALIKE_TUNED_DB or /tmp/lk-bench-tuned.db) it tunes $LOOKALIKE_BENCH_DB (default
# /tmp/full-p80.db, which bench/index.sh makes; indexed here if missing) with `lookalike tune`'s
# defaults into DIR/tuned.db first.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${LOOKALIKE_TUNED_DB:-/tmp/lk-bench-tuned.db} N=10000000 NQ=300 OUT=/tmp/lk-big DOC=1 KEEP=0 EXTRA=""
RAW_DB=${LOOKALIKE_BENCH_DB:-/tmp/full-p80.db} RAW_N=1000000
BUILD=${BUILD:-/tmp/lk-bench-build}
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$1; shift; fi
usage() { echo "usage: bash bench/big.sh [BUILD] [--db DB] [--n N] [--queries Q] [--out DIR] [--no-doc] [--keep] [--bench-args ARGS] [--raw-db DB] [--raw-n N]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --db|--n|--queries|--out|--bench-args|--raw-db|--raw-n) [ $# -ge 2 ] || usage ;;&
    --raw-db) RAW_DB=$2; shift 2 ;;
    --raw-n) RAW_N=$2; shift 2 ;;
    --db) DB=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    --queries) NQ=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --bench-args) EXTRA=$2; shift 2 ;;
    --no-doc) DOC=0; shift ;;
    --keep) KEEP=1; shift ;;
    *) usage ;;
  esac
done
[[ "$N" =~ ^[0-9]+$ && "$NQ" =~ ^[0-9]+$ && "$RAW_N" =~ ^[0-9]+$ ]] || { echo "big: --n, --queries and --raw-n take whole numbers" >&2; exit 2; }
BIN=${LK_BIG_BENCH:-}
if [ -z "$BIN" ]; then
  make -s BUILD="$BUILD" "$BUILD/bench/big_bench" >&2
  BIN=$BUILD/bench/big_bench
fi
mkdir -p "$OUT"
if [ ! -f "$DB" ]; then
  FULL=${LOOKALIKE_BENCH_DB:-/tmp/full-p80.db}
  make -s BUILD="$BUILD" "$BUILD/lookalike" >&2
  if [ ! -f "$FULL" ]; then
    DATA=${LOOKALIKE_DATA:-$PWD/../shared/data/fashion-catalog}
    echo "big: no $FULL, indexing $DATA with the default recipe" >&2
    "$BUILD/lookalike" index "$DATA/images" --styles "$DATA/styles.csv" --db "$FULL" --quiet >&2
  fi
  echo "big: no $DB, tuning $FULL into $OUT/tuned.db (lookalike tune's defaults: 256-d)" >&2
  DB=$OUT/tuned.db
  rm -f "$DB"*
  "$BUILD/lookalike" tune --db "$FULL" --out "$DB" --quiet >&2
fi
# ~1,024 bytes a row for the 256-d vector file, ~400 for the saved index, 10 % spare
need_kb=$(( N * 1560 / 1024 ))
avail_kb=$(df -Pk "$OUT" | awk 'NR == 2 {print $4}')
if [ "$avail_kb" -lt "$need_kb" ]; then
  echo "big: $OUT has $((avail_kb / 1048576)) GiB free, $N rows need about $((need_kb / 1048576)) GiB" >&2
  exit 1
fi
cleanup() { [ "$KEEP" = 1 ] || rm -f "$OUT/vectors.npy" "$OUT/index.lkx" "$OUT/index.lkx.tmp"; }
trap cleanup EXIT
LOG=$OUT/results.txt
: > "$LOG"
{
  echo "date $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; $(nproc) cores)"
} | tee -a "$LOG"
T0=$(date +%s)
echo "+ $BIN --db $DB --n $N --queries $NQ --out $OUT $EXTRA" >&2
# shellcheck disable=SC2086 # EXTRA is a list of options
"$BIN" --db "$DB" --n "$N" --queries "$NQ" --out "$OUT" $EXTRA | tee -a "$LOG"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); total $(( $(date +%s) - T0 )) s" | tee -a "$LOG"
if [ "$DOC" = 1 ]; then
  python3 bench/big_report.py "$LOG" docs/PERFORMANCE.md
else
  python3 bench/big_report.py "$LOG"
fi
echo "results: $LOG" >&2
[ "$RAW_N" -gt 0 ] || exit 0
# the raw 1,792-d recipe at 1M: the 10M run's files go first (their disk), unless --keep
cleanup
RAW=$OUT/raw
mkdir -p "$RAW"
[ "$KEEP" = 1 ] || trap 'cleanup; rm -f "$RAW/vectors.npy" "$RAW/index.lkx" "$RAW/index.lkx.tmp"' EXIT
RLOG=$RAW/results.txt
{
  echo "date $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; $(nproc) cores)"
} | tee "$RLOG"
T0=$(date +%s)
echo "+ $BIN --db $RAW_DB --n $RAW_N --queries $NQ --out $RAW --coarse 256 --nprobe 32,48,64,96 --rerank 200" >&2
"$BIN" --db "$RAW_DB" --n "$RAW_N" --queries "$NQ" --out "$RAW" --coarse 256 --nprobe 32,48,64,96 --rerank 200 | tee -a "$RLOG"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); total $(( $(date +%s) - T0 )) s" | tee -a "$RLOG"
if [ "$DOC" = 1 ]; then
  python3 bench/big_report.py --marker big-raw-bench "$RLOG" docs/PERFORMANCE.md
else
  python3 bench/big_report.py --marker big-raw-bench "$RLOG"
fi
echo "results: $RLOG" >&2
