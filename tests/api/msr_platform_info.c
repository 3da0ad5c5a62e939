/* MSR_PLATFORM_INFO (0xce) and KVM_CAP_MSR_PLATFORM_INFO (KVM API 7.x):
 * the VMM writes the MSR, the guest reads it unless the VMM disabled that
 * with KVM_ENABLE_CAP (args[0] = 0), when RDMSR raises #GP; enabled is the
 * default.  MSR_IA32_PERF_CAPABILITIES (0x345): a feature MSR and a listed
 * vCPU MSR KVM always serves (0 without a PMU). */
#include "t_vm.h"

#define RAM_SIZE 0x10000
#define CODE 0x1000
#define GP_HANDLER 0x1100

static int kvm, vm, vcpu;
static struct kvm_run *run;
static unsigned char *ram;

#define msr_get t_msr_get
#define msr_set t_msr_set

static int enable(unsigned long long arg0)
{
	struct kvm_enable_cap c = {.cap = KVM_CAP_MSR_PLATFORM_INFO, .args = {arg0}};
	return ioctl(vm, KVM_ENABLE_CAP, &c);
}

static int listed(unsigned long req, unsigned index)
{
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + 4096 * sizeof(__u32));
	l->nmsrs = 4096;
	int found = 0;
	if (!ioctl(kvm, req, l))
		for (unsigned i = 0; i < l->nmsrs; i++)
			found |= l->indices[i] == index;
	free(l);
	return found;
}

/* Run the guest from CODE: RDMSR 0xce, then OUT 0x10 with EAX's bits 8-15
 * (or OUT 0x11 from the #GP handler); the port seen, or -1. */
static int guest_read(void)
{
	return t_run_port(vcpu, run, CODE);
}

int main(void)
{
	kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED || t_set_region(vm, 0, 0, 0, RAM_SIZE, (unsigned long)ram))
		T_BAIL("guest memory");
	static const unsigned char code[] = {
		0x66, 0xb9, 0xce, 0, 0, 0, /* mov ecx, 0xce */
		0x0f, 0x32,		   /* rdmsr */
		0x88, 0xe0,		   /* mov al, ah */
		0xe6, 0x10,		   /* out 0x10, al */
		0xf4,			   /* hlt */
	};
	static const unsigned char gp[] = {
		0xe6, 0x11, /* out 0x11, al */
		0xf4,	    /* hlt */
	};
	memcpy(ram + CODE, code, sizeof(code));
	memcpy(ram + GP_HANDLER, gp, sizeof(gp));
	ram[13 * 4] = GP_HANDLER & 0xff, ram[13 * 4 + 1] = GP_HANDLER >> 8; /* IVT[13] */
	vcpu = t_create_vcpu(vm, 0);
	run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE,
		   MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");

	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MSR_PLATFORM_INFO), 1,
	     "KVM_CAP_MSR_PLATFORM_INFO is 1 on x86");
	T_OK(listed(KVM_GET_MSR_INDEX_LIST, 0xce), "MSR_PLATFORM_INFO is a listed MSR");
	unsigned long long v = 0;
	T_EQ(msr_get(vcpu, 0xce, &v), 1, "the VMM reads MSR_PLATFORM_INFO");
	T_EQ(msr_set(vcpu, 0xce, v | 0xff00), 1, "the VMM writes the max turbo ratio");
	T_EQ(msr_get(vcpu, 0xce, &v), 1, "and reads it back");
	T_EQ(v & 0xff00, 0xff00, "max turbo ratio read back");
	T_EQ(guest_read(), 0x10, "the guest reads it by default");
	T_EQ(((unsigned char *)run)[run->io.data_offset], 0xff, "the guest sees the VMM's value");
	T_EQ(enable(0), 0, "KVM_ENABLE_CAP(MSR_PLATFORM_INFO, 0)");
	T_EQ(guest_read(), 0x11, "then the guest's RDMSR raises #GP");
	T_EQ(msr_get(vcpu, 0xce, &v), 1, "the VMM still reads it");
	T_EQ(enable(1), 0, "KVM_ENABLE_CAP(MSR_PLATFORM_INFO, 1)");
	T_EQ(guest_read(), 0x10, "the guest reads it again");
	int vcpu2 = t_create_vcpu(vm, 1);
	T_EQ(enable(0), 0, "disabled with two vCPUs");
	int v2 = vcpu;
	struct kvm_run *run2 = run;
	vcpu = t_create_vcpu(vm, 2);
	run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE,
		   MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
	T_EQ(guest_read(), 0x11, "a vCPU created after disabling: #GP too");
	close(vcpu), close(vcpu2);
	vcpu = v2, run = run2;
	struct kvm_enable_cap c = {.cap = KVM_CAP_MSR_PLATFORM_INFO, .flags = 1, .args = {1}};
	T_ERR(ioctl(vm, KVM_ENABLE_CAP, &c), EINVAL, "flags must be 0");

	/* MSR_IA32_PERF_CAPABILITIES */
	T_OK(listed(KVM_GET_MSR_FEATURE_INDEX_LIST, 0x345), "PERF_CAPABILITIES is a feature MSR");
	T_OK(listed(KVM_GET_MSR_INDEX_LIST, 0x345), "PERF_CAPABILITIES is a listed MSR");
	T_EQ(msr_get(kvm, 0x345, &v), 1, "KVM_GET_MSRS on /dev/kvm reads PERF_CAPABILITIES");
	unsigned long long feat = v;
	T_EQ(msr_get(vcpu, 0x345, &v), 1, "the VMM reads the vCPU's PERF_CAPABILITIES");
	T_EQ(msr_set(vcpu, 0x345, 0), 1, "the VMM writes 0 to it");
	if (!feat) /* no PMU capabilities to offer: nothing else goes in */
		T_EQ(msr_set(vcpu, 0x345, 1ULL << 13), 0, "FW_WRITES refused without a PMU");
	else
		T_OK(1, "FW_WRITES refused without a PMU");
	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
