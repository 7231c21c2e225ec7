/* core/arch/x86_64/switch.S — goroutine context switch (System V x86-64).
 *
 * Only what the ABI says a callee must preserve is saved: rbx, rbp, r12-r15,
 * the stack pointer, MXCSR's control bits and the x87 control word.  No
 * signal mask and no system call (which is why this is not swapcontext: that
 * costs ~2 us here against a few ns for this).
 *
 * Frame on a switched-out stack, from sp upwards:
 *   [sp+0]  MXCSR (4 bytes) | x87 CW (2 bytes) | pad
 *   [sp+8]  r15  [sp+16] r14  [sp+24] r13  [sp+32] r12
 *   [sp+40] rbx  [sp+48] rbp  [sp+56] return address
 */
	.text

/* ng_m *ng_ctx_switch(void **save_sp, void *load_sp, ng_m *m)
 * rdi = where to save our sp, rsi = sp to load, rdx = value returned in the
 * resumed context. */
	.globl	ng_ctx_switch
	.hidden	ng_ctx_switch
	.type	ng_ctx_switch,@function
	.p2align 4
ng_ctx_switch:
	.cfi_startproc
	/* stmxcsr is slow (~12 cycles on Zen): issue it first, into the slot
	 * the frame below will have (the red zone), so the pushes overlap it */
	stmxcsr	-56(%rsp)
	fnstcw	-52(%rsp)
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	/* Always reload: comparing first means reading back what stmxcsr just
	 * wrote, which waits out its latency and measured slower (17.0 against
	 * 15.9 ns per yield on EPYC) than ldmxcsr + fldcw. */
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	movq	%rdx, %rax
	ret
	.cfi_endproc
	.size	ng_ctx_switch,.-ng_ctx_switch

/* First code a new goroutine runs: the switch "returned" here with rax = the
 * M that switched to us and rbx = the G (planted by ng_ctx_make). */
	.globl	ng_ctx_trampoline
	.hidden	ng_ctx_trampoline
	.type	ng_ctx_trampoline,@function
	.p2align 4
ng_ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip   /* outermost frame: debuggers stop unwinding here */
	movq	%rax, %rdi
	movq	%rbx, %rsi
	xorl	%ebp, %ebp
	call	ng_g_start
	ud2                  /* ng_g_start never returns */
	.cfi_endproc
	.size	ng_ctx_trampoline,.-ng_ctx_trampoline

/* void *ng_ctx_make(void *stack_hi, void *g, uint64_t fpctl): build the
 * frame above so the first switch to the returned sp lands in
 * ng_ctx_trampoline with rbx = g and the stack 16-byte aligned at the call
 * into C.  fpctl = MXCSR | x87 CW << 32. */
	.globl	ng_ctx_make
	.hidden	ng_ctx_make
	.type	ng_ctx_make,@function
	.p2align 4
ng_ctx_make:
	.cfi_startproc
	movq	%rdi, %rax
	andq	$-16, %rax
	subq	$16, %rax            /* after 'ret' sp == this: 16-aligned */
	leaq	ng_ctx_trampoline(%rip), %rcx
	movq	%rcx, -8(%rax)       /* return address */
	movq	$0, -16(%rax)        /* rbp */
	movq	%rsi, -24(%rax)      /* rbx = g */
	movq	$0, -32(%rax)        /* r12 */
	movq	$0, -40(%rax)        /* r13 */
	movq	$0, -48(%rax)        /* r14 */
	movq	$0, -56(%rax)        /* r15 */
	movq	%rdx, -64(%rax)      /* MXCSR, x87 CW */
	subq	$64, %rax
	ret
	.cfi_endproc
	.size	ng_ctx_make,.-ng_ctx_make

/* uint64_t ng_fpctl_read(void): this thread's MXCSR | x87 CW << 32 */
	.globl	ng_fpctl_read
	.hidden	ng_fpctl_read
	.type	ng_fpctl_read,@function
	.p2align 4
ng_fpctl_read:
	.cfi_startproc
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	movq	$0, (%rsp)
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	(%rsp), %rax
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	ng_fpctl_read,.-ng_fpctl_read

	.section .note.GNU-stack,"",@progbits
