#!/usr/bin/env bash
# Build numago (release preset) and run the benchmark report: every
# benchmark with its peer (Go's runtime and sync benchmarks, raw OpenCL,
# OpenMP, oneTBB) from the same run, assembled by tools/report.py into ONE
# table (benchmark, unit, numago, peer, ratio, target, note), a JSON file
# bench/results/<host>-<date>.json (all rows, each benchmark's raw --json
# objects, machine information) and gnuplot PNGs next to it (-ratios.png:
# numago/peer per row; -scaling.png: speedup vs Ps for the benchmarks that
# take --procs).
#
#   tools/report.sh                  default set, sized for a 2-core machine
#                                    (about 5 minutes)
#   tools/report.sh --full           server sizes, longer runs, every row
#   tools/report.sh --procs 1,2,4,8  P counts of the scaling curves
#                                    (default: 1 and all CPUs)
#
# A benchmark that fails (non-zero exit, timeout, a row that says FAILED)
# shows FAILED in its row; the rest of the report still runs and the exit
# status is 1.
set -euo pipefail
cd "$(dirname "$0")/.."

full=0
procs=""
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1 ;;
    --procs) procs="${2:?--procs needs a list, e.g. 1,2,4}"; shift ;;
    --procs=*) procs="${1#--procs=}" ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "report.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$procs" ]; then
  if [ "$(nproc)" -gt 1 ]; then procs="1,$(nproc)"; else procs="1"; fi
fi
case "$procs" in
  *[!0-9,]*|,*|*,|*,,*) echo "report.sh: bad --procs '$procs'" >&2; exit 2 ;;
esac

. tools/deps.sh
NUMAGO_DEBS+=(python3) # tools/report.py (in Debian's base system; checked anyway)
numago_install_deps

cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"

bin=build/release/bench
mkdir -p bench/results
stamp="$(hostname)-$(date +%Y%m%d-%H%M%S)"
out="bench/results/$stamp.json"
raw=$(mktemp -d "${TMPDIR:-/tmp}/numago-report.XXXXXX")
trap 'rm -rf "$raw"' EXIT
mode=default
[ $full -eq 1 ] && mode=full
echo "== numago benchmark report ($mode; $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); scaling Ps: $procs)"

# run NAME TIMEOUT_S CMD...: the command's --json lines to $raw/NAME.json,
# its exit status (124: timed out), seconds and stderr beside them
run() {
  local name=$1 limit=$2
  shift 2
  if [ ! -x "$1" ]; then
    echo "-- $name: not built, skipped"
    return 0
  fi
  local t0 rc=0
  t0=$(date +%s)
  printf -- '-- %-12s ' "$name"
  timeout --kill-after=10 "$limit" "$@" >"$raw/$name.json" 2>"$raw/$name.err" || rc=$?
  echo "$rc" >"$raw/$name.rc"
  echo $(($(date +%s) - t0)) >"$raw/$name.secs"
  if [ "$rc" -eq 0 ]; then
    echo "ok ($(cat "$raw/$name.secs") s)"
  else
    echo "FAILED (exit status $rc, $(cat "$raw/$name.secs") s; stderr: $(tail -n 1 "$raw/$name.err"))"
  fi
}

# run_mpi TIMEOUT_S ARGS...: bench_mpi as 2 ranks (more ranks than cores
# allowed; as root mpirun needs to be told)
run_mpi() {
  local limit=$1
  shift
  if [ ! -x $bin/bench_mpi ] || ! command -v mpirun >/dev/null; then
    echo "-- bench_mpi: not built (no MPI), skipped"
    return 0
  fi
  local flags=(-np 2 --oversubscribe)
  [ "$(id -u)" = 0 ] && flags+=(--allow-run-as-root)
  run bench_mpi "$limit" "$(command -v mpirun)" "${flags[@]}" $bin/bench_mpi "$@"
}

if [ $full -eq 0 ]; then
  # 2-core sizing: shorter repetitions (Go's peers get the same benchtime)
  run bench_core 120 $bin/bench_core --json --reps 5 --benchtime 200
  run bench_chan 240 $bin/bench_chan --json --reps 5 --benchtime 100
  run bench_sched 240 $bin/bench_sched --json --reps 5 --benchtime 100
  run bench_rss 120 $bin/bench_rss --json --n 100000
  run bench_idle 60 $bin/bench_idle --json
  run bench_spin 180 $bin/bench_spin --json --reps 3
  # OpenCL offload against raw OpenCL on the same device (built only with
  # OpenCL; PoCL's CPU device where there is no other)
  run bench_cl 180 $bin/bench_cl --json --reps 5 --quick
  # MPI bridge against plain MPI, 2 ranks (built only with MPI)
  run_mpi 120 --json --reps 5
  # task-parallel kernels (fib, UTS, nqueens, cilksort, skynet) against OpenMP
  # tasks, oneTBB task_group and Go (skynet), same run, same threads; with
  # its peers (the ratios), at each P count (scaling)
  run bench_tasks 300 $bin/bench_tasks --json --reps 5 --quick --procs "$procs"
  # NUMA: STREAM triad vs OpenMP (scaling), latency matrix, ping-pong
  run bench_numa 300 $bin/bench_numa --json --quick --procs "$procs"
else
  run bench_core 600 $bin/bench_core --json --reps 10
  run bench_chan 1200 $bin/bench_chan --json --reps 10
  run bench_sched 1200 $bin/bench_sched --json --reps 10
  run bench_rss 600 $bin/bench_rss --json
  run bench_idle 120 $bin/bench_idle --json
  run bench_spin 600 $bin/bench_spin --json --reps 3
  run bench_cl 1200 $bin/bench_cl --json --reps 10
  run_mpi 600 --json --reps 10
  run bench_tasks 3600 $bin/bench_tasks --json --reps 5 --full --procs "$procs"
  run bench_numa 3600 $bin/bench_numa --json --reps 10 --procs "$procs"
fi

echo
status=0
python3 tools/report.py --raw "$raw" --out "$out" --mode "$mode" --procs "$procs" || status=1
exit $status
