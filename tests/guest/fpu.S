/* x87 and FXSAVE/FXRSTOR from ring 3 (which the host's PVM runs natively):
 * #NM for CR0.TS and CR0.EM and for FWAIT with MP+TS (SDM vol. 3A 2.5,
 * Table 12-1), #MF at the next waiting instruction with CR0.NE=1, exact
 * arithmetic, FNSTSW AX, FNSTENV/FLDENV in the 32- and 16-bit formats,
 * FNSAVE/FRSTOR, FXSAVE/FXRSTOR round trips, #GP for a misaligned m512 and
 * for reserved MXCSR bits (SDM vol. 2A FXSAVE, FXRSTOR).  Ring 3 cannot
 * use the check ports: results are kept in memory and checked in ring 0.
 * UD2 is the ring-3 code's way to ask ring 0 for CR0 changes (rax = the
 * CR0 bits to set). */
#include "guest.h"
#define USTACK 0x60000
	GUEST_MODE 64, 1
	.code64
	.globl _start
_start:
	SET_GATE64 idt, 6, ud_handler
	SET_GATE64 idt, 7, nm_handler
	SET_GATE64 idt, 13, gp_handler
	SET_GATE64 idt, 16, mf_handler
	lidt idtr
	mov %cr4, %rax
	or $0x600, %rax			/* OSFXSR, OSXMMEXCPT */
	mov %rax, %cr4
	mov %cr0, %rax
	or $0x8, %rax			/* TS: the first x87 instruction faults */
	mov %rax, %cr0
	xor %r13d, %r13d		/* #NM count */
	xor %r14d, %r14d		/* #MF count */
	xor %r15d, %r15d		/* #GP count */
	IRET_TO_USER64 user, USTACK

user:
	fninit				/* #NM, then again after CLTS */
	fnstcw res_fcw
	/* exact arithmetic: (1 + 1) * 3 = 6, sqrt(16) = 4, 7 / 2 = 3.5 */
	fld1
	fld1
	faddp
	fimuls three
	fistpl res_six
	filds sixteen
	fsqrt
	fistpl res_four
	filds seven
	fidivs two
	fstpl res_half			/* 3.5 as a double */
	/* compare 2 < 3 through FCOMI and through FNSTSW AX */
	filds two
	filds three
	fcomi %st(1), %st
	seta res_above
	fcompp
	fnstsw %ax
	mov %ax, res_fsw_cmp
	/* FXSAVE round trip */
	fldpi
	fldl2e
	fxsave64 buf1
	fninit
	fxrstor64 buf1
	fxsave64 buf2
	/* a misaligned FXSAVE: #GP(0), skipped by the handler (7 bytes) */
	lea 1f(%rip), %rbp
	fxsave64 buf3 + 8
1:
	/* FXRSTOR with a reserved MXCSR bit: #GP(0) */
	movl $0x10000, buf3 + 24
	lea 1f(%rip), %rbp
	fxrstor64 buf3
1:
	/* FNSTENV (32-bit) masks exceptions; FLDENV puts them back */
	fldcw cw_unmask_ze
	fnstenv env32
	fnstcw res_fcw_after_env
	fldenv env32
	fnstcw res_fcw_reloaded
	/* 16-bit FNSTENV: 14 bytes, FCW first */
	data16 fnstenv env16
	fldenv env32
	/* #MF: 1/0 with ZE unmasked, at the next waiting instruction */
	fld1
	fdivl zero_d			/* 1/0: ZE, ES set, no fault yet */
	fnstsw res_fsw_ze
mf_at:	fwait				/* #MF */
	fnclex
	fninit
	/* FNSAVE reinitialises; FRSTOR restores */
	fld1
	fnsave save1
	fnstcw res_fcw_after_save
	frstor save1
	fstpl res_one
	/* FWAIT with MP and TS: #NM */
	mov $0x8, %eax
	ud2
	fwait
	/* EM: every x87 instruction #NM */
	mov $0x4, %eax
	ud2
	fnop
user_end:
	hlt				/* #GP(0): the end */

three:	.word 3
sixteen: .word 16
seven:	.word 7
two:	.word 2
cw_unmask_ze: .word 0x37b
	.balign 8
zero_d:	.quad 0

ud_handler:
	mov %cr0, %rcx
	or %rax, %rcx
	mov %rcx, %cr0
	addq $2, (%rsp)
	iretq

