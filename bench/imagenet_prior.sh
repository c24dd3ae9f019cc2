#!/bin/bash
# bench/imagenet_prior.sh — issue 14's experiments (docs/QUALITY.md "What was tried"): what
# MobileNetV2's ImageNet classifier and DeepLabV3's person class add to a tuned catalog's label
# prior on real phone photos. Dumps with bench/imagenet_prior.c, analyses with
# bench/imagenet_prior.py (numpy). About 12 min on the 2 shared cores (dumps 9, analysis 3).
# usage: bash bench/imagenet_prior.sh BUILD TUNED.db [WORKDIR]   (TUNED.db: the whole catalog,
# tuned on its training split as `lookalike tune --db raw.db --out tuned.db` does)
set -euo pipefail
B=${1:?build dir}; DB=${2:?tuned catalog}; W=${3:-/tmp/lk-imagenet-prior}
D=$(cd "$(dirname "$0")/.." && pwd)/../shared/data
M=${LOOKALIKE_MODELS:-models}
make -s "$B/bench/imagenet_prior"
mkdir -p "$W/shop"; ln -sfn "$D/fashion-catalog/photos-225x300" "$W/shop/images"
X="nice $B/bench/imagenet_prior $DB $M"
$X gallery "$W/gal.bin"
$X street "$D/street-photos" "$W/street.bin"
$X catalog "$D/fashion-catalog" train 6 1 "$W/train.bin"   # every 6th training product + 1 view
$X catalog "$D/fashion-catalog" test 5 1 "$W/test.bin"     # every 5th held-out product + 1 view
$X catalog "$W/shop" test 1 0 "$W/shop.bin"                # held-out products' shop photos
nice /usr/bin/python3 "$(dirname "$0")/imagenet_prior.py" "$DB" "$W" "$M/imagenet_labels.txt"
