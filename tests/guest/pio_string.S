/* Real mode: string port I/O (REP OUTSB / REP INSW), data through the
 * kvm_run I/O page; the VMM may see it in one exit or several. */
#include "guest.h"
	GUEST_MODE 16
	.code16
	.globl _start
_start:
	cld
	mov $msg, %si
	mov $5, %cx
	mov $0x3f8, %dx
	EXPECT_IO 1, 0x3f8, 1, 5, 'h', 'e', 'l', 'l', 'o'
	rep outsb
	CHECK_EQ $0, %cx, "rep outsb counts CX down to 0"
	CHECK_EQ $msg+5, %si, "rep outsb advances SI"
	mov $buf, %di
	mov $3, %cx
	mov $0x1f0, %dx
	EXPECT_IO 0, 0x1f0, 2, 3, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66
	rep insw
	CHECK_EQ $buf+6, %di, "rep insw advances DI"
	cmpw $0x2211, buf
	PASS_IF e, "rep insw word 0"
	cmpw $0x6655, buf+4
	PASS_IF e, "rep insw word 2"
	std
	mov $buf+5, %si
	mov $0x80, %dx
	EXPECT_IO 1, 0x80, 1, 1, 0x66
	outsb
	CHECK_EQ $buf+4, %si, "outsb with DF=1 decrements SI"
	cld
	EXPECT_HLT
	hlt
msg:	.ascii "hello"
buf:	.fill 8, 1, 0
