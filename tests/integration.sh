#!/usr/bin/env bash
# tests/integration.sh BUILD — end-to-end tests of the `lookalike` binary on a small slice of
# the shared fashion catalog (linked, not copied, into a temp dir) plus hand-made bad files:
# indexing, bad input, search, filters, similar, incremental runs, kill -9 and resume, prune,
# one catalog fed from several folders (sources).
set -u
B=${1:-build}
case "$B" in /*) BIN=$B/lookalike;; *) BIN=$PWD/$B/lookalike;; esac
[ -x "$BIN" ] || { echo "integration: no binary at $BIN"; echo "integration: 0 passed, 1 failed"; exit 1; }
DATA=${LOOKALIKE_DATA:-$PWD/../shared/data/fashion-catalog}
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "  ok   $1"; }
ko() { fail=$((fail + 1)); echo "  FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
# jqq [jq args] FILTER FILE: jq -e on FILE; a forgotten or empty FILE fails (jq would pass on empty stdin).
jqq() { [ -s "${!#}" ] || return 1; jq -e "$@" > /dev/null </dev/null; }

if [ ! -d "$DATA/images" ]; then echo "integration: shared catalog missing at $DATA"; echo "integration: 0 passed, 1 failed"; exit 1; fi
T=$(mktemp -d /tmp/lk-int-XXXXXX); trap 'rm -rf "$T"' EXIT
# Sanitizer builds: a leak or error makes the process exit 23, and each report is also logged
# to $T/san.*, so a run whose exit status no check reads still fails the suite (san_clean).
export ASAN_OPTIONS="detect_leaks=1:exitcode=23:log_path=$T/san${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="exitcode=23${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$T/san${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
san_clean() { local f; f=$(ls "$T"/san.* 2>/dev/null) || return 0; [ -z "$f" ] && return 0; head -30 $f; return 1; }
mkdir -p "$T/img"
N=150
# The first N ids (by id) that also have a 225x300 photo, plus the first N others.
ls "$DATA/photos-225x300" | sed 's/\.jpg$//' | sort -n | head -40 > "$T/twins"
{ cat "$T/twins"; tail -n +2 "$DATA/styles.csv" | cut -d, -f1 | sort -n | head -$N; } | sort -nu > "$T/ids"
head -1 "$DATA/styles.csv" > "$T/styles.csv"
awk -F, 'NR==FNR{want[$1]=1; next} FNR>1 && ($1 in want)' "$T/ids" "$DATA/styles.csv" >> "$T/styles.csv"
while read -r id; do ln -s "$DATA/images/$id.jpg" "$T/img/$id.jpg"; done < "$T/ids"
good=$(wc -l < "$T/ids")
# Bad photos, each with a styles row: empty, text, truncated JPEG, corrupt bytes, giant header.
head -c 0 /dev/null > "$T/img/900000001.jpg"
echo "this is not an image" > "$T/img/900000002.jpg"
f1=$(head -1 "$T/ids"); head -c 700 "$DATA/images/$f1.jpg" > "$T/img/900000003.jpg"
head -c 1200 /dev/urandom > "$T/img/900000004.png"
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x01\x86\xa0\x00\x01\x86\xa0\x08\x02\x00\x00\x00\x00\x00\x00\x00' > "$T/img/900000005.png"
for i in 1 2 3 4 5; do echo "90000000$i,Men,Apparel,Topwear,Tshirts,Black,Summer,2012,Casual,Broken photo $i" >> "$T/styles.csv"; done
# A row with no photo, a quoted name with a comma, a duplicate id, a photo with no row.
echo '900000010,Women,Apparel,Topwear,Tops,Red,Summer,2012,Casual,"No photo, at all"' >> "$T/styles.csv"
sed -n 2p "$T/styles.csv" >> "$T/styles.csv"
ln -s "$DATA/images/$f1.jpg" "$T/img/900000020.jpg"
echo '900000021,Women,Apparel,Topwear,Tops,Red,Summer,2012,Casual,"Comma, quoted ""name"""' >> "$T/styles.csv"
ln -s "$DATA/images/$f1.jpg" "$T/img/900000021.jpg"; good=$((good + 1))

echo "integration: index $good photos + 5 bad ones"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" --json > "$T/idx.json" 2> "$T/idx.err"
rc=$?
check "index exits 0 despite bad photos" [ $rc -eq 0 ]
check "index embedded every good photo" [ "$(jq .embedded "$T/idx.json")" = "$good" ]
check "index reports the 5 bad photos as failed" [ "$(jq .failed "$T/idx.json")" = 5 ]
check "index reports the row without photo" [ "$(jq .rows_without_photo "$T/idx.json")" = 1 ]
check "index reports the photo without row" [ "$(jq .photos_without_row "$T/idx.json")" = 1 ]
check "index reports the duplicate row" [ "$(jq .bad_rows "$T/idx.json")" = 1 ]
check "problems name the giant PNG as too large" grep -q "900000005.*\(too large\|limit\|exceed\)" <(jq -r '.problems[].message' "$T/idx.json")
check "check passes" "$BIN" check --db "$T/c.db"
check "info counts items" bash -c "'$BIN' info --db '$T/c.db' --json | jq -e '.vectors == $good and .failed == 5' >/dev/null"
# Numbers are finite or refused: options at the door, vectors when read (issue 15, item 4).
nums_refused() {
  local a
  for a in "index $T/img --db $T/w.db --color-weight inf" "index $T/img --db $T/w.db --color-weight 1e39" \
           "index $T/img --db $T/w.db --color-weight nan" "index $T/img --db $T/w.db --batch 8x" \
           "search x.jpg --db $T/c.db -k 1e3" "search x.jpg --db $T/c.db --prior inf" \
           "eval --db $T/c.db --sample -1" "tune --db $T/c.db --out $T/w.db --lr nan" "tune --db $T/c.db --out $T/w.db --epochs 2x" \
           "index $T/img --db $T/w.db --seed -1" "map --db $T/c.db --out $T/w.png --perplexity inf"; do
    # shellcheck disable=SC2086
    timeout 10 "$BIN" $a > /dev/null 2> "$T/num.err"; local rc=$?
    [ $rc -eq 2 ] && grep -q "must be" "$T/num.err" || { echo "    not refused (exit $rc): $a"; return 1; }
  done
  [ ! -e "$T/w.db" ]
}
check "inf, nan, 1e39 and junk in number options are usage errors (2), nothing written" nums_refused
lists_refused() {
  timeout 10 "$BIN" search x.jpg --db "$T/c.db" --crop 1,2,3,4x > /dev/null 2> "$T/num.err"
  [ $? -eq 2 ] && grep -q -- "--crop is" "$T/num.err" || return 1
  timeout 10 "$BIN" index "$T/img" --db "$T/w.db" --shard 1/99999999999 > /dev/null 2> "$T/num.err"
  [ $? -eq 2 ] && grep -q -- "--shard is" "$T/num.err" && [ ! -e "$T/w.db" ]
}
check "--crop and --shard with junk or overflowing numbers are usage errors (2)" lists_refused
cp "$T/c.db" "$T/nan.db"
vid=$(sqlite3 "$T/nan.db" "select id from vectors order by id limit 1 offset 7")
sqlite3 "$T/nan.db" "update vectors set data = CAST(x'0000C07F' || substr(data, 5) AS BLOB) where id = $vid"
"$BIN" check --db "$T/nan.db" > /dev/null 2> "$T/nan.err"; rc=$?
check "check catches a vector overwritten with NaN, naming the item" bash -c "[ $rc = 1 ] && grep -q 'item $vid: vector element 0 .* is nan' '$T/nan.err'"
cp "$T/c.db" "$T/rec.db"
sqlite3 "$T/rec.db" "update meta set value = replace(value, '\"color_weight\":0.3', '\"color_weight\":0.5') where key = 'recipe'"
"$BIN" check --db "$T/rec.db" > /dev/null 2> "$T/rec.err"; rc=$?
check "check catches a recipe that no longer has its recorded id" bash -c "[ $rc = 1 ] && grep -q 'recipe' '$T/rec.err'"
"$BIN" search "$DATA/images/$f1.jpg" --db "$T/nan.db" > /dev/null 2> "$T/nan.err"; rc=$?
check "search on it fails naming the item (not \"reading vectors: success\")" bash -c "[ $rc = 1 ] && grep -q 'item $vid' '$T/nan.err'"

echo "integration: search"
hits=0; total=0
while read -r id; do
  total=$((total + 1))
  "$BIN" search "$DATA/photos-225x300/$id.jpg" --db "$T/c.db" -k 10 --json > "$T/s.json" 2>/dev/null || continue
  jq -e --argjson id "$id" '[.hits[].id] | index($id) != null' "$T/s.json" >/dev/null && hits=$((hits + 1))
done < <(head -12 "$T/twins")
echo "  same-product: $hits of $total shop photos found their own catalog photo in the top 10"
check "most shop photos find their own catalog photo (>= 9 of 12)" [ $hits -ge 9 ]
q=$(head -1 "$T/twins")
"$BIN" search "$DATA/photos-225x300/$q.jpg" --db "$T/c.db" -k 5 --where gender=Women --json > "$T/f.json" || ko "lookalike search (-> f.json) exited $?"
check "filter returns k results" [ "$(jq '.hits | length' "$T/f.json")" = 5 ]
check "filter returns only matching items" [ "$(jq '[.hits[] | select(.gender != "Women")] | length' "$T/f.json")" = 0 ]
nwomen=$(sqlite3 "$T/c.db" "select count(*) from items where gender='Women' and status='ok'")
"$BIN" search "$DATA/photos-225x300/$q.jpg" --db "$T/c.db" -k 1000 --where gender=women --json > "$T/f2.json" || ko "lookalike search (-> f2.json) exited $?"
all_women() { [ "${nwomen:-0}" -gt 0 ] && [ "$(jq '.hits | length' "$T/f2.json")" = "$nwomen" ]; }
check "filter with large k returns every matching item ($nwomen)" all_women
"$BIN" similar "$q" --db "$T/c.db" -k 5 --json > "$T/sim.json" || ko "lookalike similar (-> sim.json) exited $?"
check "similar excludes the item itself" [ "$(jq --argjson id "$q" '[.hits[] | select(.id == $id)] | length' "$T/sim.json")" = 0 ]
check "similar returns k results" [ "$(jq '.hits | length' "$T/sim.json")" = 5 ]
check "quoted comma and quotes survive in the name" [ "$(sqlite3 "$T/c.db" "select productDisplayName from items where id=900000021")" = 'Comma, quoted "name"' ]
"$BIN" similar 123456789 --db "$T/c.db" >/dev/null 2>&1; check "similar of unknown id exits 3" [ $? -eq 3 ]
"$BIN" search "$T/img/900000002.jpg" --db "$T/c.db" >/dev/null 2>&1; check "search with a non-image exits 4" [ $? -eq 4 ]
"$BIN" search --db "$T/c.db" >/dev/null 2>&1; check "search without photo is a usage error (2)" [ $? -eq 2 ]
# Only regular files are opened: a FIFO or a directory named like a photo or a CSV is reported
# and skipped (index) or refused (search, --styles) at once; `timeout 10` turns a hang into a failure.
mkdir -p "$T/nf"; mkfifo "$T/nf/900000030.jpg" "$T/fifo.jpg" "$T/fifo.csv"; mkdir "$T/nf/900000031.jpg"
ln -s "$DATA/images/$f1.jpg" "$T/nf/$f1.jpg"
{ head -1 "$T/styles.csv"; grep "^$f1," "$T/styles.csv"; echo "900000030,Men,Apparel,Topwear,Tshirts,Black,Summer,2012,Casual,FIFO"
  echo "900000031,Men,Apparel,Topwear,Tshirts,Black,Summer,2012,Casual,Folder"; } > "$T/nf.csv"
timeout 10 "$BIN" index "$T/nf" --styles "$T/nf.csv" --db "$T/nf.db" --json > "$T/nf.json" 2>/dev/null; rc=$?
check "index with a FIFO and a folder named ID.jpg finishes (exit 0), embeds the photo, skips both" \
  jqq '.embedded == 1 and .failed == 2' "$T/nf.json"
check "  ... saying the FIFO is a FIFO and the folder a directory (not a short read)" bash -c "[ $rc = 0 ] &&
  jq -r '.problems[].message' '$T/nf.json' | grep -q '900000030.jpg is a FIFO' &&
  jq -r '.problems[].message' '$T/nf.json' | grep -q '900000031.jpg is a directory'"
timeout 10 "$BIN" search "$T/fifo.jpg" --db "$T/c.db" > /dev/null 2> "$T/fifo.err"; rc=$?
check "search fifo.jpg fails at once (exit 2) saying it is a FIFO" bash -c "[ $rc = 2 ] && grep -q 'fifo.jpg is a FIFO' '$T/fifo.err'"
timeout 10 "$BIN" index "$T/nf" --styles "$T/fifo.csv" --db "$T/nf2.db" > /dev/null 2> "$T/fifo.err"; rc=$?
check "index --styles FIFO fails at once (exit 2) saying it is a FIFO" bash -c "[ $rc = 2 ] && grep -q 'fifo.csv is a FIFO' '$T/fifo.err'"
timeout 10 "$BIN" search "$T/fifo.jpg" --db "$T/fifo.csv" > /dev/null 2> "$T/fifo.err"; rc=$?
check "a FIFO as --db is refused at once (exit 2)" bash -c "[ $rc = 2 ] && grep -q 'fifo.csv is a FIFO' '$T/fifo.err'"
"$BIN" search x.jpg --db "$T/c.db" --where colour=Red >/dev/null 2> "$T/col.err"; check "unknown filter field is a usage error (2)" [ $? -eq 2 ]
check "  ... that names the column no item has" grep -q "no item in the catalog has a column 'colour'" "$T/col.err"

echo "integration: incremental"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" --json > "$T/idx2.json" 2>/dev/null || ko "lookalike index (-> idx2.json) exited $?"
check "second run embeds nothing" [ "$(jq .embedded "$T/idx2.json")" = 0 ]
check "second run sees everything unchanged" [ "$(jq .unchanged "$T/idx2.json")" = $((good + 5)) ]
f2=$(sed -n 2p "$T/ids"); rm "$T/img/$f2.jpg"; cp "$DATA/images/$f1.jpg" "$T/img/$f2.jpg"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" --json > "$T/idx3.json" 2>/dev/null || ko "lookalike index (-> idx3.json) exited $?"
check "a changed photo is embedded again" [ "$(jq .embedded "$T/idx3.json")" = 1 ]
rm "$T/img/$f2.jpg"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" --json > "$T/idx4.json" 2>/dev/null || ko "lookalike index (-> idx4.json) exited $?"
check "a vanished photo is reported stale" [ "$(jq .stale "$T/idx4.json")" = 1 ]
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" --prune --json > "$T/idx5.json" 2>/dev/null || ko "lookalike index (-> idx5.json) exited $?"
check "--prune removes it" [ "$(jq .pruned "$T/idx5.json")" = 1 ]
check "pruned item is gone" [ "$(sqlite3 "$T/c.db" "select count(*) from items where id=$f2")" = 0 ]

echo "integration: kill -9 and resume"
for round in 1 2 3; do
  "$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/k.db" --batch 2 --quiet > /dev/null 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  "$BIN" check --db "$T/k.db" > /dev/null 2>&1 || [ ! -e "$T/k.db" ] || { ko "catalog consistent after kill -9 (round $round)"; continue; }
  ok "catalog consistent after kill -9 (round $round)"
done
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/k.db" --json > "$T/k.json" 2>/dev/null || ko "lookalike index (-> k.json) exited $?"
nk=$(sqlite3 "$T/k.db" "select count(*) from vectors"); nc=$(sqlite3 "$T/c.db" "select count(*) from vectors")
resumed() { [ -n "$nk" ] && [ "$nk" = "$nc" ] && [ "$nk" -gt 100 ]; }
check "resumed run completes ($nk vectors)" resumed
"$BIN" search "$DATA/images/$q.jpg" --db "$T/k.db" -k 1 --json > "$T/self.json" 2>/dev/null || ko "lookalike search (-> self.json) exited $?"
self_found() { jq -e '.hits[0].score >= 0.999' "$T/self.json" > /dev/null; }
check "resumed catalog: a catalog photo finds itself (score >= 0.999)" self_found
refused() { "$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/k.db" --recipe color --json > "$T/rec.json" 2>/dev/null; [ $? -eq 1 ] && grep -q "recipe" "$T/rec.json"; }
check "a different recipe on an existing catalog is refused" refused
# compute modes: the default recipe runs int8; --compute exact makes another recipe (new catalog)
check "the default recipe computes int8" bash -c "'$BIN' info --db '$T/c.db' | grep -q 'compute int8'"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/x.db" --limit 20 --compute exact --quiet > /dev/null 2>&1 || ko "lookalike index --db x.db --compute exact exited $?"
check "--compute exact: info says so" bash -c "'$BIN' info --db '$T/x.db' | grep -q 'compute exact'"
xq=$(sqlite3 "$T/x.db" "select id from items order by id limit 1 offset 3")
"$BIN" search "$DATA/images/$xq.jpg" --db "$T/x.db" -k 1 --json > "$T/xself.json" 2>/dev/null || ko "lookalike search (-> xself.json) exited $?"
check "--compute exact: a catalog photo finds itself" jq -e --argjson id "${xq:-0}" '.hits[0].id == $id and .hits[0].score >= 0.999' "$T/xself.json"
xrefused() { "$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/x.db" --compute int8 --quiet > /dev/null 2>&1; [ $? -eq 1 ]; }
check "--compute int8 on an exact catalog is refused" xrefused
xbad() { "$BIN" index "$T/img" --db "$T/y.db" --compute fast > /dev/null 2>&1; [ $? -eq 2 ] && [ ! -e "$T/y.db" ]; }
check "--compute with an unknown mode is a usage error" xbad

# street photos (eval --street): a folder of labelled photos, here the shop photos of catalog
# items labelled with their own articleType, searched in the whole catalog as uploads are
mkdir -p "$T/street/images"
echo "image,label,articleTypes" > "$T/street/labels.csv"
nst=0
while read -r id; do
  [ -f "$DATA/photos-225x300/$id.jpg" ] || continue
  at=$(sqlite3 "$T/c.db" "select articleType from items where id=$id")
  [ -n "$at" ] || continue
  ln -s "$DATA/photos-225x300/$id.jpg" "$T/street/images/p$id.jpg"
  echo "p$id,$at,$at" >> "$T/street/labels.csv"; nst=$((nst + 1))
done < "$T/twins"
echo "p0,Tshirts,Tshirts" >> "$T/street/labels.csv"   # a photo that is not there: counted, not fatal
"$BIN" eval --db "$T/c.db" --street "$T/street" --json > "$T/street.json" 2>/dev/null; rc=$?
check "eval --street exits 0" [ $rc -eq 0 ]
check "eval --street searched every photo ($nst) and counted the missing one" \
  jqq --argjson n "$nst" '.photos == $n and .undecodable == 1' "$T/street.json"
check "eval --street: shop photos of catalog products find their type (micro P@10 >= 0.5)" \
  jqq '.micro_p10 >= 0.5 and .micro_p10 <= 1 and .macro_p10 > 0' "$T/street.json"
check "eval --street: a row per label, with its gallery size" \
  jqq '(.labels | length) >= 2 and all(.labels[]; .photos >= 1 and .gallery >= 1)' "$T/street.json"
"$BIN" eval --db "$T/c.db" --street "$T/street" --limit 3 --json > "$T/street3.json" 2>/dev/null || ko "lookalike eval (-> street3.json) exited $?"
check "eval --street --limit 3 searches 3 photos" jqq '.photos == 3' "$T/street3.json"
nolab() { "$BIN" eval --db "$T/c.db" --street "$T/img" > /dev/null 2>&1; [ $? -ne 0 ]; }
check "eval --street without labels.csv fails" nolab
check "eval --street --markdown prints the per-label table" \
  bash -c "'$BIN' eval --db '$T/c.db' --street '$T/street' --markdown 2>/dev/null | grep -q '^| label | photos |'"
# garment isolation (--garment on): searches still work; a studio photo is left as it is
"$BIN" search "$DATA/images/$q.jpg" --db "$T/c.db" -k 1 --garment on --json > "$T/gself.json" 2>/dev/null || ko "lookalike search (-> gself.json) exited $?"
check "search --garment on: a studio photo still finds itself" jqq --argjson id "$q" '.hits[0].id == $id' "$T/gself.json"
gbad() { "$BIN" search "$DATA/images/$q.jpg" --db "$T/c.db" --garment maybe > /dev/null 2>&1; [ $? -eq 2 ]; }
check "search --garment with a bad value is a usage error" gbad
"$BIN" eval --db "$T/c.db" --street "$T/street" --garment on --json > "$T/streetg.json" 2>/dev/null || ko "lookalike eval (-> streetg.json) exited $?"
check "eval --street --garment on runs" jqq --argjson n "$nst" '.photos == $n' "$T/streetg.json"
# tune with street-like views of the training photos (tune --views), then search the tuned catalog
"$BIN" tune --db "$T/c.db" --out "$T/tv.db" --views 1 --epochs 2 --hidden 64 --dims 32 --eval-sample 0 --quiet > "$T/tv.log" 2>&1; rc=$?
check "tune --views 1 exits 0" [ $rc -eq 0 ]
check "tune --views 1 made a view of every training photo" grep -q "street-like views: [1-9][0-9]*, 1 of each of [1-9][0-9]* training photos (0 unreadable)" "$T/tv.log"
"$BIN" search "$DATA/images/$q.jpg" --db "$T/tv.db" -k 1 --json > "$T/tvself.json" 2>/dev/null || ko "lookalike search (-> tvself.json) exited $?"
check "the view-tuned catalog: a catalog photo finds itself" jqq --argjson id "$q" '.hits[0].id == $id' "$T/tvself.json"
# more views per photo than one embedding batch holds (8): every view still lands in its row
"$BIN" tune --db "$T/c.db" --out "$T/tv9.db" --views 9 --epochs 1 --hidden 64 --dims 32 --eval-sample 0 --quiet > "$T/tv9.log" 2>&1; rc=$?
check "tune --views 9 (more than a batch per photo) exits 0" [ $rc -eq 0 ]
check "tune --views 9 made 9 views of every training photo" grep -q "street-like views: [1-9][0-9]*, 9 of each of [1-9][0-9]* training photos (0 unreadable)" "$T/tv9.log"
vbad() { "$BIN" tune --db "$T/c.db" --out "$T/tv2.db" --views 65 > /dev/null 2>&1; [ $? -eq 2 ] && [ ! -e "$T/tv2.db" ]; }
check "tune --views out of range is a usage error" vbad

# issue 15 item 8: photo names that are not ids are reported with the rule; twin photos of one id
# name the photo really used; the largest id (19 digits) is an id everywhere, one past it nowhere
mkdir -p "$T/names"
cp "$DATA/images/$q.jpg" "$T/names/IMG_0001.JPG"; cp "$DATA/images/$q.jpg" "$T/names/IMG_0002.jpg"
cp "$DATA/images/$q.jpg" "$T/names/77.jpg"; cp "$DATA/images/$q.jpg" "$T/names/077.png"
cp "$DATA/images/$q.jpg" "$T/names/9223372036854775807.jpg"; cp "$DATA/images/$q.jpg" "$T/names/9223372036854775808.jpg"
"$BIN" index "$T/names" --db "$T/names.db" --recipe color > "$T/names.out" 2> "$T/names.err"; rc=$?
check "index of camera-named photos exits 0" [ $rc -eq 0 ]
check "index says how many files are not named after an id, and how to name them" \
  grep -q "^3 image files are not named after a product id.*ID.jpg" "$T/names.out"
check "index names each such file" grep -q "IMG_0001.JPG: not indexed: a photo's name must be its product id" "$T/names.err"
check "index of twin photos names the one it uses" grep -q "several photos for id 77 (077.png and 1 more); using 77.jpg" "$T/names.err"
"$BIN" index "$T/names" --db "$T/names.db" --json > "$T/names.json" 2>/dev/null
check "index --json counts files not named by id" jqq '.photos_not_named_by_id == 3 and .photos == 2' "$T/names.json"
"$BIN" similar 9223372036854775807 --db "$T/names.db" -k 1 --json > "$T/big.json" 2>/dev/null; rc=$?
check "a 19-digit id (INT64_MAX) is indexed and found by similar" [ $rc -eq 0 ]
bigbad() { "$BIN" similar 9223372036854775808 --db "$T/names.db" > /dev/null 2> "$T/big.err"; [ $? -eq 2 ] && grep -q "is not an item id" "$T/big.err"; }
check "one past INT64_MAX is not an item id" bigbad
# issue 15 item 8: `map` of a catalog of 4-10 items stores its map and exits 0 (it said "knn: bad arguments")
mkdir -p "$T/six"; for id in $(head -6 "$T/ids"); do ln -s "$DATA/images/$id.jpg" "$T/six/$id.jpg"; done
"$BIN" index "$T/six" --db "$T/six.db" --recipe color > /dev/null 2>&1
"$BIN" map --db "$T/six.db" --out "$T/six.png" > /dev/null 2> "$T/six.err"; rc=$?
check "map of 6 items exits 0, draws the PNG and says why it has no agreement figures" \
  bash -c "[ $rc -eq 0 ] && [ -s '$T/six.png' ] && grep -q 'too few for the 10-nearest-neighbour' '$T/six.err'"
echo "integration: one catalog fed from several folders (sources)"
# copies, not links: a catalog made before sources gives its items their photo path's folder
mkdir -p "$T/srcA" "$T/srcB"
for id in $(sed -n 1,4p "$T/ids"); do cp "$DATA/images/$id.jpg" "$T/srcA/"; done
for id in $(sed -n 5,8p "$T/ids"); do cp "$DATA/images/$id.jpg" "$T/srcB/"; done
sA=$(realpath "$T/srcA"); sB=$(realpath "$T/srcB")
"$BIN" index "$T/srcA" --db "$T/src.db" --recipe color --quiet > /dev/null 2>&1
"$BIN" index "$T/srcB" --db "$T/src.db" --recipe color --json > "$T/srcB.json" 2>/dev/null
check "a second folder into one catalog: nothing reported stale, its source said" \
  jqq --arg b "$sB" '.stale == 0 and .embedded == 4 and .source == $b' "$T/srcB.json"
"$BIN" info --db "$T/src.db" --json > "$T/srci.json" 2>/dev/null
check "info lists both sources with their item counts" \
  jqq --arg a "$sA" --arg b "$sB" '.sources == [{"source": $a, "items": 4}, {"source": $b, "items": 4}]' "$T/srci.json"
check "info prints the sources" bash -c "'$BIN' info --db '$T/src.db' | grep -q '^sources:   2'"
cp "$T/src.db" "$T/srcold.db"  # the same catalog as an older version wrote it: no source column, no change sequence
sqlite3 "$T/srcold.db" "$(sqlite3 "$T/srcold.db" "select 'drop trigger ' || name || ';' from sqlite_master where type = 'trigger'") drop table changes; drop table catalog_version; alter table items drop column source;"
rm "$T/srcB/$(sed -n 5p "$T/ids").jpg"
"$BIN" index "$T/srcB" --db "$T/src.db" --recipe color --prune --json > "$T/srcBp.json" 2>/dev/null
check "--prune on folder B removes B's vanished item and leaves folder A's items" \
  jqq --arg a "$sA" --arg b "$sB" '.pruned == 1 and .stale == 0 and .sources == [{"source": $a, "items": 4}, {"source": $b, "items": 3}]' "$T/srcBp.json"
cv() { "$BIN" info --db "$1" --json 2>/dev/null | jq .catalog_version; }
cv1=$(cv "$T/src.db")
"$BIN" index "$T/srcA" --db "$T/src.db" --recipe color --json > "$T/srcA2.json" 2>/dev/null
check "re-indexing folder A: nothing stale, nothing embedded, no new catalog version" \
  bash -c "jq -e '.stale == 0 and .embedded == 0 and .unchanged == 4' '$T/srcA2.json' > /dev/null && [ '$cv1' -gt 0 ] && [ \"\$(jq -n '$(cv "$T/src.db")')\" = '$cv1' ]"
"$BIN" info --db "$T/srcold.db" --json > "$T/srcoi.json" 2>/dev/null
check "a catalog made before sources: its items belong to their photos' folders" \
  jqq --arg a "$sA" --arg b "$sB" '.sources == [{"source": $a, "items": 4}, {"source": $b, "items": 4}]' "$T/srcoi.json"
"$BIN" index "$T/srcA" --db "$T/srcold.db" --recipe color --json > "$T/srcoA.json" 2>/dev/null
check "re-indexing its folder A: as before sources (nothing stale, nothing written)" \
  bash -c "jq -e '.stale == 0 and .embedded == 0 and .unchanged == 4' '$T/srcoA.json' > /dev/null && [ \"\$(sqlite3 '$T/srcold.db' 'select count(*) from items where source is not null')\" = 0 ]"
"$BIN" index "$T/srcB" --db "$T/srcold.db" --recipe color --json > "$T/srcoB.json" 2>/dev/null
check "...and its folder B reports only B's vanished item" jqq '.stale == 1' "$T/srcoB.json"
"$BIN" index "$T/srcA" --db "$T/srcn.db" --recipe color --source "summer 2026" --json > "$T/srcn.json" 2>/dev/null
check "--source NAME names the items' source" \
  bash -c "jq -e '.source == \"summer 2026\" and .sources == [{\"source\": \"summer 2026\", \"items\": 4}]' '$T/srcn.json' > /dev/null && [ \"\$(sqlite3 '$T/srcn.db' \"select count(*) from items where source = 'summer 2026'\")\" = 4 ]"
mkdir -p "$T/caf"$'\xe9'; cp "$T/srcA/"* "$T/caf"$'\xe9'/  # a folder name that is not UTF-8
"$BIN" index "$T/caf"$'\xe9' --db "$T/src8.db" --recipe color --quiet > /dev/null 2>&1
rm "$T/caf"$'\xe9'"/$(sed -n 1p "$T/ids").jpg"
"$BIN" index "$T/caf"$'\xe9' --db "$T/src8.db" --recipe color --json > "$T/src8.json" 2>/dev/null
check "a folder whose name is not UTF-8 is one source (as text), its vanished photo stale" \
  jqq '(.source | endswith("/caf\ufffd")) and .stale == 1 and .unchanged == 3 and (.sources | length) == 1' "$T/src8.json"
srcbad() { "$BIN" index "$T/srcA" --db "$T/srcx.db" --source "$1" > /dev/null 2> "$T/srcx.err"; [ $? -eq 2 ] && grep -q -- "--source" "$T/srcx.err" && [ ! -e "$T/srcx.db" ]; }
check "an empty --source is a usage error naming it" srcbad ""
check "a --source with a control character is a usage error naming it" srcbad $'a\tb'
check "a --source that is not UTF-8 is a usage error naming it" srcbad $'caf\xe9'
check "a --source of 1024 bytes is a usage error naming it" srcbad "$(head -c 1024 /dev/zero | tr '\0' x)"
echo "integration: text at the door (encodings, malformed rows)"
# a spreadsheet's Windows-1252 export: accents survive into search --json and a started serve
mkdir -p "$T/tx"
read -r t1 t2 t3 < <(head -3 "$T/ids" | tr '\n' ' ')
for id in $t1 $t2 $t3; do ln -s "$DATA/images/$id.jpg" "$T/tx/$id.jpg"; done
printf 'id,gender,baseColour,productDisplayName,note\n%s,Unisex,Cr\xe8me,Caf\xe9 \x93shirt\x94,na\xefve\n%s,Men,Red,Plain,x\n%s,Men,Blue,Plain,y\n' \
  "$t1" "$t2" "$t3" > "$T/cp1252.csv"
"$BIN" index "$T/tx" --styles "$T/cp1252.csv" --db "$T/tx.db" --recipe color --json > "$T/tx.json" 2>/dev/null
check "index of a cp1252 CSV exits 0" [ $? -eq 0 ]
check "index says once that values were read as Windows-1252" \
  jqq '.recoded_values == 3 and ([.problems[].message | select(test("Windows-1252"))] | length) == 1' "$T/tx.json"
"$BIN" search "$DATA/images/$t1.jpg" --db "$T/tx.db" -k 1 --json > "$T/txs.json" 2>/dev/null
check "search --json shows the cp1252 text decoded" \
  jqq '.hits[0].baseColour == "Crème" and .hits[0].productDisplayName == "Café “shirt”" and .hits[0].extra.note == "naïve"' "$T/txs.json"
txserve() { # DB: serve it, fetch item t1 into $T/txi.json
  "$BIN" serve --db "$1" --host 127.0.0.1 --port 0 2> "$T/txserve.log" & local pid=$! port=
  for _ in $(seq 100); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/txserve.log")
    [ -n "$port" ] || ! kill -0 $pid 2>/dev/null && break; sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/api/items/$t1" > "$T/txi.json"; local rc=$?
  curl -sf "http://127.0.0.1:$port/api/facets" > "$T/txf.json" || rc=1
  kill $pid 2>/dev/null; wait $pid 2>/dev/null; return $rc
}
txnew() { txserve "$T/tx.db" && jqq '.baseColour == "Crème" and .extra.note == "naïve"' "$T/txi.json" && grep -q "Crème" "$T/txf.json"; }
check "serve starts on the cp1252 catalog and shows the accents (item, facets)" txnew
# a catalog written by an older version holds the raw bytes: still served, repaired to U+FFFD
cp "$T/tx.db" "$T/old.db"
sqlite3 "$T/old.db" "update items set baseColour = CAST(X'4372E86D65' AS TEXT), productDisplayName = CAST(X'436166E9' AS TEXT) where id = $t1"
txold() { txserve "$T/old.db" && jqq '.baseColour == "Cr\ufffdme" and .productDisplayName == "Caf\ufffd"' "$T/txi.json"; }
check "serve starts on an old catalog with invalid UTF-8 and repairs it (U+FFFD)" txold
"$BIN" search "$DATA/images/$t1.jpg" --db "$T/old.db" -k 1 --json > "$T/olds.json" 2>/dev/null
check "search --json on the old catalog keeps the key (repaired)" jqq '.hits[0].productDisplayName == "Caf\ufffd"' "$T/olds.json"
oldcheck() { "$BIN" check --db "$T/old.db" > /dev/null 2> "$T/oldc.err"; [ $? -eq 1 ] && grep -q "1 item holds text that is not UTF-8 (first: id $t1, baseColour)" "$T/oldc.err"; }
check "check names the old catalog's text that is not UTF-8" oldcheck
"$BIN" index "$T/tx" --styles "$T/cp1252.csv" --db "$T/old.db" --quiet > /dev/null 2>&1
"$BIN" search "$DATA/images/$t1.jpg" --db "$T/old.db" -k 1 --json > "$T/olds2.json" 2>/dev/null
check "index again stores it decoded; check passes" bash -c "'$BIN' check --db '$T/old.db' > /dev/null && jq -e '.hits[0].baseColour == \"Crème\"' '$T/olds2.json' > /dev/null"
cp "$T/tx.db" "$T/caf"$'\xe9'".db"  # a file name that is not UTF-8: info --json keeps the "db" key
"$BIN" info --db "$T/caf"$'\xe9'".db" --json > "$T/info8.json" 2>/dev/null
check "info --json names a catalog whose file name is not UTF-8" jqq '.db | endswith("caf\ufffd.db")' "$T/info8.json"
u8bad() { "$BIN" index "$T/tx" --styles "$T/cp1252.csv" --db "$T/u8.db" --recipe color --encoding utf-8 2> "$T/u8.err" >/dev/null; [ $? -eq 1 ] && grep -q "line 2.*baseColour.*--encoding" "$T/u8.err" && [ ! -e "$T/u8.db" ]; }
check "--encoding utf-8 refuses a cp1252 byte, naming line and column" u8bad
# a stray comma shifts a row: reported by line; --strict refuses the file, nothing written
printf 'id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n%s,Men,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,Fine\n%s,Men,Apparel,Topwear,Tshirts,Red, Dark,Spring,2012,Casual,Shifted\n' \
  "$t1" "$t2" > "$T/stray.csv"
"$BIN" index "$T/tx" --styles "$T/stray.csv" --db "$T/st.db" --recipe color --json > "$T/st.json" 2>/dev/null
check "a stray comma is reported with its line, and the year it shifted" \
  jqq '.rows_with_problems == 1 and ([.problems[].message | select(test("line 3: 11 fields for 10 columns"))] | length) == 1 and ([.problems[].message | select(test("line 3: year .Spring."))] | length) == 1' "$T/st.json"
strict() { "$BIN" index "$T/tx" --styles "$T/stray.csv" --db "$T/st2.db" --recipe color --strict 2> "$T/st2.err" >/dev/null; [ $? -eq 1 ] && grep -q "line 3: 11 fields for 10 columns" "$T/st2.err" && [ ! -e "$T/st2.db" ]; }
check "--strict refuses the stray-comma file with the line number, writing nothing" strict

# header names with blanks, a duplicate column, a NUL byte, a 23-digit year: stored right, each
# reported with its line
printf 'id, "gender" ,gender,year, note\n%s, Men ,Women, 12345678901234567890123 ,a\0b\n' "$t1" > "$T/odd.csv"
"$BIN" index "$T/tx" --styles "$T/odd.csv" --db "$T/odd.db" --recipe color --json > "$T/odd.json" 2>/dev/null
"$BIN" search "$DATA/images/$t1.jpg" --db "$T/odd.db" -k 1 --json > "$T/odds.json" 2>/dev/null
check "header names and values are trimmed; the first of two columns is kept; a NUL byte does not cut the text" \
  jqq '.hits[0].gender == "Men" and .hits[0].extra == {"note": "ab"} and .hits[0].year == "12345678901234567890123"' "$T/odds.json"
check "the duplicate column, the NUL byte and the year are reported with their lines" \
  jqq '[.problems[].message | select(test("line 1: column .gender. appears twice|line 2: 1 NUL byte|line 2: year .1234"))] | length == 3' "$T/odd.json"
# UTF-16 (with or without a byte order mark) is named; a ';'-separated file is read as such
printf '\xff\xfei\0d\0,\0g\0\n\0' > "$T/u16.csv"; printf 'i\0d\0,\0g\0\n\0' > "$T/u16n.csv"
u16() { "$BIN" index "$T/tx" --styles "$T/$1" --db "$T/u16.db" --recipe color 2> "$T/u16.err" >/dev/null; [ $? -ne 0 ] && grep -q "UTF-16" "$T/u16.err" && [ ! -e "$T/u16.db" ]; }
check "a UTF-16 CSV is refused by name (byte order mark)" u16 u16.csv
check "a UTF-16 CSV is refused by name (no byte order mark)" u16 u16n.csv
printf 'id;gender;baseColour\n%s;Men;"Red;Dark"\n' "$t1" > "$T/semi.csv"
"$BIN" index "$T/tx" --styles "$T/semi.csv" --db "$T/semi.db" --recipe color --json > "$T/semi.json" 2>/dev/null
"$BIN" search "$DATA/images/$t1.jpg" --db "$T/semi.db" -k 1 --json > "$T/semis.json" 2>/dev/null
check "a ';'-separated CSV is recognised and said so" \
  bash -c "jq -e '.hits[0].gender == \"Men\" and .hits[0].baseColour == \"Red;Dark\"' '$T/semis.json' >/dev/null && grep -q \"separated by ';'\" '$T/semi.json'"
printf 'sep=;\nid;gender\n%s;Women\n' "$t1" > "$T/sepl.csv"  # Excel's separator line
"$BIN" index "$T/tx" --styles "$T/sepl.csv" --db "$T/sepl.db" --recipe color --quiet > /dev/null 2>&1
"$BIN" search "$DATA/images/$t1.jpg" --db "$T/sepl.db" -k 1 --json > "$T/sepls.json" 2>/dev/null
check "an Excel 'sep=;' first line is followed" jqq '.hits[0].gender == "Women"' "$T/sepls.json"

check "no sanitizer report from any run (ASan, LSan, UBSan)" san_clean
echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
