/* 5-level paging (SDM Vol. 3A 4.5): 48-bit canonical checks under 4-level
 * paging first (a 57-bit address is #GP there), then, with CPUID.7.0:ECX.LA57,
 * MOV to CR4.LA57 in IA-32e mode is #GP(0); the guest leaves long mode
 * through compatibility mode, sets CR4.LA57, loads a PML5 and re-enters
 * long mode, as Linux's decompressor does.  With 5-level paging: accesses
 * above 2^47 through PML5 entries 1 and 511, FS-based, #PF with CR2 and
 * the error code there, code running above 2^47, #GP for 57-bit
 * non-canonical data and branch addresses, MSR bases checked at 57 bits.
 * Back to 4-level paging, the 48-bit rule again.  Expectations from the
 * SDM (canonicality Vol. 3A 4.5.1; MOV CR4 #GP list Vol. 2B; WRMSR base
 * checks at the CPU's width, as KVM's is_noncanonical_msr_address). */
#include "guest.h"
#define LO 0x0001000000000000	/* PML5 index 1 */
#define HI 0xffff000000000000	/* PML5 index 511: 57-bit canonical only */
#define NC48 0x0000800000000000	/* non-canonical with 48 bits, fine with 57 */
#define NC57 0x0100000000000000	/* non-canonical with 57 bits too */

	GUEST_MODE 64
	.code64
	.globl _start
_start:
	SET_GATE64 idt, 14, h_pf
	RECOVER_IDT
	mov %cr3, %r13			/* the runner's PML4 */

	/* ---- 4-level paging: 48-bit canonical addresses ---- */
	mov $HI, %rbx
	RECOVER_AT 1f
	mov (%rbx), %rax
1:	VEC_IS 13, "4-level: read at 0xffff000000000000: #GP"
	ERR_IS 0, "4-level: #GP error code 0"
	mov $NC48, %rbx
	RECOVER_AT 1f
	movq $1, (%rbx)
1:	VEC_IS 13, "4-level: write at 2^47: #GP"
	lea 1f(%rip), %rbx
	RECOVER_AT 1f
	mov $NC48, %rax
	jmp *%rax
1:	VEC_IS 13, "4-level: JMP to 2^47: #GP"
	ERR_IS 0, "4-level: JMP #GP error code 0"
	mov $7, %eax
	xor %ecx, %ecx
	cpuid
	xor %r12d, %r12d
	bt $16, %ecx
	setc %r12b			/* r12 = CPUID LA57 */
	/* WRMSR FS_BASE: checked at the CPU's width, not CR4.LA57's */
	mov $0xc0000100, %ecx
	mov $(NC48 >> 32), %edx
	xor %eax, %eax
	RECOVER_AT 1f
	wrmsr
1:	mov vec, %rax
	cmp $-1, %rax
	sete %al
	movzbl %al, %eax
	CHECK_EQ %r12, %rax, "4-level: WRMSR FS_BASE 2^47 accepted iff CPUID LA57"
	xor %eax, %eax
	xor %edx, %edx
	wrmsr

	/* #GP either way: a change in IA-32e mode, or a reserved bit */
	mov %cr4, %rax
	bts $12, %rax
	RECOVER_AT 1f
	mov %rax, %cr4
1:	VEC_IS 13, "MOV to CR4 setting LA57 in IA-32e mode: #GP"
	test %r12, %r12
	PASS_IF nz, "CPUID.7.0:ECX.LA57 offered"
	jz done				/* the rest needs it */

	/* ---- 5-level tables: PML5[0] is the runner's PML4, PML5[1] and
	 * PML5[511] a PML4 whose entry 0 leads to PT: page 0 data, page 1
	 * absent, page 2 read-only data, page 3 code ---- */
	mov %r13, %rax
	or $3, %rax
	mov %rax, pml5
	movq $pml4 + 3, pml5 + 8
	movq $pml4 + 3, pml5 + 511 * 8
	movq $pdpt + 3, pml4
	movq $pd + 3, pdpt
	movq $pt + 3, pd
	movq $data + 3, pt
	movq $data2 + 1, pt + 2 * 8
	movq $code + 1, pt + 3 * 8
	call to_la57

	mov %cr4, %rax
	bt $12, %rax
	PASS_IF c, "CR4.LA57 set outside IA-32e mode, reads back"
	mov $0xc0000080, %ecx
	rdmsr
	bt $10, %eax
	PASS_IF c, "EFER.LMA set again with 5-level paging"

	mov $LO + 8, %rbx
	movq $0x1122334455667788, %rax
	RECOVER_AT 1f
	mov %rax, (%rbx)
