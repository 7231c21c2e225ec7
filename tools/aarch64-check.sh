#!/usr/bin/env bash
# tools/aarch64-check.sh — build numago for aarch64 and test it under qemu-user.
#
#   tools/aarch64-check.sh [extra ctest arguments, e.g. -R smoke or -j4]
#
# 1. cmake --preset aarch64, cmake --build --preset aarch64 (-Werror),
#    ctest --preset aarch64 (each test runs under qemu-aarch64): prints
#    ctest's summary.
# 2. ABI check of core/arch/aarch64/switch.S on its own: every AAPCS64
#    callee-saved register (x19-x28, fp, sp, d8-d15) survives a switch,
#    FPCR is per context, ng_ctx_make's first switch reaches ng_g_start(m, g)
#    with a 16-byte aligned sp, and the same again with BTI and PAC enforced
#    (-mbranch-protection=standard).  qemu-user does not fault a misaligned
#    sp the way real hardware does, so alignment is checked explicitly.
# 3. Notes whether this qemu honours MADV_GUARD_INSTALL (informational).
#
# Needs: cmake >= 3.25, ninja, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross,
# qemu-user.  Exits non-zero if anything fails.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
triple=${NUMAGO_AARCH64_TRIPLE:-aarch64-linux-gnu}
sysroot=${NUMAGO_AARCH64_SYSROOT:-/usr/$triple}
cc=$triple-gcc
qemu=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)

missing=
for t in cmake ninja "$cc"; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
[ -n "$qemu" ] || missing="$missing qemu-aarch64"
if [ -n "$missing" ]; then
	echo "aarch64-check: missing:$missing" >&2
	echo "  (Debian: apt install cmake ninja-build gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)" >&2
	exit 2
fi
run() { "$qemu" -L "$sysroot" "$@"; }

