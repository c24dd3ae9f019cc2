#!/usr/bin/env bash
# bench/replicas.sh [BUILD] — search throughput through nginx with 1, 2 and 3 `lookalike serve`
# replicas on one PostgreSQL catalog, and the catch-up delay of a product added by an index
# run (docs/DEPLOY.md "Measured"). Not part of `make test`; uses tests/pgcluster.sh for a
# throw-away PostgreSQL cluster and nginx.
#   LK_BENCH_SAMPLE=N   products indexed (default 3000; 0 = the whole shared catalog)
#   LK_BENCH_FROM=DB    migrate this catalog (file or URL) instead of indexing
#   LK_BENCH_SECONDS=S  seconds of load per configuration (default 20)
#   LK_BENCH_CLIENTS=C  concurrent clients (default 6)
set -u
B=${1:-build}
ROOT=$PWD
case $B in /*) BIN=$B/lookalike ;; *) BIN=$ROOT/$B/lookalike ;; esac
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
SAMPLE=${LK_BENCH_SAMPLE:-3000}
SECONDS_PER=${LK_BENCH_SECONDS:-20}
CLIENTS=${LK_BENCH_CLIENTS:-6}
source "$ROOT/tests/pgcluster.sh"
pgc_find || { echo "replicas: PostgreSQL is not installed (scripts/setup.sh)"; exit 1; }
[ -n "$NGINX" ] || { echo "replicas: nginx is not installed (scripts/setup.sh)"; exit 1; }
T=$(mktemp -d /tmp/lk-replicas-XXXXXX)
trap 'pgc_cleanup; rm -rf "$T"' EXIT
pgc_start "$T" || exit 1
pgc_createdb shop
URL=$(pgc_url shop)

mkdir -p "$T/img"
tr -d '\r' < "$DATA/styles.csv" > "$T/styles.csv"
if [ -n "${LK_BENCH_FROM:-}" ]; then
  "$BIN" migrate --from "$LK_BENCH_FROM" --to "$URL" || exit 1
else
  args=(); [ "$SAMPLE" -gt 0 ] && args=(--sample "$SAMPLE")
  echo "replicas: indexing ${SAMPLE/#0/all} products into PostgreSQL"
  "$BIN" index "$DATA/images" --styles "$T/styles.csv" --db "$URL" "${args[@]}" --quiet || exit 1
fi
# 8 products held back, to be added again one at a time for the catch-up measurement
pgc_psql shop -c "DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY id DESC LIMIT 8) RETURNING id" | sort -n > "$T/new"
"$BIN" info --db "$URL" | sed -n 2,3p
# query photos: shop photos of catalog products (the realistic case)
PHOTOS=$(ls "$DATA/photos-225x300" | head -16 | sed "s|^|$DATA/photos-225x300/|")

# Three replicas, and three nginx fronts over 1, 2 and 3 of them; the configurations take turns
# (ROUNDS rounds of SECONDS_PER/ROUNDS each), so that whatever else the machine is doing weighs
# on all three alike.
ROUNDS=${LK_BENCH_ROUNDS:-4}
for i in 1 2 3; do serve_start $i shop --quiet || { cat "$T/serve$i.log"; exit 1; }; done
declare -a FRONT
for n in 1 2 3; do
  ports=(); for i in $(seq 1 $n); do ports+=("${SERVE_PORT[$i]}"); done
  NGX=$n nginx_start "${ports[@]}" || exit 1
  FRONT[$n]=$NGINX_PORT
done
for n in 1 2 3; do python3 "$ROOT/tests/pgload.py" "http://127.0.0.1:${FRONT[$n]}" $PHOTOS --seconds 2 --clients "$CLIENTS" > /dev/null; done
per=$(python3 -c "print($SECONDS_PER / $ROUNDS)")
for r in $(seq 1 "$ROUNDS"); do
  for n in 1 2 3; do
    python3 "$ROOT/tests/pgload.py" "http://127.0.0.1:${FRONT[$n]}" $PHOTOS --seconds "$per" --clients "$CLIENTS" >> "$T/load.$n"
  done
done
printf '\n| replicas | searches/s | p50 ms | p99 ms | failed | clients |\n|---|---|---|---|---|---|\n' > "$T/table.md"
for n in 1 2 3; do
  # totals over the rounds; percentiles: the median of the rounds'
  jq -rs --arg n "$n" '"| \($n) | \((map(.ok) | add) / (map(.seconds) | add) * 10 | round / 10) | \(map(.p50_ms) | sort | .[length/2|floor]) | \(map(.p99_ms) | sort | .[length/2|floor]) | \(map(.failed) | add) | \(.[0].clients) |"' "$T/load.$n" >> "$T/table.md"
done
echo "replicas: load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

# catch-up: products added one index run at a time, with 3 replicas following
echo "replicas: catch-up delay of 8 products added one at a time (3 replicas)"
mkdir -p "$T/add"
: > "$T/delays"
while read -r id; do
  ln -s "$DATA/images/$id.jpg" "$T/add/$id.jpg"
  "$BIN" index "$T/add" --styles "$T/styles.csv" --db "$URL" --quiet > /dev/null 2>&1
  python3 - "$id" "${SERVE_PORT[1]}" "${SERVE_PORT[2]}" "${SERVE_PORT[3]}" >> "$T/delays" <<'EOF'
import sys, time, urllib.request, urllib.error
id_, ports = sys.argv[1], sys.argv[2:]
t0 = time.monotonic(); todo = set(ports)
while todo and time.monotonic() - t0 < 30:
    for p in list(todo):
        try:
            urllib.request.urlopen("http://127.0.0.1:%s/api/items/%s" % (p, id_), timeout=2).read(); todo.discard(p)
        except Exception:
            pass
    time.sleep(0.005)
print("%.3f" % (time.monotonic() - t0))
EOF
done < "$T/new"
builds=$(for i in 1 2 3; do curl -s "http://127.0.0.1:${SERVE_PORT[$i]}/health" | jq .follow.last_build_ms; done | tr '\n' ' ')
sort -n "$T/delays" | awk '{a[NR]=$1} END {printf "replicas: catch-up (index run exits -> all 3 replicas have it): median %.3f s, max %.3f s over %d products\n", a[int((NR+1)/2)], a[NR], NR}'
echo "replicas: last rebuild on each replica (ms): $builds"
sleep 3   # the optimised index follows the quick one
grep -h "follow:" "$T/serve1.log" | tail -4
cat "$T/table.md"
