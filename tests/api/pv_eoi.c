/* PV EOI (Documentation/virt/kvm/x86/msr.rst, MSR_KVM_PV_EOI_EN) with the
 * in-kernel LAPIC.  A real-mode guest enables its PV EOI flag and takes
 * MSIs: at the entry that delivers an interrupt the flag is set; a guest
 * that clears it before its next exit has ended the interrupt (ISR clear
 * at that exit); an exit while it is still set clears it, and the
 * interrupt stays in service for a real EOI. */
#include <linux/kvm_para.h>

#include "t_vm.h"

#define FLAG 0x5000
#define SEEN 0x5100 /* the flag as handler B found it */
#define VEC_A 0x40
#define VEC_B 0x41

/* 0x1000: enable PV EOI at FLAG; sti; hlt; out 0x13; L: hlt; jmp L */
static const unsigned char code_main[] = {
	0x66, 0xb9, 0x04, 0x4d, 0x56, 0x4b, /* mov ecx, MSR_KVM_PV_EOI_EN */
	0x66, 0xb8, 0x01, 0x50, 0, 0,	    /* mov eax, FLAG | 1 */
	0x66, 0x31, 0xd2,		    /* xor edx, edx */
	0x0f, 0x30,			    /* wrmsr */
	0xfb, 0xf4,			    /* sti; hlt (until vector B) */
	0xe6, 0x13,			    /* out 0x13, al */
	0xf4, 0xeb, 0xfd,		    /* L: hlt; jmp L */
};

/* 0x1100, vector A: al = flag; out 0x11, al (an exit); clear the flag; iret */
static const unsigned char code_a[] = {
	0xa0, 0x00, 0x50,	/* mov al, [FLAG] */
	0xe6, 0x11,		/* out 0x11, al */
	0xc6, 0x06, 0x00, 0x50, 0x00, /* mov byte [FLAG], 0 */
	0xcf,			/* iret */
};

/* 0x1200, vector B: [SEEN] = flag; clear the flag (the PV EOI); iret */
static const unsigned char code_b[] = {
	0xa0, 0x00, 0x50,	/* mov al, [FLAG] */
	0xa2, 0x00, 0x51,	/* mov [SEEN], al */
	0xc6, 0x06, 0x00, 0x50, 0x00, /* mov byte [FLAG], 0 */
	0xcf,			/* iret */
};

static int vm, vcpu;

static int msi(unsigned vector)
{
	struct kvm_msi m = {.address_lo = 0xfee00000, .data = vector};
	return ioctl(vm, KVM_SIGNAL_MSI, &m);
}

/* ISR bit `vector` in KVM_GET_LAPIC */
static int in_service(unsigned vector)
{
	struct kvm_lapic_state s;
	if (ioctl(vcpu, KVM_GET_LAPIC, &s))
		return -1;
	unsigned w;
	memcpy(&w, s.regs + 0x100 + (vector / 32) * 0x10, 4);
	return (w >> (vector % 32)) & 1;
}

int main(void)
{
	int kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		T_BAIL("KVM_CREATE_IRQCHIP");
	unsigned char *ram = t_guest_ram64k(vm, code_main, sizeof(code_main), 0x1000);
	memcpy(ram + 0x1100, code_a, sizeof(code_a));
	memcpy(ram + 0x1200, code_b, sizeof(code_b));
	ram[VEC_A * 4] = 0x00, ram[VEC_A * 4 + 1] = 0x11;
	ram[VEC_B * 4] = 0x00, ram[VEC_B * 4 + 1] = 0x12;
	vcpu = t_create_vcpu(vm, 0);
	struct kvm_run *run = t_map_run(kvm, vcpu);

	struct kvm_cpuid2 *sup = calloc(1, sizeof(*sup) + 256 * sizeof(struct kvm_cpuid_entry2));
	sup->nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, sup))
		T_BAIL("KVM_GET_SUPPORTED_CPUID");
	unsigned pv = 0;
	for (unsigned i = 0; i < sup->nent; i++)
		if (sup->entries[i].function == KVM_CPUID_FEATURES)
			pv = sup->entries[i].eax;
	T_OK(pv & 1u << KVM_FEATURE_PV_EOI, "supported 0x40000001: KVM_FEATURE_PV_EOI");
	if (ioctl(vcpu, KVM_SET_CPUID2, sup))
		T_BAIL("KVM_SET_CPUID2");

	unsigned long long v;
	T_EQ(t_msr_set(vcpu, MSR_KVM_PV_EOI_EN, (FLAG + 2) | 1), 0,
	     "MSR_KVM_PV_EOI_EN: an address not 4-byte aligned fails");
	T_EQ(t_msr_set(vcpu, MSR_KVM_PV_EOI_EN, 0x100000 | 1), 0,
	     "MSR_KVM_PV_EOI_EN: an address outside guest memory fails");
	T_EQ(t_msr_set(vcpu, MSR_KVM_PV_EOI_EN, 0x100000), 1,
	     "MSR_KVM_PV_EOI_EN: any aligned address while disabled");

	/* software-enable the LAPIC (SVR 0x1ff), then an MSI for vector B */
	struct kvm_lapic_state ls;
	if (ioctl(vcpu, KVM_GET_LAPIC, &ls))
		T_BAIL("KVM_GET_LAPIC");
	unsigned svr = 0x1ff;
	memcpy(ls.regs + 0xf0, &svr, 4);
	if (ioctl(vcpu, KVM_SET_LAPIC, &ls))
		T_BAIL("KVM_SET_LAPIC");
	T_EQ(msi(VEC_B), 1, "KVM_SIGNAL_MSI vector B delivered");
	ram[SEEN] = 0xee;
	T_EQ(t_run_port(vcpu, run, 0x1000), 0x13, "the guest enables PV EOI and takes vector B");
	T_EQ(t_msr_get(vcpu, MSR_KVM_PV_EOI_EN, &v), 1, "KVM_GET_MSRS MSR_KVM_PV_EOI_EN");
	T_EQ(v, FLAG | 1, "MSR_KVM_PV_EOI_EN reads back");
	T_EQ(ram[SEEN], 1, "the flag was set when vector B was delivered");
	T_EQ(in_service(VEC_B), 0, "vector B ended by the guest clearing the flag");

	/* vector A: the handler exits with the flag still set */
	T_EQ(msi(VEC_A), 1, "KVM_SIGNAL_MSI vector A delivered");
	int r = ioctl(vcpu, KVM_RUN, 0);
	T_OK(!r && run->exit_reason == KVM_EXIT_IO && run->io.port == 0x11,
	     "vector A's handler exits");
	T_EQ(*((unsigned char *)run + run->io.data_offset), 1,
	     "the flag was set when vector A was delivered");
	T_EQ(ram[FLAG], 0, "the exit cleared the flag");
	T_EQ(in_service(VEC_A), 1, "vector A stays in service for a real EOI");

	close(vcpu);
	close(vm);
	close(kvm);
	free(sup);
	return t_done();
}
