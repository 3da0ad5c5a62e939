/*
 * The in-kernel irqchip (KVM API 4.24 KVM_CREATE_IRQCHIP, 4.26-4.27
 * KVM_GET/SET_IRQCHIP, 4.57-4.58 KVM_GET/SET_LAPIC, 4.38-4.39 MP state):
 * creation rules, reset state of the PIC, IOAPIC and LAPIC, and a
 * real-mode guest that drives its LAPIC through the x2APIC MSRs: a self
 * IPI taken after STI's shadow, TPR masking, a one-shot and a periodic
 * timer waking HLT (which does not exit with an in-kernel LAPIC).
 * Expectations are the document's and the SDM's (Vol. 3A ch. 11).
 */
#include "t_irq.h"

/* The guest, assembled with the test; copied to T_IRQ_CODE. */
extern const unsigned char g_start[], g_end[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	"g_start:\n"
	"	cli\n"
	"	movw $(h40 - g_start + 0x1000), 0x100\n"
	"	movw $0, 0x102\n"
	"	movw $(h41 - g_start + 0x1000), 0x104\n"
	"	movw $0, 0x106\n"
	/* x2APIC mode, software enable */
	T_IRQ_X2APIC_ON
	/* self IPI 0x40 with IF clear: it waits in IRR */
	"	mov $0x83f, %ecx\n"
	"	mov $0x40, %eax\n"
	"	wrmsr\n"
	"	out %al, $0x10\n"
	"	sti\n"
	"0:	cmpb $1, 0x500\n"
	"	jb 0b\n"
	"	mov 0x500, %al\n"
	"	out %al, $0x11\n"
	/* one-shot timer, vector 0x41, divide by 1, 2 ms; HLT until it fires */
	"	cli\n"
	"	mov $0x83e, %ecx\n"
	"	mov $0xb, %eax\n"
	"	wrmsr\n"
	"	mov $0x832, %ecx\n"
	"	mov $0x41, %eax\n"
	"	wrmsr\n"
	"	mov $0x838, %ecx\n"
	"	mov $2000000, %eax\n"
	"	wrmsr\n"
	"	out %al, $0x12\n"
	"	sti\n"
	"	hlt\n"
	"	mov 0x501, %al\n"
	"	out %al, $0x13\n"
	/* TPR 0x50 holds back vector 0x40 (class 4) */
	"	cli\n"
	"	mov $0x808, %ecx\n"
	"	mov $0x50, %eax\n"
	"	wrmsr\n"
	"	mov $0x83f, %ecx\n"
	"	mov $0x40, %eax\n"
	"	wrmsr\n"
	"	sti\n"
	"	mov $10000, %cx\n"
	"1:	loop 1b\n"
	"	mov 0x500, %al\n"
	"	out %al, $0x14\n"
	"	mov $0x808, %ecx\n"
	"	xor %eax, %eax\n"
	"	wrmsr\n"
	"2:	cmpb $2, 0x500\n"
	"	jb 2b\n"
	"	mov 0x500, %al\n"
	"	out %al, $0x15\n"
	/* periodic timer, 1 ms: sleep until three more ticks */
	"	mov $0x832, %ecx\n"
	"	mov $0x20041, %eax\n"
	"	wrmsr\n"
	"	mov $0x838, %ecx\n"
	"	mov $1000000, %eax\n"
	"	wrmsr\n"
	"3:	hlt\n"
	"	cmpb $4, 0x501\n"
	"	jb 3b\n"
	"	mov $0x838, %ecx\n"
	"	xor %eax, %eax\n"
	"	wrmsr\n"
	"	mov 0x501, %al\n"
	"	out %al, $0x16\n"
	/* TSC-deadline mode: fire 2 ms of guest TSC from now (the VMM put
	 * that many ticks at 0x510); HLT until it does */
	"	cli\n"
	"	mov $0x832, %ecx\n"
	"	mov $0x40041, %eax\n"
	"	xor %edx, %edx\n"
	"	wrmsr\n"
	"	rdtsc\n"
	"	add 0x510, %eax\n"
	"	adc $0, %edx\n"
	"	mov $0x6e0, %ecx\n"
	"	wrmsr\n"
	"	out %al, $0x17\n"
	"	sti\n"
	"5:	hlt\n"
	"	cmpb $5, 0x501\n"
	"	jb 5b\n"
	"	mov 0x501, %al\n"
	"	out %al, $0x18\n"
	"	jmp .\n"
	T_IRQ_HANDLER
	"h40:	t_handler 0x500\n"
	"h41:	t_handler 0x501\n"
	"g_end:\n"
	".code64\n"
	".popsection\n");

