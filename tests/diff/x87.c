/*
 * Differential x87 tester: random x87 instruction streams from a random
 * FPU state (NaNs, infinities, denormals, pseudo-denormals, unnormals, all
 * precision and rounding controls, random TOP and tags), run natively in
 * this process at CPL 3 and in a 64-bit ring-3 guest under KVM, compared
 * after every instruction: the FXSAVE image (FCW, FSW, abridged FTW, MXCSR,
 * ST0-7 with their padding), RAX (FNSTSW AX) and RFLAGS (FCOMI, FCMOVcc),
 * then the data window byte by byte (stores), then the exception that ended
 * the stream (#MF for an unmasked exception at the next waiting
 * instruction, #UD for the escape space's holes).  A plain KVM client;
 * prints TAP.  Layout and the two worlds' entry code are diff.c's
 * (layout.h, kernel.S).
 *
 * Not compared: FOP, FIP, FDP (AMD processors save them only while an
 * exception is pending), FLDENV/FNSTENV/FRSTOR/FNSAVE (their images carry
 * CS/DS selectors, which differ between the process and the guest); the
 * guest tests cover those.
 *
 * Environment: SKVM_X87_N (instructions, default 200000), SKVM_DIFF_SEED.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include <cpuid.h>

#include "layout.h"
#include "world.h"

#define NSTEPS 30
#define SLOT 512
#define INIT_IMG (DIFF_MISC + 0x200)	/* FXRSTOR64 image of the start state */
#define STACK_TOP (DIFF_MISC + 0x700)
#define END_VEC 0x100

/* An 80-bit value that finds corner cases. */
static void rnd_f80(uint8_t *p)
{
	uint64_t sig = rnd();
	uint16_t exp = (uint16_t)(0x3fff - 70 + rn(140));
	switch (rn(16)) {
	case 0: sig = 0; exp = 0; break;			/* zero */
	case 1: sig = 1ull << 63; exp = 0x7fff; break;		/* infinity */
	case 2: sig |= 3ull << 62; exp = 0x7fff; break;	/* QNaN */
	case 3: sig = (sig | 1) & ~(1ull << 62); sig |= 1ull << 63; exp = 0x7fff; break; /* SNaN */
	case 4: sig &= ~(1ull << 63); exp = 0; break;		/* denormal */
	case 5: sig |= 1ull << 63; exp = 0; break;		/* pseudo-denormal */
	case 6: sig &= ~(1ull << 63); break;			/* unnormal */
	case 7: sig &= ~(1ull << 63); exp = 0x7fff; break;	/* pseudo-NaN/inf */
	case 8: sig |= 1ull << 63; exp = (uint16_t)rn(0x7fff); break; /* any normal */
	case 9: sig = 1ull << 63; exp = 0x3fff; break;		/* 1.0 */
	case 10: sig |= 1ull << 63; exp = (uint16_t)(rn(2) ? 1 + rn(8) : 0x7ffe - rn(8)); break;
	case 11: sig = (1ull << 63) | (rnd() & 0xffffffffff000000ull); break; /* short significand */
	default: sig |= 1ull << 63; break;
	}
	if (rn(2))
		exp |= 0x8000;
	memcpy(p, &sig, 8);
	memcpy(p + 8, &exp, 2);
}

