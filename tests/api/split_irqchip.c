/*
 * KVM_CAP_SPLIT_IRQCHIP (KVM API 7.12): the local APICs in KVM, the PIC and
 * IOAPIC in the VMM.  The enable-cap rules and errnos (args[0] at most
 * KVM_MAX_IRQ_ROUTES, before any vCPU and any irqchip), what a split VM
 * refuses (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2, KVM_GET/SET_IRQCHIP,
 * irqchip routes, resampling irqfds) and still takes (KVM_IRQ_LINE through
 * MSI routes), then a real-mode x2APIC guest:
 *  - a level MSI route of a reserved GSI: its EOI exits with
 *    KVM_EXIT_IOAPIC_EOI and the vector, right after the EOI instruction;
 *  - an edge route, a GSI past the reserved ones, a route naming another
 *    APIC: no exit (kvm_scan_ioapic_routes builds the exit bitmap);
 *  - KVM_INTERRUPT as the VMM PIC's ExtINT: ready_for_interrupt_injection,
 *    request_interrupt_window, EEXIST while one waits, held back while
 *    LINT0 is masked (kvm_cpu_accept_dm_intr).
 */
#include <signal.h>
#include <sys/eventfd.h>

#include "t_irq.h"

extern const unsigned char g_start[], g_end[], g_h40_eoi[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	T_IRQ_HANDLER
	"g_start:\n"
	"	cli\n"
	"	movw $(h40 - g_start + 0x1000), 0x100\n"
	"	movw $0, 0x102\n"
	"	movw $(h41 - g_start + 0x1000), 0x104\n"
	"	movw $0, 0x106\n"
	"	movw $(h42 - g_start + 0x1000), 0x108\n"
	"	movw $0, 0x10a\n"
	"	movw $(h30 - g_start + 0x1000), 0xc0\n"
	"	movw $0, 0xc2\n"
	"	movw $(h43 - g_start + 0x1000), 0x10c\n"
	"	movw $0, 0x10e\n"
	T_IRQ_X2APIC_ON
	"	out %al, $0x10\n" /* the VMM raises GSI 2 (level, 0x40) */
	"	sti\n"
	"0:	cmpb $1, 0x500\n"
	"	jb 0b\n"
	"	out %al, $0x11\n" /* GSI 3: edge 0x41 */
	"1:	cmpb $1, 0x501\n"
	"	jb 1b\n"
	"	out %al, $0x12\n" /* GSI 30: level 0x42, not reserved */
	"2:	cmpb $1, 0x502\n"
	"	jb 2b\n"
	"	out %al, $0x13\n" /* KVM_SIGNAL_MSI: edge 0x40 */
	"3:	cmpb $2, 0x500\n"
	"	jb 3b\n"
	"	out %al, $0x14\n" /* GSI 2 now names APIC 1; MSI 0x40 again */
	"4:	cmpb $3, 0x500\n"
	"	jb 4b\n"
	"	out %al, $0x1a\n" /* and once more */
	"8:	cmpb $4, 0x500\n"
	"	jb 8b\n"
	/* ExtINT: the window opens at STI + 1 */
	"	cli\n"
	"	out %al, $0x15\n"
	"	sti\n"
	"	nop\n"
	"	out %al, $0x1b\n" /* (a host without window exits stops here) */
	"5:	cmpb $1, 0x503\n"
	"	jb 5b\n"
	"	out %al, $0x16\n"
	/* LINT0 masked: no room for KVM_INTERRUPT */
	"	mov $0x835, %ecx\n"
	"	mov $0x10700, %eax\n"
	"	xor %edx, %edx\n"
	"	wrmsr\n"
	"	out %al, $0x17\n"
	"	mov $2000, %cx\n"
	"6:	loop 6b\n"
	"	mov 0x503, %al\n"
	"	out %al, $0x18\n"
	"	mov $0x835, %ecx\n"
	"	mov $0x700, %eax\n"
	"	xor %edx, %edx\n"
	"	wrmsr\n"
	/* KVM looks at the waiting vector again only on its next event
	 * request (the LVT0 write makes none): a self IPI makes one */
	"	mov $0x83f, %ecx\n"
	"	mov $0x43, %eax\n"
	"	wrmsr\n"
	"	out %al, $0x1c\n" /* (a host may inject only at an entry) */
	"7:	cmpb $2, 0x503\n"
	"	jb 7b\n"
	"9:	cmpb $1, 0x504\n"
	"	jb 9b\n"
	"	out %al, $0x19\n"
	"	hlt\n"
	"h40:\n"
	"	push %eax\n"
	"	push %ecx\n"
	"	push %edx\n"
	"	incb 0x500\n"
	"	mov $0x80b, %ecx\n"
	"	xor %eax, %eax\n"
	"	xor %edx, %edx\n"
	"	wrmsr\n"
	"g_h40_eoi:\n"
	"	pop %edx\n"
	"	pop %ecx\n"
	"	pop %eax\n"
	"	iret\n"
	"h41:	t_handler 0x501\n"
	"h42:	t_handler 0x502\n"
	"h43:	t_handler 0x504\n"
	"h30:	incb 0x503\n" /* ExtINT: the EOI would go to the VMM's PIC */
	"	iret\n"
	"g_end:\n"
	".code64\n"
	".popsection\n");

