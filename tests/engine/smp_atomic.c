/*
 * Four vCPUs on four host threads (two host cores here) hammer counters
 * with LOCK INC, LOCK XADD and a CMPXCHG retry loop, and take/release a
 * spinlock (XCHG) around a plain increment: 10^7 updates, none may be lost.
 *
 *   gcc -O1 -Itests/guest -o build/smp_atomic tests/engine/smp_atomic.c tests/guest/tvm.c -lpthread
 *   build/softkvm run -- build/smp_atomic
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "tvm.h"

#define LOAD 0x10000
#define DATA 0x30000
#define NCPU 4
/* per vCPU and counter: 4 * 4 * N = 10^7 updates; SKVM_SMP_ATOMIC_N=n for
 * fewer (check-tsan, where each update costs ~30x more) */
#define N 625000

extern const unsigned char s_start[], s_end[];
__asm__(".pushsection .rodata\n"
	".code64\n"
	"s_start:\n"
	"	mov 0x30040, %ecx\n"			/* the rounds, set by main */
	"1:	lock incq 0x30000\n"			/* counter A */
	"	mov $1, %eax\n	lock xadd %rax, 0x30008\n"	/* counter B */
	"2:	mov 0x30010, %rax\n	lea 1(%rax), %rdx\n"
	"	lock cmpxchg %rdx, 0x30010\n	jne 2b\n"		/* counter C */
	"3:	mov $1, %eax\n	xchg %eax, 0x30020\n	test %eax, %eax\n	jnz 3b\n"
	"	incq 0x30018\n"				/* counter D under the lock */
	"	movl $0, 0x30020\n"
	"	dec %ecx\n	jnz 1b\n"
	"	hlt\n"
	"s_end:\n"
	".popsection\n");

struct cpu {
	int fd;
	struct kvm_run *run;
	int ok;
};

static void *runner(void *arg)
{
	struct cpu *c = arg;
	int r = ioctl(c->fd, KVM_RUN, 0);
	c->ok = r == 0 && c->run->exit_reason == KVM_EXIT_HLT;
	return NULL;
}

int main(void)
{
	struct tvm t;
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t) || tvm_setup_mode(&t, 64, LOAD, 0)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	memcpy(tvm_ptr(&t, LOAD), s_start, s_end - s_start);
	memset(tvm_ptr(&t, DATA), 0, 64);
	const char *env = getenv("SKVM_SMP_ATOMIC_N");
	long rounds = env ? atol(env) : N;
	if (rounds < 1 || rounds > N)
		rounds = N;
	*(uint32_t *)tvm_ptr(&t, DATA + 0x40) = (uint32_t)rounds;

	struct cpu c[NCPU] = {{t.vcpu, t.run, 0}};
	struct kvm_sregs s;
	struct kvm_regs r;
	ioctl(t.vcpu, KVM_GET_SREGS, &s);
	ioctl(t.vcpu, KVM_GET_REGS, &r);
	for (int k = 1; k < NCPU; k++) {
		c[k].fd = ioctl(t.vm, KVM_CREATE_VCPU, k);
		c[k].run = mmap(NULL, t.run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c[k].fd, 0);
		ioctl(c[k].fd, KVM_SET_CPUID2, t.cpuid);
		ioctl(c[k].fd, KVM_SET_SREGS, &s);
		r.rsp = 0x6000 + 0x400 * (unsigned)k;
		ioctl(c[k].fd, KVM_SET_REGS, &r);
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t th[NCPU];
	for (int k = 0; k < NCPU; k++)
		pthread_create(&th[k], NULL, runner, &c[k]);
	for (int k = 0; k < NCPU; k++)
		pthread_join(th[k], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t *d = tvm_ptr(&t, DATA);
	int n = 0, fails = 0;
	const char *what[] = {"LOCK INC", "LOCK XADD", "LOCK CMPXCHG loop", "XCHG spinlock"};
	int all = 1;
	for (int k = 0; k < NCPU; k++)
		all &= c[k].ok;
	printf("%sok %d - all %d vCPUs ran to HLT\n", all ? "" : "not ", ++n, NCPU);
	fails += !all;
	for (int k = 0; k < 4; k++) {
		int ok = d[k] == (uint64_t)(NCPU * rounds);
		printf("%sok %d - %s: %lu of %ld\n", ok ? "" : "not ", ++n, what[k],
		       (unsigned long)d[k], NCPU * rounds);
		fails += !ok;
	}
	printf("# %ld updates in %.2f s\n", 4 * NCPU * rounds,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("1..%d\n", n);
	fflush(stdout);
	tvm_destroy(&t);
	return fails != 0;
}
