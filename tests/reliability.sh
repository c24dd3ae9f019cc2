#!/usr/bin/env bash
# tests/reliability.sh BUILD — hostile input and faults, end to end (docs/RELIABILITY.md):
#  1. storage faults: `lookalike index` under tests/faultshim.so (LD_PRELOAD) with the disk
#     filling up (ENOSPC), I/O errors (EIO), failing fsyncs, and SIGKILL at exact points of the
#     catalog's write sequence; after each, `check` passes, a normal re-run completes and the
#     catalog equals an uninterrupted run's, byte for byte in items and vectors;
#  2. decompression bombs and giants (PNG 100000 x 100000, JPEG 65535 x 65535, WebP 16383 x
#     16383, a progressive JPEG of 5,000 scans): refused at the header with a clear error and
#     little memory (peak RSS measured with /usr/bin/time);
#  3. the server under abuse: slow clients (idle and trickling), malformed requests, bounded
#     concurrent upload soaks (colour and CNN catalogs) with zero 5xx and flat memory;
#  4. the server under valgrind's memcheck for a short session (plain build).
# Bounded (about 45 s). In sanitizer builds the shim is preloaded after the sanitizer's runtime.
# Last line: "reliability: N passed, M failed, S skipped"; under CI (CI=true) a skip of what
# CI must run (valgrind in a plain build) is a failure.
set -u
B=${1:-build}
ROOT=$PWD
case $B in /*) BD=$B ;; *) BD=$ROOT/$B ;; esac
BIN=$BD/lookalike
SHIM=$BD/tests/faultshim.so
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "  ok   $1"; }
ko() { fail=$((fail + 1)); echo "  FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
skipped=0
# skip NAME WHY: not run here, counted; skip_needed: the same, but a failure under CI.
skip() { skipped=$((skipped + 1)); echo "  skip $1: $2"; }
skip_needed() { if [ "${CI:-}" = true ]; then ko "$1: $2 (CI must run it)"; else skip "$@"; fi; }
finish() {
  [ -n "${T:-}" ] && check "no sanitizer report from any run (ASan, LSan, UBSan)" san_clean
  echo "reliability: $pass passed, $fail failed, $skipped skipped"; [ $fail -eq 0 ]; exit $?
}
die() { echo "reliability: $1"; echo "reliability: 0 passed, 1 failed"; exit 1; }

[ -x "$BIN" ] || die "no binary at $BIN"
[ -d "$DATA/images" ] || die "shared catalog missing at $DATA"
for tool in sqlite3 python3 curl jq; do command -v $tool >/dev/null || die "$tool is not installed (scripts/setup.sh)"; done
TIME=/usr/bin/time
[ -x $TIME ] || die "/usr/bin/time is not installed (apt-get install time; scripts/setup.sh)"
SANITIZED=0
if ldd "$BIN" 2>/dev/null | grep -qE 'libasan|libtsan|libubsan'; then SANITIZED=1; fi
# ThreadSanitizer does not see the barriers of libgomp (not instrumented), so oneDNN's own
# OpenMP threads read as races inside libdnnl (the engine's embedder, used by `index`'s
# calibration, runs them); under TSan OpenMP runs one thread: our threads are still all checked.
if ldd "$BIN" 2>/dev/null | grep -q libtsan; then export OMP_NUM_THREADS=1; fi

T=$(mktemp -d /tmp/lk-rel-XXXXXX)
# Sanitizer builds: a leak or error makes the process exit 23, and each report is also logged
# to $T/san.*, so a run whose exit status no check reads still fails the suite (san_clean).
export ASAN_OPTIONS="detect_leaks=1:exitcode=23:log_path=$T/san${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="exitcode=23${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$T/san${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
san_clean() { local f; f=$(ls "$T"/san.* 2>/dev/null) || return 0; [ -z "$f" ] && return 0; head -30 $f; return 1; }
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  [ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/img"

# A 60-product slice (the first ids), indexed with the `color` recipe: the fault paths are the
# catalog's, whatever the embedding, and this keeps each run to a fraction of a second.
head -1 "$DATA/styles.csv" > "$T/styles.csv"
tail -n +2 "$DATA/styles.csv" | sort -t, -k1,1n | head -60 >> "$T/styles.csv"
tail -n +2 "$T/styles.csv" | cut -d, -f1 | while read -r id; do
  [ -f "$DATA/images/$id.jpg" ] && ln -s "$DATA/images/$id.jpg" "$T/img/$id.jpg"
done
NPHOTOS=$(ls "$T/img" | wc -l)
index() { "$BIN" index "$T/img" --styles "$T/styles.csv" --recipe color --quiet "$@"; }
# What a catalog holds, as one hash: every item's fields, hash and status, and every vector.
content() {
  sqlite3 "$1" "select i.*, hex(v.data) from items i left join vectors v using(id) order by i.id" | md5sum | cut -c1-32
}
index --db "$T/ref.db" > /dev/null 2>&1
check "reference index of $NPHOTOS photos" [ "$(sqlite3 "$T/ref.db" 'select count(*) from vectors')" = "$NPHOTOS" ]
REF=$(content "$T/ref.db")

# ------------------------------------------------------------------ 1. storage faults
echo "reliability: storage faults (ENOSPC, EIO, fsync, SIGKILL at the N-th write)"
faults=0; rounds=0; fired=0
# fault_round NAME ENV...: a catalog with 20 items committed, then the full index under the
# fault; then check, resume, compare.
fault_round() {
  local name=$1; shift
  local db=$T/f.db
  rm -f "$db" "$db-wal" "$db-shm" "$T/fault.log"
  index --db "$db" --limit 20 > /dev/null 2>&1
  { env LD_PRELOAD="$PRELOAD" LK_FAULT_LOG="$T/fault.log" "$@" \
    "$BIN" index "$T/img" --styles "$T/styles.csv" --recipe color --quiet --batch 4 --db "$db" > "$T/fault.out" 2>&1; } 2>/dev/null
  local rc=$? n=0
  [ -f "$T/fault.log" ] && n=$(wc -l < "$T/fault.log")
  rounds=$((rounds + 1)); faults=$((faults + n))
  local killed=0; case "$*" in *LK_FAULT_KILL*) killed=1 ;; esac
  local why=""
  if [ "$n" -eq 0 ]; then # the run ended before the fault point: it must simply have succeeded
    [ $rc = 0 ] || why="no fault injected, yet exit $rc"
  else
    fired=$((fired + 1))
    if [ $killed = 1 ]; then [ $rc = 137 ] || why="expected SIGKILL, exit $rc"
    elif [ $rc -ne 0 ] && [ $rc -ne 1 ]; then why="exit $rc (crash?)"
    elif [ $rc = 1 ] && ! grep -qiE 'disk|full|I/O|error' "$T/fault.out"; then why="no clear error: $(head -c 200 "$T/fault.out")"
    fi
  fi
  [ -z "$why" ] && { "$BIN" check --db "$db" > "$T/check.out" 2>&1 || why="check fails after the fault: $(cat "$T/check.out")"; }
  [ -z "$why" ] && [ "$(sqlite3 "$db" 'select count(*) from vectors')" -ge 20 ] 2>/dev/null || \
    { [ -z "$why" ] && why="committed vectors lost"; }
  [ -z "$why" ] && { index --db "$db" > "$T/resume.out" 2>&1 || why="resume fails: $(cat "$T/resume.out")"; }
  [ -z "$why" ] && { "$BIN" check --db "$db" > /dev/null 2>&1 || why="check fails after resume"; }
  [ -z "$why" ] && { [ "$(content "$db")" = "$REF" ] || why="resumed catalog differs from the uninterrupted one"; }
  if [ -z "$why" ]; then ok "$name: $n fault(s), exit $rc; check passes; resumed catalog identical"
  else ko "$name: $why"; fi
}
# In a sanitizer build the sanitizer's runtime must come first in LD_PRELOAD.
PRELOAD=$SHIM
[ $SANITIZED = 1 ] && PRELOAD="$(ldd "$BIN" | awk '/lib(asan|tsan|ubsan)/ {print $3; exit}') $SHIM"
if [ ! -f "$SHIM" ]; then
  ko "fault shim missing at $SHIM (make $SHIM)"
else
  for b in 0 3000 20000 60000 150000 400000; do fault_round "ENOSPC after $b bytes" LK_FAULT_BYTES=$b; done
  for b in 10000 100000; do fault_round "EIO after $b bytes" LK_FAULT_BYTES=$b LK_FAULT_ERRNO=EIO; done
  for n in 1 3; do fault_round "fsync $n fails (EIO)" LK_FAULT_FSYNC=$n LK_FAULT_ERRNO=EIO; done
  # SIGKILL at the N-th write of the catalog, N spread over the whole run (156 writes, 4 syncs).
  for n in 1 2 3 5 8 13 21 34 55 89 120 144 150 155; do fault_round "SIGKILL at write $n" LK_FAULT_KILL=$n; done
  # Rounds whose fault point lies past the end of the run prove nothing: most must fire.
  check "storage faults: $fired of $rounds rounds hit their fault ($faults faults injected)" [ $((fired * 5)) -ge $((rounds * 4)) ]

  echo "reliability: read-only filesystems and full disks (the shim's EROFS, ENOSPC)"
  # A clean catalog (no -wal) on a read-only filesystem (LK_FAULT_ROFS: nothing beside it can
  # be made) or a full disk (every write fails): search, eval, check and serve read it,
  # opened immutable, with a note saying so; index refuses it with a clear message.
  cp "$T/ref.db" "$T/ro.db"
  ROK=$("$BIN" keys add --db "$T/ro.db" --role write 2>/dev/null) # for the writes refused below
  PHOTO1=$T/img/$(ls "$T/img" | head -1)
  for fault in LK_FAULT_ROFS=1 LK_FAULT_BYTES=0; do
    rm -f "$T/ro.db-wal" "$T/ro.db-shm"
    fx() { env LD_PRELOAD="$PRELOAD" $fault "$BIN" "$@"; }
    fx check --db "$T/ro.db" > "$T/ro.out" 2> "$T/ro.err"; r=$?
    check "$fault: check passes ($(head -c 120 "$T/ro.err"))" \
      bash -c "[ $r = 0 ] && grep -q 'note: .*opened read-only' '$T/ro.err'"
    fx search --db "$T/ro.db" "$PHOTO1" -k 3 --json > "$T/ro.json" 2> "$T/ro.err"; r=$?
    check "$fault: search answers (3 hits)" bash -c "[ $r = 0 ] && jq -e '.hits | length == 3' '$T/ro.json' > /dev/null"
    fx eval --db "$T/ro.db" > /dev/null 2> "$T/ro.err"
    check "$fault: eval runs" [ $? = 0 ]
    fx index "$T/img" --styles "$T/styles.csv" --recipe color --quiet --db "$T/ro.db" > /dev/null 2> "$T/ro.err"; r=$?
    check "$fault: index refuses with a clear message ($(head -c 140 "$T/ro.err"))" \
      bash -c "[ $r = 1 ] && grep -qE 'cannot be written|No space left|full disk' '$T/ro.err'"
    rm -f "$T/ro.log" # (the redirection below happens in the background: no stale port read)
    env LD_PRELOAD="$PRELOAD" $fault "$BIN" serve --db "$T/ro.db" --port 0 2> "$T/ro.log" &
    SERVER=$!; port=
    for _ in $(seq 100); do
      port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/ro.log"); [ -n "$port" ] && break
      kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1
    done
    code=$(curl -s -o "$T/ro.json" -w '%{http_code}' -F "image=@$PHOTO1" "http://127.0.0.1:$port/api/search?k=3")
    check "$fault: serve starts and answers a search ($code)" \
      bash -c "[ '$code' = 200 ] && jq -e '.hits | length == 3' '$T/ro.json' > /dev/null && grep -q 'note: .*read-only' '$T/ro.log'"
    code=$(curl -s -o "$T/row.json" -w '%{http_code}' -H "Authorization: Bearer $ROK" -F id=99 -F "image=@$PHOTO1" \
      "http://127.0.0.1:$port/api/items")
    check "$fault: a write over HTTP is 503, the catalog served read-only ($code)" \
      bash -c "[ '$code' = 503 ] && grep -q 'served read-only' '$T/row.json'"
    kill -TERM "$SERVER"; wait "$SERVER"; src=$?; SERVER=
    check "$fault: serve stops with exit 0" [ $src = 0 ]
  done
  env LD_PRELOAD="$PRELOAD" LK_FAULT_ROFS=1 "$BIN" index "$T/img" --styles "$T/styles.csv" --recipe color --quiet \
    --db "$T/new.db" > /dev/null 2> "$T/ro.err"; r=$?
  check "a new catalog on a read-only filesystem: index says why ($(head -c 100 "$T/ro.err"))" \
    bash -c "[ $r = 1 ] && grep -q 'cannot create .*new.db: folder .*: Read-only file system' '$T/ro.err'"
  # The same on a real read-only bind mount, where the machine allows one (root, unshare -m).
  mkdir -p "$T/rofs"; cp "$T/ref.db" "$T/rofs/c.db"
  if unshare -m sh -c "mount --bind '$T/rofs' '$T/rofs' && mount -o remount,ro,bind '$T/rofs'" 2>/dev/null; then
    unshare -m sh -c "mount --bind '$T/rofs' '$T/rofs' && mount -o remount,ro,bind '$T/rofs' &&
      '$BIN' check --db '$T/rofs/c.db' > /dev/null && '$BIN' search --db '$T/rofs/c.db' '$PHOTO1' -k 3 --json" > "$T/rofs.json" 2> "$T/ro.err"
    r=$?
    check "a real read-only bind mount: check and search work, with the note" \
      bash -c "[ $r = 0 ] && grep -q 'note: .*opened read-only' '$T/ro.err' && jq -e '.hits | length == 3' '$T/rofs.json' > /dev/null"
  else
    echo "  (no read-only bind mount here: unshare -m not permitted; the shim's EROFS stands in)"
  fi
  # A -wal holding changes the file lacks cannot be read without its -shm: a clear error.
  rm -f "$T/ro.db-shm"; printf 'changes' > "$T/ro.db-wal"
  env LD_PRELOAD="$PRELOAD" LK_FAULT_ROFS=1 "$BIN" check --db "$T/ro.db" > /dev/null 2> "$T/ro.err"; r=$?
  check "read-only with a pending -wal: a clear error naming it" \
    bash -c "[ $r = 1 ] && grep -q 'ro.db-wal holds changes' '$T/ro.err'"
  rm -f "$T/ro.db-wal"

  echo "reliability: index stopped by SIGHUP, SIGTERM (at an exact photo) and a held catalog"
  # The shim sends the signal as the 20th photo is opened (one worker, batches of 4): the
  # batch in hand is embedded and committed, the count is within its total, exit 130, and a
  # re-run completes the catalog identical to an uninterrupted one.
  for sig in HUP TERM; do
    rm -f "$T/h.db" "$T/h.db-wal" "$T/h.db-shm"
    env LD_PRELOAD="$PRELOAD" LK_FAULT_PATH=.jpg LK_FAULT_SIGNAL=$sig LK_FAULT_SIGNAL_AT=20 \
      "$BIN" index "$T/img" --styles "$T/styles.csv" --recipe color --quiet --threads 1 --batch 4 --db "$T/h.db" \
      > /dev/null 2> "$T/h.err"
    hrc=$?
    msg=$(grep 'interrupted' "$T/h.err")
    hdone=$(sed -n 's/.*interrupted: \([0-9]*\) of \([0-9]*\) photos done.*/\1/p' <<< "$msg")
    htodo=$(sed -n 's/.*interrupted: \([0-9]*\) of \([0-9]*\) photos done.*/\2/p' <<< "$msg")
    hvec=$(sqlite3 "$T/h.db" 'select count(*) from vectors' 2>/dev/null)
    check "SIG$sig: index exits 130 and says how far it got ($hrc: $msg)" \
      bash -c "[ $hrc = 130 ] && [ -n '$hdone' ] && [ '$htodo' = $NPHOTOS ] && [ '$hdone' -ge 20 ] && [ '$hdone' -le '$htodo' ]"
    check "SIG$sig: what was embedded is committed ($hvec vectors for $hdone done)" [ "${hvec:-x}" = "${hdone:-y}" ]
    index --db "$T/h.db" > /dev/null 2>&1; r=$?
    check "SIG$sig: the next run completes it, identical to an uninterrupted one" \
      bash -c "[ $r = 0 ] && [ '$(content "$T/h.db")' = '$REF' ]"
  done
