#!/usr/bin/env bash
# tests/run_unit.sh BUILD — runs every cmocka test binary in BUILD/tests and tallies them.
# Writes the tallies to BUILD/tests/unit.tally for run_all.sh; exits non-zero on any failure.
# Skips are counted and named; under CI (CI=true) a skip is a failure unless CI runs that test
# elsewhere (SKIP_OK below): missing models or shared data must not pass CI quietly. Also
# lints the suites' checks (a check whose test runs partly outside it cannot fail).
set -u
B=${1:-build}
pass=0; fail=0; skipped=0; failed=()
# test_catalog_pg: tests/pg.sh runs it against its own server; test_bench: a benchmark.
SKIP_OK='^(test_catalog_pg: .*|test_dnnl: test_bench)$'
for t in "$B"/tests/test_*; do
  [ -x "$t" ] && [ -f "$t" ] || continue
  case "$t" in *.o|*.d) continue;; esac
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -E '^\[  (PASSED|FAILED|  OK|SKIPPED) ' | sed "s|^|$(basename "$t"): |" | grep -v ': \[       OK' || true
  p=$(printf '%s\n' "$out" | grep -cE '^\[       OK \]')
  f=$(printf '%s\n' "$out" | grep -cE '^\[  FAILED  \] [a-z_0-9]+$|^\[  ERROR   \]')
  sk=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([a-z_0-9]*\)$/\1/p' | sort -u)
  if [ -n "$sk" ]; then
    skipped=$((skipped + $(printf '%s\n' "$sk" | wc -l)))
    if [ "${CI:-}" = true ]; then
      bad=$(printf '%s\n' "$sk" | sed "s|^|$(basename "$t"): |" | grep -Ev "$SKIP_OK")
      if [ -n "$bad" ]; then
        printf '%s\n' "$bad" | sed 's/$/ skipped under CI (models or shared data missing?): a failure/'
        fail=$((fail + $(printf '%s\n' "$bad" | wc -l))); failed+=("$(basename "$t")")
      fi
    fi
  fi
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
# The suites' own checks (tests/*.sh): `check NAME [ a ] && [ b ]` counts NAME as passed on
# `[ a ]` alone and runs `[ b ]` outside the check: such a line is a failure here.
lint=$(for f in tests/*.sh tests/browser/*.sh; do
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$f" | grep -nE '^\s*check "[^"]*" +\[ .*\] *(&&|\|\|)' | sed "s|^|$f: |"
done)
if [ -n "$lint" ]; then
  printf '%s\n' "$lint" | sed 's/$/  <- a check whose test runs partly outside it/'; fail=$((fail + 1)); failed+=("suite lint")
else
  pass=$((pass + 1)); echo "suite lint: every check's test runs inside it"
fi
echo "$pass $fail $skipped" > "$B/tests/unit.tally"
echo "unit: $pass passed, $fail failed, $skipped skipped"
[ ${#failed[@]} -eq 0 ] || { echo "failing test programs: ${failed[*]}"; exit 1; }
