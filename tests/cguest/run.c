/*
 * The compiled-C guest's runner (cg.h): `run IMAGE.bin` runs IMAGE.native
 * (the same objects as a Linux program) and IMAGE.bin as a long-mode guest
 * on the /dev/kvm this process opens, and compares what the two print,
 * byte for byte.  TAP; an image whose name has "-v3" needs x86-64-v3 (the
 * host CPU's for the native run, the KVM's supported CPUID for the guest).
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cg.h"
#include "tvm.h"

static int tapn, failed;

static void tap(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tap(int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%sok %d - ", ok ? "" : "not ", ++tapn);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (!ok)
		failed = 1;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 4096;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			printf("Bail out! out of memory\n");
			exit(1);
		}
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* x86-64-v3 beyond v2 (what glibc checks), as leaf/register/bit */
static const struct { unsigned leaf; int reg, bit; const char *name; } v3_bits[] = {
	{1, 2, 12, "FMA"}, {1, 2, 22, "MOVBE"}, {1, 2, 26, "XSAVE"}, {1, 2, 28, "AVX"},
	{1, 2, 29, "F16C"}, {7, 1, 3, "BMI1"}, {7, 1, 5, "AVX2"}, {7, 1, 8, "BMI2"},
	{0x80000001, 2, 5, "LZCNT"}, {1, 2, 13, "CX16"}, {1, 2, 23, "POPCNT"},
	{1, 2, 0, "SSE3"}, {1, 2, 9, "SSSE3"}, {1, 2, 19, "SSE4.1"}, {1, 2, 20, "SSE4.2"},
	{0x80000001, 2, 0, "LAHF"},
};

static int host_v3(void)
{
	for (size_t i = 0; i < sizeof(v3_bits) / sizeof(v3_bits[0]); i++) {
		unsigned r[4];
		if (!__get_cpuid_count(v3_bits[i].leaf, 0, &r[0], &r[1], &r[2], &r[3]) ||
		    !(r[v3_bits[i].reg] >> v3_bits[i].bit & 1))
			return 0;
	}
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

/* The features of v3_bits the guest's CPUID lacks, into miss. */
static void guest_v3_missing(const struct tvm *t, char *miss, size_t n)
{
	miss[0] = 0;
	for (size_t i = 0; i < sizeof(v3_bits) / sizeof(v3_bits[0]); i++) {
		const struct kvm_cpuid_entry2 *e = tvm_cpuid(t, v3_bits[i].leaf, 0);
		__u32 r[4] = {0, 0, 0, 0};
		if (e)
			r[0] = e->eax, r[1] = e->ebx, r[2] = e->ecx, r[3] = e->edx;
		if (!(r[v3_bits[i].reg] >> v3_bits[i].bit & 1)) {
			size_t l = strlen(miss);
			snprintf(miss + l, n - l, "%s%s", l ? " " : "", v3_bits[i].name);
		}
	}
}

/* The native program's output and exit status (-1: did not run). */
static int run_native(const char *path, struct buf *out, double *secs)
{
	int fd[2];
	if (pipe(fd) < 0)
		return -1;
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	char tmp[4096];
	ssize_t r;
	while ((r = read(fd[0], tmp, sizeof(tmp))) > 0)
		buf_add(out, tmp, (size_t)r);
	close(fd[0]);
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	*secs = now() - t0;
	if (WIFSIGNALED(st))
		return 1000 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	static uint8_t img[4 << 20];
	*len = fread(img, 1, sizeof(img), f);
	fclose(f);
	return img;
}

/*
 * The guest until its exit port.  Returns its status (>= 0), or -1 with
 * why set (-2: the backend gave up, KVM_EXIT_INTERNAL_ERROR).
 */
static int run_guest(struct tvm *t, const uint8_t *img, size_t len, struct buf *out,
		     double *secs, char *why, size_t wn)
{
	memcpy(tvm_ptr(t, CG_LOAD), img, len);
	uint64_t *idt = tvm_ptr(t, CG_IDT);
	for (int v = 0; v < 32; v++) {
		uint64_t h = CG_STUBS + 16 * (uint64_t)v;
		idt[2 * v] = (h & 0xffff) | ((uint64_t)TVM_SEL_CODE64 << 16) | (0x8eull << 40) |
			     ((h >> 16 & 0xffff) << 48);
		idt[2 * v + 1] = h >> 32;
	}
	struct kvm_sregs sr;
	if (tvm_setup_mode(t, 64, CG_LOAD, 1) || ioctl(t->vcpu, KVM_GET_SREGS, &sr) < 0) {
		snprintf(why, wn, "%s: %s", t->err, strerror(t->err_errno));
		return -1;
	}
	sr.idt.base = CG_IDT;
	sr.idt.limit = 32 * 16 - 1;
	if (ioctl(t->vcpu, KVM_SET_SREGS, &sr) < 0) {
		snprintf(why, wn, "KVM_SET_SREGS: %s", strerror(errno));
		return -1;
	}
	struct kvm_run *run = t->run;
	double t0 = now();
	for (;;) {
		if (ioctl(t->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(why, wn, "KVM_RUN: %s", strerror(errno));
			return -1;
		}
		*secs = now() - t0;
		struct kvm_regs regs;
		if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT) {
			const char *data = (const char *)run + run->io.data_offset;
			if (run->io.port == CG_PORT_OUT && run->io.size == 1) {
				buf_add(out, data, run->io.count);
				continue;
			}
			if (run->io.port == CG_PORT_EXIT && run->io.size == 4) {
				uint32_t v;
				memcpy(&v, data, 4);
				return (int)(v & 0x7fffffff);
			}
			if (run->io.port == CG_PORT_FAULT &&
			    ioctl(t->vcpu, KVM_GET_REGS, &regs) == 0) {
				snprintf(why, wn,
					 "exception %llu, error code %#llx, at %#llx:%#llx, cr2 %#llx",
					 regs.rax, regs.rbx, regs.rdi, regs.rcx, regs.rsi);
				return -1;
			}
		}
		ioctl(t->vcpu, KVM_GET_REGS, &regs);
		if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
			snprintf(why, wn, "KVM_EXIT_INTERNAL_ERROR suberror %u at rip %#llx",
				 run->internal.suberror, regs.rip);
			return -2;
		}
		snprintf(why, wn, "unexpected exit %u (io port %#x) at rip %#llx", run->exit_reason,
			 run->exit_reason == KVM_EXIT_IO ? run->io.port : 0, regs.rip);
		return -1;
	}
}