1:	VEC_IS -1, "5-level: write at 2^48 (PML5 index 1)"
	mov data + 8, %rax
	movq $0x1122334455667788, %rdx
	CHECK_EQ %rdx, %rax, "5-level: the write landed in the mapped page"
	mov $HI + 8, %rbx
	RECOVER_AT 1f
	mov (%rbx), %rcx
1:	VEC_IS -1, "5-level: read at 0xffff000000000008 (PML5 index 511)"
	CHECK_EQ %rdx, %rcx, "5-level: same page through PML5 index 511"
	mov $NC48, %rbx
	RECOVER_AT 1f
	mov (%rbx), %rax
1:	VEC_IS 14, "5-level: 2^47 is canonical: #PF (PML5E 0 maps no such PML4E)"

	mov $LO + 0x1010, %rbx
	RECOVER_AT 1f
	movq $5, (%rbx)
1:	VEC_IS 14, "5-level: write to an absent page above 2^48: #PF"
	mov $LO + 0x1010, %rax
	CHECK_EQ %rax, cr2v, "5-level: CR2 holds the 57-bit address"
	ERR_IS 2, "5-level: #PF error code: write, not present"
	mov $HI + 0x2000, %rbx
	RECOVER_AT 1f
	movq $5, (%rbx)
1:	VEC_IS 14, "5-level: write to a read-only page at PML5 index 511: #PF"
	mov $HI + 0x2000, %rax
	CHECK_EQ %rax, cr2v, "5-level: CR2 = 0xffff000000002000"
	ERR_IS 3, "5-level: #PF error code: write, present"

	mov $NC57, %rbx
	RECOVER_AT 1f
	mov (%rbx), %rax
1:	VEC_IS 13, "5-level: read at 2^56 (57-bit non-canonical): #GP"
	ERR_IS 0, "5-level: #GP error code 0"
	mov $0x8000000000000000, %rbx
	RECOVER_AT 1f
	movq $1, (%rbx)
1:	VEC_IS 13, "5-level: write at 2^63: #GP"
	mov $LO + 0x0ffc, %rbx		/* 8 bytes across into the absent page */
	RECOVER_AT 1f
	mov (%rbx), %rax
1:	VEC_IS 14, "5-level: an 8-byte read crossing into the absent page: #PF"
	mov $LO + 0x1000, %rax
	CHECK_EQ %rax, cr2v, "5-level: CR2 = the first byte of the absent page"

	/* code above 2^48, called often enough to be translated */
	mov $codeimg_end - codeimg, %ecx
	lea codeimg, %rsi
	lea code, %rdi
	rep movsb
	xor %r14d, %r14d
	mov $40, %r15d
2:	mov $HI + 0x3000, %rax
	RECOVER_AT 1f
	call *%rax
1:	add %rbx, %r14
	dec %r15d
	jnz 2b
	CHECK_EQ $(40 * 0x5a), %r14, "5-level: code at 0xffff000000003000 ran 40 times"
	VEC_IS -1, "5-level: no fault running code above 2^48"
	RECOVER_AT 1f
	mov $NC57, %rax
	jmp *%rax
1:	VEC_IS 13, "5-level: JMP to 2^56: #GP"
	/* a block branching to 2^47 many times: #GP each time, the
	 * interpreter's and any translation's check agree */
	xor %r14d, %r14d
	mov $20, %r15d
2:	RECOVER_AT 1f
	mov $NC57 + 0x1000, %rax
	jmp *%rax