fi
# A photo that cannot be opened (a dangling link) is counted in what needs work: done never
# passes todo, and it is reported at every run, not forgotten once the rest is indexed.
mkdir -p "$T/dang"
for f in $(ls "$T/img" | sed -n '2p;3p'); do ln -s "$T/img/$f" "$T/dang/$f"; done
ln -s "$T/nowhere.jpg" "$T/dang/$(ls "$T/img" | head -1)"
rm -f "$T/d.db"*
"$BIN" index "$T/dang" --styles "$T/styles.csv" --recipe color --json --db "$T/d.db" > "$T/d1.json" 2>/dev/null
"$BIN" index "$T/dang" --styles "$T/styles.csv" --recipe color --json --db "$T/d.db" > "$T/d2.json" 2>/dev/null
check "a dangling photo link: done 3 of todo 3, 1 failed; the re-run reports it again (1 of 1)" \
  bash -c "jq -e '.todo == 3 and .done == 3 and .failed == 1' '$T/d1.json' > /dev/null && jq -e '.todo == 1 and .done == 1 and .failed == 1' '$T/d2.json' > /dev/null"
# A catalog held by another writer: index waits its bounded 5 s, then says who holds it.
cp "$T/ref.db" "$T/b.db"
{ echo "BEGIN IMMEDIATE; DELETE FROM meta WHERE key = 'none';"; sleep 7; echo "COMMIT;"; } | sqlite3 "$T/b.db" &
holder=$!
sleep 0.5
t0=$(date +%s)
"$BIN" index "$T/img" --styles "$T/styles.csv" --recipe color --quiet --db "$T/b.db" > /dev/null 2> "$T/b.err"
brc=$?; bsecs=$(( $(date +%s) - t0 ))
wait $holder
check "a catalog held by another writer: index waits (${bsecs} s), then says so ($(head -c 160 "$T/b.err"))" \
  bash -c "[ $brc = 1 ] && [ $bsecs -ge 4 ] && grep -q 'another process is writing this catalog' '$T/b.err'"

