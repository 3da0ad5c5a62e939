/* XSAVE family (SDM vol. 1 13, vol. 2 XSETBV/XGETBV/XSAVE/XRSTOR/XSAVEC/
 * XSAVEOPT): #UD without CR4.OSXSAVE, CPUID.1:ECX.OSXSAVE following CR4,
 * XSETBV's #GP cases (bit 0 clear, YMM without SSE, unsupported bits,
 * XCR1), leaf 0xD sizes (EBX for the XCR0 in force, ECX for all supported),
 * then from ring 3 (which the host runs natively; its ring-0 emulator has
 * no XGETBV): XGETBV, XSAVE/XRSTOR round trips with XSTATE_BV,
 * XRSTOR of an init component, XRSTOR's header #GPs, a misaligned XSAVE,
 * XSAVEOPT and XSAVEC (when CPUID has them).  Ring 3 keeps its results in
 * memory; ring 0 checks them at the end (#GP from HLT). */
#include "guest.h"
#define USTACK 0x60000
	GUEST_MODE 64, 1
	.code64
	.globl _start
_start:
	SET_GATE64 idt, 6, ud_handler
	SET_GATE64 idt, 13, gp_handler
	lidt idtr
	xor %r13d, %r13d		/* #UD count */
	xor %r15d, %r15d		/* #GP count */
	mov $1, %eax
	cpuid
	bt $26, %ecx
	PASS_IF c, "CPUID.1:ECX.XSAVE"
	bt $27, %ecx
	PASS_IF nc, "OSXSAVE clear while CR4.OSXSAVE is"
	/* XGETBV from ring 3 (the host runs ring-0 XGETBV in its emulator,
	 * which lacks it): #UD without CR4.OSXSAVE */
	IRET_TO_USER64 user0, USTACK
user0:
	lea 1f(%rip), %rbp
	xor %ecx, %ecx
	xgetbv				/* #UD */
1:
user0_end:
	hlt				/* #GP: back to ring 0 */
phase2:
	CHECK_EQ $1, %r13, "XGETBV without CR4.OSXSAVE: #UD"
	mov $0x7000, %rsp		/* the #GP frame is dropped */
	xor %r15d, %r15d
	mov %cr4, %rax
	or $0x40600, %rax		/* OSXSAVE, OSFXSR, OSXMMEXCPT */
	mov %rax, %cr4
	mov $1, %eax
	cpuid
	bt $27, %ecx
	PASS_IF c, "CPUID.1:ECX.OSXSAVE follows CR4"
	mov $0xd, %eax
	xor %ecx, %ecx
	cpuid
	mov %eax, %r12d			/* supported XCR0, low half */
	CHECK_EQ $576, %ebx, "leaf 0xD EBX: 576 bytes for XCR0 = x87"
	/* XSETBV #GP cases */
	xor %edx, %edx
	xor %ecx, %ecx
	xor %eax, %eax
	lea 1f(%rip), %rbp
	xsetbv				/* bit 0 clear */
1:	mov $5, %eax
	lea 1f(%rip), %rbp
	xsetbv				/* YMM without SSE */
1:	mov $0x201, %eax
	lea 1f(%rip), %rbp
	xsetbv				/* PKRU: not supported */
1:	mov $1, %eax
	mov $1, %ecx
	lea 1f(%rip), %rbp
	xsetbv				/* XCR1 */
1:	CHECK_EQ $4, %r15, "XSETBV: #GP for bit 0 clear, YMM without SSE, PKRU, XCR1"
	/* everything supported: EBX becomes ECX */
	mov %r12d, %eax
	xor %edx, %edx
	xor %ecx, %ecx
	xsetbv
	mov $0xd, %eax
	xor %ecx, %ecx
	cpuid
	CHECK_EQ %ecx, %ebx, "leaf 0xD EBX = ECX with everything enabled"
	mov $0xd, %eax
	mov $1, %ecx
	cpuid
	mov %eax, feat_d1		/* XSAVEOPT, XSAVEC, ... */
	mov $0, %r15d
	IRET_TO_USER64 user, USTACK

