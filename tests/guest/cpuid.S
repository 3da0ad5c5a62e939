/* 64-bit: CPUID answers from the table the VMM set with KVM_SET_CPUID2
 * (the runner passes KVM_GET_SUPPORTED_CPUID through). */
#include "guest.h"
	GUEST_MODE 64
	.code64
	.globl _start
_start:
	mov $0x40000000, %eax
	cpuid
	CHECK_EQ $0x4b4d564b, %ebx, "leaf 0x40000000 EBX 'KVMK'"
	CHECK_EQ $0x564b4d56, %ecx, "leaf 0x40000000 ECX 'VMKV'"
	CHECK_EQ $0x4d, %edx, "leaf 0x40000000 EDX 'M'"
	xor %eax, %eax
	cpuid
	cmp $1, %eax
	PASS_IF ae, "leaf 0 reports at least leaf 1"
	mov $0x80000001, %eax
	cpuid
	bt $29, %edx
	PASS_IF c, "leaf 0x80000001 reports LM"
	mov $0x80000000, %eax
	cpuid
	cmp $0x80000008, %eax
	PASS_IF ae, "leaf 0x80000000 reports at least 0x80000008"
	mov $0xdeadbeef, %rbx
	mov $1, %eax
	cpuid
	shr $32, %rbx
	CHECK_EQ $0, %rbx, "CPUID zero-extends into RBX"
	EXPECT_HLT
	hlt
