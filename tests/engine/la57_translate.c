/*
 * 5-level paging from the VMM's side: KVM_SET_SREGS accepts CR4.LA57 with
 * EFER.LMA set when the vCPU's CPUID has LA57 (KVM's kvm_is_valid_sregs only
 * checks CR4 against the CPUID-reserved bits; MOV to CR4 is what refuses the
 * change in IA-32e mode) and refuses it without; KVM_TRANSLATE walks the
 * PML5 (bits 56:48); KVM_RUN then reads through the same tables above 2^48.
 * softkvm only: this host's CPU has no LA57, so its KVM offers none
 * (tests/guest/la57.S has the guest-side checks).
 */
#include "tvm.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define LOAD 0x10000
#define PML5 0x20000
#define PML4B 0x21000
#define PDPTB 0x22000
#define PDB 0x23000
#define PTB 0x24000
#define DATA 0x25000
#define VA 0x0001000000000000ULL /* PML5 index 1 */

static int n, fails;

static void ok(int c, const char *what)
{
	printf("%sok %d - %s\n", c ? "" : "not ", ++n, what);
	fails += !c;
}

/* movabs VA + 0x238, %rax; mov (%rax), %rbx; hlt */
static const unsigned char code[] = {0x48, 0xb8, 0x38, 0x02, 0x00, 0x00, 0x00, 0x00,
				     0x01, 0x00, 0x48, 0x8b, 0x18, 0xf4};

static void put(struct tvm *t, unsigned long long gpa, unsigned long long v)
{
	memcpy(tvm_ptr(t, gpa), &v, 8);
}

static int vm(struct tvm *t, int la57)
{
	memset(t, 0, sizeof(*t));
	if (tvm_create(t, 4 << 20) || tvm_set_cpuid(t))
		return -1;
	for (unsigned k = 0; k < t->cpuid->nent; k++) {
		struct kvm_cpuid_entry2 *e = &t->cpuid->entries[k];
		if (e->function == 7 && e->index == 0)
			e->ecx = la57 ? e->ecx | (1u << 16) : e->ecx & ~(1u << 16);
	}
	if (ioctl(t->vcpu, KVM_SET_CPUID2, t->cpuid) || tvm_setup_mode(t, 64, LOAD, 0))
		return -1;
	memcpy(tvm_ptr(t, LOAD), code, sizeof(code));
	put(t, PML5, TVM_PML4 | 3);	/* the runner's identity map below */
	put(t, PML5 + 8, PML4B | 3);
	put(t, PML4B, PDPTB | 3);
	put(t, PDPTB, PDB | 3);
	put(t, PDB, PTB | 3);
	put(t, PTB, DATA | 3);		/* VA: DATA; VA + 0x1000 absent */
	put(t, DATA + 0x238, 0x5757575757575757ULL);
	return 0;
}

static int set_la57(struct tvm *t)
{
	struct kvm_sregs s;
	if (ioctl(t->vcpu, KVM_GET_SREGS, &s))
		return -1;
	s.cr4 |= 1ull << 12;
	s.cr3 = PML5;
	return ioctl(t->vcpu, KVM_SET_SREGS, &s) ? -errno : 0;
}

static struct kvm_translation tr(struct tvm *t, unsigned long long la)
{
	struct kvm_translation x = {.linear_address = la};
	if (ioctl(t->vcpu, KVM_TRANSLATE, &x))
		x.valid = 0xff;
	return x;
}

int main(void)
{
	struct tvm t;
	if (vm(&t, 0)) {
		printf("Bail out! VM setup: %s\n", t.err);
		return 1;
	}
	ok(set_la57(&t) == -EINVAL, "KVM_SET_SREGS with CR4.LA57, no LA57 in CPUID: EINVAL");
	tvm_destroy(&t);

	if (vm(&t, 1)) {
		printf("Bail out! VM setup: %s\n", t.err);
		return 1;
	}
	ok(set_la57(&t) == 0, "KVM_SET_SREGS with CR4.LA57 and EFER.LMA, LA57 in CPUID: accepted");
	struct kvm_sregs s;
	ioctl(t.vcpu, KVM_GET_SREGS, &s);
	ok((s.cr4 & (1ull << 12)) && s.cr3 == PML5 && (s.efer & 0x400), "KVM_GET_SREGS: CR4.LA57, CR3, LMA");
	struct kvm_translation x = tr(&t, VA + 0x238);
	ok(x.valid == 1 && x.physical_address == DATA + 0x238,
	   "KVM_TRANSLATE 0x0001000000000238: through PML5 entry 1");
	x = tr(&t, VA + 0x1238);
	ok(x.valid == 0, "KVM_TRANSLATE of an absent page above 2^48: not valid");
	x = tr(&t, LOAD + 4);
	ok(x.valid == 1 && x.physical_address == LOAD + 4, "KVM_TRANSLATE low: through PML5 entry 0");
	x = tr(&t, 0x0000800000000000ULL);
	ok(x.valid == 0, "KVM_TRANSLATE 2^47 (PML5 entry 0, PML4 entry 256 absent): not valid");
	int rc = ioctl(t.vcpu, KVM_RUN, 0);
	struct kvm_regs r;
	ioctl(t.vcpu, KVM_GET_REGS, &r);
	ok(rc == 0 && t.run->exit_reason == KVM_EXIT_HLT && r.rbx == 0x5757575757575757ULL,
	   "KVM_RUN reads above 2^48 through the same PML5");
	tvm_destroy(&t);
	printf("1..%d\n", n);
	return fails != 0;
}
