/*
 * The differential tester's two worlds.
 *
 * diff_kernel..diff_kernel_end: the guest's ring-0 code, copied to
 * DIFF_KCODE.  It enters the stream at ring 3 with IRETQ and takes every
 * exception the stream raises (including the final stop) through vector
 * stubs that record the vector, error code, frame, CR2 and all GPRs, then
 * report with one OUT.
 *
 * diff_native_enter/diff_native_end: the host process's way into and out of
 * the same stream, at CPL 3 of the host.
 */
#include "layout.h"

	.section .rodata, "a"
	.code64
	.globl diff_kernel, diff_kernel_end, diff_kernel_vectors
	.balign 16
diff_kernel:
	mov $DIFF_KSTACK, %rsp
	out %al, $DIFF_PORT
	push $0x23		/* SS: user data */
	push $0			/* RSP: the stream loads its own */
	push $0x202		/* RFLAGS: IF, IOPL 0 */
	push $0x2b		/* CS: user code64 */
	push $DIFF_CODE
	iretq

vec_common:
	mov %rax, DIFF_FAULT + FAULT_GPR + 0 * 8
	mov %rcx, DIFF_FAULT + FAULT_GPR + 1 * 8
	mov %rdx, DIFF_FAULT + FAULT_GPR + 2 * 8
	mov %rbx, DIFF_FAULT + FAULT_GPR + 3 * 8
	mov %rbp, DIFF_FAULT + FAULT_GPR + 5 * 8
	mov %rsi, DIFF_FAULT + FAULT_GPR + 6 * 8
	mov %rdi, DIFF_FAULT + FAULT_GPR + 7 * 8
	mov %r8, DIFF_FAULT + FAULT_GPR + 8 * 8
	mov %r9, DIFF_FAULT + FAULT_GPR + 9 * 8
	mov %r10, DIFF_FAULT + FAULT_GPR + 10 * 8
	mov %r11, DIFF_FAULT + FAULT_GPR + 11 * 8
	mov %r12, DIFF_FAULT + FAULT_GPR + 12 * 8
	mov %r13, DIFF_FAULT + FAULT_GPR + 13 * 8
	mov %r14, DIFF_FAULT + FAULT_GPR + 14 * 8
	mov %r15, DIFF_FAULT + FAULT_GPR + 15 * 8
	pop %rax
	mov %rax, DIFF_FAULT + FAULT_VEC
	pop %rax
	mov %rax, DIFF_FAULT + FAULT_ERR
	mov 0(%rsp), %rax
	mov %rax, DIFF_FAULT + FAULT_RIP
	mov 8(%rsp), %rax
	mov %rax, DIFF_FAULT + FAULT_CS
	mov 16(%rsp), %rax
	mov %rax, DIFF_FAULT + FAULT_RFLAGS
	mov 24(%rsp), %rax
	mov %rax, DIFF_FAULT + FAULT_RSP
	mov %rax, DIFF_FAULT + FAULT_GPR + 4 * 8
	mov %cr2, %rax
	mov %rax, DIFF_FAULT + FAULT_CR2
	jmp diff_kernel

/* 16 bytes per vector; exceptions without an error code push a 0 */
	.balign 16
diff_kernel_vectors:
	.set vec, 0
	.rept 256
	.balign 16
	.if vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30
	.else
	push $0
	.endif
	pushq $vec
	jmp vec_common
	.set vec, vec + 1
	.endr
diff_kernel_end:

	.text
	.globl diff_native_enter, diff_native_end
/* void diff_native_enter(void): run the stream at DIFF_CODE */
diff_native_enter:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, diff_host_rsp(%rip)
	stmxcsr diff_host_mxcsr(%rip)
	/* Reload SS: after SYSRET, AMD CPUs may keep stale SS attributes
	 * that 64-bit code ignores but compatibility mode faults on (#SS). */
	mov %ss, %eax
	mov %eax, %ss
	mov $DIFF_CODE, %rax
	jmp *%rax

/* The stream's END pointer, and where the fault handler resumes. */
diff_native_end:
	mov diff_host_rsp(%rip), %rsp
	cld
	ldmxcsr diff_host_mxcsr(%rip)	/* SIMD streams leave theirs */
	fnclex		/* x87 streams may leave an exception pending, */
	emms		/* MMX ones a full tag word */
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

	.bss
	.balign 8
diff_host_rsp: .quad 0
diff_host_mxcsr: .long 0
	.section .note.GNU-stack, "", @progbits
