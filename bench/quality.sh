#!/usr/bin/env bash
# bench/quality.sh — the retrieval-quality benchmark behind docs/QUALITY.md (issue 4).
# Splits the shared catalog by product id (`lookalike tune --split`: test = hash(id) mod 5 == 0),
# indexes the same 3,000-product test sample with each recipe and runs `lookalike eval`, then
# tunes a projection on the training split and measures it on the same test sample (and on a
# 3,000-product training sample, so over-fitting shows). Catalogs live under $WORK (/tmp).
#
#   bench/quality.sh [baselines] [tune] [prior] [street] [street-real] [--write]   (default: all five)
#   prior: the tuned catalogs of `tune` searched with label-prior weights 0..1 (--prior W)
#   street: bench/street.py's synthetic street photos of test products (STREET_N, default 300)
#           searched in the whole catalog, raw and tuned, with and without --multi-crop (a
#           secondary check: synthetic photos measured the wrong thing, see street-real)
#   street-real: the shop's pipeline (index the training split -> `lookalike tune` with no
#           options -> index the held-out products as new ones) measured on the real phone
#           photos of $STREET (eval --street: P@10 by articleType per label, micro and macro)
#           and on the new products' studio photos (neighbours P@10, same-product R@1/R@10),
#           then the same phone photos uploaded to `lookalike serve` (bench/street_http.py)
#   --write   also replace the tables between the bench markers in docs/QUALITY.md
#   env: BUILD (build), WORK (/tmp/lookalike-quality), DATA (../shared/data/fashion-catalog),
#        LOOKALIKE_MODELS (../shared/models), SAMPLE (3000), MOD (5), BASE (rich: the tuned
#        recipe's input), TUNES (name|tune arguments lines), LABELS, STREET_N (300)
# About 30 minutes from nothing on 2 cores (mostly embedding: 25 samples of 3,000 photos and the
# whole catalog once with `rich`); about 10 when the catalogs under $WORK exist (index is
# incremental, so only new variants and the tuning cost time).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
WORK=${WORK:-/tmp/lookalike-quality}
DATA=${DATA:-../shared/data/fashion-catalog}
export LOOKALIKE_MODELS=${LOOKALIKE_MODELS:-../shared/models}
SAMPLE=${SAMPLE:-3000}
MOD=${MOD:-5}
LK=$BUILD/lookalike
stages=() write=0
for a in "$@"; do
  case $a in
    baselines|tune|prior|street|street-real) stages+=("$a") ;;
    --write) write=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
