#!/usr/bin/env bash
# bench/live.sh — what a change to a served catalog costs (docs/PERFORMANCE.md "Live updates"):
# bench/live_bench at 35k items (256 and 1,792 floats) and at 1M items (256 floats, IVF; about
# 2 minutes and 4.5 GB of RAM on 2 cores). Prints the results; the table is copied by hand.
#   bash bench/live.sh [BUILD] [--no-1m]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$1; shift; fi
BIG=1
[ "${1:-}" = --no-1m ] && BIG=0
make -s BUILD="$BUILD" "$BUILD/bench/live_bench" >&2
echo "date $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/bench/live_bench" --n 35000 --dim 256
"$BUILD/bench/live_bench" --n 35000 --dim 1792
[ $BIG = 1 ] && "$BUILD/bench/live_bench" --n 1000000 --dim 256
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