# ------------------------------------------------------------------ 2. bombs and giants
echo "reliability: decompression bombs and giants"
python3 - "$T" "$ROOT/fuzz/corpus/image/progressive.jpg" <<'EOF'
import struct, sys, zlib
out, prog = sys.argv[1], sys.argv[2]
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
def png(w, h, ctype, raw_rows):
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, ctype, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(raw_rows, 9)) + chunk(b'IEND', b''))
# 100000 x 100000 RGB declared, a few bytes of data: refused at IHDR
open(out + '/png_giant.png', 'wb').write(png(100000, 100000, 2, b'\0' * 64))
# the largest square PNG a search accepts (100 megapixels), every pixel present: 30 KB on disk
zs = zlib.compressobj(9); body = b''
row = b'\0' + b'\0' * 10000
for _ in range(10000): body += zs.compress(row)
body += zs.flush()
open(out + '/png_100mp.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 10000, 10000, 8, 0, 0, 0, 0)) +
                                         chunk(b'IDAT', body) + chunk(b'IEND', b''))
# JPEG whose SOF declares 65535 x 65535
dqt = b'\xff\xdb\x00\x43\x00' + bytes([1] * 64)
sof = b'\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03\x01\x22\x00\x02\x11\x00\x03\x11\x00'
sos = b'\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00'
open(out + '/jpeg_giant.jpg', 'wb').write(b'\xff\xd8' + dqt + sof + sos + b'\x00' * 64 + b'\xff\xd9')
# WebP (VP8X) canvas of 16383 x 16383
vp8x = b'VP8X' + struct.pack('<I', 10) + b'\x00\x00\x00\x00' + (16382).to_bytes(3, 'little') * 2
open(out + '/webp_giant.webp', 'wb').write(b'RIFF' + struct.pack('<I', 4 + len(vp8x)) + b'WEBP' + vp8x)
# a real progressive JPEG whose scans are repeated to 5,000
d = open(prog, 'rb').read()
i, head, scans = 2, b'', []
while True:
    m = d[i + 1]
    if m == 0xD9: break
    L = struct.unpack('>H', d[i + 2:i + 4])[0]
    if m == 0xDA:
        j = i + 2 + L
        while not (d[j] == 0xFF and d[j + 1] != 0 and not 0xD0 <= d[j + 1] <= 0xD7): j += 1
        scans.append(d[i:j]); i = j
    else:
        if scans: scans.append(d[i:i + 2 + L])
        else: head += d[i:i + 2 + L]
        i += 2 + L