1:	cmpq $13, vec
	jne 3f
	inc %r14
3:	dec %r15d
	jnz 2b
	CHECK_EQ $20, %r14, "5-level: 20 JMPs to a 57-bit non-canonical target: #GP each"

	/* MSR bases and FS-relative accesses with 57 bits */
	mov $0xc0000100, %ecx
	mov $(LO >> 32), %edx
	xor %eax, %eax
	RECOVER_AT 1f
	wrmsr
1:	VEC_IS -1, "5-level: WRMSR FS_BASE 2^48"
	mov %fs:8, %rax
	movq $0x1122334455667788, %rdx
	CHECK_EQ %rdx, %rax, "5-level: FS-relative read above 2^48"
	mov $(NC57 >> 32), %edx
	xor %eax, %eax
	RECOVER_AT 1f
	wrmsr
1:	VEC_IS 13, "5-level: WRMSR FS_BASE 2^56: #GP"
	mov $(HI >> 32), %edx
	xor %eax, %eax
	mov $0xc0000082, %ecx		/* LSTAR */
	RECOVER_AT 1f
	wrmsr
1:	VEC_IS -1, "5-level: WRMSR LSTAR 0xffff000000000000"
	xor %eax, %eax
	xor %edx, %edx
	wrmsr
	mov $0xc0000100, %ecx
	wrmsr
	mov $LO, %rax
	invlpg (%rax)
	mov %cr4, %rax
	btr $12, %rax
	RECOVER_AT 1f
	mov %rax, %cr4
1:	VEC_IS 13, "MOV to CR4 clearing LA57 in IA-32e mode: #GP"

	/* ---- back to 4-level paging ---- */
	call to_la48
	mov %cr4, %rax
	bt $12, %rax
	PASS_IF nc, "CR4.LA57 clear again"
	mov $HI + 8, %rbx
	RECOVER_AT 1f
	mov (%rbx), %rax
1:	VEC_IS 13, "4-level again: read at 0xffff000000000008: #GP"
	mov $0x1000 + 8, %rbx
	mov (%rbx), %rax
	mov 0x1000 + 8, %rcx
	CHECK_EQ %rcx, %rax, "4-level again: low memory as before"
done:	EXPECT_HLT
	hlt

/* Leave IA-32e mode through compatibility mode, set or clear CR4.LA57 with
 * paging off, load CR3, re-enable paging (EFER.LME is still set). */
to_la57:
	lea pml5, %rax
	mov %eax, newcr3
	movl $1, la57on
	jmp switch
to_la48:
	mov %r13d, newcr3
	movl $0, la57on
switch:	pushq $0x18			/* the runner's 32-bit code segment */
	lea c32, %rax
	push %rax
	lretq
	.code32
c32:	mov %cr0, %eax
	btr $31, %eax
	mov %eax, %cr0			/* EFER.LMA clears */
	mov %cr4, %eax
	btr $12, %eax
	cmpl $0, la57on
	je 1f
	bts $12, %eax
1:	mov %eax, %cr4
	mov newcr3, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	bts $31, %eax
	mov %eax, %cr0			/* EFER.LMA again */
	ljmp $0x08, $1f
	.code64
1:	ret

h_pf:	pop err
	movq $14, vec
	mov %cr2, %rax
	mov %rax, cr2v
	mov recover, %rax
	mov %rax, (%rsp)
	iretq
	RECOVER_HANDLERS

/* copied to the code page, run at HI + 0x3000 */
codeimg:
	mov $0x5a, %ebx
	ret
codeimg_end:

	.balign 8
cr2v:	.quad 0
newcr3:	.long 0
la57on:	.long 0
	RECOVER_DATA64
	.balign 4096
pml5:	.fill 4096, 1, 0
pml4:	.fill 4096, 1, 0
pdpt:	.fill 4096, 1, 0
pd:	.fill 4096, 1, 0
pt:	.fill 4096, 1, 0
data:	.fill 4096, 1, 0
data2:	.fill 4096, 1, 0
code:	.fill 4096, 1, 0
