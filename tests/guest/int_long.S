/* 64-bit: IRETQ to ring 3; from ring 3, INT n through a DPL-3 gate, #UD,
 * and INT n through a DPL-0 gate (#GP, error code = vector*8+2); the 64-bit
 * frame with the stack switch to TSS.RSP0 (SDM vol. 3 6.12, 6.14).  Ring 3
 * can't use the check ports, so results are checked back in ring 0.
 * (Ring 3, because KVM's instruction emulator — which PVM uses for ring-0
 * code — handles INT n only in real mode; hardware KVM runs it natively.) */
#include "guest.h"
#define USTACK 0x60000
	GUEST_MODE 64, 1
	.code64
	.globl _start
_start:
	SET_GATE64 idt, 0x40, int40
	orb $0x60, idt + 0x40 * 16 + 5		/* DPL 3 */
	SET_GATE64 idt, 0x41, int40
	SET_GATE64 idt, 6, ud_handler
	SET_GATE64 idt, 13, gp_handler
	lidt idtr
	IRET_TO_USER64 user, USTACK

user:
	mov %rsp, %r12
	xor %ebx, %ebx
	stc
	int $0x40
after_int:
	setc %r14b
	ud2
	int $0x41
	hlt			/* #GP(0) here if INT 0x41 did not fault */

int40:
	inc %rbx
	mov (%rsp), %r11
	mov 8(%rsp), %r8
	mov 24(%rsp), %r9
	mov 32(%rsp), %r10
	mov %rsp, %r15
	clc
	iretq

/* #UD is a fault: the frame RIP is the UD2; skip its 2 bytes. */
ud_handler:
	mov $1, %r13
	addq $2, (%rsp)
	iretq

gp_handler:
	mov (%rsp), %rcx
	mov 16(%rsp), %rdx
	CHECK_EQ $1, %r14, "IRETQ restores CF"
	CHECK_EQ $1, %rbx, "INT 0x40 from ring 3 ran the handler"
	CHECK_EQ $0x2b, %r8, "frame holds the user CS"
	CHECK_EQ %r12, %r9, "frame holds the user RSP"
	CHECK_EQ $0x23, %r10, "frame holds the user SS"
	lea after_int, %rax
	CHECK_EQ %rax, %r11, "frame RIP is the next instruction"
	CHECK_EQ $(0x7000-40), %r15, "stack switched to TSS.RSP0"
	CHECK_EQ $1, %r13, "#UD went through IDT vector 6"
	CHECK_EQ $(0x41*8+2), %rcx, "INT through a DPL-0 gate: #GP(vector*8+2)"
	CHECK_EQ $0x2b, %rdx, "#GP frame holds the user CS"
	EXPECT_HLT
	hlt

	.balign 16
idt:	.fill 256 * 16, 1, 0
idtr:	.word 256 * 16 - 1
	.quad idt