nsos = sum(1 for s in scans if s[1] == 0xDA)
body = b''.join(scans) * (5000 // nsos + 1)
open(out + '/jpeg_5000_scans.jpg', 'wb').write(b'\xff\xd8' + head + body + b'\xff\xd9')
EOF
crafted() { for f in png_giant.png png_100mp.png jpeg_giant.jpg webp_giant.webp jpeg_5000_scans.jpg; do [ -s "$T/$f" ] || return 1; done; }
check "crafted the hostile files" crafted
# bomb FILE EXPECT_RE: `search` refuses it (exit 4, message matching) with peak RSS < 100 MB.
base_kb=$($TIME -f %M "$BIN" search "$DATA/images/$(ls "$T/img" | head -1)" --db "$T/ref.db" -k 1 2>&1 >/dev/null | tail -1)
bomb() {
  local f=$1 re=$2
  $TIME -f 'RSS %M' "$BIN" search "$T/$f" --db "$T/ref.db" -k 1 > /dev/null 2> "$T/bomb.err"
  local rc=$? kb; kb=$(sed -n 's/^RSS //p' "$T/bomb.err" | tail -1)
  local msg; msg=$(grep -v '^RSS ' "$T/bomb.err" | head -1)
  if [ $rc = 4 ] && echo "$msg" | grep -qiE "$re" && [ "${kb:-999999}" -lt 102400 ]; then
    ok "$f ($(stat -c %s "$T/$f") bytes) refused: exit 4, peak RSS $((kb / 1024)) MB: $msg"
  else
    ko "$f: exit $rc, RSS ${kb:-?} KB, message: $msg"
  fi
}
bomb png_giant.png 'side exceeds|limit'
bomb jpeg_giant.jpg 'side exceeds|limit'
bomb webp_giant.webp 'side exceeds|limit|pixels'
bomb jpeg_5000_scans.jpg 'scans'
# The largest accepted: 100 megapixels in 30 KB is decoded (DCT scaling does not apply to PNG):
# memory is what 3 bytes a pixel cost, and bounded by the limit.
$TIME -f 'RSS %M' "$BIN" search "$T/png_100mp.png" --db "$T/ref.db" -k 1 --json > "$T/big.json" 2> "$T/big.err"
rc=$?; kb=$(sed -n 's/^RSS //p' "$T/big.err" | tail -1)
bound=716800; [ $SANITIZED = 1 ] && bound=4194304 # sanitizers' shadow memory
check "a 100-megapixel PNG at the limit is searched (exit $rc, peak RSS $((${kb:-0} / 1024)) MB, baseline $((${base_kb:-0} / 1024)) MB)" \
  bash -c "[ $rc = 0 ] && [ ${kb:-9999999} -lt $bound ]"

# ------------------------------------------------------------------ 3. the server under abuse
echo "reliability: the server under abuse (slow clients, malformed requests, upload soak)"
SOAK=${LOOKALIKE_SOAK_S:-10}
"$BIN" serve --db "$T/ref.db" --host 127.0.0.1 --port 0 --timeout 2 --max-per-ip 16 --quiet 2> "$T/serve.log" &
SERVER=$!
port=
for _ in $(seq 300); do
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/serve.log" 2>/dev/null)
  [ -n "$port" ] && break
  kill -0 "$SERVER" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  ko "server did not start: $(cat "$T/serve.log")"
else
  timeout 300 python3 "$ROOT/tests/abuse.py" "$port" "$SERVER" "$T/img" "$SOAK" 16 2 > "$T/abuse.out" 2>&1
  arc=$?
  while IFS= read -r line; do
    case "$line" in
      "ok   "*) ok "${line#ok   }" ;;
      "FAIL "*) ko "${line#FAIL }" ;;
    esac
  done < "$T/abuse.out"
  [ $arc -eq 0 ] || grep -q '^FAIL ' "$T/abuse.out" || ko "abuse.py exited $arc: $(tail -5 "$T/abuse.out")"
  r0=$(sed -n 's/^rss_start_kb //p' "$T/abuse.out"); r1=$(sed -n 's/^rss_end_kb //p' "$T/abuse.out")
  nreq=$(sed -n 's/^requests //p' "$T/abuse.out")
  if [ -n "$r0" ] && [ -n "$r1" ]; then
    # Flat memory: a leak of even 100 bytes a search would show over the soak's requests.
    if [ $SANITIZED = 1 ]; then
      skip "server RSS flat over $nreq searches" "not bounded under a sanitizer ($((r0 / 1024)) MB before, $((r1 / 1024)) MB after; LeakSanitizer checks the exit)"
    else
      check "server RSS flat over $nreq searches: $((r0 / 1024)) MB before, $((r1 / 1024)) MB after (growth < 16 MB)" \
        [ $((r1 - r0)) -lt 16384 ]
    fi
  else
    ko "the soak reported no RSS figures: $(tail -3 "$T/abuse.out")"
  fi
  kill -0 "$SERVER" 2>/dev/null; check "the server survived the abuse" [ $? -eq 0 ]
  kill -TERM "$SERVER"; wait "$SERVER"; src=$?; SERVER=
  check "SIGTERM after the abuse: exit 0" [ $src -eq 0 ]
