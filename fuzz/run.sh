#!/usr/bin/env bash
# fuzz/run.sh SECONDS — runs every libFuzzer target in build-fuzz/ (make fuzz) for SECONDS on a
# copy of its seed corpus (new inputs stay in build-fuzz/corpus/, the seeds are not touched).
# A crash leaves its input in build-fuzz/crash/NAME/ and fails the run. Used by `make fuzz-run`.
set -u
secs=${1:-30}
bad=0
for t in build-fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  n=$(basename "$t"); c=${n#fuzz_}
  mkdir -p "build-fuzz/corpus/$c" "build-fuzz/crash/$c"
  cp -n fuzz/corpus/"$c"/* "build-fuzz/corpus/$c/" 2>/dev/null
  if "$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
       -artifact_prefix="build-fuzz/crash/$c/" "build-fuzz/corpus/$c" > "build-fuzz/$n.log" 2>&1; then
    echo "$n: $(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/$n.log") inputs in ${secs} s, no crash"
  else
    bad=1; echo "$n: FAILED (input in build-fuzz/crash/$c/)"; grep -E 'ERROR|runtime error|SUMMARY' "build-fuzz/$n.log" | head -5
  fi
done
exit $bad
