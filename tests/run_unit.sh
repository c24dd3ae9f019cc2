#!/usr/bin/env bash
# tests/run_unit.sh BUILD — runs every cmocka test binary in BUILD/tests and tallies them.
# Writes the tallies to BUILD/tests/unit.tally for run_all.sh; exits non-zero on any failure.
set -u
B=${1:-build}
pass=0; fail=0; failed=()
for t in "$B"/tests/test_*; do
  [ -x "$t" ] && [ -f "$t" ] || continue
  case "$t" in *.o|*.d) continue;; esac
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -E '^\[  (PASSED|FAILED|  OK|SKIPPED) ' | sed "s|^|$(basename "$t"): |" | grep -v ': \[       OK' || true
  p=$(printf '%s\n' "$out" | grep -cE '^\[       OK \]')
  f=$(printf '%s\n' "$out" | grep -cE '^\[  FAILED  \] [a-z_0-9]+$|^\[  ERROR   \]')
  pass=$((pass + p)); fail=$((fail + f))
  if [ $rc -ne 0 ]; then
    failed+=("$(basename "$t")")
    [ "$f" -gt 0 ] || fail=$((fail + 1))
    printf '%s\n' "$out" | tail -40
  fi
done
# Fuzz corpora replayed through each target's replay main (no libFuzzer needed).
for t in "$B"/fuzz/fuzz_*; do
  [ -x "$t" ] && [ -f "$t" ] || continue
  case "$t" in *.o|*.d) continue;; esac
  name=$(basename "$t"); corpus=fuzz/corpus/${name#fuzz_}
  [ -d "$corpus" ] || { echo "$name: no corpus at $corpus"; fail=$((fail + 1)); failed+=("$name"); continue; }
  if out=$("$t" "$corpus" 2>&1); then
    pass=$((pass + 1)); echo "$name: replayed $(ls "$corpus" | wc -l) inputs"
  else
    fail=$((fail + 1)); failed+=("$name"); printf '%s\n' "$out" | tail -20
  fi
done
echo "$pass $fail" > "$B/tests/unit.tally"
echo "unit: $pass passed, $fail failed"
[ ${#failed[@]} -eq 0 ] || { echo "failing test programs: ${failed[*]}"; exit 1; }
