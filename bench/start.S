/*
 * Guest entry for the benchmarks: ring 0 enables SSE and AVX, drops to
 * ring 3 (so PVM-style hosts run the job natively), the job runs, and its
 * HLT (#GP at CPL 3) lands in the one handler every IDT vector points to,
 * which reports the vector's frame RIP and stops with an OUT.
 */
#include "jobs.h"
#define USTACK 0x3f00000
#include "simd_on.h"

	.section .text.start, "ax"
	.code64
	.globl _start, bench_fault, bench_done
_start:
	jmp setup
user:
	mov $BENCH_PARAMS, %edi
	call bench_job
	mov %rax, BENCH_PARAMS + 32
bench_done:
	hlt
	.org 0x40	/* BENCH_FAULT: the runner points the IDT here */
bench_fault:
	mov (%rsp), %rax	/* error code or RIP: the runner compares both */
	mov 8(%rsp), %rbx
	out %al, $BENCH_PORT
	hlt

/* SSE, and AVX where the guest CPUID has it (simd_on.h) */
setup:
	SIMD_ON
	push $0x23
	push $USTACK
	push $0x2
	push $0x2b
	push $user
	iretq
	.section .note.GNU-stack, "", @progbits
