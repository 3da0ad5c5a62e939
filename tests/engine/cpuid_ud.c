/*
 * RDPID, the FS/GS base instructions and STAC are #UD when the vCPU's
 * CPUID lacks their bit (SDM Vol. 2B: RDPID "If CPUID.7H.0:ECX.RDPID[bit
 * 22] = 0", RDFSBASE "If CPUID.07H.0H:EBX.FSGSBASE[bit 0] = 0" via
 * CR4.FSGSBASE, STAC "If CPUID.(EAX=07H, ECX=0H):EBX.SMAP[bit 20] = 0"),
 * and CR4.FSGSBASE/CR4.SMAP cannot be set then.  The guest has no IDT, so
 * the #UD ends in a triple fault (KVM_EXIT_SHUTDOWN); with the bit the
 * same code reaches HLT.  softkvm only: the host's hardware runs these
 * whatever the guest's CPUID says.  RDPID in 32-bit protected mode writes
 * the 32-bit register.
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

/* mov $-1,%rbx; rdpid %rbx; hlt */
static const unsigned char rdpid[] = {0x48, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff,
				      0xf3, 0x0f, 0xc7, 0xfb, 0xf4};
/* stac; hlt */
static const unsigned char stac[] = {0x0f, 0x01, 0xcb, 0xf4};

/* Run code in a fresh VM whose CPUID has (on) or lacks the bit
 * (fn 7.0, reg 1 = EBX, 2 = ECX); cr4_or goes into CR4 through
 * KVM_SET_SREGS first (its result in *sregs_rc). */
static int run(const unsigned char *code, size_t len, int bits, int reg, int bit, int on,
	       unsigned long long cr4_or, int *sregs_rc, struct kvm_regs *r)
{
	struct tvm t;
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t))
		return -1;
	for (unsigned k = 0; k < t.cpuid->nent; k++) {
		struct kvm_cpuid_entry2 *e = &t.cpuid->entries[k];
		if (e->function == 7 && e->index == 0) {
			__u32 *v = reg == 1 ? &e->ebx : &e->ecx;
			*v = on ? *v | (1u << bit) : *v & ~(1u << bit);
		}
	}
	int x = -1;
	memcpy(tvm_ptr(&t, LOAD), code, len);
	if (ioctl(t.vcpu, KVM_SET_CPUID2, t.cpuid) || tvm_setup_mode(&t, bits, LOAD, 0))
		goto out;
	if (cr4_or) {
		struct kvm_sregs s;
		ioctl(t.vcpu, KVM_GET_SREGS, &s);
		s.cr4 |= cr4_or;
		*sregs_rc = ioctl(t.vcpu, KVM_SET_SREGS, &s);
	}
	if (ioctl(t.vcpu, KVM_RUN, 0))
		goto out;
	ioctl(t.vcpu, KVM_GET_REGS, r);
	x = (int)t.run->exit_reason;
out:
	tvm_destroy(&t);
	return x;
}

int main(void)
{
	struct kvm_regs r;
	int rc = 0;
	ok(run(rdpid, sizeof(rdpid), 64, 2, 22, 0, 0, &rc, &r) == KVM_EXIT_SHUTDOWN,
	   "RDPID without CPUID.7.0:ECX.RDPID: #UD (triple fault without an IDT)");
	ok(run(rdpid, sizeof(rdpid), 64, 2, 22, 1, 0, &rc, &r) == KVM_EXIT_HLT && r.rbx == 0,
	   "RDPID with the bit: TSC_AUX (0 at reset) in all of RBX");
	/* 32-bit: mov $-1,%ebx; rdpid %ebx; hlt (no 48 prefix there) */
	static const unsigned char rdpid32[] = {0xbb, 0xff, 0xff, 0xff, 0xff,
						0xf3, 0x0f, 0xc7, 0xfb, 0xf4};
	ok(run(rdpid32, sizeof(rdpid32), 32, 2, 22, 1, 0, &rc, &r) == KVM_EXIT_HLT && r.rbx == 0,
	   "RDPID in 32-bit protected mode: TSC_AUX in EBX");
	ok(run(stac, sizeof(stac), 64, 1, 20, 0, 0, &rc, &r) == KVM_EXIT_SHUTDOWN,
	   "STAC without CPUID.7.0:EBX.SMAP: #UD");
	ok(run(stac, sizeof(stac), 64, 1, 20, 1, 0, &rc, &r) == KVM_EXIT_HLT && (r.rflags & 0x40000),
	   "STAC with the bit: AC set");
	rc = 0;
	run(stac, sizeof(stac), 64, 1, 20, 0, 1ull << 21, &rc, &r);
	ok(rc < 0, "KVM_SET_SREGS with CR4.SMAP but no SMAP in CPUID: refused");
	rc = 0;
	run(stac, sizeof(stac), 64, 1, 0, 0, 1ull << 16, &rc, &r);
	ok(rc < 0, "KVM_SET_SREGS with CR4.FSGSBASE but no FSGSBASE in CPUID: refused");
	rc = 0;
	/* rdfsbase %rax; hlt with CR4.FSGSBASE set: runs; in 32-bit mode: #UD */
	static const unsigned char rdfs[] = {0xf3, 0x48, 0x0f, 0xae, 0xc0, 0xf4};
	static const unsigned char rdfs32[] = {0xf3, 0x0f, 0xae, 0xc0, 0xf4};
	ok(run(rdfs, sizeof(rdfs), 64, 1, 0, 1, 1ull << 16, &rc, &r) == KVM_EXIT_HLT && rc == 0,
	   "RDFSBASE with FSGSBASE in CPUID and CR4: runs");
	ok(run(rdfs32, sizeof(rdfs32), 32, 1, 0, 1, 1ull << 16, &rc, &r) == KVM_EXIT_SHUTDOWN,
	   "RDFSBASE outside 64-bit mode: #UD");
	printf("1..%d\n", n);
	return fails != 0;
}
