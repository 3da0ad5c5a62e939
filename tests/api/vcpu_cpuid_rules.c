/* State checks that follow the vCPU's CPUID once KVM_SET_CPUID2 ran: CR4
 * bits, x2APIC, MAXPHYADDR, TSC_ADJUST, ARCH_CAPABILITIES (KVM's
 * kvm_vcpu_after_set_cpuid, __cr4_reserved_bits, kvm_set_apic_base). */
#include "t.h"

struct cpuid {
	struct kvm_cpuid2 h;
	struct kvm_cpuid_entry2 e[8];
};

static int vcpu;

static void set_cpuid(int fd, struct cpuid *c)
{
	if (ioctl(fd, KVM_SET_CPUID2, c))
		T_BAIL("KVM_SET_CPUID2");
}

static int sregs_with(unsigned long long cr0, unsigned long long cr4,
		      unsigned long long efer, unsigned long long cr3,
		      unsigned long long apic)
{
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	s.cr0 = cr0;
	s.cr4 = cr4;
	s.efer = efer;
	s.cr3 = cr3;
	s.apic_base = apic;
	if (efer & 0x400)
		s.cs.l = 1;
	return ioctl(vcpu, KVM_SET_SREGS, &s);
}

static int wrmsr(unsigned int index, unsigned long long v)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e = {.index = index, .data = v}};
	return ioctl(vcpu, KVM_SET_MSRS, &m);
}

static unsigned long long rdmsr(unsigned int index)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e = {.index = index}};
	ioctl(vcpu, KVM_GET_MSRS, &m);
	return m.e.data;
}

#define RM 0x60000010ULL	/* reset CR0 */
#define APIC 0xfee00900ULL	/* reset APIC base of the BSP */

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	vcpu = t_create_vcpu(vm, 0);

	/* Leaf 1 with x2APIC but no XSAVE; leaf 7 with TSC_ADJUST and
	 * ARCH_CAPABILITIES but no SMEP; 48-bit physical addresses. */
	struct cpuid c;
	memset(&c, 0, sizeof(c));
	c.h.nent = 5;
	c.e[0] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0x7,
					   .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69};
	c.e[1] = (struct kvm_cpuid_entry2){.function = 1, .eax = 0x600,
					   .ecx = 1u << 21, .edx = 1u << 0 | 1u << 9};
	c.e[2] = (struct kvm_cpuid_entry2){.function = 7, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					   .ebx = 1u << 1, .edx = 1u << 29};
	c.e[3] = (struct kvm_cpuid_entry2){.function = 0x80000000, .eax = 0x80000008};
	c.e[4] = (struct kvm_cpuid_entry2){.function = 0x80000008, .eax = 48};
	set_cpuid(vcpu, &c);

	/* CR4 bits the guest's CPUID lacks are reserved. */
	T_ERR(sregs_with(RM, 1u << 18, 0, 0, APIC), EINVAL, "CR4.OSXSAVE without CPUID XSAVE");
	T_ERR(sregs_with(RM, 1u << 20, 0, 0, APIC), EINVAL, "CR4.SMEP without CPUID SMEP");
	T_ERR(sregs_with(RM, 1u << 16, 0, 0, APIC), EINVAL, "CR4.FSGSBASE without CPUID");
	T_EQ(sregs_with(RM, 0x20 | 0x10 | 0x80, 0, 0, APIC), 0, "CR4.PAE|PSE|PGE need no CPUID bit");

	/* x2APIC now exists; MAXPHYADDR is 48. */
	T_EQ(sregs_with(RM, 0, 0, 0, 0xfee00d00), 0, "x2APIC mode with CPUID x2APIC");
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	T_EQ(s.apic_base, 0xfee00d00, "x2APIC base reads back");
	T_EQ(sregs_with(RM, 0, 0, 0, APIC), 0, "the VMM may go back from x2APIC to xAPIC");
	T_EQ(sregs_with(RM, 0, 0, 0, 0x10000000900ULL), 0, "APIC base above 4G within 48 bits");
	T_ERR(sregs_with(RM, 0, 0, 0, 0x1000000000000ULL | 0x900), EINVAL,
	      "APIC base beyond MAXPHYADDR 48");
	T_EQ(sregs_with(0x80000011, 0x20, 0x500, 1ULL << 40, APIC), 0,
	     "long-mode CR3 at 2^40 within MAXPHYADDR 48");
	T_ERR(sregs_with(0x80000011, 0x20, 0x500, 1ULL << 48, APIC), EINVAL,
	      "long-mode CR3 beyond MAXPHYADDR 48");
	sregs_with(RM, 0, 0, 0, APIC);

	/* TSC_ADJUST is an MSR now. */
	T_EQ(wrmsr(0x3b, 5), 1, "TSC_ADJUST with CPUID");
	T_EQ(rdmsr(0x3b), 5, "TSC_ADJUST reads back");

	/* ARCH_CAPABILITIES: the VMM may write back what it read, nothing
	 * beyond what KVM supports. */
	unsigned long long ac = rdmsr(0x10a);
	T_EQ(wrmsr(0x10a, ac), 1, "ARCH_CAPABILITIES takes back its value");
	T_EQ(wrmsr(0x10a, 1ULL << 63), 0, "ARCH_CAPABILITIES refuses an unknown bit");
	T_EQ(wrmsr(0x10a, 0), 1, "ARCH_CAPABILITIES 0");

	/* XCR0 follows leaf 0xD: without it only x87. */
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
		struct kvm_xcrs x;
		memset(&x, 0, sizeof(x));
		x.nr_xcrs = 1;
		x.xcrs[0].value = 3;
		T_ERR(ioctl(vcpu, KVM_SET_XCRS, &x), EINVAL, "XCR0 SSE without leaf 0xD");
	}

	/* A CPUID claiming 64 physical address bits leaves no CR3 or APIC
	 * base bit reserved. */
	int v2 = t_create_vcpu(vm, 1);
	c.e[4].eax = 64;
	set_cpuid(v2, &c);
	int saved = vcpu;
	vcpu = v2;
	T_EQ(sregs_with(0x80000011, 0x20, 0x500, 1ULL << 60, 0xfee00800), 0,
	     "long-mode CR3 bit 60 with a 64-bit MAXPHYADDR");
	vcpu = saved;
	close(v2);

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
