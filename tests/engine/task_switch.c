/*
 * Hardware task switches are not implemented: far JMP to an available TSS,
 * far CALL through a task gate, INT n through a task gate in the IDT and
 * IRET with EFLAGS.NT must each end KVM_RUN with KVM_EXIT_INTERNAL_ERROR /
 * KVM_INTERNAL_ERROR_EMULATION and the instruction bytes (KVM's
 * prepare_emulation_failure_exit layout: data[0] = flags, data[1] = length,
 * then the bytes), with nothing committed (RIP, CS, TR unchanged).
 * A far JMP to a busy TSS is no task switch: #GP(selector).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "t_out.h"

#define LOAD 0x10000
#define IDT 0x20000
#define TSS_A 0x6000
#define TSS_B 0x6100

extern const unsigned char ts_start[], ts_end[], ts_jmp[], ts_call[], ts_int[], ts_iret[],
	ts_busy[], ts_gp[];
__asm__(".pushsection .rodata\n"
	".code32\n"
	"ts_start:\n"
	"ts_jmp:	ljmp $0x30, $0\n"
	"ts_call:	lcall $0x38, $0\n"
	"ts_int:	int $0x40\n"
	"ts_iret:	iret\n"
	"ts_busy:	ljmp $0x28, $0\n"
	"ts_gp:	pop %eax\n	out %eax, $0x20\n	hlt\n"
	"ts_end:\n"
	".code64\n"
	".popsection\n");

static uint64_t desc(uint32_t base, uint32_t limit, int type, int s, int dpl, int db, int g)
{
	return (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)type << 40) |
	       ((uint64_t)s << 44) | ((uint64_t)dpl << 45) | (1ull << 47) |
	       ((uint64_t)(limit >> 16 & 0xf) << 48) | ((uint64_t)db << 54) |
	       ((uint64_t)g << 55) | ((uint64_t)(base >> 24) << 56);
}

#define OFF(l) (LOAD + (uint32_t)((l) - ts_start))

static void unimpl(struct tvm *t, const unsigned char *at, unsigned len, uint64_t flags,
		   const char *what)
{
	struct kvm_regs r;
	ioctl(t->vcpu, KVM_GET_REGS, &r);
	r.rip = OFF(at);
	r.rflags = flags;
	ioctl(t->vcpu, KVM_SET_REGS, &r);
	int rc = ioctl(t->vcpu, KVM_RUN, 0);
	struct kvm_run *run = t->run;
	char m[128];
	snprintf(m, sizeof(m), "%s: KVM_EXIT_INTERNAL_ERROR", what);
	t_ok(rc == 0 && run->exit_reason == KVM_EXIT_INTERNAL_ERROR, m, run->exit_reason,
	     KVM_EXIT_INTERNAL_ERROR);
	snprintf(m, sizeof(m), "%s: emulation suberror", what);
	t_ok(run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION, m, run->internal.suberror,
	     KVM_INTERNAL_ERROR_EMULATION);
	const unsigned char *b = run->emulation_failure.insn_bytes;
	snprintf(m, sizeof(m), "%s: instruction bytes", what);
	t_ok(run->emulation_failure.ndata >= 3 &&
	     (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
	     run->emulation_failure.insn_size >= len && !memcmp(b, at, len), m, b[0], at[0]);
	struct kvm_sregs s;
	ioctl(t->vcpu, KVM_GET_REGS, &r);
	ioctl(t->vcpu, KVM_GET_SREGS, &s);
	snprintf(m, sizeof(m), "%s: nothing committed (RIP, CS, TR)", what);
	t_ok(r.rip == OFF(at) && s.cs.selector == TVM_SEL_CODE32 && s.tr.selector == 0x28, m,
	     (unsigned)r.rip, OFF(at));
}

int main(void)
{
	struct tvm t;
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t) || tvm_setup_mode(&t, 32, LOAD, 0)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	memcpy(tvm_ptr(&t, LOAD), ts_start, ts_end - ts_start);
	uint64_t *gdt = tvm_ptr(&t, TVM_GDT);
	gdt[1] = desc(0, 0xfffff, 0xb, 1, 0, 1, 1);	/* 0x08 code (the #GP handler) */
	gdt[2] = desc(0, 0xfffff, 0x3, 1, 0, 1, 1);	/* 0x10 data */
	gdt[5] = desc(TSS_A, 0x67, 0xb, 0, 0, 0, 0);	/* 0x28 busy TSS (TR) */
	gdt[6] = desc(TSS_B, 0x67, 0x9, 0, 0, 0, 0);	/* 0x30 available TSS */
	gdt[7] = (0x30ull << 16) | (0x5ull << 40) | (1ull << 47); /* 0x38 task gate */
	uint64_t *idt = tvm_ptr(&t, IDT);
	memset(idt, 0, 256 * 8);
	idt[0x40] = (0x30ull << 16) | (0x5ull << 40) | (1ull << 47);
	uint32_t gp = OFF(ts_gp);
	idt[13] = (gp & 0xffff) | (0x08ull << 16) | (0xeull << 40) | (1ull << 47) |
		  ((uint64_t)(gp >> 16) << 48);
	struct kvm_sregs s;
	ioctl(t.vcpu, KVM_GET_SREGS, &s);
	s.gdt.base = TVM_GDT;
	s.gdt.limit = 0x3f;
	s.idt.base = IDT;
	s.idt.limit = 256 * 8 - 1;
	s.tr.selector = 0x28;
	s.tr.base = TSS_A;
	s.tr.limit = 0x67;
	s.tr.type = 11;
	s.tr.present = 1;
	s.tr.s = 0;
	ioctl(t.vcpu, KVM_SET_SREGS, &s);

	unimpl(&t, ts_jmp, 7, 0x2, "far JMP to an available TSS");
	unimpl(&t, ts_call, 7, 0x2, "far CALL through a task gate");
	unimpl(&t, ts_int, 2, 0x2, "INT n through a task gate");
	unimpl(&t, ts_iret, 1, 0x4002, "IRET with EFLAGS.NT");

	struct kvm_regs r;
	ioctl(t.vcpu, KVM_GET_REGS, &r);
	r.rip = OFF(ts_busy);
	r.rflags = 2;
	r.rsp = 0x7000;
	ioctl(t.vcpu, KVM_SET_REGS, &r);
	t_expect_out(&t, 0x20, 0x28, "far JMP to a busy TSS: #GP(selector)");
	printf("1..%d\n", t_n);
	tvm_destroy(&t);
	return t_fails != 0;
}
