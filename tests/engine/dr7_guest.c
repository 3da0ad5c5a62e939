/*
 * Breakpoints armed in the guest's own debug registers (SDM Vol. 3B 17.2,
 * 17.3): a 64-bit guest arms DR0-3/DR7 with MOV DR and takes #DB through its
 * IDT.  Data breakpoints (R/W 01 writes only, R/W 11 reads and writes) are
 * traps after the access with B<n> in DR6; an instruction breakpoint is a
 * fault before the instruction (the handler resumes with RFLAGS.RF); an I/O
 * breakpoint (R/W 10 with CR4.DE) traps after the OUT, once the VMM has
 * taken its KVM_EXIT_IO; MOV DR with DR7.GD faults with DR6.BD and clears
 * GD.  Also a breakpoint restored through KVM_SET_DEBUGREGS.  The #DB
 * handler reports DR6 on port 0x20 and the saved RIP (offset from the code's
 * start) on port 0x21.
 *
 *   build/softkvm run -- build/tests/engine/dr7_guest
 */
#define _GNU_SOURCE
#include "t_out.h"

#define LOAD 0x10000

extern const unsigned char g_start[], g_end[], g_db[], g_after_w[], g_after_r[], g_x[],
	g_after_io[], g_gd[], g_hlt[], g_var[];
__asm__(".pushsection .rodata\n"
	".code64\n"
	"g_start:\n"
	"	lidt idtr(%rip)\n"
	/* 1: DR0 = g_var, L0, R/W0 = 01 (writes), LEN0 = 11 (4 bytes) */
	"	lea g_var(%rip), %rax\n	mov %rax, %dr0\n"
	"	mov $0x000d0001, %eax\n	mov %rax, %dr7\n"
	"	mov g_var(%rip), %ebx\n"		/* a read: no trap */
	"	movl $5, g_var(%rip)\n"			/* a write: trap */
	"g_after_w:\n"
	/* 2: R/W0 = 11: a read traps too */
	"	mov $0x000f0001, %eax\n	mov %rax, %dr7\n"
	"	mov g_var+2(%rip), %bl\n"		/* inside the 4 bytes */
	"g_after_r:\n"
	/* 3: DR1 = g_x, L1, R/W1 = 00: a fault before g_x */
	"	lea g_x(%rip), %rax\n	mov %rax, %dr1\n	mov $0x4, %eax\n	mov %rax, %dr7\n"
	"	nop\n"
	"g_x:	nop\n"
	/* 4: CR4.DE, DR2 = port 0x80, L2, R/W2 = 10: a trap after OUT */
	"	mov %cr4, %rax\n	or $8, %rax\n	mov %rax, %cr4\n"
	"	mov $0x80, %eax\n	mov %rax, %dr2\n	mov $0x02000010, %eax\n	mov %rax, %dr7\n"
	"	mov $0x55, %al\n	out %al, $0x80\n"
	"g_after_io:\n"
	/* 5: DR7.GD: the next MOV DR faults with BD; the handler skips it */
	"	mov $0x2400, %eax\n	mov %rax, %dr7\n"
	"g_gd:	mov %dr0, %rax\n"
	"	mov %dr7, %rax\n	out %eax, $0x22\n"	/* GD cleared by the #DB */
	"g_hlt:	hlt\n"
	"	jmp g_hlt\n"
	"g_db:\n"
	"	mov %dr6, %rax\n	out %eax, $0x20\n"
	"	mov (%rsp), %rax\n	lea g_start(%rip), %rcx\n	sub %rcx, %rax\n	out %eax, $0x21\n"
	"	xor %eax, %eax\n	mov %rax, %dr6\n"
	"	orq $0x10000, 16(%rsp)\n"		/* RF: past an instruction breakpoint */
	"	lea g_gd(%rip), %rcx\n	cmp %rcx, (%rsp)\n	jne 1f\n	addq $3, (%rsp)\n"
	"1:	iretq\n"
	"	.balign 8\n"
	"idtr:	.word 256 * 16 - 1\n	.quad 0x20000\n"
	"	.balign 4\n"
	"g_var:	.long 0\n"
	"g_end:\n"
	".popsection\n");

#define OFF(l) ((unsigned)((l) - g_start))

int main(void)
{
	struct tvm t;
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t) || tvm_setup_mode(&t, 64, LOAD, 0)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	memcpy(tvm_ptr(&t, LOAD), g_start, g_end - g_start);
	t_gate64(&t, 0x20000, 1, LOAD + OFF(g_db), 0);

	t_expect_out(&t, 0x20, 0xffff0ff1, "data write breakpoint: #DB with DR6.B0");
	t_expect_out(&t, 0x21, OFF(g_after_w), "... a trap after the write (the read before it passed)");
	t_expect_out(&t, 0x20, 0xffff0ff1, "R/W 11: a read inside the range: DR6.B0");
	t_expect_out(&t, 0x21, OFF(g_after_r), "... a trap after the read");
	t_expect_out(&t, 0x20, 0xffff0ff2, "instruction breakpoint: DR6.B1");
	t_expect_out(&t, 0x21, OFF(g_x), "... a fault before the instruction; RF lets it run");
	t_expect_out(&t, 0x80, 0x55, "the OUT on the I/O breakpoint's port reaches the VMM");
	t_expect_out(&t, 0x20, 0xffff0ff4, "I/O breakpoint (CR4.DE): DR6.B2");
	t_expect_out(&t, 0x21, OFF(g_after_io), "... a trap after the OUT");
	t_expect_out(&t, 0x20, 0xffff2ff0, "MOV DR with DR7.GD: DR6.BD");
	t_expect_out(&t, 0x21, OFF(g_gd), "... a fault before the MOV");
	t_expect_out(&t, 0x22, 0x400, "... and DR7.GD is clear in the handler's wake");
	int r = ioctl(t.vcpu, KVM_RUN, 0);
	t_ok(r == 0 && t.run->exit_reason == KVM_EXIT_HLT, "the guest ends in HLT",
	   t.run->exit_reason, KVM_EXIT_HLT);

	/* An instruction breakpoint restored through KVM_SET_DEBUGREGS, on the
	 * HLT the guest loops on. */
	struct kvm_debugregs d;
	memset(&d, 0, sizeof(d));
	ioctl(t.vcpu, KVM_GET_DEBUGREGS, &d);
	d.db[3] = LOAD + OFF(g_hlt);
	d.dr7 = 0x440; /* L3, R/W3 = 00 */
	t_ok(ioctl(t.vcpu, KVM_SET_DEBUGREGS, &d) == 0, "KVM_SET_DEBUGREGS arms DR3", 0, 0);
	t_expect_out(&t, 0x20, 0xffff0ff8, "a restored instruction breakpoint: DR6.B3");
	t_expect_out(&t, 0x21, OFF(g_hlt), "... before the HLT");
	r = ioctl(t.vcpu, KVM_RUN, 0);
	t_ok(r == 0 && t.run->exit_reason == KVM_EXIT_HLT, "RF lets the HLT run",
	   t.run->exit_reason, KVM_EXIT_HLT);
	printf("1..%d\n", t_n);
	fflush(stdout);
	tvm_destroy(&t);
	return t_fails != 0;
}