[ ${#stages[@]} -gt 0 ] || stages=(baselines tune prior street street-real)
STREET=${STREET:-../shared/data/street-photos}
command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 1; }
[ -f "$DATA/styles.csv" ] || { echo "no catalog at $DATA" >&2; exit 1; }
make -s BUILD="$BUILD" "$LK" >&2
mkdir -p "$WORK/recipes"
T0=$(date +%s)

# The fixed split.
"$LK" tune --split test --styles "$DATA/styles.csv" --holdout-mod "$MOD" > "$WORK/test.csv" 2>/dev/null
"$LK" tune --split train --styles "$DATA/styles.csv" --holdout-mod "$MOD" > "$WORK/train.csv" 2>/dev/null

# ---- recipes (JSON, the format of lk_recipe_to_json)
MNV2=mobilenet_v2_1.0_224_quant.tflite
MNV1=mobilenet_v1_1.0_224_quant_embedding_extractor.tflite
sha() { sha256sum "$LOOKALIKE_MODELS/$1" | cut -d' ' -f1; }
MNV2_SHA=$(sha $MNV2)
MNV1_SHA=$(sha $MNV1)
T_AVG="MobilenetV2/Logits/AvgPool"
T_CONV1="MobilenetV2/Conv_1/Relu6;MobilenetV2/Conv_1/add_fold;MobilenetV2/Conv_1/Conv2D_Fold;MobilenetV2/Conv_1/BatchNorm_Fold/bias"
T_EC16="MobilenetV2/expanded_conv_16/project/add_fold;MobilenetV2/expanded_conv_16/project/Conv2D_Fold;MobilenetV2/expanded_conv_16/project/BatchNorm_Fold/bias1"
T_EC12="MobilenetV2/expanded_conv_12/add"
T_V1="MobilenetV1/Logits/AvgPool_1a/AvgPool"
# part MODEL TAP POOL [WEIGHT]
part() {
  local s=$MNV2_SHA; [ "$1" = "$MNV1" ] && s=$MNV1_SHA
  printf '{"model":"%s","sha256":"%s","tap":"%s","pool":"%s","gem_p":3,"weight":%s}' "$1" "$s" "$2" "$3" "${4:-1}"
}
# recipe NAME PREPROCESS COLOR_WEIGHT FLIP [PART...]   (colour weight 0 = no colour part)
recipe() {
  local name=$1 pre=$2 cw=$3 flip=$4; shift 4
  local bins=8 parts; [ "$cw" = 0 ] && bins=0
  parts=$(IFS=,; echo "$*")
  printf '{"format":1,"name":"%s","preprocess":"%s","color_bins":%s,"color_weight":%s,"flip":%s,"parts":[%s]}\n' \
    "$name" "$pre" "$bins" "$cw" "$flip" "$parts" > "$WORK/recipes/$name.json"
}
P_AVG=$(part $MNV2 "$T_AVG" avg)
recipe color              squash 1   false
recipe mnv2-avg           squash 0   false "$P_AVG"
recipe mnv2-conv1-avg     squash 0   false "$(part $MNV2 "$T_CONV1" avg)"
recipe mnv2-conv1-max     squash 0   false "$(part $MNV2 "$T_CONV1" max)"
recipe mnv2-conv1-gem     squash 0   false "$(part $MNV2 "$T_CONV1" gem)"
recipe mnv2-ec16-avg      squash 0   false "$(part $MNV2 "$T_EC16" avg)"
recipe mnv2-ec12-avg      squash 0   false "$(part $MNV2 "$T_EC12" avg)"
recipe mnv1-avg           squash 0   false "$(part $MNV1 "$T_V1" avg)"
recipe mnv2+mnv1          squash 0   false "$P_AVG" "$(part $MNV1 "$T_V1" avg)"
recipe mnv2+mnv1+color    squash 0.3 false "$P_AVG" "$(part $MNV1 "$T_V1" avg)"
recipe mnv2-avg+color     squash 0.3 false "$P_AVG"   # the default recipe
recipe mnv2-avg+color-pad pad    0.3 false "$P_AVG"
recipe mnv2-avg+color-flip squash 0.3 true "$P_AVG"
for w in 0.2 0.5 0.8; do recipe "mnv2-avg+color$w" squash $w false "$P_AVG"; done
recipe mnv2-gem+color     squash 0.3 false "$(part $MNV2 "$T_CONV1" gem)"
recipe mnv2-avg+ec16+color squash 0.3 false "$P_AVG" "$(part $MNV2 "$T_EC16" avg 0.5)"
# spatial grids (a part with "grid":G pools each cell of a G x G grid) and foreground colour
P_GRID2=$(part $MNV2 "$T_CONV1" avg | sed 's/}$/,"grid":2}/')
P_EC16G3=$(part $MNV2 "$T_EC16" avg | sed 's/}$/,"grid":3}/')
recipe mnv2-grid2+color   squash 0.3 false "$P_GRID2"
recipe mnv2-avg+ec16grid3+color squash 0.3 false "$P_AVG" "$P_EC16G3"
recipe colorfg            squash 1   false
recipe mnv2-avg+colorfg   squash 0.3 false "$P_AVG"
recipe mnv2-avg+colorfg0.5 squash 0.5 false "$P_AVG"
# rich: the input of the tuned recipe (6,656-d): MobileNetV2 grid2 + MobileNetV1 + foreground colour
recipe rich               squash 0.3 false "$P_GRID2" "$(part $MNV1 "$T_V1" avg)"
for r in colorfg mnv2-avg+colorfg mnv2-avg+colorfg0.5 rich; do
  sed -i 's/"flip":false,/"flip":false,"color_fg":true,/' "$WORK/recipes/$r.json"
done
# prescale 80: photos larger than 80 px (queries) are shrunk to the catalog photos' size first
for r in mnv2-avg+color rich; do
  sed 's/"flip":false,/"flip":false,"prescale":80,/; s/"name":"\([^"]*\)"/"name":"\1-prescale80"/' \
    "$WORK/recipes/$r.json" > "$WORK/recipes/$r-prescale80.json"
done

# index NAME CSV [RECIPE]: a SAMPLE-product catalog of one split, made with recipes/NAME.json
index() {
  local db=$WORK/$1.db
  "$LK" index "$DATA/images" --styles "$2" --db "$db" --sample "$SAMPLE" --seed 0 \
    --recipe "${3:-$WORK/recipes/$1.json}" --quiet >/dev/null
}
# row LABEL DB [EVAL ARGS...]: one markdown table row from `lookalike eval --json`
row() {
  local label=$1 db=$2; shift 2
  local t0 j
  t0=$(date +%s.%N)
  j=$("$LK" eval --db "$db" --sample 0 --same-product "$DATA/photos-225x300" --json "$@" 2>/dev/null)
  jq -r --arg l "$label" --arg t "$t0" '
    def f: (. * 1000 | round) as $m | "\($m / 1000 | floor).\(($m % 1000) + 1000 | tostring | .[1:])";
    "| \($l) | \(.items) | \(.metrics.articleType.p10|f) | \(.metrics.articleType.map10|f) | \(.metrics.baseColour.p10|f) | \(.metrics.gender.p10|f) | \(.metrics.subCategory.p10|f) | \(.same_product.recall1|f) | \(.same_product.recall10|f) (\(.same_product.queries)) |"' <<<"$j"
}
HEAD='| recipe | items | articleType P@10 | articleType mAP@10 | baseColour P@10 | gender P@10 | subCategory P@10 | same-product R@1 | same-product R@10 (photos) |
|---|---|---|---|---|---|---|---|---|'

# ---- tuning: a projection learnt on the training split of the whole catalog (made with $BASE),
# then measured with `lookalike eval` on the same test sample as the baselines (re-embedded with
# the tuned recipe, so queries go through the projection exactly as in `lookalike search`), and
# on a training sample of the same size (over-fitting), and on the whole test split of the
# catalogs (eval --holdout-mod, gallery ~7,100).
BASE=${BASE:-rich}
# name|tune arguments (the first is the one measured on the training sample too)
# (the label prior is on in every softmax row: tune's default --prior 0.5; the prior stage varies it)
TUNES=${TUNES:-"mlp+color|--hidden 1024 --dropout 0.5 --input-dropout 0.5 --prescale 80 --keep-color 0.5
mlp|--hidden 1024 --dropout 0.5 --input-dropout 0.5 --prescale 80
linear|--input-dropout 0.5 --prescale 80
pca|--method pca --prescale 80"}
LABELS=${LABELS:-articleType,baseColour,gender}

out_base=$WORK/baselines.md out_tune=$WORK/tuned.md out_prior=$WORK/prior.md out_street=$WORK/street.md
out_sreal=$WORK/street-real.md
# street_row LABEL DB DIR [EVAL ARGS...]: the same-product numbers of a folder of query photos
street_row() {
  local label=$1 db=$2 dir=$3; shift 3
  "$LK" eval --db "$db" --sample 10 --same-product "$dir" --json "$@" 2>/dev/null | jq -r --arg l "$label" '
    def f: (. * 1000 | round) as $m | "\($m / 1000 | floor).\(($m % 1000) + 1000 | tostring | .[1:])";
    .same_product as $s | "| \($l) | \($s.queries) | \($s.recall1|f) | \($s.recall10|f) | \($s.p10.articleType|f) | \($s.p10.baseColour|f) | \($s.p10.gender|f) | \($s.p10.subCategory|f) |"'
}
for st in "${stages[@]}"; do
  if [ "$st" = baselines ]; then
    {
      echo "$HEAD"
      # (mnv2-conv1-avg equals mnv2-avg: the AvgPool tap is that map's average; measured once, 0.636)
      for r in color mnv2-avg mnv2-conv1-max mnv2-conv1-gem mnv2-ec16-avg mnv2-ec12-avg mnv1-avg \
               mnv2+mnv1 mnv2+mnv1+color mnv2-avg+color mnv2-avg+color-pad mnv2-avg+color-flip \
               mnv2-avg+color0.2 mnv2-avg+color0.5 mnv2-avg+color0.8 mnv2-gem+color \
               mnv2-grid2+color mnv2-avg+ec16grid3+color colorfg mnv2-avg+colorfg mnv2-avg+colorfg0.5 rich \
               mnv2-avg+color-prescale80 rich-prescale80 \
               ${EXTRA_BASELINES:-}; do
        index "$r" "$WORK/test.csv"
        row "\`$r\`" "$WORK/$r.db"
      done
    } | tee "$out_base"
  fi
  if [ "$st" = tune ]; then
    full=$WORK/full-$BASE.db
    echo "indexing the whole catalog with $BASE (incremental) ..." >&2
    "$LK" index "$DATA/images" --styles "$DATA/styles.csv" --db "$full" --recipe "$WORK/recipes/$BASE.json" --quiet >&2
    index "$BASE" "$WORK/test.csv"
    rows=()
    first=1
    : > "$WORK/tune.log"
    while IFS='|' read -r name args; do
      [ -n "$name" ] || continue
      t=$BASE+$name tuned=$WORK/full-$BASE+$name.db
      rm -f "$tuned" "$WORK/$t".db* "$WORK/$t-train".db*
      echo "tune $name: $args" >&2
      # shellcheck disable=SC2086
      "$LK" tune --db "$full" --out "$tuned" --recipe-out "$WORK/recipes/$t.json" --holdout-mod "$MOD" \
        --labels "$LABELS" --quiet $args > "$WORK/tune-$name.log"
      cat "$WORK/tune-$name.log" >> "$WORK/tune.log"
      secs=$(grep -o 'trained in [0-9.]* s' "$WORK/tune-$name.log" | grep -o '[0-9.]*')
      index "$t" "$WORK/test.csv" "$WORK/recipes/$t.json"
      rows+=("$(row "test sample, tuned \`$name\` (${secs} s)" "$WORK/$t.db")")
      if [ $first = 1 ]; then
        index "$BASE-train" "$WORK/train.csv" "$WORK/recipes/$BASE.json"
        index "$t-train" "$WORK/train.csv" "$WORK/recipes/$t.json"
        rows+=("$(row "training sample, raw" "$WORK/$BASE-train.db")")
        rows+=("$(row "training sample, tuned \`$name\`" "$WORK/$t-train.db")")
        rows+=("$(row "whole test split, raw" "$full" --holdout-mod "$MOD" --split test)")
        rows+=("$(row "whole test split, tuned \`$name\`" "$tuned" --holdout-mod "$MOD" --split test)")
        first=0
      fi
    done <<<"$TUNES"
    {
      echo "Base recipe \`$BASE\`; labels $LABELS; \`lookalike tune\` arguments per row in \`bench/quality.sh\` (TUNES)."
      echo
      echo "$HEAD" | sed 's/^| recipe |/| catalog |/'
      row "test sample, \`$BASE\` (raw)" "$WORK/$BASE.db"
      printf '%s\n' "${rows[@]}"
    } | tee "$out_tune"
  fi
  first_tune=$(sed -n 's/|.*//p' <<<"$TUNES" | head -1)
  if [ "$st" = prior ]; then
    t=$BASE+$first_tune tuned=$WORK/full-$BASE+$first_tune.db
    [ -f "$tuned" ] && [ -f "$WORK/$t.db" ] || { echo "prior: run the tune stage first" >&2; exit 1; }
    {
      echo "Tuned \`$first_tune\` catalogs of the tune stage (base \`$BASE\`), searched with \`--prior W\`."
      echo
      echo "$HEAD" | sed 's/^| recipe |/| catalog, prior |/'
      for w in 0 0.25 0.5 1; do row "test sample, \`--prior $w\`" "$WORK/$t.db" --prior $w; done
      for w in 0 0.5; do row "whole test split, \`--prior $w\`" "$tuned" --holdout-mod "$MOD" --split test --prior $w; done
    } | tee "$out_prior"
  fi
  if [ "$st" = street ]; then
    t=$BASE+$first_tune tuned=$WORK/full-$BASE+$first_tune.db full=$WORK/full-$BASE.db
    [ -f "$tuned" ] || { echo "street: run the tune stage first" >&2; exit 1; }
    if [ ! -d "$WORK/street" ]; then
      /usr/bin/python3 bench/street.py --photos "$DATA/photos-225x300" --ids "$WORK/test.csv" --out "$WORK/street" \
        --n "${STREET_N:-300}" --seed 0 >&2
    fi
    if [ ! -f "$WORK/full-default.db" ]; then
      "$LK" index "$DATA/images" --styles "$DATA/styles.csv" --db "$WORK/full-default.db" --quiet >&2
    fi
    {
      echo "$(ls "$WORK/street" | wc -l) synthetic street photos of test products (\`bench/street.py\`), each searched in the whole catalog (35,281 items)."
      echo
      echo "| catalog, search | photos | own product R@1 | own product R@10 | articleType P@10 | baseColour P@10 | gender P@10 | subCategory P@10 |"
      echo "|---|---|---|---|---|---|---|---|"
      street_row "default recipe (untuned)" "$WORK/full-default.db" "$WORK/street"
      street_row "default recipe, \`--multi-crop\`" "$WORK/full-default.db" "$WORK/street" --multi-crop
      street_row "\`$BASE\` (untuned)" "$full" "$WORK/street"
      street_row "\`$BASE\`, \`--multi-crop\`" "$full" "$WORK/street" --multi-crop
      street_row "tuned \`$first_tune\`, no prior" "$tuned" "$WORK/street" --prior 0
      street_row "tuned \`$first_tune\` + prior" "$tuned" "$WORK/street"
      street_row "tuned \`$first_tune\` + prior, \`--multi-crop\`" "$tuned" "$WORK/street" --multi-crop
    } | tee "$out_street"
  fi
  if [ "$st" = street-real ]; then
    [ -f "$STREET/labels.csv" ] || { echo "street-real: no $STREET/labels.csv" >&2; exit 1; }
    raw=$WORK/shop-raw.db tuned=$WORK/shop-tuned.db
    echo "street-real: index the training split, tune with no options, add the held-out products ..." >&2
    "$LK" index "$DATA/images" --styles "$WORK/train.csv" --db "$raw" --quiet >&2
    rm -f "$tuned" "$tuned"-*
    t0=$(date +%s)
    "$LK" tune --db "$raw" --out "$tuned" --quiet > "$WORK/shop-tune.log"
    tune_s=$(( $(date +%s) - t0 ))
    "$LK" index "$DATA/images" --styles "$DATA/styles.csv" --db "$tuned" --quiet >&2
    if [ ! -f "$WORK/full-default.db" ]; then
      "$LK" index "$DATA/images" --styles "$DATA/styles.csv" --db "$WORK/full-default.db" --quiet >&2
    fi
    # sreal_row LABEL DB [EVAL ARGS...]: street micro/macro, then the new products' studio numbers
    sreal_row() {
      local label=$1 db=$2; shift 2
      local s j
      s=$("$LK" eval --db "$db" --street "$STREET" --json "$@" 2>/dev/null)
      j=$("$LK" eval --db "$db" --sample 0 --holdout-mod "$MOD" --split test --same-product "$DATA/photos-225x300" \
            --fields articleType,baseColour --json "$@" 2>/dev/null)
      jq -rn --arg l "$label" --argjson s "$s" --argjson j "$j" '
        def f: (. * 1000 | round) as $m | "\($m / 1000 | floor).\(($m % 1000) + 1000 | tostring | .[1:])";
        "| \($l) | \($s.micro_p10|f) | \($s.macro_p10|f) | \([$s.labels[] | select(.gallery >= 30) | .p10] | min | f) | \($j.metrics.articleType.p10|f) | \($j.metrics.baseColour.p10|f) | \($j.same_product.recall1|f) | \($j.same_product.recall10|f) |"'
    }
    {
      echo "The shop's pipeline: \`lookalike index\` of the training split ($(( $(grep -c . "$WORK/train.csv") - 1 )) products), \`lookalike tune --db raw.db --out tuned.db\` with no other option ($tune_s s), then \`lookalike index\` of the whole catalog into the tuned catalog, which embeds the $(( $(grep -c . "$WORK/test.csv") - 1 )) held-out products as new ones. Street: the $(( $(grep -c . "$STREET/labels.csv") - 1 )) real phone photos of \`$STREET\` (\`eval --street\`), each searched in the whole catalog. Studio: the new products only (\`eval --holdout-mod $MOD --split test --same-product photos-225x300\`)."
      echo
      echo "| catalog, search | street P@10 micro | street P@10 macro | worst label (>= 30 products) | new products' neighbours articleType P@10 | baseColour P@10 | own 225x300 photo R@1 | R@10 |"
      echo "|---|---:|---:|---:|---:|---:|---:|---:|"
      sreal_row "untuned (\`index\` only, whole catalog)" "$WORK/full-default.db"
      sreal_row "tuned, default search" "$tuned"
      sreal_row "tuned, \`--prior 0\`" "$tuned" --prior 0
      sreal_row "tuned, \`--garment on\`" "$tuned" --garment on
      # the same photos uploaded to \`lookalike serve\` (default options), one at a time
      port=$((18000 + RANDOM % 2000))
      "$LK" serve --db "$tuned" --port "$port" --quiet > "$WORK/shop-serve.log" 2>&1 &
      spid=$!
      for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.2; done
      h=$(/usr/bin/python3 bench/street_http.py --url "http://127.0.0.1:$port" --street "$STREET") || h='{}'
      rss=$(ps -o rss= -p "$spid" | tr -d ' ')
      kill "$spid"; wait "$spid" 2>/dev/null || true
      echo
      jq -r --arg rss "$rss" '
        def f: (. * 1000 | round) as $m | "\($m / 1000 | floor).\(($m % 1000) + 1000 | tostring | .[1:])";
        "Uploaded over HTTP to `lookalike serve --db tuned.db` (default options, `bench/street_http.py`): \(.photos) photos, \(.failed) failed, P@10 micro \(.micro_p10|f), macro \(.macro_p10|f); upload to answer p50 \(.latency_ms.p50*10|round/10) ms, p99 \(.latency_ms.p99*10|round/10) ms, one client; server RSS \(($rss|tonumber)/1024|round) MB after."' <<<"$h"
      echo
      echo "Per label, tuned catalog, default search (\`lookalike eval --db tuned.db --street $STREET --markdown\`):"
      echo
      "$LK" eval --db "$tuned" --street "$STREET" --markdown 2>/dev/null
    } | tee "$out_sreal"
  fi
done

# --write: the tables go between <!-- bench:NAME --> and <!-- /bench:NAME --> in docs/QUALITY.md.
put() {
  local name=$1 file=$2 doc=docs/QUALITY.md
  [ -f "$file" ] && grep -q "<!-- bench:$name -->" "$doc" || return 0
  awk -v name="$name" -v file="$file" '
    $0 == "<!-- bench:" name " -->" { print; while ((getline l < file) > 0) print l; skip = 1; next }
    $0 == "<!-- /bench:" name " -->" { skip = 0 }
    !skip' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
}
if [ $write = 1 ]; then
  for st in "${stages[@]}"; do
    [ "$st" = baselines ] && put baselines "$out_base"
    [ "$st" = tune ] && put tuned "$out_tune"
    [ "$st" = prior ] && put prior "$out_prior"
    [ "$st" = street ] && put street "$out_street"
    [ "$st" = street-real ] && put street-real "$out_sreal"
  done
fi
echo "bench/quality.sh: $(( $(date +%s) - T0 )) s" >&2
