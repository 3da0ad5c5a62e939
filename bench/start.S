/*
 * Guest entry for the benchmarks: ring 0 enables SSE and AVX, drops to
 * ring 3 (so PVM-style hosts run the job natively), the job runs, and its
 * HLT (#GP at CPL 3) lands in the one handler every IDT vector points to,
 * which reports the vector's frame RIP and stops with an OUT.
 */
#include "jobs.h"
#define USTACK 0x3f00000
#define CR0_MP 0x2
#define CR0_EM 0x4
#define CR0_TS 0x8
#define CR4_OSFXSR 0x200
#define CR4_OSXMMEXCPT 0x400
#define CR4_OSXSAVE 0x40000
#define CPUID1_ECX_XSAVE 26
#define CPUID1_ECX_AVX 28

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

/* SSE (SDM Vol. 3A 13.1.4): CR0.MP set, EM and TS clear, CR4.OSFXSR and
 * OSXMMEXCPT.  AVX (13.3): CR4.OSXSAVE and XCR0 = x87 | SSE | YMM, each
 * only if the guest CPUID has it (a job that needs it then gets #UD). */
setup:
	mov %cr0, %rax
	and $~(CR0_EM | CR0_TS), %rax
	or $CR0_MP, %rax
	mov %rax, %cr0
	mov %cr4, %rax
	or $(CR4_OSFXSR | CR4_OSXMMEXCPT), %rax
	mov %rax, %cr4
	mov $1, %eax
	xor %ecx, %ecx
	cpuid
	bt $CPUID1_ECX_XSAVE, %ecx
	jnc 2f
	mov %cr4, %rax
	or $CR4_OSXSAVE, %rax
	mov %rax, %cr4
	mov $3, %eax
	bt $CPUID1_ECX_AVX, %ecx
	jnc 1f
	mov $7, %eax
1:	xor %ecx, %ecx
	xor %edx, %edx
	xsetbv
2:	push $0x23
	push $USTACK
	push $0x2
	push $0x2b
	push $user
	iretq
	.section .note.GNU-stack, "", @progbits
