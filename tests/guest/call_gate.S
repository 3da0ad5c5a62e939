/* Call gates in 32-bit protected mode (SDM Vol. 2A CALL, JMP, RET; Vol. 3A
 * 5.8): same-privilege JMP/CALL through 32- and 16-bit gates, CALL from
 * ring 3 to ring 0 with the stack from the TSS and the gate's parameters
 * copied, RET to the outer level (SS:ESP back, ES nulled), a conforming
 * target (CPL unchanged), and the #GP/#NP/#TS/#SS error codes of the
 * checks.  Expectations are written from the SDM. */
#include "guest.h"

#define STK0 0x30000	/* TSS.ESP0 */
#define STK1 0x28000	/* TSS.ESP1 */
#define USTK 0x20000	/* ring 3 */

/* gate in GDT slot (byte offset) slot: selector sel, target label, access
 * byte (P | DPL | type) << 8 | parameter count */
.macro GATE slot, sel, target, attr
	mov $\target, %eax
	mov %ax, gdt + \slot
	movw $\sel, gdt + \slot + 2
	movw $\attr, gdt + \slot + 4
	shr $16, %eax
	mov %ax, gdt + \slot + 6
.endm

	GUEST_MODE 32
	.code32
	.globl _start
_start:
	cli
	GATE 0x30, 0x08, gate_far0, 0xec02	/* 32-bit, DPL 3, 2 params -> ring 0 */
	GATE 0x38, 0x40, gate16, 0x8400		/* 16-bit, DPL 0 -> 16-bit ring 0 */
	GATE 0x48, 0x08, same0, 0x8c00		/* 32-bit, DPL 0 */
	GATE 0x50, 0x08, same0, 0x6c00		/* DPL 3, not present */
	GATE 0x58, 0x10, same0, 0xec00		/* DPL 3 -> a data segment */
	GATE 0x68, 0x60, conf, 0xec00		/* DPL 3 -> conforming ring 0 */
	GATE 0x78, 0x70, same0, 0xec00		/* DPL 3 -> code not present */
	GATE 0xa0, 0x88, ring1, 0xec00		/* DPL 3 -> ring 1 code */
	/* TSS descriptor 0x28: base tss, limit 0x67, available 32-bit */
	TSS_DESC32 0x28, tss, 0x67
	movl $STK0, tss + 4
	movl $0x10, tss + 8
	movl $STK1, tss + 12
	movl $0x23, tss + 16	/* SS1: RPL 3 for ring 1, first a #TS */
	movw $0x68, tss + 0x66
	SET_GATE32 idt, 10, exc_ts
	SET_GATE32 idt, 11, exc_np
	SET_GATE32 idt, 12, exc_ss
	SET_GATE32 idt, 13, exc_gp
	lgdt gdtr
	lidt idtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $STK0, %esp
	mov $0x28, %ax
	ltr %ax

	/* ---- ring 0: same privilege through gates ---- */
	movl $0, hit
	ljmp $0x48, $0x1234		/* the offset is ignored */
back_jmp:
	CHECK_EQ $1, hit, "JMP through a 32-bit gate reached its target"
	CHECK_EQ $0x08, hit_cs, "JMP through a gate: CS from the gate, RPL is CPL"

	mov %esp, %ebx
	lcall $0x48, $0
ret_call32:
	CHECK_EQ $0x08, saved_cs, "CALL through a 32-bit gate: CS pushed (4 bytes)"
	CHECK_EQ $ret_call32, saved_ip, "CALL through a 32-bit gate: EIP pushed"
	mov %ebx, %ecx
	sub $8, %ecx
	CHECK_EQ %ecx, saved_sp, "CALL through a 32-bit gate: 8 bytes pushed"
	CHECK_EQ %ebx, %esp, "far RET from a 32-bit gate call"

	lcall $0x38, $0
ret_call16:
	mov %ebx, %ecx
	sub $4, %ecx
	CHECK_EQ %ecx, saved_sp, "CALL through a 16-bit gate: 4 bytes pushed"
	CHECK_EQ $0x08, saved_cs, "CALL through a 16-bit gate: CS pushed (2 bytes)"
	CHECK_EQ $ret_call16, saved_ip, "CALL through a 16-bit gate: IP pushed"

	ARM 1f
	lcall $0x4b, $0
