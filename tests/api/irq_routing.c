/*
 * GSI routing, MSI and irqfds (KVM API 4.24 KVM_IRQ_LINE, 4.52
 * KVM_SET_GSI_ROUTING, 4.71 KVM_SIGNAL_MSI, 4.75 KVM_IRQFD): the argument
 * checks of kvm_set_irq_routing / setup_routing_entry / kvm_irqfd_assign
 * without and with an in-kernel irqchip, then a real-mode guest that takes
 * interrupts through the PIC (ExtINT), the IOAPIC and MSIs to its LAPIC:
 * KVM_IRQ_LINE, KVM_SIGNAL_MSI, irqfds on irqchip and MSI routes (edge and
 * pulse), a resampling irqfd on a level-triggered IOAPIC pin, and a route
 * change under an assigned irqfd.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "t_eventfd.h"
#include "t_vm.h"

/*
 * The guest, at 0x1000 in real mode with ES based at 0 and a 4 GiB limit,
 * so it can reach the LAPIC and IOAPIC pages.  It sets up the PIC pair
 * (vectors 0x20/0x28, only master IRQ5 unmasked), enables its LAPIC with
 * LINT0 as ExtINT, points IOAPIC pin 10 at vector 0x50 (level), reports
 * "ready" on port 0x80 and halts with IF=1.  Each handler reports its
 * vector on port 0x81 after its EOI (PIC or LAPIC).
 */
__asm__(".pushsection .rodata\n"
	".code16\n"
	".balign 16\n"
	"guest_start:\n"
	"cli\n"
	"mov $0x11, %al; out %al, $0x20; out %al, $0xa0\n"
	"mov $0x20, %al; out %al, $0x21\n"
	"mov $0x28, %al; out %al, $0xa1\n"
	"mov $0x04, %al; out %al, $0x21\n"
	"mov $0x02, %al; out %al, $0xa1\n"
	"mov $0x01, %al; out %al, $0x21; out %al, $0xa1\n"
	"mov $0xdf, %al; out %al, $0x21\n"
	"mov $0xff, %al; out %al, $0xa1\n"
	"mov $0xfee000f0, %esi; movl $0x1ff, %es:(%esi)\n"
	"mov $0xfee00350, %esi; movl $0x700, %es:(%esi)\n"
	"mov $0xfec00000, %esi; mov $0xfec00010, %edi\n"
	"movl $0x24, %es:(%esi); movl $0x8050, %es:(%edi)\n"
	"movl $0x25, %es:(%esi); movl $0, %es:(%edi)\n"
	"sti\n"
	"out %al, $0x80\n"
	"1: hlt\n"
	"jmp 1b\n"
	"common:\n"
	"push %ax\n"
	"cmp $0x30, %al\n"
	"jae 2f\n"
	"mov $0x20, %al\n"
	"out %al, $0x20\n"
	"jmp 3f\n"
	"2: push %esi\n"
	"mov $0xfee000b0, %esi\n"
	"movl $0, %es:(%esi)\n"
	"pop %esi\n"
	"3: pop %ax\n"
	"out %al, $0x81\n"
	"pop %ax\n"
	"iret\n"
	"hbad: mov $0xee, %al; out %al, $0x82; cli; hlt\n"
	".irp v, 0x25, 0x40, 0x41, 0x42, 0x50\n"
	"h\\v: push %ax; mov $\\v, %al; jmp common\n"
	".endr\n"
	".balign 2\n"
	"guest_vectors:\n"
	".irp v, 0x25, 0x40, 0x41, 0x42, 0x50\n"
	".word \\v, h\\v - guest_start\n"
	".endr\n"
	".word 0, hbad - guest_start\n"
	"guest_end:\n"
	".code64\n"
	".popsection\n");
extern const unsigned char guest_start[], guest_end[], guest_vectors[];

#define GUEST_AT 0x1000

static int kvm, vm, vcpu;
static struct kvm_run *run;
static const char *todo;

/* A check softkvm cannot make yet, and says so (docs/testing.md). */
#define T_TODO(desc) printf("not ok %d - %s # TODO %s\n", ++t_n, desc, todo)

static long irq_line(unsigned cmd, unsigned gsi, unsigned level, int *status)
{
	struct kvm_irq_level l = {.irq = gsi, .level = level};
	long r = ioctl(vm, cmd, &l);
	if (status)
		*status = l.status;
	return r;
}

