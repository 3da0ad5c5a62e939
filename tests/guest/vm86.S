/* Virtual-8086 mode (SDM Vol. 3B chapter 20): entered by IRET from CPL 0
 * with VM in the popped EFLAGS; segments as in real mode (base sel << 4);
 * with IOPL 0, CLI/STI/PUSHF/POPF/INT n/IRET raise #GP(0), SLDT #UD; I/O
 * goes by the TSS permission bitmap whatever IOPL says; INT3 (not
 * IOPL-sensitive) goes through a DPL-3 gate to ring 0 with ES, DS, FS, GS
 * pushed above SS:ESP and the data segments zeroed; IRET back to vm86;
 * with IOPL 3 the sensitive instructions run.  Expectations from the SDM. */
#include "guest.h"
#define STK0 0x30000


	GUEST_MODE 32
	.code32
	.globl _start
_start:
	cli
	TSS_DESC32 0x18, tss, (tss_end - tss - 1)
	movl $STK0, tss + 4
	movl $0x10, tss + 8
	movw $iomap - tss, tss + 0x66
	orb $1, iomap + 0x80 / 8	/* port 0x80 denied */
	SET_GATE32 idt, 3, h_bp, 0xee00
	SET_GATE32 idt, 6, h_ud, 0x8e00
	SET_GATE32 idt, 13, h_gp, 0x8e00
	SET_GATE32 idt, 0x21, h_i21, 0xee00
	lgdt gdtr
	lidt idtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $STK0, %esp
	mov $0x18, %ax
	ltr %ax
	push $0x6000	/* GS */
	push $0x5001	/* FS */
	push $0		/* DS */
	push $0x5000	/* ES */
	push $0		/* SS */
	push $0x7000	/* ESP */
	push $0x20002	/* EFLAGS: VM, IOPL 0 */
	push $0		/* CS */
	push $v86
	iret

	.code16
v86:
	mov %cs, %ax
	CHECK_EQ $0, %ax, "vm86: CS from the IRET frame"
	mov %es, %ax
	CHECK_EQ $0x5000, %ax, "vm86: ES from the IRET frame"
	movw $0xbeef, %es:0x10
	mov %fs:0, %ax
	CHECK_EQ $0xbeef, %ax, "vm86: segment bases are selector * 16"
	mov $0x1234, %ax
	mov %ax, %gs
	movw $0x4321, %gs:0
	mov $0x1000, %ax
	mov %ax, %ds
	mov 0x2340, %ax
	xor %bx, %bx
	mov %bx, %ds
	CHECK_EQ $0x4321, %ax, "vm86: MOV to GS loads base selector * 16"
	mov $0x6000, %ax
	mov %ax, %gs

	ARM 1f
	cli
1:	FAULTED 13, 0, "CLI with IOPL 0: #GP(0)"
	ARM 1f
	sti
1:	FAULTED 13, 0, "STI with IOPL 0: #GP(0)"
	ARM 1f
	pushf
1:	FAULTED 13, 0, "PUSHF with IOPL 0: #GP(0)"
	ARM 1f
	popf
1:	FAULTED 13, 0, "POPF with IOPL 0: #GP(0)"
	ARM 1f
	int $0x21
1:	FAULTED 13, 0, "INT n with IOPL 0: #GP(0)"
	ARM 1f
	iret
1:	FAULTED 13, 0, "IRET with IOPL 0: #GP(0)"
	ARM 1f
	out %al, $0x80
1:	FAULTED 13, 0, "OUT to a port the TSS bitmap denies: #GP(0)"
	ARM 1f
	sldt %ax
1:	mov vec, %bx
	CHECK_EQ $6, %bx, "SLDT in vm86: #UD"

	/* INT3: through the DPL-3 gate to ring 0 */
	movl $-1, vec
	movl $-2, recover
	mov %sp, %dx
	int3
