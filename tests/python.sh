#!/usr/bin/env bash
# tests/python.sh BUILD — the Python package (python/): its pytest tests (python/tests/, on a
# 30-photo catalog indexed in a temporary folder, examples/notebook.py included) against
# BUILD/liblookalike.so (made by `make BUILD/liblookalike.so` first; $LOOKALIKE_LIBRARY: that library
# instead), and `pip install --no-build-isolation --no-index ./python` into a venv
# that sees Debian's numpy and cffi, imported from outside the source tree. About 30 s.
# Uses Debian's /usr/bin/python3 (python3-cffi, -numpy, -pytest, -pil, -venv: scripts/setup.sh).
# An ASan/UBSan library (make SANITIZE=...) is tested with its runtimes preloaded into Python.
# Last line: "python: N passed, M failed, S skipped".
set -u
B=${1:-build}
ROOT=$PWD
PY=/usr/bin/python3
case $B in /*) LIB=$B/liblookalike.so ;; *) LIB=$ROOT/$B/liblookalike.so ;; esac
pass=0; fail=0; skip=0
die() { echo "python: $1"; echo "python: 0 passed, 1 failed"; exit 1; }

if [ -n "${LOOKALIKE_LIBRARY:-}" ]; then LIB=$LOOKALIKE_LIBRARY # a library of your own: as it is
elif ! make -s BUILD="$B" "$B/liblookalike.so" > /dev/null; then # make test builds no .so itself
  die "could not build $B/liblookalike.so"
fi
[ -f "$LIB" ] || die "no shared library at $LIB"
# A sanitizer build (make SANITIZE=address,undefined) runs inside Python with its runtimes preloaded;
# CPython's own allocations at exit are no leaks of ours. ThreadSanitizer is not tried.
syms=$(nm -D "$LIB" 2>/dev/null)
if grep -q __tsan_init <<< "$syms"; then
  echo "python: $LIB is a ThreadSanitizer build: skipped"; echo "python: 0 passed, 0 failed, 1 skipped"; exit 0
fi
if grep -q __asan_init <<< "$syms"; then
  pre=$(cc -print-file-name=libasan.so)
  grep -q __ubsan_handle <<< "$syms" && pre=$pre:$(cc -print-file-name=libubsan.so)
  export LD_PRELOAD=$pre ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  echo "python: sanitizer build, preloading $pre"
fi
$PY -c 'import cffi, numpy, pytest, PIL, venv' 2>/dev/null ||
  die "Debian's python3-cffi, python3-numpy, python3-pytest, python3-pil, python3-venv are needed (scripts/setup.sh)"
[ -f "${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}/styles.csv" ] ||
  die "shared catalog missing at ${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}"
[ -d "${LOOKALIKE_MODELS:-$ROOT/models}" ] || die "no models at ${LOOKALIKE_MODELS:-$ROOT/models} (bash scripts/models.sh)"

T=$(mktemp -d /tmp/lk-python-XXXXXX)
trap '[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"' EXIT
export LOOKALIKE_LIBRARY=$LIB

echo "python: pytest python/tests"
LOOKALIKE_MODELS=${LOOKALIKE_MODELS:-$ROOT/models} TMPDIR=$T $PY -m pytest -q -p no:cacheprovider \
  --basetemp="$T/pytest" python/tests > "$T/pytest.log" 2>&1
rc=$?
cat "$T/pytest.log"
summary=$(tail -1 "$T/pytest.log")
p=$(echo "$summary" | sed -nE 's/.*[^0-9]([0-9]+) passed.*/\1/p; s/^([0-9]+) passed.*/\1/p' | head -1)
f=$(echo "$summary" | sed -nE 's/.*[^0-9]([0-9]+) failed.*/\1/p; s/^([0-9]+) failed.*/\1/p' | head -1)
e=$(echo "$summary" | sed -nE 's/.*[^0-9]([0-9]+) errors?.*/\1/p' | head -1)
s=$(echo "$summary" | sed -nE 's/.*[^0-9]([0-9]+) skipped.*/\1/p; s/^([0-9]+) skipped.*/\1/p' | head -1)
pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0} + ${e:-0})); skip=$((skip + ${s:-0}))
[ $rc -eq 0 ] || [ $((${f:-0} + ${e:-0})) -gt 0 ] || fail=$((fail + 1)) # pytest failed without a count

echo "python: pip install into a venv (offline, Debian's numpy and cffi)"
cp -r python "$T/src" && rm -rf "$T/src/build" "$T/src"/*.egg-info
if env -u LD_PRELOAD $PY -m venv --system-site-packages "$T/venv" > "$T/pip.log" 2>&1 &&
   env -u LD_PRELOAD "$T/venv/bin/pip" install -q --no-build-isolation --no-index "$T/src" >> "$T/pip.log" 2>&1 &&
   (cd "$T" && "$T/venv/bin/python" -c 'import lookalike, sys
assert lookalike.__file__.startswith(sys.prefix); print(lookalike.version())') >> "$T/pip.log" 2>&1; then
  pass=$((pass + 1)); echo "  ok   pip install ./python; import lookalike from the venv ($(tail -1 "$T/pip.log"))"
else
  fail=$((fail + 1)); echo "  FAIL pip install ./python"; tail -20 "$T/pip.log"
fi

echo "python: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