static long irqfd(int fd, unsigned gsi, unsigned flags, int resamplefd)
{
	struct kvm_irqfd a = {.fd = (unsigned)fd, .gsi = gsi, .flags = flags,
			      .resamplefd = (unsigned)resamplefd};
	return ioctl(vm, KVM_IRQFD, &a);
}

static long signal_msi(unsigned lo, unsigned hi, unsigned data, unsigned flags)
{
	struct kvm_msi m = {.address_lo = lo, .address_hi = hi, .data = data, .flags = flags};
	return ioctl(vm, KVM_SIGNAL_MSI, &m);
}

/* A routing table of up to 64 entries. */
static struct {
	struct kvm_irq_routing hdr;
	struct kvm_irq_routing_entry e[64];
} rt;

static void rt_clear(void)
{
	memset(&rt, 0, sizeof(rt));
}

static void rt_chip(unsigned gsi, unsigned chip, unsigned pin)
{
	struct kvm_irq_routing_entry *e = &rt.e[rt.hdr.nr++];
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

static void rt_msi(unsigned gsi, unsigned lo, unsigned data)
{
	struct kvm_irq_routing_entry *e = &rt.e[rt.hdr.nr++];
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = lo;
	e->u.msi.data = data;
}

/* KVM_CREATE_IRQCHIP's routes (kvm_setup_default_irq_routing). */
static void rt_default(void)
{
	for (unsigned g = 0; g < 24; g++) {
		rt_chip(g, KVM_IRQCHIP_IOAPIC, g);
		if (g < 16)
			rt_chip(g, g < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, g % 8);
	}
}

static long rt_set(void)
{
	return ioctl(vm, KVM_SET_GSI_ROUTING, &rt);
}





/* Without an irqchip none of these has anything to drive. */
static void check_no_irqchip(void)
{
	int a = t_efd(), r = t_efd(), p[2];
	if (pipe(p))
		T_BAIL("pipe");
	T_ERR(irq_line(KVM_IRQ_LINE, 5, 1, NULL), ENXIO, "no irqchip: KVM_IRQ_LINE ENXIO");
	T_ERR(irq_line(KVM_IRQ_LINE_STATUS, 5, 1, NULL), ENXIO,
	      "no irqchip: KVM_IRQ_LINE_STATUS ENXIO");
	T_ERR(ioctl(vm, KVM_IRQ_LINE, T_BADPTR), EFAULT, "no irqchip: KVM_IRQ_LINE bad pointer");
	rt_clear();
	T_ERR(rt_set(), EINVAL, "no irqchip: KVM_SET_GSI_ROUTING EINVAL");
	T_ERR(ioctl(vm, KVM_SET_GSI_ROUTING, T_BADPTR), EFAULT,
	      "no irqchip: KVM_SET_GSI_ROUTING bad pointer");
	T_ERR(signal_msi(0xfee00000, 0, 0x40, 0), EINVAL, "no irqchip: KVM_SIGNAL_MSI EINVAL");
	T_ERR(ioctl(vm, KVM_SIGNAL_MSI, T_BADPTR), EFAULT, "no irqchip: KVM_SIGNAL_MSI bad pointer");
	T_ERR(irqfd(a, 5, 0, 0), EINVAL, "no irqchip: KVM_IRQFD assign EINVAL");
	T_ERR(irqfd(a, 5, KVM_IRQFD_FLAG_RESAMPLE, r), EINVAL, "no irqchip: resampler EINVAL");
	T_ERR(irqfd(a, 5, 4, 0), EINVAL, "no irqchip: unknown irqfd flag");
	T_EQ(irqfd(a, 5, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "no irqchip: deassign of nothing");
	T_ERR(irqfd(-1, 5, KVM_IRQFD_FLAG_DEASSIGN, 0), EBADF, "no irqchip: deassign fd -1");
	T_ERR(irqfd(p[0], 5, KVM_IRQFD_FLAG_DEASSIGN, 0), EINVAL, "no irqchip: deassign a pipe");
	T_ERR(ioctl(vm, KVM_IRQFD, T_BADPTR), EFAULT, "no irqchip: KVM_IRQFD bad pointer");
	close(a), close(r), close(p[0]), close(p[1]);
}

static void check_routing_args(void)
{
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING), 4096,
	     "KVM_CAP_IRQ_ROUTING is KVM_MAX_IRQ_ROUTES");
	rt_clear();
	rt.hdr.nr = 4097;
	T_ERR(rt_set(), EINVAL, "routing: nr above KVM_MAX_IRQ_ROUTES");
	rt_clear();
	rt.hdr.flags = 1;
	T_ERR(rt_set(), EINVAL, "routing: flags");
	rt_clear();
	rt_chip(4096, KVM_IRQCHIP_IOAPIC, 1);
	T_ERR(rt_set(), EINVAL, "routing: GSI 4096");
	rt_clear();
	rt_chip(4095, KVM_IRQCHIP_IOAPIC, 1);
	T_EQ(rt_set(), 0, "routing: GSI 4095");
	rt_clear();
	rt_chip(1, 3, 1);
	T_ERR(rt_set(), EINVAL, "routing: irqchip 3");
	rt_clear();
	rt_chip(1, KVM_IRQCHIP_PIC_SLAVE, 8);
	T_ERR(rt_set(), EINVAL, "routing: PIC pin 8");
	rt_clear();
	rt_chip(1, KVM_IRQCHIP_IOAPIC, 24);
	T_ERR(rt_set(), EINVAL, "routing: IOAPIC pin 24");
	rt_clear();
	rt_chip(1, KVM_IRQCHIP_IOAPIC, 1);
	rt_chip(1, KVM_IRQCHIP_IOAPIC, 2);
	T_ERR(rt_set(), EINVAL, "routing: one GSI twice to the IOAPIC");
	rt_clear();
	rt_chip(1, KVM_IRQCHIP_IOAPIC, 1);
	rt_chip(1, KVM_IRQCHIP_PIC_MASTER, 1);
	rt_chip(1, KVM_IRQCHIP_PIC_SLAVE, 1);
	T_EQ(rt_set(), 0, "routing: one GSI to three chips");
	rt_clear();
	rt_chip(1, KVM_IRQCHIP_IOAPIC, 1);
	rt_msi(1, 0xfee00000, 0x40);
	T_ERR(rt_set(), EINVAL, "routing: MSI next to an irqchip route");
	rt_clear();
	rt_msi(1, 0xfee00000, 0x40);
	rt_chip(1, KVM_IRQCHIP_IOAPIC, 1);
	T_ERR(rt_set(), EINVAL, "routing: irqchip route next to an MSI");
	rt_clear();
	rt_msi(1, 0xfee00000, 0x40);
	rt_msi(1, 0xfee00000, 0x41);
	T_ERR(rt_set(), EINVAL, "routing: two MSIs on one GSI");
	rt_clear();
	rt_msi(7, 0xfee00000, 0x40);
	rt.e[0].flags = KVM_MSI_VALID_DEVID;
	rt.e[0].u.msi.devid = 3;
	T_EQ(rt_set(), 0, "routing: MSI with KVM_MSI_VALID_DEVID");
	rt.e[0].flags = 2;
	T_ERR(rt_set(), EINVAL, "routing: MSI flag 2");
	rt_clear();
	rt_chip(1, KVM_IRQCHIP_IOAPIC, 1);
	rt.e[0].flags = KVM_MSI_VALID_DEVID;
	T_ERR(rt_set(), EINVAL, "routing: irqchip route with a flag");
	for (unsigned type = 0; type < 8; type++) {
		if (type == KVM_IRQ_ROUTING_IRQCHIP || type == KVM_IRQ_ROUTING_MSI)
			continue;
		rt_clear();
		rt_chip(1, KVM_IRQCHIP_IOAPIC, 1);
		rt.e[0].type = type;
		if (type == KVM_IRQ_ROUTING_HV_SINT || type == KVM_IRQ_ROUTING_XEN_EVTCHN) {
			/* Hyper-V / Xen routes exist only with those enabled */
			long ret = rt_set();
			T_OBS(type == KVM_IRQ_ROUTING_HV_SINT ? "hv_sint_route" : "xen_route", "%ld/%d",
			      ret, ret ? errno : 0);
			continue;
		}
		T_ERR(rt_set(), EINVAL, "routing: type %u", type);
	}
	/* Entries past the end of readable memory: EFAULT. */
	long pg = 4096;
	unsigned char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		T_BAIL("mmap");
	munmap(m + pg, pg);
	struct kvm_irq_routing *h = (void *)(m + pg - sizeof(*h));
	h->nr = 1;
	h->flags = 0;
	T_ERR(ioctl(vm, KVM_SET_GSI_ROUTING, h), EFAULT, "routing: entries unreadable");
	munmap(m, pg);
	rt_clear();
	T_EQ(rt_set(), 0, "routing: empty table");
	int st = 0;
	T_EQ(irq_line(KVM_IRQ_LINE_STATUS, 4, 1, &st), 0, "empty table: KVM_IRQ_LINE_STATUS");
	T_EQ(st, -1, "empty table: status -1 (no route)");
	rt_clear();
	rt_default();
	T_EQ(rt_set(), 0, "routing: the default table again");
	T_EQ(irq_line(KVM_IRQ_LINE_STATUS, 4000, 1, &st), 0, "GSI 4000: KVM_IRQ_LINE_STATUS");
	T_EQ(st, -1, "GSI 4000: status -1 (no route)");
}

