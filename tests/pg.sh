#!/usr/bin/env bash
# tests/pg.sh BUILD — lookalike past one machine, on loopback: a PostgreSQL cluster of its own
# (initdb in a temporary folder; tests/pgcluster.sh), the PostgreSQL catalog's unit tests
# (test_catalog_pg), `index --db postgresql://`, two shards indexing concurrently = one
# process, re-runs change nothing, `migrate` both ways, every `export` format round-tripped,
# three `serve` replicas following the catalog behind nginx: a product added or deleted by an
# index run reaches every replica within CATCHUP_S, a search load through nginx while one
# replica is killed (-9) and restarted sees no failure, the restarted replica catches up, and
# the replicas ride out a PostgreSQL restart. Skipped (not failed) only when PostgreSQL's
# server programs are not installed (scripts/setup.sh installs them), and then a failure under
# CI (CI=true). Last line: "pg: N passed, M failed, S skipped".
set -u
B=${1:-build}
ROOT=$PWD
case $B in /*) BIN=$B/lookalike; BDIR=$B ;; *) BIN=$ROOT/$B/lookalike; BDIR=$ROOT/$B ;; esac
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
CATCHUP_S=${LK_CATCHUP_S:-5}   # the stated bound: a committed change is searchable everywhere within this
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "  ok   $1"; }
ko() { fail=$((fail + 1)); echo "  FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
finish() {
  [ -n "${T:-}" ] && check "no sanitizer report from any run (ASan, LSan, UBSan)" san_clean
  echo "pg: $pass passed, $fail failed, 0 skipped"; [ $fail -eq 0 ]; exit $?
}
# jqe [jq args] FILTER FILE: jq -e on FILE (or -n with --slurpfile). A forgotten or empty FILE
# fails: jq itself would read an empty stdin and exit 0.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # jqe
quiet() { "$@" >/dev/null 2>&1; }

source "$ROOT/tests/pgcluster.sh"
if ! pgc_find; then
  why="PostgreSQL's server programs (initdb, pg_ctl) are not installed; scripts/setup.sh installs postgresql"
  if [ "${CI:-}" = true ]; then echo "  FAIL the PostgreSQL suite: $why (CI must run it)"; echo "pg: 0 passed, 1 failed, 0 skipped"; exit 1; fi
  echo "  skip the PostgreSQL suite: $why"
  echo "pg: 0 passed, 0 failed, 1 skipped"
  exit 0
fi
for tool in psql curl jq python3; do
  command -v $tool >/dev/null || { echo "pg: $tool is not installed (scripts/setup.sh)"; echo "pg: 0 passed, 1 failed"; exit 1; }
done
[ -x "$BIN" ] || { echo "pg: no binary at $BIN"; echo "pg: 0 passed, 1 failed"; exit 1; }
[ -d "$DATA/images" ] || { echo "pg: shared catalog missing at $DATA"; echo "pg: 0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/lk-pg-XXXXXX)
# Sanitizer builds: a leak or error makes the process exit 23, and each report is also logged
# to $T/san.*, so a run whose exit status no check reads still fails the suite (san_clean).
export ASAN_OPTIONS="detect_leaks=1:exitcode=23:log_path=$T/san${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="exitcode=23${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$T/san${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
san_clean() { local f; f=$(ls "$T"/san.* 2>/dev/null) || return 0; [ -z "$f" ] && return 0; head -30 $f; return 1; }
cleanup() { pgc_cleanup; [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
echo "pg: PostgreSQL from $PGBIN in $T"
pgc_start "$T"; check "a PostgreSQL cluster starts in a temporary folder" [ $? -eq 0 ]
[ $fail -eq 0 ] || finish
for db in single sharded shop back sources; do pgc_createdb $db; done
U_SINGLE=$(pgc_url single); U_SHARDED=$(pgc_url sharded); U_SHOP=$(pgc_url shop)

echo "pg: the catalog's unit tests on this server"
[ -x "$BDIR/tests/test_catalog_pg" ] || echo "pg: no $BDIR/tests/test_catalog_pg (make test builds it)"
out=$(LK_TEST_PG=$(pgc_url postgres) "$BDIR/tests/test_catalog_pg" 2>&1); urc=$?
n_ok=$(grep -cE '^\[       OK \]' <<< "$out"); n_bad=$(grep -cE '^\[  FAILED  \] [a-z_0-9]+$|^\[  ERROR' <<< "$out")
n_skip=$(grep -cE '^\[  SKIPPED \] [a-z_0-9]+$' <<< "$out")
pass=$((pass + n_ok)); fail=$((fail + n_bad))
echo "  $n_ok unit tests passed, $n_bad failed, exit $urc"
# A crash or a sanitizer report after some OK lines is a failure too, and so is a skip here.
[ "$urc" -eq 0 ] && [ "$n_bad" -eq 0 ] && [ "$n_ok" -gt 0 ] && [ "$n_skip" -eq 0 ] || { ko "test_catalog_pg (exit $urc, $n_skip skipped)"; tail -30 <<< "$out"; }

# The test catalog: the first 60 ids of styles.csv, an extra column with awkward text (tab,
# quotes, backslash, a line break, non-ASCII) and 4 products held back to be added later.
mkdir -p "$T/img" "$T/later"
tail -n +2 "$DATA/styles.csv" | cut -d, -f1 | sort -n | head -64 > "$T/ids"
head -60 "$T/ids" > "$T/ids.now"; tail -4 "$T/ids" > "$T/ids.later"
tr -d '\r' < "$DATA/styles.csv" > "$T/all.csv"   # (CRLF lines)
{ echo "$(head -1 "$T/all.csv"),note"
  awk -F, 'NR==FNR{want[$1]=1; next} FNR>1 && ($1 in want)' "$T/ids" "$T/all.csv" | sort -t, -k1,1n |
    awk '{ if (NR == 1) print $0 ",\"tab\there, \"\"quoted\"\", back\\slash\nnext line, ünïcödé\""; else print $0 "," }'
} > "$T/styles.csv"
while read -r id; do ln -s "$DATA/images/$id.jpg" "$T/img/$id.jpg"; done < "$T/ids.now"
while read -r id; do ln -s "$DATA/images/$id.jpg" "$T/later/$id.jpg"; done < "$T/ids.later"
NOW=$(wc -l < "$T/ids.now")

echo "pg: index into PostgreSQL"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$U_SINGLE" --json > "$T/single.json" 2> "$T/single.err"
check "index --db postgresql://... embeds every photo" jqe ".ok and .embedded == $NOW" "$T/single.json"
"$BIN" info --db "$U_SINGLE" --json > "$T/info.json"
check "info reads it: $NOW items with vectors, 1792-d" jqe ".items == $NOW and .vectors == $NOW and .dim == 1792" "$T/info.json"
check "check passes on it" quiet "$BIN" check --db "$U_SINGLE"
V1=$(pgc_psql single -c "SELECT v FROM catalog_version")
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$U_SINGLE" --json > "$T/again.json" 2>/dev/null
check "a second run embeds nothing and leaves the catalog version ($V1) alone" \
  bash -c "jq -e '.embedded == 0 and .unchanged == $NOW' '$T/again.json' >/dev/null && [ \"\$(psql -XAtq '$U_SINGLE' -c 'SELECT v FROM catalog_version')\" = '$V1' ]"
first=$(head -1 "$T/ids.now")
"$BIN" similar "$first" --db "$U_SINGLE" -k 3 --json > "$T/sim.json"
check "similar works on it (the neighbours exclude the item)" jqe "(.hits | length) == 3 and all(.hits[]; .id != $first)" "$T/sim.json"
printf 'tab\there, "quoted", back\\slash\nnext line, ünïcödé' > "$T/note.want"
pgc_psql single -c "SELECT extra::json->>'note' FROM items WHERE id = $first" | head -c -1 > "$T/note.got"
check "the extra column's awkward text (tab, quotes, backslash, line break, UTF-8) is stored as given" \
  cmp -s "$T/note.want" "$T/note.got"

echo "pg: one catalog from several folders (sources)"
U_SRC=$(pgc_url sources); sI=$(realpath "$T/img"); sL=$(realpath "$T/later")
"$BIN" index "$T/img" --db "$U_SRC" --recipe color --quiet > /dev/null 2>&1
"$BIN" index "$T/later" --db "$U_SRC" --recipe color --json > "$T/src2.json" 2>/dev/null
check "a second folder into one PostgreSQL catalog: nothing stale" jqe '.stale == 0 and .embedded == 4' "$T/src2.json"
"$BIN" info --db "$U_SRC" --json > "$T/srci.json" 2>/dev/null
check "info lists both sources with their item counts" \
  jqe --arg a "$sI" --arg b "$sL" --argjson n "$NOW" '.sources == [{"source": $a, "items": $n}, {"source": $b, "items": 4}]' "$T/srci.json"
pgc_psql sources -c "ALTER TABLE items DROP COLUMN source"  # as a catalog made before sources
"$BIN" info --db "$U_SRC" --json > "$T/srco.json" 2>/dev/null
# (the photos are links into the shared catalog: a path recorded then is the link's target)
check "a catalog made before sources reads (read-only): items belong to their photos' folders" \
  jqe --arg d "$(realpath "$DATA/images")" --argjson n "$((NOW + 4))" '.sources == [{"source": $d, "items": $n}]' "$T/srco.json"
"$BIN" index "$T/later" --db "$U_SRC" --recipe color --prune --json > "$T/src3.json" 2>/dev/null
check "...and a writable open adds the column; --prune on one folder leaves the other's items" \
  bash -c "jq -e '.pruned == 0' '$T/src3.json' > /dev/null && [ \"\$(psql -XAtq '$U_SRC' -c 'SELECT count(*) FROM items')\" = $((NOW + 4)) ]"

echo "pg: two shards at once = one process"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$U_SHARDED" --shard 1/2 --json > "$T/s1.json" 2>/dev/null &
S1=$!
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$U_SHARDED" --shard 2/2 --json > "$T/s2.json" 2>/dev/null
r2=$?; wait $S1; r1=$?
check "both shards succeed and split the work (each embeds some, together all)" \
  bash -c "[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && jq -es 'all(.[]; .embedded > 0) and (map(.embedded) | add) == $NOW' '$T/s1.json' '$T/s2.json' >/dev/null"
# the whole catalog as text: items (version aside), vectors' bytes, meta
dump() {
  pgc_psql "$1" -c "SELECT id, path, hash, size, mtime, gender, mastercategory, subcategory, articletype, basecolour,
      season, year, usage, productdisplayname, extra, status, error, md5(v.data) FROM items LEFT JOIN vectors v USING (id)
      ORDER BY id" -c "SELECT key, md5(value) FROM meta ORDER BY key"
}
check "a shard does not calibrate the match strength (it cannot know when the others end); it says to" \
  jqe -s 'all(.[]; .calibration.todo | test("lookalike calibrate"))' "$T/s1.json" "$T/s2.json"
"$BIN" calibrate --db "$U_SHARDED" > "$T/scal.log" 2>&1
check "calibrate once the shards are done" grep -q 'match strength calibrated on' "$T/scal.log"
dump single > "$T/single.dump"; dump sharded > "$T/sharded.dump"
check "the sharded catalog equals the single-process one (items, metadata, vector bytes, recipe, calibration)" \
  cmp -s "$T/single.dump" "$T/sharded.dump"
V2=$(pgc_psql sharded -c "SELECT v FROM catalog_version")
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$U_SHARDED" --shard 2/2 --json > "$T/s2b.json" 2>/dev/null
check "re-running a shard embeds nothing and changes nothing" \
  bash -c "jq -e '.embedded == 0' '$T/s2b.json' >/dev/null && [ \"\$(psql -XAtq '$U_SHARDED' -c 'SELECT v FROM catalog_version')\" = '$V2' ]"
"$BIN" index "$T/img" --db "$U_SHARDED" --shard 3/2 >/dev/null 2>&1
check "--shard 3/2 is a usage error (2)" [ $? -eq 2 ]

echo "pg: migrate"
"$BIN" migrate --from "$U_SINGLE" --to "$T/copy.db" --json > "$T/m1.json"
check "migrate PostgreSQL -> SQLite copies every item and vector" jqe ".ok and .items == $NOW and .vectors == $NOW" "$T/m1.json"
check "the SQLite copy passes check" quiet "$BIN" check --db "$T/copy.db"
"$BIN" migrate --from "$T/copy.db" --to "$U_SHOP" --json > "$T/m2.json"
dump shop > "$T/shop.dump"
check "migrate SQLite -> PostgreSQL gives back the same catalog" \
  bash -c "jq -e .ok '$T/m2.json' >/dev/null && cmp -s '$T/single.dump' '$T/shop.dump'"
V3=$(pgc_psql shop -c "SELECT v FROM catalog_version")
"$BIN" migrate --from "$T/copy.db" --to "$U_SHOP" --json > "$T/m3.json"
check "migrating again changes nothing (same catalog version)" \
  bash -c "jq -e .ok '$T/m3.json' >/dev/null && [ \"\$(psql -XAtq '$U_SHOP' -c 'SELECT v FROM catalog_version')\" = '$V3' ]"
"$BIN" index "$T/img" --db "$T/other.db" --recipe color --limit 2 >/dev/null 2>&1
"$BIN" migrate --from "$T/other.db" --to "$U_SHOP" > /dev/null 2> "$T/m4.err"
check "migrating a catalog of another recipe into it is refused" \
  bash -c "[ $? -ne 0 ] && grep -q recipe '$T/m4.err' && [ \"\$(psql -XAtq '$U_SHOP' -c 'SELECT v FROM catalog_version')\" = '$V3' ]"

echo "pg: export"
pgc_psql single -c "COPY (SELECT i.id, encode(v.data, 'hex') AS hex, i.gender, i.mastercategory, i.subcategory,
  i.articletype, i.basecolour, i.season, i.year, i.usage, i.productdisplayname, i.path, i.extra FROM items i
  JOIN vectors v ON v.id = i.id ORDER BY i.id) TO STDOUT WITH (FORMAT csv, HEADER)" > "$T/ref.csv"
for f in jsonl qdrant milvus pgvector npy csv; do
  "$BIN" export --db "$U_SINGLE" --format $f --out "$T/export.$f" --batch 25 --json > "$T/export.$f.json"
  check "export --format $f: every item exactly once, vectors bit-identical, metadata equal" \
    bash -c "jq -e '.ok and .exported == $NOW' '$T/export.$f.json' >/dev/null && python3 '$ROOT/tests/export_check.py' '$T/ref.csv' $f '$T/export.$f'"
done
"$BIN" export --db "$T/copy.db" --format jsonl --out "$T/copy.jsonl" >/dev/null
check "export from the SQLite copy gives the same JSON lines" cmp -s "$T/copy.jsonl" "$T/export.jsonl"
"$BIN" export --db "$U_SINGLE" --format nope --out "$T/x" >/dev/null 2>&1
check "an unknown --format is a usage error (2)" [ $? -eq 2 ]

echo "pg: serve replicas behind nginx"
if [ -z "$NGINX" ]; then
  ko "nginx is not installed (scripts/setup.sh installs it)"
  finish
fi
"$BIN" serve --db "$(pgc_url nosuchdb)" --port 0 >/dev/null 2>&1
check "serve on a missing PostgreSQL database exits 3" [ $? -eq 3 ]
for i in 1 2 3; do serve_start $i shop --threads 2 --embedders 1 --quiet --optimize-after 1 || { ko "replica $i starts"; cat "$T/serve$i.log"; finish; }; done
ok "three replicas start on the PostgreSQL catalog"
nginx_start "${SERVE_PORT[1]}" "${SERVE_PORT[2]}" "${SERVE_PORT[3]}"
check "nginx starts in front of them" [ $? -eq 0 ]
[ $fail -eq 0 ] || { cat "$T/nginx/error.log"; finish; }
NG=http://127.0.0.1:$NGINX_PORT
ver() { curl -sf "http://127.0.0.1:${SERVE_PORT[$1]}/health" | jq -r '.catalog_version'; }
check "every replica reports the catalog version ($V3) in /health, following" \
  bash -c "for p in ${SERVE_PORT[*]}; do curl -sf http://127.0.0.1:\$p/health | jq -e '.catalog_version == $V3 and .follow.ok' >/dev/null || exit 1; done"
check "a search through nginx works" \
  bash -c "curl -sf --data-binary @'$DATA/images/$first.jpg' '$NG/api/search?k=3' | jq -e '.hits[0].id == $first' >/dev/null"

# until_all ID PRESENT: seconds until every replica has (1) or lacks (0) item ID; "" past CATCHUP_S
until_all() {
  python3 - "$1" "$2" "$CATCHUP_S" "${SERVE_PORT[@]}" <<'EOF'
import sys, time, urllib.request, urllib.error
id_, want, limit, ports = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3]), sys.argv[4:]
t0 = time.monotonic(); todo = set(ports)
while todo and time.monotonic() - t0 < limit:
    for p in list(todo):
        try:
            urllib.request.urlopen("http://127.0.0.1:%s/api/items/%s" % (p, id_), timeout=2).read(); has = True
        except urllib.error.HTTPError as e:
            has = e.code != 404
        except Exception:
            has = None
        if has is want: todo.discard(p)
    time.sleep(0.01)
print("%.3f" % (time.monotonic() - t0) if not todo else "")
EOF
}
# until_version V: polls every replica's /health until each reports catalog
# version V (index bumps the version more than once: products, then its
# calibration); prints the seconds it took, or nothing after CATCHUP_S.
until_version() {
  python3 - "$1" "$CATCHUP_S" "${SERVE_PORT[@]}" <<'EOF'
import json, sys, time, urllib.request
want, limit, ports = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
t0 = time.monotonic(); todo = set(ports)
while todo and time.monotonic() - t0 < limit:
    for p in list(todo):
        try:
            h = json.load(urllib.request.urlopen("http://127.0.0.1:%s/health" % p, timeout=2))
            if h.get("catalog_version") == want: todo.discard(p)
        except Exception:
            pass
    time.sleep(0.01)
print("%.3f" % (time.monotonic() - t0) if not todo else "")
EOF
}
NEW1=$(sed -n 1p "$T/ids.later")
ln -s "$DATA/images/$NEW1.jpg" "$T/img/$NEW1.jpg"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$U_SHOP" -q > /dev/null 2>&1
d_add=$(until_all "$NEW1" 1)
check "a product indexed by another process is on every replica within ${CATCHUP_S} s (took ${d_add:-never} s)" [ -n "$d_add" ]
check "... and a search with its photo finds it first on every replica" \
  bash -c "for p in ${SERVE_PORT[*]}; do curl -sf --data-binary @'$DATA/images/$NEW1.jpg' http://127.0.0.1:\$p/api/search?k=1 | jq -e '.hits[0].id == $NEW1' >/dev/null || exit 1; done"
check "... and the facets count it" \
  bash -c "for p in ${SERVE_PORT[*]}; do curl -sf http://127.0.0.1:\$p/api/facets | jq -e '.items == $((NOW + 1))' >/dev/null || exit 1; done"
rm "$T/img/$NEW1.jpg"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$U_SHOP" --prune -q > /dev/null 2>&1
d_del=$(until_all "$NEW1" 0)
check "a product deleted (index --prune) is gone from every replica within ${CATCHUP_S} s (took ${d_del:-never} s)" [ -n "$d_del" ]
V4=$(pgc_psql shop -c "SELECT v FROM catalog_version")
d_v4=$(until_version "$V4")
check "the replicas agree on the catalog version ($V4) (took ${d_v4:-never} s)" [ -n "$d_v4" ]

echo "pg: a write over HTTP through one replica, seen by every replica"
WK=$("$BIN" keys add --db "$U_SHOP" --role write --name pg-writer 2>/dev/null)
NEWW=$(sed -n 4p "$T/ids.later")
st=$(curl -s -m 60 -o "$T/w.json" -w '%{http_code}' -H "Authorization: Bearer $WK" -F "id=$NEWW" \
  -F "productDisplayName=Written over HTTP" -F "image=@$DATA/images/$NEWW.jpg" "http://127.0.0.1:${SERVE_PORT[1]}/api/items")
check "POST /api/items to replica 1: 201 (committed to PostgreSQL)" bash -c "[ $st = 201 ] && jq -e '.item.id == $NEWW' '$T/w.json' >/dev/null"
check "... replica 1 finds it first by its photo at the next request" \
  bash -c "curl -sf --data-binary @'$DATA/images/$NEWW.jpg' 'http://127.0.0.1:${SERVE_PORT[1]}/api/search?k=1' | jq -e '.hits[0].id == $NEWW' >/dev/null"
d_w=$(until_all "$NEWW" 1)
check "... and every replica has it within ${CATCHUP_S} s (took ${d_w:-never} s)" [ -n "$d_w" ]
check "... and serves its photo, stored in the catalog" \
  bash -c "for p in ${SERVE_PORT[*]}; do curl -sf -o '$T/wp.jpg' http://127.0.0.1:\$p/photos/$NEWW && cmp -s '$T/wp.jpg' '$DATA/images/$NEWW.jpg' || exit 1; done"
st=$(curl -s -m 60 -o "$T/w.json" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $WK" "http://127.0.0.1:${SERVE_PORT[3]}/api/items/$NEWW")
d_wd=$(until_all "$NEWW" 0)
check "DELETE through replica 3: 200, gone from every replica within ${CATCHUP_S} s (took ${d_wd:-never} s)" bash -c "[ $st = 200 ] && [ -n '$d_wd' ]"
"$BIN" check --db "$U_SHOP" > "$T/wcheck.log" 2>&1
check "lookalike check passes on the PostgreSQL catalog after the writes" [ $? -eq 0 ]

echo "pg: a search load through nginx while replica 2 is killed and restarted"
PHOTOS=$(head -8 "$T/ids.now" | sed "s|^|$DATA/images/|; s|$|.jpg|")
python3 "$ROOT/tests/pgload.py" "$NG" $PHOTOS --seconds 9 --clients 4 > "$T/load.json" &
LOAD=$!
sleep 2
serve_kill 2 KILL
NEW2=$(sed -n 2p "$T/ids.later")   # added while replica 2 is down
ln -s "$DATA/images/$NEW2.jpg" "$T/img/$NEW2.jpg"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$U_SHOP" -q > /dev/null 2>&1
serve_start 2 shop --threads 2 --embedders 1 --quiet --optimize-after 1
restarted=$?
wait $LOAD
cat "$T/load.json"
check "the killed replica restarts" [ $restarted -eq 0 ]
check "no search failed as seen by the clients (nginx retried on the others)" jqe '.failed == 0 and .ok > 20' "$T/load.json"
d_new2=$(until_all "$NEW2" 1)
check "the restarted replica caught up: it has the product added while it was down, as the others do" [ -n "$d_new2" ]
V5=$(pgc_psql shop -c "SELECT v FROM catalog_version")
d_v5=$(until_version "$V5")
check "all three report catalog version $V5 (took ${d_v5:-never} s)" [ -n "$d_v5" ]

echo "pg: the replicas ride out a PostgreSQL restart"
pgc_restart
check "PostgreSQL restarts" [ $? -eq 0 ]
check "searches through nginx still work" \
  bash -c "curl -sf --data-binary @'$DATA/images/$first.jpg' '$NG/api/search?k=3' | jq -e '.hits[0].id == $first' >/dev/null"
NEW3=$(sed -n 3p "$T/ids.later")
ln -s "$DATA/images/$NEW3.jpg" "$T/img/$NEW3.jpg"
"$BIN" index "$T/img" --styles "$T/styles.csv" --db "$U_SHOP" -q > /dev/null 2>&1
saved=$CATCHUP_S; CATCHUP_S=$((CATCHUP_S + 5))   # + the follower's reconnection (tried every second)
d_new3=$(until_all "$NEW3" 1)
CATCHUP_S=$saved
check "after reconnecting, every replica gets a product added after the restart (took ${d_new3:-never} s)" [ -n "$d_new3" ]
check "/health says the followers are fine again" \
  bash -c "sleep 0.5; for p in ${SERVE_PORT[*]}; do curl -sf http://127.0.0.1:\$p/health | jq -e '.follow.ok' >/dev/null || exit 1; done"
check "after each change the replicas swapped in their full index once the catalog was quiet" \
  grep -q "index optimised" "$T/serve1.log"
for i in 1 2 3; do serve_kill $i TERM; done
check "replicas stop cleanly on SIGTERM" bash -c "grep -q 'stopped' '$T/serve1.log' && ! grep -qi 'sanitizer' '$T/serve1.log' '$T/serve2.log' '$T/serve3.log'"
echo "pg: catch-up delays: add ${d_add}s, delete ${d_del}s, after a restart ${d_new3}s (bound ${CATCHUP_S}s)"
finish
