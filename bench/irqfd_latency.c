/*
 * irqfd latency: another thread writes an eventfd bound by KVM_IRQFD to an
 * MSI route; the time until the guest's interrupt handler runs (it EOIs and
 * reports on port 0x81, which ends KVM_RUN) is one sample.  Two cases: the
 * vCPU halted (HLT with IF=1, in KVM_RUN) and the vCPU running (a spin
 * loop).  Prints p50/p99/max in microseconds, and the mean time the
 * write() call itself took (under softkvm the injection happens inside it,
 * kvm/irqfd.c; with the vCPU running no wake-up is needed, so that figure
 * is the writer's path alone).  An ordinary KVM client: `make bench` runs
 * it under softkvm and on the host's /dev/kvm.
 *
 * The signal comes 200 us (plus the sleep's slack) after the vCPU halts:
 * longer than KVM's default halt-polling maximum (halt_poll_ns, 200 us on
 * x86), so the halted case measures a sleeping vCPU thread's wake-up.  A
 * third case raises the VM's maximum to 1 ms with KVM_CAP_HALT_POLL, as a
 * latency-sensitive VMM may: the vCPU then polls through the gap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

/* Real mode at 0x1000, ES based at 0 with a 4 GiB limit: enable the LAPIC
 * and report (port 0x80) once; each measurement then starts at lat_ready:
 * halt (BX = 0) or spin (BX = 1) with IF=1.  Vector 0x40: EOI, report.
 * The LAPIC is on before the first signal: a software-disabled LAPIC
 * drops an MSI (SDM 10.4.7.2), on any backend, and the run would wait for
 * an interrupt that never comes (as a first KVM_RUN that took longer than
 * the signaller's sleep once did). */
__asm__(".pushsection .rodata\n"
	".code16\n"
	".balign 16\n"
	"lat_guest:\n"
	"mov $0xfee000f0, %esi; movl $0x1ff, %es:(%esi)\n"
	"out %al, $0x80\n"
	"lat_ready:\n"
	"sti\n"
	"test %bx, %bx\n"
	"jnz 2f\n"
	"1: hlt\n"
	"jmp 1b\n"
	"2: jmp 2b\n"
	"lat_handler:\n"
	"mov $0xfee000b0, %esi; movl $0, %es:(%esi)\n"
	"out %al, $0x81\n"
	"iret\n"
	"lat_end:\n"
	".code64\n"
	".popsection\n");
extern const unsigned char lat_guest[], lat_ready[], lat_handler[], lat_end[];

#define GUEST_AT 0x1000
#define VECTOR 0x40
#define GSI 24

static int vcpu, efd;
static struct kvm_run *run;
static atomic_int armed;	/* main is about to enter KVM_RUN */
static atomic_llong sent_ns;	/* when the signal was written */
static atomic_llong write_ns;	/* the sum of the write() calls' times */
static atomic_int writes;	/* write() calls returned */
static atomic_int stop;
static int delay_us = 200;

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "irqfd_latency: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Wait until main is (about to be) in KVM_RUN, let the vCPU settle into
 * its halt or loop, then signal. */
static void *signaller(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		if (!atomic_exchange(&armed, 0)) {
			sched_yield();
			continue;
		}
		usleep((useconds_t)delay_us);
		unsigned long long one = 1;
		long long t0 = now_ns();
		atomic_store(&sent_ns, t0);
		if (write(efd, &one, sizeof(one)) != sizeof(one))
			die("eventfd write");
		atomic_fetch_add(&write_ns, now_ns() - t0);
		atomic_fetch_add(&writes, 1);
	}
	return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

/* The vCPU's halt_attempted_poll and halt_successful_poll (binary stats;
 * 0 where a name is missing) */
static void halt_polls(unsigned long long *attempted, unsigned long long *caught)
{
	*attempted = *caught = 0;
	int fd = ioctl(vcpu, KVM_GET_STATS_FD, 0);
	struct kvm_stats_header h;
	if (fd < 0)
		return;
	if (pread(fd, &h, sizeof(h), 0) == sizeof(h)) {
		size_t dsz = sizeof(struct kvm_stats_desc) + h.name_size;
		unsigned char *d = calloc(h.num_desc, dsz);
		if (d && pread(fd, d, h.num_desc * dsz, h.desc_offset) == (ssize_t)(h.num_desc * dsz))
			for (unsigned i = 0; i < h.num_desc; i++) {
				struct kvm_stats_desc *e = (void *)(d + i * dsz);
				unsigned long long v = 0;
				if (pread(fd, &v, sizeof(v), h.data_offset + e->offset) != sizeof(v))
					continue;
				if (!strcmp(e->name, "halt_attempted_poll"))
					*attempted = v;
				else if (!strcmp(e->name, "halt_successful_poll"))
					*caught = v;
			}
		free(d);
	}
	close(fd);
}