/* Memory contents: specials of every format at every alignment. */
static void fill_window(uint8_t *w)
{
	for (int off = 0; off < DIFF_WIN_SIZE; off += 16) {
		uint8_t *p = w + off;
		uint64_t a = rnd(), b = rnd();
		memcpy(p, &a, 8);
		memcpy(p + 8, &b, 8);
		switch (rn(8)) {
		case 0: rnd_f80(p); break;
		case 1: { /* f64 specials */
			static const uint64_t v[] = {0, 0x8000000000000000ull, 0x7ff0000000000000ull,
				0x7ff8000000000000ull, 0x7ff0000000000001ull, 0x0000000000000001ull,
				0x000fffffffffffffull, 0x3ff0000000000000ull, 0x7fefffffffffffffull,
				0xc000000000000000ull};
			uint64_t x = v[rn(10)] ^ (rn(2) ? rnd() & 0xff : 0);
			memcpy(p + 8 * rn(2), &x, 8);
			break;
		}
		case 2: { /* f32 specials */
			static const uint32_t v[] = {0, 0x80000000u, 0x7f800000u, 0x7fc00000u,
				0x7f800001u, 1, 0x007fffffu, 0x3f800000u, 0x7f7fffffu};
			uint32_t x = v[rn(9)];
			memcpy(p + 4 * rn(4), &x, 4);
			break;
		}
		case 3: { /* small integers, integer extremes, valid BCD */
			int64_t v = (int64_t)rn(200) - 100;
			if (rn(3) == 0)
				v = rn(2) ? INT64_MIN : (int64_t)0x8000;
			memcpy(p, &v, 8);
			uint64_t bcd = 0;
			for (int k = 0; k < 16; k++)
				bcd |= (uint64_t)rn(10) << (4 * k);
			memcpy(p + 8, &bcd, 8);
			break;
		}
		}
	}
}

/* ---- the instruction forms ---- */

/* Memory forms that leave out the environment images (see the head). */
static int mem_form_ok(uint8_t esc, int reg, int sse3)
{
	if ((esc == 0xd9 && (reg == 4 || reg == 6)) || (esc == 0xdd && (reg == 4 || reg == 6)))
		return 0;
	if (reg == 1 && (esc == 0xdb || esc == 0xdd || esc == 0xdf) && !sse3)
		return 0; /* FISTTP */
	return 1;
}

/* Register forms the SDM's opcode map leaves blank and processors #UD
 * (A.5.2; the blanks that alias documented forms run): kept rare, as each
 * ends its stream. */
static int reg_hole(uint8_t esc, uint8_t m)
{
	switch (esc) {
	case 0xd9: return (m >= 0xd1 && m <= 0xd7) || m == 0xe2 || m == 0xe3 || m == 0xe6 ||
			  m == 0xe7 || m == 0xef;
	case 0xda: return m >= 0xe0 && m != 0xe9;
	case 0xdb: return (m >= 0xe5 && m <= 0xe7) || m >= 0xf8;
	case 0xdd: return m >= 0xf0;
	case 0xde: return m >= 0xd8 && m <= 0xdf && m != 0xd9;
	case 0xdf: return (m >= 0xe1 && m <= 0xe7) || m >= 0xf8;
	}
	return 0;
}

static int mem_hole(uint8_t esc, int reg)
{
	return (esc == 0xd9 && reg == 1) || (esc == 0xdb && (reg == 4 || reg == 6)) ||
	       (esc == 0xdd && reg == 5);
}

struct stream {
	struct code c;
	int nsteps;
	uint32_t step_off[NSTEPS + 1];
	uint8_t img[512];
	uint8_t win[DIFF_WIN_SIZE];
};

static int sse3_both;

/* unmask: FCW may unmask exceptions (then #MF ends streams); else every
 * FCW the stream sees masks them all. */