1:
	FAULTED 13, 0x48, "gate RPL 3 > gate DPL 0: #GP(gate)"

	/* ---- to ring 3 (IOPL 3 for the checks' OUTs) ---- */
	mov $0x23, %ax
	mov %ax, %ds
	mov %ax, %es
	push $0x23
	push $USTK
	push $0x3002
	push $0x1b
	push $user
	iret
user:
	mov %cs, %ax
	CHECK_EQ $0x1b, %ax, "in ring 3"

	/* CALL to ring 0 with 2 parameters */
	push $0x1111
	push $0x2222
	mov %esp, %ebx
	lcall $0x33, $0
ret_inner:
	CHECK_EQ $0x08, in_cs, "CALL to ring 0: CS from the gate"
	CHECK_EQ $0x10, in_ss, "CALL to ring 0: SS from TSS.SS0"
	CHECK_EQ $(STK0-24), in_sp, "CALL to ring 0: ESP is TSS.ESP0 less 24"
	CHECK_EQ $ret_inner, in_frame, "frame: EIP"
	CHECK_EQ $0x1b, in_frame+4, "frame: CS"
	CHECK_EQ $0x2222, in_frame+8, "frame: parameter 0 copied"
	CHECK_EQ $0x1111, in_frame+12, "frame: parameter 1 copied"
	CHECK_EQ %ebx, in_frame+16, "frame: old ESP"
	CHECK_EQ $0x23, in_frame+20, "frame: old SS"
	mov %cs, %ax
	CHECK_EQ $0x1b, %ax, "RET to ring 3: CS"
	mov %ss, %ax
	CHECK_EQ $0x23, %ax, "RET to ring 3: SS"
	lea 8(%ebx), %ecx
	CHECK_EQ %ecx, %esp, "RET imm to ring 3: ESP is the old ESP plus 8 (parameters released)"
	mov %es, %ax
	CHECK_EQ $0, %ax, "RET to ring 3: ES holding a DPL-0 segment nulled"
	mov %ds, %ax
	CHECK_EQ $0x23, %ax, "RET to ring 3: DS (DPL 3) kept"

	/* conforming target: CPL stays 3, no stack switch */
	mov %esp, %ebx
	lcall $0x6b, $0
	CHECK_EQ $0x63, saved_cs2, "CALL to conforming code: CS.RPL is CPL 3"
	lea -8(%ebx), %ecx
	CHECK_EQ %ecx, saved_sp2, "CALL to conforming code: same stack"

	ARM 1f
	lcall $0x4b, $0
1:
	FAULTED 13, 0x48, "gate DPL 0 < CPL 3: #GP(gate)"
	ARM 1f
	lcall $0x53, $0
1:
	FAULTED 11, 0x50, "gate not present: #NP(gate)"
	ARM 1f
	lcall $0x5b, $0
1:
	FAULTED 13, 0x10, "gate to a data segment: #GP(segment)"
	ARM 1f
	ljmp $0x33, $0
1:
	FAULTED 13, 0x08, "JMP through a gate to more privileged code: #GP(segment)"
	ARM 1f
	lcall $0x7b, $0
1:
	FAULTED 11, 0x70, "gate to a code segment not present: #NP(segment)"
	ARM 1f
	lcall $0xa3, $0
1:
	FAULTED 10, 0x20, "TSS.SS1 with RPL 3 for ring 1: #TS(SS)"
	movl $0xa9, tss + 16	/* flat (ring 3 may write it: no paging) */
	ARM 1f
	lcall $0xa3, $0
1:
	FAULTED 12, 0xa8, "TSS.SS1 not present: #SS(SS)"
	ARM 1f
	lcall $0x48, $0
1:
	FAULTED 13, 0x48, "selector RPL 0, gate DPL 0, CPL 3: #GP(gate)"
	mov %cs, %ax
	CHECK_EQ $0x1b, %ax, "still ring 3 after the faults"
	EXPECT_HLT
	int $0x30	/* no gate: #GP, then the handler halts */