/* xAPIC mode with the APIC page moved to 0x20000 (ES=0x2000 reaches it in
 * real mode): the EOI is an MMIO write; then STI; HLT with the window
 * requested. */
extern const unsigned char x_start[], x_end[], x_eoi[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	"x_start:\n"
	"	cli\n"
	"	movw $(x40 - x_start + 0x1000), 0x100\n"
	"	movw $0, 0x102\n"
	"	movw $(x30 - x_start + 0x1000), 0xc0\n"
	"	movw $0, 0xc2\n"
	"	mov $0x1b, %ecx\n"
	"	rdmsr\n"
	"	and $0xfff, %eax\n"
	"	or $0x20000, %eax\n"
	"	xor %edx, %edx\n"
	"	wrmsr\n"
	"	mov $0x2000, %ax\n"
	"	mov %ax, %es\n"
	"	movl $0x1ff, %es:0xf0\n"
	"	out %al, $0x10\n" /* the VMM raises GSI 2 (level, 0x40) */
	"	sti\n"
	"0:	cmpb $1, 0x500\n"
	"	jb 0b\n"
	"	cli\n"
	"	out %al, $0x11\n" /* the VMM asks for the window */
	"	sti\n"
	"	hlt\n"
	"	out %al, $0x12\n"
	"	hlt\n"
	"x40:	incb 0x500\n"
	"	movl $0, %es:0xb0\n"
	"x_eoi:	iret\n"
	"x30:	incb 0x501\n"
	"	iret\n"
	"x_end:\n"
	".code64\n"
	".popsection\n");

#define GUEST_ADDR_OF(sym, start) ((unsigned long)((sym) - (start)) + T_IRQ_CODE)
#define GUEST_ADDR(sym) GUEST_ADDR_OF(sym, g_start)

static int enable_split(int vm, unsigned long long pins, unsigned flags)
{
	struct kvm_enable_cap c = {.cap = KVM_CAP_SPLIT_IRQCHIP, .flags = flags, .args = {pins}};
	return ioctl(vm, KVM_ENABLE_CAP, &c);
}