static void gen_stream(struct stream *s, int unmask)
{
	s->c.len = 0;
	fill_window(s->win);
	/* the start state */
	memset(s->img, 0, sizeof(s->img));
	uint16_t fcw = (uint16_t)(0x40 | (rnd() & 0x0f3f));
	if (!unmask)
		fcw |= 0x3f;
	uint16_t fsw = (uint16_t)(rnd() & 0x4700) | (uint16_t)(rn(8) << 11);
	if (!unmask)
		fsw |= (uint16_t)(rnd() & 0x3f);
	uint8_t ftw = (uint8_t)rnd();
	memcpy(s->img, &fcw, 2);
	memcpy(s->img + 2, &fsw, 2);
	s->img[4] = ftw;
	uint32_t mxcsr = 0x1f80;
	memcpy(s->img + 24, &mxcsr, 4);
	for (int r = 0; r < 8; r++)
		rnd_f80(s->img + 32 + 16 * r);
	/* mov $INIT_IMG,%esi; fxrstor64 (%rsi); mov $WIN,%edi; mov $SLOTS,%esi;
	 * mov $STACK,%esp; xor %eax,%eax; push $flags; popfq */
	emit8(&s->c, 0xbe), emit32(&s->c, INIT_IMG);
	static const uint8_t fxrstor[] = {0x48, 0x0f, 0xae, 0x0e};
	emit(&s->c, fxrstor, 4);
	emit8(&s->c, 0xbf), emit32(&s->c, DIFF_WIN);
	emit8(&s->c, 0xbe), emit32(&s->c, DIFF_SLOTS);
	emit8(&s->c, 0xbc), emit32(&s->c, STACK_TOP);
	emit8(&s->c, 0x31), emit8(&s->c, 0xc0);
	emit8(&s->c, 0x68), emit32(&s->c, (uint32_t)(rnd() & 0x8d5) | 0x202);
	emit8(&s->c, 0x9d);
	s->nsteps = NSTEPS;
	for (int i = 0; i < NSTEPS; i++) {
		s->step_off[i] = (uint32_t)s->c.len;
		uint8_t esc = (uint8_t)(0xd8 + rn(8));
		if (rn(3) == 0) {
			int reg;
			do
				reg = (int)rn(8);
			while (!mem_form_ok(esc, reg, sse3_both) || (mem_hole(esc, reg) && rn(16)) ||
			       (!unmask && esc == 0xd9 && reg == 5)); /* FLDCW */
			/* esc [rdi + disp32] */
			emit8(&s->c, esc);
			emit8(&s->c, (uint8_t)(0x80 | reg << 3 | 7));
			uint32_t disp = 0x100 + rn(DIFF_WIN_SIZE - 0x200);
			if (rn(2))
				disp &= ~7u;
			emit32(&s->c, disp);
		} else {
			uint8_t m;
			do
				m = (uint8_t)(0xc0 + rn(64));
			while (reg_hole(esc, m) && rn(16));
			emit8(&s->c, esc);
			emit8(&s->c, m);
		}
		/* fxsave64 (%rsi); mov %rax,464(%rsi); pushfq; popq 472(%rsi);
		 * lea 512(%rsi),%rsi */
		static const uint8_t st[] = {0x48, 0x0f, 0xae, 0x06,
			0x48, 0x89, 0x86, 0xd0, 0x01, 0x00, 0x00,
			0x9c, 0x8f, 0x86, 0xd8, 0x01, 0x00, 0x00,
			0x48, 0x8d, 0xb6, 0x00, 0x02, 0x00, 0x00};
		emit(&s->c, st, sizeof(st));
	}
	s->step_off[NSTEPS] = (uint32_t)s->c.len;
	static const uint8_t jend[] = {0xff, 0x24, 0x25};
	emit(&s->c, jend, 3);
	emit32(&s->c, DIFF_END_PTR);
}

struct result {
	uint8_t slots[NSTEPS * SLOT];
	uint8_t win[DIFF_WIN_SIZE];
	struct fault fault;
};

static void place(uint8_t *user, const struct stream *s, uint64_t end)
{
	memcpy(user + (DIFF_CODE - DIFF_USER), s->c.b, s->c.len);
	memset(user + (DIFF_SLOTS - DIFF_USER), 0xa5, NSTEPS * SLOT);
	memcpy(user + (INIT_IMG - DIFF_USER), s->img, 512);
	memcpy(user + (DIFF_END_PTR - DIFF_USER), &end, 8);
	memcpy(user + (DIFF_WIN - DIFF_USER), s->win, DIFF_WIN_SIZE);
}

static void collect(const uint8_t *user, struct result *r)
{
	memcpy(r->slots, user + (DIFF_SLOTS - DIFF_USER), sizeof(r->slots));
	memcpy(r->win, user + (DIFF_WIN - DIFF_USER), DIFF_WIN_SIZE);
}

/* ---- native world (kernel.S) ---- */
static void native_run(const struct stream *s, struct result *r)
{
	place(native_user, s, (uint64_t)(uintptr_t)diff_native_end);
	native_faulted = 0;
	memset(&native_fault, 0, sizeof(native_fault));
	diff_native_enter();
	/* the stream leaves the FPU as it pleases (a pending exception too) */
	uint32_t mx = 0x1f80;
	__asm__ volatile("fninit\n\tldmxcsr %0" : : "m"(mx));
	collect(native_user, r);
	r->fault = native_fault;
	if (!native_faulted)
		r->fault.vec = END_VEC;
}

