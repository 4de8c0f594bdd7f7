/*
 * Task context switch for x86-64 (System V ABI). No system call: the signal
 * mask is per OS thread and never changes between tasks.
 *
 * void spio_task_ctx_swap(void **save_sp, void *load_sp)
 *   Pushes the callee-saved registers (rbp, rbx, r12-r15) and the floating
 *   point control words (MXCSR, x87 control word) on the current stack,
 *   stores the stack pointer in *save_sp, loads load_sp and pops the same
 *   frame from it. The return address on the new stack says where to go.
 *
 * A fresh context (built by task_ctx_make() in sched.c) returns into
 * spio_task_ctx_entry with r12 = argument and r13 = function.
 */
#if defined(__x86_64__)

	.text
	.p2align 4
	.globl	spio_task_ctx_swap
	.hidden	spio_task_ctx_swap
	.type	spio_task_ctx_swap, @function
spio_task_ctx_swap:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	spio_task_ctx_swap, .-spio_task_ctx_swap

	.p2align 4
	.globl	spio_task_ctx_entry
	.hidden	spio_task_ctx_entry
	.type	spio_task_ctx_entry, @function
spio_task_ctx_entry:
	.cfi_startproc
	/* Outermost frame of a task: stop unwinders and debuggers here. */
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%r12, %rdi
	callq	*%r13
	ud2	/* the task body never returns: it switches away for good */
	.cfi_endproc
	.size	spio_task_ctx_entry, .-spio_task_ctx_entry

#endif

	.section .note.GNU-stack,"",@progbits
