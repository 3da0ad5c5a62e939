/* INVPCID (SDM Vol. 2A): CPUID.7.0:EBX[10] offered; types 0-3 invalidate
 * (a 2 MiB mapping changed under a cached translation is seen after each);
 * #GP(0) for type > 3, descriptor bits 63:12 set, a PCID other than 0 for
 * types 0/1 with CR4.PCIDE clear, a non-canonical address for type 0;
 * #UD for a register operand.  Expectations from the SDM. */
#include "guest.h"
#define PD 0x4000	/* the runner's page directory: 2 MiB pages */
#define VA 0x408000	/* PDE 2, remapped below */

/* map VA's 2 MiB page to physical pa, read VA (caching the translation) */
.macro MAP pa
	movq $(\pa | 0x83), PD + 2 * 8
.endm


	GUEST_MODE 64
	.code64
	.globl _start
_start:
	RECOVER_IDT
	mov $7, %eax
	xor %ecx, %ecx
	cpuid
	bt $10, %ebx
	PASS_IF c, "CPUID.7.0:EBX.INVPCID offered"
	movl $0x600dcafe, 0x208000	/* physical 2 MiB + 0x8000 */

	/* each type: map PA 0, read; map PA 2 MiB; INVPCID; read again */
	xor %r12d, %r12d
1:	MAP 0
	invlpg VA
	mov VA, %eax
	mov _start, %ebx
	cmp %eax, %ebx
	jne 9f
	MAP 0x200000
	movq $0, desc
	movq $VA, desc + 8
	invpcid desc, %r12
	cmpl $0x600dcafe, VA
	jne 9f
	inc %r12
	cmp $4, %r12
	jne 1b
9:	CHECK_EQ $4, %r12, "types 0, 1, 2, 3 invalidate the changed mapping"

	movq $0, desc
	mov $4, %r12
	RECOVER_AT 1f
	invpcid desc, %r12
1:	CHECK_EQ $13, vec, "type 4: #GP(0)"
	CHECK_EQ $0, err, "type 4: error code 0"
	mov $2, %r12
	movq $0x1000, desc
	RECOVER_AT 1f
	invpcid desc, %r12
1:	CHECK_EQ $13, vec, "descriptor bits 63:12 set: #GP(0)"
	xor %r12, %r12
	movq $1, desc
	RECOVER_AT 1f
	invpcid desc, %r12
1:	CHECK_EQ $13, vec, "type 0, PCID 1 with CR4.PCIDE clear: #GP(0)"
	mov $1, %r12
	RECOVER_AT 1f
	invpcid desc, %r12
1:	CHECK_EQ $13, vec, "type 1, PCID 1 with CR4.PCIDE clear: #GP(0)"
	mov $2, %r12
	movq $-1, vec
	invpcid desc, %r12
	CHECK_EQ $-1, vec, "type 2 ignores the PCID field"
	xor %r12, %r12
	movq $0, desc
	/* non-canonical with 57 bits too: the check is at the CPU's width
	 * (KVM's is_noncanonical_invlpg_address), not CR4.LA57's */
	movabs $0x0100000000000000, %rax
	mov %rax, desc + 8
	RECOVER_AT 1f
	invpcid desc, %r12
1:	CHECK_EQ $13, vec, "type 0, non-canonical address: #GP(0)"
	RECOVER_AT 1f
	.byte 0x66, 0x0f, 0x38, 0x82, 0xc0	/* invpcid with mod = 3 */
1:	CHECK_EQ $6, vec, "register operand: #UD"
	EXPECT_HLT
	hlt

	RECOVER_HANDLERS

	.balign 16
desc:	.quad 0, 0
	RECOVER_DATA64