extern const unsigned char vp_start[], vp_end[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	"vp_start:\n"
	"	out %al, $0xe0\n"
	"	movb $0x40, 0x3000\n" /* the guest sets its TPR in the VAPIC page */
	"	out %al, $0xe1\n"
	"	jmp .\n"
	"vp_end:\n"
	".code64\n"
	".popsection\n");

static int kvm;

static unsigned lapic_reg(const struct kvm_lapic_state *s, unsigned off)
{
	unsigned v;
	memcpy(&v, s->regs + off, 4);
	return v;
}

static void test_create_rules(void)
{
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP), 1, "KVM_CAP_IRQCHIP");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER), 1,
	     "KVM_CAP_TSC_DEADLINE_TIMER");
	int vm = t_create_vm(kvm);
	struct kvm_irqchip chip = {.chip_id = KVM_IRQCHIP_IOAPIC};
	T_ERR(ioctl(vm, KVM_GET_IRQCHIP, &chip), ENXIO, "GET_IRQCHIP before CREATE_IRQCHIP");
	T_EQ(ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0, "CREATE_IRQCHIP");
	T_ERR(ioctl(vm, KVM_CREATE_IRQCHIP, 0), EEXIST, "CREATE_IRQCHIP twice");
	chip.chip_id = 3;
	T_ERR(ioctl(vm, KVM_GET_IRQCHIP, &chip), EINVAL, "GET_IRQCHIP chip 3");
	T_ERR(ioctl(vm, KVM_GET_IRQCHIP, T_BADPTR), EFAULT, "GET_IRQCHIP bad pointer");

	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	T_EQ(ioctl(vm, KVM_GET_IRQCHIP, &chip), 0, "GET_IRQCHIP IOAPIC");
	T_EQ(chip.chip.ioapic.base_address, 0xfec00000, "IOAPIC base");
	int masked = 0;
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		masked += !!(chip.chip.ioapic.redirtbl[i].bits & (1ULL << 16));
	T_EQ(masked, KVM_IOAPIC_NUM_PINS, "IOAPIC pins masked at reset");
	/* round trip: a programmed entry survives */
	chip.chip.ioapic.redirtbl[5].bits = 0x0300000000008035ULL;
	T_EQ(ioctl(vm, KVM_SET_IRQCHIP, &chip), 0, "SET_IRQCHIP IOAPIC");
	memset(&chip.chip, 0, sizeof(chip.chip));
	ioctl(vm, KVM_GET_IRQCHIP, &chip);
	T_EQ(chip.chip.ioapic.redirtbl[5].bits, 0x0300000000008035ULL, "IOAPIC entry round trip");

	struct kvm_irqchip pic = {.chip_id = KVM_IRQCHIP_PIC_SLAVE};
	T_EQ(ioctl(vm, KVM_GET_IRQCHIP, &pic), 0, "GET_IRQCHIP PIC slave");
	pic.chip.pic.imr = 0xa5;
	pic.chip.pic.irq_base = 0x70;
	T_EQ(ioctl(vm, KVM_SET_IRQCHIP, &pic), 0, "SET_IRQCHIP PIC slave");
	struct kvm_irqchip m = {.chip_id = KVM_IRQCHIP_PIC_MASTER};
	ioctl(vm, KVM_GET_IRQCHIP, &m);
	memset(&pic.chip, 0, sizeof(pic.chip));
	ioctl(vm, KVM_GET_IRQCHIP, &pic);
	T_OK(pic.chip.pic.imr == 0xa5 && pic.chip.pic.irq_base == 0x70, "PIC slave round trip");
	T_OK(m.chip.pic.imr != 0xa5, "PIC master untouched");

	int v0 = t_create_vcpu(vm, 0), v1 = t_create_vcpu(vm, 1);
	struct kvm_mp_state mp;
	ioctl(v0, KVM_GET_MP_STATE, &mp);
	T_EQ(mp.mp_state, KVM_MP_STATE_RUNNABLE, "BSP starts RUNNABLE");
	ioctl(v1, KVM_GET_MP_STATE, &mp);
	T_EQ(mp.mp_state, KVM_MP_STATE_UNINITIALIZED, "AP starts UNINITIALIZED");
	mp.mp_state = 42;
	T_ERR(ioctl(v1, KVM_SET_MP_STATE, &mp), EINVAL, "SET_MP_STATE 42");
	mp.mp_state = KVM_MP_STATE_HALTED;
	T_EQ(ioctl(v1, KVM_SET_MP_STATE, &mp), 0, "SET_MP_STATE HALTED with a LAPIC");
	ioctl(v1, KVM_GET_MP_STATE, &mp);
	T_EQ(mp.mp_state, KVM_MP_STATE_HALTED, "HALTED reads back");

	struct kvm_lapic_state ls;
	T_EQ(ioctl(v1, KVM_GET_LAPIC, &ls), 0, "GET_LAPIC");
	T_EQ(lapic_reg(&ls, 0x20), 1u << 24, "LAPIC ID = vcpu id << 24");
	T_EQ(lapic_reg(&ls, 0x30) & 0xff, 0x14, "LAPIC version 0x14");
	T_EQ(lapic_reg(&ls, 0xf0), 0xff, "SVR 0xff at reset");
	T_EQ(lapic_reg(&ls, 0xe0), 0xffffffff, "DFR all ones");
	T_EQ(lapic_reg(&ls, 0x350), 0x10000, "AP LINT0 masked");
	ioctl(v0, KVM_GET_LAPIC, &ls);
	T_EQ(lapic_reg(&ls, 0x350), 0x700, "BSP LINT0 ExtINT");
	ls.regs[0x80] = 0x30; /* TPR */
	T_EQ(ioctl(v0, KVM_SET_LAPIC, &ls), 0, "SET_LAPIC");
	struct kvm_sregs sr;
	ioctl(v0, KVM_GET_SREGS, &sr);
	T_EQ(sr.cr8, 3, "CR8 is TPR >> 4");
	T_ERR(ioctl(v0, KVM_GET_LAPIC, T_BADPTR), EFAULT, "GET_LAPIC bad pointer");

	struct kvm_interrupt irq = {.irq = 0x20};
	T_ERR(ioctl(v0, KVM_INTERRUPT, &irq), ENXIO, "KVM_INTERRUPT with the PIC in the kernel");
	close(v0);
	close(v1);
	close(vm);

	vm = t_create_vm(kvm);
	v0 = t_create_vcpu(vm, 0);
	T_ERR(ioctl(vm, KVM_CREATE_IRQCHIP, 0), EINVAL, "CREATE_IRQCHIP after a vCPU");
	T_ERR(ioctl(v0, KVM_GET_LAPIC, &ls), EINVAL, "GET_LAPIC without irqchip");
	close(v0);
	close(vm);
}

