/* The differential testers' two worlds; see world.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <cpuid.h>

#include "layout.h"
#include "world.h"

extern const uint8_t diff_kernel[], diff_kernel_end[], diff_kernel_vectors[];

uint64_t rng_state;

uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

void emit(struct code *c, const void *p, size_t n)
{
	memcpy(c->b + c->len, p, n);
	c->len += n;
}

void emit8(struct code *c, uint8_t v)
{
	c->b[c->len++] = v;
}

void emit32(struct code *c, uint32_t v)
{
	emit(c, &v, 4);
}

/* ---- native world ---- */
uint8_t *native_user;
struct fault native_fault;
volatile int native_faulted;

static void on_fault(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = (uint64_t)g[REG_RIP];
	(void)si;
	if (rip < DIFF_USER || rip >= DIFF_USER_END) {
		/* not the stream: a real crash of the tester */
		signal(sig, SIG_DFL);
		return;
	}
	static const int map[16] = {
		REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
		REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
	};
	struct fault *f = &native_fault;
	for (int i = 0; i < 16; i++)
		f->gpr[i] = (uint64_t)g[map[i]];
	f->vec = (uint64_t)g[REG_TRAPNO];
	f->err = (uint64_t)g[REG_ERR];
	f->rip = rip;
	f->rflags = (uint64_t)g[REG_EFL];
	f->rsp = (uint64_t)g[REG_RSP];
	f->cr2 = f->vec == 14 ? (uint64_t)g[REG_CR2] : 0;
	native_faulted = 1;
	g[REG_RIP] = (greg_t)(uintptr_t)diff_native_end;
	g[REG_CSGSFS] = (g[REG_CSGSFS] & ~0xffffll) | 0x33;	/* back to 64-bit code */
	g[REG_EFL] &= ~0x40500ll;	/* TF, DF, AC: the C side expects them clear */
}

int native_setup(uint64_t mapped_end, char *err, size_t n)
{
	void *a = mmap((void *)DIFF_USER, mapped_end - DIFF_USER, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	void *b = mmap((void *)DIFF_WIN, DIFF_WIN_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (a != (void *)DIFF_USER || b != (void *)DIFF_WIN) {
		snprintf(err, n, "mmap of the fixed user region failed: %s", strerror(errno));
		return -1;
	}
	native_user = a;
	static uint8_t altstack[65536];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	return 0;
}

/* ---- guest world ---- */
struct tvm vm;

int guest_map(uint64_t mapped_end, char *err, size_t n)
{
	if (tvm_create(&vm, 8u << 20) || tvm_set_cpuid(&vm) ||
	    tvm_setup_mode(&vm, 64, DIFF_KCODE, 1)) {
		snprintf(err, n, "%s: %s", vm.err, strerror(vm.err_errno));
		return vm.err_errno == EINVAL || vm.err_errno == ENOTTY ? 1 : -1;
	}
	/* 4K pages for the 2 MiB around the user region: only its pieces
	 * are present, so stray accesses fault as they do natively. */
	uint64_t *pd = tvm_ptr(&vm, TVM_PD), *pt = tvm_ptr(&vm, DIFF_PT);
	uint64_t base2m = DIFF_USER & ~0x1fffffull;
	memset(pt, 0, 4096);
	for (uint64_t a = DIFF_USER; a < mapped_end; a += 4096)
		pt[(a - base2m) >> 12] = a | TVM_PTE_P | TVM_PTE_W | TVM_PTE_U;
	for (uint64_t a = DIFF_WIN; a < DIFF_USER_END; a += 4096)
		pt[(a - base2m) >> 12] = a | TVM_PTE_P | TVM_PTE_W | TVM_PTE_U;
	pd[base2m >> 21] = DIFF_PT | TVM_PTE_P | TVM_PTE_W | TVM_PTE_U;
	/* ring-0 code and IDT (interrupt gates, DPL 0; #BP DPL 3 as Linux) */
	memcpy(tvm_ptr(&vm, DIFF_KCODE), diff_kernel, (size_t)(diff_kernel_end - diff_kernel));
	uint64_t vecs = DIFF_KCODE + (uint64_t)(diff_kernel_vectors - diff_kernel);
	uint64_t *idt = tvm_ptr(&vm, 0x9000);
	for (int v = 0; v < 256; v++) {
		uint64_t h = vecs + 16 * (uint64_t)v;
		uint64_t dpl = v == 3 ? 3 : 0;
		idt[2 * v] = (h & 0xffff) | (0x08ull << 16) | ((0x8eull | dpl << 5) << 40) |
			     ((h >> 16 & 0xffff) << 48);
		idt[2 * v + 1] = h >> 32;
	}
	return 0;
}

/* The IDT, and CR4.OSFXSR | OSXMMEXCPT (SSE and #XM, as Linux) | cr4_set. */
int guest_sregs(uint64_t cr4_set, char *err, size_t n)
{
	struct kvm_sregs sr;
	if (ioctl(vm.vcpu, KVM_GET_SREGS, &sr) < 0) {
		snprintf(err, n, "KVM_GET_SREGS: %s", strerror(errno));
		return 1;
	}
	sr.idt.base = 0x9000;
	sr.idt.limit = 256 * 16 - 1;
	sr.cr4 |= 0x600 | cr4_set;
	if (ioctl(vm.vcpu, KVM_SET_SREGS, &sr) < 0) {
		snprintf(err, n, "KVM_SET_SREGS: %s", strerror(errno));
		return 1;
	}
	return 0;
}

int guest_enter(char *err, size_t n)
{
	uint8_t *end = tvm_ptr(&vm, DIFF_GUEST_END);
	end[0] = 0xf4;	/* HLT at CPL 3: #GP(0) at a known address */
	/* first entry: the kernel stops at its OUT before entering a stream */
	if (ioctl(vm.vcpu, KVM_RUN, 0) < 0 || vm.run->exit_reason != KVM_EXIT_IO ||
	    vm.run->io.port != DIFF_PORT) {
		snprintf(err, n, "first KVM_RUN: exit %u", vm.run->exit_reason);
		return vm.run->exit_reason == KVM_EXIT_INTERNAL_ERROR ? 2 : -1;
	}
	return 0;
}

int host_has(unsigned leaf, unsigned sub, int reg, int bit)
{
	unsigned r[4];
	if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]))
		return 0;
	return r[reg] >> bit & 1;
}

int guest_has(unsigned leaf, unsigned sub, int reg, int bit)
{
	if (getenv("SKVM_DIFF_HOST_FEATURES"))
		return 1;
	const struct kvm_cpuid_entry2 *e = tvm_cpuid(&vm, leaf, sub);
	if (!e)
		return 0;
	uint32_t r[4] = { e->eax, e->ebx, e->ecx, e->edx };
	return r[reg] >> bit & 1;
}
