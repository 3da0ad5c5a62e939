/*
 * Benchmark runner: each job natively, then as a long-mode guest at CPL 3
 * on whatever /dev/kvm this process gets (the host's, or softkvm's under
 * `softkvm run`), in the same invocation.  Prints per job the native and
 * guest times, the slowdown, and guest instructions per second estimated
 * from the native run's retired user instructions (perf counter; the guest
 * runs the same C compiled the same way).
 *
 * Then the dirty-tracking overhead: the memset job again with its memory
 * logged through the bitmap (KVM_MEM_LOG_DIRTY_PAGES) and through the dirty
 * ring (harvested and reset at each KVM_EXIT_DIRTY_RING_FULL), as ratios
 * to the same run without logging; best of three runs, each after a
 * harvest that re-arms every page.
 *
 * Every job runs SKVM_BENCH_REPS times (default 5) natively and as the
 * guest, alternating; the times shown are the best of each side, and the
 * result must be the same in every run.
 *
 * Usage: bench GUEST.bin.  SKVM_BENCH_SCALE (default 1) scales the work;
 * SKVM_BENCH_ONLY=NAME runs only the jobs whose name starts with NAME
 * ("dirty": only the dirty-tracking runs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "jobs.h"
#include "tvm.h"

#define MEM_SIZE (BENCH_BUF + (576ull << 20))
#define MIB (1ull << 20)

struct job {
	const char *name;
	uint64_t job, arg[3];
	int buf_args;	/* how many leading args are buffer offsets */
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int perf_fd = -1;

static void perf_open(void)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_HARDWARE;
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	a.disabled = 1;
	perf_fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static uint8_t *read_image(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	static uint8_t img[1 << 20];
	*len = fread(img, 1, sizeof(img), f);
	fclose(f);
	return img;
}

/* Native: the job's buffer offsets are relative to a host buffer. */
static uint64_t run_native(const struct job *j, uint8_t *buf, double *secs, long long *insns)
{
	struct bench_params p = { .job = j->job };
	for (int i = 0; i < 3; i++)
		p.arg[i] = j->arg[i] + (i < j->buf_args ? (uint64_t)(uintptr_t)buf : 0);
	if (perf_fd >= 0) {
		ioctl(perf_fd, PERF_EVENT_IOC_RESET, 0);
		ioctl(perf_fd, PERF_EVENT_IOC_ENABLE, 0);
	}
	double t0 = now();
	uint64_t r = bench_job(&p);
	*secs = now() - t0;
	*insns = -1;
	if (perf_fd >= 0) {
		ioctl(perf_fd, PERF_EVENT_IOC_DISABLE, 0);
		if (read(perf_fd, insns, sizeof(*insns)) != sizeof(*insns))
			*insns = -1;
	}
	return r;
}

static struct tvm vm;

/* The dirty ring of the VM being timed, when it has one. */
#define DIRTY_RING_BYTES (1u << 20) /* the largest KVM allows: 65536 entries */
static struct kvm_dirty_gfn *dirty_ring;
static unsigned dirty_fetch;

/* Guest memory logged with slot_flags, and a dirty ring if ring_bytes. */
static int guest_prepare(struct tvm *t, const uint8_t *img, size_t len, uint32_t slot_flags,
			 uint32_t ring_bytes, char *err, size_t n)
{
	if (tvm_create_logged(t, MEM_SIZE, slot_flags, ring_bytes) || tvm_set_cpuid(t)) {
		snprintf(err, n, "%s: %s", t->err, strerror(t->err_errno));
		return -1;
	}
	dirty_ring = NULL;
	dirty_fetch = 0;
	if (ring_bytes) {
		dirty_ring = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, t->vcpu,
				  KVM_DIRTY_LOG_PAGE_OFFSET * 4096);
		if (dirty_ring == MAP_FAILED) {
			snprintf(err, n, "mmap dirty ring: %s", strerror(errno));
			return -1;
		}
	}
	memcpy(tvm_ptr(t, BENCH_LOAD), img, len);
	memset(tvm_ptr(t, BENCH_BUF), 0, MEM_SIZE - BENCH_BUF);
	uint64_t *idt = tvm_ptr(t, 0x9000);
	for (int v = 0; v < 256; v++) {
		idt[2 * v] = (BENCH_FAULT & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
			     ((uint64_t)(BENCH_FAULT >> 16 & 0xffff) << 48);
		idt[2 * v + 1] = 0;
	}
	return 0;
}

