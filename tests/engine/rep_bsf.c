/*
 * F3 0F BC / F3 0F BD on a CPU model without BMI1 / ABM (LZCNT) are BSF /
 * BSR with an ignored REP prefix (SDM Vol. 2A TZCNT, LZCNT: "on processors
 * that do not support" them, the encoding executes as BSF/BSR); Linux's
 * __ffs relies on it.  softkvm only: the host's hardware runs TZCNT
 * whatever the guest's CPUID says.  With BMI1 in the guest's CPUID the
 * same bytes are TZCNT (x86/native.c): TZCNT of 0 is the operand size with
 * CF set, where BSF leaves the destination alone.
 */
#include "tvm.h"
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define LOAD 0x10000

static int n, fails;

static void ok(int c, const char *what)
{
	printf("%sok %d - %s\n", c ? "" : "not ", ++n, what);
	fails += !c;
}

/* mov $0x100,%eax; rep bsf %rax,%rbx; mov $0x100,%ecx; rep bsr %rcx,%rdx; hlt */
static const unsigned char prog[] = {0xb8, 0x00, 0x01, 0x00, 0x00, 0xf3, 0x48, 0x0f, 0xbc, 0xd8,
				     0xb9, 0x00, 0x01, 0x00, 0x00, 0xf3, 0x48, 0x0f, 0xbd, 0xd1,
				     0xf4};

/* xor %eax,%eax; mov $0x77,%ebx; rep bsf %rax,%rbx; hlt */
static const unsigned char prog0[] = {0x31, 0xc0, 0xbb, 0x77, 0x00, 0x00, 0x00,
				      0xf3, 0x48, 0x0f, 0xbc, 0xd8, 0xf4};

static int run_with(struct tvm *t, int bmi1, struct kvm_regs *r)
{
	for (unsigned k = 0; k < t->cpuid->nent; k++) {
		struct kvm_cpuid_entry2 *e = &t->cpuid->entries[k];
		if (e->function == 7 && e->index == 0)
			e->ebx = bmi1 ? e->ebx | 8 : e->ebx & ~8u;
		if (e->function == 0x80000001)
			e->ecx &= ~0x20u; /* no LZCNT */
	}
	if (ioctl(t->vcpu, KVM_SET_CPUID2, t->cpuid) || tvm_setup_mode(t, 64, LOAD, 0))
		return -1;
	if (ioctl(t->vcpu, KVM_RUN, 0))
		return -1;
	ioctl(t->vcpu, KVM_GET_REGS, r);
	return (int)t->run->exit_reason;
}

int main(void)
{
	struct tvm t;
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	memcpy(tvm_ptr(&t, LOAD), prog, sizeof(prog));
	struct kvm_regs r;
	ok(run_with(&t, 0, &r) == KVM_EXIT_HLT, "without BMI1/LZCNT the guest runs to HLT");
	ok(r.rbx == 8, "rep bsf is BSF: bit 8");
	ok(r.rdx == 8, "rep bsr is BSR: bit 8");
	tvm_destroy(&t);

	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	memcpy(tvm_ptr(&t, LOAD), prog0, sizeof(prog0));
	int x = run_with(&t, 1, &r);
	ok(x == KVM_EXIT_HLT && r.rbx == 64 && (r.rflags & 1),
	   "with BMI1 in the guest's CPUID, rep bsf is TZCNT: TZCNT of 0 is 64, CF set");
	tvm_destroy(&t);

	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	memcpy(tvm_ptr(&t, LOAD), prog0, sizeof(prog0));
	x = run_with(&t, 0, &r);
	ok(x == KVM_EXIT_HLT && r.rbx == 0x77 && (r.rflags & 0x40),
	   "without BMI1, rep bsf of 0 is BSF: destination kept, ZF set");
	printf("1..%d\n", n);
	fflush(stdout);
	tvm_destroy(&t);
	return fails != 0;
}
