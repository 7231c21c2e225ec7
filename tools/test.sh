#!/usr/bin/env bash
# Build numago with warnings as errors and run every test under ctest, then
# the same tests under the asan (ASan+UBSan) and tsan presets
# (NUMAGO_SANITIZERS=0 skips those), then the format check.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
numago_install_deps

jobs=$(nproc)
status=0
run_preset() {
  local preset=$1
  echo "== numago: preset $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  ctest --preset "$preset" -j "$jobs" || status=1
}

run_preset ci
if [ "${NUMAGO_SANITIZERS:-1}" = "1" ]; then
  run_preset asan
  run_preset tsan
fi
tools/format-check.sh || status=1
exit $status