/* KVM_EXIT_DIRTY_RING_FULL: harvest every dirty entry in order, reset. */
static void ring_harvest(struct tvm *t)
{
	const unsigned n = DIRTY_RING_BYTES / sizeof(struct kvm_dirty_gfn);
	for (;; dirty_fetch++) {
		struct kvm_dirty_gfn *g = &dirty_ring[dirty_fetch % n];
		if (!(__atomic_load_n(&g->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
			break;
		__atomic_store_n(&g->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
	}
	ioctl(t->vm, KVM_RESET_DIRTY_RINGS, 0);
}

/* Harvest everything (bitmap: get both slots' logs; ring: reset). */
static void dirty_rearm_all(struct tvm *t, uint32_t flags, uint32_t ring_bytes)
{
	if (ring_bytes) {
		ring_harvest(t);
	} else if (flags & KVM_MEM_LOG_DIRTY_PAGES) {
		static uint64_t bm[MEM_SIZE / 4096 / 64 + 1];
		for (uint32_t slot = 0; slot < 2; slot++) {
			struct kvm_dirty_log l = {.slot = slot, .dirty_bitmap = bm};
			ioctl(t->vm, KVM_GET_DIRTY_LOG, &l);
		}
	}
}

/* 0 done, 1 the backend gave up (internal error), -1 other failure */
static int run_guest(const struct job *j, uint64_t *result, double *secs, char *err, size_t n)
{
	struct bench_params *p = tvm_ptr(&vm, BENCH_PARAMS);
	memset(p, 0, sizeof(*p));
	p->job = j->job;
	for (int i = 0; i < 3; i++)
		p->arg[i] = j->arg[i] + (i < j->buf_args ? BENCH_BUF : 0);
	p->result = 0xbadbadbadull;
	struct kvm_sregs sr;
	if (tvm_setup_mode(&vm, 64, BENCH_LOAD, 1) || ioctl(vm.vcpu, KVM_GET_SREGS, &sr) < 0) {
		snprintf(err, n, "%s: %s", vm.err, strerror(vm.err_errno));
		return -1;
	}
	sr.idt.base = 0x9000;
	sr.idt.limit = 4095;
	if (ioctl(vm.vcpu, KVM_SET_SREGS, &sr) < 0) {
		snprintf(err, n, "KVM_SET_SREGS: %s", strerror(errno));
		return -1;
	}
	double t0 = now();
	int r;
	while ((r = ioctl(vm.vcpu, KVM_RUN, 0)) == 0 && dirty_ring &&
	       vm.run->exit_reason == KVM_EXIT_DIRTY_RING_FULL)
		ring_harvest(&vm);
	*secs = now() - t0;
	if (r < 0) {
		snprintf(err, n, "KVM_RUN: %s", strerror(errno));
		return -1;
	}
	struct kvm_run *run = vm.run;
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		struct kvm_regs regs;
		ioctl(vm.vcpu, KVM_GET_REGS, &regs);
		snprintf(err, n, "KVM_EXIT_INTERNAL_ERROR suberror %u at rip %#llx",
			 run->internal.suberror, (unsigned long long)regs.rip);
		return 1;
	}
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != BENCH_PORT) {
		snprintf(err, n, "unexpected exit %u", run->exit_reason);
		return -1;
	}
	struct kvm_regs regs;
	ioctl(vm.vcpu, KVM_GET_REGS, &regs);
	const uint8_t *at = tvm_ptr(&vm, regs.rbx < MEM_SIZE ? regs.rbx : 0);
	if (regs.rbx >= MEM_SIZE || *at != 0xf4) {
		snprintf(err, n, "the job faulted at rip %#llx", (unsigned long long)regs.rbx);
		return -1;
	}
	*result = p->result;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: bench GUEST.bin\n");
		return 2;
	}
	const char *e = getenv("SKVM_BENCH_SCALE");
	double scale = e ? atof(e) : 1.0;
	if (scale <= 0)
		scale = 1.0;
	uint64_t s = (uint64_t)(scale * 1000);
	const struct job jobs[] = {
		{ "intloop", JOB_INTLOOP, { 200000 * s } },
		{ "memset 512MiB", JOB_MEMSET, { 0, 512 * MIB * s / 1000 & ~7ull, 0x5a5a5a5a5a5a5a5aull }, 1 },
		{ "memcpy 256MiB", JOB_MEMCPY, { 256 * MIB, 0, 256 * MIB * s / 1000 & ~7ull }, 2 },
		{ "fib(37)", JOB_FIB, { 37 } },
		{ "sieve 16MiB", JOB_SIEVE, { 0, 16 * MIB * s / 1000 }, 1 },
		{ "matmul 384 f64", JOB_MATMUL, { 0, 384 }, 1 },
		{ "saxpy 16MiB", JOB_SAXPY, { 0, 16 * MIB, 4 * MIB * s / 1000 }, 2 },
	};
	e = getenv("SKVM_BENCH_REPS");
	int reps = e && atoi(e) > 0 ? atoi(e) : 5;
	if (s > 1000) {
		fprintf(stderr, "bench: SKVM_BENCH_SCALE must be <= 1 (guest memory is sized for 1)\n");
		return 2;
	}
	size_t len;
	const uint8_t *img = read_image(argv[1], &len);
	if (!img) {
		fprintf(stderr, "bench: cannot read %s\n", argv[1]);
		return 1;
	}
	uint8_t *buf = mmap(NULL, 576 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/* Touch every buffer page first on both sides: the jobs time the CPU,
	 * not the host's first-touch page faults. */
	memset(buf, 0, 576 * MIB);
	perf_open();
	char err[200];
	int have_guest = guest_prepare(&vm, img, len, 0, 0, err, sizeof(err)) == 0;
	if (!have_guest)
		printf("guest: %s\n", err);
	if (scale != 1.0)
		printf("SKVM_BENCH_SCALE %g: sizes and counts scaled (fib, matmul excepted)\n", scale);
	printf("%-14s %10s %10s %9s %12s %12s  %s\n", "job", "native s", "guest s", "slowdown",
	       "insns", "guest MIPS", "result");
	int bad = 0;
	const char *only = getenv("SKVM_BENCH_ONLY");
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		const struct job *j = &jobs[i];
		if (only && strncmp(j->name, only, strlen(only)))
			continue;
		/* Best of `reps` on each side: one run of a short job is at the
		 * mercy of the host scheduler and of the other tenants of a
		 * shared machine; the fastest run is the one least disturbed. */
		double tn = 1e9, tg = 1e9;
		long long insns = -1;
		uint64_t rn = 0, rg = 0;
		int g = have_guest ? 0 : -1;
		/* Native and guest runs alternate, so both sides see the same
		 * spells of a noisy machine. */
		for (int rep = 0; rep < reps; rep++) {
			double t;
			long long in;
			uint64_t r = run_native(j, buf, &t, &in);
			rn = rep && r != rn ? ~r : r; /* not reproducible: DIFFERENT */
			if (t < tn) {
				tn = t;
				insns = in;
			}
			if (g)
				continue;
			g = run_guest(j, &r, &t, err, sizeof(err));
			if (g == 0) {
				rg = rep && r != rg ? ~r : r;
				tg = t < tg ? t : tg;
			}
		}
		char ins[32] = "n/a", mips[32] = "n/a";
		if (insns >= 0)
			snprintf(ins, sizeof(ins), "%lld", insns);
		if (g == 0 && insns >= 0 && tg > 0)
			snprintf(mips, sizeof(mips), "%.1f", insns / tg / 1e6);
		if (g == 0) {
			printf("%-14s %10.3f %10.3f %8.1fx %12s %12s  %s\n", j->name, tn, tg, tg / tn, ins,
			       mips, rn == rg ? "same" : "DIFFERENT");
			bad += rn != rg;
		} else {
			printf("%-14s %10.3f %10s %9s %12s %12s  %s\n", j->name, tn, "-", "-", ins, "-",
			       have_guest ? err : "no guest");
		}
	}
	if (have_guest)
		tvm_destroy(&vm);

	/* Dirty tracking: the memset job (jobs[1]) off, bitmap, ring. */
	static const struct {
		const char *name;
		uint32_t flags, ring;
	} modes[] = {
		{"off", 0, 0},
		{"bitmap", KVM_MEM_LOG_DIRTY_PAGES, 0},
		{"ring", KVM_MEM_LOG_DIRTY_PAGES, DIRTY_RING_BYTES},
	};
	double base = 0;
	if (only && strncmp("dirty", only, strlen(only)) &&
	    strncmp(jobs[1].name, only, strlen(only)))
		return bad ? 1 : 0; /* SKVM_BENCH_ONLY=dirty runs just this */
	printf("dirty tracking, %s:", jobs[1].name);
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		double tg = 1e9;
		uint64_t rg;
		int g = guest_prepare(&vm, img, len, modes[m].flags, modes[m].ring, err, sizeof(err));
		/* best of three, each after a harvest that re-arms every page,
		 * as the rounds of a migration do */
		for (int rep = 0; rep < 3 && !g; rep++) {
			double t;
			dirty_rearm_all(&vm, modes[m].flags, modes[m].ring);
			g = run_guest(&jobs[1], &rg, &t, err, sizeof(err));
			tg = t < tg ? t : tg;
		}
		if (g) {
			printf(" %s: %s;", modes[m].name, err);
		} else {
			if (m == 0)
				base = tg;
			printf(" %s %.3f s", modes[m].name, tg);
			if (m && base > 0)
				printf(" (%.2fx)", tg / base);
			printf("%s", m + 1 < sizeof(modes) / sizeof(modes[0]) ? "," : "");
		}
		if (dirty_ring)
			munmap(dirty_ring, modes[m].ring);
		tvm_destroy(&vm);
	}
	printf("\n");
	return bad ? 1 : 0;
}
