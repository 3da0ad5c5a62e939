/*
 * The JIT's stack window (docs/engine.md, "JIT"), against the host CPU: a
 * loop of PUSH/POP runs, SUB/ADD RSP, [RSP + disp] loads, stores and
 * read-modify-writes, a CALL and RET with the callee reading and writing
 * its caller's frame, flags kept across stack loads (CMP ... ADC), runs
 * 64 times in the guest, where the JIT translates it after a few
 * iterations, and natively in this process from the same state.  The stack
 * top moves across a page boundary run by run, so some runs have their
 * window in one page and others split over two (each access then takes
 * its own TLB probe).  One block is longer than a block can be (BLK_MAX
 * instructions), so it goes on in the next.  The GPRs and the stack bytes
 * must agree.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "gate.h"

#define STK 0x400 /* bytes of stack compared, below the top */

#define LONG 0x48, 0x83, 0xc6, 0x03, /* add $3,%rsi */ \
	0x48, 0x8d, 0x7f, 0x01 /* lea 0x1(%rdi),%rdi */

static const uint8_t body[] = {
	0x49, 0x89, 0xe7,			/* mov %rsp,%r15 */
	0x48, 0x89, 0xc4,			/* mov %rax,%rsp */
	0x41, 0xb8, 0x40, 0x00, 0x00, 0x00,	/* mov $0x40,%r8d */
	/* loop: */
	0x53,					/* push %rbx */
	0x55,					/* push %rbp */
	0x56,					/* push %rsi */
	0x57,					/* push %rdi */
	0x48, 0x83, 0xec, 0x40,			/* sub $0x40,%rsp */
	0x4c, 0x89, 0x44, 0x24, 0x08,		/* mov %r8,0x8(%rsp) */
	0x48, 0x89, 0x5c, 0x24, 0x38,		/* mov %rbx,0x38(%rsp) */
	0x4a, 0x8d, 0x5c, 0x03, 0x03,		/* lea 0x3(%rbx,%r8,1),%rbx */
	0x48, 0x01, 0x5c, 0x24, 0x38,		/* add %rbx,0x38(%rsp) */
	0x48, 0x8b, 0x54, 0x24, 0x38,		/* mov 0x38(%rsp),%rdx */
	0xc7, 0x44, 0x24, 0x10, 0x78, 0x56, 0x34, 0x12, /* movl $0x12345678,0x10(%rsp) */
	0x8b, 0x4c, 0x24, 0x10,			/* mov 0x10(%rsp),%ecx */
	0x49, 0x83, 0xf8, 0x20,			/* cmp $0x20,%r8 */
	0x4c, 0x8b, 0x4c, 0x24, 0x08,		/* mov 0x8(%rsp),%r9 */
	0x49, 0x11, 0xc9,			/* adc %rcx,%r9 */
	0x41, 0x51,				/* push %r9 */
	0xe8, 0xcf, 0x00, 0x00, 0x00,		/* call sub */
	0x41, 0x59,				/* pop %r9 */
	0x48, 0x03, 0x6c, 0x24, 0x20,		/* add 0x20(%rsp),%rbp */
	0x48, 0x83, 0xc4, 0x40,			/* add $0x40,%rsp */
	0x5f,					/* pop %rdi */
	0x5e,					/* pop %rsi */
	0x5d,					/* pop %rbp */
	0x5b,					/* pop %rbx */
	0x48, 0x01, 0xd3,			/* add %rdx,%rbx */
	0x48, 0x31, 0xd6,			/* xor %rdx,%rsi */
	/* 40 more: a block of BLK_MAX instructions, continued by the next */
	LONG, LONG, LONG, LONG, LONG, LONG, LONG, LONG, LONG, LONG,
	LONG, LONG, LONG, LONG, LONG, LONG, LONG, LONG, LONG, LONG,
	0x4c, 0x01, 0xcf,			/* add %r9,%rdi */
	0x48, 0x0f, 0xb6, 0x44, 0x24, 0xc0,	/* movzbq -0x40(%rsp),%rax */
	0x48, 0x01, 0xc5,			/* add %rax,%rbp */
	0x41, 0xff, 0xc8,			/* dec %r8d */
	0x0f, 0x85, 0xf6, 0xfe, 0xff, 0xff,	/* jne loop */
	0x4c, 0x89, 0xfc,			/* mov %r15,%rsp */
	0xeb, 0x1e,				/* jmp end */
	/* sub: */
	0x41, 0x54,				/* push %r12 */
	0x4c, 0x8b, 0x64, 0x24, 0x20,		/* mov 0x20(%rsp),%r12: the caller's 0x8(%rsp) */
	0x4d, 0x6b, 0xe4, 0x07,			/* imul $0x7,%r12,%r12 */
	0x4c, 0x01, 0xe2,			/* add %r12,%rdx */
	0x48, 0x89, 0x54, 0x24, 0x38,		/* mov %rdx,0x38(%rsp): the caller's 0x20(%rsp) */
	0x0f, 0xb6, 0x44, 0x24, 0x38,		/* movzbl 0x38(%rsp),%eax */
	0x48, 0x01, 0xc2,			/* add %rax,%rdx */
	0x41, 0x5c,				/* pop %r12 */
	0xc3,					/* ret */
	/* end: */
};