/* ---- guest world ---- */
static int guest_setup(char *err, size_t n)
{
	int r = guest_map(DIFF_MISC + 0x1000, err, n);
	if (!r)
		r = guest_sregs(0, err, n);	/* FXSAVE has the SSE state */
	return r ? r : guest_enter(err, n);
}

static int guest_run(const struct stream *s, struct result *r, char *err, size_t n)
{
	uint8_t *user = tvm_ptr(&vm, DIFF_USER);
	place(user, s, DIFF_GUEST_END);
	if (ioctl(vm.vcpu, KVM_RUN, 0) < 0) {
		snprintf(err, n, "KVM_RUN: %s", strerror(errno));
		return -1;
	}
	struct kvm_run *run = vm.run;
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != DIFF_PORT) {
		snprintf(err, n, "unexpected exit %u", run->exit_reason);
		if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
		    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
			return 2;
		return -1;
	}
	collect(user, r);
	memcpy(&r->fault, tvm_ptr(&vm, DIFF_FAULT), sizeof(r->fault));
	if (r->fault.vec == 13 && r->fault.rip == DIFF_GUEST_END)
		r->fault.vec = END_VEC;
	return 0;
}

static int steps_run(const struct stream *s, const struct result *r)
{
	if (r->fault.vec == END_VEC)
		return s->nsteps;
	int n = 0;
	while (n < s->nsteps && r->fault.rip >= DIFF_CODE + s->step_off[n + 1])
		n++;
	return n + 1 > s->nsteps ? s->nsteps : n + 1;
}

/* ---- comparison ---- */
static int nreport;

static void dump_step(const struct stream *s, int i)
{
	printf("#   step %d:", i);
	for (uint32_t k = s->step_off[i]; k < s->step_off[i] + 6 && k < s->step_off[i + 1]; k++)
		printf(" %02x", s->c.b[k]);
	printf("\n");
}

static void dump_img(const char *who, const uint8_t *p)
{
	uint16_t fcw, fsw;
	memcpy(&fcw, p, 2);
	memcpy(&fsw, p + 2, 2);
	printf("#   %s fcw %04x fsw %04x ftw %02x rax %016" PRIx64 " rflags %" PRIx64 "\n", who, fcw,
	       fsw, p[4], *(const uint64_t *)(p + 464), *(const uint64_t *)(p + 472));
	for (int r = 0; r < 8; r++) {
		printf("#     st%d ", r);
		for (int k = 9; k >= 0; k--)
			printf("%02x", p[32 + 16 * r + k]);
		printf("\n");
	}
}

/* The compared bytes of a slot: FCW FSW FTW (0-4), MXCSR (24-27), the ST
 * area (32-159), RAX and RFLAGS (464-479). */
static int slot_differs(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 5) || memcmp(a + 24, b + 24, 4) || memcmp(a + 32, b + 32, 128) ||
	       memcmp(a + 464, b + 464, 16);
}

static int compare(const struct stream *s, const struct result *a, const struct result *b)
{
	const char *what = NULL;
	int step = -1;
	for (int i = 0; i < s->nsteps && !what; i++)
		if (slot_differs(a->slots + i * SLOT, b->slots + i * SLOT)) {
			step = i;
			what = "state";
		}
	if (!what && (a->fault.vec != b->fault.vec ||
		      (a->fault.vec != END_VEC && a->fault.rip != b->fault.rip)))
		what = "exception";
	if (!what && memcmp(a->win, b->win, DIFF_WIN_SIZE))
		what = "memory";
	if (!what)
		return 0;
	if (nreport++ < (getenv("SKVM_DIFF_VERBOSE") ? 1000 : 8)) {
		printf("# mismatch (%s)\n", what);
		if (step >= 0) {
			if (step > 0) {
				dump_step(s, step - 1);
				dump_img("before", a->slots + (step - 1) * SLOT);
			}
			dump_step(s, step);
			dump_img("native", a->slots + step * SLOT);
			dump_img("kvm   ", b->slots + step * SLOT);
		} else if (what[0] == 'e') {
			printf("#   native vec %" PRIu64 " rip %#" PRIx64 ", kvm vec %" PRIu64
			       " rip %#" PRIx64 "\n", a->fault.vec, a->fault.rip, b->fault.vec,
			       b->fault.rip);
		} else {
			for (int k = 0; k < DIFF_WIN_SIZE; k++)
				if (a->win[k] != b->win[k]) {
				{
					printf("#   at %#x: native %02x kvm %02x\n", DIFF_WIN + k,
					       a->win[k], b->win[k]);
					/* the memory-form steps that reach it */
					for (int i = 0; i < steps_run(s, a); i++) {
						const uint8_t *c = s->c.b + s->step_off[i];
						uint32_t d;
						memcpy(&d, c + 2, 4);
						if ((c[1] & 0xc0) == 0x80 && k >= (int)d - 16 && k < (int)d + 16)
							dump_step(s, i);
					}
				}
					break;
				}
		}
	}
	return 1;
}

