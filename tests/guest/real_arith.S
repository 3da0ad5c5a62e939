/* Real mode: arithmetic, flags and port I/O (IN data completed by the runner). */
#include "guest.h"
	GUEST_MODE 16
	.code16
	.globl _start
_start:
	mov $0x1234, %bx
	add $0x4321, %bx
	CHECK_EQ $0x5555, %bx, "add r16, imm16"
	mov $0xffff, %cx
	add $1, %cx
	PASS_IF c, "add sets CF on wrap"
	mov $0x7f, %dl
	inc %dl
	PASS_IF o, "inc r8 sets OF at 0x7f"
	mov $200, %ax
	mov $3, %cl
	mul %cl
	CHECK_EQ $600, %ax, "mul r8"
	mov $0, %dx
	mov $1000, %ax
	mov $7, %cx
	div %cx
	mov %ax, %bx
	CHECK_EQ $142, %bx, "div r16 quotient"
	CHECK_EQ $6, %dx, "div r16 remainder"
	mov $0x8000, %si
	shl $1, %si
	PASS_IF c, "shl carries out bit 15"
	xor %di, %di
	PASS_IF z, "xor self sets ZF"
	mov $0x9abc, %bx
	movw %bx, 0x6000
	mov 0x6000, %cx
	CHECK_EQ $0x9abc, %cx, "store and load through DS"

	mov $0x42, %al
	EXPECT_OUT 0x80, 1, 0x42
	out %al, $0x80
	mov $0x3f8, %dx
	mov $0xbeef, %ax
	EXPECT_OUT 0x3f8, 2, 0xbeef
	out %ax, %dx
	EXPECT_IN 0x71, 1, 0x5a
	in $0x71, %al
	CHECK_EQ $0x5a, %al, "IN r8 data from the VMM"
	EXPECT_IN 0x3f8, 2, 0xa55a
	in %dx, %ax
	mov %ax, %bx
	CHECK_EQ $0xa55a, %bx, "IN r16 data from the VMM"
	EXPECT_HLT
	hlt