/* ---- targets ---- */
same0:	/* ring 0 through gate 0x48: JMP or CALL */
	cmpl $0, hit
	jne 1f
	movl $1, hit
	mov %cs, %ax
	movzwl %ax, %eax
	mov %eax, hit_cs
	jmp back_jmp
1:	mov %esp, saved_sp
	mov (%esp), %eax
	mov %eax, saved_ip
	mov 4(%esp), %eax
	mov %eax, saved_cs
	lret

gate_far0:	/* ring 0 from ring 3, 2 parameters */
	mov %cs, %ax
	movzwl %ax, %eax
	mov %eax, %ss:in_cs
	mov %ss, %ax
	movzwl %ax, %eax
	mov %eax, %ss:in_ss
	mov %esp, %ss:in_sp
	mov $0, %ecx
1:	mov (%esp,%ecx,4), %eax
	mov %eax, %ss:in_frame(,%ecx,4)
	inc %ecx
	cmp $6, %ecx
	jne 1b
	mov $0x10, %ax
	mov %ax, %es	/* DPL 0: nulled by the RET to ring 3 */
	lret $8

conf:	/* conforming ring-0 code at CPL 3 */
	mov %cs, %ax
	movzwl %ax, %eax
	mov %eax, saved_cs2
	mov %esp, saved_sp2
	lret

ring1:
	hlt	/* never reached: the stack checks fail */

	.code16
gate16:	/* 16-bit ring 0 code, IP pushed as 2 bytes */
	mov %esp, saved_sp
	movzwl (%esp), %eax
	mov %eax, saved_ip
	movzwl 2(%esp), %eax
	mov %eax, saved_cs
	lretw
	.code32

/* exceptions: record vector and error code, resume at `recover` at the
 * faulting privilege level */
exc_ts:	movl $10, %ss:vec
	jmp exc_common
exc_np:	movl $11, %ss:vec
	jmp exc_common
exc_ss:	movl $12, %ss:vec
	jmp exc_common
exc_gp:	movl $13, %ss:vec
exc_common:
	cmpl $-1, %ss:recover
	je 1f
	popl %ss:err
	push %eax
	mov %ss:recover, %eax
	mov %eax, 4(%esp)
	movl $-1, %ss:recover
	pop %eax
	iret
1:	hlt

	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 code32 ring 0 */
	.quad 0x00cf92000000ffff	/* 0x10 data ring 0 */
	.quad 0x00cffa000000ffff	/* 0x18 code32 ring 3 */
	.quad 0x00cff2000000ffff	/* 0x20 data ring 3 */
	.quad 0				/* 0x28 TSS */
	.quad 0				/* 0x30 gate */
	.quad 0				/* 0x38 gate */
	.quad 0x00009a000000ffff	/* 0x40 code16 ring 0 */
	.quad 0, 0, 0			/* 0x48 0x50 0x58 gates */
	.quad 0x00cf9e000000ffff	/* 0x60 conforming code32 ring 0 */
	.quad 0				/* 0x68 gate */
	.quad 0x00cf1a000000ffff	/* 0x70 code32 ring 0, not present */
	.quad 0				/* 0x78 */
	.quad 0				/* 0x80 */
	.quad 0x00cfba000000ffff	/* 0x88 code32 ring 1 */
	.quad 0, 0			/* 0x90 0x98 */
	.quad 0				/* 0xa0 gate */
	.quad 0x00cf32000000ffff	/* 0xa8 data ring 1, not present */
gdt_end:
gdtr:	.word gdt_end - gdt - 1
	.long gdt
	.balign 8
idt:	.fill 32, 8, 0
idtr:	.word 32 * 8 - 1
	.long idt
	.balign 4
tss:	.fill 0x68, 1, 0
hit:	.long 0
hit_cs:	.long 0
saved_sp: .long 0
saved_ip: .long 0
saved_cs: .long 0
saved_sp2: .long 0
saved_cs2: .long 0
in_cs:	.long 0
in_ss:	.long 0
in_sp:	.long 0
in_frame: .fill 6, 4, 0
vec: .long 0
err: .long 0
recover: .long -1
