/* KVM_CAP_X86_USER_SPACE_MSR and KVM_X86_SET_MSR_FILTER (KVM API 4.126,
 * 7.21, 5 "KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR"): the VMM's choice of
 * exit reasons and its checks, the filter's checks and errnos, and a
 * real-mode guest whose RDMSR/WRMSR exit with reason, index and data, then
 * complete on the next KVM_RUN with the VMM's data or a #GP for error. */
#include "t_vm.h"

#define CODE 0x1000
#define GP_HANDLER 0x1100
#define MSR_FAKE 0x474f4f00 /* no one implements it */
#define MSR_PAT 0x277
#define MSR_MTRR_DEF 0x2ff

static int kvm, vm, vcpu;
static struct kvm_run *run;
static unsigned char *ram;

static int enable(unsigned long long reasons)
{
	struct kvm_enable_cap c = {.cap = KVM_CAP_X86_USER_SPACE_MSR, .args = {reasons}};
	return ioctl(vm, KVM_ENABLE_CAP, &c);
}

/* The guest at CODE: ECX = index, EDX:EAX = val, then RDMSR or WRMSR,
 * OUT 0x10 EAX, OUT 0x12 EDX, HLT.  The #GP handler does OUT 0x11. */
static void load(int write, unsigned index, unsigned long long val)
{
	unsigned char c[] = {
		0x66, 0xb9, 0, 0, 0, 0, /* mov ecx, index */
		0x66, 0xb8, 0, 0, 0, 0, /* mov eax, lo */
		0x66, 0xba, 0, 0, 0, 0, /* mov edx, hi */
		0x0f, write ? 0x30 : 0x32,
		0x66, 0xe7, 0x10,	/* out 0x10, eax */
		0x66, 0x89, 0xd0,	/* mov eax, edx */
		0x66, 0xe7, 0x12,	/* out 0x12, eax */
		0xf4,
	};
	memcpy(c + 2, &index, 4);
	unsigned lo = (unsigned)val, hi = (unsigned)(val >> 32);
	memcpy(c + 8, &lo, 4);
	memcpy(c + 14, &hi, 4);
	memcpy(ram + CODE, c, sizeof(c));
	t_real_mode(vcpu, CODE, 0);
}

#define RDMSR_RIP (CODE + 18)

static unsigned io_u32(void)
{
	unsigned v;
	memcpy(&v, (unsigned char *)run + run->io.data_offset, 4);
	return v;
}

/* Run to the next exit; the port of an OUT, the MSR exit reason, or -1. */
static int go(void)
{
	if (ioctl(vcpu, KVM_RUN, 0))
		return -1;
	if (run->exit_reason == KVM_EXIT_IO)
		return run->io.port;
	return (int)run->exit_reason + 1000;
}

static unsigned long long rip(void)
{
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	return r.rip;
}

static int set_filter(struct kvm_msr_filter *f)
{
	return ioctl(vm, KVM_X86_SET_MSR_FILTER, f);
}

