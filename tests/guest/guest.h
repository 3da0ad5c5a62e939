/*
 * Guest test macros (GNU as, included from tests/guest/*.S).
 *
 * A guest is a tiny flat program linked at GUEST_LOAD (tests/guest/guest.ld).
 * It declares its start mode and, inline next to the code that causes them,
 * the exits the runner must see, in order.  Declarations go into the
 * non-loaded ELF section .skvm that tests/guest/run_guest.c reads:
 *
 *   GUEST_MODE 0             the vCPU's reset state: the runner's ROM at
 *                            0xffff0000 jumps from the reset vector to entry
 *   GUEST_MODE 16|32|64 [,user]  start in real mode (CS=0, IP=entry,
 *                            SP=0x7000), flat 32-bit protected mode, or 64-bit
 *                            long mode with identity paging of the first GiB
 *                            (runner's GDT: 0x08 code64, 0x10 data, 0x18
 *                            code32, 0x23 user data, 0x2b user code64, 0x30
 *                            TSS with RSP0 0x7000); user=1 sets U/S in every
 *                            mapping so the guest can drop to ring 3
 *   PASS_IF cc, "desc"       a check: passes if condition cc holds (clobbers
 *                            %ax, keeps flags); reported through ports
 *                            0xE0 (pass) / 0xE1 (fail) with its id
 *   CHECK_EQ src, dst, "desc"  cmp src, dst; PASS_IF e
 *   EXPECT_OUT port, size, value / EXPECT_IN port, size, value
 *   EXPECT_IO dir, port, size, count, bytes...   string I/O (the runner
 *                            accepts the access split over several exits)
 *   EXPECT_MMIO_W addr, len, value / EXPECT_MMIO_R addr, len, value
 *   EXPECT_HLT / EXPECT_SHUTDOWN
 *   EXPECT_EINTR al          the runner sets immediate_exit before the next
 *                            KVM_RUN: EINTR, KVM_EXIT_INTR, and a pending IN
 *                            completed first (RAX low byte = al; -1: no check)
 *
 * The last expected exit ends the test; checks never reported fail.
 */
#ifndef SKVM_GUEST_H
#define SKVM_GUEST_H

#define PORT_PASS 0xE0
#define PORT_FAIL 0xE1
#define MMIO_BASE 0xA0000	/* the hole between the runner's two RAM slots */

#define REC_MODE 1
#define REC_CHECK 2
#define REC_IO 3
#define REC_MMIO 4
#define REC_HLT 5
#define REC_SHUTDOWN 6
#define REC_EINTR 7

/* type, a, b, c, d, then nbytes of data, padded to 8. */
.macro SKVM_REC type, a=0, b=0, c=0, d=0, bytes:vararg
	.pushsection .skvm, "", @progbits
	.balign 8
	.quad \type, \a, \b, \c, \d, .Lrec_e\@ - .Lrec_s\@
.Lrec_s\@:
	.ifnb \bytes
	.byte \bytes
	.endif
.Lrec_e\@:
	.popsection
.endm

.macro GUEST_MODE bits, user=0
	SKVM_REC REC_MODE, \bits, \user
.endm

.macro PASS_IF cc, desc
	.pushsection .skvm, "", @progbits
	.balign 8
	.quad REC_CHECK, \@, 0, 0, 0, .Lchk_e\@ - .Lchk_s\@
.Lchk_s\@:
	.asciz "\desc"
.Lchk_e\@:
	.popsection
	mov $\@, %ax
	j\cc .Lchk_ok\@
	out %ax, $PORT_FAIL
	jmp .Lchk_done\@
.Lchk_ok\@:
	out %ax, $PORT_PASS
.Lchk_done\@:
.endm

.macro CHECK_EQ src, dst, desc
	cmp \src, \dst
	PASS_IF e, "\desc"
.endm

/* dir: 0 in, 1 out (KVM_EXIT_IO_IN / _OUT); value little endian */
.macro EXPECT_OUT port, size, value
	SKVM_REC REC_IO, 1, \port, \size, 1, (\value) & 0xff, ((\value) >> 8) & 0xff, ((\value) >> 16) & 0xff, ((\value) >> 24) & 0xff
.endm
.macro EXPECT_IN port, size, value
	SKVM_REC REC_IO, 0, \port, \size, 1, (\value) & 0xff, ((\value) >> 8) & 0xff, ((\value) >> 16) & 0xff, ((\value) >> 24) & 0xff
.endm
.macro EXPECT_IO dir, port, size, count, bytes:vararg
	SKVM_REC REC_IO, \dir, \port, \size, \count, \bytes
.endm
.macro EXPECT_MMIO_W addr, len, value
	SKVM_REC REC_MMIO, 1, \addr, \len, 0, (\value) & 0xff, ((\value) >> 8) & 0xff, ((\value) >> 16) & 0xff, ((\value) >> 24) & 0xff, ((\value) >> 32) & 0xff, ((\value) >> 40) & 0xff, ((\value) >> 48) & 0xff, ((\value) >> 56) & 0xff