static void measure(const char *name, int spin, int n)
{
	if (!n)
		return;
	struct kvm_regs r;
	long long *lat = calloc((size_t)n, sizeof(*lat));
	if (!lat || ioctl(vcpu, KVM_GET_REGS, &r))
		die("regs");
	r.rip = GUEST_AT + (unsigned)(lat_ready - lat_guest);
	r.rbx = (unsigned)spin;
	r.rflags = 2;
	if (ioctl(vcpu, KVM_SET_REGS, &r))
		die("KVM_SET_REGS");
	atomic_store(&write_ns, 0);
	int base = atomic_load(&writes);
	unsigned long long att0, caught0, att1, caught1;
	halt_polls(&att0, &caught0);
	for (int i = 0; i < n; i++) {
		atomic_store(&armed, 1);
		if (ioctl(vcpu, KVM_RUN, 0))
			die("KVM_RUN");
		long long t = now_ns();
		if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x81) {
			fprintf(stderr, "irqfd_latency: unexpected exit %u\n", run->exit_reason);
			exit(1);
		}
		lat[i] = t - atomic_load(&sent_ns);
		/* the handler may run before the write() returns (softkvm
		 * injects inside it): its time is summed before the next */
		while (atomic_load(&writes) != base + i + 1)
			sched_yield();
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_ll);
	halt_polls(&att1, &caught1);
	printf("irqfd -> guest handler, vCPU %s n=%d  p50 %7.1f us  p99 %7.1f us  max %7.1f us"
	       "  write() mean %5.2f us  halt polls %llu, caught %llu\n",
	       name, n, lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3, lat[n - 1] / 1e3,
	       (double)atomic_load(&write_ns) / n / 1e3, att1 - att0, caught1 - caught0);
	free(lat);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	if (getenv("SKVM_BENCH_SCALE"))
		n = (int)(n * atof(getenv("SKVM_BENCH_SCALE")));
	if (n < 10)
		n = 10;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		die("VM with an in-kernel irqchip");
	unsigned char *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	memcpy(mem + GUEST_AT, lat_guest, (size_t)(lat_end - lat_guest));
	((unsigned *)mem)[VECTOR] = GUEST_AT + (unsigned)(lat_handler - lat_guest);
	struct kvm_userspace_memory_region reg = {
		.memory_size = 0x10000, .userspace_addr = (unsigned long)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg))
		die("memslot");

	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[1];
	} rt = {.hdr.nr = 1};
	rt.e[0].gsi = GSI;
	rt.e[0].type = KVM_IRQ_ROUTING_MSI;
	rt.e[0].u.msi.address_lo = 0xfee00000;
	rt.e[0].u.msi.data = VECTOR;
	if (ioctl(vm, KVM_SET_GSI_ROUTING, &rt))
		die("KVM_SET_GSI_ROUTING");
	efd = eventfd(0, EFD_CLOEXEC);
	struct kvm_irqfd irqfd = {.fd = (unsigned)efd, .gsi = GSI};
	if (efd < 0 || ioctl(vm, KVM_IRQFD, &irqfd))
		die("KVM_IRQFD");

	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	run = mmap(NULL, (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE,
		   MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	struct kvm_sregs s;
	if (ioctl(vcpu, KVM_GET_SREGS, &s))
		die("KVM_GET_SREGS");
	s.cs.base = 0;
	s.cs.selector = 0;
	s.ds = s.ss = s.es = s.cs;
	s.ds.type = s.ss.type = s.es.type = 3;
	s.es.limit = 0xffffffff;
	s.es.g = 1;
	if (ioctl(vcpu, KVM_SET_SREGS, &s))
		die("KVM_SET_SREGS");
	/* the LAPIC on, before any signal */
	struct kvm_regs r0;
	if (ioctl(vcpu, KVM_GET_REGS, &r0))
		die("KVM_GET_REGS");
	r0.rip = GUEST_AT;
	r0.rflags = 2;
	if (ioctl(vcpu, KVM_SET_REGS, &r0) || ioctl(vcpu, KVM_RUN, 0))
		die("first KVM_RUN");
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x80) {
		fprintf(stderr, "irqfd_latency: unexpected first exit %u\n", run->exit_reason);
		exit(1);
	}

	pthread_t th;
	pthread_create(&th, NULL, signaller, NULL);
	measure("halted", 0, n);
	measure("running", 1, n);
	struct kvm_enable_cap cap = {.cap = KVM_CAP_HALT_POLL, .args = {1000000}};
	if (ioctl(vm, KVM_ENABLE_CAP, &cap))
		printf("irqfd -> guest handler: KVM_CAP_HALT_POLL refused (%s)\n", strerror(errno));
	else
		measure("halted, KVM_CAP_HALT_POLL 1 ms:", 0, n);
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	return 0;
}
