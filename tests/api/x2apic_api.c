/*
 * KVM_CAP_X2APIC_API's directed-EOI switches (bits 2 and 3, Linux 6.19):
 * what KVM_CHECK_EXTENSION reports on /dev/kvm and on a VM (bit 2 only
 * with a split irqchip), the KVM_ENABLE_CAP rules (unknown bits, both
 * switches at once, ENABLE without a split irqchip: EINVAL), and what the
 * guest sees: with a split irqchip the LAPIC offers Suppress EOI Broadcast
 * (LVR bit 24) by default and with ENABLE, not with DISABLE; only ENABLE
 * honours the guest's SVR bit 12, so a level vector's EOI no longer exits
 * with KVM_EXIT_IOAPIC_EOI.  A full in-kernel irqchip never offers it.
 * A host kernel without the switches reports 3 and skips those checks.
 */
#include <signal.h>

#include "t_irq.h"
#include "t_vm.h"

#define EN (1ULL << 2)
#define DIS (1ULL << 3)

extern const unsigned char d_start[], d_end[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	T_IRQ_HANDLER
	"d_start:\n"
	"	cli\n"
	"	movw $(d40 - d_start + 0x1000), 0x100\n"
	"	movw $0, 0x102\n"
	T_IRQ_X2APIC_ON
	/* SVR: enabled, and EOI-broadcast suppression if offered */
	"	mov $0x80f, %ecx\n"
	"	mov $0x11ff, %eax\n"
	"	xor %edx, %edx\n"
	"	wrmsr\n"
	"	out %al, $0x10\n" /* the VMM raises GSI 2 (level, 0x40) */
	"	sti\n"
	"0:	cmpb $1, 0x500\n"
	"	jb 0b\n"
	"	out %al, $0x11\n"
	"	out %al, $0x12\n"
	"1:	jmp 1b\n"
	"d40:	t_handler 0x500\n"
	"d_end:\n"
	".code64\n"
	".popsection\n");

static void on_alarm(int sig)
{
	(void)sig;
}

static int enable(int vm, unsigned long long flags)
{
	struct kvm_enable_cap c = {.cap = KVM_CAP_X2APIC_API, .args = {flags}};
	return ioctl(vm, KVM_ENABLE_CAP, &c);
}

static int split(int vm)
{
	struct kvm_enable_cap c = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {24}};
	return ioctl(vm, KVM_ENABLE_CAP, &c);
}

static void rules(int kvm)
{
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_X2APIC_API), 15, "/dev/kvm: all four flags");
	int vm = t_create_vm(kvm);
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_X2APIC_API), 11,
	     "a VM without a split irqchip: no ENABLE");
	T_ERR(enable(vm, EN), EINVAL, "ENABLE without a split irqchip: EINVAL");
	T_ERR(enable(vm, 1ULL << 4), EINVAL, "an unknown flag: EINVAL");
	T_EQ(enable(vm, DIS), 0, "DISABLE without a split irqchip");
	close(vm);
	vm = t_create_vm(kvm);
	T_EQ(split(vm), 0, "split irqchip");
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_X2APIC_API), 15, "a split VM: all four");
	T_ERR(enable(vm, EN | DIS), EINVAL, "ENABLE | DISABLE: EINVAL");
	T_EQ(enable(vm, EN), 0, "ENABLE with a split irqchip");
	close(vm);
}

struct seen {
	int lvr_directed, svr_suppress, eoi_exits, handled;
};

