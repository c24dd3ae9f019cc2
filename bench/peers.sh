#!/usr/bin/env bash
# bench/peers.sh — issue 19 item 3: ours beside hnswlib and FAISS in the same run, on the same N
# vectors (default 1M) drawn around a tuned 256-d catalog's real ones by `search_bench ivf`, which
# also times ours (fine + coarse codes, then coarse-only with the exact re-rank from the mapped
# vector file) and writes the files bench/search_peers.py builds each peer from (one process
# each). Writes the "Peers at 1M" table into docs/PERFORMANCE.md (between its peers-bench
# markers) with bench/peers_report.py; `--n 10000000` writes "Peers at 10M" (`make
# bench-peers-10m`, which leaves out the two peers that would take hours to build there).
#   bash bench/peers.sh [BUILD] [--db DB] [--n 1000000] [--queries 1000] [--out DIR] [--no-doc]
#                       [--peers LIST]   (search_peers.py's names, comma-separated; default all)
# (BUILD: the build folder, as bench/run.sh passes it; default /tmp/lk-bench-build)
# About 35 minutes at 1M on 2 cores (the HNSW builds take most of it); ~1.1 GB of disk under
# --out per 1M rows (removed at the end) and ~3 GB of RAM. DB defaults to $LOOKALIKE_TUNED_DB or
# /tmp/lk-bench-tuned.db: a catalog made by `lookalike tune` (256-d vectors).
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${LOOKALIKE_TUNED_DB:-/tmp/lk-bench-tuned.db} N=1000000 NQ=1000 OUT=/tmp/lk-peers-bench DOC=1 PEERS=""
BUILD=${BUILD:-/tmp/lk-bench-build}
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$1; shift; fi
usage() { echo "usage: bash bench/peers.sh [BUILD] [--db DB] [--n N] [--queries Q] [--out DIR] [--no-doc] [--peers LIST]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --db|--n|--queries|--out|--peers) [ $# -ge 2 ] || usage ;;&
    --db) DB=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    --queries) NQ=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    --no-doc) DOC=0; shift ;;
    *) usage ;;
  esac
done
[[ "$N" =~ ^[0-9]+$ && "$NQ" =~ ^[0-9]+$ ]] || { echo "peers: --n and --queries take whole numbers" >&2; exit 2; }
if [ ! -f "$DB" ]; then
  echo "peers: no tuned catalog $DB: make one with \`lookalike tune --db FULL.db --out $DB\`" \
       "(bench/index.sh makes FULL.db) or pass --db" >&2
  exit 1
fi
BIN=${LK_SEARCH_BENCH:-}
if [ -z "$BIN" ]; then
  make -s BUILD="$BUILD" "$BUILD/bench/search_bench" >&2
  BIN=$BUILD/bench/search_bench
fi
. bench/peer_env.sh
peer_env faiss:python3-faiss hnswlib:python3-hnswlib numpy:python3-numpy
mkdir -p "$OUT"
LOG=$OUT/results.txt
: > "$LOG"
run() { echo "+ $*" >&2; "$@" | tee -a "$LOG"; }
load() { echo "load $1: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; $(nproc) cores)" | tee -a "$LOG"; }
echo "date $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); catalog $DB" | tee -a "$LOG"
load before
T0=$(date +%s)
IVF=(ivf --db "$DB" --n "$N" --queries "$NQ" --out "$OUT")
# ours with fine 256-d + coarse 128-d codes, then coarse-only (128-d codes: the leading principal
# directions; `rerank` candidates go straight to the exact re-rank), then coarse-only as the
# engine builds it (codes shortened to the directions holding 98.5 % of the energy: 64-d here)
run "$BIN" "${IVF[@]}" --fine 256 --coarse 128 --nprobe 2,4,6,8,12,16,24,32,48 --rerank 100,200,400 --refine 0,50
load "after ours (fine + coarse)"
run "$BIN" "${IVF[@]}" --fine 0 --coarse 128 --nprobe 2,4,6,8,12,16,24,32,48 --rerank 20,50,100 --refine 0,50
load "after ours (coarse-only, 128-d codes)"
run "$BIN" "${IVF[@]}" --fine 0 --coarse 128 --code-share engine --nprobe 2,4,6,7,8,12,16,24,32,48 --rerank 20,50,100 --refine 0,50
load "after ours (coarse-only, the engine's code length)"
run "${PEER_ENV[@]}" $PY bench/search_peers.py --dir "$OUT" --build-threads "$(nproc)" ${PEERS:+--peers "$PEERS"}
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); total $(( $(date +%s) - T0 )) s" | tee -a "$LOG"
rm -f "$OUT"/base.npy "$OUT"/train.npy
[ "$DOC" = 1 ] && $PY bench/peers_report.py "$LOG" docs/PERFORMANCE.md
echo "results: $LOG" >&2