static void enable_rules(int kvm)
{
	T_OK(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SPLIT_IRQCHIP) > 0,
	     "KVM_CAP_SPLIT_IRQCHIP offered");
	int vm = t_create_vm(kvm);
	T_OK(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_SPLIT_IRQCHIP) > 0, "offered on the VM fd");
	T_ERR(enable_split(vm, 4097, 0), EINVAL, "args[0] > KVM_MAX_IRQ_ROUTES: EINVAL");
	T_ERR(enable_split(vm, 24, 1), EINVAL, "flags: EINVAL");
	T_EQ(enable_split(vm, 4096, 0), 0, "args[0] = KVM_MAX_IRQ_ROUTES accepted");
	T_ERR(enable_split(vm, 24, 0), EEXIST, "twice: EEXIST");
	T_ERR(ioctl(vm, KVM_CREATE_IRQCHIP, 0), EEXIST, "then KVM_CREATE_IRQCHIP: EEXIST");
	struct kvm_pit_config pc = {0};
	T_ERR(ioctl(vm, KVM_CREATE_PIT2, &pc), ENOENT, "KVM_CREATE_PIT2 without the PIC: ENOENT");
	for (unsigned id = 0; id < 3; id++) {
		struct kvm_irqchip chip = {.chip_id = id};
		T_ERR(ioctl(vm, KVM_GET_IRQCHIP, &chip), ENXIO, "KVM_GET_IRQCHIP chip %u: ENXIO", id);
		T_ERR(ioctl(vm, KVM_SET_IRQCHIP, &chip), ENXIO, "KVM_SET_IRQCHIP chip %u: ENXIO", id);
	}
	struct kvm_irq_level l = {.irq = 3, .level = 1};
	T_EQ(ioctl(vm, KVM_IRQ_LINE_STATUS, &l), 0, "KVM_IRQ_LINE_STATUS accepted");
	T_EQ(l.status, -1, "an unrouted GSI: status -1");
	struct {
		struct kvm_irq_routing h;
		struct kvm_irq_routing_entry e[1];
	} rt = {.h.nr = 1,
		.e = {{.gsi = 4, .type = KVM_IRQ_ROUTING_IRQCHIP,
		       .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = 4}}}};
	T_ERR(ioctl(vm, KVM_SET_GSI_ROUTING, &rt), EINVAL, "an IOAPIC route: EINVAL");
	rt.e[0].u.irqchip.irqchip = KVM_IRQCHIP_PIC_MASTER;
	T_ERR(ioctl(vm, KVM_SET_GSI_ROUTING, &rt), EINVAL, "a PIC route: EINVAL");
	int efd = eventfd(0, 0), rfd = eventfd(0, 0);
	struct kvm_irqfd fd = {.fd = (unsigned)efd, .gsi = 5, .flags = KVM_IRQFD_FLAG_RESAMPLE,
			       .resamplefd = (unsigned)rfd};
	T_ERR(ioctl(vm, KVM_IRQFD, &fd), EINVAL, "a resampling irqfd: EINVAL");
	fd.flags = 0;
	T_EQ(ioctl(vm, KVM_IRQFD, &fd), 0, "a plain irqfd: accepted");

	int vcpu = t_create_vcpu(vm, 0);
	struct kvm_mp_state mp;
	T_EQ(ioctl(vcpu, KVM_GET_MP_STATE, &mp), 0, "vCPU 0: KVM_GET_MP_STATE");
	T_EQ(mp.mp_state, KVM_MP_STATE_RUNNABLE, "vCPU 0 starts RUNNABLE");
	int vcpu1 = t_create_vcpu(vm, 1);
	T_EQ(ioctl(vcpu1, KVM_GET_MP_STATE, &mp), 0, "vCPU 1: KVM_GET_MP_STATE");
	T_EQ(mp.mp_state, KVM_MP_STATE_UNINITIALIZED, "vCPU 1 waits for INIT/SIPI");
	struct kvm_lapic_state ls;
	T_EQ(ioctl(vcpu, KVM_GET_LAPIC, &ls), 0, "the LAPIC is in the kernel");
	T_EQ(*(unsigned *)&ls.regs[0x350], 0x700, "the BSP's LINT0 is ExtINT");
	struct kvm_interrupt in = {.irq = 256};
	T_ERR(ioctl(vcpu, KVM_INTERRUPT, &in), EINVAL, "KVM_INTERRUPT 256: EINVAL");
	in.irq = 0x30;
	T_EQ(ioctl(vcpu, KVM_INTERRUPT, &in), 0, "KVM_INTERRUPT: the VMM PIC's vector taken");
	T_ERR(ioctl(vcpu, KVM_INTERRUPT, &in), EEXIST, "a second one before INTA: EEXIST");
	close(vcpu1);
	close(vcpu);
	close(efd);
	close(rfd);
	close(vm);

	vm = t_create_vm(kvm);
	close(t_create_vcpu(vm, 0));
	T_ERR(enable_split(vm, 24, 0), EEXIST, "after a vCPU: EEXIST");
	close(vm);
	vm = t_create_vm(kvm);
	T_EQ(ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0, "full irqchip");
	T_ERR(enable_split(vm, 24, 0), EEXIST, "after KVM_CREATE_IRQCHIP: EEXIST");
	close(vm);
}

