/* VERR/VERW (SDM vol. 2B) from ring 3, which the host runs natively: ZF
 * for the runner's GDT selectors (user data writable, user code readable
 * not writable, ring-0 data not accessible from CPL 3, the TSS a system
 * segment, a null selector, one beyond the GDT limit), a memory operand,
 * and no other flag changed.  Linux's MDS mitigation runs VERW on every
 * return to user space.  Results are checked back in ring 0. */
#include "guest.h"
#define USTACK 0x60000
	GUEST_MODE 64, 1
	.code64
	.globl _start
_start:
	SET_GATE64 idt, 13, gp_handler
	lidt idtr
	IRET_TO_USER64 user, USTACK

.macro VER insn, sel, slot
	mov $\sel, %ax
	\insn %ax
	setz res + \slot
.endm

user:
	VER verw, 0x23, 0
	VER verr, 0x23, 1
	VER verw, 0x2b, 2
	VER verr, 0x2b, 3
	VER verw, 0x10, 4
	VER verr, 0x08, 5
	VER verw, 0x30, 6
	VER verw, 0x00, 7
	VER verw, 0xfff8, 8
	verw sel_mem
	setz res + 9
	stc				/* VERW leaves CF alone */
	verw sel_mem
	setc res + 10
	hlt				/* #GP: the end */

gp_handler:
	cmpb $1, res + 0
	PASS_IF e, "VERW user data (0x23): writable"
	cmpb $1, res + 1
	PASS_IF e, "VERR user data: readable"
	cmpb $0, res + 2
	PASS_IF e, "VERW user code (0x2b): not writable"
	cmpb $1, res + 3
	PASS_IF e, "VERR user code: readable"
	cmpb $0, res + 4
	PASS_IF e, "VERW ring-0 data from CPL 3: ZF clear"
	cmpb $0, res + 5
	PASS_IF e, "VERR ring-0 code from CPL 3: ZF clear"
	cmpb $0, res + 6
	PASS_IF e, "VERW TSS (system segment): ZF clear"
	cmpb $0, res + 7
	PASS_IF e, "VERW null selector: ZF clear"
	cmpb $0, res + 8
	PASS_IF e, "VERW beyond the GDT limit: ZF clear"
	cmpb $1, res + 9
	PASS_IF e, "VERW with a memory operand"
	cmpb $1, res + 10
	PASS_IF e, "VERW leaves CF alone"
	EXPECT_HLT
	hlt

sel_mem: .word 0x23
res:	.fill 16, 1, 0xff
	.balign 16
idt:	.fill 256 * 16, 1, 0
idtr:	.word 256 * 16 - 1
	.quad idt
