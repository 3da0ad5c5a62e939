/* 64-bit: 4K pages built by the guest, #PF on a not-present page and on a
 * write to a read-only page (CR0.WP), CR2 and the error code (SDM vol. 3
 * 4.7), the handler fixing the PTE and IRETQ restarting the access. */
#include "guest.h"
#define PT 0x30000
#define PD 0x4000		/* the runner's page directory */
	GUEST_MODE 64
	.code64
	.globl _start
_start:
	SET_GATE64 idt, 14, pf_handler
	lidt idtr
	/* PT for 2M..4M: identity, page 5 absent, page 6 read-only */
	xor %ecx, %ecx
1:	mov %rcx, %rax
	shl $12, %rax
	add $0x200000, %rax
	or $3, %rax
	mov %rax, PT(,%rcx,8)
	inc %ecx
	cmp $512, %ecx
	jne 1b
	movq $0, PT + 5 * 8
	andq $~2, PT + 6 * 8
	movq $PT + 3, PD + 8
	mov %cr3, %rax
	mov %rax, %cr3

	mov $0x205008, %rbx
	movq $0x1234, (%rbx)
	cmpq $1, pf_count
	PASS_IF e, "one #PF for the absent page"
	cmpq $0x205008, last_cr2
	PASS_IF e, "CR2 holds the faulting address"
	cmpq $2, last_err
	PASS_IF e, "error code: write, not present"
	cmpq $0x1234, (%rbx)
	PASS_IF e, "the restarted store landed"
	mov $0x206010, %rbx
	mov (%rbx), %rax
	cmpq $1, pf_count
	PASS_IF e, "reading a read-only page does not fault"
	movl $0x77, (%rbx)
	cmpq $2, pf_count
	PASS_IF e, "writing a read-only page faults with CR0.WP"
	cmpq $3, last_err
	PASS_IF e, "error code: write, present"
	cmpq $0x77, (%rbx)
	PASS_IF e, "the restarted store to the now writable page landed"
	EXPECT_HLT
	hlt

pf_handler:
	push %rax
	mov %cr2, %rax
	mov %rax, last_cr2
	mov 8(%rsp), %rax
	mov %rax, last_err
	mov last_cr2, %rax
	shr $12, %rax
	and $511, %rax
	orq $3, PT(,%rax,8)
	mov last_cr2, %rax
	invlpg (%rax)
	incq pf_count
	pop %rax
	add $8, %rsp
	iretq

	.balign 16
idt:	.fill 256 * 16, 1, 0
idtr:	.word 256 * 16 - 1
	.quad idt
pf_count: .quad 0
last_cr2: .quad 0
last_err: .quad 0
