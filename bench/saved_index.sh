#!/usr/bin/env bash
# bench/saved_index.sh BIN DB LOG — time from `lookalike serve` start to the first answered search
# (/api/items/ID/similar?k=10 polled) and its VmRSS then; run it twice on a catalog big enough
# for the IVF (or after `lookalike optimize --index ivf`): the first run builds and saves
# DB.lkx, the second maps it. docs/PERFORMANCE.md "Saved index". Not a test.
BIN=$1; DB=$2; LOG=$3
ID=$(sqlite3 "$DB" "select id from vectors limit 1")
t0=$(date +%s.%N)
"$BIN" serve --db "$DB" --host 127.0.0.1 --port 0 2> "$LOG" &
P=$!
port=
while :; do
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$LOG" 2> /dev/null)
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/api/items/$ID/similar?k=10" > "$LOG.first.json" && break
  kill -0 $P 2>/dev/null || { echo died; cat "$LOG"; exit 1; }
  sleep 0.05
done
t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' /proc/$P/status)
anon=$(awk '/RssAnon/ {print $2}' /proc/$P/status)
file=$(awk '/RssFile/ {print $2}' /proc/$P/status)
echo "first search after $(echo "$t1 - $t0" | bc) s; VmRSS $((rss / 1024)) MiB (anonymous $((anon / 1024)), file pages $((file / 1024))); hits $(jq '.hits | length' "$LOG.first.json")"
# let a save finish
for _ in $(seq 600); do grep -q "saved the index\|saving the index" "$LOG" && break; grep -q "index) from" "$LOG" && ! grep -q "ivf index" "$LOG" && break; [ -e "$DB.lkx" ] && ! [ -e "$DB.lkx.tmp" ] && break; sleep 0.1; done
sleep 0.5
kill -TERM $P; wait $P
grep -v "^$" "$LOG" | grep -i "index\|note" 