/* A split (or full, split = 0) VM with the flags; the guest's view. */
static struct seen guest(int kvm, int use_split, unsigned long long flags)
{
	struct seen s = {-1, -1, -1, 0};
	struct t_irq_vm v = {.vm = t_create_vm(kvm)};
	v.ram = mmap(NULL, T_IRQ_RAM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (v.ram == MAP_FAILED || t_set_region(v.vm, 0, 0, 0, T_IRQ_RAM, (unsigned long)v.ram) ||
	    (use_split ? split(v.vm) : ioctl(v.vm, KVM_CREATE_IRQCHIP, 0)) ||
	    (flags && enable(v.vm, flags)))
		T_BAIL("VM setup");
	t_irq_vcpu(kvm, &v, 0, d_start, (size_t)(d_end - d_start));
	if (!t_irq_x2apic(kvm, v.vcpu))
		T_BAIL("no x2APIC in the supported CPUID");
	struct kvm_lapic_state ls;
	if (!use_split) {
		ioctl(v.vcpu, KVM_GET_LAPIC, &ls);
		s.lvr_directed = ls.regs[0x33] & 1;
		t_irq_close(&v);
		return s;
	}
	alarm(10);
	if (ioctl(v.vcpu, KVM_RUN, 0) || v.run->exit_reason != KVM_EXIT_IO || v.run->io.port != 0x10)
		T_BAIL("guest set up");
	ioctl(v.vcpu, KVM_GET_LAPIC, &ls);
	s.lvr_directed = ls.regs[0x33] & 1;
	s.svr_suppress = !!(ls.regs[0xf1] & 0x10);
	struct {
		struct kvm_irq_routing h;
		struct kvm_irq_routing_entry e[1];
	} rt = {.h.nr = 1};
	rt.e[0].gsi = 2;
	rt.e[0].type = KVM_IRQ_ROUTING_MSI;
	rt.e[0].u.msi.address_lo = 0xfee00000;
	rt.e[0].u.msi.data = 0x40 | 0xc000; /* level, asserted */
	if (ioctl(v.vm, KVM_SET_GSI_ROUTING, &rt))
		T_BAIL("KVM_SET_GSI_ROUTING");
	struct kvm_irq_level l = {.irq = 2, .level = 1};
	ioctl(v.vm, KVM_IRQ_LINE, &l);
	l.level = 0;
	ioctl(v.vm, KVM_IRQ_LINE, &l);
	s.eoi_exits = 0;
	for (int n = 0; n < 10; n++) {
		if (ioctl(v.vcpu, KVM_RUN, 0))
			T_BAIL("KVM_RUN");
		if (v.run->exit_reason == KVM_EXIT_IOAPIC_EOI && v.run->eoi.vector == 0x40) {
			s.eoi_exits++;
			continue;
		}
		/* counted up to the second port write: the PVM host reports
		 * the EOI exit one KVM_RUN late (host-deviations.txt,
		 * split_irqchip) */
		if (v.run->exit_reason == KVM_EXIT_IO && v.run->io.port == 0x11) {
			s.handled = 1;
			continue;
		}
		break;
	}
	alarm(0);
	t_irq_close(&v);
	return s;
}

int main(void)
{
	int kvm = t_open_kvm();
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);
	long have = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_X2APIC_API);
	T_OK(have & 3, "KVM_CAP_X2APIC_API: 32-bit IDs and the broadcast quirk switch");
	if ((have & (EN | DIS)) != (EN | DIS)) {
		T_OK(1, "directed EOI switches # SKIP this kernel has none (%ld)", have);
		return t_done();
	}
	rules(kvm);

	struct seen s = guest(kvm, 1, 0);
	T_EQ(s.lvr_directed, 1, "split, default: LVR offers directed EOI");
	T_EQ(s.svr_suppress, 1, "split, default: SVR bit 12 sticks");
	T_EQ(s.eoi_exits, 1, "split, default: the level EOI exits anyway (the quirk)");
	T_EQ(s.handled, 1, "split, default: the guest goes on");

	s = guest(kvm, 1, EN);
	T_EQ(s.lvr_directed, 1, "split, ENABLE: LVR offers directed EOI");
	T_EQ(s.svr_suppress, 1, "split, ENABLE: SVR bit 12 sticks");
	T_EQ(s.eoi_exits, 0, "split, ENABLE: the suppressed EOI does not exit");
	T_EQ(s.handled, 1, "split, ENABLE: the guest goes on");

	s = guest(kvm, 1, DIS);
	T_EQ(s.lvr_directed, 0, "split, DISABLE: not offered");
	T_EQ(s.svr_suppress, 0, "split, DISABLE: SVR bit 12 reads 0");
	T_EQ(s.eoi_exits, 1, "split, DISABLE: the level EOI exits");
	T_EQ(s.handled, 1, "split, DISABLE: the guest goes on");

	s = guest(kvm, 0, 0);
	T_EQ(s.lvr_directed, 0, "full irqchip: not offered");
	s = guest(kvm, 0, DIS);
	T_EQ(s.lvr_directed, 0, "full irqchip, DISABLE: not offered");
	close(kvm);
	return t_done();
}
