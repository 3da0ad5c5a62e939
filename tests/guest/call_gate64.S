/* 64-bit call gates (SDM Vol. 2A CALL, RET; Vol. 3A 5.8.3.1): from ring 3
 * through a DPL-3 64-bit gate to ring 0: RSP from TSS.RSP0, SS null with
 * RPL 0, the 8-byte frame SS, RSP, CS, RIP; REX.W far RET back to ring 3;
 * #GP(gate) for a 16-bit gate type in long mode and for a gate whose upper
 * half's type field is not 0.  Ring 3 can't use the check ports: results
 * are checked back in ring 0 (the final HLT in ring 3 raises #GP(0)). */
#include "guest.h"
#define USTACK 0x60000
#define GDT 0x1000	/* the runner's GDT: gates written into its free slots */

.macro GATE64 slot, target, attr
	lea \target, %rax
	mov %ax, GDT + \slot
	movw $0x08, GDT + \slot + 2
	movw $\attr, GDT + \slot + 4
	shr $16, %rax
	mov %ax, GDT + \slot + 6
	shr $16, %rax
	mov %eax, GDT + \slot + 8
	movl $0, GDT + \slot + 12
.endm

	GUEST_MODE 64, 1
	.code64
	.globl _start
_start:
	GATE64 0x50, target, 0xec00	/* 64-bit gate, DPL 3 */
	GATE64 0x60, target, 0xe400	/* type 4: a 16-bit gate */
	GATE64 0x70, target, 0xec00
	movb $0x0c, GDT + 0x70 + 13	/* upper half: type field 0xc */
	lgdt gdtr
	SET_GATE64 idt, 13, gp_handler
	lidt idtr
	push $0x23
	push $USTACK
	push $0x202
	push $0x2b
	push $user
	iretq

user:
	xor %ecx, %ecx
	mov %rsp, u_rsp
	lcall *gate_ptr
after_call:
	mov %cs, %ax
	mov %ax, back_cs
	mov %ss, %ax
	mov %ax, back_ss
	mov %rsp, back_rsp
	movq $1f, recover
	lcall *gate16_ptr
1:	movq $1f, recover
	lcall *gate_bad_ptr
1:	movq $-1, recover
	hlt			/* #GP(0): to the checks */

target:
	mov %cs, %ax
	mov %ax, in_cs
	mov %ss, %ax
	mov %ax, in_ss
	mov %rsp, in_rsp
	mov (%rsp), %rax
	mov %rax, f_rip
	mov 8(%rsp), %rax
	mov %rax, f_cs
	mov 16(%rsp), %rax
	mov %rax, f_rsp
	mov 24(%rsp), %rax
	mov %rax, f_ss
	lretq

gp_handler:
	cmpq $-1, recover
	je checks
	mov (%rsp), %rax
	mov %rax, (errs)(,%rcx,8)
	inc %rcx
	add $8, %rsp
	mov recover, %rax
	mov %rax, (%rsp)
	iretq

checks:
	CHECK_EQ $0x08, in_cs, "CALL through a 64-bit gate: CS from the gate"
	CHECK_EQ $0, in_ss, "to ring 0: SS null"
	CHECK_EQ $(0x7000-32), in_rsp, "to ring 0: RSP from TSS.RSP0 less 32"
	lea after_call, %rax
	CHECK_EQ %rax, f_rip, "frame: RIP"
	CHECK_EQ $0x2b, f_cs, "frame: CS"
	mov u_rsp, %rax
	CHECK_EQ %rax, f_rsp, "frame: RSP"
	CHECK_EQ $0x23, f_ss, "frame: SS"
	CHECK_EQ $0x2b, back_cs, "REX.W far RET to ring 3: CS"
	CHECK_EQ $0x23, back_ss, "REX.W far RET to ring 3: SS"
	mov u_rsp, %rax
	CHECK_EQ %rax, back_rsp, "REX.W far RET to ring 3: RSP"
	CHECK_EQ $2, %rcx, "two faults before the final one"
	CHECK_EQ $0x60, errs, "16-bit gate type in long mode: #GP(gate)"
	CHECK_EQ $0x70, errs+8, "gate upper half with a type: #GP(gate)"
	EXPECT_HLT
	hlt

	.balign 8
gate_ptr:	.long 0
		.word 0x53
gate16_ptr:	.long 0
		.word 0x63
gate_bad_ptr:	.long 0
		.word 0x73
gdtr:	.word 0x7f
	.quad GDT
idtr:	.word 32 * 16 - 1
	.quad idt
	.balign 16
idt:	.fill 32 * 16, 1, 0
in_cs:	.quad 0
in_ss:	.quad 0
in_rsp:	.quad 0
f_rip:	.quad 0
f_cs:	.quad 0
f_rsp:	.quad 0
f_ss:	.quad 0
back_cs: .quad 0
back_ss: .quad 0
back_rsp: .quad 0
u_rsp:	.quad 0
errs:	.quad 0, 0
recover: .quad -1