int main(void)
{
	const char *env = getenv("SKVM_X87_N");
	long total = env ? atol(env) : 200000;
	env = getenv("SKVM_DIFF_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5eed0087;
	rng_state = seed | 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# seed %#" PRIx64 " (SKVM_DIFF_SEED), %ld instructions (SKVM_X87_N)\n", seed,
	       total);
	char err[200];
	if (native_setup(DIFF_MISC + 0x1000, err, sizeof(err))) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	static const char *const names[] = {"x87, exceptions masked", "x87, exceptions unmasked"};
	int g = guest_setup(err, sizeof(err));
	if (g) {
		const char *why = tvm_allow_unimpl() && g == 2 ? "engine: not implemented" : NULL;
		printf("not ok 1 - guest setup: %s%s%s\n1..1\n", err, why ? " # TODO " : "",
		       why ? why : "");
		return why ? 0 : 1;
	}
	if (!guest_has(1, 0, 3, 0) || !guest_has(1, 0, 3, 24)) {
		printf("1..0 # SKIP the guest's CPUID has no FPU/FXSR\n");
		return 0;
	}
	sse3_both = host_has(1, 0, 2, 0) && guest_has(1, 0, 2, 0);
	if (!sse3_both)
		printf("# FISTTP left out (SSE3 not in both the host's and the guest's CPUID)\n");

	static struct stream s;
	static struct result ra, rb;
	int failed = 0, tapn = 0;
	long vec_seen[3] = {0};
	for (int pass = 0; pass < 2; pass++) {
		long budget = pass ? total / 4 : total - total / 4;
		long done = 0, streams = 0, bad = 0;
		int gave_up = 0;
		while (done < budget) {
			gen_stream(&s, pass);
			native_run(&s, &ra);
			int r = guest_run(&s, &rb, err, sizeof(err));
			if (r) {
				gave_up = r;
				break;
			}
			if (!streams && !pass) {
				int quiet = nreport;
				nreport = 1000;
				rb.slots[SLOT + 40] ^= 1;
				int caught = compare(&s, &ra, &rb);
				rb.slots[SLOT + 40] ^= 1;
				nreport = quiet;
				printf("%sok %d - the comparison catches a flipped ST bit\n",
				       caught ? "" : "not ", ++tapn);
				failed += !caught;
			}
			vec_seen[ra.fault.vec == END_VEC ? 0 : ra.fault.vec == 16 ? 1 : 2]++;
			done += steps_run(&s, &ra);
			streams++;
			bad += compare(&s, &ra, &rb);
		}
		if (gave_up) {
			int todo = gave_up == 2 && tvm_allow_unimpl();
			printf("not ok %d - %s: %s%s\n", ++tapn, names[pass], err,
			       todo ? " # TODO engine: not implemented" : "");
			failed += !todo;
			continue;
		}
		printf("%sok %d - %s: %ld instructions in %ld streams, %ld streams differ\n",
		       bad ? "not " : "", ++tapn, names[pass], done, streams, bad);
		failed += bad != 0;
	}
	printf("# streams ended: %ld at the end, %ld by #MF, %ld by another exception\n",
	       vec_seen[0], vec_seen[1], vec_seen[2]);
	printf("1..%d\n", tapn);
	tvm_destroy(&vm);
	return failed ? 1 : 0;
}
