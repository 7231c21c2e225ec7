/* core/arch/aarch64/switch.S — goroutine context switch (AAPCS64).
 *
 * Only what AAPCS64 says a callee must preserve is saved: x19-x28, fp (x29),
 * lr (x30), sp, d8-d15 (the low halves of v8-v15; the upper halves and
 * v16-v31 are caller-saved) and FPCR (rounding mode, flush-to-zero: the
 * aarch64 counterpart of MXCSR/x87 CW).  FPSR (sticky exception flags) is
 * not callee-saved and is not switched; x18 is a temporary on Linux.
 *
 * Frame on a switched-out stack, from sp upwards (176 bytes, so sp stays
 * 16-byte aligned, which the hardware checks for sp-based accesses):
 *   [sp+0]   x19 x20   [sp+16]  x21 x22   [sp+32]  x23 x24
 *   [sp+48]  x25 x26   [sp+64]  x27 x28   [sp+80]  fp  lr
 *   [sp+96]  d8  d9    [sp+112] d10 d11   [sp+128] d12 d13
 *   [sp+144] d14 d15   [sp+160] FPCR (8 bytes) | pad
 *
 * BTI: the global entry points start with 'bti c' (a NOP where BTI is not
 * implemented), so a linker veneer's 'br x16' may reach them, and the object
 * carries the BTI property below; the link output is BTI-marked only if
 * every other object is too.  The trampoline is only ever entered by 'ret',
 * which BTI does not check.  No GCS (shadow stack) marking: switching
 * stacks by loading lr is exactly what GCS forbids.
 */
	.text

/* ng_m *ng_ctx_switch(void **save_sp, void *load_sp, ng_m *m)
 * x0 = where to save our sp, x1 = sp to load, x2 = value returned in the
 * resumed context. */
	.globl	ng_ctx_switch
	.hidden	ng_ctx_switch
	.type	ng_ctx_switch,%function
	.p2align 4
ng_ctx_switch:
	.cfi_startproc
	hint	#34                  /* bti c */
	sub	sp, sp, #176
	.cfi_def_cfa_offset 176
	mrs	x9, fpcr             /* read early: overlaps the stores */
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	str	x9, [sp, #160]
	/* The same CFI describes the resumed context once sp is switched: it
	 * has the same frame. */
	.cfi_offset x19, -176
	.cfi_offset x20, -168
	.cfi_offset x21, -160
	.cfi_offset x22, -152
	.cfi_offset x23, -144
	.cfi_offset x24, -136
	.cfi_offset x25, -128
	.cfi_offset x26, -120
	.cfi_offset x27, -112
	.cfi_offset x28, -104
	.cfi_offset x29, -96
	.cfi_offset x30, -88
	.cfi_offset d8, -80
	.cfi_offset d9, -72
	.cfi_offset d10, -64
	.cfi_offset d11, -56
	.cfi_offset d12, -48
	.cfi_offset d13, -40
	.cfi_offset d14, -32
	.cfi_offset d15, -24
	mov	x10, sp
	str	x10, [x0]
	mov	sp, x1
	/* Write FPCR only when it differs (almost never): an FPCR write is
	 * context-synchronising and costs tens of cycles on common cores, an
	 * mrs + compare does not (glibc's fesetround/fesetenv do the same). */
	ldr	x10, [sp, #160]
	cmp	x10, x9
	b.eq	1f
	msr	fpcr, x10
1:	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #176
	.cfi_def_cfa_offset 0
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore x29
	.cfi_restore x30
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	mov	x0, x2
	ret
	.cfi_endproc
	.size	ng_ctx_switch,.-ng_ctx_switch

/* First code a new goroutine runs: the switch "returned" here (by 'ret' to
 * the lr planted by ng_ctx_make) with x0 = the M that switched to us, x19 =
 * the G, sp = the 16-aligned stack top and FPCR = the fpctl given. */
	.globl	ng_ctx_trampoline
	.hidden	ng_ctx_trampoline
	.type	ng_ctx_trampoline,%function
	.p2align 4
ng_ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30   /* outermost frame: debuggers stop unwinding here */
	mov	x1, x19              /* x0 = m already */
	mov	x29, #0              /* end of the frame-pointer chain */
	bl	ng_g_start
	brk	#0x3e8               /* ng_g_start never returns */
	.cfi_endproc
	.size	ng_ctx_trampoline,.-ng_ctx_trampoline

/* void *ng_ctx_make(void *stack_hi, void *g, uint64_t fpctl): build the
 * frame above so that the first switch to the returned sp lands in
 * ng_ctx_trampoline with x19 = g, FPCR = fpctl and sp = stack_hi rounded
 * down to 16.  Every other saved register starts at zero. */
	.globl	ng_ctx_make
	.hidden	ng_ctx_make
	.type	ng_ctx_make,%function
	.p2align 4
ng_ctx_make:
	.cfi_startproc
	hint	#34                  /* bti c */
	and	x0, x0, #~15
	sub	x0, x0, #176
	adr	x9, ng_ctx_trampoline
	stp	x1, xzr, [x0, #0]    /* x19 = g, x20 */
	stp	xzr, xzr, [x0, #16]  /* x21 x22 */
	stp	xzr, xzr, [x0, #32]  /* x23 x24 */
	stp	xzr, xzr, [x0, #48]  /* x25 x26 */
	stp	xzr, xzr, [x0, #64]  /* x27 x28 */
	stp	xzr, x9, [x0, #80]   /* fp = 0, lr = trampoline */
	stp	xzr, xzr, [x0, #96]  /* d8 d9 */
	stp	xzr, xzr, [x0, #112] /* d10 d11 */
	stp	xzr, xzr, [x0, #128] /* d12 d13 */
	stp	xzr, xzr, [x0, #144] /* d14 d15 */
	stp	x2, xzr, [x0, #160]  /* FPCR, pad */
	ret
	.cfi_endproc
	.size	ng_ctx_make,.-ng_ctx_make

/* uint64_t ng_fpctl_read(void): this thread's FPCR */
	.globl	ng_fpctl_read
	.hidden	ng_fpctl_read
	.type	ng_fpctl_read,%function
	.p2align 4
ng_fpctl_read:
	.cfi_startproc
	hint	#34                  /* bti c */
	mrs	x0, fpcr
	ret
	.cfi_endproc
	.size	ng_fpctl_read,.-ng_fpctl_read

	.section .note.GNU-stack,"",%progbits

/* GNU property note: GNU_PROPERTY_AARCH64_FEATURE_1_AND = BTI (bit 0).
 * Not PAC (bit 1: this code signs no return address) and not GCS (bit 2). */
	.section .note.gnu.property,"a"
	.p2align 3
	.word	4                    /* name size: "GNU\0" */
	.word	16                   /* descriptor size */
	.word	5                    /* NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.word	0xc0000000           /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
	.word	4                    /* pr_datasz */
	.word	1                    /* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
	.word	0                    /* pad to 8 */