nm_handler:
	inc %r13
	mov %cr0, %rcx
	and $~0xc, %rcx			/* EM, TS */
	mov %rcx, %cr0
	iretq

mf_handler:
	inc %r14
	mov (%rsp), %rcx
	mov %rcx, res_mf_rip
	incq (%rsp)			/* past the FWAIT */
	iretq

gp_handler:
	inc %r15
	mov 8(%rsp), %rcx		/* the frame's RIP (after the error code) */
	cmp $end_rip, %rcx
	je done
	mov (%rsp), %rdx
	mov %rdx, res_gp_err
	add $8, %rsp
	mov %rbp, (%rsp)		/* resume where the ring-3 code said */
	iretq
end_rip = user_end
done:
	CHECK_EQ $3, %r13, "#NM: TS (FNINIT), TS+MP (FWAIT), EM (FNOP)"
	CHECK_EQ $1, %r14, "#MF once, at the waiting instruction"
	lea mf_at, %rax
	CHECK_EQ %rax, res_mf_rip, "#MF frame RIP is the FWAIT"
	CHECK_EQ $3, %r15, "#GP for misaligned FXSAVE, reserved MXCSR, and the end"
	cmpq $0, res_gp_err
	PASS_IF e, "#GP error code 0"
	cmpw $0x37f, res_fcw
	PASS_IF e, "FNINIT: FCW 0x37f"
	cmpq $6, res_six
	PASS_IF e, "(1 + 1) * 3 = 6"
	cmpq $4, res_four
	PASS_IF e, "sqrt(16) = 4"
	mov $0x400c000000000000, %rax
	CHECK_EQ %rax, res_half, "7 / 2 = 3.5"
	cmpb $1, res_above
	PASS_IF e, "FCOMI: 3 > 2 (CF=ZF=0)"
	mov res_fsw_cmp, %ax
	and $0x4500, %ax
	PASS_IF z, "FCOMPP ST0=3 vs ST1=2: C3 = C2 = C0 = 0"
	mov $buf1, %rsi
	mov $buf2, %rdi
	mov $160, %ecx
	repe cmpsb
	PASS_IF e, "FXSAVE after FXRSTOR: same x87 image"
	mov buf1 + 4, %al
	CHECK_EQ $0xc0, %al, "FXSAVE: abridged tag of two pushes"
	cmpw $0x1f80, buf1 + 24
	PASS_IF e, "FXSAVE: MXCSR default"
	cmpw $0x37f, res_fcw_after_env
	PASS_IF e, "FNSTENV masks all exceptions"
	cmpw $0x37b, res_fcw_reloaded
	PASS_IF e, "FLDENV restores FCW"
	cmpw $0x37b, env32
	PASS_IF e, "32-bit environment: FCW at 0"
	cmpw $0xffff, env32 + 2
	PASS_IF e, "32-bit environment: reserved upper word of FCW"
	cmpw $0x37b, env16
	PASS_IF e, "16-bit environment: FCW at 0"
	mov env16 + 4, %ax
	CHECK_EQ env32 + 8, %ax, "16-bit environment: tag word at 4"
	mov res_fsw_ze, %ax
	and $0x80ff, %ax
	cmp $0x8084, %ax
	PASS_IF e, "1/0 unmasked: ZE, ES, B"
	cmpw $0x37f, res_fcw_after_save
	PASS_IF e, "FNSAVE reinitialises"
	mov $0x3ff0000000000000, %rax
	CHECK_EQ %rax, res_one, "FRSTOR restores the stack"
	EXPECT_HLT
	hlt

	.balign 64
buf1:	.fill 512, 1, 0
buf2:	.fill 512, 1, 0
buf3:	.fill 512, 1, 0
env32:	.fill 28, 1, 0
env16:	.fill 14, 1, 0
	.balign 8
save1:	.fill 108, 1, 0
	.balign 8
res_fcw: .quad 0
res_six: .quad 0
res_four: .quad 0
res_half: .quad 0
res_above: .quad 0
res_fsw_cmp: .quad 0
res_fcw_after_env: .quad 0
res_fcw_reloaded: .quad 0
res_fsw_ze: .quad 0
res_fcw_after_save: .quad 0
res_one: .quad 0
res_mf_rip: .quad 0
res_gp_err: .quad 0

	.balign 16
idt:	.fill 256 * 16, 1, 0
idtr:	.word 256 * 16 - 1
	.quad idt
