/* core/arch/aarch64/switch.S — goroutine context switch (AAPCS64).
 *
 * Callee-saved state: x19-x28, fp (x29), lr (x30), sp, d8-d15 (the low
 * halves of v8-v15) and FPCR (rounding mode, flush-to-zero: the aarch64
 * counterpart of MXCSR/x87 CW).  Frame on a switched-out stack (176 bytes):
 *   [sp+0]   x19 x20   [sp+16]  x21 x22   [sp+32]  x23 x24
 *   [sp+48]  x25 x26   [sp+64]  x27 x28   [sp+80]  fp  lr
 *   [sp+96]  d8 d9     [sp+112] d10 d11   [sp+128] d12 d13
 *   [sp+144] d14 d15   [sp+160] fpcr, pad
 */
	.text

/* ng_m *ng_ctx_switch(void **save_sp, void *load_sp, ng_m *m) */
	.globl	ng_ctx_switch
	.hidden	ng_ctx_switch
	.type	ng_ctx_switch,%function
	.p2align 4
ng_ctx_switch:
	sub	sp, sp, #176
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
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x9, sp
	str	x9, [x0]
	mov	sp, x1
	ldr	x9, [sp, #160]
	msr	fpcr, x9
	ldp	x19, x20, [sp, #0]
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
	mov	x0, x2
	ret
	.size	ng_ctx_switch,.-ng_ctx_switch

/* x0 = the M that switched to us (the switch's return value), x19 = g */
	.globl	ng_ctx_trampoline
	.hidden	ng_ctx_trampoline
	.type	ng_ctx_trampoline,%function
	.p2align 4
ng_ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	mov	x1, x19
	mov	x29, #0
	bl	ng_g_start
	brk	#0
	.cfi_endproc
	.size	ng_ctx_trampoline,.-ng_ctx_trampoline

/* void *ng_ctx_make(void *stack_hi, void *g, uint64_t fpctl): fpctl = FPCR */
	.globl	ng_ctx_make
	.hidden	ng_ctx_make
	.type	ng_ctx_make,%function
	.p2align 4
ng_ctx_make:
	and	x0, x0, #~15
	sub	x0, x0, #176
	/* zero the frame, then plant x19 = g, lr = trampoline, fpcr */
	add	x11, x0, #176
	mov	x10, x0
1:	str	xzr, [x10], #8
	cmp	x10, x11
	b.lo	1b
	str	x1, [x0, #0]
	adr	x9, ng_ctx_trampoline
	str	x9, [x0, #88]
	str	x2, [x0, #160]
	ret
	.size	ng_ctx_make,.-ng_ctx_make

/* uint64_t ng_fpctl_read(void): FPCR */
	.globl	ng_fpctl_read
	.hidden	ng_fpctl_read
	.type	ng_fpctl_read,%function
	.p2align 4
ng_fpctl_read:
	mrs	x0, fpcr
	ret
	.size	ng_fpctl_read,.-ng_fpctl_read

	.section .note.GNU-stack,"",@progbits
