/* RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE (SDM Vol. 2B): CPUID.7.0:EBX[0]
 * offered; #UD while CR4.FSGSBASE is clear; the written base is the one
 * FS: addressing and IA32_FS_BASE/IA32_GS_BASE see; a 32-bit operand
 * zero-extends on RD* and clears bits 63:32 on WR*; a non-canonical
 * 64-bit value is #GP(0) with the base unchanged.  Expectations from the
 * SDM. */
#include "guest.h"

	GUEST_MODE 64
	.code64
	.globl _start
_start:
	RECOVER_IDT
	mov $7, %eax
	xor %ecx, %ecx
	cpuid
	bt $0, %ebx
	PASS_IF c, "CPUID.7.0:EBX.FSGSBASE offered"

	RECOVER_AT 1f
	rdfsbase %rax
1:	mov vec, %rbx
	CHECK_EQ $6, %rbx, "RDFSBASE with CR4.FSGSBASE clear: #UD"
	RECOVER_AT 1f
	wrgsbase %rax
1:	mov vec, %rbx
	CHECK_EQ $6, %rbx, "WRGSBASE with CR4.FSGSBASE clear: #UD"

	mov %cr4, %rax
	bts $16, %rax
	mov %rax, %cr4
	mov %cr4, %rax
	bt $16, %rax
	PASS_IF c, "CR4.FSGSBASE can be set"

	/* FS base = data - 8: FS:8 reads data */
	lea data - 8, %rax
	movq $-1, vec
	wrfsbase %rax
	mov vec, %rbx
	CHECK_EQ $-1, %rbx, "WRFSBASE r64 accepted"
	mov %fs:8, %rbx
	movabs $0x1122334455667788, %rax
	CHECK_EQ %rax, %rbx, "FS: addressing uses the WRFSBASE base"
	mov $0xc0000100, %ecx
	rdmsr
	lea data - 8, %rbx
	CHECK_EQ %ebx, %eax, "IA32_FS_BASE reads the written base"
	movabs $0xffff812345678000, %rax
	wrgsbase %rax
	mov $0xc0000101, %ecx
	rdmsr
	shl $32, %rdx
	or %rdx, %rax
	movabs $0xffff812345678000, %rbx
	CHECK_EQ %rbx, %rax, "IA32_GS_BASE reads the WRGSBASE value"
	mov $-1, %r10
	rdgsbase %r10
	CHECK_EQ %rbx, %r10, "RDGSBASE r64 (REX.B) reads it back"
	mov $-1, %r11
	rdgsbase %r11d
	mov $0x45678000, %eax
	CHECK_EQ %rax, %r11, "RDGSBASE r32 zero-extends the low half"

	movabs $0xdeadbeef00001000, %rax
	wrfsbase %eax
	mov $-1, %rbx
	rdfsbase %rbx
	CHECK_EQ $0x1000, %rbx, "WRFSBASE r32 clears bits 63:32"

	/* non-canonical with 48 and with 57 bits: WR*BASE checks the CPU's
	 * width (57 with CPUID LA57), whatever CR4.LA57 says */
	movabs $0x0100000000000000, %rax
	RECOVER_AT 1f
	wrgsbase %rax
1:	mov vec, %rbx
	CHECK_EQ $13, %rbx, "WRGSBASE non-canonical: #GP"
	mov err, %rbx
	CHECK_EQ $0, %rbx, "WRGSBASE non-canonical: error code 0"
	rdgsbase %rax
	movabs $0xffff812345678000, %rbx
	CHECK_EQ %rbx, %rax, "GS base unchanged by the refused write"
	EXPECT_HLT
	hlt

	RECOVER_HANDLERS
	.balign 8
data:	.quad 0x1122334455667788
	RECOVER_DATA64