status=0
work=$(mktemp -d "${TMPDIR:-/tmp}/numago-aarch64.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT

# ------------------------------------------------------ 1. preset + ctest
echo "== configure + build (preset aarch64)"
if ! cmake --preset aarch64 >"$work/configure.log" 2>&1; then
	cat "$work/configure.log"
	echo "aarch64-check: configure FAILED" >&2
	exit 1
fi
if ! cmake --build --preset aarch64 >"$work/build.log" 2>&1; then
	cat "$work/build.log"
	echo "aarch64-check: build FAILED" >&2
	exit 1
fi
echo "== ctest --preset aarch64 $*"
ctest --preset aarch64 "$@" >"$work/ctest.log" 2>&1
ctest_rc=$?
if [ $ctest_rc -ne 0 ]; then
	# everything before the summary: outputOnFailure shows what failed
	sed '/tests passed, /,$d' "$work/ctest.log"
	status=1
else
	grep -E '^ *[0-9]+/[0-9]+ Test +#' "$work/ctest.log"
fi
echo "-- ctest summary (qemu: $("$qemu" --version | head -n1))"
sed -n '/tests passed/,$p' "$work/ctest.log"

# ------------------------------------------------- 2. switch.S ABI check
cat >"$work/probe.S" <<'EOF'
/* uint64_t probe_switch(void **save, void *load, void *m, void **ret_m):
 * fill every callee-saved register with a pattern, ng_ctx_switch away and,
 * once resumed, return a mask of those that came back wrong (bits 0-9:
 * x19-x28, 10: fp, 11: sp, 12-19: d8-d15); *ret_m = the switch's x0. */
	.text
	.globl	probe_switch
	.type	probe_switch,%function
probe_switch:
	hint	#34
	hint	#25                  /* paciasp */
	stp	x29, x30, [sp, #-176]!
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	str	x3, [sp, #160]
	.irp	r, 19,20,21,22,23,24,25,26,27,28
	movz	x\r, #0x\r\r, lsl #48
	movk	x\r, #0x5a5a
	.endr
	.irp	r, 8,9,10,11,12,13,14,15
	movz	x9, #0x\r\r, lsl #48
	movk	x9, #0xa5a5
	fmov	d\r, x9
	.endr
	mov	x29, sp
	bl	ng_ctx_switch
	ldr	x3, [sp, #160]
	str	x0, [x3]
	mov	x0, #0
	mov	x10, #0
	.irp	r, 19,20,21,22,23,24,25,26,27,28
	movz	x9, #0x\r\r, lsl #48
	movk	x9, #0x5a5a
	cmp	x9, x\r
	cset	x11, ne
	lsl	x11, x11, x10
	orr	x0, x0, x11
	add	x10, x10, #1
	.endr
	mov	x9, sp
	cmp	x29, x9
	cset	x11, ne
	lsl	x11, x11, x10
	orr	x0, x0, x11
	add	x10, x10, #2
	.irp	r, 8,9,10,11,12,13,14,15
	movz	x9, #0x\r\r, lsl #48
	movk	x9, #0xa5a5
	fmov	x12, d\r
	cmp	x9, x12
	cset	x11, ne
	lsl	x11, x11, x10
	orr	x0, x0, x11
	add	x10, x10, #1
	.endr
	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldp	x29, x30, [sp], #176
	hint	#29                  /* autiasp */
	ret
	.size	probe_switch,.-probe_switch

	.section .note.GNU-stack,"",%progbits
	.section .note.gnu.property,"a"
	.p2align 3
	.word	4, 16, 5
	.asciz	"GNU"
	.word	0xc0000000, 4, 3, 0  /* AARCH64_FEATURE_1_AND: BTI | PAC */
EOF
cat >"$work/start.S" <<'EOF'
/* _start for the BTI build (-nostartfiles): Debian's crt1.o has no BTI
 * landing pad, so a BTI-enforced executable cannot use it. */
	.text
	.globl	_start
	.type	_start,%function
_start:
	hint	#34
	mov	x29, #0
	mov	x30, #0
	mov	x5, x0               /* rtld_fini */
	ldr	x1, [sp]             /* argc */
	add	x2, sp, #8           /* argv */
	mov	x6, sp               /* stack_end */
	adrp	x0, main
	add	x0, x0, :lo12:main
	mov	x3, #0
	mov	x4, #0
	bl	__libc_start_main
	brk	#0
	.size	_start,.-_start
	.section .note.GNU-stack,"",%progbits
	.section .note.gnu.property,"a"
	.p2align 3
	.word	4, 16, 5
	.asciz	"GNU"
	.word	0xc0000000, 4, 3, 0  /* AARCH64_FEATURE_1_AND: BTI | PAC */
EOF
cat >"$work/abi.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>

void *ng_ctx_switch(void **save_sp, void *load_sp, void *m);
void *ng_ctx_make(void *stack_hi, void *g, uint64_t fpctl);
uint64_t ng_fpctl_read(void);
uint64_t probe_switch(void **save, void *load, void *m, void **ret_m);

#define FPCR_MAIN ((uint64_t)3 << 22)                  /* RMode: toward zero */
#define FPCR_CO ((uint64_t)1 << 24 | (uint64_t)1 << 22) /* FZ, RMode: +inf */
#define M_MAIN ((void *)0x1111)
#define M_CO ((void *)0x2222)
#define G ((void *)0x6666)

static void *main_sp, *co_sp;
static int fails, starts;
static _Alignas(16) char stack[64 << 10];

#define CHECK(c) \
	do { \
		if (!(c)) { \
			fails++; \
			fprintf(stderr, "FAIL abi.c:%d: %s\n", __LINE__, #c); \
		} \
	} while (0)

static inline uint64_t get_fpcr(void)
{
	uint64_t v;
	__asm__ volatile("mrs %0, fpcr" : "=r"(v));
	return v;
}
static inline void set_fpcr(uint64_t v) { __asm__ volatile("msr fpcr, %0" ::"r"(v)); }

__attribute__((noreturn, noinline)) void ng_g_start(void *m, void *g)
{
	uintptr_t sp;
	__asm__ volatile("mov %0, sp" : "=r"(sp));
	starts++;
	CHECK(m == M_MAIN);
	CHECK(g == G);
	CHECK(sp % 16 == 0);
	CHECK(sp > (uintptr_t)stack && sp <= (uintptr_t)(stack + sizeof stack));
	CHECK(*(void **)__builtin_frame_address(0) == NULL); /* fp chain ends */
	CHECK(get_fpcr() == FPCR_CO);
	for (;;) {
		__asm__ volatile("mov x19, #-1\n mov x20, #-1\n mov x21, #-1\n mov x22, #-1\n"
		                 "mov x23, #-1\n mov x24, #-1\n mov x25, #-1\n mov x26, #-1\n"
		                 "mov x27, #-1\n mov x28, #-1\n"
		                 "movi d8, #0\n movi d9, #0\n movi d10, #0\n movi d11, #0\n"
		                 "movi d12, #0\n movi d13, #0\n movi d14, #0\n movi d15, #0\n" ::
		                     : "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26",
		                       "x27", "x28", "d8", "d9", "d10", "d11", "d12", "d13",
		                       "d14", "d15");
		void *m2 = ng_ctx_switch(&co_sp, main_sp, M_CO);
		CHECK(m2 == M_MAIN);
		CHECK(get_fpcr() == FPCR_CO);
	}
}

int main(void)
{
	uint64_t saved = get_fpcr();
	/* through a pointer: an indirect call needs switch.S's BTI pads */
	uint64_t (*volatile fpctl_read)(void) = ng_fpctl_read;
	CHECK(fpctl_read() == saved);
	set_fpcr(FPCR_MAIN);
	CHECK(fpctl_read() == FPCR_MAIN);
	co_sp = ng_ctx_make(stack + sizeof stack - 8, G, FPCR_CO); /* misaligned top */
	CHECK((uintptr_t)co_sp % 16 == 0);
	for (int i = 0; i < 1000 && fails == 0; i++) {
		void *rm = NULL;
		uint64_t bad = probe_switch(&main_sp, co_sp, M_MAIN, &rm);
		if (bad != 0) {
			fails++;
			fprintf(stderr, "FAIL: callee-saved registers clobbered, mask %#llx "
			        "(bits 0-9 x19-x28, 10 fp, 11 sp, 12-19 d8-d15)\n",
			        (unsigned long long)bad);
		}
		CHECK(rm == M_CO);
		CHECK(get_fpcr() == FPCR_MAIN);
	}
	CHECK(starts == 1);
	set_fpcr(saved);
	return fails != 0;
}
EOF
abi_case() { # name, then extra cc flags
	local name=$1
	shift
	if ! "$cc" -O2 -fno-omit-frame-pointer -Wall -Wextra -Werror "$@" -o "$work/$name" \
		"$work/abi.c" "$work/probe.S" core/arch/aarch64/switch.S >"$work/$name.log" 2>&1; then
		grep -v 'force-bti when all inputs' "$work/$name.log"
		echo "FAILED (build)"
		status=1
	elif run "$work/$name"; then
		echo "ok"
	else
		echo "FAILED"
		status=1
	fi
}
echo "== switch.S ABI check"
printf '   plain:                  '
abi_case abi_plain
printf '   BTI + PAC enforced:     '
abi_case abi_bti -mbranch-protection=standard -nostartfiles -Wl,-z,force-bti "$work/start.S"

# ------------------------------------------------ 3. MADV_GUARD_INSTALL
cat >"$work/guard.c" <<'EOF'
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd[2];
	if (p == MAP_FAILED || pipe(fd) != 0)
		return 3;
	if (madvise(p, (size_t)pg, 102 /* MADV_GUARD_INSTALL */) != 0)
		return 2; /* kernel says no: core/stack.c falls back to mprotect */
	return write(fd[1], p, 1) < 0 ? 0 : 1; /* a real guard makes this EFAULT */
}
EOF
if "$cc" -O2 -o "$work/guard" "$work/guard.c" >/dev/null 2>&1; then
	run "$work/guard"
	case $? in
	0) echo "-- note: MADV_GUARD_INSTALL works under this qemu" ;;
	1) echo "-- note: this qemu accepts MADV_GUARD_INSTALL but installs no guard: in the" \
	        "default stackguard mode goroutine stack overflows go undetected here" \
	        "(NUMAGO_DEBUG=stackguard=mprotect detects them)" ;;
	2) echo "-- note: MADV_GUARD_INSTALL refused: numago uses mprotect guards here" ;;
	*) echo "-- note: MADV_GUARD_INSTALL probe inconclusive" ;;
	esac
fi

if [ $status -eq 0 ]; then
	echo "aarch64-check: PASSED"
else
	echo "aarch64-check: FAILED" >&2
fi
exit $status
