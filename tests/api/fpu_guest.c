/* The FPU state ioctls against the live state the guest uses (KVM API
 * 4.22-4.23, 4.42-4.43): KVM_SET_FPU and KVM_SET_XSAVE reach the guest's
 * FNSTCW/FXSAVE, and what the guest's FXRSTOR loaded is what KVM_GET_FPU
 * and KVM_GET_XSAVE report, equal to the guest's own FXSAVE image.  A
 * real-mode guest (the host's KVM runs it in its instruction emulator,
 * which has FNSTCW, FXSAVE and FXRSTOR). */
#include "t_vm.h"
#include <stdlib.h>

#define IMG_IN 0x600  /* FXRSTOR source */
#define IMG_OUT 0x800 /* FXSAVE destination */
#define CW_OUT 0x500

static int vcpu;
static struct kvm_run *run;
static unsigned char *mem;

/* fnstcw [CW_OUT]; fxsave [IMG_OUT]; hlt  /  fxrstor [IMG_IN]; hlt */
static const unsigned char prog_save[] = {0xd9, 0x3e, 0x00, 0x05, 0x0f, 0xae, 0x06, 0x00, 0x08,
					   0xf4};
static const unsigned char prog_load[] = {0x0f, 0xae, 0x0e, 0x00, 0x06, 0xf4};

