/* SMAP (SDM Vol. 3A 4.6, Vol. 2B STAC/CLAC): CPUID.7.0:EBX[20] offered;
 * STAC at CPL 3 is #UD; with CR4.SMAP a supervisor read or write of a
 * user page is #PF (error code P, W for the write; U/S clear) unless
 * RFLAGS.AC is 1 (STAC or POPF), and again #PF after CLAC (no stale
 * translation); an implicit supervisor access (an LDT descriptor read
 * while loading DS) to a user page is #PF whatever AC says, and succeeds
 * once CR4.SMAP is clear.  Expectations from the SDM. */
#include "guest.h"
#define PD 0x4000	/* the runner's page directory: 2 MiB pages */
#define UVA 0x208000	/* in PDE 1: a user page */
#define LDT 0x209000	/* an LDT on a user page */

/* the next access must raise #PF (vector 14) */
.macro PF_EXPECT rec
	movq $-1, vec
	movq $0, cr2v
	movq $\rec, recover
.endm

	GUEST_MODE 64, 1	/* every page a user page */
	.code64
	.globl _start
_start:
	SET_GATE64 idt, 13, h_gp
	SET_GATE64 idt, 6, h_ud3
	SET_GATE64 idt, 14, h_pf
	lidt idtr
	mov $7, %eax
	xor %ecx, %ecx
	cpuid
	bt $20, %ebx
	PASS_IF c, "CPUID.7.0:EBX.SMAP offered"

	/* STAC at CPL 3: #UD (the handler comes back to ring 0 at 1f) */
	RECOVER_AT 1f
	IRET_TO_USER64 user, ustack_top
1:	mov vec, %rbx
	CHECK_EQ $6, %rbx, "STAC at CPL 3: #UD"
	SET_GATE64 idt, 6, h_ud

	/* the first 2 MiB (code, stack, tables) supervisor-only */
	movq $0x83, PD
	mov %cr3, %rax
	mov %rax, %cr3
	movl $0x600dcafe, UVA
	mov %cr4, %rax
	bts $21, %rax
	mov %rax, %cr4
	mov %cr4, %rax
	bt $21, %rax
	PASS_IF c, "CR4.SMAP can be set"

	PF_EXPECT 1f
	mov UVA, %ebx
1:	mov vec, %rbx
	CHECK_EQ $14, %rbx, "supervisor read of a user page, AC=0: #PF"
	mov err, %rbx
	CHECK_EQ $1, %rbx, "read: error code P"
	mov cr2v, %rbx
	CHECK_EQ $UVA, %rbx, "read: CR2"
	PF_EXPECT 1f
	movl $1, UVA
1:	mov vec, %rbx
	CHECK_EQ $14, %rbx, "supervisor write of a user page, AC=0: #PF"
	mov err, %rbx
	CHECK_EQ $3, %rbx, "write: error code P|W"

	stac
	movq $-1, vec
	mov UVA, %ebx
	CHECK_EQ $0x600dcafe, %ebx, "STAC: supervisor read of a user page"
	movl $0x12345678, UVA
	mov UVA, %ebx
	CHECK_EQ $0x12345678, %ebx, "STAC: supervisor write of a user page"
	mov vec, %rbx
	CHECK_EQ $-1, %rbx, "STAC: no fault"
	clac
	PF_EXPECT 1f
	mov UVA, %ebx
1:	mov vec, %rbx
	CHECK_EQ $14, %rbx, "CLAC again: #PF (no stale translation)"

	pushf
	orq $0x40000, (%rsp)
	popf
	movq $-1, vec
	mov UVA, %ebx
	mov vec, %rcx
	CHECK_EQ $-1, %rcx, "POPF setting AC: read allowed"
	pushf
	andq $~0x40000, (%rsp)
	popf
	PF_EXPECT 1f
	mov UVA, %ebx
1:	mov vec, %rbx
	CHECK_EQ $14, %rbx, "POPF clearing AC: #PF"

	/* an LDT on a user page, its descriptor in GDT slot 9 (0x48) */
	sgdt gdtr
	mov gdtr + 2, %rdi
	mov 0x10(%rdi), %rax	/* the flat data descriptor */
	stac
	mov %rax, LDT
	clac
	mov $LDT, %eax
	mov %ax, 0x48 + 2(%rdi)	/* base 15:0 */
	shr $16, %eax
	mov %al, 0x48 + 4(%rdi)	/* base 23:16 */
	movw $0xff, 0x48(%rdi)	/* limit */
	movb $0x82, 0x48 + 5(%rdi)	/* present LDT */
	movq $0, 0x48 + 8(%rdi)
	movw $0x57, gdtr
	lgdt gdtr
	mov $0x48, %ax
	lldt %ax
	stac
	PF_EXPECT 1f
	mov $4, %ax		/* LDT entry 0 */
	mov %ax, %ds
1:	clac
	mov vec, %rbx
	CHECK_EQ $14, %rbx, "implicit access (LDT read) with AC=1: #PF"
	mov err, %rbx
	CHECK_EQ $1, %rbx, "implicit access: error code P"
	mov cr2v, %rbx
	CHECK_EQ $LDT, %rbx, "implicit access: CR2"
	mov %cr4, %rax
	btr $21, %rax
	mov %rax, %cr4
	movq $-1, vec
	mov $4, %ax
	mov %ax, %ds
	mov vec, %rbx
	CHECK_EQ $-1, %rbx, "the same load with CR4.SMAP clear"
	mov $0x10, %ax
	mov %ax, %ds
	EXPECT_HLT
	hlt

user:	stac
	ud2			/* not reached */

/* #UD from ring 3: back to ring 0 at recover on the ring-0 stack */
h_ud3:	movq $6, vec
	mov recover, %rax
	mov %rax, (%rsp)
	movq $0x08, 8(%rsp)
	movq $2, 16(%rsp)
	movq $0x7000, 24(%rsp)
	movq $0x10, 32(%rsp)
	iretq

h_pf:	pop err
	movq $14, vec
	push %rax
	mov %cr2, %rax
	mov %rax, cr2v
	mov recover, %rax
	mov %rax, 8(%rsp)
	pop %rax
	iretq

	RECOVER_HANDLERS
	.balign 8
cr2v:	.quad 0
gdtr:	.word 0
	.quad 0
	.balign 16
	.fill 256, 1, 0
ustack_top:
	RECOVER_DATA64
