#!/usr/bin/env bash
# bench/run.sh [BUILD] — what `make bench` runs (issue 5, "Speed"; not part of `make test`):
# embedding throughput beside TFLite and PyTorch (bench/embed.sh), decode beside PIL
# (bench/decode.sh), vector search (bench/search.sh, when present) and search through HTTP
# (bench/http_load.sh). Each prints its table and writes it into its own section of
# docs/PERFORMANCE.md. The machine should be otherwise idle: every table records the load.
# One script failing does not stop the others; the exit status says whether all passed.
set -uo pipefail
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
failed=()
for s in embed decode search http_load; do
  [ -f "bench/$s.sh" ] || { echo "bench: no bench/$s.sh, skipped"; continue; }
  echo "=== bench/$s.sh ($(date -u +%H:%M:%S) UTC, $(uptime | sed 's/.*load/load/'))"
  bash "bench/$s.sh" "$B" || failed+=("$s")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}"
  exit 1
fi
echo "bench: all tables written to docs/PERFORMANCE.md"
