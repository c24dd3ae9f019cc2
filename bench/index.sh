#!/usr/bin/env bash
# bench/index.sh [BUILD] — indexing the whole shared catalog (issue 5): wall time, photos/s and
# peak RSS of `lookalike index` with the default recipe (compute "int8": oneDNN u8s8, VNNI) and
# with the same recipe in compute "exact" (`--compute exact`: the TFLite runtime's integer
# requantisation, bit for bit), one after the other in the same run; then `lookalike eval
# --sample 3000` and the same-product eval on both catalogs, so the speed-up is shown with its
# quality cost (none measurable when int8 became the default). Leaves the
# default catalog at $LOOKALIKE_BENCH_DB (default /tmp/full-p80.db) for bench/search.sh and
# bench/http_load.sh. Writes the "## Indexing" table of docs/PERFORMANCE.md (between its
# <!-- bench:index --> markers). Not part of `make test`.
#   LOOKALIKE_BENCH_DB      where the default catalog goes (the exact one: same name + -exact)
#   LOOKALIKE_BENCH_SAMPLE  leave-one-out queries (default 3000)
#   LOOKALIKE_BENCH_LIMIT   index only the first N items (a quick check; default all)
set -euo pipefail
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case $B in /*) ;; *) B=$ROOT/$B ;; esac
BIN=$B/lookalike
make -s BUILD="$B" "$BIN" # (always: a binary older than the sources would be measured)
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
DB=${LOOKALIKE_BENCH_DB:-/tmp/full-p80.db}
DBX=${DB%.db}-exact.db
SAMPLE=${LOOKALIKE_BENCH_SAMPLE:-3000}
LIMIT=${LOOKALIKE_BENCH_LIMIT:-}
PY=/usr/bin/python3
command -v jq >/dev/null || { echo "index: jq is required"; exit 1; }
T=$(mktemp -d /tmp/lk-indexbench-XXXXXX)
trap 'rm -rf "$T"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
peak_kb() { # peak RSS of a finished child, from GNU time when present
  [ -s "$1" ] && tail -1 "$1" | awk '{print $2}' || echo ""
}

# Runs one fresh index of the catalog: index NAME DB [index options].
index() {
  local name=$1 db=$2
  shift 2
  rm -f "$db" "$db-wal" "$db-shm"
  echo "index: $name -> $db (load $(load))"
  local l0 t0 t1
  l0=$(load)
  t0=$(date +%s.%N)
  local timer=()
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -f '%e %M' -o "$T/$name.time")
  "${timer[@]}" "$BIN" index "$DATA/images" --styles "$DATA/styles.csv" --db "$db" --quiet --json \
    ${LIMIT:+--limit "$LIMIT"} "$@" > "$T/$name.json"
  t1=$(date +%s.%N)
  jq -c --arg name "$name" --arg l0 "$l0" --arg l1 "$(load)" --arg wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
    --arg rss "$(peak_kb "$T/$name.time")" \
    '{name: $name, photos: .embedded, failed: .failed, seconds: ($wall | tonumber), rate: .photos_per_second,
      rss_kb: (if $rss == "" then null else ($rss | tonumber) end), load_before: $l0, load_after: $l1}' \
    "$T/$name.json" >> "$T/index.jsonl"
  tail -1 "$T/index.jsonl"
}
evaluate() { # NAME DB [eval options]: leave-one-out (and same-product) quality
  local name=$1 db=$2
  shift 2
  echo "index: eval $name (load $(load))"
  "$BIN" eval --db "$db" --sample "$SAMPLE" "$@" --json |
    jq -c --arg name "$name" --arg l0 "$(load)" '{name: $name, metrics: .metrics, same: .same_product, load_before: $l0}' \
    >> "$T/eval.jsonl"
  tail -1 "$T/eval.jsonl"
}

LOAD0=$(load)
# the same recipe computed exact (a new recipe id, so a new catalog), then the default (int8)
index exact "$DBX" --compute exact
index default "$DB"
evaluate exact "$DBX" --same-product "$DATA/photos-225x300"
evaluate default "$DB" --same-product "$DATA/photos-225x300"
evaluate default-seed2 "$DB" --seed 2 # other queries: how much P@10 moves by sampling alone
LOAD1=$(load)

$PY - "$T" "$LOAD0" "$LOAD1" "$(nproc)" "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)" \
  "$SAMPLE" "${LIMIT:-all}" docs/PERFORMANCE.md <<'PYEOF'
import json, os, sys, time
d, l0, l1, cores, cpu, sample, limit, doc = sys.argv[1:9]
ix = {r["name"]: r for r in map(json.loads, open(os.path.join(d, "index.jsonl")))}
ev = {r["name"]: r for r in map(json.loads, open(os.path.join(d, "eval.jsonl")))}
def mmss(s):
    return f"{int(s // 60)} min {s % 60:.1f} s" if s >= 60 else f"{s:.1f} s"
out = [f"`bench/index.sh` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {cores} cores ({cpu}); "
       f"load average (1/5/15 min) before the run: {l0}, after: {l1} — above ~1, other work shared the cores "
       "and the times are inflated. `lookalike index` of the whole shared catalog "
       f"({'every photo' if limit == 'all' else 'the first ' + limit + ' items'}; 60x80 JPEGs), a fresh catalog each "
       "time, 2 workers (the default), each decoding and embedding single-threaded, SQLite writes included. "
       "The two runs follow each other in the same script; the ratio compares them.", "",
       "| recipe compute | photos | wall | photos/s | vs exact | peak RSS | load before → after |",
       "|---|---:|---:|---:|---:|---:|---|"]
base = ix.get("exact")
for name, label in (("exact", "`exact` (`--compute exact`: TFLite's requantisation, bit-exact)"),
                    ("default", "`int8` (the default: oneDNN u8s8, VNNI)")):
    r = ix.get(name)
    if not r:
        continue
    rate = r["photos"] / r["seconds"] if r["seconds"] else 0
    ratio = f"{rate / (base['photos'] / base['seconds']):.2f}x" if base and base["seconds"] else ""
    rss = f"{r['rss_kb'] / 1024:.0f} MB" if r.get("rss_kb") else ""
    out.append(f"| {label} | {r['photos']:,} | {mmss(r['seconds'])} | {rate:.1f} | {ratio} | {rss} | "
               f"{r['load_before'].split()[0]} → {r['load_after'].split()[0]} |")
out += ["", f"Quality of the two catalogs (`lookalike eval --sample {sample} --same-product photos-225x300`: "
        "P@10 of the leave-one-out queries by label; for the 225x300 shop photos, the rank of their own product):", "",
        "| catalog | P@10 articleType | baseColour | gender | subCategory | same product R@1 | R@10 |",
        "|---|---:|---:|---:|---:|---:|---:|"]
for name in ("exact", "default"):
    e = ev.get(name)
    if not e:
        continue
    m = e["metrics"]
    s = e.get("same") or {}
    g = lambda f: f"{m[f]['p10']:.3f}" if f in m else ""
    out.append(f"| {'int8 (default)' if name == 'default' else 'exact'} | {g('articleType')} | {g('baseColour')} | "
               f"{g('gender')} | {g('subCategory')} | {s.get('recall1', 0):.3f} | {s.get('recall10', 0):.3f} |")
if "default" in ev and "exact" in ev:
    a, b = ev["exact"], ev["default"]
    diffs = [b["metrics"][f]["p10"] - a["metrics"][f]["p10"] for f in a["metrics"] if f in b["metrics"]]
    fields = [f for f in a["metrics"] if f in b["metrics"]]
    ds = (b.get("same") or {}).get("recall1", 0) - (a.get("same") or {}).get("recall1", 0)
    def deltas(x, y):
        return ", ".join("%s %+.3f" % (f, x["metrics"][f]["p10"] - y["metrics"][f]["p10"]) for f in fields)
    line = f"int8 minus exact, same queries: P@10 {deltas(b, a)}; same-product R@1 {ds:+.3f}."
    c = ev.get("default-seed2")
    if c:
        line += f" For scale, the int8 catalog with {sample} other queries (seed 2) moves P@10 by {deltas(c, b)}."
    out += ["", line]
text = "\n".join(out)
begin, end = "<!-- bench:index -->", "<!-- /bench:index -->"
doc_text = open(doc).read()
block = f"{begin}\n{text}\n{end}"
if begin in doc_text and end in doc_text:
    i, j = doc_text.index(begin), doc_text.index(end) + len(end)
    doc_text = doc_text[:i] + block + doc_text[j:]
else:
    doc_text = doc_text.rstrip("\n") + f"\n\n## Indexing\n\n{block}\n"
open(doc + ".tmp", "w").write(doc_text)
os.replace(doc + ".tmp", doc)
print(text)
PYEOF
echo "index: wrote the \"Indexing\" section of docs/PERFORMANCE.md; catalogs: $DB, $DBX"
