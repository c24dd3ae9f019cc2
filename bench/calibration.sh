#!/usr/bin/env bash
# bench/calibration.sh BUILD — how well the match strength is calibrated (docs/QUALITY.md
# "Match strength"). Indexes the catalog without the 2,320 products of photos-225x300 (so their
# shop photos are of products new to it; about 3 min on 2 cores; LK_CAL_DB=FILE reuses one),
# then bench/calibration_bench fits on one half of the items, measures on pairs of the other
# half, and measures (only) the shop photos and the street photos. Prints markdown.
set -eu
B=${1:-build}
ROOT=$PWD
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
STREET=${LOOKALIKE_STREET:-$ROOT/../shared/data/street-photos}
make -s -j2 "$B/lookalike" "$B/bench/calibration_bench"
DB=${LK_CAL_DB:-}
if [ -z "$DB" ]; then
  T=$(mktemp -d /tmp/lk-cal-XXXXXX)
  trap 'rm -rf "$T"' EXIT
  mkdir "$T/img"
  ls "$DATA/photos-225x300" | sed 's/\.jpg$//' > "$T/shop"
  head -1 "$DATA/styles.csv" > "$T/styles.csv"
  awk -F, 'NR==FNR{skip[$1]=1; next} FNR>1 && !($1 in skip)' "$T/shop" "$DATA/styles.csv" >> "$T/styles.csv"
  tail -n +2 "$T/styles.csv" | cut -d, -f1 | while read -r id; do ln -s "$DATA/images/$id.jpg" "$T/img/$id.jpg"; done
  "$B/lookalike" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" --quiet >&2
  DB=$T/c.db
fi
"$B/bench/calibration_bench" --db "$DB" --photos 300 --items 1000 \
  --shop "$DATA/photos-225x300" --styles "$DATA/styles.csv" --street "$STREET"