/* An MSI to destination 0xff reaches an x2APIC-mode APIC 0 only through
 * KVM's broadcast quirk (KVM API 7.7), which X2APIC_API can turn off. */
static int msi_ff(int quirk_off)
{
	struct t_irq_vm v = t_irq_vm(kvm);
	if (quirk_off) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_X2APIC_API};
		cap.args[0] = 1ULL << 20;
		T_ERR(ioctl(v.vm, KVM_ENABLE_CAP, &cap), EINVAL, "X2APIC_API unknown flag");
		cap.args[0] = KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK;
		T_EQ(ioctl(v.vm, KVM_ENABLE_CAP, &cap), 0, "X2APIC_API DISABLE_BROADCAST_QUIRK");
	}
	int vcpu = t_irq_vcpu(kvm, &v, 0, g_start, 1);
	t_irq_x2apic(kvm, vcpu);
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e = {.index = 0x1b, .data = 0xfee00d00}};
	if (ioctl(vcpu, KVM_SET_MSRS, &m) != 1)
		T_BAIL("x2APIC mode");
	struct kvm_lapic_state ls;
	ioctl(vcpu, KVM_GET_LAPIC, &ls);
	ls.regs[0xf1] = 1; /* SVR.8: software enable */
	ioctl(vcpu, KVM_SET_LAPIC, &ls);
	struct kvm_msi msi = {.address_lo = 0xfee00000 | 0xff << 12, .data = 0x45};
	int r = ioctl(v.vm, KVM_SIGNAL_MSI, &msi);
	ioctl(vcpu, KVM_GET_LAPIC, &ls);
	int irr = ls.regs[0x220] >> 5 & 1;
	t_irq_close(&v);
	return r > 0 && irr;
}

