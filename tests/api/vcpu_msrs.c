/* MSRs (KVM API 4.3, 4.18-4.19, 4.106-4.107): the system-fd lists and
 * feature MSRs, KVM_GET/SET_MSRS on a vCPU with each MSR's rules, and the
 * machine-check set-up QEMU performs. */
#include <stdbool.h>
#include <time.h>

#include "t.h"

static int vcpu;

struct msrs {
	struct kvm_msrs h;
	struct kvm_msr_entry e[256];
};

static int rdmsr(int fd, unsigned int index, unsigned long long *v)
{
	struct msrs m = {.h.nmsrs = 1};
	m.e[0].index = index;
	int r = ioctl(fd, KVM_GET_MSRS, &m);
	*v = m.e[0].data;
	return r;
}

static int wrmsr(int fd, unsigned int index, unsigned long long v)
{
	struct msrs m = {.h.nmsrs = 1};
	m.e[0].index = index;
	m.e[0].data = v;
	return ioctl(fd, KVM_SET_MSRS, &m);
}

#define WR_OK(idx, v, what) T_EQ(wrmsr(vcpu, idx, v), 1, "write %s", what)
#define WR_NO(idx, v, what) T_EQ(wrmsr(vcpu, idx, v), 0, "refuse %s", what)

static unsigned long long rd(unsigned int index)
{
	unsigned long long v = 0;
	if (rdmsr(vcpu, index, &v) != 1)
		printf("# read of %#x failed\n", index);
	return v;
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	vcpu = t_create_vcpu(vm, 0);
	int vcpu1 = t_create_vcpu(vm, 1);

	/* Reset values. */
	T_EQ(rd(0x277), 0x0007040600070406ULL, "reset PAT");
	T_EQ(rd(0x1b), 0xfee00900, "reset APIC_BASE");
	T_EQ(rd(0x179), 32, "reset MCG_CAP: 32 banks");
	T_EQ(rd(0x1a0), 0x1800, "reset MISC_ENABLE: BTS and PEBS unavailable");
	T_EQ(rd(0xfe), 0x508, "MTRRCAP: 8 variable, fixed, WC");
	T_EQ(rd(0x2ff) | rd(0x200) | rd(0x250) | rd(0x174) | rd(0xc0000081) | rd(0x11), 0,
	     "other MSRs start at 0");

	/* KVM_GET_MSR_INDEX_LIST: E2BIG with the count while too small. */
	struct {
		struct kvm_msr_list l;
		__u32 idx[512];
	} list;
	list.l.nmsrs = 1;
	T_ERR(ioctl(kvm, KVM_GET_MSR_INDEX_LIST, &list), E2BIG, "index list: buffer too small");
	unsigned int n = list.l.nmsrs;
	T_OK(n > 1 && n <= 256, "index list count written back (%u), fits 256", n);
	list.l.nmsrs = n;
	T_EQ(ioctl(kvm, KVM_GET_MSR_INDEX_LIST, &list), 0, "index list");
	T_EQ(list.l.nmsrs, n, "index list count");
	T_ERR(ioctl(kvm, KVM_GET_MSR_INDEX_LIST, T_BADPTR), EFAULT, "index list bad pointer");
	T_ERR(ioctl(vm, KVM_GET_MSR_INDEX_LIST, &list), ENOTTY, "index list on the VM fd");
	bool dup = false;
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			dup |= list.idx[i] == list.idx[j];
	T_OK(!dup, "no MSR listed twice");
	/* What QEMU saves and restores whenever it is listed. */
	static const unsigned int needed[] = {
		0x10, 0x34, 0x3b, 0x8b, 0x10a, 0x174, 0x175, 0x176, 0x17a, 0x17b, 0x1a0,
		0x277, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102,
	};
	for (unsigned k = 0; k < sizeof(needed) / sizeof(needed[0]); k++) {
		bool found = false;
		for (unsigned i = 0; i < n; i++)
			found |= list.idx[i] == needed[k];
		T_OK(found, "MSR %#x is listed", needed[k]);
	}
	struct msrs back;
	memset(&back, 0, sizeof(back));
	back.h.nmsrs = sizeof(needed) / sizeof(needed[0]);
	for (unsigned k = 0; k < back.h.nmsrs; k++)
		back.e[k].index = needed[k];
	T_EQ(ioctl(vcpu, KVM_GET_MSRS, &back), back.h.nmsrs, "QEMU's MSRs read");
	T_EQ(ioctl(vcpu, KVM_SET_MSRS, &back), back.h.nmsrs, "QEMU's MSRs take their values back");
	/* Every listed MSR reads, and takes back what it read (save/restore). */
	struct msrs all;
	memset(&all, 0, sizeof(all));
	all.h.nmsrs = n;
	for (unsigned i = 0; i < n; i++)
		all.e[i].index = list.idx[i];
	T_EQ(ioctl(vcpu, KVM_GET_MSRS, &all), n, "every listed MSR reads");

	/* Feature MSRs on the system fd. */
	struct {
		struct kvm_msr_list l;
		__u32 idx[64];
	} feat;
	feat.l.nmsrs = 0;
	T_ERR(ioctl(kvm, KVM_GET_MSR_FEATURE_INDEX_LIST, &feat), E2BIG, "feature list: too small");
	unsigned int nf = feat.l.nmsrs;
	T_OK(nf >= 1, "feature list count written back (%u)", nf);
	T_EQ(ioctl(kvm, KVM_GET_MSR_FEATURE_INDEX_LIST, &feat), 0, "feature list");
	bool has_ucode = false, has_arch = false;
	for (unsigned i = 0; i < nf; i++) {
		has_ucode |= feat.idx[i] == 0x8b;
		has_arch |= feat.idx[i] == 0x10a;
	}
	T_OK(has_ucode && has_arch, "UCODE_REV and ARCH_CAPABILITIES are feature MSRs");
	struct msrs fm;
	memset(&fm, 0, sizeof(fm));
	fm.h.nmsrs = nf;
	for (unsigned i = 0; i < nf; i++)
		fm.e[i].index = feat.idx[i];
	T_EQ(ioctl(kvm, KVM_GET_MSRS, &fm), nf, "system KVM_GET_MSRS reads every feature MSR");
	unsigned long long v;
	T_EQ(rdmsr(kvm, 0xdeadbeef, &v), 0, "system KVM_GET_MSRS stops at an unknown MSR");
	v = 1;
	T_EQ(rdmsr(kvm, 0x277, &v), 1, "system KVM_GET_MSRS reads a listed MSR");
	T_EQ(v, 0, "a listed non-feature MSR reads 0 on the system fd");
	T_ERR(ioctl(kvm, KVM_GET_MSRS, T_BADPTR), EFAULT, "system KVM_GET_MSRS bad pointer");

	/* KVM_GET/SET_MSRS framing. */
	struct msrs m;
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 3;
	m.e[0] = (struct kvm_msr_entry){.index = 0x174, .data = 8};
	m.e[1] = (struct kvm_msr_entry){.index = 0xdeadbeef};
	m.e[2] = (struct kvm_msr_entry){.index = 0x175, .data = 0x1000};
	T_EQ(ioctl(vcpu, KVM_SET_MSRS, &m), 1, "SET_MSRS stops at an unknown MSR");
	T_EQ(ioctl(vcpu, KVM_GET_MSRS, &m), 1, "GET_MSRS stops at an unknown MSR");
	T_EQ(m.e[0].data, 8, "first MSR written and read");
	m.h.nmsrs = 0;
	T_EQ(ioctl(vcpu, KVM_GET_MSRS, &m), 0, "zero MSRs");
	m.h.nmsrs = 256;
	T_ERR(ioctl(vcpu, KVM_GET_MSRS, &m), E2BIG, "256 MSRs are too many");
	T_ERR(ioctl(vcpu, KVM_SET_MSRS, &m), E2BIG, "SET_MSRS 256 MSRs are too many");
	T_ERR(ioctl(vcpu, KVM_GET_MSRS, T_BADPTR), EFAULT, "GET_MSRS bad pointer");
	T_ERR(ioctl(vcpu, KVM_SET_MSRS, T_BADPTR), EFAULT, "SET_MSRS bad pointer");
	struct kvm_msrs *tail = (void *)((char *)mmap(NULL, 8192, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) + 4096 - sizeof(struct kvm_msrs));
	munmap((char *)tail + sizeof(struct kvm_msrs), 4096);
	tail->nmsrs = 2;
	T_ERR(ioctl(vcpu, KVM_GET_MSRS, tail), EFAULT, "entries past the end of memory");

	/* TSC: counting; a host write sets it; TSC_ADJUST ignored without CPUID. */
	unsigned long long t1 = rd(0x10), t2 = rd(0x10);
	T_OK(t1 && t2 > t1, "TSC counts");
	WR_OK(0x10, 1000, "TSC");
	t1 = rd(0x10);
	T_OK(t1 >= 1000 && t1 < 1000 + 10000000000ULL, "TSC restarted from the written value");
	WR_OK(0x3b, 5, "TSC_ADJUST without CPUID");
	T_EQ(rd(0x3b), 0, "TSC_ADJUST write ignored without CPUID");

	/* Address MSRs. */
	WR_OK(0xc0000082, 0xffffffff81000000ULL, "LSTAR canonical");
	T_EQ(rd(0xc0000082), 0xffffffff81000000ULL, "LSTAR round trip");
	WR_NO(0xc0000082, 0x0000800000000000ULL, "non-canonical LSTAR");
	WR_NO(0xc0000102, 0x8000000000000000ULL, "non-canonical KERNEL_GS_BASE");
	WR_OK(0xc0000100, 0x7f0000001000ULL, "FS_BASE");
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	T_EQ(s.fs.base, 0x7f0000001000ULL, "FS_BASE is the FS segment base");
	WR_OK(0x176, 0x0000800000000000ULL, "non-canonical SYSENTER_EIP");
	T_EQ(rd(0x176), 0xffff800000000000ULL, "SYSENTER_EIP made canonical");
	WR_OK(0xc0000081, 0x0023001000000000ULL, "STAR");
	WR_OK(0xc0000084, 0x47700, "SFMASK");
	T_EQ(rd(0xc0000084), 0x47700, "SFMASK round trip");

	/* EFER through the MSR path checks reserved bits, keeps LMA. */
	WR_OK(0xc0000080, 0x1, "EFER.SCE");
	T_EQ(rd(0xc0000080), 1, "EFER.SCE reads back");
	WR_NO(0xc0000080, 1ULL << 20, "reserved EFER bit 20");
	WR_OK(0xc0000080, 0x400, "EFER.LMA (ignored)");
	T_EQ(rd(0xc0000080), 0, "EFER.LMA not writable");
	WR_NO(0x1b, 0xfee00000 | 0xc00, "x2APIC without CPUID");
	WR_OK(0x1b, 0xfee00800, "APIC_BASE BSP clear");

	/* PAT and MTRRs (SDM 11.11, 11.12). */
	WR_OK(0x277, 0x0007010600070106ULL, "PAT with WC");
	WR_NO(0x277, 0x0007040600070402ULL, "PAT type 2");
	WR_NO(0x277, 0x0007040600070408ULL, "PAT reserved bit 3");
	WR_OK(0x2ff, 0xc06, "MTRRdefType E, FE, WB");
	WR_NO(0x2ff, 0x1c06, "MTRRdefType reserved bit 12");
	WR_NO(0x2ff, 0xc02, "MTRRdefType type 2");
	WR_OK(0x200, 0x80000006, "PHYSBASE0 WB");
	WR_NO(0x200, 0x80000003, "PHYSBASE0 type 3");
	WR_NO(0x200, 0x80000106, "PHYSBASE0 reserved bit 8");
	WR_OK(0x201, 0xf80000800ULL, "PHYSMASK0 valid");
	WR_NO(0x201, 0xf80000801ULL, "PHYSMASK0 reserved bit 0");
	WR_NO(0x201, 0x1000000800ULL, "PHYSMASK0 beyond MAXPHYADDR");
	WR_OK(0x20f, 0, "PHYSMASK7");
	WR_NO(0x210, 0, "PHYSBASE8 (only 8 ranges)");
	WR_OK(0x250, 0x0606060606060606ULL, "fixed MTRR 64K");
	T_EQ(rd(0x250), 0x0606060606060606ULL, "fixed MTRR round trip");
	WR_OK(0x26f, 0x0504010006060606ULL, "fixed MTRR 4K_F8000");
	WR_NO(0x258, 0x0606060606060607ULL, "fixed MTRR type 7");
	WR_NO(0x251, 0, "a hole between fixed MTRRs");
	WR_NO(0xfe, 0x508, "MTRRCAP is read-only");

	/* Machine check: QEMU's KVM_X86_SETUP_MCE and bank writes. */
	unsigned long long cap;
	T_EQ(ioctl(kvm, KVM_X86_GET_MCE_CAP_SUPPORTED, &cap), 0, "GET_MCE_CAP_SUPPORTED");
	T_OK((cap & 0x1000100) == 0x1000100 && !(cap & 0xff), "MCG_CTL_P and MCG_SER_P, no banks");
	T_ERR(ioctl(kvm, KVM_X86_GET_MCE_CAP_SUPPORTED, T_BADPTR), EFAULT,
	      "GET_MCE_CAP_SUPPORTED bad pointer");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MCE), 32, "KVM_CAP_MCE: 32 banks");
	WR_NO(0x17b, 5, "MCG_CTL without MCG_CTL_P");
	WR_OK(0x17b, 0, "MCG_CTL 0 from the VMM");
	WR_NO(0x179, 0x10a, "MCG_CAP is read-only");
	cap = 0;
	T_ERR(ioctl(vcpu, KVM_X86_SETUP_MCE, &cap), EINVAL, "SETUP_MCE with no banks");
	cap = 33;
	T_ERR(ioctl(vcpu, KVM_X86_SETUP_MCE, &cap), EINVAL, "SETUP_MCE with 33 banks");
	cap = 10 | 1 << 11;
	T_ERR(ioctl(vcpu, KVM_X86_SETUP_MCE, &cap), EINVAL, "SETUP_MCE with MCG_TES_P");
	T_ERR(ioctl(vcpu, KVM_X86_SETUP_MCE, T_BADPTR), EFAULT, "SETUP_MCE bad pointer");
	cap = 10 | 0x1000100 | 0x30000;
	T_EQ(ioctl(vcpu, KVM_X86_SETUP_MCE, &cap), 0, "SETUP_MCE 10 banks, CTL_P, SER_P");
	T_EQ(rd(0x179), cap, "MCG_CAP reads the set-up value");
	T_EQ(rd(0x17b), ~0ULL, "MCG_CTL starts all ones");
	T_EQ(rd(0x400), ~0ULL, "MC0_CTL starts all ones");
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 40;
	for (unsigned i = 0; i < 40; i++)
		m.e[i] = (struct kvm_msr_entry){.index = 0x400 + i,
						.data = i % 4 == 0 ? ~0ULL : 0};
	T_EQ(ioctl(vcpu, KVM_SET_MSRS, &m), 40, "QEMU's 10 banks of MCE MSRs");
	m.e[0].index = 0x428;
	m.h.nmsrs = 1;
	T_EQ(ioctl(vcpu, KVM_GET_MSRS, &m), 0, "bank 10 does not exist");
	WR_NO(0x400, 0x1234, "MC0_CTL neither 0 nor all ones");
	WR_OK(0x400, ~0ULL & ~(1ULL << 10), "MC4_CTL-style value without bit 10");
	WR_OK(0x401, 0xb200000000000005ULL, "MC0_STATUS from the VMM");
	T_EQ(rd(0x401), 0xb200000000000005ULL, "MC0_STATUS round trip");
	WR_NO(0x17b, 5, "MCG_CTL neither 0 nor all ones");
	WR_OK(0x17a, 4, "MCG_STATUS");
	WR_OK(0x280, 0, "MC0_CTL2 = 0 from the VMM without CMCI_P");
	T_EQ(rd(0x280), 0, "MC0_CTL2 reads 0");
	WR_NO(0x280, 0x40000001, "MC0_CTL2 != 0 without CMCI_P");
	WR_NO(0x28a, 0, "MC10_CTL2 beyond the bank count");

	/* KVM_X86_SET_MCE logs into the banks. */
	struct kvm_x86_mce mce;
	memset(&mce, 0, sizeof(mce));
	mce.bank = 10;
	mce.status = 1ULL << 63;
	T_ERR(ioctl(vcpu, KVM_X86_SET_MCE, &mce), EINVAL, "SET_MCE bank beyond MCG_CAP");
	mce.bank = 2;
	mce.status = 0;
	T_ERR(ioctl(vcpu, KVM_X86_SET_MCE, &mce), EINVAL, "SET_MCE without MCi_STATUS.VAL");
	T_ERR(ioctl(vcpu, KVM_X86_SET_MCE, T_BADPTR), EFAULT, "SET_MCE bad pointer");
	mce.status = 1ULL << 63 | 0x17;
	mce.addr = 0x1234000;
	T_EQ(ioctl(vcpu, KVM_X86_SET_MCE, &mce), 0, "SET_MCE a corrected error");
	T_EQ(rd(0x409), mce.status, "corrected error in MC2_STATUS");
	T_EQ(rd(0x40a), 0x1234000, "its address in MC2_ADDR");
	T_EQ(ioctl(vcpu, KVM_X86_SET_MCE, &mce), 0, "SET_MCE a second corrected error");
	T_EQ(rd(0x409), mce.status | 1ULL << 62, "the second sets MCi_STATUS.OVER");

	/* kvmclock: QEMU restores the disabled reset state (0) at every reset
	 * and aborts if that is refused.  (Enabling it is tested with the
	 * pvclock work; softkvm refuses it until then.) */
	WR_OK(0x12, 0, "MSR_KVM_SYSTEM_TIME reset value from the VMM");
	WR_OK(0x11, 0, "MSR_KVM_WALL_CLOCK reset value from the VMM");
	T_EQ(rd(0x12), 0, "MSR_KVM_SYSTEM_TIME reads back disabled");

	/* Feature MSRs on the vCPU: the VMM configures them. */
	WR_OK(0x8b, 0x500000000ULL, "UCODE_REV from the VMM");
	T_EQ(rd(0x8b), 0x500000000ULL, "UCODE_REV round trip");
	WR_OK(0x10a, 0, "ARCH_CAPABILITIES 0 without CPUID");
	WR_NO(0x10a, 1, "ARCH_CAPABILITIES without CPUID");
	T_EQ(rd(0x34), 0, "SMI_COUNT: no SMIs");
	WR_OK(0x34, 7, "SMI_COUNT from the VMM");
	T_EQ(rd(0x34), 7, "SMI_COUNT round trip");
	WR_OK(0x1a0, 0x1801, "MISC_ENABLE fast strings");
	T_EQ(rd(0x1a0), 0x1801, "MISC_ENABLE round trip");

	/* Wrong fd types: vCPU ioctls elsewhere, system ioctls on a vCPU. */
	memset(&m, 0, sizeof(m));
	T_ERR(ioctl(kvm, KVM_SET_MSRS, &m), EINVAL, "KVM_SET_MSRS on the system fd");
	T_ERR(ioctl(vm, KVM_GET_MSRS, &m), ENOTTY, "KVM_GET_MSRS on the VM fd");
	T_ERR(ioctl(vm, KVM_X86_SETUP_MCE, &cap), ENOTTY, "KVM_X86_SETUP_MCE on the VM fd");
	T_ERR(ioctl(kvm, KVM_X86_SETUP_MCE, &cap), EINVAL, "KVM_X86_SETUP_MCE on the system fd");
	list.l.nmsrs = n;
	T_ERR(ioctl(vcpu, KVM_GET_MSR_INDEX_LIST, &list), EINVAL, "index list on a vCPU fd");
	T_ERR(ioctl(vcpu, KVM_X86_GET_MCE_CAP_SUPPORTED, &cap), EINVAL,
	      "GET_MCE_CAP_SUPPORTED on a vCPU fd");

	/* TSC synchronisation across a VM's vCPUs (kvm_synchronize_tsc): a
	 * new VM's TSC starts at 0 (kvm_arch_vcpu_postcreate writes 0; the
	 * kernel's tsc_msrs_test checks it to within 2^29 cycles), a write of
	 * 0 or one within a second of the last joins the same offset. */
	int vm2 = t_create_vm(kvm);
	int a = t_create_vcpu(vm2, 0), b = t_create_vcpu(vm2, 1);
	unsigned long long ta, tb;
	rdmsr(a, 0x10, &ta);
	T_OK(ta < (1ULL << 29), "a new VM's TSC starts at 0");
	rdmsr(b, 0x10, &tb);
	T_OK(tb >= ta && tb < (1ULL << 29), "a second vCPU joins the first one's TSC");
	wrmsr(a, 0x10, 0);
	rdmsr(a, 0x10, &tb);
	T_OK(tb >= ta, "writing 0 keeps the VM's TSC");
	wrmsr(a, 0x10, 5000000000000ULL);
	struct timespec pause = {.tv_nsec = 2000000};
	nanosleep(&pause, NULL);
	wrmsr(b, 0x10, 5000000000000ULL);
	rdmsr(a, 0x10, &ta);
	rdmsr(b, 0x10, &tb);
	T_OK(tb >= ta, "vCPUs written 2 ms apart share one TSC offset");
	close(b);
	close(a);
	close(vm2);

	close(vcpu1);
	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
