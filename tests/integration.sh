#!/usr/bin/env bash
# tests/integration.sh BUILD — end-to-end tests of the `lookalike` binary on a small slice of
# the shared fashion catalog (linked, not copied, into a temp dir) plus hand-made bad files:
# indexing, bad input, search, filters, similar, incremental runs, kill -9 and resume, prune.
set -u
B=${1:-build}
case "$B" in /*) BIN=$B/lookalike;; *) BIN=$PWD/$B/lookalike;; esac
[ -x "$BIN" ] || { echo "integration: no binary at $BIN"; echo "integration: 0 passed, 1 failed"; exit 1; }
DATA=${LOOKALIKE_DATA:-$PWD/../shared/data/fashion-catalog}
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "  ok   $1"; }
ko() { fail=$((fail + 1)); echo "  FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
jqq() { jq -e "$@" > /dev/null; }

if [ ! -d "$DATA/images" ]; then echo "integration: shared catalog missing at $DATA"; echo "integration: 0 passed, 1 failed"; exit 1; fi
T=$(mktemp -d /tmp/lk-int-XXXXXX); trap 'rm -rf "$T"' EXIT
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
"$BIN" search "$DATA/photos-225x300/$q.jpg" --db "$T/c.db" -k 5 --where gender=Women --json > "$T/f.json"
check "filter returns k results" [ "$(jq '.hits | length' "$T/f.json")" = 5 ]
check "filter returns only matching items" [ "$(jq '[.hits[] | select(.gender != "Women")] | length' "$T/f.json")" = 0 ]
nwomen=$(sqlite3 "$T/c.db" "select count(*) from items where gender='Women' and status='ok'")
"$BIN" search "$DATA/photos-225x300/$q.jpg" --db "$T/c.db" -k 1000 --where gender=women --json > "$T/f2.json"
all_women() { [ "${nwomen:-0}" -gt 0 ] && [ "$(jq '.hits | length' "$T/f2.json")" = "$nwomen" ]; }
check "filter with large k returns every matching item ($nwomen)" all_women
"$BIN" similar "$q" --db "$T/c.db" -k 5 --json > "$T/sim.json"
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
"$BIN" search x.jpg --db "$T/c.db" --where colour=Red >/dev/null 2>&1; check "unknown filter field is a usage error (2)" [ $? -eq 2 ]

echo "integration: incremental"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" --json > "$T/idx2.json" 2>/dev/null
check "second run embeds nothing" [ "$(jq .embedded "$T/idx2.json")" = 0 ]
check "second run sees everything unchanged" [ "$(jq .unchanged "$T/idx2.json")" = $((good + 5)) ]
f2=$(sed -n 2p "$T/ids"); rm "$T/img/$f2.jpg"; cp "$DATA/images/$f1.jpg" "$T/img/$f2.jpg"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" --json > "$T/idx3.json" 2>/dev/null
check "a changed photo is embedded again" [ "$(jq .embedded "$T/idx3.json")" = 1 ]
rm "$T/img/$f2.jpg"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" --json > "$T/idx4.json" 2>/dev/null
check "a vanished photo is reported stale" [ "$(jq .stale "$T/idx4.json")" = 1 ]
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" --prune --json > "$T/idx5.json" 2>/dev/null
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
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/k.db" --json > "$T/k.json" 2>/dev/null
nk=$(sqlite3 "$T/k.db" "select count(*) from vectors"); nc=$(sqlite3 "$T/c.db" "select count(*) from vectors")
resumed() { [ -n "$nk" ] && [ "$nk" = "$nc" ] && [ "$nk" -gt 100 ]; }
check "resumed run completes ($nk vectors)" resumed
"$BIN" search "$DATA/images/$q.jpg" --db "$T/k.db" -k 1 --json > "$T/self.json" 2>/dev/null
self_found() { jq -e '.hits[0].score >= 0.999' "$T/self.json" > /dev/null; }
check "resumed catalog: a catalog photo finds itself (score >= 0.999)" self_found
refused() { "$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/k.db" --recipe color --json > "$T/rec.json" 2>/dev/null; [ $? -eq 1 ] && grep -q "recipe" "$T/rec.json"; }
check "a different recipe on an existing catalog is refused" refused
# compute modes: the default recipe runs int8; --compute exact makes another recipe (new catalog)
check "the default recipe computes int8" bash -c "'$BIN' info --db '$T/c.db' | grep -q 'compute int8'"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/x.db" --limit 20 --compute exact --quiet > /dev/null 2>&1
check "--compute exact: info says so" bash -c "'$BIN' info --db '$T/x.db' | grep -q 'compute exact'"
xq=$(sqlite3 "$T/x.db" "select id from items order by id limit 1 offset 3")
"$BIN" search "$DATA/images/$xq.jpg" --db "$T/x.db" -k 1 --json > "$T/xself.json" 2>/dev/null
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
"$BIN" eval --db "$T/c.db" --street "$T/street" --limit 3 --json > "$T/street3.json" 2>/dev/null
check "eval --street --limit 3 searches 3 photos" jqq '.photos == 3' "$T/street3.json"
nolab() { "$BIN" eval --db "$T/c.db" --street "$T/img" > /dev/null 2>&1; [ $? -ne 0 ]; }
check "eval --street without labels.csv fails" nolab
check "eval --street --markdown prints the per-label table" \
  bash -c "'$BIN' eval --db '$T/c.db' --street '$T/street' --markdown 2>/dev/null | grep -q '^| label | photos |'"
# garment isolation (--garment on): searches still work; a studio photo is left as it is
"$BIN" search "$DATA/images/$q.jpg" --db "$T/c.db" -k 1 --garment on --json > "$T/gself.json" 2>/dev/null
check "search --garment on: a studio photo still finds itself" jqq --argjson id "$q" '.hits[0].id == $id' "$T/gself.json"
gbad() { "$BIN" search "$DATA/images/$q.jpg" --db "$T/c.db" --garment maybe > /dev/null 2>&1; [ $? -eq 2 ]; }
check "search --garment with a bad value is a usage error" gbad
"$BIN" eval --db "$T/c.db" --street "$T/street" --garment on --json > "$T/streetg.json" 2>/dev/null
check "eval --street --garment on runs" jqq --argjson n "$nst" '.photos == $n' "$T/streetg.json"
# tune with street-like views of the training photos (tune --views), then search the tuned catalog
"$BIN" tune --db "$T/c.db" --out "$T/tv.db" --views 1 --epochs 2 --hidden 64 --dims 32 --eval-sample 0 --quiet > "$T/tv.log" 2>&1; rc=$?
check "tune --views 1 exits 0" [ $rc -eq 0 ]
check "tune --views 1 made a view of every training photo" grep -q "street-like views: [1-9][0-9]*, 1 of each of [1-9][0-9]* training photos (0 unreadable)" "$T/tv.log"
"$BIN" search "$DATA/images/$q.jpg" --db "$T/tv.db" -k 1 --json > "$T/tvself.json" 2>/dev/null
check "the view-tuned catalog: a catalog photo finds itself" jqq --argjson id "$q" '.hits[0].id == $id' "$T/tvself.json"
# more views per photo than one embedding batch holds (8): every view still lands in its row
"$BIN" tune --db "$T/c.db" --out "$T/tv9.db" --views 9 --epochs 1 --hidden 64 --dims 32 --eval-sample 0 --quiet > "$T/tv9.log" 2>&1; rc=$?
check "tune --views 9 (more than a batch per photo) exits 0" [ $rc -eq 0 ]
check "tune --views 9 made 9 views of every training photo" grep -q "street-like views: [1-9][0-9]*, 9 of each of [1-9][0-9]* training photos (0 unreadable)" "$T/tv9.log"
vbad() { "$BIN" tune --db "$T/c.db" --out "$T/tv2.db" --views 65 > /dev/null 2>&1; [ $? -eq 2 ] && [ ! -e "$T/tv2.db" ]; }
check "tune --views out of range is a usage error" vbad

echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