struct state {
	uint64_t rbx, rcx, rdx, rsi, rdi, rbp, r9, r12;
	uint8_t stack[STK];
};

static void init(struct state *s)
{
	memset(s, 0, sizeof(*s));
	s->rbx = 0x1234, s->rcx = 7, s->rdx = 0x55, s->rsi = 0x9876543210ull;
	s->rdi = 0x1111, s->rbp = 0x2222, s->r9 = 3, s->r12 = 0xabcdef;
	for (int k = 0; k < STK; k++)
		s->stack[k] = (uint8_t)(k * 13 + 5);
}

/* The snippet on this CPU with its stack top at top (STK bytes below it
 * are s->stack). */
static void native(struct state *s, const uint8_t *fn, uint8_t *top)
{
	memcpy(top - STK, s->stack, STK);
	uint64_t r[8] = {s->rbx, s->rcx, s->rdx, s->rsi, s->rdi, s->rbp, s->r9, s->r12};
	register const uint8_t *f10 __asm__("r10") = fn;
	uint8_t *rax = top;
	__asm__ volatile("sub $128,%%rsp\n\t" /* the red zone */
			 "push %%rbx\n\tpush %%rbp\n\tpush %%r12\n\tpush %%r15\n\tpush %%rdi\n\t"
			 "mov 0(%%rdi),%%rbx\n\tmov 8(%%rdi),%%rcx\n\tmov 16(%%rdi),%%rdx\n\t"
			 "mov 24(%%rdi),%%rsi\n\tmov 40(%%rdi),%%rbp\n\tmov 48(%%rdi),%%r9\n\t"
			 "mov 56(%%rdi),%%r12\n\tmov 32(%%rdi),%%rdi\n\t"
			 "call *%[fn]\n\t"
			 "xchg %%rdi,(%%rsp)\n\t"
			 "mov %%rbx,0(%%rdi)\n\tmov %%rcx,8(%%rdi)\n\tmov %%rdx,16(%%rdi)\n\t"
			 "mov %%rsi,24(%%rdi)\n\tmov %%rbp,40(%%rdi)\n\tmov %%r9,48(%%rdi)\n\t"
			 "mov %%r12,56(%%rdi)\n\tpop %%rax\n\tmov %%rax,32(%%rdi)\n\t"
			 "pop %%r15\n\tpop %%r12\n\tpop %%rbp\n\tpop %%rbx\n\t"
			 "add $128,%%rsp"
			 : "+a"(rax), [fn] "+r"(f10)
			 : "D"(r)
			 : "memory", "cc", "rcx", "rdx", "rsi", "r8", "r9", "r11");
	s->rbx = r[0], s->rcx = r[1], s->rdx = r[2], s->rsi = r[3];
	s->rdi = r[4], s->rbp = r[5], s->r9 = r[6], s->r12 = r[7];
	memcpy(s->stack, top - STK, STK);
}

