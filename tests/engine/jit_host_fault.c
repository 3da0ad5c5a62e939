/*
 * A host fault in translated code (docs/engine.md, "JIT", Memory): the
 * JIT stores RIP only before C calls and exits, so a SIGBUS of a guest
 * access that its inline TLB path makes must still leave KVM_RUN with
 * EFAULT and the guest state exact at the faulting instruction, as the
 * interpreter does (tests/api/hva_fault.c).  A 64-bit loop reads a slot
 * over a memfd (an SSE load, then again an integer load) until the word
 * it reads is non-zero; another thread truncates the file while the loop runs
 * translated, so the next access of the loop's TLB-cached host pointer
 * raises SIGBUS.  RIP must be the load's (not the loop's first
 * instruction), RFLAGS those of the ADD before it; once the file is long
 * again, with the word set, the loop ends where it left off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "gate.h"

#define SLOT_GPA 0x1000000ull /* in tvm's 1 GiB identity map */

static int fd;

static void *truncate_later(void *arg)
{
	(void)arg;
	struct timespec d = {0, 200 * 1000 * 1000};
	nanosleep(&d, NULL);
	if (ftruncate(fd, 0))
		perror("ftruncate");
	return NULL;
}

/* The arithmetic flags of ADD a, 1 with result r (64-bit). */
static uint64_t add1_flags(uint64_t r)
{
	uint64_t a = r - 1, f = 0;
	if (r < a)
		f |= 0x1;
	if (!__builtin_parity((uint8_t)r))
		f |= 0x4;
	if ((a ^ 1 ^ r) & 0x10)
		f |= 0x10;
	if (!r)
		f |= 0x40;
	if (r >> 63)
		f |= 0x80;
	if (r == 1ull << 63)
		f |= 0x800;
	return f;
}

static void one(struct tvm *t, const char *what, const uint8_t *load, size_t ln)
{
	/* 0: add $1,%rcx; 4: the load of (%rax) into %rdx; test %rdx,%rdx;
	 * jz 0; then run()'s OUT */
	uint8_t c[64];
	size_t len = 0;
	static const uint8_t add[] = {0x48, 0x83, 0xc1, 0x01};
	static const uint8_t test[] = {0x48, 0x85, 0xd2};
	memcpy(c, add, 4), len = 4;
	memcpy(c + len, load, ln), len += ln;
	memcpy(c + len, test, sizeof(test)), len += sizeof(test);
	c[len] = 0x74, c[len + 1] = (uint8_t)(0 - (len + 2)), len += 2; /* jz 0 */
	uint8_t *code = tvm_ptr(t, CODE);
	memcpy(code, c, len);
	code[len] = 0xe6, code[len + 1] = PORT_OK;

	if (ftruncate(fd, 0) || ftruncate(fd, 4096)) { /* the word 0 */
		ok(0, "ftruncate");
		return;
	}
	struct kvm_sregs s;
	struct kvm_regs r;
	ioctl(t->vcpu, KVM_GET_SREGS, &s);
	s.cr0 = 0x80050033;
	s.cr4 = 0x20 | CR4_OSFXSR | CR4_OSXMMEXCPT;
	ioctl(t->vcpu, KVM_SET_SREGS, &s);
	memset(&r, 0, sizeof(r));
	r.rip = CODE;
	r.rsp = TVM_STACK;
	r.rflags = 2;
	r.rax = SLOT_GPA;
	ioctl(t->vcpu, KVM_SET_REGS, &r);

	pthread_t th;
	pthread_create(&th, NULL, truncate_later, NULL);
	int rc = ioctl(t->vcpu, KVM_RUN, 0);
	int err = errno;
	pthread_join(th, NULL);
	char m[160];
	snprintf(m, sizeof(m), "%s: KVM_RUN fails with EFAULT once the file is truncated", what);
	ok(rc == -1 && err == EFAULT, m);
	ioctl(t->vcpu, KVM_GET_REGS, &r);
	snprintf(m, sizeof(m), "%s: RIP on the faulting load (%#llx)", what, (unsigned long long)r.rip);
	ok(r.rip == CODE + 4, m);
	snprintf(m, sizeof(m), "%s: RFLAGS those of the ADD before it (%#llx, rcx %llu)", what,
		 (unsigned long long)r.rflags, (unsigned long long)r.rcx);
	ok((r.rflags & 0x8d5) == add1_flags(r.rcx), m);
	snprintf(m, sizeof(m), "%s: the loop ran long enough to be translated", what);
	ok(r.rcx > 1000, m);

	if (ftruncate(fd, 4096)) {
		ok(0, "ftruncate");
		return;
	}
	uint64_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (w == MAP_FAILED) {
		ok(0, "mmap");
		return;
	}
	*w = 1;
	munmap(w, 4096);
	uint64_t before = r.rcx;
	rc = ioctl(t->vcpu, KVM_RUN, 0);
	ioctl(t->vcpu, KVM_GET_REGS, &r);
	snprintf(m, sizeof(m), "%s: the loop goes on from the load and ends", what);
	ok(rc == 0 && t->run->exit_reason == KVM_EXIT_IO && t->run->io.port == PORT_OK &&
		   r.rcx == before,
	   m);
}

int main(void)
{
	struct tvm t;
	if (gate_create(&t))
		return 1;
	fd = memfd_create("jit_host_fault", 0);
	if (fd < 0 || ftruncate(fd, 4096)) {
		printf("Bail out! memfd\n");
		return 1;
	}
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct kvm_userspace_memory_region reg = {.slot = 5, .guest_phys_addr = SLOT_GPA,
						  .memory_size = 4096,
						  .userspace_addr = (uintptr_t)m};
	if (m == MAP_FAILED || ioctl(t.vm, KVM_SET_USER_MEMORY_REGION, &reg)) {
		printf("Bail out! slot over the memfd\n");
		return 1;
	}
	/* movsd (%rax),%xmm0; movq %xmm0,%rdx */
	static const uint8_t sse[] = {0xf2, 0x0f, 0x10, 0x00, 0x66, 0x48, 0x0f, 0x7e, 0xc2};
	static const uint8_t intl[] = {0x48, 0x8b, 0x10}; /* mov (%rax),%rdx */
	one(&t, "SSE load", sse, sizeof(sse));
	one(&t, "integer load", intl, sizeof(intl));
	(void)run; /* gate.h's; this test runs its loop itself */
	tvm_destroy(&t);
	munmap(m, 4096);
	close(fd);
	printf("1..%d\n", n);
	return fails != 0;
}