/* MSI to x2APIC ID dest: fixed, physical; level sets the trigger bit. */
static struct kvm_irq_routing_entry msi_route(unsigned gsi, unsigned dest, unsigned vec, int level)
{
	struct kvm_irq_routing_entry e = {.gsi = gsi, .type = KVM_IRQ_ROUTING_MSI};
	e.u.msi.address_lo = 0xfee00000u | dest << 12;
	e.u.msi.data = vec | (level ? 0xc000 : 0);
	return e;
}

static void set_routes(int vm, unsigned dest2)
{
	struct {
		struct kvm_irq_routing h;
		struct kvm_irq_routing_entry e[3];
	} rt = {.h.nr = 3,
		.e = {msi_route(2, dest2, 0x40, 1), msi_route(3, 0, 0x41, 0),
		      msi_route(30, 0, 0x42, 1)}};
	if (ioctl(vm, KVM_SET_GSI_ROUTING, &rt))
		T_BAIL("KVM_SET_GSI_ROUTING");
}

static void line(int vm, unsigned gsi, const char *what)
{
	struct kvm_irq_level l = {.irq = gsi, .level = 1};
	T_EQ(ioctl(vm, KVM_IRQ_LINE_STATUS, &l), 0, "%s: KVM_IRQ_LINE_STATUS", what);
	T_EQ(l.status, 1, "%s: delivered to the LAPIC", what);
	l.level = 0;
	ioctl(vm, KVM_IRQ_LINE, &l);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* KVM_RUN, given up after 10 s (a guest spinning for an interrupt that
 * never comes) */
static int run(struct t_irq_vm *v)
{
	alarm(10);
	int r = ioctl(v->vcpu, KVM_RUN, 0);
	alarm(0);
	if (r)
		T_BAIL("KVM_RUN");
	return v->run->exit_reason;
}

/* Run to the next exit that is not an EOI exit; those are counted. */
static int run_skip_eoi(struct t_irq_vm *v, int *eois)
{
	for (int n = 0; n < 100; n++) {
		int x = run(v);
		if (x != KVM_EXIT_IOAPIC_EOI)
			return x;
		(*eois)++;
	}
	return -1;
}

/* Run to the next port write: its port. */
static int run_to_out(struct t_irq_vm *v, int *eois)
{
	int x = run_skip_eoi(v, eois);
	if (x == KVM_EXIT_IO && v->run->io.direction == KVM_EXIT_IO_OUT)
		return v->run->io.port;
	return -x;
}

/* A VM with a split irqchip (24 reserved GSIs), 64 KiB of RAM and vCPU 0
 * in real mode at the code. */
static struct t_irq_vm split_vm(int kvm, const unsigned char *code, size_t len)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);
	struct t_irq_vm v = {.vm = t_create_vm(kvm)};
	v.ram = mmap(NULL, T_IRQ_RAM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region mr = {
		.slot = 0, .memory_size = T_IRQ_RAM, .userspace_addr = (unsigned long)v.ram};
	if (v.ram == MAP_FAILED || ioctl(v.vm, KVM_SET_USER_MEMORY_REGION, &mr) ||
	    enable_split(v.vm, 24, 0))
		T_BAIL("split VM setup");
	t_irq_vcpu(kvm, &v, 0, code, len);
	return v;
}