/* Line number (from 1) and the two versions of the first differing line. */
static void show_diff(const struct buf *a, const struct buf *b)
{
	size_t i = 0, line = 1, start = 0;
	while (i < a->n && i < b->n && a->p[i] == b->p[i]) {
		if (a->p[i] == '\n')
			line++, start = i + 1;
		i++;
	}
	printf("#   first difference at byte %zu, line %zu\n", i, line);
	const struct buf *v[2] = {a, b};
	const char *who[2] = {"native", "guest "};
	for (int k = 0; k < 2; k++) {
		size_t e = start;
		while (e < v[k]->n && v[k]->p[e] != '\n')
			e++;
		printf("#   %s: %.*s\n", who[k], (int)(e - start), v[k]->p + start);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: run IMAGE.bin (IMAGE.native beside it)\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(600); /* a guest that never reaches its exit port */
	const char *img_path = argv[1];
	const char *slash = strrchr(img_path, '/');
	char name[64];
	snprintf(name, sizeof(name), "%s", slash ? slash + 1 : img_path);
	char *dot = strrchr(name, '.');
	if (dot)
		*dot = 0;
	char native[4096];
	snprintf(native, sizeof(native), "%.*s.native",
		 (int)(strrchr(img_path, '.') ? strrchr(img_path, '.') - img_path
					       : (long)strlen(img_path)), img_path);
	int v3 = strstr(name, "-v3") != NULL;

	if (v3 && !host_v3()) {
		printf("ok 1 - %s: # SKIP the host CPU (or its OS) lacks x86-64-v3\n1..1\n", name);
		return 0;
	}
	struct buf nat = {0}, gst = {0};
	double tn = 0, tg = 0;
	int st = run_native(native, &nat, &tn);
	tap(st == 0, "%s: the native program ran (status %d, %zu bytes)", name, st, nat.n);

	size_t len;
	const uint8_t *img = read_file(img_path, &len);
	if (!img) {
		printf("Bail out! cannot read %s\n", img_path);
		return 1;
	}
	static struct tvm t;
	if (tvm_create(&t, CG_MEM) || tvm_set_cpuid(&t)) {
		tap(0, "%s: VM setup: %s: %s", name, t.err, strerror(t.err_errno));
		printf("1..%d\n", tapn);
		free(nat.p);
		return 1;
	}
	if (v3) {
		char miss[256];
		guest_v3_missing(&t, miss, sizeof(miss));
		tap(!miss[0], "%s: KVM_GET_SUPPORTED_CPUID offers x86-64-v3 (the host CPU has it)",
		    name);
		if (miss[0])
			printf("#   it lacks %s\n", miss);
		if (getenv("SKVM_CG_HOST_FEATURES")) {
			/* like SKVM_DIFF_HOST_FEATURES: the host CPU's bits added
			 * to the guest's CPUID, for a host that hides them though
			 * its guest ring 3 runs natively (PVM) */
			for (size_t i = 0; i < sizeof(v3_bits) / sizeof(v3_bits[0]); i++) {
				struct kvm_cpuid_entry2 *e =
					(struct kvm_cpuid_entry2 *)tvm_cpuid(&t, v3_bits[i].leaf, 0);
				if (!e)
					continue;
				__u32 *r[4] = {&e->eax, &e->ebx, &e->ecx, &e->edx};
				*r[v3_bits[i].reg] |= 1u << v3_bits[i].bit;
			}
			if (ioctl(t.vcpu, KVM_SET_CPUID2, t.cpuid) < 0)
				printf("# KVM_SET_CPUID2 with the host's bits: %s\n", strerror(errno));
		} else if (miss[0]) {
			printf("ok %d - %s: guest run # SKIP the guest's CPUID lacks x86-64-v3\n",
			       ++tapn, name);
			printf("1..%d\n", tapn);
			free(nat.p);
			tvm_destroy(&t);
			return failed;
		}
	}
	char why[256] = "";
	int gs = run_guest(&t, img, len, &gst, &tg, why, sizeof(why));
	if (gs == -2 && tvm_allow_unimpl())
		printf("not ok %d - %s: the guest ran to its exit port: %s # TODO engine: not implemented\n",
		       ++tapn, name, why);
	else
		tap(gs == 0, "%s: the guest ran to its exit port (status %d)%s%s", name, gs,
		    why[0] ? ": " : "", why);
	int same = nat.n == gst.n && !memcmp(nat.p, gst.p, nat.n);
	size_t lines = 0;
	for (size_t i = 0; i < nat.n; i++)
		lines += nat.p[i] == '\n';
	tap(same && nat.n > 0, "%s: guest output identical to native (%zu bytes, %zu lines)", name,
	    nat.n, lines);
	if (!same)
		show_diff(&nat, &gst);
	printf("# %s: native %.1f ms (with its fork and exec), guest %.1f ms\n", name, tn * 1e3,
	       tg * 1e3);
	printf("1..%d\n", tapn);
	tvm_destroy(&t);
	free(nat.p);
	free(gst.p);
	return failed;
}
