/* An exception with an empty IDT: #GP, then #DF, then a triple fault, which
 * KVM reports as KVM_EXIT_SHUTDOWN. */
#include "guest.h"
	GUEST_MODE 64
	.code64
	.globl _start
_start:
	lidt idtr
	EXPECT_OUT 0x80, 1, 1
	mov $1, %al
	out %al, $0x80
	EXPECT_SHUTDOWN
	ud2
	.balign 8
idtr:	.word 0
	.quad 0