/* 0, or the exception vector; the stack top at DATA + off */
static int guest(struct tvm *t, struct state *s, uint64_t off)
{
	uint8_t *top = (uint8_t *)tvm_ptr(t, DATA) + off;
	memcpy(top - STK, s->stack, STK);
	/* run() sets rax = DATA + off, rbx = 0x1234 and zeroes the rest:
	 * the other registers come from a prefix */
	uint8_t p[sizeof(body) + 96], *q = p;
	const uint64_t v[] = {s->rcx, s->rdx, s->rsi, s->rdi, s->rbp, s->r9, s->r12};
	static const uint8_t mov[][2] = {{0x48, 0xb9}, {0x48, 0xba}, {0x48, 0xbe}, {0x48, 0xbf},
					 {0x48, 0xbd}, {0x49, 0xb9}, {0x49, 0xbc}};
	for (int k = 0; k < 7; k++) {
		memcpy(q, mov[k], 2);
		memcpy(q + 2, &v[k], 8);
		q += 10;
	}
	memcpy(q, body, sizeof(body));
	uint32_t err;
	int r = run(t, p, (size_t)(q - p) + sizeof(body), 0, 0, off, &err);
	if (r != -1)
		return r;
	struct kvm_regs rg;
	ioctl(t->vcpu, KVM_GET_REGS, &rg);
	s->rbx = rg.rbx, s->rcx = rg.rcx, s->rdx = rg.rdx, s->rsi = rg.rsi;
	s->rdi = rg.rdi, s->rbp = rg.rbp, s->r9 = rg.r9, s->r12 = rg.r12;
	memcpy(s->stack, top - STK, STK);
	return 0;
}

static int same(const struct state *a, const struct state *b, const char *what)
{
	int d = 0;
	if (memcmp(a, b, offsetof(struct state, stack))) {
		printf("# %s: GPRs differ: rbx %#llx/%#llx rdx %#llx/%#llx rsi %#llx/%#llx "
		       "rdi %#llx/%#llx rbp %#llx/%#llx r9 %#llx/%#llx\n",
		       what, (unsigned long long)a->rbx, (unsigned long long)b->rbx,
		       (unsigned long long)a->rdx, (unsigned long long)b->rdx,
		       (unsigned long long)a->rsi, (unsigned long long)b->rsi,
		       (unsigned long long)a->rdi, (unsigned long long)b->rdi,
		       (unsigned long long)a->rbp, (unsigned long long)b->rbp,
		       (unsigned long long)a->r9, (unsigned long long)b->r9);
		d = 1;
	}
	/* CALL's return address differs (guest and host addresses) */
	uint8_t sa[STK], sb[STK];
	memcpy(sa, a->stack, STK);
	memcpy(sb, b->stack, STK);
	memset(sa + STK - 0x70, 0, 8);
	memset(sb + STK - 0x70, 0, 8);
	if (memcmp(sa, sb, STK))
		printf("# %s: stack bytes differ\n", what), d = 1;
	return !d;
}

int main(void)
{
	struct tvm t;
	if (gate_create(&t))
		return 1;
	uint8_t *fn = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *nstack = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fn == MAP_FAILED || nstack == MAP_FAILED) {
		printf("Bail out! mmap\n");
		return 1;
	}
	memcpy(fn, body, sizeof(body));
	fn[sizeof(body)] = 0xc3;
	/* stack tops from 0x100 below a page boundary to 0x100 above it */
	for (int k = 0; k <= 16; k++) {
		uint64_t off = 0x1f00 + 0x10 * (uint64_t)k * 2;
		struct state a, b;
		init(&a);
		init(&b);
		native(&a, fn, nstack + off);
		int v = guest(&t, &b, off);
		char what[96];
		snprintf(what, sizeof(what), "64 iterations, stack top at page offset %#x: as native",
			 (unsigned)(off & 0xfff));
		ok(v == 0 && same(&a, &b, what), what);
	}
	printf("1..%d\n", n);
	tvm_destroy(&t);
	return fails ? 1 : 0;
}
