#!/usr/bin/env bash
# bench/decode.sh [BUILD] — decode speed, lookalike (bench/decode_bench.c) beside PIL
# (bench/decode_pil.py, Debian's python3-pil) on the same photos in the same run: 60x80 catalog
# photos, and 600x800 / 1800x2400 photos made by upscaling 225x300 shop photos into a temporary
# folder (deleted afterwards; never in the tree). Writes the "## Decode" table of
# docs/PERFORMANCE.md (between <!-- bench:decode --> markers). Not part of `make test`.
#   LOOKALIKE_BENCH_ROUNDS (default 3)  LOOKALIKE_BENCH_SECONDS per measurement (default 1)
#   LOOKALIKE_BENCH_PHOTOS photos per size (default 40)
set -euo pipefail
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case $B in /*) ;; *) B=$ROOT/$B ;; esac
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
ROUNDS=${LOOKALIKE_BENCH_ROUNDS:-3}
SECS=${LOOKALIKE_BENCH_SECONDS:-1}
N=${LOOKALIKE_BENCH_PHOTOS:-40}
PY=/usr/bin/python3
BIN=$B/bench/decode_bench
make -s BUILD="$B" "$BIN" # (always: a binary older than the sources would be measured)
if ! $PY -c 'import PIL' 2>/dev/null; then
  [ "$(id -u)" = 0 ] && apt-get install -y python3-pil >/dev/null || true
fi
$PY -c 'import PIL' 2>/dev/null || { echo "decode: python3-pil is required (apt-get install python3-pil)"; exit 1; }

T=$(mktemp -d /tmp/lk-decodebench-XXXXXX)
trap 'rm -rf "$T"' EXIT
echo "decode: making $N photos at 600x800 and 1800x2400 in $T"
$PY - "$DATA/photos-225x300" "$T" "$N" <<'PYEOF'
import os, re, sys
from PIL import Image
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = sorted((f for f in os.listdir(src) if f.endswith(".jpg")), key=lambda s: (int(re.match(r"\d*", s).group() or 0), s))
names = [names[i * len(names) // n] for i in range(min(n, len(names)))]
for w, h in ((600, 800), (1800, 2400)):
    d = os.path.join(out, f"{w}x{h}")
    os.makedirs(d)
    for nm in names:
        Image.open(os.path.join(src, nm)).convert("RGB").resize((w, h), Image.LANCZOS).save(os.path.join(d, nm), quality=90)
PYEOF

idle_pct() { # share of CPU time idle over 2 s
  local a b c d e f g h t1 i1
  read -r _ a b c d e f g h _ < /proc/stat; t1=$((a + b + c + d + e + f + g + h)); i1=$((d + e))
  sleep 2
  read -r _ a b c d e f g h _ < /proc/stat
  echo $(( 100 * (d + e - i1) / (a + b + c + d + e + f + g + h - t1 + 1) ))
}
SETS=("60x80=$DATA/images" "600x800=$T/600x800" "1800x2400=$T/1800x2400")
U0=$(uptime | sed 's/^ *//'); I0=$(idle_pct)
mkdir -p "$T/res"
for r in $(seq "$ROUNDS"); do
  echo "decode: round $r/$ROUNDS"
  if [ $((r % 2)) = 1 ]; then
    "$BIN" --json --n "$N" --seconds "$SECS" --rounds 1 "${SETS[@]}" >> "$T/res/lk.jsonl"
    $PY bench/decode_pil.py --json --n "$N" --seconds "$SECS" --rounds 1 "${SETS[@]}" >> "$T/res/pil.jsonl"
  else
    $PY bench/decode_pil.py --json --n "$N" --seconds "$SECS" --rounds 1 "${SETS[@]}" >> "$T/res/pil.jsonl"
    "$BIN" --json --n "$N" --seconds "$SECS" --rounds 1 "${SETS[@]}" >> "$T/res/lk.jsonl"
  fi
done
U1=$(uptime | sed 's/^ *//'); I1=$(idle_pct)
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
$PY - "$T/res/meta.json" <<PYEOF
import json, sys
json.dump({"date": "$(date -u '+%Y-%m-%d %H:%M UTC')", "cpu": "$cpu", "cores": $(nproc), "rounds": $ROUNDS,
           "seconds": $SECS, "uptime0": "$U0", "uptime1": "$U1", "idle0": $I0, "idle1": $I1}, open(sys.argv[1], "w"))
PYEOF
$PY bench/embed_report.py decode "$T/res" docs/PERFORMANCE.md
echo "decode: wrote the \"Decode\" section of docs/PERFORMANCE.md"
