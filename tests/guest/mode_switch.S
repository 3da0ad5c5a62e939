/* Real mode -> 32-bit protected mode -> long mode (PAE paging built by the
 * guest, EFER.LME by WRMSR, CR0.PG), as a boot loader does (SDM vol. 3 9.8). */
#include "guest.h"
#define PT 0x20000
	GUEST_MODE 16
	.code16
	.globl _start
_start:
	cli
	lgdtl gdtr
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $pm32

	.code32
pm32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $0x7000, %esp
	mov %cr0, %eax
	test $1, %al
	PASS_IF nz, "CR0.PE set in 32-bit code"
	EXPECT_OUT 0x80, 1, 32
	mov $32, %al
	out %al, $0x80

	mov $PT, %edi
	mov $3 * 1024, %ecx
	xor %eax, %eax
	cld
	rep stosl
	movl $PT + 0x1003, PT
	movl $PT + 0x2003, PT + 0x1000
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax
	mov %eax, PT + 0x2000(,%ecx,8)
	inc %ecx
	cmp $512, %ecx
	jne 1b
	mov $PT, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax
	mov %eax, %cr4
	mov $0xc0000080, %ecx
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	ljmp $0x18, $lm64

	.code64
lm64:
	mov $0xc0000080, %ecx
	rdmsr
	bt $10, %eax
	PASS_IF c, "EFER.LMA set after enabling paging"
	mov $0x123456789, %rax
	mov %rax, %rbx
	shr $32, %rbx
	CHECK_EQ $1, %rbx, "64-bit registers in long mode"
	EXPECT_OUT 0x80, 1, 64
	mov $64, %al
	out %al, $0x80
	EXPECT_HLT
	hlt

	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 code32 */
	.quad 0x00cf92000000ffff	/* 0x10 data */
	.quad 0x00af9a000000ffff	/* 0x18 code64 */
gdtr:	.word gdtr - gdt - 1
	.long gdt
