#!/usr/bin/env bash
# Build numago with warnings as errors and run every test under ctest, then
# the same tests under the asan (ASan+UBSan) and tsan presets
# (NUMAGO_SANITIZERS=0 skips those), then the libFuzzer targets for a short
# while (NUMAGO_FUZZ=0 or NUMAGO_SANITIZERS=0 skips; NUMAGO_FUZZ_TIME sets
# the seconds per target, default 30), then the format check.
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

# The fuzz preset's seed corpora under ctest, then every target fuzzed at
# once (one process each) for a fixed time on a copy of its corpus; a crash,
# leak or timeout fails CI and leaves its input in build/fuzz/run/.
run_fuzz() {
  local t0=$SECONDS secs=${NUMAGO_FUZZ_TIME:-30} run=build/fuzz/run
  run_preset fuzz
  echo "fuzz: build and seed corpora took $((SECONDS - t0)) s"
  rm -rf "$run"
  local env=(ASAN_OPTIONS=allow_user_segv_handler=1:detect_leaks=1:abort_on_error=1
    LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
  local names=() pids=()
  for bin in build/fuzz/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    local name; name=$(basename "$bin")
    mkdir -p "$run/$name/corpus"
    cp fuzz/corpus/"$name"/* "$run/$name/corpus/"
    env "${env[@]}" "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$run/$name/" "$run/$name/corpus" \
      >"$run/$name/log" 2>&1 &
    names+=("$name")
    pids+=($!)
  done
  for i in "${!names[@]}"; do
    local name=${names[$i]} log=$run/${names[$i]}/log
    if wait "${pids[$i]}"; then
      echo "fuzz: $name: $(sed -n 's/^stat::average_exec_per_sec: *//p' "$log") execs/s," \
        "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log") inputs in ${secs} s"
    else
      status=1
      tail -n 60 "$log"
      echo "fuzz: $name FAILED; reproduce: build/fuzz/fuzz/$name $(ls "$run/$name"/{crash,leak,timeout,oom}-* 2>/dev/null | head -1)"
    fi
  done
  echo "fuzz: stage took $((SECONDS - t0)) s"
}

run_preset ci
if [ "${NUMAGO_SANITIZERS:-1}" = "1" ]; then
  run_preset asan
  run_preset tsan
  if [ "${NUMAGO_FUZZ:-1}" = "1" ]; then
    run_fuzz
  fi
fi
tools/format-check.sh || status=1
exit $status
