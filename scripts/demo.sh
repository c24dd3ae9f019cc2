#!/usr/bin/env bash
# scripts/demo.sh — the README's first command: installs what is missing, builds, finds the
# models, indexes a sample of the shared fashion catalog and runs a search.
#   bash scripts/demo.sh            # 3,000-item sample (about a minute)
#   LOOKALIKE_DEMO_ALL=1 make demo  # the whole catalog (35,281 photos)
#   LOOKALIKE_DEMO_TUNE=0 make demo # serve the raw catalog (no `lookalike tune` step)
#   LOOKALIKE_DEMO_SAMPLE=300 LOOKALIKE_DEMO_SERVE=0 bash scripts/demo.sh  # 300 products (0 = all), no server
#     (what tests/cli.sh runs, with LOOKALIKE_BIN=build/lookalike: that binary, no make;
#     LOOKALIKE_DB and LOOKALIKE_DEMO_MAP place the catalogs and the map elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LOOKALIKE_DATA:-../shared/data/fashion-catalog}
DB=${LOOKALIKE_DB:-catalog.db}
MAP=${LOOKALIKE_DEMO_MAP:-map.png}
LIMIT=${LOOKALIKE_DEMO_SAMPLE:-3000}; [ "${LOOKALIKE_DEMO_ALL:-0}" = 1 ] && LIMIT=0
case $LIMIT in ''|*[!0-9]*) echo "demo: LOOKALIKE_DEMO_SAMPLE must be a number of products" >&2; exit 2 ;; esac

bash scripts/setup.sh
if [ -n "${LOOKALIKE_BIN:-}" ]; then
  LK=$LOOKALIKE_BIN
else
  make -s -j2
  LK=./build/lookalike
fi
bash scripts/models.sh
if [ ! -d "$DATA/images" ]; then
  echo "demo: no catalog at $DATA (set LOOKALIKE_DATA to a folder with images/ and styles.csv)" >&2
  exit 1
fi
echo "== indexing $([ $LIMIT = 0 ] && echo all || echo $LIMIT) products of $DATA into $DB"
"$LK" index "$DATA/images" --styles "$DATA/styles.csv" --db "$DB" --limit $LIMIT --quiet
"$LK" info --db "$DB"
# A larger shop photo of a product that is in the sample: its own catalog photo should come back.
q=""
for f in "$DATA"/photos-225x300/*.jpg; do
  id=$(basename "$f" .jpg)
  if sqlite3 "$DB" "select 1 from items where id=$id and status='ok'" | grep -q 1; then q=$f; break; fi
done
if [ -n "$q" ]; then
  echo "== lookalike search $q --db $DB -k 5"
  "$LK" search "$q" --db "$DB" -k 5
  echo "== the same, only women's products"
  "$LK" search "$q" --db "$DB" -k 5 --where gender=Women
fi
# Adapt the embedding to the catalog's own labels (docs/QUALITY.md): a projection with a label
# prior, learnt on the training split in seconds (3,000 items) to a few minutes (all).
if [ "${LOOKALIKE_DEMO_TUNE:-1}" = 1 ]; then
  TUNED=${DB%.db}-tuned.db
  echo "== lookalike tune --db $DB --out $TUNED"
  rm -f "$TUNED"
  "$LK" tune --db "$DB" --out "$TUNED" --quiet --eval-sample "$([ $LIMIT = 0 ] && echo 3000 || echo 600)"
  DB=$TUNED
  if [ -n "$q" ]; then
    echo "== the same search in the tuned catalog"
    "$LK" search "$q" --db "$DB" -k 5
  fi
fi
echo "== lookalike map --db $DB --out $MAP (the page's Map view)"
"$LK" map --db "$DB" --out "$MAP" --thumbs 60
if [ "${LOOKALIKE_DEMO_SERVE:-1}" = 1 ] && "$LK" serve --help >/dev/null 2>&1; then
  echo "== serving on http://localhost:${PORT:-8080} (Ctrl-C to stop)"
  exec "$LK" serve --db "$DB" --port "${PORT:-8080}"
fi