after_bp:
	mov vec, %bx
	CHECK_EQ $3, %bx, "INT3 with IOPL 0 goes to the handler"
	mov $after_bp, %bx
	CHECK_EQ %bx, frame, "frame: EIP after INT3"
	mov frame+4, %bx
	CHECK_EQ $0, %bx, "frame: CS"
	mov frame+8, %ebx
	and $0x23000, %ebx
	CHECK_EQ $0x20000, %ebx, "frame: EFLAGS with VM, IOPL 0"
	CHECK_EQ %dx, frame+12, "frame: ESP"
	mov frame+16, %bx
	CHECK_EQ $0, %bx, "frame: SS"
	mov frame+20, %bx
	CHECK_EQ $0x5000, %bx, "frame: ES"
	mov frame+24, %bx
	CHECK_EQ $0, %bx, "frame: DS"
	mov frame+28, %bx
	CHECK_EQ $0x5001, %bx, "frame: FS"
	mov frame+32, %bx
	CHECK_EQ $0x6000, %bx, "frame: GS"
	mov h_seg, %bx
	CHECK_EQ $0, %bx, "handler: DS, ES, FS, GS null"
	mov h_ss, %bx
	CHECK_EQ $0x10, %bx, "handler: SS from TSS.SS0"
	mov h_sp, %ebx
	CHECK_EQ $(STK0-36), %ebx, "handler: 36-byte frame on TSS.ESP0"
	mov %es, %ax
	CHECK_EQ $0x5000, %ax, "IRET to vm86 reloads ES"
	mov %fs:0, %ax
	CHECK_EQ $0xbeef, %ax, "IRET to vm86 restores the FS base"

	/* the handler raises IOPL to 3 in the frame */
	movl $0x3000, set_iopl
	movl $-2, recover
	int3
	movl $0, set_iopl
	movl $-1, vec
	cli
	sti
	pushf
	pop %bx
	and $0x3000, %bx
	CHECK_EQ $0x3000, %bx, "IOPL 3: PUSHF runs, shows IOPL 3"
	pushfl
	pop %ebx
	and $0x20000, %ebx
	CHECK_EQ $0, %ebx, "PUSHFD in vm86: VM clear in the image"
	pushw $0x0202
	popf
	pushf
	pop %bx
	and $0x3200, %bx
	CHECK_EQ $0x3200, %bx, "POPF in vm86: IF set, IOPL kept"
	mov vec, %bx
	CHECK_EQ $-1, %bx, "IOPL 3: CLI, STI, PUSHF, POPF do not fault"
	movl $-2, recover
	int $0x21
	mov vec, %bx
	CHECK_EQ $0x21, %bx, "IOPL 3: INT n through the DPL-3 gate"
	pushf
	push %cs
	push $1f
	iret
	hlt
1:	mov frame+8, %ebx
	and $0x20000, %ebx
	CHECK_EQ $0x20000, %ebx, "IRET within vm86 (IOPL 3), INT 0x21 frame had VM"
	ARM 1f
	out %al, $0x80
1:	FAULTED 13, 0, "IOPL 3 does not open ports the bitmap denies"
	movl $-1, recover
	EXPECT_HLT
	hlt	/* #GP(0) in vm86: the handler halts */

	.code32
h_bp:	movl $3, %ss:vec
	jmp common
h_ud:	movl $6, %ss:vec
	jmp common
h_i21:	movl $0x21, %ss:vec
	jmp common
h_gp:	movl $13, %ss:vec
	popl %ss:err
common:
	push %eax
	push %ecx
	mov %esp, %ss:h_sp
	addl $8, %ss:h_sp
	xor %ecx, %ecx
1:	mov 8(%esp,%ecx,4), %eax
	mov %eax, %ss:frame(,%ecx,4)
	inc %ecx
	cmp $9, %ecx
	jne 1b
	mov %ds, %ax
	mov %es, %cx
	or %cx, %ax
	mov %fs, %cx
	or %cx, %ax
	mov %gs, %cx
	or %cx, %ax
	mov %ax, %ss:h_seg
	mov %ss, %ax
	mov %ax, %ss:h_ss
	testl $0x20000, 16(%esp)
	jz 3f
	mov %ss:recover, %eax
	cmp $-1, %eax
	je 3f
	cmp $-2, %eax
	je 2f
	mov %eax, 8(%esp)
2:	mov %ss:set_iopl, %eax
	or %eax, 16(%esp)
	pop %ecx
	pop %eax
	iret
3:	hlt

	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 code32 ring 0 */
	.quad 0x00cf92000000ffff	/* 0x10 data ring 0 */
	.quad 0				/* 0x18 TSS */
gdt_end:
gdtr:	.word gdt_end - gdt - 1
	.long gdt
	.balign 8
idt:	.fill 64, 8, 0
idtr:	.word 64 * 8 - 1
	.long idt
	.balign 4
tss:	.fill 0x68, 1, 0
iomap:	.fill 0x400 / 8, 1, 0
	.byte 0xff
tss_end:
	.balign 4
vec:	.long 0
err:	.long 0
recover: .long -1
set_iopl: .long 0
frame:	.fill 9, 4, 0
h_seg:	.long 0
h_ss:	.long 0
h_sp:	.long 0
