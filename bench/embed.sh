#!/usr/bin/env bash
# bench/embed.sh [BUILD] — embedding throughput of lookalike beside its two peers, in one run on
# the same photos and thread counts: the official TensorFlow Lite 2.9 runtime on the very same
# .tflite file (bench/tflite_bench.c against libtensorflowlite_c from npm tfjs-tflite-node@0.0.2,
# fetched into .cache/ like tools/golden/regen.sh), and PyTorch (Debian's python3-torch, torchvision
# mobilenet_v2, bench/torch_bench.py; apt-installed here when missing, with libgoogle-perftools4
# for tcmalloc). The engines alternate over the rounds. Also times the default model's layers
# (ONEDNN_VERBOSE=1). Writes the "## Embedding throughput" table of docs/PERFORMANCE.md (between
# <!-- bench:embed --> markers) via bench/embed_report.py. Not part of `make test`.
#   LOOKALIKE_BENCH_ROUNDS  rounds (default 3)    LOOKALIKE_BENCH_SECONDS per configuration (default 2)
#   LOOKALIKE_BENCH_PHOTOS  photos (default 64)   LOOKALIKE_BENCH_NO_TORCH=1 skips PyTorch
set -euo pipefail
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case $B in /*) ;; *) B=$ROOT/$B ;; esac
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
ROUNDS=${LOOKALIKE_BENCH_ROUNDS:-3}
SECS=${LOOKALIKE_BENCH_SECONDS:-2}
N=${LOOKALIKE_BENCH_PHOTOS:-64}
PY=/usr/bin/python3
IMAGES=$DATA/images
MODEL=models/mobilenet_v2_1.0_224_quant.tflite
TF2=models/tf2_mobilenet_v2_1.0_224_ptq.tflite
TF2_TAP='MobileNetV2/top/Reshape/Reshape;StatefulPartitionedCall/MobileNetV2/top/Reshape/Reshape;MobileNetV2/top/GlobalPool/Mean/reduction_indices;StatefulPartitionedCall/MobileNetV2/top/GlobalPool/Mean/reduction_indices;MobileNetV2/top/GlobalPool/Mean;StatefulPartitionedCall/MobileNetV2/top/GlobalPool/Mean;MobileNetV2/top/Reshape/Reshape/shape;StatefulPartitionedCall/MobileNetV2/top/Reshape/Reshape/shape1'
[ -f "$MODEL" ] || bash scripts/models.sh
LK=$B/bench/embed_bench
make -s BUILD="$B" "$LK" # (always: a binary older than the sources would be measured)

# The official runtime: the npm package's libtensorflowlite_c.so 2.9 and its C headers.
CACHE=.cache/tflite
DEPS=$CACHE/package/cc_deps
TFL=$B/bench/tflite_bench
if [ ! -f "$DEPS/linux_amd64/libtensorflowlite_c.so" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && npm pack --silent tfjs-tflite-node@0.0.2 >/dev/null && tar xzf tfjs-tflite-node-0.0.2.tgz) ||
    echo "embed: could not fetch tfjs-tflite-node (npm); the TFLite column will be missing"
fi
if [ -f "$DEPS/linux_amd64/libtensorflowlite_c.so" ]; then
  mkdir -p "$B/bench"
  ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wshadow -Wno-unused-parameter -march=x86-64-v3 \
    -Iinclude -Isrc -I"$DEPS/include" -pthread bench/tflite_bench.c -o "$TFL" "$B/liblookalike.a" \
    -L"$DEPS/linux_amd64" -Wl,-rpath,"$ROOT/$DEPS/linux_amd64" -ltensorflowlite_c \
    -lturbojpeg -lpng -lwebp -lnettle -lm -pthread
else
  TFL=
fi

# PyTorch from Debian.
TORCH=1
[ "${LOOKALIKE_BENCH_NO_TORCH:-0}" = 1 ] && TORCH=0
if [ $TORCH = 1 ] && ! $PY -c 'import torch, torchvision' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "embed: installing python3-torch, python3-torchvision, libgoogle-perftools4"
    apt-get install -y python3-torch python3-torchvision libgoogle-perftools4 >/dev/null || true
  fi
  $PY -c 'import torch, torchvision' 2>/dev/null || { echo "embed: no PyTorch; its column will be missing"; TORCH=0; }
fi

idle_pct() { # share of CPU time idle over 2 s
  local a b c d e f g h t1 i1
  read -r _ a b c d e f g h _ < /proc/stat; t1=$((a + b + c + d + e + f + g + h)); i1=$((d + e))
  sleep 2
  read -r _ a b c d e f g h _ < /proc/stat
  echo $(( 100 * (d + e - i1) / (a + b + c + d + e + f + g + h - t1 + 1) ))
}

T=$(mktemp -d /tmp/lk-embedbench-XXXXXX)
trap 'rm -rf "$T"' EXIT
R=$T/res
mkdir -p "$R"
run_lk() {
  "$LK" --json --peak --n "$N" --seconds "$SECS" --images "$IMAGES" --model "$MODEL" >> "$R/lk_default.jsonl"
  [ -f "$TF2" ] && "$LK" --json --no-pipeline --batches 1 --n "$N" --seconds "$SECS" --images "$IMAGES" --model "$TF2" \
    --tap "$TF2_TAP" >> "$R/lk_tf2.jsonl"
  return 0
}
run_tfl() {
  [ -n "$TFL" ] || return 0
  "$TFL" "$MODEL" --json --n "$N" --seconds "$SECS" --images "$IMAGES" >> "$R/tfl_default.jsonl" 2>> "$T/tfl.log"
  [ -f "$TF2" ] && "$TFL" "$TF2" --json --n "$N" --seconds "$SECS" --images "$IMAGES" 2>> "$T/tfl.log" |
    grep '"xnnpack"\|"info"' >> "$R/tfl_tf2.jsonl"
  return 0
}
run_torch() {
  [ $TORCH = 1 ] || return 0
  $PY bench/torch_bench.py --json --seconds "$SECS" >> "$R/torch.jsonl"
}

U0=$(uptime | sed 's/^ *//'); I0=$(idle_pct)
for r in $(seq "$ROUNDS"); do
  echo "embed: round $r/$ROUNDS ($(uptime | sed 's/.*load/load/'))"
  case $((r % 3)) in
    1) run_lk; run_tfl; run_torch ;;
    2) run_torch; run_tfl; run_lk ;;
    0) run_tfl; run_lk; run_torch ;;
  esac
done
echo "embed: per-layer times (ONEDNN_VERBOSE=1)"
ONEDNN_VERBOSE=1 "$LK" --layers --n 8 --images "$IMAGES" --model "$MODEL" > "$R/layers.txt" 2>&1 || true
U1=$(uptime | sed 's/^ *//'); I1=$(idle_pct)
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
$PY - "$R/meta.json" <<PYEOF
import json, sys
json.dump({"date": "$(date -u '+%Y-%m-%d %H:%M UTC')", "cpu": "$cpu", "cores": $(nproc), "rounds": $ROUNDS,
           "seconds": $SECS, "uptime0": "$U0", "uptime1": "$U1", "idle0": $I0, "idle1": $I1}, open(sys.argv[1], "w"))
PYEOF
[ -n "${LOOKALIKE_BENCH_KEEP:-}" ] && cp -r "$R" "$LOOKALIKE_BENCH_KEEP"
$PY bench/embed_report.py embed "$R" docs/PERFORMANCE.md
echo "embed: wrote the \"Embedding throughput\" section of docs/PERFORMANCE.md"
