#!/usr/bin/env bash
# Build numago (release) and run the benchmark report: each benchmark with
# its peer (Go's runtime and sync benchmarks) from the same run, and the
# ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
numago_install_deps

cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
mkdir -p bench/results
out="bench/results/$(hostname)-$(date +%Y%m%d-%H%M%S).json"
echo "== numago benchmark report ($(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
build/release/bench/bench_core --reps 5
# A benchmark that fails (an operation returned an error) shows FAILED in
# its row; the rest of the report still runs and the exit status says so.
status=0
build/release/bench/bench_chan --reps 5 || status=1
build/release/bench/bench_sched --reps 5 || status=1
build/release/bench/bench_rss
build/release/bench/bench_idle
build/release/bench/bench_spin --reps 3 || status=1
{
  build/release/bench/bench_core --reps 5 --json --no-peer
  build/release/bench/bench_chan --reps 5 --json --no-peer || status=1
  build/release/bench/bench_sched --reps 5 --json --no-peer || status=1
  build/release/bench/bench_rss --json --no-peer --n 100000
  build/release/bench/bench_idle --json --no-peer
  build/release/bench/bench_spin --reps 3 --json || status=1
} > "$out"
echo "== JSON (numago figures, without peers) written to $out"
exit $status
