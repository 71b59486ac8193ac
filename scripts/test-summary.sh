#!/usr/bin/env bash
# Reads the TRX files of a test run and prints one line: "N passed, N failed, N skipped".
# Fails when a test project ran no test at all (an all-skipped suite hides breakage).
set -euo pipefail
dir=${1:?usage: test-summary.sh RESULTS_DIR}
shopt -s nullglob
files=("$dir"/*.trx)
if [ ${#files[@]} -eq 0 ]; then
  echo "test-summary: no TRX files in $dir" >&2
  echo "0 passed, 0 failed"
  exit 1
fi
attr() { grep -o "<Counters [^>]*>" "$1" | grep -o " $2=\"[0-9]*\"" | grep -o "[0-9]*"; }
passed=0 failed=0 skipped=0 empty=()
for f in "${files[@]}"; do
  p=$(attr "$f" passed); e=$(attr "$f" executed); t=$(attr "$f" total)
  fl=$(( $(attr "$f" failed) + $(attr "$f" error) + $(attr "$f" timeout) + $(attr "$f" aborted) ))
  passed=$((passed + p)); failed=$((failed + fl)); skipped=$((skipped + t - e))
  if [ "$p" -eq 0 ]; then empty+=("$(basename "$f")"); fi
done
status=0
for f in "${empty[@]}"; do
  echo "test-summary: $f passed no test (all skipped or none found)" >&2
  status=1
done
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
