#!/usr/bin/env bash
# tests/browser/run.sh BUILD — the page of `lookalike serve` in a real browser: indexes a
# small slice of the shared catalog, starts the server on a free loopback port and runs
# page.test.js (playwright-core driving the system's Chromium, headless). Installs
# playwright-core into tests/browser/node_modules on first use (npm). Screenshots go to
# test-artifacts/browser/. LOOKALIKE_BROWSER_TESTS=0 skips (a counted skip; a failure under CI,
# CI=true). Last line: "browser: N passed, M failed[, S skipped]".
set -u
B=${1:-build}
ROOT=$PWD
case $B in /*) BIN=$B/lookalike ;; *) BIN=$ROOT/$B/lookalike ;; esac
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
CHROMIUM=${LOOKALIKE_CHROMIUM:-/usr/bin/chromium}
HERE=$ROOT/tests/browser
ART=$ROOT/test-artifacts/browser
die() { echo "browser: $1"; echo "browser: 0 passed, 1 failed"; exit 1; }
if [ "${LOOKALIKE_BROWSER_TESTS:-1}" = 0 ]; then # as in scripts/setup.sh: no browser here
  [ "${CI:-}" = true ] && die "LOOKALIKE_BROWSER_TESTS=0 under CI: CI must run the browser tests"
  echo "  skip the browser tests (LOOKALIKE_BROWSER_TESTS=0)"; echo "browser: 0 passed, 0 failed, 1 skipped"; exit 0
fi

[ -x "$BIN" ] || die "no binary at $BIN (run make first)"
[ -d "$DATA/images" ] || die "shared catalog missing at $DATA"
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM (scripts/setup.sh installs it)"
command -v node >/dev/null || die "node is not installed"
if [ ! -d "$HERE/node_modules/playwright-core" ]; then
  (cd "$HERE" && npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1) || die "npm install of playwright-core failed"
fi

T=$(mktemp -d /tmp/lk-browser-XXXXXX)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
mkdir -p "$T/img" "$ART"
# The catalog: the first 40 ids with a 225x300 shop photo, plus the first 150 ids.
ls "$DATA/photos-225x300" | sed 's/\.jpg$//' | sort -n | head -40 > "$T/twins"
{ cat "$T/twins"; tail -n +2 "$DATA/styles.csv" | cut -d, -f1 | sort -n | head -150; } | sort -nu > "$T/ids"
head -1 "$DATA/styles.csv" > "$T/styles.csv"
awk -F, 'NR==FNR{want[$1]=1; next} FNR>1 && ($1 in want)' "$T/ids" "$DATA/styles.csv" >> "$T/styles.csv"
while read -r id; do ln -s "$DATA/images/$id.jpg" "$T/img/$id.jpg"; done < "$T/ids"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" > "$T/index.log" 2>&1 || die "index failed: $(tail -3 "$T/index.log")"

"$BIN" map --db "$T/c.db" --out "$T/map.png" --iters 300 --eval-sample 0 > "$T/map.log" 2>&1 || die "map failed: $(tail -3 "$T/map.log")"

"$BIN" serve --db "$T/c.db" --host 127.0.0.1 --port 0 --threads 4 2> "$T/server.log" &
SERVER=$!
PORT=
for _ in $(seq 100); do
  PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/server.log" 2>/dev/null)
  [ -n "$PORT" ] && break
  kill -0 "$SERVER" 2>/dev/null || die "server exited: $(tail -3 "$T/server.log")"
  sleep 0.1
done
[ -n "$PORT" ] || die "server did not start"

# A shop photo whose product is in the catalog, and a file that is not an image.
TWIN=$(head -1 "$T/twins")
echo "this is not a photo" > "$T/notes.txt"
node "$HERE/page.test.js" --url "http://127.0.0.1:$PORT/" --photo "$DATA/photos-225x300/$TWIN.jpg" --twin "$TWIN" \
  --not-image "$T/notes.txt" --chromium "$CHROMIUM" --artifacts "$ART" --map yes
rc=$?
cp "$T/server.log" "$ART/server.log" 2>/dev/null
exit $rc