static void guest_xapic(int kvm)
{
	struct t_irq_vm v = split_vm(kvm, x_start, (size_t)(x_end - x_start));
	volatile unsigned char *cnt = v.ram + 0x500;
	int eois = 0;
	T_EQ(run_to_out(&v, &eois), 0x10, "xAPIC: guest set up");
	set_routes(v.vm, 0);
	line(v.vm, 2, "xAPIC: GSI 2 (level MSI 0x40)");
	int x = run_skip_eoi(&v, &eois) == KVM_EXIT_IO ? (eois ? KVM_EXIT_IOAPIC_EOI : 0) : -1;
	T_EQ(x, KVM_EXIT_IOAPIC_EOI, "xAPIC: the MMIO EOI exits");
	T_EQ(cnt[0], 1, "xAPIC: vector 0x40 taken");
	T_EQ(v.run->io.port, 0x11, "xAPIC: the guest goes on");
	v.run->request_interrupt_window = 1;
	T_EQ(run_skip_eoi(&v, &eois), KVM_EXIT_IRQ_WINDOW_OPEN, "STI; HLT: the window exit");
	struct kvm_mp_state mp;
	ioctl(v.vcpu, KVM_GET_MP_STATE, &mp);
	T_EQ(mp.mp_state, KVM_MP_STATE_HALTED, "STI; HLT: the window exit leaves it halted");
	T_EQ(v.run->ready_for_interrupt_injection, 1, "STI; HLT: ready for injection");
	v.run->request_interrupt_window = 0;
	struct kvm_interrupt in = {.irq = 0x30};
	T_EQ(ioctl(v.vcpu, KVM_INTERRUPT, &in), 0, "STI; HLT: KVM_INTERRUPT");
	T_EQ(run_to_out(&v, &eois), 0x12, "the ExtINT wakes the halted vCPU");
	T_EQ(cnt[1], 1, "vector 0x30 taken after HLT");
	t_irq_close(&v);
}

/* The exact exit point of an MMIO EOI is checked on its own: a real
 * KVM exits right after the instruction; run_skip_eoi above only counts. */
static void xapic_eoi_rip(int kvm)
{
	struct t_irq_vm v = split_vm(kvm, x_start, (size_t)(x_end - x_start));
	int eois = 0;
	if (run_to_out(&v, &eois) != 0x10)
		T_BAIL("xAPIC guest");
	set_routes(v.vm, 0);
	struct kvm_irq_level l = {.irq = 2, .level = 1};
	ioctl(v.vm, KVM_IRQ_LINE, &l);
	T_EQ(run(&v), KVM_EXIT_IOAPIC_EOI, "xAPIC: KVM_EXIT_IOAPIC_EOI");
	T_EQ(v.run->eoi.vector, 0x40, "xAPIC: the EOI exit's vector");
	struct kvm_regs regs;
	ioctl(v.vcpu, KVM_GET_REGS, &regs);
	T_EQ(regs.rip, GUEST_ADDR_OF(x_eoi, x_start), "xAPIC: the exit follows the MMIO EOI");
	t_irq_close(&v);
}

