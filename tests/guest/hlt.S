/* HLT exits to the VMM (no in-kernel irqchip) and KVM_RUN resumes after it. */
#include "guest.h"
	GUEST_MODE 32
	.code32
	.globl _start
_start:
	mov $1, %eax
	EXPECT_HLT
	hlt
	inc %eax
	EXPECT_OUT 0x80, 4, 2
	out %eax, $0x80
	EXPECT_HLT
	hlt
	EXPECT_OUT 0x80, 1, 3
	mov $3, %al
	out %al, $0x80
	EXPECT_HLT
	hlt
