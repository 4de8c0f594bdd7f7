/*
 * Task context switch for AArch64 (AAPCS64). No system call.
 *
 * void spio_task_ctx_swap(void **save_sp, void *load_sp)
 *   Saves the callee-saved registers x19-x28, the frame pointer x29, the
 *   link register x30, d8-d15 and FPCR in a 176-byte frame on the current
 *   stack, stores sp in *save_sp, loads load_sp, restores the same frame
 *   from it and returns to the loaded x30.
 *
 * A fresh context (built by task_ctx_make() in sched.c) returns into
 * spio_task_ctx_entry with x19 = argument and x20 = function.
 */
#if defined(__aarch64__)

	.text
	.p2align 4
	.globl	spio_task_ctx_swap
	.hidden	spio_task_ctx_swap
	.type	spio_task_ctx_swap, %function
spio_task_ctx_swap:
	.cfi_startproc
	sub	sp, sp, #176
	.cfi_adjust_cfa_offset 176
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
	ldr	x9, [sp, #160]
	msr	fpcr, x9
	add	sp, sp, #176
	ret
	.cfi_endproc
	.size	spio_task_ctx_swap, .-spio_task_ctx_swap

	.p2align 4
	.globl	spio_task_ctx_entry
	.hidden	spio_task_ctx_entry
	.type	spio_task_ctx_entry, %function
spio_task_ctx_entry:
	.cfi_startproc
	/* Outermost frame of a task: stop unwinders and debuggers here. */
	.cfi_undefined x30
	mov	x29, #0
	mov	x0, x19
	blr	x20
	brk	#0	/* the task body never returns: it switches away for good */
	.cfi_endproc
	.size	spio_task_ctx_entry, .-spio_task_ctx_entry

	.section .note.GNU-stack,"",%progbits
#else
	.section .note.GNU-stack,"",@progbits
#endif
