/* The reset state (SDM vol. 3 9.1, table 9-1; KVM's vCPU reset): real mode,
 * execution begins at CS.base 0xffff0000 + IP 0xfff0, which the runner's
 * ROM turns into a far jump here.  Checks what is architecturally fixed. */
#include "guest.h"
	GUEST_MODE 0
	.code16
	.globl _start
_start:
	pushfl			/* before anything touches the flags */
	popl %esi
	mov %cs, %ax
	CHECK_EQ $0, %ax, "the far jump from the reset vector loaded CS 0"
	mov %cr0, %eax
	and $0x7fffffff, %eax
	cmp $0x60000010, %eax
	PASS_IF e, "CR0 is 0x60000010 (CD, NW, ET)"
	CHECK_EQ $2, %esi, "EFLAGS is 2"
	mov %ds, %ax
	CHECK_EQ $0, %ax, "DS is 0"
	mov %ss, %ax
	CHECK_EQ $0, %ax, "SS is 0"
	mov %dr7, %eax
	CHECK_EQ $0x400, %eax, "DR7 is 0x400"
	xor %ax, %ax
	mov %ax, %ss
	mov $0x7000, %sp
	push $0x1234
	pop %bx
	CHECK_EQ $0x1234, %bx, "a stack works after loading SS:SP"
	EXPECT_OUT 0x80, 1, 0x55
	mov $0x55, %al
	out %al, $0x80
	EXPECT_HLT
	hlt
