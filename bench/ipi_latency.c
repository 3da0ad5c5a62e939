/*
 * Two round trips with the in-kernel irqchip, timed by the VMM:
 *  - PIO exit: the guest does OUT in a loop, each one a KVM_EXIT_IO and a
 *    new KVM_RUN; five batches, the figure is the best batch's (as
 *    bench.c's jobs are the best of five: on this shared machine a batch
 *    may fall into seconds of half speed);
 *  - IPI: vCPU 0 sends a fixed IPI to vCPU 1 (x2APIC ICR) and halts; vCPU
 *    1's handler sends one back; both threads sleep in HLT between them.
 * An ordinary KVM client: `make bench` runs it under softkvm and on the
 * host's /dev/kvm.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#define X2APIC_ON "mov $0x1b, %ecx; rdmsr; or $0xc00, %eax; wrmsr;" \
	"mov $0x80f, %ecx; mov $0x1ff, %eax; xor %edx, %edx; wrmsr\n"
#define EOI "mov $0x80b, %ecx; xor %eax, %eax; xor %edx, %edx; wrmsr\n"

/* vCPU 0 at 0x1000, vCPU 1 at 0x2000; real mode, CS=DS=0; DI batches of
 * BP PIO round trips, then SI IPI rounds */
__asm__(".pushsection .rodata\n"
	".code16\n"
	"ipi0:\n"
	"cli\n"
	"movw $(ipi0_h - ipi0 + 0x1000), 0x100; movw $0, 0x102\n" /* vector 0x40 */
	X2APIC_ON
	"0: mov %bp, %bx\n"
	"1: out %al, $0xe0\n" /* PIO round trips: BP of them */
	"dec %bx; jnz 1b\n"
	"out %al, $0xe3\n" /* a batch done */
	"dec %di; jnz 0b\n"
	"mov %si, %bx\n"
	"out %al, $0xe1\n"
	"2: movb $0, 0x500\n"
	"mov $0x830, %ecx; mov $0x4041, %eax; mov $1, %edx; wrmsr\n" /* to APIC 1 */
	"sti\n"
	"3: hlt\n"
	"cmpb $0, 0x500; je 3b\n"
	"cli\n"
	"dec %bx; jnz 2b\n"
	"out %al, $0xe2\n"
	"jmp .\n"
	"ipi0_h: movb $1, 0x500\n"
	"push %eax; push %ecx; push %edx\n" EOI "pop %edx; pop %ecx; pop %eax\n"
	"iret\n"
	"ipi0_end:\n"
	"ipi1:\n"
	"movw $(ipi1_h - ipi1 + 0x2000), 0x104; movw $0, 0x106\n" /* vector 0x41 */
	X2APIC_ON
	"sti\n"
	"4: hlt; jmp 4b\n"
	"ipi1_h: mov $0x830, %ecx; mov $0x4040, %eax; xor %edx, %edx; wrmsr\n" EOI
	"iret\n"
	"ipi1_end:\n"
	".code64\n"
	".popsection\n");
extern const unsigned char ipi0[], ipi0_end[], ipi1[], ipi1_end[];

static int kvm, vm;

