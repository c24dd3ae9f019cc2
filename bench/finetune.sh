#!/bin/bash
# bench/finetune.sh — issue 14's fine-tuning experiment end to end (not shipped; docs/QUALITY.md,
# "What was tried"): trains Conv_1 (bench/finetune.c), writes the trained .tflite
# (bench/finetune_patch.py) and a recipe naming it, then the shop pipeline with it: index the
# training split, `lookalike tune` with no option, index the whole catalog into the tuned
# catalog (the held-out products as new ones), and the street and studio evals, tuned and
# untuned. Usage: bash bench/finetune.sh BUILD WORKDIR [finetune options, e.g. --lr 5e-4 --epochs 2]
# WORKDIR keeps the cache (2 GB), the weights, the models folder and the catalogs; ~25 min.
set -euo pipefail
B=$(realpath "$1"); W=$2; shift 2
D=$(realpath ../shared/data/fashion-catalog); S=$(realpath ../shared/data/street-photos)
SRC=$(realpath models); HERE=$(dirname "$(realpath "$0")")
mkdir -p "$W/models" && cd "$W"
for f in "$SRC"/*; do ln -sf "$(realpath "$f")" models/; done
[ -f full.db ] || nice "$B/lookalike" index "$D/images" --styles "$D/styles.csv" --db full.db -q
[ -f styles-train.csv ] || "$B/lookalike" tune --split train --styles "$D/styles.csv" > styles-train.csv
nice "$B/bench/finetune" --db full.db --models models --cache cache.bin --out ft.bin "$@" | tee train.log
E=$(grep -c '^epoch .*Conv_1 + heads' train.log)   # the last epoch; pick another by train.log's held-out lines
/usr/bin/python3 "$HERE/finetune_patch.py" models/mobilenet_v2_1.0_224_quant.tflite ft.bin.e$E models/mnv2-ft.tflite
sha=$(sha256sum models/mnv2-ft.tflite | cut -d' ' -f1)
sqlite3 full.db "select value from meta where key='recipe'" | sed "s/mobilenet_v2_1.0_224_quant.tflite/mnv2-ft.tflite/;
  s/7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776/$sha/; s/\"name\":\"\([^\"]*\)\"/\"name\":\"ft-\1\"/" > ft.json
export LOOKALIKE_MODELS=$PWD/models
rm -f raw.db* tuned.db* ftfull.db*
nice "$B/lookalike" index "$D/images" --styles styles-train.csv --db raw.db --recipe "$PWD/ft.json" -q
nice "$B/lookalike" tune --db raw.db --out tuned.db > tune.log
cp raw.db ftfull.db
for db in tuned ftfull; do
  nice "$B/lookalike" index "$D/images" --styles "$D/styles.csv" --db $db.db -q
  nice "$B/lookalike" eval --db $db.db --street "$S" --markdown > street-$db.md
  nice "$B/lookalike" eval --db $db.db --holdout-mod 5 --split test --same-product "$D/photos-225x300" > studio-$db.txt
  head -3 street-$db.md | tail -1; grep -A2 '^relevance' studio-$db.txt; tail -2 studio-$db.txt
done
