/*
 * Two vCPUs on two host threads hammer one counter with LOCK INC, LOCK
 * XADD and a CMPXCHG retry loop, and take/release a spinlock (XCHG) around
 * a plain increment: no update may be lost.
 *
 *   gcc -O1 -Itests/guest -o build/smp_atomic tests/engine/smp_atomic.c tests/guest/tvm.c -lpthread
 *   build/softkvm run -- build/smp_atomic
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "tvm.h"

#define LOAD 0x10000
#define DATA 0x30000
#define N 200000

extern const unsigned char s_start[], s_end[];
__asm__(".pushsection .rodata\n"
	".code64\n"
	"s_start:\n"
	"	mov $200000, %ecx\n"
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

	struct cpu c[2] = {{t.vcpu, t.run, 0}};
	c[1].fd = ioctl(t.vm, KVM_CREATE_VCPU, 1);
	c[1].run = mmap(NULL, t.run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c[1].fd, 0);
	struct kvm_sregs s;
	struct kvm_regs r;
	ioctl(t.vcpu, KVM_GET_SREGS, &s);
	ioctl(t.vcpu, KVM_GET_REGS, &r);
	ioctl(c[1].fd, KVM_SET_CPUID2, t.cpuid);
	ioctl(c[1].fd, KVM_SET_SREGS, &s);
	r.rsp = 0x6000;
	ioctl(c[1].fd, KVM_SET_REGS, &r);

	pthread_t th[2];
	for (int k = 0; k < 2; k++)
		pthread_create(&th[k], NULL, runner, &c[k]);
	for (int k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	uint64_t *d = tvm_ptr(&t, DATA);
	int n = 0, fails = 0;
	const char *what[] = {"LOCK INC", "LOCK XADD", "LOCK CMPXCHG loop", "XCHG spinlock"};
	printf("%sok %d - both vCPUs ran to HLT\n", c[0].ok && c[1].ok ? "" : "not ", ++n);
	fails += !(c[0].ok && c[1].ok);
	for (int k = 0; k < 4; k++) {
		int ok = d[k] == 2 * N;
		printf("%sok %d - %s: %lu of %d\n", ok ? "" : "not ", ++n, what[k],
		       (unsigned long)d[k], 2 * N);
		fails += !ok;
	}
	printf("1..%d\n", n);
	fflush(stdout);
	tvm_destroy(&t);
	return fails != 0;
}