static double clock_us(clockid_t id)
{
	struct timespec t;
	clock_gettime(id, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double now_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

#define PIO_BATCHES 5

/*
 * This machine runs at two speeds, for seconds at a time and per process:
 * the same native loop takes 0.32 or 0.70 ns an iteration (its host core
 * shared or not), and every figure here moves with it.  A native loop
 * timed in the same process says which one a run got.
 */
static double native_ns_per_iter(void)
{
	volatile unsigned long x = 0;
	double t = now_us();
	for (unsigned long i = 0; i < 10000000; i++)
		x += i;
	return (now_us() - t) * 1e3 / 1e7;
}

static int vcpu_at(int id, unsigned ip, unsigned bp, unsigned si)
{
	int fd = ioctl(vm, KVM_CREATE_VCPU, id);
	struct {
		struct kvm_cpuid2 h;
		struct kvm_cpuid_entry2 e[100];
	} c = {.h.nent = 100};
	struct kvm_sregs s;
	if (fd < 0 || ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &c) || ioctl(fd, KVM_SET_CPUID2, &c) ||
	    ioctl(fd, KVM_GET_SREGS, &s)) {
		perror("vcpu");
		exit(1);
	}
	s.cs.base = s.ds.base = s.es.base = s.ss.base = 0;
	s.cs.selector = s.ds.selector = s.es.selector = s.ss.selector = 0;
	struct kvm_regs r = {.rip = ip, .rsp = 0x7000 + 0x800 * (unsigned)id, .rflags = 2,
			     .rbp = bp, .rdi = PIO_BATCHES, .rsi = si};
	struct kvm_mp_state mp = {KVM_MP_STATE_RUNNABLE};
	if (ioctl(fd, KVM_SET_SREGS, &s) || ioctl(fd, KVM_SET_REGS, &r) ||
	    ioctl(fd, KVM_SET_MP_STATE, &mp)) {
		perror("vcpu state");
		exit(1);
	}
	return fd;
}

static void *spin_vcpu1(void *arg)
{
	int fd = (int)(long)arg;
	for (;;)
		ioctl(fd, KVM_RUN, 0); /* never exits but on a signal */
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned pio_n = argc > 1 ? (unsigned)atoi(argv[1]) : 20000;
	unsigned ipi_n = argc > 2 ? (unsigned)atoi(argv[2]) : 5000;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
	unsigned char *ram = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region mr = {
		.memory_size = 0x10000, .userspace_addr = (unsigned long)ram};
	if (vm < 0 || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &mr) ||
	    ioctl(vm, KVM_CREATE_IRQCHIP, 0)) {
		perror("vm");
		return 1;
	}
	memcpy(ram + 0x1000, ipi0, (size_t)(ipi0_end - ipi0));
	memcpy(ram + 0x2000, ipi1, (size_t)(ipi1_end - ipi1));
	int v0 = vcpu_at(0, 0x1000, pio_n, ipi_n), v1 = vcpu_at(1, 0x2000, 0, 0);
	struct kvm_run *run = mmap(NULL, (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0),
				   PROT_READ | PROT_WRITE, MAP_SHARED, v0, 0);
	pthread_t th;
	pthread_create(&th, NULL, spin_vcpu1, (void *)(long)v1);
	/* the PIO loop's CPU time too: on a loaded machine the wall time is
	 * mostly other processes' (the host's KVM_RUN is a system call, so
	 * its thread CPU time includes the kernel's part) */
	double native_ns = native_ns_per_iter();
	double t0 = now_us(), c0 = clock_us(CLOCK_THREAD_CPUTIME_ID), t_pio = 1e300, c_pio = 0,
	       t_ipi = 0;
	unsigned exits = 0, batches = 0;
	for (;;) {
		if (ioctl(v0, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
			return 1;
		}
		if (run->io.port == 0xe0) {
			exits++;
		} else if (run->io.port == 0xe3) {
			/* the best batch by wall time, and its CPU time */
			double t = now_us() - t0, c = clock_us(CLOCK_THREAD_CPUTIME_ID) - c0;
			if (exits != pio_n) {
				fprintf(stderr, "batch of %u exits, not %u\n", exits, pio_n);
				return 1;
			}
			if (t < t_pio) {
				t_pio = t;
				c_pio = c;
			}
			batches++;
			exits = 0;
			t0 = now_us();
			c0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
		} else if (run->io.port == 0xe1) {
			t0 = now_us();
		} else {
			t_ipi = now_us() - t0;
			break;
		}
	}
	printf("PIO exit round trip   n=%-6u %8.2f us  (thread CPU %.2f us; best of %u batches; "
	       "native loop %.2f ns/iter)\n",
	       pio_n, t_pio / pio_n, c_pio / pio_n, batches, native_ns);
	printf("IPI round trip (HLT)  n=%-6u %8.2f us\n", ipi_n, t_ipi / ipi_n);
	fflush(stdout);
	_exit(0);
}