user:
	xor %ecx, %ecx
	xgetbv				/* at ring 3 too */
	mov %eax, res_xcr0
	fninit
	fld1
	fldpi
	mov $7, %eax			/* x87, SSE, AVX: fits the 1 KiB areas */
	xor %edx, %edx
	xsave64 area1
	fninit
	xrstor64 area1
	xsave64 area2
	/* XRSTOR with XSTATE_BV[0] = 0: x87 to its init state */
	andb $0xfe, area1 + 512
	mov $1, %eax
	xor %edx, %edx
	xrstor64 area1
	fnstcw res_fcw
	fnstsw res_fsw
	fxsave64 fxarea
	/* header #GP: XCOMP_BV non-zero without compaction bit... bytes 8-23 */
	movb $1, area3 + 512 + 20
	lea 1f(%rip), %rbp
	mov $7, %eax
	xor %edx, %edx
	xrstor64 area3			/* #GP */
1:	movb $0, area3 + 512 + 20
	movl $0x200, area3 + 512	/* XSTATE_BV bit 9: not in XCR0 */
	lea 1f(%rip), %rbp
	xrstor64 area3			/* #GP */
1:	lea 1f(%rip), %rbp
	xsave64 area3 + 32		/* misaligned: #GP */
1:	mov %r15, gp_before
	lea 1f(%rip), %rbp
	xsaves64 area4			/* CPL 3: #GP(0), or #UD */
1:	mov %r15, gp_after	/* XSAVEOPT and XSAVEC where offered */
	testb $1, feat_d1
	jz 2f
	fld1
	xsaveopt64 area4
2:	testb $2, feat_d1
	jz 3f
	fld1
	mov $1, %eax
	xor %edx, %edx
	xsavec64 area5
3:
user_end:
	hlt

ud_handler:
	inc %r13
	mov %rbp, (%rsp)
	iretq

gp_handler:
	inc %r15
	mov 8(%rsp), %rcx
	cmp $user_end, %rcx
	je done
	cmp $user0_end, %rcx
	je phase2
	add $8, %rsp
	mov %rbp, (%rsp)
	iretq
done:
	mov gp_after, %rdx
	sub gp_before, %rdx
	sub %rdx, %r15
	mov feat_d1, %ecx		/* #GP with XSAVES in CPUID, else #UD */
	shr $3, %ecx
	and $1, %ecx
	CHECK_EQ %rcx, %rdx, "XSAVES at CPL 3: #GP (#UD without CPUID XSAVES)"
	CHECK_EQ $4, %r15, "ring 3: #GP for two bad XRSTOR headers, a misaligned XSAVE, the end"
	CHECK_EQ %r12d, res_xcr0, "XGETBV at ring 3 reads XCR0 = all supported"
	mov area2 + 512, %rax
	test $1, %al
	PASS_IF nz, "XSAVE after x87 use: XSTATE_BV[0] = 1"
	mov $area1, %rsi
	mov $area2, %rdi
	mov $160, %ecx
	repe cmpsb
	PASS_IF e, "XSAVE after XRSTOR: same x87 area"
	cmpw $0x37f, res_fcw
	PASS_IF e, "XRSTOR of an init x87 component: FCW 0x37f"
	cmpw $0, res_fsw
	PASS_IF e, "XRSTOR of an init x87 component: FSW 0"
	cmpb $0, fxarea + 4
	PASS_IF e, "XRSTOR of an init x87 component: all registers empty"
	mov feat_d1, %eax
	test $1, %al
	jz 4f
	testb $1, area4 + 512
	PASS_IF nz, "XSAVEOPT: XSTATE_BV[0] = 1 after FLD1"
	cmpw $0x37f, area4
	PASS_IF e, "XSAVEOPT: FCW"
4:	mov feat_d1, %eax
	test $2, %al
	jz 5f
	mov area5 + 520, %rax
	mov $0x8000000000000001, %rdx
	CHECK_EQ %rdx, %rax, "XSAVEC: XCOMP_BV = RFBM | bit 63"
	mov area5 + 512, %rax
	CHECK_EQ $1, %rax, "XSAVEC: XSTATE_BV = x87"
5:	EXPECT_HLT
	hlt

	.balign 64
area1:	.fill 1024, 1, 0
area2:	.fill 1024, 1, 0
area3:	.fill 1024, 1, 0
area4:	.fill 1024, 1, 0
area5:	.fill 1024, 1, 0
fxarea:	.fill 512, 1, 0
res_xcr0: .quad 0
res_fcw: .quad 0
res_fsw: .quad 0
feat_d1: .quad 0
gp_before: .quad 0
gp_after: .quad 0

	.balign 16
idt:	.fill 256 * 16, 1, 0
idtr:	.word 256 * 16 - 1
	.quad idt
