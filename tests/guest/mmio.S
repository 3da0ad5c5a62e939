/* 64-bit: MMIO exits in the 640K-1M hole, writes and reads of every size;
 * read data completes on the next KVM_RUN. */
#include "guest.h"
	GUEST_MODE 64
	.code64
	.globl _start
_start:
	mov $MMIO_BASE, %rbx
	EXPECT_MMIO_W MMIO_BASE, 1, 0xab
	movb $0xab, (%rbx)
	EXPECT_MMIO_W MMIO_BASE+0x10, 2, 0xbeef
	movw $0xbeef, 0x10(%rbx)
	EXPECT_MMIO_W MMIO_BASE+0x20, 4, 0xdeadbeef
	movl $0xdeadbeef, 0x20(%rbx)
	mov $0x0123456789abcdef, %rax
	EXPECT_MMIO_W MMIO_BASE+0x30, 8, 0x0123456789abcdef
	mov %rax, 0x30(%rbx)
	EXPECT_MMIO_R MMIO_BASE+0x40, 1, 0x5c
	movzbl 0x40(%rbx), %ecx
	CHECK_EQ $0x5c, %ecx, "1-byte MMIO read completes"
	EXPECT_MMIO_R MMIO_BASE+0x50, 4, 0xcafef00d
	mov 0x50(%rbx), %ecx
	CHECK_EQ $0xcafef00d, %ecx, "4-byte MMIO read completes"
	EXPECT_MMIO_R MMIO_BASE+0x60, 8, 0x1122334455667788
	mov 0x60(%rbx), %rcx
	mov $0x1122334455667788, %rdx
	CHECK_EQ %rdx, %rcx, "8-byte MMIO read completes"
	EXPECT_MMIO_R MMIO_BASE+0x70, 2, 0x8001
	movswq 0x70(%rbx), %rcx
	mov $0xffffffffffff8001, %rdx
	CHECK_EQ %rdx, %rcx, "movsx from a 2-byte MMIO read"
	EXPECT_HLT
	hlt
