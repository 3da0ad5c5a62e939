/*
 * Privilege transitions in long mode, on any KVM backend: IRETQ to ring 3,
 * SYSCALL/SYSRETQ, INT 0x80 through a DPL-3 gate, #GP from CLI/HLT/OUT at
 * CPL 3 and #UD from UD2 with the stack switched to TSS.RSP0, IRETQ back.
 * Each ring-0 handler reports through ports: 0x20 + n, data = what it saw.
 *
 *   gcc -O1 -Itests/guest -o build/user_mode tests/engine/user_mode.c tests/guest/tvm.c
 *   build/softkvm run -- build/user_mode      (and plain build/user_mode on the host)
 */
#define _GNU_SOURCE
#include "t_out.h"

#define LOAD 0x10000
#define USTACK 0x9000

/* Guest code; runs at LOAD, position independent. */
extern const unsigned char g_start[], g_end[], g_syscall[], g_int80[], g_gp[], g_ud[],
	g_user[];
__asm__(".pushsection .rodata\n"
	".code64\n"
	"g_start:\n"
	/* EFER.SCE, STAR (kernel CS 0x08, user base 0x18), LSTAR, SFMASK=IF */
	"	mov $0xc0000080, %ecx\n	rdmsr\n	or $1, %eax\n	wrmsr\n"
	"	mov $0xc0000081, %ecx\n	xor %eax, %eax\n	mov $0x00180008, %edx\n	wrmsr\n"
	"	mov $0xc0000082, %ecx\n	lea g_syscall(%rip), %rax\n	xor %edx, %edx\n	wrmsr\n"
	"	mov $0xc0000084, %ecx\n	mov $0x200, %eax\n	xor %edx, %edx\n	wrmsr\n"
	"	lidt idtr(%rip)\n"
	/* to ring 3 */
	"	pushq $0x23\n	pushq $0x9000\n	pushq $0x2\n	pushq $0x2b\n"
	"	lea g_user(%rip), %rax\n	push %rax\n	iretq\n"
	"g_user:\n"
	"	mov $0x11, %eax\n	syscall\n"	/* -> port 0x20, rax */
	"	int $0x80\n"			/* -> port 0x21, frame CS */
	"	cli\n"				/* #GP -> port 0x22, error code */
	"	mov %cs, %eax\n	mov %eax, %ebx\n	int $0x80\n" /* back in ring 3 */
	"	ud2\n"				/* #UD -> port 0x23, RSP in handler */
	"	mov $0x99, %eax\n	syscall\n"	/* end */
	"g_syscall:\n"
	"	cmp $0x99, %eax\n	je 1f\n"
	"	out %eax, $0x20\n	mov %cs, %eax\n	out %eax, $0x24\n	sysretq\n"
	"1:	hlt\n"
	"g_int80:\n"
	"	mov 8(%rsp), %rax\n	out %eax, $0x21\n	mov 32(%rsp), %rax\n	out %eax, $0x25\n	iretq\n"
	"g_gp:\n"
	"	mov (%rsp), %rax\n	out %eax, $0x22\n	mov %rsp, %rax\n	out %eax, $0x26\n"
	"	add $8, %rsp\n	addq $1, (%rsp)\n	iretq\n"	/* skip the 1-byte CLI */
	"g_ud:\n"
	"	mov %rsp, %rax\n	out %eax, $0x23\n	addq $2, (%rsp)\n	iretq\n"
	"	.balign 8\n"
	"idtr:	.word 256 * 16 - 1\n	.quad 0x20000\n"
	"g_end:\n"
	".popsection\n");

int main(void)
{
	struct tvm t;
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t) || tvm_setup_mode(&t, 64, LOAD, 1)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	memcpy(tvm_ptr(&t, LOAD), g_start, g_end - g_start);
#define OFF(l) (LOAD + (uint64_t)((l) - g_start))
	t_gate64(&t, 0x20000, 0x80, OFF(g_int80), 3);
	t_gate64(&t, 0x20000, 13, OFF(g_gp), 0);
	t_gate64(&t, 0x20000, 6, OFF(g_ud), 0);

	t_expect_out(&t, 0x20, 0x11, "SYSCALL from ring 3 reaches LSTAR with RAX");
	t_expect_out(&t, 0x24, 0x08, "SYSCALL loads CS from STAR[47:32]");
	t_expect_out(&t, 0x21, 0x2b, "INT 0x80 frame: CS of ring 3");
	t_expect_out(&t, 0x25, 0x23, "INT 0x80 frame: SS of ring 3");
	t_expect_out(&t, 0x22, 0, "CLI at CPL 3: #GP(0)");
	t_expect_out(&t, 0x26, 0x7000 - 48, "#GP frame on TSS.RSP0 with an error code");
	t_expect_out(&t, 0x21, 0x2b, "after IRETQ, INT 0x80 again from ring 3");
	t_expect_out(&t, 0x25, 0x23, "SS of ring 3 again");
	t_expect_out(&t, 0x23, 0x7000 - 40, "UD2: #UD frame without an error code");
	int r = ioctl(t.vcpu, KVM_RUN, 0);
	t_ok(r == 0 && t.run->exit_reason == KVM_EXIT_HLT, "SYSCALL 0x99 ends in HLT",
	   t.run->exit_reason, KVM_EXIT_HLT);
	struct kvm_regs regs;
	ioctl(t.vcpu, KVM_GET_REGS, &regs);
	t_ok(regs.r11 == 0x202 || regs.r11 == 0x2, "R11 holds ring 3 RFLAGS", (unsigned)regs.r11, 2);
	struct kvm_sregs s;
	ioctl(t.vcpu, KVM_GET_SREGS, &s);
	t_ok(s.cs.selector == 0x08 && s.ss.selector == 0x10, "CS/SS after SYSCALL",
	   s.cs.selector << 16 | s.ss.selector, 0x80010);
	printf("1..%d\n", t_n);
	tvm_destroy(&t);
	return t_fails != 0;
}