static void guest(int kvm)
{
	struct t_irq_vm v = split_vm(kvm, g_start, (size_t)(g_end - g_start));
	if (!t_irq_x2apic(kvm, v.vcpu)) {
		T_OK(1, "guest # SKIP no x2APIC in the supported CPUID");
		t_irq_close(&v);
		return;
	}
	volatile unsigned char *cnt = v.ram + 0x500;
	int eois = 0;
	T_EQ(run_to_out(&v, &eois), 0x10, "guest set up");
	set_routes(v.vm, 0);
	line(v.vm, 2, "GSI 2 (level MSI 0x40)");
	int x = run(&v);
	T_EQ(x, KVM_EXIT_IOAPIC_EOI, "the level vector's EOI exits");
	T_EQ(v.run->eoi.vector, 0x40, "KVM_EXIT_IOAPIC_EOI: vector 0x40");
	T_EQ(cnt[0], 1, "the handler ran before the exit");
	struct kvm_regs regs;
	ioctl(v.vcpu, KVM_GET_REGS, &regs);
	T_EQ(regs.rip, GUEST_ADDR(g_h40_eoi), "the exit follows the EOI instruction");
	/* (a host that does not exit is at the next port write already) */
	T_EQ(x == KVM_EXIT_IO ? v.run->io.port : run_to_out(&v, &eois), 0x11,
	     "the guest goes on after the EOI exit");
	T_EQ(eois, 0, "one EOI exit");

	eois = 0;
	line(v.vm, 3, "GSI 3 (edge MSI 0x41)");
	T_EQ(run_to_out(&v, &eois), 0x12, "edge vector handled");
	T_EQ(eois, 0, "an edge route's vector does not exit");
	T_EQ(cnt[1], 1, "vector 0x41 taken");

	eois = 0;
	line(v.vm, 30, "GSI 30 (level MSI 0x42, past the reserved GSIs)");
	T_EQ(run_to_out(&v, &eois), 0x13, "vector 0x42 handled");
	T_EQ(eois, 0, "a GSI past args[0] does not exit");
	T_EQ(cnt[2], 1, "vector 0x42 taken");

	eois = 0;
	struct kvm_msi msi = {.address_lo = 0xfee00000, .data = 0x40};
	T_EQ(ioctl(v.vm, KVM_SIGNAL_MSI, &msi), 1, "KVM_SIGNAL_MSI edge 0x40: delivered");
	T_EQ(run_to_out(&v, &eois), 0x14, "MSI 0x40 handled");
	T_EQ(eois, 1, "a routed level vector exits even when sent as edge");

	/* KVM scans the new routes at the next entry: 0x40 is in IRR by then,
	 * so its EOI still exits once (stale), then a new scan drops it */
	set_routes(v.vm, 1);
	T_EQ(ioctl(v.vm, KVM_SIGNAL_MSI, &msi), 1, "KVM_SIGNAL_MSI 0x40 after re-routing");
	eois = 0;
	T_EQ(run_to_out(&v, &eois), 0x1a, "MSI 0x40 handled again");
	T_EQ(eois, 1, "pending at the scan: its EOI exits once more");
	T_EQ(ioctl(v.vm, KVM_SIGNAL_MSI, &msi), 1, "KVM_SIGNAL_MSI 0x40 once more");
	eois = 0;
	T_EQ(run_to_out(&v, &eois), 0x15, "MSI 0x40 handled a fourth time");
	T_EQ(eois, 0, "a route naming another APIC does not exit");
	T_EQ(cnt[0], 4, "vector 0x40 taken four times");

	/* ExtINT through KVM_INTERRUPT */
	T_EQ(v.run->if_flag, 0, "CLI: if_flag 0");
	T_EQ(v.run->ready_for_interrupt_injection, 0, "IF clear: not ready for injection");
	v.run->request_interrupt_window = 1;
	T_EQ(run_skip_eoi(&v, &eois), KVM_EXIT_IRQ_WINDOW_OPEN,
	     "the requested window opens after STI");
	T_EQ(v.run->ready_for_interrupt_injection, 1, "window open: ready for injection");
	T_EQ(v.run->if_flag, 1, "window open: if_flag 1");
	v.run->request_interrupt_window = 0;
	struct kvm_interrupt in = {.irq = 0x30};
	T_EQ(ioctl(v.vcpu, KVM_INTERRUPT, &in), 0, "KVM_INTERRUPT 0x30");
	T_ERR(ioctl(v.vcpu, KVM_INTERRUPT, &in), EEXIST, "KVM_INTERRUPT while one waits: EEXIST");
	eois = 0;
	int port = run_to_out(&v, &eois);
	if (port == 0x1b)
		port = run_to_out(&v, &eois);
	T_EQ(port, 0x16, "ExtINT handled");
	T_EQ(cnt[3], 1, "vector 0x30 taken through LINT0");

	T_EQ(run_to_out(&v, &eois), 0x17, "LINT0 masked");
	T_EQ(v.run->if_flag, 1, "LINT0 masked: if_flag 1");
	T_EQ(v.run->ready_for_interrupt_injection, 0, "LINT0 masked: not ready for injection");
	T_EQ(ioctl(v.vcpu, KVM_INTERRUPT, &in), 0, "KVM_INTERRUPT with LINT0 masked: queued");
	T_EQ(run_to_out(&v, &eois), 0x18, "masked LINT0 loop done");
	T_EQ(v.run->io.data_offset ? ((unsigned char *)v.run)[v.run->io.data_offset] : 0xff, 1,
	     "masked LINT0 holds the vector back");
	port = run_to_out(&v, &eois);
	if (port == 0x1c)
		port = run_to_out(&v, &eois);
	T_EQ(port, 0x19, "LINT0 unmasked: the vector is taken");
	T_EQ(cnt[3], 2, "vector 0x30 taken twice");
	T_EQ(cnt[4], 1, "the self IPI taken");
	T_EQ(eois, 0, "no EOI exits in the ExtINT part");
	(void)x;
	t_irq_close(&v);
}

int main(void)
{
	int kvm = t_open_kvm();
	enable_rules(kvm);
	guest(kvm);
	guest_xapic(kvm);
	xapic_eoi_rip(kvm);
	return t_done();
}
