/* RDPID (SDM Vol. 2B): CPUID.7.0:ECX[22] offered; F3 0F C7 /7 reads
 * IA32_TSC_AUX into a 64-bit register in 64-bit mode (whole register
 * written), the same value RDTSCP puts in ECX; REX.B selects R8-R15.
 * Expectations from the SDM. */
#include "guest.h"
	GUEST_MODE 64
	.code64
	.globl _start
_start:
	mov $7, %eax
	xor %ecx, %ecx
	cpuid
	bt $22, %ecx
	PASS_IF c, "CPUID.7.0:ECX.RDPID offered"

	mov $0xc0000103, %ecx		/* IA32_TSC_AUX */
	mov $0x89abcdef, %eax
	xor %edx, %edx
	wrmsr
	mov $-1, %rbx
	rdpid %rbx
	mov $0x89abcdef, %eax
	CHECK_EQ %rax, %rbx, "RDPID r64: TSC_AUX, upper half cleared"
	mov $-1, %r9
	rdpid %r9
	mov $0x89abcdef, %eax
	CHECK_EQ %rax, %r9, "RDPID into R9 (REX.B)"
	rdtscp
	mov %ecx, %ebx
	rdpid %rdx
	CHECK_EQ %rbx, %rdx, "RDPID equals RDTSCP's ECX"
	EXPECT_HLT
	hlt
