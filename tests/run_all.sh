#!/usr/bin/env bash
# tests/run_all.sh BUILD — after the unit tests (run_unit.sh), runs the integration, HTTP,
# reliability, PostgreSQL/replica (pg.sh), CLI (cli.sh: the demo, tune, map, eval, signals),
# API (api.sh: the header's example, liblookalike.so, make install), bench report (bench.sh) and
# browser suites and prints the overall tally ("N passed, M failed, S skipped") as the last line.
# A suite that is missing, exits non-zero or prints no tally line is a failure.
# LK_SUITES="tests/a.sh tests/b.sh" runs only those.
set -u
B=${1:-build}
read -r up uf us < "$B/tests/unit.tally" 2>/dev/null || { up=0; uf=1; us=0; echo "run_all: no $B/tests/unit.tally (run make unit-test)"; }
tp=$up; tf=$uf; ts=${us:-0}; bad=0
[ "$uf" -eq 0 ] || bad=1
for suite in ${LK_SUITES:-tests/integration.sh tests/server.sh tests/writes.sh tests/reliability.sh tests/pg.sh tests/cli.sh tests/api.sh tests/python.sh tests/bench.sh tests/browser/run.sh}; do
  if [ ! -f "$suite" ]; then echo "run_all: suite $suite is missing: a failure"; tf=$((tf + 1)); bad=1; continue; fi
  out=$(mktemp)
  bash "$suite" "$B" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
  rm -f "$out"
  if [ -z "$line" ]; then echo "run_all: $suite printed no tally line (exit $rc): a failure"; tf=$((tf + 1)); bad=1; continue; fi
  p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
  tp=$((tp + p)); tf=$((tf + f)); ts=$((ts + ${s:-0}))
  [ $rc -eq 0 ] || { bad=1; [ "$f" -gt 0 ] || tf=$((tf + 1)); }
done
echo "$tp passed, $tf failed, $ts skipped"
[ $bad -eq 0 ] && [ $tf -eq 0 ]
