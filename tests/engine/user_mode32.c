/*
 * Privilege transitions in 32-bit protected mode: LTR of a 32-bit TSS,
 * IRETD to ring 3 (data segments the outer level may not use become null),
 * INT 0x80 through a DPL-3 interrupt gate with the stack switched to
 * TSS.SS0:ESP0, #GP from CLI at CPL 3 with its error code, IRETD back.
 * Handlers report through ports 0x20 + n.
 *
 *   gcc -O1 -Itests/guest -o build/user_mode32 tests/engine/user_mode32.c tests/guest/tvm.c
 *   build/softkvm run -- build/user_mode32
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "t_out.h"

#define LOAD 0x10000
#define IDT 0x20000
#define TSS32 0x6000

extern const unsigned char h_start[], h_end[], h_user[], h_int80[], h_gp[];
__asm__(".pushsection .rodata\n"
	".code32\n"
	"h_start:\n"
	"	lidt (0x10000 + idtr - h_start)\n"
	"	mov $0x28, %ax\n	ltr %ax\n"
	"	pushl $0x23\n	pushl $0x9000\n	pushl $0x2\n	pushl $0x1b\n"
	"	pushl $(0x10000 + h_user - h_start)\n	iret\n"
	"h_user:\n"
	"	mov %ds, %eax\n	mov $1, %ebx\n	int $0x80\n"	/* 0x20: DS after IRET */
	"	mov %ss, %eax\n	mov $2, %ebx\n	int $0x80\n"	/* 0x21: SS */
	"	cli\n"						/* #GP */
	"	mov $0x99, %ebx\n	int $0x80\n"
	"h_int80:\n"
	"	cmp $0x99, %ebx\n	je 1f\n"
	"	cmp $1, %ebx\n	jne 2f\n"
	"	out %eax, $0x20\n"
	"	mov 4(%esp), %eax\n	out %eax, $0x22\n"		/* frame CS */
	"	mov 16(%esp), %eax\n	out %eax, $0x23\n"	/* frame SS */
	"	mov %esp, %eax\n	out %eax, $0x24\n"		/* on ESP0 */
	"	mov %ss, %eax\n	out %eax, $0x25\n"		/* SS0 */
	"	iret\n"
	"2:	out %eax, $0x21\n	iret\n"
	"1:	hlt\n"
	"h_gp:\n"
	"	mov (%esp), %eax\n	out %eax, $0x26\n"
	"	mov %esp, %eax\n	out %eax, $0x27\n"
	"	add $4, %esp\n	incl (%esp)\n	iret\n"
	"	.balign 8\n"
	"idtr:	.word 256 * 8 - 1\n	.long 0x20000\n"
	"h_end:\n"
	".code64\n"
	".popsection\n");

static void gate(struct tvm *t, int vec, uint32_t off, int dpl)
{
	uint64_t *g = tvm_ptr(t, IDT + vec * 8);
	*g = (off & 0xffff) | (0x08ull << 16) | (0xeull << 40) | ((uint64_t)dpl << 45) |
	     (1ull << 47) | ((uint64_t)(off >> 16) << 48);
}

int main(void)
{
	struct tvm t;
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t) || tvm_setup_mode(&t, 32, LOAD, 0)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	memcpy(tvm_ptr(&t, LOAD), h_start, h_end - h_start);
	uint64_t *gdt = tvm_ptr(&t, TVM_GDT);
	gdt[1] = t_desc(0, 0xfffff, 0xb, 1, 0, 1, 1);	/* 0x08 ring-0 code */
	gdt[2] = t_desc(0, 0xfffff, 0x3, 1, 0, 1, 1);	/* 0x10 ring-0 data */
	gdt[3] = t_desc(0, 0xfffff, 0xb, 1, 3, 1, 1);	/* 0x1b ring-3 code */
	gdt[4] = t_desc(0, 0xfffff, 0x3, 1, 3, 1, 1);	/* 0x23 ring-3 data */
	gdt[5] = t_desc(TSS32, 0x67, 0x9, 0, 0, 0, 0);	/* 0x28 32-bit TSS */
	uint32_t *tss = tvm_ptr(&t, TSS32);
	memset(tss, 0, 0x68);
	tss[1] = 0x7000;	/* ESP0 */
	tss[2] = 0x10;		/* SS0 */
#define OFF(l) (LOAD + (uint32_t)((l) - h_start))
	gate(&t, 0x80, OFF(h_int80), 3);
	gate(&t, 13, OFF(h_gp), 0);

	t_expect_out(&t, 0x20, 0, "IRETD to ring 3 nulls DS (DPL 0 < CPL 3)");
	t_expect_out(&t, 0x22, 0x1b, "INT 0x80 frame: ring-3 CS");
	t_expect_out(&t, 0x23, 0x23, "INT 0x80 frame: ring-3 SS");
	t_expect_out(&t, 0x24, 0x7000 - 20, "handler runs on TSS.ESP0 (5-word frame)");
	t_expect_out(&t, 0x25, 0x10, "handler SS from TSS.SS0");
	t_expect_out(&t, 0x21, 0x23, "back in ring 3: SS");
	t_expect_out(&t, 0x26, 0, "CLI at CPL 3: #GP(0)");
	t_expect_out(&t, 0x27, 0x7000 - 24, "#GP frame with error code on ESP0");
	int r = ioctl(t.vcpu, KVM_RUN, 0);
	t_ok(r == 0 && t.run->exit_reason == KVM_EXIT_HLT, "final INT 0x80 ends in HLT",
	     t.run->exit_reason, KVM_EXIT_HLT);
	struct kvm_sregs s;
	ioctl(t.vcpu, KVM_GET_SREGS, &s);
	t_ok(s.tr.selector == 0x28 && s.tr.type == 11, "TR loaded and busy", s.tr.selector,
	     0x28);
	printf("1..%d\n", t_n);
	tvm_destroy(&t);
	return t_fails != 0;
}
