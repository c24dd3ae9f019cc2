#!/usr/bin/env bash
# scripts/demo.sh — the README's first command: installs what is missing, builds, finds the
# models, indexes a sample of the shared fashion catalog and runs a search.
#   bash scripts/demo.sh            # 3,000-item sample (about a minute)
#   LOOKALIKE_DEMO_ALL=1 make demo  # the whole catalog (35,281 photos)
#   LOOKALIKE_DEMO_TUNE=0 make demo # serve the raw catalog (no `lookalike tune` step)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LOOKALIKE_DATA:-../shared/data/fashion-catalog}
DB=${LOOKALIKE_DB:-catalog.db}
LIMIT=3000; [ "${LOOKALIKE_DEMO_ALL:-0}" = 1 ] && LIMIT=0

bash scripts/setup.sh
make -s -j2
bash scripts/models.sh
if [ ! -d "$DATA/images" ]; then
  echo "demo: no catalog at $DATA (set LOOKALIKE_DATA to a folder with images/ and styles.csv)" >&2
  exit 1
fi
echo "== indexing $([ $LIMIT = 0 ] && echo all || echo $LIMIT) products of $DATA into $DB"
./build/lookalike index "$DATA/images" --styles "$DATA/styles.csv" --db "$DB" --limit $LIMIT --quiet
./build/lookalike info --db "$DB"
# A larger shop photo of a product that is in the sample: its own catalog photo should come back.
q=""
for f in "$DATA"/photos-225x300/*.jpg; do
  id=$(basename "$f" .jpg)
  if sqlite3 "$DB" "select 1 from items where id=$id and status='ok'" | grep -q 1; then q=$f; break; fi
done
if [ -n "$q" ]; then
  echo "== lookalike search $q --db $DB -k 5"
  ./build/lookalike search "$q" --db "$DB" -k 5
  echo "== the same, only women's products"
  ./build/lookalike search "$q" --db "$DB" -k 5 --where gender=Women
fi
# Adapt the embedding to the catalog's own labels (docs/QUALITY.md): a projection with a label
# prior, learnt on the training split in seconds (3,000 items) to a few minutes (all).
if [ "${LOOKALIKE_DEMO_TUNE:-1}" = 1 ]; then
  TUNED=${DB%.db}-tuned.db
  echo "== lookalike tune --db $DB --out $TUNED"
  rm -f "$TUNED"
  ./build/lookalike tune --db "$DB" --out "$TUNED" --quiet --eval-sample "$([ $LIMIT = 0 ] && echo 3000 || echo 600)"
  DB=$TUNED
  if [ -n "$q" ]; then
    echo "== the same search in the tuned catalog"
    ./build/lookalike search "$q" --db "$DB" -k 5
  fi
fi
echo "== lookalike map --db $DB --out map.png (the page's Map view)"
./build/lookalike map --db "$DB" --out map.png --thumbs 60
if ./build/lookalike serve --help >/dev/null 2>&1; then
  echo "== serving on http://localhost:${PORT:-8080} (Ctrl-C to stop)"
  exec ./build/lookalike serve --db "$DB" --port "${PORT:-8080}"
fi
