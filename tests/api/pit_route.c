/*
 * The in-kernel PIT injects on GSI 0 through the routing table (KVM's
 * pit_do_work: kvm_set_irq on GSI 0 with its own source id), so its ticks
 * land where GSI 0 is routed: IOAPIC pin 0 with KVM_CREATE_IRQCHIP's
 * default table, IOAPIC pin 2 once the VMM routes GSI 0 there as QEMU
 * does.  The ticks keep coming, so the EOI of the new pin reaches the
 * PIT's reinjection too.
 */
#include <signal.h>

#include "t_vm.h"

/* Real mode, ES flat: PIC masked, LAPIC on, IOAPIC pin 0 -> vector 0x60,
 * pin 2 -> 0x62 (edge), PIT channel 0 rate generator; each handler EOIs and
 * reports its vector on port 0x81. */
__asm__(".pushsection .rodata\n"
	".code16\n"
	".balign 16\n"
	"pit_guest:\n"
	"mov $0xff, %al; out %al, $0x21; out %al, $0xa1\n"
	"mov $0xfee000f0, %esi; movl $0x1ff, %es:(%esi)\n"
	"mov $0xfec00000, %esi; mov $0xfec00010, %edi\n"
	"movl $0x10, %es:(%esi); movl $0x60, %es:(%edi)\n"
	"movl $0x11, %es:(%esi); movl $0, %es:(%edi)\n"
	"movl $0x14, %es:(%esi); movl $0x62, %es:(%edi)\n"
	"movl $0x15, %es:(%esi); movl $0, %es:(%edi)\n"
	"mov $0x34, %al; out %al, $0x43\n"
	"mov $0x00, %al; out %al, $0x40; mov $0x10, %al; out %al, $0x40\n"
	"sti\n"
	"1: hlt\n"
	"jmp 1b\n"
	"pit_h60: push %ax; mov $0x60, %al; jmp 2f\n"
	"pit_h62: push %ax; mov $0x62, %al; jmp 2f\n"
	"2: push %esi\n"
	"mov $0xfee000b0, %esi; movl $0, %es:(%esi)\n"
	"pop %esi\n"
	"out %al, $0x81\n"
	"pop %ax\n"
	"iret\n"
	"pit_end:\n"
	".code64\n"
	".popsection\n");
extern const unsigned char pit_guest[], pit_h60[], pit_h62[], pit_end[];

#define GUEST_AT 0x1000

static int vcpu;
static struct kvm_run *run;

static void on_alarm(int sig)
{
	(void)sig;
}

/* The next vector the guest reports, or -1 after 2 s without one. */
static int next_vector(void)
{
	alarm(2);
	int r = ioctl(vcpu, KVM_RUN, 0);
	alarm(0);
	if (r || run->exit_reason != KVM_EXIT_IO || run->io.port != 0x81)
		return -1;
	return *((unsigned char *)run + run->io.data_offset);
}

/* QEMU's table: GSI 0 -> IOAPIC pin 2, GSI 2 unrouted, the rest 1:1. */
static long qemu_routing(int vm)
{
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[48];
	} rt;
	memset(&rt, 0, sizeof(rt));
	for (unsigned g = 0; g < 24; g++) {
		if (g == 2)
			continue;
		struct kvm_irq_routing_entry *e = &rt.e[rt.hdr.nr++];
		e->gsi = g;
		e->type = KVM_IRQ_ROUTING_IRQCHIP;
		e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e->u.irqchip.pin = g ? g : 2;
		if (g < 16) {
			e = &rt.e[rt.hdr.nr++];
			e->gsi = g;
			e->type = KVM_IRQ_ROUTING_IRQCHIP;
			e->u.irqchip.irqchip = g < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			e->u.irqchip.pin = g % 8;
		}
	}
	return ioctl(vm, KVM_SET_GSI_ROUTING, &rt);
}

/*
 * A VM with the PIT, the routing QEMU sets up or KVM's default, and the
 * guest; four ticks (each acknowledged before the PIT, which reinjects,
 * sends the next) must arrive on the expected vector.  The routing is set
 * before the PIT runs: a tick in flight on a pin the new table no longer
 * routes from GSI 0 is never acknowledged to the PIT, in KVM as here.
 */
static void ticks(int kvm, int qemu, int want)
{
	const char *name = qemu ? "QEMU routing" : "default routing";
	int vm = t_create_vm(kvm);
	struct kvm_pit_config pc = {0};
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) || ioctl(vm, KVM_CREATE_PIT2, &pc)) {
		printf("not ok %d - %s # TODO irqchip or PIT2: %s\n", ++t_n, name, strerror(errno));
		close(vm);
		return;
	}
	if (qemu)
		T_EQ(qemu_routing(vm), 0, "GSI 0 to IOAPIC pin 2");
	unsigned char *mem = t_guest_ram64k(vm, pit_guest, (size_t)(pit_end - pit_guest), GUEST_AT);
	unsigned *ivt = (unsigned *)mem;
	ivt[0x60] = GUEST_AT + (unsigned)(pit_h60 - pit_guest);
	ivt[0x62] = GUEST_AT + (unsigned)(pit_h62 - pit_guest);
	vcpu = t_real_mode_flat_es(vm, GUEST_AT, &run);
	for (int i = 0; i < 4; i++)
		T_EQ(next_vector(), want, "%s: PIT tick %d on IOAPIC pin %d", name, i, want & 3);
	close(vcpu);
	close(vm);
	munmap(run, 3 * 4096);
	munmap(mem, 0x10000);
}

int main(void)
{
	int kvm = t_open_kvm();
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);
	ticks(kvm, 0, 0x60);
	ticks(kvm, 1, 0x62);
	close(kvm);
	return t_done();
}