int main(void)
{
	kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	static const unsigned char gp[] = {0xe6, 0x11, 0xf4}; /* out 0x11, al; hlt */
	ram = t_guest_ram64k(vm, gp, sizeof(gp), GP_HANDLER);
	ram[13 * 4] = GP_HANDLER & 0xff, ram[13 * 4 + 1] = GP_HANDLER >> 8; /* IVT[13] */
	vcpu = t_create_vcpu(vm, 0);
	run = t_map_run(kvm, vcpu);

	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR), 1,
	     "KVM_CAP_X86_USER_SPACE_MSR is 1");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER), 1,
	     "KVM_CAP_X86_MSR_FILTER is 1");

	/* Without user-space MSRs an unknown MSR is #GP. */
	load(0, MSR_FAKE, 0);
	T_EQ(go(), 0x11, "unknown MSR without the capability: #GP");

	T_ERR(enable(8), EINVAL, "enable: an unknown reason bit is EINVAL");
	struct kvm_enable_cap bad = {.cap = KVM_CAP_X86_USER_SPACE_MSR, .flags = 1};
	T_ERR(ioctl(vm, KVM_ENABLE_CAP, &bad), EINVAL, "enable: flags must be 0");
	T_EQ(enable(KVM_MSR_EXIT_REASON_UNKNOWN), 0, "enable UNKNOWN");

	/* RDMSR of an unknown MSR exits, RIP still at the RDMSR. */
	load(0, MSR_FAKE, 0x5555555566666666ULL);
	T_EQ(go(), KVM_EXIT_X86_RDMSR + 1000, "RDMSR unknown: KVM_EXIT_X86_RDMSR");
	T_EQ(run->msr.reason, KVM_MSR_EXIT_REASON_UNKNOWN, "RDMSR exit: reason UNKNOWN");
	T_EQ(run->msr.index, MSR_FAKE, "RDMSR exit: index");
	T_EQ(run->msr.error, 0, "RDMSR exit: error 0");
	T_EQ(run->msr.data, 0, "RDMSR exit: data 0");
	T_EQ(rip(), RDMSR_RIP, "RDMSR exit: RIP at the instruction");
	run->msr.data = 0x1122334455667788ULL;
	T_EQ(go(), 0x10, "completion: the guest goes on");
	T_EQ(io_u32(), 0x55667788, "completion: EAX = data[31:0]");
	T_EQ(go(), 0x12, "completion: second OUT");
	T_EQ(io_u32(), 0x11223344, "completion: EDX = data[63:32]");

	/* error != 0: #GP at the RDMSR. */
	load(0, MSR_FAKE, 0);
	T_EQ(go(), KVM_EXIT_X86_RDMSR + 1000, "RDMSR again");
	run->msr.error = 1;
	T_EQ(go(), 0x11, "completion with error: #GP");

	/* WRMSR carries EDX:EAX. */
	load(1, MSR_FAKE, 0xaabbccdd01020304ULL);
	T_EQ(go(), KVM_EXIT_X86_WRMSR + 1000, "WRMSR unknown: KVM_EXIT_X86_WRMSR");
	T_EQ(run->msr.reason, KVM_MSR_EXIT_REASON_UNKNOWN, "WRMSR exit: reason UNKNOWN");
	T_EQ(run->msr.index, MSR_FAKE, "WRMSR exit: index");
	T_EQ(run->msr.data, 0xaabbccdd01020304ULL, "WRMSR exit: data = EDX:EAX");
	T_EQ(go(), 0x10, "WRMSR completion: the guest goes on");

	/* immediate_exit: the completion still happens first (KVM completes
	 * a user-space exit before it looks at immediate_exit). */
	load(0, MSR_FAKE, 0);
	T_EQ(go(), KVM_EXIT_X86_RDMSR + 1000, "RDMSR for immediate_exit");
	run->msr.data = 0x77;
	run->immediate_exit = 1;
	T_ERR(ioctl(vcpu, KVM_RUN, 0), EINTR, "immediate_exit: EINTR");
	run->immediate_exit = 0;
	T_EQ(rip(), RDMSR_RIP + 2, "immediate_exit: the RDMSR completed");
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	T_EQ(r.rax, 0x77, "immediate_exit: RAX from the VMM");

	/* A rejected access of a known MSR is INVAL: only with that bit. */
	load(1, MSR_MTRR_DEF, 1ULL << 20);
	T_EQ(go(), 0x11, "reserved bit of MTRRdefType without INVAL: #GP");
	T_EQ(enable(KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN |
		    KVM_MSR_EXIT_REASON_FILTER), 0, "enable all three reasons");
	load(1, MSR_MTRR_DEF, 1ULL << 20);
	T_EQ(go(), KVM_EXIT_X86_WRMSR + 1000, "reserved bit of MTRRdefType: exit");
	T_EQ(run->msr.reason, KVM_MSR_EXIT_REASON_INVAL, "MTRRdefType exit: reason INVAL");
	run->msr.error = 1;
	T_EQ(go(), 0x11, "MTRRdefType refused by the VMM: #GP");

	/* The filter's checks. */
	unsigned long long none = 0, all = ~0ULL;
	struct kvm_msr_filter f;
	memset(&f, 0, sizeof(f));
	f.flags = 2;
	T_ERR(set_filter(&f), EINVAL, "filter: unknown flags");
	f.flags = KVM_MSR_FILTER_DEFAULT_DENY;
	T_ERR(set_filter(&f), EINVAL, "filter: default deny without ranges");
	f.flags = 0;
	f.ranges[0] = (struct kvm_msr_filter_range){.flags = 0, .nmsrs = 1, .base = MSR_PAT,
						     .bitmap = (__u8 *)&none};
	T_ERR(set_filter(&f), EINVAL, "filter: a range without READ/WRITE");
	f.ranges[0].flags = 4;
	T_ERR(set_filter(&f), EINVAL, "filter: a range with an unknown flag");
	f.ranges[0].flags = KVM_MSR_FILTER_READ;
	f.ranges[0].nmsrs = KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8 + 1;
	T_ERR(set_filter(&f), EINVAL, "filter: a bitmap over the maximum size");
	f.ranges[0].nmsrs = 1;
	f.ranges[0].bitmap = (__u8 *)8;
	T_ERR(set_filter(&f), EFAULT, "filter: an unreadable bitmap");
	T_ERR(ioctl(vm, KVM_X86_SET_MSR_FILTER, (void *)8), EFAULT, "filter: an unreadable filter");
	f.ranges[0].bitmap = (__u8 *)&none;
	f.ranges[1] = (struct kvm_msr_filter_range){.flags = KVM_MSR_FILTER_READ |
							     KVM_MSR_FILTER_WRITE,
						     .nmsrs = 64, .base = 0x800,
						     .bitmap = (__u8 *)&none};
	f.ranges[2] = (struct kvm_msr_filter_range){.flags = KVM_MSR_FILTER_READ |
							     KVM_MSR_FILTER_WRITE,
						     .nmsrs = 64, .base = MSR_PAT,
						     .bitmap = (__u8 *)&all};
	T_EQ(set_filter(&f), 0, "filter: PAT reads denied");

	load(0, MSR_PAT, 0);
	T_EQ(go(), KVM_EXIT_X86_RDMSR + 1000, "filtered RDMSR PAT: exit");
	T_EQ(run->msr.reason, KVM_MSR_EXIT_REASON_FILTER, "filtered RDMSR: reason FILTER");
	T_EQ(run->msr.index, MSR_PAT, "filtered RDMSR: index");
	run->msr.data = 0x42;
	T_EQ(go(), 0x10, "filtered RDMSR completed");
	T_EQ(io_u32(), 0x42, "filtered RDMSR: the VMM's value");
	unsigned long long v = 0;
	T_EQ(t_msr_get(vcpu, MSR_PAT, &v), 1, "the VMM's KVM_GET_MSRS is not filtered");
	T_EQ(v, 0x0007040600070406ULL, "PAT reads its reset value");
	/* writes fall through range 0 (READ only) to range 2: allowed */
	load(1, MSR_PAT, 0x0007040600070406ULL);
	T_EQ(go(), 0x10, "PAT write allowed by the next matching range");
	/* x2APIC MSRs are never filtered: no LAPIC, so INVAL, not FILTER */
	load(0, 0x808, 0);
	T_EQ(go(), KVM_EXIT_X86_RDMSR + 1000, "x2APIC TPR read without a LAPIC: exit");
	T_EQ(run->msr.reason, KVM_MSR_EXIT_REASON_INVAL, "x2APIC range is not filtered");
	run->msr.error = 1;
	T_EQ(go(), 0x11, "x2APIC read refused: #GP");

	/* FILTER not asked for: a filtered access is #GP. */
	T_EQ(enable(KVM_MSR_EXIT_REASON_UNKNOWN), 0, "enable UNKNOWN only");
	load(0, MSR_PAT, 0);
	T_EQ(go(), 0x11, "filtered RDMSR without FILTER: #GP");

	/* Default deny: everything outside the ranges is filtered. */
	T_EQ(enable(KVM_MSR_EXIT_REASON_FILTER), 0, "enable FILTER only");
	f.flags = KVM_MSR_FILTER_DEFAULT_DENY;
	T_EQ(set_filter(&f), 0, "default-deny filter");
	load(1, 0x174, 0); /* SYSENTER_CS */
	T_EQ(go(), KVM_EXIT_X86_WRMSR + 1000, "default deny: WRMSR SYSENTER_CS exits");
	T_EQ(run->msr.reason, KVM_MSR_EXIT_REASON_FILTER, "default deny: reason FILTER");
	T_EQ(go(), 0x10, "default deny: completed");
	memset(&f, 0, sizeof(f));
	T_EQ(set_filter(&f), 0, "default-allow filter without ranges: no filter");
	load(0, MSR_PAT, 0);
	T_EQ(go(), 0x10, "no filter: RDMSR PAT in the kernel");
	T_EQ(io_u32(), 0x00070406, "no filter: PAT value");

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
