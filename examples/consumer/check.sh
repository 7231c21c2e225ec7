#!/usr/bin/env bash
# Install numago into a scratch prefix, then build and run hello.c against it
# twice: through the CMake package (numago::numago) and through pkg-config.
set -euo pipefail
build=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/examples/consumer" -B "$work/cm" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/cm/consumer"
libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -1)
PKG_CONFIG_PATH="$libdir" cc -o "$work/pc" "$src/examples/hello.c" \
  $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs numago) -pthread
LD_LIBRARY_PATH="$(dirname "$libdir"):${LD_LIBRARY_PATH:-}" "$work/pc"
