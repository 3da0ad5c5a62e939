/* 64-bit: RDMSR/WRMSR/RDTSC from the guest go through the same MSR rules as
 * KVM_GET/SET_MSRS, with the guest's restrictions: #GP for unknown MSRs,
 * invalid values and what only the VMM may write (SDM vol. 4; KVM x86.c). */
#include "guest.h"
	GUEST_MODE 64
	.code64
	.globl _start
_start:
	SET_GATE64 idt, 13, gp_handler
	lidt idtr
	xor %r13, %r13			/* #GP count */

	/* STAR takes any value and reads it back. */
	mov $0xc0000081, %ecx
	mov $0x12345678, %eax
	mov $0x00230010, %edx
	wrmsr
	xor %eax, %eax
	xor %edx, %edx
	rdmsr
	CHECK_EQ $0x12345678, %eax, "STAR low half round trip"
	CHECK_EQ $0x00230010, %edx, "STAR high half round trip"

	/* PAT: power-on value; memory types 2 and 3 are reserved. */
	mov $0x277, %ecx
	rdmsr
	CHECK_EQ $0x00070406, %eax, "PAT power-on value"
	mov $0x00070402, %eax
	xor %r13, %r13
	wrmsr
	CHECK_EQ $1, %r13, "WRMSR PAT with type 2: #GP"
	rdmsr
	CHECK_EQ $0x00070406, %eax, "PAT unchanged by the refused write"

	/* An MSR that does not exist. */
	mov $0xdeadbeef, %ecx
	xor %r13, %r13
	rdmsr
	CHECK_EQ $1, %r13, "RDMSR of an unknown MSR: #GP"

	/* Long mode is on: EFER.LME and LMA; LME cannot change under paging. */
	mov $0xc0000080, %ecx
	rdmsr
	mov %eax, %ebx
	and $0x500, %ebx
	CHECK_EQ $0x500, %ebx, "EFER has LME and LMA"
	and $~0x100, %eax
	xor %r13, %r13
	wrmsr
	CHECK_EQ $1, %r13, "clearing EFER.LME with paging on: #GP"

	/* Machine check: a guest may clear MCi_STATUS, not set it. */
	mov $0x401, %ecx
	xor %eax, %eax
	xor %edx, %edx
	xor %r13, %r13
	wrmsr
	CHECK_EQ $0, %r13, "MC0_STATUS = 0 from the guest"
	mov $1, %eax
	wrmsr
	CHECK_EQ $1, %r13, "MC0_STATUS != 0 from the guest: #GP"

	/* Feature MSRs: a UCODE_REV write is ignored, PLATFORM_INFO reads. */
	mov $0x8b, %ecx
	rdmsr
	mov %edx, %ebx
	xor %eax, %eax
	xor %edx, %edx
	xor %r13, %r13
	wrmsr
	rdmsr
	CHECK_EQ %ebx, %edx, "UCODE_REV write from the guest ignored"
	CHECK_EQ $0, %r13, "UCODE_REV write does not fault"
	mov $0xce, %ecx
	rdmsr
	CHECK_EQ $0, %r13, "PLATFORM_INFO readable by the guest"
	wrmsr
	CHECK_EQ $1, %r13, "PLATFORM_INFO write from the guest: #GP"

	/* The TSC counts, and a guest write moves it. */
	rdtsc
	shl $32, %rdx
	or %rax, %rdx
	mov %rdx, %r8
	rdtsc
	shl $32, %rdx
	or %rax, %rdx
	cmp %r8, %rdx
	PASS_IF a, "TSC counts up"
	mov $0x10, %ecx
	xor %eax, %eax
	mov $0x100, %edx
	wrmsr
	rdtsc
	CHECK_EQ $0x100, %edx, "RDTSC follows a guest TSC write"

	/* APIC base: enabled BSP at the default address. */
	mov $0x1b, %ecx
	rdmsr
	CHECK_EQ $0xfee00900, %eax, "APIC base"
	EXPECT_HLT
	hlt

/* #GP: count it and skip the 2-byte RDMSR/WRMSR (error code, then RIP). */
gp_handler:
	inc %r13
	add $8, %rsp
	addq $2, (%rsp)
	iretq

	.balign 16
idt:	.fill 256 * 16, 1, 0
idtr:	.word 256 * 16 - 1
	.quad idt