/* KVM_SET_VAPIC_ADDR: the TPR mirrored into a guest page around KVM_RUN. */
static void test_vapic(void)
{
	struct t_irq_vm v = t_irq_vm(kvm);
	int vcpu = t_irq_vcpu(kvm, &v, 0, vp_start, (size_t)(vp_end - vp_start));
	struct kvm_vapic_addr va = {.vapic_addr = 0x3000};
	T_EQ(ioctl(vcpu, KVM_SET_VAPIC_ADDR, &va), 0, "SET_VAPIC_ADDR");
	struct kvm_lapic_state ls;
	ioctl(vcpu, KVM_GET_LAPIC, &ls);
	ls.regs[0x80] = 0x20;
	ls.regs[0xf1] = 1; /* SVR: software-enabled, as KVM syncs only then */
	ioctl(vcpu, KVM_SET_LAPIC, &ls);
	ioctl(vcpu, KVM_RUN, 0);
	T_EQ(v.ram[0x3000], 0x20, "VAPIC page holds the TPR after a run");
	ioctl(vcpu, KVM_RUN, 0);
	ioctl(vcpu, KVM_GET_LAPIC, &ls);
	T_EQ(v.run->io.port, 0xe1, "VAPIC guest ran");
	T_EQ((unsigned char)ls.regs[0x80], 0x40, "the guest's VAPIC TPR reaches the LAPIC");
	t_irq_close(&v);
	int vm = t_create_vm(kvm);
	vcpu = t_create_vcpu(vm, 0);
	T_ERR(ioctl(vcpu, KVM_SET_VAPIC_ADDR, &va), EINVAL, "SET_VAPIC_ADDR without a LAPIC");
	close(vcpu);
	close(vm);
}

