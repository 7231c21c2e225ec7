#!/usr/bin/env bash
# Install the Debian packages numago builds, tests and benchmarks against, if
# any are missing.  Sourced by tools/report.sh and tools/test.sh.
set -euo pipefail

NUMAGO_DEBS=(
  build-essential cmake ninja-build pkg-config clang-format
  libhwloc-dev hwloc libpapi-dev
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
  libopenmpi-dev openmpi-bin
  golang-go
  libtbb-dev gnuplot-nox
  clang-14 libclang-rt-14-dev llvm-14
)

numago_install_deps() {
  local missing=()
  for p in "${NUMAGO_DEBS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "numago: installing missing Debian packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