fi

# The same soak on a catalog of the default recipe: every search runs the CNN (oneDNN).
echo "reliability: upload soak with the default recipe (CNN)"
if ! "$BIN" index "$T/img" --styles "$T/styles.csv" --db "$T/cnn.db" --quiet > "$T/cnn.log" 2>&1; then
  ko "index with the default recipe: $(tail -2 "$T/cnn.log")"
else
  "$BIN" serve --db "$T/cnn.db" --host 127.0.0.1 --port 0 --quiet 2> "$T/serve2.log" &
  SERVER=$!
  port=
  for _ in $(seq 300); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/serve2.log" 2>/dev/null)
    [ -n "$port" ] && break
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  timeout 300 python3 "$ROOT/tests/abuse.py" "$port" "$SERVER" "$T/img" "${LOOKALIKE_CNN_SOAK_S:-8}" 64 30 soak \
    "upload soak, default recipe (CNN)" > "$T/soak2.out" 2>&1
  while IFS= read -r line; do
    case "$line" in "ok   "*) ok "${line#ok   }" ;; "FAIL "*) ko "${line#FAIL }" ;; esac
  done < "$T/soak2.out"
  grep -qE '^(ok|FAIL) ' "$T/soak2.out" || ko "CNN soak gave no result: $(tail -3 "$T/soak2.out")"
  r0=$(sed -n 's/^rss_start_kb //p' "$T/soak2.out"); r1=$(sed -n 's/^rss_end_kb //p' "$T/soak2.out")
  nreq=$(sed -n 's/^requests //p' "$T/soak2.out")
  if [ $SANITIZED = 1 ]; then
    skip "server RSS flat over $nreq CNN searches" "not bounded under a sanitizer ($((${r0:-0} / 1024)) MB before, $((${r1:-0} / 1024)) MB after; LeakSanitizer checks the exit)"
  else
    flat() { [ -n "$r0" ] && [ -n "$r1" ] && [ $((r1 - r0)) -lt 16384 ]; }
    check "server RSS flat over $nreq CNN searches: $((${r0:-0} / 1024)) MB before, $((${r1:-0} / 1024)) MB after (growth < 16 MB)" flat
  fi
  kill -TERM "$SERVER"; wait "$SERVER"; src=$?; SERVER=
  check "SIGTERM after the CNN soak: exit 0" [ $src -eq 0 ]
