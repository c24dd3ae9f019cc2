#!/usr/bin/env bash
# tests/run_all.sh BUILD — after the unit tests (run_unit.sh), runs the integration, HTTP,
# reliability, PostgreSQL/replica (pg.sh) and browser suites and prints the overall tally as
# the last line.
set -u
B=${1:-build}
read -r up uf < "$B/tests/unit.tally" 2>/dev/null || { up=0; uf=0; }
tp=$up; tf=$uf; bad=0
for suite in tests/integration.sh tests/server.sh tests/reliability.sh tests/pg.sh tests/browser/run.sh; do
  [ -f "$suite" ] || continue
  out=$(mktemp)
  bash "$suite" "$B" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
  p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  tp=$((tp + ${p:-0})); tf=$((tf + ${f:-0}))
  [ $rc -eq 0 ] || { bad=1; [ "${f:-0}" -gt 0 ] || tf=$((tf + 1)); }
  rm -f "$out"
done
echo "$tp passed, $tf failed"
[ $bad -eq 0 ] && [ $tf -eq 0 ]