static void test_guest(void)
{
	struct t_irq_vm v = t_irq_vm(kvm);
	int vcpu = t_irq_vcpu(kvm, &v, 0, g_start, (size_t)(g_end - g_start));
	T_OK(t_irq_x2apic(kvm, vcpu), "x2APIC in KVM_GET_SUPPORTED_CPUID");
	struct kvm_run *run = v.run;
	double t0 = 0, left_ms = 0;
	int port = 0;
	for (int steps = 0; steps < 20; steps++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			T_OK(0, "KVM_RUN failed (errno %d)", errno);
			break;
		}
		if (run->exit_reason != KVM_EXIT_IO) {
			T_OK(0, "unexpected exit %u at port step %#x", run->exit_reason, port);
			break;
		}
		port = run->io.port;
		unsigned char al = *((unsigned char *)run + run->io.data_offset);
		struct kvm_lapic_state ls;
		switch (port) {
		case 0x10:
			ioctl(vcpu, KVM_GET_LAPIC, &ls);
			T_EQ(lapic_reg(&ls, 0x220) & 1, 1, "self IPI 0x40 waits in IRR with IF=0");
			T_EQ(lapic_reg(&ls, 0x20), 0, "x2APIC ID in the legacy format (bits 31:24)");
			T_EQ(run->if_flag, 0, "if_flag 0");
			T_EQ(run->ready_for_interrupt_injection, 1,
			     "ready_for_interrupt_injection with the PIC in the kernel");
			T_EQ(run->apic_base & 0xc00, 0xc00, "kvm_run apic_base shows x2APIC mode");
			break;
		case 0x11:
			T_EQ(al, 1, "vector 0x40 taken once after STI");
			T_EQ(run->if_flag, 1, "if_flag 1");
			ioctl(vcpu, KVM_GET_LAPIC, &ls);
			T_EQ(lapic_reg(&ls, 0x110) & 1, 0, "ISR clear after EOI");
			break;
		case 0x12:
			/* a save/restore round trip mid-countdown keeps the timer;
			 * the guest armed it before this exit, so what is left
			 * (TMCCT, 1 ns a count at divide-by-1) bounds the wait */
			ioctl(vcpu, KVM_GET_LAPIC, &ls);
			t0 = t_now_ms();
			left_ms = lapic_reg(&ls, 0x390) / 1e6;
			T_OK(lapic_reg(&ls, 0x390) > 0 && lapic_reg(&ls, 0x390) <= 2000000,
			     "GET_LAPIC: TMCCT counting down (%u)", lapic_reg(&ls, 0x390));
			T_EQ(ioctl(vcpu, KVM_SET_LAPIC, &ls), 0, "SET_LAPIC mid-countdown");
			break;
		case 0x13: {
			double dt = t_now_ms() - t0;
			T_EQ(al, 1, "one-shot timer woke HLT (no KVM_EXIT_HLT)");
			T_OK(dt >= left_ms - 0.2,
			     "one-shot: woke no earlier than the count left (%.2f ms, %.2f ms left)",
			     dt, left_ms);
			t0 = t_now_ms();
			break;
		}
		case 0x14:
			T_EQ(al, 1, "TPR 0x50 holds back vector 0x40");
			ioctl(vcpu, KVM_GET_LAPIC, &ls);
			T_EQ(lapic_reg(&ls, 0x80), 0x50, "TPR in the LAPIC image");
			T_EQ(run->cr8, 5, "kvm_run cr8 = TPR >> 4");
			break;
		case 0x15:
			T_EQ(al, 2, "TPR 0 lets vector 0x40 in");
			t0 = t_now_ms();
			break;
		case 0x16: {
			double dt = t_now_ms() - t0;
			T_OK(al >= 4, "periodic timer: three more ticks (%u)", al);
			T_OK(dt >= 2.5, "periodic: >= 3 ms (%.2f ms)", dt);
			v.ram[0x501] = 4; /* ticks that came after the guest's read */
			int khz = ioctl(vcpu, KVM_GET_TSC_KHZ, 0);
			unsigned ticks = (unsigned)khz * 2;
			memcpy(v.ram + 0x510, &ticks, 4);
			break;
		}
		case 0x17: {
			t0 = t_now_ms();
			struct {
				struct kvm_msrs h;
				struct kvm_msr_entry e;
			} m = {.h.nmsrs = 1, .e.index = 0x6e0};
			T_EQ(ioctl(vcpu, KVM_GET_MSRS, &m), 1, "GET_MSRS TSC_DEADLINE");
			T_OK(m.e.data != 0, "TSC_DEADLINE armed reads back");
			break;
		}
		case 0x18: {
			double dt = t_now_ms() - t0;
			T_EQ(al, 5, "TSC-deadline timer fired once");
			T_OK(dt >= 1.5, "TSC deadline: >= 2 ms of guest TSC (%.2f ms)", dt);
			struct {
				struct kvm_msrs h;
				struct kvm_msr_entry e;
			} m = {.h.nmsrs = 1, .e.index = 0x6e0};
			ioctl(vcpu, KVM_GET_MSRS, &m);
			T_EQ(m.e.data, 0, "TSC_DEADLINE reads 0 after it fired");
			steps = 100;
			break;
		}
		default:
			T_OK(0, "unexpected port %#x", port);
			steps = 100;
		}
	}
	T_EQ(port, 0x18, "guest reached its end");
	t_irq_close(&v);
}

int main(void)
{
	kvm = t_open_kvm();
	test_create_rules();
	test_vapic();
	T_OK(msi_ff(0), "MSI to 0xff reaches x2APIC 0 (broadcast quirk)");
	T_OK(!msi_ff(1), "MSI to 0xff misses x2APIC 0 without the quirk");
	test_guest();
	return t_done();
}
