/* immediate_exit: KVM_RUN returns EINTR with KVM_EXIT_INTR, after
 * completing the IN the guest was waiting on; the guest then continues. */
#include "guest.h"
	GUEST_MODE 16
	.code16
	.globl _start
_start:
	EXPECT_IN 0x71, 1, 0x5a
	in $0x71, %al
	EXPECT_EINTR 0x5a
	EXPECT_EINTR 0x5a
	CHECK_EQ $0x5a, %al, "IN data survives immediate exits"
	EXPECT_HLT
	hlt
