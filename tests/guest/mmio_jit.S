/* 64-bit: MMIO reads whose exits interleave with immediate_exit and with
 * translated code.  KVM completes a pending MMIO read before it honours
 * immediate_exit (KVM API "immediate_exit"; complete_userspace_io runs
 * first), and every read of a hot loop exits with its own data.  QEMU's
 * HPET calibration loop (read the counter, write a comparator) saw one
 * stale counter value forever when the translated loop reused an answer. */
#include "guest.h"
	GUEST_MODE 64
	.code64
	.globl _start
_start:
	mov $MMIO_BASE, %rbx
	xor %eax, %eax
	EXPECT_MMIO_R MMIO_BASE, 1, 0x5a
	EXPECT_EINTR 0x5a
	movb (%rbx), %al
	CHECK_EQ $0x5a, %al, "an MMIO read completed by an immediate_exit KVM_RUN"
	EXPECT_MMIO_R MMIO_BASE+8, 8, 0x7766554433221100
	mov 8(%rbx), %rdx
	mov $0x7766554433221100, %rax
	CHECK_EQ %rax, %rdx, "the next read exits with its own data"

	/* a hot loop (translated after a few passes): read, write it back;
	 * every third read is answered with an immediate_exit KVM_RUN */
	mov $48, %ecx
	.set v, 0x1000
	.set k, 0
	.rept 48
	EXPECT_MMIO_R MMIO_BASE+0x10, 8, v
	.if k % 3 == 1
	EXPECT_EINTR v & 0xff
	.endif
	EXPECT_MMIO_W MMIO_BASE+0x18, 8, v
	.set v, v + 0x10101
	.set k, k + 1
	.endr
1:	mov 0x10(%rbx), %rax
	mov %rax, 0x18(%rbx)
	dec %ecx
	jnz 1b
	EXPECT_HLT
	hlt