static int run_prog(const unsigned char *p, size_t n)
{
	memcpy(mem + 0x100, p, n);
	if (t_real_mode(vcpu, 0x100, 0))
		return -1;
	if (ioctl(vcpu, KVM_RUN, 0))
		return -1;
	return run->exit_reason == KVM_EXIT_HLT ? 0 : (int)run->exit_reason;
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || t_set_region(vm, 0, 0, 0, 0x10000, (unsigned long)mem))
		T_BAIL("memory");
	vcpu = t_create_vcpu(vm, 0);
	run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
	/* FXSAVE needs FXSR in the guest's CPUID */
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[100];
	} cp;
	cp.c.nent = 100;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cp) || ioctl(vcpu, KVM_SET_CPUID2, &cp))
		T_BAIL("CPUID");
	int fxsr = 0;
	for (unsigned i = 0; i < cp.c.nent; i++)
		if (cp.e[i].function == 1)
			fxsr = cp.e[i].edx >> 24 & 1;
	if (!fxsr) {
		printf("1..0 # SKIP no FXSR in the supported CPUID\n");
		return 0;
	}

	/* KVM_SET_FPU, then the guest's FNSTCW and FXSAVE */
	struct kvm_fpu f;
	T_EQ(ioctl(vcpu, KVM_GET_FPU, &f), 0, "GET_FPU");
	f.fcw = 0x27f;
	f.fsw = 7 << 11;	/* TOP 7 */
	f.ftwx = 0x80;		/* physical register 7 (ST0) valid */
	static const unsigned char pi80[10] = {0x35, 0xc2, 0x68, 0x21, 0xa2, 0xda, 0x0f, 0xc9, 0x00, 0x40};
	memcpy(f.fpr[0], pi80, 10);
	f.mxcsr = 0x1f80;
	T_EQ(ioctl(vcpu, KVM_SET_FPU, &f), 0, "SET_FPU FCW 0x27f, ST0 = pi");
	int r = run_prog(prog_save, sizeof(prog_save));
	T_EQ(r, 0, "guest FNSTCW + FXSAVE ran to HLT");
	unsigned short cw;
	memcpy(&cw, mem + CW_OUT, 2);
	T_EQ(cw, 0x27f, "the guest's FNSTCW sees the FCW KVM_SET_FPU wrote");
	unsigned short fsw;
	memcpy(&fsw, mem + IMG_OUT + 2, 2);
	T_EQ(mem[IMG_OUT + 4], 0x80, "the guest's FXSAVE: the abridged tag KVM_SET_FPU wrote");
	T_EQ(fsw >> 11 & 7, 7, "the guest's FXSAVE: TOP 7");
	T_OK(!memcmp(mem + IMG_OUT + 32, pi80, 10), "the guest's FXSAVE: ST0 = pi");

	/* the guest's FXRSTOR, then the state ioctls */
	unsigned char img[512];
	memset(img, 0, sizeof(img));
	unsigned short fcw_in = 0x37b, fsw_in = 6 << 11;
	memcpy(img, &fcw_in, 2);
	memcpy(img + 2, &fsw_in, 2);
	img[4] = 0xc0;		/* registers 6 and 7 valid */
	unsigned int mx = 0x1f80;
	memcpy(img + 24, &mx, 4);
	memcpy(img + 32, pi80, 10);
	img[48] = 0;		/* ST1 = 1.0 */
	img[48 + 7] = 0x80;
	img[48 + 8] = 0xff;
	img[48 + 9] = 0x3f;
	memcpy(mem + IMG_IN, img, sizeof(img));
	T_EQ(run_prog(prog_load, sizeof(prog_load)), 0, "guest FXRSTOR ran to HLT");
	T_EQ(ioctl(vcpu, KVM_GET_FPU, &f), 0, "GET_FPU");
	T_OK(f.fcw == 0x37b && (f.fsw >> 11 & 7) == 6 && f.ftwx == 0xc0, "GET_FPU: FCW, TOP, tag the guest loaded");
	T_OK(!memcmp(f.fpr[0], pi80, 10) && !memcmp(f.fpr[1], img + 48, 10),
	     "GET_FPU: ST0, ST1 the guest loaded");
	struct kvm_xsave x;
	T_EQ(ioctl(vcpu, KVM_GET_XSAVE, &x), 0, "GET_XSAVE");
	u_int64_t bv;
	memcpy(&bv, (char *)x.region + 512, 8);
	T_OK(bv & 1, "GET_XSAVE: x87 in XSTATE_BV after the guest loaded it");
	/* the guest's own FXSAVE equals GET_XSAVE's x87 part */
	T_EQ(run_prog(prog_save, sizeof(prog_save)), 0, "guest FXSAVE ran to HLT");
	const unsigned char *g = mem + IMG_OUT, *k = (const unsigned char *)x.region;
	T_OK(!memcmp(g, k, 8), "FCW, FSW, FTW, FOP: GET_XSAVE equals the guest's FXSAVE");
	T_OK(!memcmp(g + 32, k + 32, 128), "ST0-7: GET_XSAVE equals the guest's FXSAVE");
	T_OK(!memcmp(g + 24, k + 24, 4), "MXCSR: GET_XSAVE equals the guest's FXSAVE");

	/* KVM_SET_FPU takes MXCSR unchecked; a guest SSE instruction run on
	 * such a state must not take the VMM down (KVM's FPU restore resets
	 * a state it cannot load).  Not run on the host: its kernel WARNs. */
	if (getenv("SOFTKVM_DEVICE")) {
		static const unsigned char prog_sse[] = {
			0x0f, 0x20, 0xe0,			/* mov eax, cr4 */
			0x66, 0x0d, 0x00, 0x06, 0x00, 0x00,	/* or eax, 0x600 */
			0x0f, 0x22, 0xe0,			/* mov cr4, eax */
			0x0f, 0x58, 0xc1,			/* addps xmm0, xmm1 */
			0xf4};
		T_EQ(ioctl(vcpu, KVM_GET_FPU, &f), 0, "GET_FPU");
		f.mxcsr = 0xffff1f80;
		T_EQ(ioctl(vcpu, KVM_SET_FPU, &f), 0, "SET_FPU with reserved MXCSR bits");
		T_EQ(run_prog(prog_sse, sizeof(prog_sse)), 0,
		     "ADDPS on that state: runs to HLT, softkvm unharmed");
	}

	/* IA32_XSS: the VMM may write 0; no supervisor component is
	 * offered, so any other value fails (KVM: data & ~supported_xss) */
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e;
	} xm = {.m.nmsrs = 1, .e.index = 0xda0};
	int xsaves = 0;
	for (unsigned i = 0; i < cp.c.nent; i++)
		if (cp.e[i].function == 0xd && cp.e[i].index == 1)
			xsaves = cp.e[i].eax >> 3 & 1;
	if (xsaves) {
		unsigned long long sup = 0;
		for (unsigned i = 0; i < cp.c.nent; i++)
			if (cp.e[i].function == 0xd && cp.e[i].index == 1)
				sup = cp.e[i].ecx | (unsigned long long)cp.e[i].edx << 32;
		T_EQ(ioctl(vcpu, KVM_SET_MSRS, &xm), 1, "SET_MSRS IA32_XSS = 0");
		T_EQ(ioctl(vcpu, KVM_GET_MSRS, &xm), 1, "GET_MSRS IA32_XSS");
		T_EQ(xm.e.data, 0, "IA32_XSS reads 0");
		/* a bit outside the supported XSS (CPUID 0xD.1 ECX/EDX) */
		int bit = 0;
		while (bit < 63 && (sup >> bit & 1))
			bit++;
		xm.e.data = 1ull << bit;
		T_EQ(ioctl(vcpu, KVM_SET_MSRS, &xm), 0, "SET_MSRS IA32_XSS with an unsupported bit fails");
	}

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
