/* PCID (SDM Vol. 3A 4.10.1, Vol. 2B MOV to CR3/CR4): CPUID.1:ECX[17]
 * offered; CR4.PCIDE may be set only with CR3[11:0] = 0 (#GP(0) else);
 * with PCIDE set, MOV to CR3 keeps bits 11:0 (the PCID) and does not store
 * bit 63 (the no-flush hint); with PCIDE clear, bit 63 is reserved
 * (#GP(0)); translations follow a remap after INVPCID type 1 for the
 * current PCID; PCIDE may be cleared with any PCID in CR3.  Expectations
 * from the SDM (and KVM's kvm_set_cr3/kvm_set_cr4). */
#include "guest.h"
#define PD 0x4000	/* the runner's page directory: 2 MiB pages */
#define VA 0x408000	/* PDE 2, remapped below */


	GUEST_MODE 64
	.code64
	.globl _start
_start:
	SET_GATE64 idt, 13, h_gp
	lidt idtr
	mov %cr3, %r13
	and $~0xfff, %r13
	mov %r13, %rax
	bts $63, %rax
	RECOVER_AT 1f
	mov %rax, %cr3
1:	CHECK_EQ $13, vec, "CR3 bit 63 with CR4.PCIDE clear: #GP(0)"
	mov $1, %eax
	cpuid
	bt $17, %ecx
	PASS_IF c, "CPUID.1:ECX.PCID offered"
	jnc done			/* the rest needs it */
	movl $0x600dcafe, 0x208000	/* physical 2 MiB + 0x8000 */

	mov %r13, %rax
	or $0x8, %rax			/* PWT: CR3[11:0] != 0 */
	mov %rax, %cr3
	mov %cr4, %rax
	bts $17, %rax
	RECOVER_AT 1f
	mov %rax, %cr4
1:	CHECK_EQ $13, vec, "CR4.PCIDE with CR3[11:0] = 8: #GP(0)"
	mov %r13, %cr3

	mov %cr4, %rax
	bts $17, %rax
	RECOVER_AT done			/* a fault here ends the test */
	mov %rax, %cr4
	CHECK_EQ $-1, vec, "CR4.PCIDE set with CR3[11:0] = 0"
	mov %cr4, %rax
	bt $17, %rax
	PASS_IF c, "CR4.PCIDE reads back set"

	mov %r13, %r14			/* (CHECK_EQ uses AX) */
	or $5, %r14
	mov %r14, %cr3
	mov %cr3, %rbx
	CHECK_EQ %r14, %rbx, "CR3 keeps PCID 5"
	bts $63, %r14
	mov %r14, %cr3
	mov %cr3, %rbx
	btr $63, %r14
	CHECK_EQ %r14, %rbx, "MOV to CR3 with bit 63: not stored"

	/* map VA to physical 0, read it (cached under PCID 5), remap to
	 * 2 MiB, INVPCID type 1 for PCID 5: the new mapping is seen */
	movq $(0 | 0x83), PD + 2 * 8
	invlpg VA
	mov VA, %eax
	mov _start, %ebx
	CHECK_EQ %eax, %ebx, "PCID 5: VA maps physical 0"
	movq $(0x200000 | 0x83), PD + 2 * 8
	movq $5, desc
	movq $0, desc + 8
	mov $1, %r12
	invpcid desc, %r12
	cmpl $0x600dcafe, VA
	PASS_IF e, "PCID 5: INVPCID type 1 shows the remapped page"

	mov %cr4, %rax
	btr $17, %rax
	RECOVER_AT done
	mov %rax, %cr4
	CHECK_EQ $-1, vec, "CR4.PCIDE cleared with PCID 5 in CR3"
	mov %r13, %cr3
	cmpl $0x600dcafe, VA
	PASS_IF e, "paging as before after PCIDE is cleared"
done:	EXPECT_HLT
	hlt

	RECOVER_HANDLERS

	.balign 16
desc:	.quad 0, 0
	RECOVER_DATA64
