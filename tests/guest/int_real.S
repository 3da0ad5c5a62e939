/* Real mode: INT n and #DE through the IVT, IRET restoring FLAGS. */
#include "guest.h"
	GUEST_MODE 16
	.code16
	.globl _start
_start:
	xor %ax, %ax
	mov %ax, %ds
	movw $int30, 0x30 * 4
	movw $0, 0x30 * 4 + 2
	movw $de_handler, 0
	movw $0, 2
	xor %bx, %bx
	sti
	stc
	int $0x30
	PASS_IF c, "IRET restores CF"
	CHECK_EQ $1, %bx, "INT 0x30 ran the handler"
	CHECK_EQ $0, %si, "IF was clear in the handler"
	pushf
	pop %ax
	test $0x200, %ax
	PASS_IF nz, "IRET restores IF"
	mov $5, %ax
	xor %cl, %cl
	div %cl
	CHECK_EQ $1, %di, "#DE went through IVT vector 0"
	EXPECT_HLT
	hlt

int30:
	inc %bx
	pushf
	pop %si
	and $0x200, %si
	clc
	iret

/* #DE pushes the address of the DIV itself (a fault): skip its 2 bytes. */
de_handler:
	mov $1, %di
	push %bp
	mov %sp, %bp
	addw $2, 2(%bp)
	pop %bp
	iret