static void check_irqfd_args(void)
{
	int a = t_efd(), b = t_efd(), r = t_efd(), p[2];
	if (pipe(p))
		T_BAIL("pipe");
	T_OK(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0, "KVM_CAP_IRQFD");
	T_OK(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE) > 0, "KVM_CAP_IRQFD_RESAMPLE");
	T_ERR(irqfd(a, 5, 4, 0), EINVAL, "irqfd: unknown flag");
	T_ERR(irqfd(-1, 5, 0, 0), EBADF, "irqfd: fd -1");
	T_ERR(irqfd(p[0], 5, 0, 0), EINVAL, "irqfd: a pipe");
	T_ERR(irqfd(a, 5, KVM_IRQFD_FLAG_RESAMPLE, -1), EBADF, "irqfd: resamplefd -1");
	T_ERR(irqfd(a, 5, KVM_IRQFD_FLAG_RESAMPLE, p[0]), EINVAL, "irqfd: resamplefd a pipe");
	T_EQ(irqfd(a, 5, 0, 0), 0, "irqfd: GSI 5");
	T_ERR(irqfd(a, 6, 0, 0), EBUSY, "irqfd: the eventfd on another GSI");
	T_ERR(irqfd(a, 5, 0, 0), EBUSY, "irqfd: the eventfd twice");
	int a2 = dup(a);
	T_ERR(irqfd(a2, 7, 0, 0), EBUSY, "irqfd: a dup of the eventfd");
	T_EQ(irqfd(b, 5, 0, 0), 0, "irqfd: a second eventfd on GSI 5");
	T_EQ(irqfd(a, 6, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "irqfd: deassign on the wrong GSI is 0");
	T_ERR(irqfd(a, 6, 0, 0), EBUSY, "irqfd: ... and left it assigned");
	T_EQ(irqfd(a2, 5, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "irqfd: deassign through a dup");
	T_EQ(irqfd(a, 6, 0, 0), 0, "irqfd: free for another GSI");
	T_EQ(irqfd(a, 6, KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE, 0), 0,
	     "irqfd: deassign ignores RESAMPLE");
	T_EQ(irqfd(a, 100000, 0, 0), 0, "irqfd: a GSI with no route");
	T_EQ(irqfd(a, 100000, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "irqfd: ... deassigned");
	T_EQ(irqfd(a, 9, KVM_IRQFD_FLAG_RESAMPLE, r), 0, "irqfd: resampler on GSI 9");
	/* EBUSY compares irqfd eventfds only: a resamplefd may drive a GSI. */
	T_EQ(irqfd(r, 10, 0, 0), 0, "irqfd: a resamplefd as another GSI's irqfd");
	T_EQ(irqfd(r, 10, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "irqfd: ... deassigned");
	T_EQ(irqfd(a, 9, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "irqfd: resampler deassigned");
	T_EQ(irqfd(b, 5, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "irqfd: second deassigned");
	/* A count pending before assign fires once at assign
	 * (kvm_irqfd_assign's poll), without being read: only a later signal
	 * (irqfd_wakeup) takes the count. */
	t_efd_signal(a);
	T_EQ(irqfd(a, 100001, 0, 0), 0, "irqfd: assign with a count pending");
	usleep(20000);
	T_OK(t_efd_readable(a), "irqfd: the pending count stays after assign");
	t_efd_signal(a);
	for (int i = 0; i < 200 && t_efd_readable(a); i++)
		usleep(1000);
	T_OK(!t_efd_readable(a), "irqfd: the next signal takes the count");
	T_EQ(irqfd(a, 100001, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "irqfd: ... deassigned");
	close(a), close(a2), close(b), close(r), close(p[0]), close(p[1]);
}

/* ---- the guest ---- */

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * Run until the guest reports a vector (port 0x81; 0x1000 | al for an
 * unexpected vector on 0x82), or -1 when ms milliseconds pass without one
 * (the alarm ends KVM_RUN with EINTR), or -2 for anything else.
 */
static int wait_vector(int ms)
{
	struct itimerval it = {.it_value = {.tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000}};
	setitimer(ITIMER_REAL, &it, NULL);
	int ret;
	for (;;) {
		long r = ioctl(vcpu, KVM_RUN, 0);
		if (r < 0) {
			ret = errno == EINTR ? -1 : -2;
			break;
		}
		if (run->exit_reason == KVM_EXIT_INTR) {
			ret = -1;
			break;
		}
		if (run->exit_reason != KVM_EXIT_IO) {
			printf("# exit reason %u\n", run->exit_reason);
			ret = -2;
			break;
		}
		unsigned char v = *((unsigned char *)run + run->io.data_offset);
		if (run->io.port == 0x81) {
			ret = v;
			break;
		}
		if (run->io.port == 0x82) {
			ret = 0x1000 | v;
			break;
		}
		if (run->io.port == 0x80)
			continue; /* ready */
		printf("# port %#x\n", run->io.port);
		ret = -2;
		break;
	}
	struct itimerval off = {0};
	setitimer(ITIMER_REAL, &off, NULL);
	return ret;
}

struct delayed {
	int fd;
	int us;
};

static void *signal_later(void *arg)
{
	struct delayed *d = arg;
	usleep(d->us);
	t_efd_signal(d->fd);
	return NULL;
}

/* Assign e (again) on GSI 30 and check a write injects: a new irqfd's
 * number takes the writer's-thread path (kvm/irqfd.c) again. */
static void reassign30(int e, const char *what)
{
	T_EQ(irqfd(e, 30, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "%s: deassigned", what);
	T_EQ(irqfd(e, 30, 0, 0), 0, "%s: assigned again", what);
	t_efd_signal(e);
	T_EQ(wait_vector(2000), 0x42, "%s: a write injects", what);
	T_OK(!t_efd_readable(e), "%s: ... and leaves no count", what);
}

/* The 8 bytes written go to the pipe, not to the guest. */
static void write_reaches_pipe(int e, int rd, const char *what)
{
	unsigned long long one = 1, got = 0;
	T_EQ(write(e, &one, sizeof(one)), 8, "%s: write() to the number", what);
	T_EQ(wait_vector(100), -1, "%s: no interrupt", what);
	T_EQ(read(rd, &got, sizeof(got)), 8, "%s: the pipe got the 8 bytes", what);
	T_EQ(got, 1, "%s: ... the value written", what);
}

/*
 * An irqfd's fd number closed and reused by another file (here a pipe),
 * by libc's close and by raw system calls the preload does not see: the
 * write reaches the new file, as with KVM (the irqfd holds the eventfd,
 * not the number).  And faulting buffers fail EFAULT as eventfd_write does.
 */
static void reused_number(int e30)
{
	int saved = dup(e30), p[2];
	T_OK(saved >= 0 && pipe(p) == 0 && fcntl(p[0], F_SETFL, O_NONBLOCK) == 0,
	     "a pipe and a dup of the eventfd");
	reassign30(e30, "irqfd GSI 30 before close");
	T_EQ(close(e30), 0, "close() of the irqfd's number");
	T_EQ(fcntl(p[1], F_DUPFD, e30), e30, "the pipe at the same number");
	write_reaches_pipe(e30, p[0], "libc close and reuse");
	T_EQ(dup2(saved, e30), e30, "the eventfd back at its number");
	reassign30(e30, "irqfd GSI 30 before a raw close");
	T_EQ(syscall(SYS_close, e30), 0, "raw close of the irqfd's number");
	T_EQ(syscall(SYS_fcntl, p[1], F_DUPFD, e30), e30, "the pipe at that number, raw");
	write_reaches_pipe(e30, p[0], "raw close and reuse");
	T_EQ(syscall(SYS_dup3, saved, e30, 0), e30, "the eventfd back at its number, raw");
	t_efd_signal(e30);
	T_EQ(wait_vector(2000), 0x42, "the eventfd back, raw: a write injects");
	/* The number taken over by another irqfd's eventfd (on GSI 5, the
	 * PIC's vector 0x25): a write there is that irqfd's only. */
	reassign30(e30, "irqfd GSI 30 before another eventfd takes its number");
	int g = t_efd();
	T_EQ(syscall(SYS_dup3, g, e30, 0), e30, "raw dup3 of another eventfd over the number");
	T_EQ(irqfd(e30, 5, 0, 0), 0, "that eventfd, at the number, an irqfd on GSI 5");
	t_efd_signal(e30);
	T_EQ(wait_vector(2000), 0x25, "a write to the number: GSI 5's vector 0x25");
	T_EQ(wait_vector(100), -1, "... and not GSI 30's");
	T_EQ(irqfd(e30, 5, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "GSI 5's second irqfd deassigned");
	T_EQ(syscall(SYS_dup3, saved, e30, 0), e30, "GSI 30's eventfd back at its number, raw");
	close(g);
	t_efd_signal(e30);
	T_EQ(wait_vector(2000), 0x42, "GSI 30's eventfd back: a write injects 0x42");
	reassign30(e30, "irqfd GSI 30 before faulting writes");
	long pg = sysconf(_SC_PAGESIZE);
	char *two = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	T_OK(two != MAP_FAILED && mprotect(two + pg, (size_t)pg, PROT_NONE) == 0,
	     "a page before a PROT_NONE page");
	const void *volatile nullp = NULL;
	T_ERR(write(e30, nullp, 8), EFAULT, "irqfd eventfd: write from NULL");
	T_ERR(write(e30, two + pg - 4, 8), EFAULT, "irqfd eventfd: write of 8 bytes crossing into PROT_NONE");
	T_ERR(write(e30, two + pg, 8), EFAULT, "irqfd eventfd: write from a PROT_NONE page");
	T_EQ(wait_vector(100), -1, "irqfd eventfd: the faulting writes inject nothing");
	munmap(two, (size_t)pg * 2);
	close(saved), close(p[0]), close(p[1]);
}

static void check_guest(void)
{
	unsigned char *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		T_BAIL("mmap");
	size_t n = (size_t)(guest_end - guest_start);
	memcpy(mem + GUEST_AT, guest_start, n);
	unsigned short *vec = (unsigned short *)guest_vectors;
	unsigned *ivt = (unsigned *)mem;
	unsigned bad = 0;
	for (; vec[0]; vec += 2)
		ivt[vec[0]] = GUEST_AT + vec[1];
	bad = GUEST_AT + vec[1];
	for (int v = 0; v < 256; v++)
		if (!ivt[v])
			ivt[v] = bad;
	if (t_set_region(vm, 0, 0, 0, 0x10000, (unsigned long)mem))
		T_BAIL("memslot");
	vcpu = t_real_mode_flat_es(vm, GUEST_AT, &run);
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);

	T_EQ(wait_vector(2000), -1, "guest: set up, halted with IF=1, no interrupt");

	int st = 0;
	T_EQ(irq_line(KVM_IRQ_LINE_STATUS, 5, 1, &st), 0, "KVM_IRQ_LINE_STATUS GSI 5 up");
	T_OBS("gsi5_up", "%d", st);
	T_EQ(irq_line(KVM_IRQ_LINE_STATUS, 5, 0, &st), 0, "KVM_IRQ_LINE_STATUS GSI 5 down");
	T_OBS("gsi5_down", "%d", st);
	T_EQ(wait_vector(2000), 0x25, "KVM_IRQ_LINE pulse on GSI 5: PIC vector 0x25");
	T_EQ(wait_vector(100), -1, "... taken once");

	T_OK(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) > 0, "KVM_CAP_SIGNAL_MSI");
	T_EQ(signal_msi(0xfee00000, 0, 0x40, 0), 1, "KVM_SIGNAL_MSI to APIC 0: delivered to 1");
	T_EQ(wait_vector(2000), 0x40, "KVM_SIGNAL_MSI: vector 0x40");
	T_EQ(signal_msi(0xfee00000, 0, 0x41, KVM_MSI_VALID_DEVID), 1,
	     "KVM_SIGNAL_MSI with KVM_MSI_VALID_DEVID");
	T_EQ(wait_vector(2000), 0x41, "KVM_SIGNAL_MSI with a devid: vector 0x41");
	/* No APIC 5: the APIC map resolves the physical destination to no
	 * vCPU, and kvm_irq_delivery_to_apic_fast answers 0 (not -1). */
	T_EQ(signal_msi(0xfee05000, 0, 0x40, 0), 0, "KVM_SIGNAL_MSI to no APIC: 0");
	T_ERR(signal_msi(0xfee00000, 0, 0x40, 2), EINVAL, "KVM_SIGNAL_MSI flag 2");

	/* irqfd on an irqchip route: a pulse, like KVM_IRQ_LINE 1 then 0. */
	int e5 = t_efd();
	T_EQ(irqfd(e5, 5, 0, 0), 0, "irqfd on GSI 5");
	t_efd_signal(e5);
	T_EQ(wait_vector(2000), 0x25, "irqfd GSI 5 signalled before KVM_RUN: vector 0x25");
	struct delayed d = {e5, 20000};
	pthread_t th;
	pthread_create(&th, NULL, signal_later, &d);
	T_EQ(wait_vector(2000), 0x25, "irqfd GSI 5 signalled by another thread while halted");
	pthread_join(th, NULL);
	T_EQ(wait_vector(100), -1, "... taken once");

	/* irqfd on an MSI route, and the route changed under it. */
	rt_clear();
	rt_default();
	rt_msi(30, 0xfee00000, 0x41);
	T_EQ(rt_set(), 0, "route GSI 30 to MSI vector 0x41");
	int e30 = t_efd();
	T_EQ(irqfd(e30, 30, 0, 0), 0, "irqfd on GSI 30");
	t_efd_signal(e30);
	T_EQ(wait_vector(2000), 0x41, "irqfd GSI 30: MSI vector 0x41");
	rt.e[rt.hdr.nr - 1].u.msi.data = 0x42;
	T_EQ(rt_set(), 0, "route GSI 30 to vector 0x42");
	t_efd_signal(e30);
	T_EQ(wait_vector(2000), 0x42, "irqfd GSI 30 after the route change: vector 0x42");
	d.fd = e30;
	pthread_create(&th, NULL, signal_later, &d);
	T_EQ(wait_vector(2000), 0x42, "irqfd GSI 30 from another thread while halted");
	pthread_join(th, NULL);

	/* A level-triggered IOAPIC pin: the handler's EOI (before it reports)
	 * with the line still up sends the interrupt again at once. */
	T_EQ(irq_line(KVM_IRQ_LINE_STATUS, 10, 1, &st), 0, "KVM_IRQ_LINE_STATUS GSI 10 up");
	T_OBS("gsi10_up", "%d", st);
	T_EQ(wait_vector(2000), 0x50, "GSI 10 level: IOAPIC vector 0x50");
	T_EQ(wait_vector(2000), 0x50, "GSI 10 still up after EOI: vector 0x50 again");
	T_EQ(irq_line(KVM_IRQ_LINE_STATUS, 10, 0, &st), 0, "KVM_IRQ_LINE_STATUS GSI 10 down");
	T_OBS("gsi10_down", "%d", st);
	T_EQ(wait_vector(2000), 0x50, "GSI 10: the one the last EOI sent is still taken");
	T_EQ(wait_vector(100), -1, "GSI 10 down: no more");

	/* A resampling irqfd: level until the EOI, then resamplefd. */
	int e10 = t_efd(), rs = t_efd();
	T_EQ(irqfd(e10, 10, KVM_IRQFD_FLAG_RESAMPLE, rs), 0, "resampling irqfd on GSI 10");
	T_EQ(t_efd_count(rs), 0, "resamplefd quiet before any interrupt");
	t_efd_signal(e10);
	T_EQ(wait_vector(2000), 0x50, "resampling irqfd: vector 0x50");
	T_EQ(t_efd_count(rs), 1, "resamplefd signalled by the handler's EOI");
	T_EQ(wait_vector(100), -1, "after the EOI the level is down: taken once");
	t_efd_signal(e10);
	T_EQ(wait_vector(2000), 0x50, "resampling irqfd again: vector 0x50");
	T_EQ(wait_vector(100), -1, "... taken once");
	T_EQ(t_efd_count(rs), 1, "resamplefd signalled again");
	T_EQ(irqfd(e10, 10, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "resampling irqfd deassigned");

	/* The PIC acknowledges every EOI to the resamplers too (KVM's
	 * pic_clear_isr), edge-triggered input or not: without it the level
	 * would stay up and the next signal would make no edge. */
	int e6 = t_efd(), rs6 = t_efd();
	T_EQ(irqfd(e6, 5, KVM_IRQFD_FLAG_RESAMPLE, rs6), 0, "resampling irqfd on GSI 5 (PIC)");
	t_efd_signal(e6);
	T_EQ(wait_vector(2000), 0x25, "PIC resampler: vector 0x25");
	T_EQ(t_efd_count(rs6), 1, "PIC resampler: resamplefd signalled by the PIC EOI");
	t_efd_signal(e6);
	T_EQ(wait_vector(2000), 0x25, "PIC resampler: the next signal is a new edge");
	T_EQ(t_efd_count(rs6), 1, "PIC resampler: resamplefd signalled again");
	T_EQ(irqfd(e6, 5, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "PIC resampler deassigned");
	close(e6), close(rs6);

	/* The write itself (softkvm injects from the writer's thread): its
	 * errors are the eventfd's, it leaves no count, and a fd number that
	 * names another eventfd now signals that one only. */
	unsigned long long all = ~0ULL;
	const void *volatile badp = T_BADPTR; /* not a constant to the compiler */
	T_ERR(write(e30, badp, 8), EFAULT, "irqfd eventfd: write from a bad pointer");
	T_ERR(write(e30, &all, 8), EINVAL, "irqfd eventfd: write of 2^64-1");
	T_ERR(write(e30, &all, 4), EINVAL, "irqfd eventfd: 4-byte write");
	T_EQ(wait_vector(100), -1, "irqfd eventfd: failed writes inject nothing");
	T_EQ(eventfd_write(e30, 2), 0, "irqfd eventfd: eventfd_write");
	T_EQ(wait_vector(2000), 0x42, "irqfd eventfd_write: vector 0x42");
	T_OK(!t_efd_readable(e30), "irqfd eventfd: the injection took the count");
	int other = t_efd(), saved = dup(e30);
	T_EQ(syscall(SYS_dup3, other, e30, 0), e30, "raw dup3 of another eventfd over the irqfd's fd");
	t_efd_signal(e30);
	T_EQ(wait_vector(100), -1, "the other eventfd at that fd number: no interrupt");
	T_EQ(t_efd_count(other), 1, "... its count went up");
	T_EQ(dup2(saved, e30), e30, "the irqfd's eventfd back at its number");
	t_efd_signal(e30);
	T_EQ(wait_vector(2000), 0x42, "irqfd eventfd back: vector 0x42");
	close(other), close(saved);
	reused_number(e30);
	int sem = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	T_EQ(irqfd(sem, 30, 0, 0), 0, "irqfd with a semaphore eventfd");
	T_EQ(eventfd_write(sem, 3), 0, "semaphore irqfd: add 3");
	T_EQ(wait_vector(2000), 0x42, "semaphore irqfd: vector 0x42");
	T_EQ(wait_vector(100), -1, "semaphore irqfd: one interrupt");
	T_OK(t_efd_readable(sem), "semaphore irqfd: the injection took 1 of 3");
	T_EQ(irqfd(sem, 30, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "semaphore irqfd deassigned");
	close(sem);

	/* After deassign, signalling does nothing. */
	T_EQ(irqfd(e5, 5, KVM_IRQFD_FLAG_DEASSIGN, 0), 0, "irqfd GSI 5 deassigned");
	t_efd_signal(e5);
	T_EQ(wait_vector(100), -1, "deassigned irqfd: no interrupt");
	T_EQ(t_efd_count(e5), 1, "deassigned irqfd: the count stays");
	close(e5), close(e30), close(e10), close(rs);
	munmap(mem, 0x10000);
}

/* KVM_X2APIC_API_USE_32BIT_IDS: MSI address_hi carries destination bits
 * 31:8, and its bits 7:0 must be 0 (kvm_msi_route_invalid). */
static void check_x2apic_format(void)
{
	int saved = vm;
	vm = t_create_vm(kvm);
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		T_BAIL("KVM_CREATE_IRQCHIP");
	struct kvm_enable_cap cap = {.cap = KVM_CAP_X2APIC_API,
				     .args[0] = KVM_X2APIC_API_USE_32BIT_IDS};
	T_EQ(ioctl(vm, KVM_ENABLE_CAP, &cap), 0, "x2APIC API: 32-bit IDs");
	rt_clear();
	rt_msi(1, 0xfee00000, 0x40);
	rt.e[0].u.msi.address_hi = 1;
	T_ERR(rt_set(), EINVAL, "x2APIC API: MSI route with address_hi bits 7:0");
	rt.e[0].u.msi.address_hi = 0x100;
	T_EQ(rt_set(), 0, "x2APIC API: MSI route with address_hi bits 31:8");
	T_ERR(signal_msi(0xfee00000, 1, 0x40, 0), EINVAL,
	      "x2APIC API: KVM_SIGNAL_MSI with address_hi bits 7:0");
	close(vm);
	vm = saved;
}

int main(void)
{
	kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	check_no_irqchip();
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0)) {
		static char why[80];
		snprintf(why, sizeof(why), "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		todo = why;
		T_TODO("in-kernel irqchip: routing, irqfd and guest checks");
	} else {
		T_OK(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_INJECT_STATUS) > 0,
		     "KVM_CAP_IRQ_INJECT_STATUS");
		check_routing_args();
		check_irqfd_args();
		check_guest();
		close(vcpu);
		check_x2apic_format();
	}
	close(vm);
	close(kvm);
	return t_done();
}
