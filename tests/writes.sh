#!/usr/bin/env bash
# tests/writes.sh BUILD — the write API of `lookalike serve` (docs/API.md "Writing the
# catalog") over real HTTP on loopback: uploads, POST/PUT/PATCH/DELETE /api/items, batches
# (NDJSON and CSV + photos), the keys writes need, the bad writes of issue 16, the vector of a
# photo written over HTTP against the one `lookalike index` stores for the same file, and
# durability: `kill -9` of the server during a stream of writes, 20 rounds, after which every
# acknowledged write is there whole and `lookalike check` passes (tests/write_stream.py).
# Last line: "writes: N passed, M failed".
set -u
B=${1:-build}
ROOT=$PWD
case $B in /*) BIN=$B/lookalike ;; *) BIN=$ROOT/$B/lookalike ;; esac
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
. "$ROOT/tests/lib.sh"
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "  ok   $1"; }
ko() { fail=$((fail + 1)); echo "  FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
finish() {
  [ -n "${T:-}" ] && check "no sanitizer report from any run (ASan, LSan, UBSan)" san_clean
  echo "writes: $pass passed, $fail failed"; [ $fail -eq 0 ]; exit $?
}

if [ ! -x "$BIN" ]; then echo "writes: no binary at $BIN"; echo "writes: 0 passed, 1 failed"; exit 1; fi
if [ ! -d "$DATA/images" ]; then echo "writes: shared catalog missing at $DATA"; echo "writes: 0 passed, 1 failed"; exit 1; fi
for tool in curl jq python3; do
  command -v $tool >/dev/null || { echo "writes: $tool is not installed"; echo "writes: 0 passed, 1 failed"; exit 1; }
done

T=$(mktemp -d /tmp/lk-writes-XXXXXX)
# Sanitizer builds: each report is logged to $T/san.* (the kill -9 rounds leave no exit status
# to read), and the suite fails on any (san_clean).
export ASAN_OPTIONS="detect_leaks=1:exitcode=23:log_path=$T/san${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="exitcode=23${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$T/san${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
san_clean() { local f; f=$(ls "$T"/san.* 2>/dev/null) || return 0; [ -z "$f" ] && return 0; head -30 $f; return 1; }
SERVER=
cleanup() { [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
mkdir -p "$T/img" "$T/one"

# A catalog of the first 60 products; the next 12 are the ones written over HTTP.
tail -n +2 "$DATA/styles.csv" | cut -d, -f1 | while read -r id; do [ -f "$DATA/images/$id.jpg" ] && echo "$id"; done \
  | head -72 > "$T/all"
head -60 "$T/all" > "$T/ids"; tail -n +61 "$T/all" > "$T/new"
head -1 "$DATA/styles.csv" > "$T/styles.csv"
awk -F, 'NR==FNR{want[$1]=1; next} FNR>1 && ($1 in want)' "$T/ids" "$DATA/styles.csv" >> "$T/styles.csv"
while read -r id; do ln -s "$DATA/images/$id.jpg" "$T/img/$id.jpg"; done < "$T/ids"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/c.db" > "$T/index.log" 2>&1
check "index the test catalog (60 products)" [ $? -eq 0 ]
N=( $(cat "$T/new") )   # N[0..11]: products not in the catalog
photo() { echo "$DATA/images/$1.jpg"; }

WK=$("$BIN" keys add --db "$T/c.db" --role write --name writer 2>/dev/null)
RK=$("$BIN" keys add --db "$T/c.db" --role read --name reader 2>/dev/null)
GK=$("$BIN" keys add --db "$T/c.db" --role write --name gone 2>/dev/null)
AK=$("$BIN" keys add --db "$T/c.db" --role admin --name owner 2>/dev/null)
check "keys made (write, read, write to revoke)" bash -c "[ -n '$WK' ] && [ -n '$RK' ] && [ -n '$GK' ]"

# start_server LOG [ARGS...]: `serve` on a free port; sets SERVER and URL.
start_server() {
  local log=$1; shift
  rm -f "$log"
  "$BIN" serve --db "$T/c.db" --host 127.0.0.1 --port 0 --quiet "$@" 2> "$log" &
  SERVER=$!
  local port=
  for _ in $(seq 150); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$log" 2>/dev/null)
    [ -n "$port" ] && break
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  URL=http://127.0.0.1:$port
  [ -n "$port" ] && curl -sf -m 5 "$URL/health" >/dev/null
}
# req OUT METHOD PATH KEY [curl args]: the status on stdout, the body in OUT.
req() {
  local out=$1 m=$2 p=$3 k=$4; shift 4
  curl -s -m 30 -o "$out" -w '%{http_code}' -X "$m" ${k:+-H "Authorization: Bearer $k"} "$@" "$URL$p"
}
json() { req "$1" "$2" "$3" "$4" -H 'Content-Type: application/json' --data-binary "$5"; }
first_hit() { curl -s -m 30 -F "image=@$1" "$URL/api/search" | jq -r '.hits[0].id'; }
export -f first_hit

start_server "$T/server.log"
check "server starts" [ $? -eq 0 ]
if [ -z "${URL#http://127.0.0.1:}" ]; then cat "$T/server.log"; finish; fi
export URL

echo "writes: keys"
X=${N[0]}
check "no key: 401" [ "$(json "$T/r.json" POST /api/items "" "{\"id\":$X}")" = 401 ]
check "a read key: 403" [ "$(json "$T/r.json" POST /api/items "$RK" "{\"id\":$X}")" = 403 ]
check "a wrong key: 401" [ "$(req "$T/r.json" DELETE /api/items/$X lk_nonsense)" = 401 ]
"$BIN" keys revoke --db "$T/c.db" gone >/dev/null 2>&1; sleep 1.2
check "a revoked key: 401" [ "$(req "$T/r.json" DELETE /api/items/$X "$GK")" = 401 ]
check "an admin key may write too (PATCH of an unknown id: 404, not 401/403)" \
  [ "$(json "$T/r.json" PATCH /api/items/1 "$AK" '{"productDisplayName":"x"}')" = 404 ]
check "GET /api/uploads: 405 (POST only)" [ "$(req "$T/r.json" GET /api/uploads "$WK")" = 405 ]

echo "writes: add, find, change, remove"
st=$(req "$T/up.json" POST /api/uploads "$WK" --data-binary "@$(photo $X)")
check "POST /api/uploads: 201 with an upload id, type and size" \
  bash -c "[ $st = 201 ] && jq -e '(.upload|test(\"^u_[0-9a-f]{32}$\")) and .type==\"image/jpeg\" and .width>0 and .height>0 and .expires_s==3600' '$T/up.json' >/dev/null"
UP=$(jq -r .upload "$T/up.json")
BODY="{\"id\":$X,\"productDisplayName\":\"Live shirt\",\"gender\":\"Men\",\"year\":2026,\"color_code\":\"C7\",\"upload\":\"$UP\"}"
st=$(json "$T/p.json" POST /api/items "$WK" "$BODY")
check "POST /api/items (JSON + upload): 201, created, the item as GET shows it" \
  bash -c "[ $st = 201 ] && jq -e '.created==true and .item.id==$X and .item.productDisplayName==\"Live shirt\" and .item.year==2026 and .catalog_version>0' '$T/p.json' >/dev/null"
check "unknown fields are kept in extra" jqe '.item.extra.color_code=="C7"' "$T/p.json"
check "searching with its photo finds it first, at the next request" [ "$(first_hit "$(photo $X)")" = "$X" ]
check "GET /api/items/ID: 200, searchable" bash -c "[ $(req "$T/g.json" GET /api/items/$X "") = 200 ] && jq -e '.searchable' '$T/g.json' >/dev/null"
check "GET /photos/ID serves the stored bytes as image/jpeg" \
  bash -c "curl -sf -m 10 -D '$T/h.txt' -o '$T/ph.jpg' '$URL/photos/$X' && cmp -s '$T/ph.jpg' '$(photo $X)' && grep -qi '^content-type: image/jpeg' '$T/h.txt'"
st=$(json "$T/p2.json" POST /api/items "$WK" "$BODY")
check "the same POST again: 200, created false, the same item, no new catalog version (idempotent)" \
  bash -c "[ $st = 200 ] && jq -e '.created==false' '$T/p2.json' >/dev/null && [ \"\$(jq -c .item '$T/p.json')\" = \"\$(jq -c .item '$T/p2.json')\" ] && [ \"\$(jq .catalog_version '$T/p.json')\" = \"\$(jq .catalog_version '$T/p2.json')\" ]"
st=$(json "$T/pa.json" PATCH /api/items/$X "$WK" '{"productDisplayName":"Renamed","price":49.5,"in_stock":true,"gender":null}')
check "PATCH: 200, the field changed, the others kept, extra merged with JSON types, null clears" \
  bash -c "[ $st = 200 ] && jq -e '.item.productDisplayName==\"Renamed\" and .item.year==2026 and (.item.gender==null) and .item.extra.price==49.5 and .item.extra.in_stock==true and .item.extra.color_code==\"C7\"' '$T/pa.json' >/dev/null"
check "the next GET shows the PATCH" bash -c "curl -s -m 10 '$URL/api/items/$X' | jq -e '.productDisplayName==\"Renamed\"' >/dev/null"
st=$(json "$T/pu.json" PUT /api/items/$X "$WK" '{"productDisplayName":"Replaced"}')
check "PUT without a photo: 200, every field replaced, the photo kept" \
  bash -c "[ $st = 200 ] && jq -e '.item.productDisplayName==\"Replaced\" and .item.year==null and .item.extra==null and .item.searchable' '$T/pu.json' >/dev/null && [ \"\$(first_hit '$(photo $X)')\" = $X ]"
Y=${N[1]}
st=$(req "$T/m.json" POST /api/items "$WK" -F "id=$Y" -F "productDisplayName=Form shirt" -F "price=12" -F "image=@$(photo $Y)")
check "POST /api/items multipart (image + fields): 201, form numbers keep their type" \
  bash -c "[ $st = 201 ] && jq -e '.item.id==$Y and .item.productDisplayName==\"Form shirt\" and .item.extra.price==12' '$T/m.json' >/dev/null"
check "the multipart product is found first by its photo" [ "$(first_hit "$(photo $Y)")" = "$Y" ]

echo "writes: one embedding path"
ln -s "$(photo $Y)" "$T/one/$Y.jpg"
"$BIN" index "$T/one" --db "$T/one.db" > /dev/null 2>&1
check "a photo written over HTTP has the vector \`lookalike index\` stores for the file (1e-6)" python3 - "$T/c.db" "$T/one.db" "$Y" <<'EOF'
import sqlite3, struct, sys
def vec(db, i):
    row = sqlite3.connect(db).execute("SELECT dim, data FROM vectors WHERE id = ?", (int(i),)).fetchone()
    return struct.unpack("<%df" % row[0], row[1])
a, b = vec(sys.argv[1], sys.argv[3]), vec(sys.argv[2], sys.argv[3])
d = max(abs(x - y) for x, y in zip(a, b))
print("    max |difference| = %g over %d floats" % (d, len(a)))
sys.exit(0 if len(a) == len(b) and d <= 1e-6 else 1)
EOF

echo "writes: bad writes"
check "missing id: 400 naming it" bash -c "[ $(json "$T/b.json" POST /api/items "$WK" '{"productDisplayName":"x"}') = 400 ] && grep -q '\"id\\\\\" is missing' '$T/b.json'"
check "non-numeric id: 400" bash -c "[ $(json "$T/b.json" POST /api/items "$WK" '{"id":"abc","upload":"'$UP'"}') = 400 ] && grep -q 'whole number' '$T/b.json'"
check "bad JSON: 400" [ "$(json "$T/b.json" POST /api/items "$WK" '{"id":1,')" = 400 ]
check "a field of the wrong type: 400 naming it" bash -c "[ $(json "$T/b.json" POST /api/items "$WK" '{"id":1,"gender":{"a":1},"upload":"'$UP'"}') = 400 ] && grep -q gender '$T/b.json'"
check "an unknown upload id: 400 naming it" \
  bash -c "[ $(json "$T/b.json" POST /api/items "$WK" '{"id":1,"upload":"u_0123456789abcdef0123456789abcdef"}') = 400 ] && grep -q u_0123456789abcdef0123456789abcdef '$T/b.json'"
Z=${N[2]}
head -c $(( $(stat -c %s "$(photo $Z)") / 2 )) "$(photo $Z)" > "$T/cut.jpg"; echo "not a photo at all" > "$T/bad.jpg"
check "a corrupt photo: 415" [ "$(req "$T/b.json" POST /api/items "$WK" -F "id=$Z" -F "image=@$T/cut.jpg")" = 415 ]
check "a text file as photo: 415" [ "$(req "$T/b.json" POST /api/items "$WK" -F "id=$Z" -F "image=@$T/bad.jpg")" = 415 ]
check "... and nothing was stored" [ "$(req "$T/b.json" GET /api/items/$Z "")" = 404 ]
check "a non-image upload: 415" [ "$(req "$T/b.json" POST /api/uploads "$WK" --data-binary "@$T/bad.jpg")" = 415 ]
check "a new item without a photo: 400" [ "$(json "$T/b.json" PUT /api/items/$Z "$WK" '{"productDisplayName":"x"}')" = 400 ]
check "PATCH of an unknown id: 404" [ "$(json "$T/b.json" PATCH /api/items/$Z "$WK" '{"productDisplayName":"x"}')" = 404 ]
check "PUT whose body id differs from the path: 400" [ "$(json "$T/b.json" PUT /api/items/$X "$WK" '{"id":1}')" = 400 ]
check "a 2 GB body: 413 from Content-Length, before reading it" python3 - "${URL#http://}" "$WK" <<'EOF'
import socket, sys, time
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)), timeout=5)
t0 = time.time()
s.sendall(("POST /api/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
           "Content-Length: 2147483648\r\n\r\n" % sys.argv[2]).encode())
head = s.recv(4096).decode("latin-1")
print("    %s in %.2f s" % (head.split("\r\n")[0], time.time() - t0))
sys.exit(0 if head.startswith("HTTP/1.1 413") and time.time() - t0 < 3 else 1)
EOF

echo "writes: batches"
A=${N[3]}; Bb=${N[4]}; C=${N[5]}
{ echo "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName,price"
  echo "$A,Men,Apparel,Topwear,Tshirts,Blue,Summer,2026,Casual,Batch tee A,10"
  echo "12x,Men,Apparel,Topwear,Tshirts,Blue,Summer,2026,Casual,Bad id,11"
  echo "$Bb,Women,Apparel,Topwear,Tops,Red,Summer,2026,Casual,Batch top B,12"
  echo "$C,Women,Apparel,Topwear,Tops,Red,Summer,2026,Casual,No photo C,13"; } > "$T/batch.csv"
st=$(req "$T/bc.json" POST /api/items/batch "$WK" -F "csv=@$T/batch.csv" -F "image=@$(photo $A);filename=$A.jpg" -F "image=@$(photo $Bb);filename=$Bb.jpg")
check "CSV batch: the bad row refused with its line number, the row without a photo refused, the rest stored" \
  bash -c "[ $st = 200 ] && jq -e '.stored==2 and .refused==2 and (.results[]|select(.line==3)|.status==400 and (.error|test(\"line 3\"))) and (.results[]|select(.line==5)|.status==400) and ([.results[]|select(.status==201)]|length==2)' '$T/bc.json' >/dev/null"
check "CSV batch rows are searchable" bash -c "[ \"\$(first_hit '$(photo $A)')\" = $A ] && curl -s -m 10 '$URL/api/items/$Bb' | jq -e '.productDisplayName==\"Batch top B\"' >/dev/null"
D=${N[6]}; E=${N[7]}
U1=$(req "$T/u1.json" POST /api/uploads "$WK" -F "image=@$(photo $D)" >/dev/null; jq -r .upload "$T/u1.json")
U2=$(req "$T/u2.json" POST /api/uploads "$WK" --data-binary "@$(photo $E)" >/dev/null; jq -r .upload "$T/u2.json")
printf '{"id":%s,"productDisplayName":"Line one","upload":"%s"}\n{"id":oops}\n\n{"id":%s,"productDisplayName":"Line four","upload":"%s"}\n{"id":%s,"productDisplayName":"Renamed again"}\n' \
  "$D" "$U1" "$E" "$U2" "$A" > "$T/batch.ndjson"
st=$(req "$T/bn.json" POST /api/items/batch "$WK" -H 'Content-Type: application/x-ndjson' --data-binary "@$T/batch.ndjson")
check "NDJSON batch: 3 stored (one an update without photo), the bad line refused as line 2" \
  bash -c "[ $st = 200 ] && jq -e '.stored==3 and .refused==1 and (.results[]|select(.line==2)|.status==400) and (.results[]|select(.line==4)|.status==201 and .id==$E) and (.results[]|select(.line==5)|.status==200)' '$T/bn.json' >/dev/null"
check "NDJSON batch rows are searchable" bash -c "[ \"\$(first_hit '$(photo $E)')\" = $E ]"

echo "writes: a catalog locked by another writer"
# hold_lock SECONDS: another process holds the catalog's write lock (as an index run would)
hold_lock() {
  python3 -c "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN IMMEDIATE'); open(sys.argv[1] + '.locked', 'w').close(); time.sleep(float(sys.argv[2])); c.execute('ROLLBACK')" "$T/c.db" "$1" &
  LOCKER=$!
  for _ in $(seq 50); do [ -f "$T/c.db.locked" ] && break; sleep 0.05; done; rm -f "$T/c.db.locked"
}
F=${N[8]}
hold_lock 1
st=$(req "$T/l.json" POST /api/items "$WK" -F "id=$F" -F "image=@$(photo $F)")
check "a lock held 1 s by another process: the write waits and succeeds (201)" [ "$st" = 201 ]
wait $LOCKER
hold_lock 7
t0=$(date +%s.%N)
st=$(curl -s -m 30 -o "$T/l.json" -D "$T/lh.txt" -w '%{http_code}' -X PATCH -H "Authorization: Bearer $WK" \
  -H 'Content-Type: application/json' --data-binary '{"productDisplayName":"locked"}' "$URL/api/items/$F")
dt=$(echo "$(date +%s.%N) - $t0" | bc)
check "a lock held past the 5 s budget: 503 with Retry-After, not a 500 (after ${dt} s)" \
  bash -c "[ $st = 503 ] && grep -qi '^retry-after: 1' '$T/lh.txt' && grep -q busy '$T/l.json'"
wait $LOCKER
check "... and the write goes through once the lock is gone" \
  [ "$(json "$T/l.json" PATCH /api/items/$F "$WK" '{"productDisplayName":"unlocked"}')" = 200 ]

echo "writes: delete"
st=$(req "$T/d.json" DELETE /api/items/$X "$WK")
check "DELETE: 200 {deleted, catalog_version}" bash -c "[ $st = 200 ] && jq -e '.deleted==$X and .catalog_version>0' '$T/d.json' >/dev/null"
check "after DELETE: search no longer returns it" bash -c "curl -s -m 30 -F 'image=@$(photo $X)' -F k=50 '$URL/api/search' | jq -e '.hits and ([.hits[].id]|index($X)==null)' >/dev/null"
check "after DELETE: GET /api/items/ID 404" [ "$(req "$T/b.json" GET /api/items/$X "")" = 404 ]
check "after DELETE: GET /photos/ID 404" [ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$URL/photos/$X")" = 404 ]
check "DELETE again: 404" [ "$(req "$T/b.json" DELETE /api/items/$X "$WK")" = 404 ]

echo "writes: 60 s of concurrent writes (4 clients) and searches (16 clients)"
# writers cycle over a fixed pool of ids (POST, PATCH, DELETE), so the catalog's size is bounded
# and the server's memory must stay flat (not checked under sanitizers, whose quarantine grows)
case $B in *san*) GROWTH=10 ;; *) GROWTH=0.15 ;; esac
python3 "$ROOT/tests/live_load.py" "$URL" "$WK" "$DATA/images" "$SERVER" --seconds "${LK_LOAD_SECONDS:-60}" \
  --writers 4 --searchers 16 --rss-growth "$GROWTH" > "$T/load.json" 2>&1
rc=$?; sed 's/^/    /' "$T/load.json"
check "60 s of writes and searches: no 5xx, every write answered as documented, memory flat" [ $rc -eq 0 ]

echo "writes: metrics and check"
curl -s -m 10 "$URL/metrics" > "$T/metrics.txt"
check "/metrics counts writes by endpoint and status" \
  bash -c "grep -q 'endpoint=\"write\",status=\"201\"' '$T/metrics.txt' && grep -q 'endpoint=\"batch\",status=\"200\"' '$T/metrics.txt' && grep -q 'endpoint=\"upload\",status=\"201\"' '$T/metrics.txt'"
check "/metrics shows no key" bash -c "! grep -qF -e '$WK' -e '$RK' -e '$AK' '$T/metrics.txt'"
"$BIN" check --db "$T/c.db" > "$T/check.log" 2>&1
check "lookalike check passes after the writes (stored photos match their hashes)" [ $? -eq 0 ]
kill "$SERVER"; wait "$SERVER" 2>/dev/null; rc=$?; SERVER=
check "the server stops cleanly on SIGTERM after the writes (exit 0)" [ $rc -eq 0 ]

echo "writes: kill -9 during a stream of writes, 20 rounds"
python3 "$ROOT/tests/write_stream.py" --bin "$BIN" --db "$T/c.db" --key "$WK" --images "$DATA/images" \
  --ids "$T/new" --rounds 20 --budget 40 > "$T/stream.log" 2>&1
rc=$?; sed 's/^/    /' "$T/stream.log" | tail -4
check "every acknowledged write survives kill -9 whole (item, vector, photo), 20 rounds" [ $rc -eq 0 ]
"$BIN" check --db "$T/c.db" > "$T/check2.log" 2>&1
check "lookalike check passes after the kills" bash -c "[ $? -eq 0 ] || { cat '$T/check2.log'; false; }"
finish
