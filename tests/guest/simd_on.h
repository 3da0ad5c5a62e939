/*
 * SIMD_ON (GNU as, 64-bit ring 0): the state a compiled C program needs.
 * SSE (SDM Vol. 3A 13.1.4): CR0.MP set, EM and TS clear, CR4.OSFXSR and
 * OSXMMEXCPT.  AVX (13.3): CR4.OSXSAVE and XCR0 = x87 | SSE | YMM, each
 * only if the guest CPUID has it (code that needs it then gets #UD).
 * Clobbers rax, rbx, rcx, rdx.  Used by bench/start.S and
 * tests/cguest/start_guest.S.
 */
#ifndef SKVM_SIMD_ON_H
#define SKVM_SIMD_ON_H
	.macro SIMD_ON
	mov %cr0, %rax
	and $~(0x4 | 0x8), %rax		/* EM, TS */
	or $0x2, %rax			/* MP */
	mov %rax, %cr0
	mov %cr4, %rax
	or $(0x200 | 0x400), %rax	/* OSFXSR, OSXMMEXCPT */
	mov %rax, %cr4
	mov $1, %eax
	xor %ecx, %ecx
	cpuid
	bt $26, %ecx			/* XSAVE */
	jnc 2f
	mov %cr4, %rax
	or $0x40000, %rax		/* OSXSAVE */
	mov %rax, %cr4
	mov $3, %eax
	bt $28, %ecx			/* AVX */
	jnc 1f
	mov $7, %eax
1:	xor %ecx, %ecx
	xor %edx, %edx
	xsetbv
2:
	.endm
#endif
