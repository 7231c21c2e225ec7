# Cross build for aarch64 (Debian/Ubuntu: gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross); tests run under qemu-user (Debian: qemu-user or
# qemu-user-static) through CMAKE_CROSSCOMPILING_EMULATOR.
#
#   cmake --preset aarch64 && cmake --build --preset aarch64 && ctest --preset aarch64
#   tools/aarch64-check.sh does all three and adds a switch.S ABI check.
#
# Overrides (-D on the first configure, or the environment):
#   NUMAGO_AARCH64_TRIPLE   compiler prefix            (aarch64-linux-gnu)
#   NUMAGO_AARCH64_SYSROOT  target libraries for qemu  (/usr/<triple>)
#
# Known qemu-user differences from real aarch64 Linux (qemu 7.2 checked):
#   - madvise(MADV_GUARD_INSTALL) returns 0 but installs nothing, so the
#     default stack guard mode silently has no guard (see core/stack.c);
#     NUMAGO_DEBUG=stackguard=mprotect (and the guard-less switch-out check)
#     do work under qemu.
#   - misaligned sp is not faulted (real kernels enable SP alignment
#     checking), so a 16-byte alignment bug in switch.S would pass here:
#     tools/aarch64-check.sh tests the alignment explicitly.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

if(NOT DEFINED NUMAGO_AARCH64_TRIPLE)
  if(DEFINED ENV{NUMAGO_AARCH64_TRIPLE})
    set(NUMAGO_AARCH64_TRIPLE "$ENV{NUMAGO_AARCH64_TRIPLE}")
  else()
    set(NUMAGO_AARCH64_TRIPLE aarch64-linux-gnu)
  endif()
endif()
if(NOT DEFINED NUMAGO_AARCH64_SYSROOT)
  if(DEFINED ENV{NUMAGO_AARCH64_SYSROOT})
    set(NUMAGO_AARCH64_SYSROOT "$ENV{NUMAGO_AARCH64_SYSROOT}")
  else()
    set(NUMAGO_AARCH64_SYSROOT /usr/${NUMAGO_AARCH64_TRIPLE})
  endif()
endif()
# try_compile projects re-read this file: hand them the same choices
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES NUMAGO_AARCH64_TRIPLE NUMAGO_AARCH64_SYSROOT)

set(CMAKE_C_COMPILER ${NUMAGO_AARCH64_TRIPLE}-gcc)
set(CMAKE_ASM_COMPILER ${NUMAGO_AARCH64_TRIPLE}-gcc)

set(CMAKE_FIND_ROOT_PATH ${NUMAGO_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# -L: where qemu finds the aarch64 ld.so and libc of dynamically linked
# test programs.
find_program(NUMAGO_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(NUMAGO_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${NUMAGO_QEMU_AARCH64};-L;${NUMAGO_AARCH64_SYSROOT})
elseif(NOT CMAKE_HOST_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  message(WARNING "qemu-aarch64 not found (Debian: apt install qemu-user): the aarch64 "
                  "build works but ctest cannot run its tests on this host")
endif()
