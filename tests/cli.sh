#!/usr/bin/env bash
# tests/cli.sh BUILD — what no other suite runs, on a 300-product sample of the shared catalog:
# the README's first command (scripts/demo.sh, shortened: LOOKALIKE_DEMO_SAMPLE=300, no server),
# `lookalike tune` with its defaults and the tuned catalog searched and served, the map's PNG,
# `eval` (leave-one-out) and `model`, `recommend` (its CSV checked against the catalog and
# `similar`), `export --format csv` read back, the man page's coverage and rendering, `index`
# interrupted by SIGINT and SIGTERM (exit 130) and resumed, and `serve` with --index ivf (saving its index; `optimize` maps it, a damaged one is rebuilt),
# --max-upload and --max-connections. About 20 s.
# Last line: "cli: N passed, M failed".
set -u
B=${1:-build}
ROOT=$PWD
case $B in /*) BIN=$B/lookalike ;; *) BIN=$ROOT/$B/lookalike ;; esac
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "  ok   $1"; }
ko() { fail=$((fail + 1)); echo "  FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
die() { echo "cli: $1"; echo "cli: 0 passed, 1 failed"; exit 1; }
# jqe [jq args] FILTER FILE: jq -e on FILE; a forgotten or empty FILE fails.
quiet() { "$@" > /dev/null 2>&1; }
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # jqe

[ -x "$BIN" ] || die "no binary at $BIN"
[ -d "$DATA/images" ] || die "shared catalog missing at $DATA"
for tool in sqlite3 curl jq python3 groff man; do command -v $tool >/dev/null || die "$tool is not installed (scripts/setup.sh)"; done

T=$(mktemp -d /tmp/lk-cli-XXXXXX)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
# Sanitizer builds: leaks exit 23 and every report is logged to $T/san.* (san_clean, at the end).
export ASAN_OPTIONS="detect_leaks=1:exitcode=23:log_path=$T/san${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="exitcode=23${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$T/san${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
san_clean() { local f; f=$(ls "$T"/san.* 2>/dev/null) || return 0; [ -z "$f" ] && return 0; head -30 $f; return 1; }

# start_server LOG ARGS...: `serve` on a free loopback port; sets SERVER and URL.
start_server() {
  local log=$1; shift
  "$BIN" serve --host 127.0.0.1 --port 0 "$@" 2> "$log" &
  SERVER=$!
  local port=
  for _ in $(seq 200); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$log" 2>/dev/null)
    [ -n "$port" ] && break
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  URL=http://127.0.0.1:$port
  [ -n "$port" ] && curl -sf "$URL/health" > /dev/null
}
stop_server() { kill -TERM "$SERVER"; wait "$SERVER"; local rc=$?; SERVER=; return $rc; }

echo "cli: the demo (scripts/demo.sh), shortened"
DB=$T/catalog.db; TUNED=$T/catalog-tuned.db
env LOOKALIKE_DEMO_SAMPLE=300 LOOKALIKE_DEMO_SERVE=0 LOOKALIKE_BIN="$BIN" LOOKALIKE_DB="$DB" \
  LOOKALIKE_DEMO_MAP="$T/map.png" LOOKALIKE_DATA="$DATA" bash "$ROOT/scripts/demo.sh" > "$T/demo.log" 2>&1
rc=$?
check "scripts/demo.sh (300 products, no server) exits 0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || tail -20 "$T/demo.log"
"$BIN" info --db "$DB" --json > "$T/info.json"
check "the demo indexed its 300 products" jqe '.items == 300 and .vectors >= 290' "$T/info.json"
check "the demo searched the sample, then the tuned catalog" [ "$(grep -c 'results from 300 items' "$T/demo.log")" -ge 3 ]
check "the demo wrote the tuned catalog and a map in it" \
  bash -c "grep -q 'map stored in $TUNED' '$T/demo.log' && [ -s '$TUNED' ]"
# map.png: signature, IHDR, and every row of pixels present once the IDAT stream is inflated
pngok() {
  python3 - "$T/map.png" <<'EOF'
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
assert d[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
i, idat, ihdr = 8, b'', None
while i < len(d):
    n, t = struct.unpack('>I4s', d[i:i + 8]); body = d[i + 8:i + 8 + n]
    assert zlib.crc32(t + body) & 0xffffffff == struct.unpack('>I', d[i + 8 + n:i + 12 + n])[0], 'bad CRC'
    if t == b'IHDR': ihdr = struct.unpack('>IIBB', body[:10])
    if t == b'IDAT': idat += body
    i += 12 + n
w, h, depth, ctype = ihdr
ch = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
raw = zlib.decompress(idat)
assert depth == 8 and w >= 400 and h >= 300 and len(raw) == h * (1 + w * ch), (w, h, len(raw))
print("map.png %dx%d, %d channels" % (w, h, ch))
EOF
}
check "map --out map.png: a whole PNG (CRCs, every row of pixels)" pngok

echo "cli: tune with its defaults; the tuned catalog searched and served"
"$BIN" tune --db "$DB" --out "$T/t.db" > "$T/tune.log" 2>&1; rc=$?
check "tune --db --out (every other option at its default) exits 0" [ $rc -eq 0 ]
check "tune reports both splits, raw and tuned" bash -c "grep -q '^train  tuned' '$T/tune.log' && grep -q '^test   tuned' '$T/tune.log'"
"$BIN" info --db "$T/t.db" --json > "$T/tinfo.json"
check "the tuned catalog: the same items, 256-d (the default --dims), a tuned recipe" \
  jqe --slurpfile a "$T/info.json" '.items == $a[0].items and .vectors == $a[0].vectors and .dim == 256 and (tostring | test("tuned"))' "$T/tinfo.json"
"$BIN" tune --db "$T/t.db" --out "$T/tt.db" > /dev/null 2>&1
check "tune refuses a tuned catalog as its source (non-zero, nothing written)" bash -c "[ $? -ne 0 ] && [ ! -e '$T/tt.db' ]"
Q=$(sqlite3 "$DB" "select id from items where status='ok' order by id limit 1 offset 7")
"$BIN" search "$DATA/images/$Q.jpg" --db "$T/t.db" -k 5 --json > "$T/tsearch.json" 2>/dev/null
check "search in the tuned catalog: a catalog photo finds itself first" jqe --argjson id "${Q:-0}" '.hits[0].id == $id and (.hits | length) == 5' "$T/tsearch.json"
check "tune calibrated the tuned recipe's match strength: the photo finds itself as \"same product\"" \
  bash -c "grep -q 'match strength calibrated on' '$T/tune.log' && jq -e '.calibration.calibrated' '$T/tinfo.json' >/dev/null && jq -e '.calibrated and .hits[0].match.label == \"same product\"' '$T/tsearch.json' >/dev/null"
start_server "$T/serve1.log" --db "$TUNED" --quiet
check "serve the demo's tuned catalog" [ $? -eq 0 ]
"$BIN" search "$DATA/images/$Q.jpg" --db "$TUNED" -k 5 --json > "$T/dsearch.json" 2>/dev/null
curl -s --data-binary "@$DATA/images/$Q.jpg" "$URL/api/search?k=5" > "$T/http.json"
check "the server's hits on the tuned catalog are the CLI's" \
  jqe -n --slurpfile a "$T/http.json" --slurpfile b "$T/dsearch.json" '[$a[0].hits[].id] == [$b[0].hits[].id] and ($a[0].hits | length) == 5'
curl -s "$URL/health" > "$T/health.json"
check "/health: the tuned catalog's 256-d vectors" jqe '.dim == 256' "$T/health.json"
curl -s "$URL/api/map" > "$T/apimap.json"
check "/api/map serves the demo's map: a point per product, not stale" jqe --slurpfile a "$T/info.json" '.count == $a[0].vectors and (.ids | length) == .count and (.xy | length) == 2 * .count and .stale == false' "$T/apimap.json"
stop_server; check "the server stops with exit 0" [ $? -eq 0 ]

echo "cli: eval and model"
"$BIN" eval --db "$DB" --sample 100 --json > "$T/eval.json" 2>/dev/null
check "eval (leave-one-out, 100 queries): P@10 per field, between 0 and 1" \
  jqe '.sample == 100 and .items == 300 and all(.metrics[]; .p10 > 0 and .p10 <= 1 and .queries > 0) and .metrics.articleType.p10 >= 0.5' "$T/eval.json"
"$BIN" eval --db "$DB" --sample 0 > /dev/null 2>&1; check "eval --sample 0 (every item) exits 0" [ $? -eq 0 ]
"$BIN" eval --db "$T/nope.db" > /dev/null 2>&1; check "eval on a missing catalog exits 3" [ $? -eq 3 ]
MODEL=$(ls "$ROOT/models/mobilenet_v2_1.0_224_quant.tflite" "${LOOKALIKE_MODELS:-/nonexistent}/mobilenet_v2_1.0_224_quant.tflite" \
  "$ROOT/../shared/models/mobilenet_v2_1.0_224_quant.tflite" 2>/dev/null | head -1)
"$BIN" model "$MODEL" > "$T/model.txt" 2>&1; rc=$?
check "model lists the tensors of MobileNet v2 (input 1x224x224x3)" bash -c "[ $rc -eq 0 ] && grep -Eq '^ +0 +\[1,224,224,3\] +input' '$T/model.txt'"
"$BIN" model "$ROOT/Makefile" > /dev/null 2> "$T/model.err"
check "model on a file that is no TFLite model fails and says why" bash -c "[ $? -ne 0 ] && grep -qi 'tflite' '$T/model.err'"

echo "cli: recommend, export --format csv, the man page"
CHK="python3 $ROOT/tests/csv_check.py"
"$BIN" recommend --db "$DB" --k 5 --out "$T/rec.csv" --json > "$T/rec.json" 2>/dev/null
check "recommend --k 5 --json: every product with a vector, 5 rows each" \
  jqe --slurpfile a "$T/info.json" '.ok and .products == $a[0].vectors and .rows == 5 * .products and .short_lists == 0' "$T/rec.json"
check "recommend's CSV: header, ranks 1..5 per product, no self, scores never rise" $CHK recommend "$T/rec.csv" "$DB" 5
check "recommend leaves no temporary file" [ ! -e "$T/rec.csv.tmp" ]
IDS=$(sqlite3 "$DB" "select id from vectors order by id" | awk 'NR == 1 || NR == 150 || NR == 290')
for id in $IDS; do "$BIN" similar "$id" --db "$DB" -k 5 --json > "$T/sim-$id.json" 2>/dev/null; done
check "recommend agrees with \`similar ID -k 5\` for 3 products (ids, order, scores)" \
  $CHK agree "$T/rec.csv" $(for id in $IDS; do printf '%s:%s ' "$id" "$T/sim-$id.json"; done)
"$BIN" recommend --db "$T/t.db" --k 5 --out "$T/rec-t.csv" > /dev/null 2>&1
for id in $IDS; do "$BIN" similar "$id" --db "$T/t.db" -k 5 --json > "$T/simt-$id.json" 2>/dev/null; done
check "recommend on the tuned catalog (label prior) agrees with \`similar ID\` there" \
  $CHK agree "$T/rec-t.csv" $(for id in $IDS; do printf '%s:%s ' "$id" "$T/simt-$id.json"; done)
"$BIN" recommend --db "$DB" --k 4 --same gender --same masterCategory --out "$T/rec-g.csv" --threads 3 > /dev/null 2>&1
check "recommend --same gender --same masterCategory: every neighbour shares both" \
  $CHK recommend "$T/rec-g.csv" "$DB" 4 --same gender --same masterCategory
ID=$(echo "$IDS" | tail -1)
"$BIN" similar "$ID" --db "$DB" -k 4 --json --where "gender=$(sqlite3 "$DB" "select gender from items where id = $ID")" \
  --where "masterCategory=$(sqlite3 "$DB" "select masterCategory from items where id = $ID")" > "$T/sim-g.json" 2>/dev/null
check "recommend --same gender --same masterCategory agrees with \`similar ID --where gender=G --where masterCategory=M\`" \
  $CHK agree "$T/rec-g.csv" "$ID:$T/sim-g.json"
"$BIN" recommend --db "$DB" --k 3 --where gender=Women --out "$T/rec-w.csv" > "$T/rec-w.txt" 2>/dev/null
check "recommend --where gender=Women: only women's products, recommending women's" \
  bash -c "$CHK recommend '$T/rec-w.csv' '$DB' 3 --only gender=Women && grep -q 'items left out' '$T/rec-w.txt'"
"$BIN" recommend --db "$T/nope.db" --out "$T/x.csv" > /dev/null 2>&1; check "recommend on a missing catalog exits 3" [ $? -eq 3 ]
"$BIN" recommend --db "$DB" --k 0 --out "$T/x.csv" > /dev/null 2>&1; check "recommend --k 0 is a usage error (2)" [ $? -eq 2 ]
"$BIN" recommend --db "$DB" --same colour --out "$T/x.csv" > /dev/null 2>&1; check "recommend --same with no such field is a usage error (2)" [ $? -eq 2 ]
"$BIN" recommend --db "$DB" > /dev/null 2>&1; check "recommend without --out is a usage error (2), nothing written" bash -c "[ $? -eq 2 ] && [ ! -e '$T/x.csv' ]"
"$BIN" export --db "$DB" --format csv --out "$T/export.csv" > /dev/null 2>&1
sqlite3 -csv -header "$DB" "SELECT i.id, hex(v.data) AS hex, i.gender, i.masterCategory AS mastercategory,
  i.subCategory AS subcategory, i.articleType AS articletype, i.baseColour AS basecolour, i.season, i.year, i.usage,
  i.productDisplayName AS productdisplayname, i.path, i.extra FROM items i JOIN vectors v ON v.id = i.id ORDER BY i.id" > "$T/ref.csv"
check "export --format csv: every item with a vector once, its fields, the vector bit for bit" \
  quiet python3 "$ROOT/tests/export_check.py" "$T/ref.csv" csv "$T/export.csv"
# the man page: a section per command of `lookalike --help`, each option of its --help in it
MAN=$ROOT/man/lookalike.1
manok() {
  local cmds cmd opt sect bad=0
  cmds=$("$BIN" --help | awk '/^commands:/ { on = 1; next } on && !NF { exit } on && /^  [a-z]/ { print $1 }')
  [ -n "$cmds" ] || return 1
  for cmd in $cmds; do
    sect=$(awk -v h=".SH \"lookalike $cmd\"" '$0 == h { on = 1; next } on && /^\.SH / { exit } on' "$MAN" | sed 's/\\-/-/g; s/\\f[BIRP]//g')
    [ -n "$sect" ] || { echo "    no section for $cmd"; bad=1; continue; }
    for opt in $("$BIN" $cmd --help | grep -oE '(^|[^A-Za-z0-9-])--?[a-z][a-z0-9-]*' | grep -oE -- '--?[a-z][a-z0-9-]*' | sort -u); do
      grep -qE -- "(^|[^A-Za-z0-9-])$opt([^A-Za-z0-9-]|\$)" <<< "$sect" || { echo "    $cmd: $opt missing"; bad=1; }
    done
  done
  return $bad
}
check "man/lookalike.1: a section per command of \`lookalike --help\`, every option of each command's --help" manok
check "man/lookalike.1 is what tools/man.py writes from today's help texts (regenerate it after changing one)" \
  bash -c "diff <(python3 '$ROOT/tools/man.py' '$BIN' | sed 1d) <(sed 1d '$MAN') > '$T/man.diff'"
check "man/lookalike.1 renders without warnings (groff -man -ww; man -l)" \
  bash -c "[ -z \"\$(groff -man -Tutf8 -ww -z '$MAN' 2>&1)\" ] && [ -z \"\$(MANWIDTH=80 man -l '$MAN' 2>&1 >/dev/null)\" ] && MANWIDTH=80 man -l '$MAN' 2>/dev/null | grep -q '^EXIT STATUS'"

echo "cli: index interrupted by SIGINT and SIGTERM, then resumed"
nvec() { sqlite3 "$1" "select count(*) from vectors" 2>/dev/null || echo 0; }
for sig in INT TERM; do
  db=$T/sig-$sig.db
  # one worker, one photo a batch: the signal lands after the first commit (every 256 photos),
  # well before the 500th photo
  "$BIN" index "$DATA/images" --styles "$DATA/styles.csv" --db "$db" --limit 500 --threads 1 --batch 1 --quiet > /dev/null 2> "$T/sig.err" &
  pid=$!
  for _ in $(seq 1000); do [ "$(nvec "$db")" -gt 0 ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.02; done
  kill -$sig $pid 2>/dev/null; wait $pid; rc=$?
  n=$(nvec "$db")
  check "SIG$sig stops index with exit 130 and says so ($n of 500 kept)" \
    bash -c "[ $rc -eq 130 ] && [ $n -ge 256 ] && [ $n -lt 500 ] && grep -qi 'interrupt' '$T/sig.err'"
  check "the interrupted catalog passes check" quiet "$BIN" check --db "$db"
  "$BIN" index "$DATA/images" --styles "$DATA/styles.csv" --db "$db" --limit 500 --json > "$T/resume-$sig.json" 2>/dev/null
  check "index again resumes: the kept photos unchanged, only the rest embedded" \
    jqe --argjson kept "$n" '.ok and .selected == 500 and .unchanged == $kept and .embedded == 500 - $kept - .failed' "$T/resume-$sig.json"
  check "the resumed catalog passes check" quiet "$BIN" check --db "$db"
done
check "both resumed catalogs hold the same items, the demo's 300 first among them" \
  bash -c "[ \"\$(sqlite3 '$T/sig-INT.db' 'select id, status from items order by id' | md5sum)\" = \"\$(sqlite3 '$T/sig-TERM.db' 'select id, status from items order by id' | md5sum)\" ] &&
           [ \"\$(sqlite3 '$T/sig-INT.db' 'select id, status from items order by id limit 300')\" = \"\$(sqlite3 '$DB' 'select id, status from items order by id')\" ]"

echo "cli: a small index run keeps the match-strength calibration, a bigger one fits it again"
"$BIN" index "$DATA/images" --styles "$DATA/styles.csv" --db "$T/sig-INT.db" --limit 503 --json > "$T/keep.json" 2>/dev/null
check "3 photos more into 500 (under 2 %): the calibration is kept, not fitted again" \
  jqe '.ok and .embedded >= 1 and .embedded <= 3 and .calibration.kept == true and .calibration.items >= 490' "$T/keep.json"
"$BIN" index "$DATA/images" --styles "$DATA/styles.csv" --db "$T/sig-TERM.db" --limit 503 > "$T/keep.txt" 2>&1
check "...and says so, with the command that fits it again" \
  grep -q "calibration of [0-9]* items is kept (this run embedded [0-9]* photos; .lookalike calibrate --db" "$T/keep.txt"
"$BIN" index "$DATA/images" --styles "$DATA/styles.csv" --db "$T/sig-INT.db" --limit 540 --json > "$T/refit.json" 2>/dev/null
check "37 photos more (over 2 %): fitted again" jqe '.ok and .embedded >= 30 and .calibration.pairs > 0 and (.calibration | has("kept") | not)' "$T/refit.json"
check "the refitted calibration records the items it was fitted at" \
  bash -c "sqlite3 '$T/sig-INT.db' \"select value from meta where key = 'calibration'\" | jq -e '.items >= 520' > /dev/null"

echo "cli: serve --index ivf --max-upload 1 --max-connections 3"
start_server "$T/serve2.log" --db "$DB" --index ivf --max-upload 1 --max-connections 3 --threads 2
check "serve --index ivf starts" [ $? -eq 0 ]
curl -s "$URL/health" > "$T/health2.json"
check "/health says the index is ivf" jqe '.index == "ivf"' "$T/health2.json"
curl -s --data-binary "@$DATA/images/$Q.jpg" "$URL/api/search?k=3" > "$T/ivf.json"
check "a search through the IVF index finds the catalog photo itself" jqe --argjson id "${Q:-0}" '.hits[0].id == $id and .hits[0].score >= 0.99' "$T/ivf.json"
head -c $((1024 * 1024 + 1)) /dev/zero > "$T/big.bin"
S=$(curl -s -o "$T/big.json" -w '%{http_code}' --data-binary "@$T/big.bin" -H "Content-Type: image/jpeg" "$URL/api/search")
check "--max-upload 1: a body of 1 MiB + 1 byte is 413 with a JSON error" bash -c "[ $S = 413 ] && jq -e .error '$T/big.json' >/dev/null"
# three idle connections take every slot: a fourth is turned away until one closes
exec 5<>"/dev/tcp/127.0.0.1/${URL##*:}" 6<>"/dev/tcp/127.0.0.1/${URL##*:}" 7<>"/dev/tcp/127.0.0.1/${URL##*:}"
sleep 0.3
S=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "$URL/health")
check "--max-connections 3: a fourth connection is refused while three are open ($S)" [ "$S" = 000 ]
exec 5<&- 6<&- 7<&-
S=000; for _ in $(seq 30); do S=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "$URL/health"); [ "$S" = 200 ] && break; sleep 0.1; done
check "... and served once they close" [ "$S" = 200 ]
stop_server; check "the server stops with exit 0" [ $? -eq 0 ]
check "serve saved the IVF it built beside the catalog" grep -q "saved the index to $DB.lkx" "$T/serve2.log"
"$BIN" optimize --db "$DB" --index ivf --json > "$T/opt.json" 2> "$T/opt.err"
check "optimize: the saved index is current, so it is mapped, not rebuilt" jqe '.state == "up to date" and .items > 0' "$T/opt.json"
# a catalog changed after the save: a server maps the file and applies the change since (no rebuild)
cp "$DB" "$T/live.db" && cp "$DB.lkx" "$T/live.db.lkx"
sqlite3 "$T/live.db" "delete from vectors where id = $Q; delete from items where id = $Q"
start_server "$T/serve3.log" --db "$T/live.db" --index ivf --threads 2
curl -s --data-binary "@$DATA/images/$Q.jpg" "$URL/api/search?k=3" > "$T/ivf-del.json"
stop_server
check "serve: item $Q deleted after the save: served from the saved index with the deletion applied, not rebuilt" \
  bash -c "jq -e --argjson id $Q '(.hits | length) == 3 and all(.hits[]; .id != \$id)' '$T/ivf-del.json' > /dev/null && ! grep -q 'saved the index\|rebuilt' '$T/serve3.log'"
"$BIN" search "$DATA/images/$Q.jpg" --db "$T/live.db" --index ivf -k 3 --json > "$T/cli-del.json" 2> "$T/cli-del.err"
check "search: the same from the saved index and the change since (not rebuilt)" \
  bash -c "jq -e --argjson id $Q '(.hits | length) == 3 and all(.hits[]; .id != \$id)' '$T/cli-del.json' > /dev/null && ! grep -q 'rebuilt' '$T/cli-del.err'"
printf '\001' | dd of="$DB.lkx" bs=1 seek=4100 conv=notrunc 2> /dev/null
"$BIN" optimize --db "$DB" --index ivf --json > "$T/opt2.json" 2> "$T/opt2.err"
check "optimize: a damaged saved index is reported in one line, rebuilt and written again" \
  bash -c "[ \$(grep -c 'checksum mismatch.*rebuilt the index' '$T/opt2.err') = 1 ] && jq -e '.state == \"written\"' '$T/opt2.json' > /dev/null"
check "optimize --json: one JSON line on stdout, no progress on stderr" bash -c "[ \$(wc -l < '$T/opt2.json') = 1 ] && ! grep -q 'rows ' '$T/opt2.err'"
check "optimize --json: the probe depth tuned as it was built (recall@10 >= 0.96 of exact search on its own items)" \
  jqe '.nprobe >= 1 and .nprobe <= .lists and .recall >= 0.96 and .recall <= 1' "$T/opt2.json"
# what a killed optimize leaves (its temporary file, whole or not) is never taken for the index
mv "$DB.lkx" "$DB.lkx.tmp"
"$BIN" optimize --db "$DB" --index ivf > "$T/opt3.out" 2> "$T/opt3.err"
check "optimize: a leftover DB.lkx.tmp is not the index: built again (progress on stderr, rows of the total), nothing on stdout" \
  bash -c "grep -q 'rows \([0-9]*\)/\1,' '$T/opt3.err' && grep -q 'lkx written' '$T/opt3.err' && [ ! -s '$T/opt3.out' ] && [ ! -e '$DB.lkx.tmp' ]"
"$BIN" serve --db "$DB" --max-connections 0 > /dev/null 2>&1; check "--max-connections 0 is a usage error (2)" [ $? -eq 2 ]
"$BIN" serve --db "$DB" --max-upload 2000 > /dev/null 2>&1; check "--max-upload 2000 is a usage error (2)" [ $? -eq 2 ]

echo "cli: dups, search --collapse, --where comparisons"
# 4870/4871 are the same photo; 4721 re-lists 4198 (cosine 0.985, both Red); two T-shirt colours.
mkdir -p "$T/dimg"
for id in 4870 4871 4198 4721 35986 35987; do ln -sf "$DATA/images/$id.jpg" "$T/dimg/$id.jpg"; done
{ printf '%s,price\n' "$(head -1 "$DATA/styles.csv" | tr -d '\r')"
  awk -F, 'FNR > 1 && ($1 == 4870 || $1 == 4871 || $1 == 4198 || $1 == 4721 || $1 == 35986 || $1 == 35987) { sub(/\r$/, ""); print $0 "," $1 % 50 }' \
    "$DATA/styles.csv"; } > "$T/dups.csv"
"$BIN" index "$T/dimg" --styles "$T/dups.csv" --db "$T/dups.db" --quiet > /dev/null 2>&1
check "index 6 photos for dups" [ $? -eq 0 ]
"$BIN" dups --db "$T/dups.db" --json > "$T/dups.json" 2> "$T/dups.err"
check "dups --json: the copied photo and the re-listing, largest first, each with its similarity" \
  jqe '.count == 2 and .items == 4 and .searched == 6 and .threshold > 0.96 and
       ([.groups[] | [.items[].id]] | sort) == [[4198,4721],[4870,4871]] and
       (.groups[] | select(.items[0].id == 4870) | .items[1].same_photo == true and .items[1].similarity > 0.999) and
       (.groups[] | select(.items[0].id == 4198) | .items[1].same_photo == false and .min_similarity >= 0.97 and .min_similarity < 0.999)' "$T/dups.json"
check "dups says what it found on stderr" grep -q "^2 groups (4 items) among 6 items" "$T/dups.err"
"$BIN" dups --db "$T/dups.db" > "$T/dups.txt" 2>/dev/null
check "dups prints the groups as a table" bash -c "grep -q '^group 1: 2 items' '$T/dups.txt' && grep -q 'same photo' '$T/dups.txt'"
"$BIN" dups --db "$T/dups.db" --threshold 1 --json --limit 1 > "$T/dups1.json" 2>/dev/null
check "dups --threshold 1: only the same photo; --limit 1 shows one" jqe '.count == 1 and .shown == 1 and .groups[0].items[0].id == 4870' "$T/dups1.json"
"$BIN" dups --db "$T/dups.db" --threshold 2 > /dev/null 2>&1; check "dups --threshold 2 is a usage error (2)" [ $? -eq 2 ]
"$BIN" dups > /dev/null 2>&1; check "dups without --db is a usage error (2)" [ $? -eq 2 ]
"$BIN" search "$DATA/images/4870.jpg" --db "$T/dups.db" -k 3 --collapse duplicates --json > "$T/coll.json" 2>/dev/null
check "search --collapse duplicates: the copy folded under the hit, 3 hits" \
  jqe '.collapse == "duplicates" and .count == 3 and .hits[0].duplicates == [4871] and ([.hits[].id] | index(4871)) == null' "$T/coll.json"
"$BIN" search "$DATA/images/35986.jpg" --db "$T/dups.db" -k 2 --collapse variants > "$T/var.txt" 2>/dev/null
check "search --collapse variants prints the other colour under the hit" grep -q "variants: 35987 (Blue)" "$T/var.txt"
"$BIN" search "$DATA/images/4870.jpg" --db "$T/dups.db" --collapse all > /dev/null 2> "$T/coll.err"
check "--collapse all is a usage error naming the choices" bash -c "[ $? = 2 ] && grep -q 'none, duplicates or variants' '$T/coll.err'"
"$BIN" similar 4870 --db "$T/dups.db" -k 10 --where 'price<30' --json > "$T/where.json" 2>/dev/null
check "--where price<30 keeps only the cheaper items (4721, 4871: 21; not 4198: 48 nor 35986/7: 36/37)" \
  jqe '([.hits[].id] | sort) == [4721, 4871]' "$T/where.json"
"$BIN" similar 4870 --db "$T/dups.db" --where 'prize<30' > /dev/null 2> "$T/where.err"
check "--where on a column no item has fails naming it" bash -c "[ $? -ne 0 ] && grep -q \"column 'prize'\" '$T/where.err'"

check "no sanitizer report from any run (ASan, LSan, UBSan)" san_clean
echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
