/*
 * The compiled-C guest's entry (cg.h): ring 0 enables SSE and, when the
 * guest CPUID has them, XSAVE and AVX (XCR0 = x87 | SSE | YMM), then
 * IRETQ to ring 3, where cg_main runs (so PVM-style hosts run it natively).
 * Ring 3 asks ring 0 for output and exit with a HLT (#GP at CPL 3) at a
 * known address; ring 0 then sends the bytes to CG_PORT_OUT with REP OUTSB,
 * or the status to CG_PORT_EXIT.  Every exception vector has a stub (the
 * runner's IDT points at them); any other exception is reported with its
 * frame through CG_PORT_FAULT.
 */
#include "cg.h"
#include "simd_on.h"

	.section .text.start, "ax"
	.code64
	.globl _start, cg_write
_start:
	SIMD_ON
	push $0x23		/* user data */
	push $CG_USTACK
	push $0x2
	push $0x2b		/* user code */
	push $user
	iretq
user:
	call cg_main
	mov %eax, %edi
exit_hlt:
	hlt			/* ring 0: the status in edi to CG_PORT_EXIT */
	jmp exit_hlt

/* cg_write(p, n) */
cg_write:
	mov %rsi, %rcx
	mov %rdi, %rsi
write_hlt:
	hlt			/* ring 0: rcx bytes at rsi to CG_PORT_OUT */
	ret

/* vector v: push a zero error code where the CPU pushes none, then v */
	.org CG_STUBS - CG_LOAD
	.set v, 0
	.rept 32
	.balign 16
	.if v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30
	.else
	pushq $0
	.endif
	pushq $v
	jmp fault
	.set v, v + 1
	.endr
fault:
	cmpq $13, (%rsp)
	jne report
	cmpq $write_hlt, 16(%rsp)
	je do_write
	cmpq $exit_hlt, 16(%rsp)
	je do_exit
report:
	mov (%rsp), %rax	/* vector */
	mov 8(%rsp), %rbx	/* error code */
	mov 16(%rsp), %rcx	/* RIP */
	mov 24(%rsp), %rdi	/* CS */
	mov %cr2, %rsi
	mov $CG_PORT_FAULT, %dx
	out %eax, %dx
	hlt
	jmp report
do_write:
	mov $CG_PORT_OUT, %dx
	rep outsb
	addq $1, 16(%rsp)	/* past the HLT */
	add $16, %rsp		/* vector, error code */
	iretq
do_exit:
	mov %edi, %eax
	mov $CG_PORT_EXIT, %dx
	out %eax, %dx
	hlt
	jmp do_exit
	.section .note.GNU-stack, "", @progbits