fi

# ------------------------------------------------------------------ 4. valgrind on the server
# memcheck over a short session (plain build only: sanitizers and valgrind do not mix).
if [ $SANITIZED = 1 ]; then
  skip "the server under valgrind" "sanitizers and valgrind do not mix (the plain build runs it)"
elif ! command -v valgrind >/dev/null; then
  skip_needed "the server under valgrind" "valgrind is not installed (scripts/setup.sh installs it)"
else
  echo "reliability: the server under valgrind (memcheck)"
  valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9 --log-file="$T/vg.log" \
    "$BIN" serve --db "$T/ref.db" --host 127.0.0.1 --port 0 --quiet 2> "$T/vgserve.log" &
  SERVER=$!
  port=
  for _ in $(seq 300); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/vgserve.log" 2>/dev/null)
    [ -n "$port" ] && break
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.2
  done
  U=http://127.0.0.1:$port
  codes=""
  for f in $(ls "$T/img" | head -12); do
    codes+=$(curl -s -o /dev/null -w '%{http_code} ' --max-time 60 --data-binary @"$T/img/$f" "$U/api/search?k=5&gender=Men")
  done
  first=$(ls "$T/img" | head -1)
  codes+=$(curl -s -o /dev/null -w '%{http_code} ' --max-time 60 -F image=@"$T/img/$first" -F k=3 -F crop=0,0,40,40 "$U/api/search")
  for path in "api/items?limit=50" "api/items?sample=5&seed=3" api/facets "api/items/${first%.jpg}" \
              "api/items/${first%.jpg}/similar?k=4" metrics health "photos/${first%.jpg}" "static/%2e%2e/x" "api/map"; do
    codes+=$(curl -s -o /dev/null -w '%{http_code} ' --max-time 60 "$U/$path")
  done
  kill -TERM "$SERVER"; wait "$SERVER"; vrc=$?; SERVER=
  errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$T/vg.log" | tail -1)
  lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$T/vg.log" | tail -1)
  check "valgrind: 23 requests ($codes) then SIGTERM: exit $vrc, ${errs:-?} memcheck errors, ${lost:-0} bytes definitely lost" \
    bash -c "[ $vrc = 0 ] && [ '${errs:-x}' = 0 ] && [ '$(echo "$codes" | tr ' ' '\n' | grep -cvE '^(200|404|)$')' = 0 ]"
fi

finish
