/* AMD configuration MSRs as KVM serves them (arch/x86/kvm/x86.c,
 * kvm_set/get_msr_common): HWCR (0xc0010015) keeps only McStatusWrEn (bit
 * 18), tolerating writes of the bits KVM ignores; with McStatusWrEn an AMD
 * guest may write MCi_STATUS (APM Vol. 2 9.3.2).  NB_CFG (0xc001001f) and
 * the bus-unit registers read 0 and ignore writes; MMIO_CONF_BASE takes
 * only 0, SYSCFG reads 0 and refuses writes.  Run on every host vendor: KVM serves them in common code. */
#include "t_vm.h"

#define HWCR 0xc0010015
#define NB_CFG 0xc001001f
#define MMIO_CONF 0xc0010058
#define CODE 0x1000
#define GP_HANDLER 0x1100

static int kvm, vm, vcpu;
static struct kvm_run *run;
static unsigned char *ram;

static int listed(unsigned index)
{
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + 4096 * sizeof(__u32));
	l->nmsrs = 4096;
	int found = 0;
	if (!ioctl(kvm, KVM_GET_MSR_INDEX_LIST, l))
		for (unsigned i = 0; i < l->nmsrs; i++)
			found |= l->indices[i] == index;
	free(l);
	return found;
}

/* The guest: WRMSR index, EDX:EAX = val; OUT 0x10 (done) or 0x11 (#GP). */
static int guest_wrmsr(unsigned index, unsigned long long val)
{
	unsigned char c[] = {
		0x66, 0xb9, 0, 0, 0, 0, 0x66, 0xb8, 0, 0, 0, 0, 0x66, 0xba, 0, 0, 0, 0,
		0x0f, 0x30, 0xe6, 0x10, 0xf4,
	};
	unsigned lo = (unsigned)val, hi = (unsigned)(val >> 32);
	memcpy(c + 2, &index, 4);
	memcpy(c + 8, &lo, 4);
	memcpy(c + 14, &hi, 4);
	memcpy(ram + CODE, c, sizeof(c));
	return t_run_port(vcpu, run, CODE);
}

int main(void)
{
	kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	static const unsigned char gp[] = {0xe6, 0x11, 0xf4};
	ram = t_guest_ram64k(vm, gp, sizeof(gp), GP_HANDLER);
	ram[13 * 4] = GP_HANDLER & 0xff, ram[13 * 4 + 1] = GP_HANDLER >> 8;
	vcpu = t_create_vcpu(vm, 0);
	run = t_map_run(kvm, vcpu);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 * sizeof(struct kvm_cpuid_entry2));
	c->nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) || ioctl(vcpu, KVM_SET_CPUID2, c))
		T_BAIL("CPUID");
	int amd = c->entries[0].function == 0 && c->entries[0].ebx == 0x68747541; /* "Auth" */
	unsigned long long mcg = 2; /* two banks */
	if (ioctl(vcpu, KVM_X86_SETUP_MCE, &mcg))
		T_BAIL("KVM_X86_SETUP_MCE");

	unsigned long long v = ~0ULL;
	T_OK(listed(HWCR), "HWCR is a listed MSR");
	T_EQ(t_msr_get(vcpu, HWCR, &v), 1, "HWCR reads");
	T_EQ(v, 0, "HWCR is 0 at reset");
	T_EQ(t_msr_set(vcpu, HWCR, 1ULL << 18), 1, "HWCR: McStatusWrEn is writable");
	T_EQ(t_msr_get(vcpu, HWCR, &v), 1, "HWCR reads again");
	T_EQ(v, 1ULL << 18, "HWCR: McStatusWrEn reads back");
	T_EQ(t_msr_set(vcpu, HWCR, 1ULL << 17), 0, "HWCR: another bit is refused");
	T_EQ(t_msr_set(vcpu, HWCR, (1ULL << 18) | 0x148), 1, "HWCR: ignored bits may be written");
	T_EQ(t_msr_get(vcpu, HWCR, &v), 1, "HWCR reads a third time");
	T_EQ(v, 1ULL << 18, "HWCR: ignored bits read as 0");
	T_EQ(guest_wrmsr(HWCR, 1ULL << 24), 0x11, "guest HWCR write of bit 24: #GP");

	T_EQ(t_msr_get(vcpu, NB_CFG, &v), 1, "NB_CFG reads");
	T_EQ(v, 0, "NB_CFG reads 0");
	T_EQ(guest_wrmsr(NB_CFG, 1ULL << 46), 0x10, "guest NB_CFG write (EnableCf8ExtCfg) ignored, no #GP");
	T_EQ(t_msr_get(vcpu, NB_CFG, &v), 1, "NB_CFG reads after the write");
	T_EQ(v, 0, "NB_CFG still reads 0");
	T_EQ(t_msr_set(vcpu, MMIO_CONF, 0), 1, "MMIO_CONF_BASE takes 0");
	T_EQ(t_msr_set(vcpu, MMIO_CONF, 1), 0, "MMIO_CONF_BASE refuses anything else");
	T_EQ(t_msr_get(vcpu, 0xc0010010, &v), 1, "SYSCFG reads");
	T_EQ(v, 0, "SYSCFG reads 0");
	T_EQ(guest_wrmsr(0xc0010010, 0), 0x11, "guest SYSCFG write: #GP");

	/* MC0_STATUS (0x401): a guest write of non-zero needs McStatusWrEn and
	 * an AMD guest CPUID. */
	T_EQ(guest_wrmsr(HWCR, 0), 0x10, "guest clears HWCR");
	T_EQ(guest_wrmsr(0x401, 1), 0x11, "MC0_STATUS non-zero without McStatusWrEn: #GP");
	T_EQ(guest_wrmsr(HWCR, 1ULL << 18), 0x10, "guest sets McStatusWrEn");
	T_EQ(guest_wrmsr(0x401, 1), amd ? 0x10 : 0x11,
	     "MC0_STATUS non-zero with McStatusWrEn: allowed only for an AMD guest");
	T_EQ(t_msr_get(vcpu, 0x401, &v), 1, "MC0_STATUS reads");
	T_EQ(v, amd ? 1 : 0, "MC0_STATUS holds what the guest wrote");
	close(vcpu);
	close(vm);
	close(kvm);
	free(c);
	return t_done();
}
