#!/usr/bin/env bash
# tools/golden/regen.sh — regenerates the golden fixtures tests/golden/*.txt with the official
# TensorFlow Lite runtime (libtensorflowlite_c 2.9 from the npm package tfjs-tflite-node@0.0.2,
# fetched into .cache/ on first use). Run from anywhere; needs npm once, gcc, and the shared
# models and photos (LOOKALIKE_SHARED, default ../shared). The test binary never links TFLite.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${LOOKALIKE_SHARED:-../shared}
MODELS=$SHARED/models
IMAGES=$SHARED/data/fashion-catalog/images
CACHE=.cache/tflite
DEPS=$CACHE/package/cc_deps
# A shirt, shoes, a watch, a handbag, sunglasses and a grayscale T-shirt photo.
IDS="30805 39988 59263 47957 16957 10721"

if [ ! -f "$DEPS/linux_amd64/libtensorflowlite_c.so" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && npm pack --silent tfjs-tflite-node@0.0.2 >/dev/null && tar xzf tfjs-tflite-node-0.0.2.tgz)
fi

BIN=$CACHE/tflite_dump
gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wno-unused-parameter -march=x86-64-v3 -Iinclude -Isrc \
  -I"$DEPS/include" \
  tools/golden/tflite_dump.c src/image/*.c src/util/err.c -o "$BIN" \
  -L"$DEPS/linux_amd64" -Wl,-rpath,"$PWD/$DEPS/linux_amd64" -ltensorflowlite_c \
  -lturbojpeg -lpng -lwebp -lnettle -lm

mkdir -p tests/golden
"$BIN" "$MODELS/mobilenet_v2_1.0_224_quant.tflite" "$IMAGES" \
  -t MobilenetV2/Logits/AvgPool -c MobilenetV2/Predictions/Softmax $IDS \
  > tests/golden/mobilenet_v2_1.0_224_quant.txt
"$BIN" "$MODELS/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite" "$IMAGES" \
  -t MobilenetV1/Logits/AvgPool_1a/AvgPool $IDS \
  > tests/golden/mobilenet_v1_1.0_224_quant_embedding_extractor.txt
# The TF2 converter fuses names; this is the pooled pre-logits output of MEAN.
TF2_POOL='MobileNetV2/top/Reshape/Reshape;StatefulPartitionedCall/MobileNetV2/top/Reshape/Reshape;MobileNetV2/top/GlobalPool/Mean/reduction_indices;StatefulPartitionedCall/MobileNetV2/top/GlobalPool/Mean/reduction_indices;MobileNetV2/top/GlobalPool/Mean;StatefulPartitionedCall/MobileNetV2/top/GlobalPool/Mean;MobileNetV2/top/Reshape/Reshape/shape;StatefulPartitionedCall/MobileNetV2/top/Reshape/Reshape/shape1'
"$BIN" "$MODELS/tf2_mobilenet_v2_1.0_224_ptq.tflite" "$IMAGES" \
  -t "$TF2_POOL" -c Identity $IDS \
  > tests/golden/tf2_mobilenet_v2_1.0_224_ptq.txt
ls -l tests/golden/