.endm
.macro EXPECT_MMIO_R addr, len, value
	SKVM_REC REC_MMIO, 0, \addr, \len, 0, (\value) & 0xff, ((\value) >> 8) & 0xff, ((\value) >> 16) & 0xff, ((\value) >> 24) & 0xff, ((\value) >> 32) & 0xff, ((\value) >> 40) & 0xff, ((\value) >> 48) & 0xff, ((\value) >> 56) & 0xff
.endm
.macro EXPECT_HLT
	SKVM_REC REC_HLT
.endm
.macro EXPECT_SHUTDOWN
	SKVM_REC REC_SHUTDOWN
.endm
.macro EXPECT_EINTR al=-1
	SKVM_REC REC_EINTR, \al
.endm



/* 64-bit, ring 0: IRETQ to ring 3 at entry with RSP = stack (the runner's
 * user selectors 0x2b / 0x23), IF set. */
.macro IRET_TO_USER64 entry, stack
	push $0x23
	push $\stack
	push $0x202
	push $0x2b
	push $\entry
	iretq
.endm

/* 64-bit: write an interrupt gate (DPL 0, selector 0x08) for vector vec
 * into the 16-byte-per-entry IDT at idt.  Clobbers %rax, %rdx. */
.macro SET_GATE64 idt, vec, handler
	lea \handler, %rax
	mov %rax, %rdx
	and $0xffff, %eax
	or $0x00080000, %eax
	mov %eax, \idt + (\vec) * 16
	mov %rdx, %rax
	shr $16, %rax
	shl $16, %eax
	or $0x8e00, %eax
	mov %eax, \idt + (\vec) * 16 + 4
	shr $32, %rdx
	mov %edx, \idt + (\vec) * 16 + 8
	movl $0, \idt + (\vec) * 16 + 12
.endm
/* 32-bit: an interrupt gate (selector 0x08; attr: P, DPL, type) for vector
 * vec into the 8-byte-per-entry IDT at idt.  Clobbers %eax. */
.macro SET_GATE32 idt, vec, handler, attr=0x8e00
	mov $\handler, %eax
	mov %ax, \idt + (\vec) * 8
	movw $0x08, \idt + (\vec) * 8 + 2
	movw $\attr, \idt + (\vec) * 8 + 4
	shr $16, %eax
	mov %ax, \idt + (\vec) * 8 + 6
.endm
/* 32-bit code with its own `gdt`: an available 32-bit TSS descriptor for
 * tss with limit lim at gdt + slot.  Clobbers %eax. */
.macro TSS_DESC32 slot, tss, lim
	mov $\tss, %eax
	movw $\lim, gdt + \slot
	mov %ax, gdt + \slot + 2
	shr $16, %eax
	mov %al, gdt + \slot + 4
	movb $0x89, gdt + \slot + 5
	movb $0, gdt + \slot + 6
	mov %ah, gdt + \slot + 7
.endm
/* 16- and 32-bit guests that expect faults: ARM makes the next one resume
 * at rec (the guest's handlers read `recover`) with its vector in vec and
 * error code in err (32-bit words, -1: none); FAULTED checks both. */
.macro ARM rec
	movl $-1, vec
	movl $-1, err
	movl $\rec, recover
.endm
.macro FAULTED v, e, desc
	cmpl $\v, vec
	PASS_IF e, "\desc: vector"
	cmpl $\e, err
	PASS_IF e, "\desc: error code"
.endm
#endif

/* 64-bit guests that expect #GP/#UD: RECOVER_AT label makes the next fault
 * resume at label with its vector in vec (-1: none) and #GP's error code in
 * err; RECOVER_HANDLERS defines h_gp and h_ud, RECOVER_DATA64 the words and
 * a 32-entry IDT (idtr) for SET_GATE64, RECOVER_IDT sets the two gates and
 * loads it; VEC_IS / ERR_IS check vec / err. */
.macro RECOVER_AT rec
	movq $-1, vec
	movq $\rec, recover
.endm
/* the IDT of RECOVER_DATA64 with h_gp and h_ud, loaded */
.macro RECOVER_IDT
	SET_GATE64 idt, 13, h_gp
	SET_GATE64 idt, 6, h_ud
	lidt idtr
.endm
/* the last fault's vector / #GP error code was v (-1: no fault) */
.macro VEC_IS v, desc
	cmpq $\v, vec
	PASS_IF e, "\desc"
.endm
.macro ERR_IS v, desc
	cmpq $\v, err
	PASS_IF e, "\desc"
.endm
.macro RECOVER_HANDLERS
h_gp:	pop err
	movq $13, vec
	jmp 1f
h_ud:	movq $6, vec
1:	mov recover, %rax
	mov %rax, (%rsp)
	iretq
.endm
.macro RECOVER_DATA64
	.balign 16
vec:	.quad 0
err:	.quad 0
recover: .quad 0
idtr:	.word 32 * 16 - 1
	.quad idt
	.balign 16
idt:	.fill 32 * 16, 1, 0
.endm
