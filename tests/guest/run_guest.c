/*
 * Guest test runner: loads one guest ELF (a tests/guest .S file, see guest.h),
 * starts it in its declared mode and checks the exits against the guest's
 * declarations.  A plain KVM client; prints TAP.
 *
 * When the backend gives up on guest code (KVM_EXIT_INTERNAL_ERROR with
 * suberror KVM_INTERNAL_ERROR_EMULATION), or lacks an ioctl the setup needs,
 * the checks not reached fail, or with SKVM_ALLOW_UNIMPL=1 are TODO.
 * tests/api/tap-wrap.pl accepts such TODOs under softkvm only.  A wrong
 * value or a wrong exit is always a failure.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tvm.h"

enum { REC_MODE = 1, REC_CHECK, REC_IO, REC_MMIO, REC_HLT, REC_SHUTDOWN, REC_EINTR };
#define PORT_PASS 0xE0
#define PORT_FAIL 0xE1
#define GUEST_MEM (4u << 20)

struct rec {
	uint64_t type, a, b, c, d, len;
	const uint8_t *data;
	int reported;	/* checks: how often reported */
};

static struct rec recs[512];
static int nrecs, tap_n, failed;
static const char *todo;	/* set once the backend gave up honestly */
static volatile sig_atomic_t timed_out;

__attribute__((format(printf, 2, 3))) static void tap(int ok, const char *fmt, ...)
{
	va_list ap;
	char desc[256];
	tap_n++;
	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	/* TAP: an unescaped '#' would start a directive */
	printf("%sok %d - ", ok ? "" : "not ", tap_n);
	for (const char *c = desc; *c; c++)
		printf(*c == '#' ? "\\#" : "%c", *c);
	if (!ok && todo)
		printf(" # TODO %s", todo);
	else if (!ok)
		failed++;
	printf("\n");
	fflush(stdout);
}

static const char *exit_name(uint32_t r)
{
	static char buf[32];
	switch (r) {
	case KVM_EXIT_IO: return "IO";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_HLT: return "HLT";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTR: return "INTR";
	case KVM_EXIT_DEBUG: return "DEBUG";
	}
	snprintf(buf, sizeof(buf), "exit %u", r);
	return buf;
}

static void describe_rec(const struct rec *r, char *buf, size_t n)
{
	switch (r->type) {
	case REC_IO:
		snprintf(buf, n, "%s port %#llx size %llu count %llu", r->a ? "OUT" : "IN",
			 (unsigned long long)r->b, (unsigned long long)r->c, (unsigned long long)r->d);
		break;
	case REC_MMIO:
		snprintf(buf, n, "MMIO %s %#llx len %llu", r->a ? "write" : "read",
			 (unsigned long long)r->b, (unsigned long long)r->c);
		break;
	case REC_HLT: snprintf(buf, n, "HLT"); break;
	case REC_SHUTDOWN: snprintf(buf, n, "SHUTDOWN"); break;
	case REC_EINTR: snprintf(buf, n, "EINTR on immediate_exit"); break;
	default: snprintf(buf, n, "record %llu", (unsigned long long)r->type);
	}
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	*len = ftell(f);
	rewind(f);
	uint8_t *b = malloc(*len);
	if (b && fread(b, 1, *len, f) != *len) {
		free(b);
		b = NULL;
	}
	fclose(f);
	return b;
}

/* Load PT_LOAD segments into guest memory; parse .skvm into recs. */
static int load_elf(struct tvm *t, const uint8_t *img, size_t len, uint64_t *entry)
{
	const Elf64_Ehdr *eh = (const void *)img;
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return -1;
	*entry = eh->e_entry;
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff + i * eh->e_phentsize);
		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_paddr + ph->p_memsz > GUEST_MEM || ph->p_offset + ph->p_filesz > len)
			return -1;
		memcpy(tvm_ptr(t, ph->p_paddr), img + ph->p_offset, ph->p_filesz);
	}
	const Elf64_Shdr *sh = (const void *)(img + eh->e_shoff);
	const char *strs = (const char *)img + sh[eh->e_shstrndx].sh_offset;
	for (int i = 0; i < eh->e_shnum; i++) {
		if (strcmp(strs + sh[i].sh_name, ".skvm"))
			continue;
		const uint8_t *p = img + sh[i].sh_offset, *end = p + sh[i].sh_size;
		while (p + 48 <= end && nrecs < (int)(sizeof(recs) / sizeof(recs[0]))) {
			struct rec *r = &recs[nrecs++];
			memcpy(r, p, 48);
			r->data = p + 48;
			r->reported = 0;
			p += 48 + ((r->len + 7) & ~7ull);
		}
	}
	return 0;
}

static struct rec *find_check(uint64_t id)
{
	for (int i = 0; i < nrecs; i++)
		if (recs[i].type == REC_CHECK && recs[i].a == id)
			return &recs[i];
	return NULL;
}

static int is_check_port(const struct kvm_run *run)
{
	return run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
	       (run->io.port == PORT_PASS || run->io.port == PORT_FAIL) && run->io.size == 2 &&
	       run->io.count == 1;
}

static void report_check(struct kvm_run *run)
{
	uint16_t id;
	memcpy(&id, (uint8_t *)run + run->io.data_offset, 2);
	struct rec *c = find_check(id);
	if (!c) {
		tap(0, "guest reported unknown check id %u", id);
		return;
	}
	c->reported++;
	tap(run->io.port == PORT_PASS, "check: %s", (const char *)c->data);
}

/* An exit that is not the expected one.  Honest emulation failures turn the
 * rest of the test into TODO. */
static void unexpected(struct tvm *t, const char *want)
{
	struct kvm_run *run = t->run;
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
	    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && tvm_allow_unimpl())
		todo = "not implemented (SKVM_ALLOW_UNIMPL)";
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	ioctl(t->vcpu, KVM_GET_REGS, &r);
	tap(0, "exit: want %s, got %s", want, exit_name(run->exit_reason));
	printf("#   rip %#llx", (unsigned long long)r.rip);
	if (run->exit_reason == KVM_EXIT_IO)
		printf(" io %s port %#x size %u count %u",
		       run->io.direction ? "out" : "in", run->io.port, run->io.size, run->io.count);
	if (run->exit_reason == KVM_EXIT_MMIO)
		printf(" mmio %s %#llx len %u", run->mmio.is_write ? "write" : "read",
		       (unsigned long long)run->mmio.phys_addr, run->mmio.len);
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		printf(" suberror %u", run->internal.suberror);
	printf("\n");
}

static int run_once(struct tvm *t)
{
	for (;;) {
		int r = ioctl(t->vcpu, KVM_RUN, 0);
		if (r < 0 && errno == EINTR && timed_out) {
			struct kvm_regs regs;
			memset(&regs, 0, sizeof(regs));
			ioctl(t->vcpu, KVM_GET_REGS, &regs);
			printf("# timed out at rip %#llx rbx %#llx r13 %#llx\n", (unsigned long long)regs.rip,
			       (unsigned long long)regs.rbx, (unsigned long long)regs.r13);
			errno = ETIMEDOUT;
		}
		if (r < 0)
			return -errno;
		if (!is_check_port(t->run))
			return 0;
		report_check(t->run);
	}
}

/* Match one I/O expectation; string I/O may come split over several exits. */
static int expect_io(struct tvm *t, const struct rec *e, const char *desc)
{
	struct kvm_run *run = t->run;
	uint64_t done = 0;
	while (done < e->d) {
		int r = run_once(t);
		if (r) {
			tap(0, "%s: KVM_RUN failed: %s", desc, strerror(-r));
			return -1;
		}
		if (run->exit_reason != KVM_EXIT_IO || run->io.direction != e->a ||
		    run->io.port != e->b || run->io.size != e->c || run->io.count == 0 ||
		    done + run->io.count > e->d) {
			unexpected(t, desc);
			return -1;
		}
		uint8_t *data = (uint8_t *)run + run->io.data_offset;
		size_t off = done * e->c, n = (size_t)run->io.count * e->c;
		if (e->a == KVM_EXIT_IO_OUT) {
			int same = off + n <= e->len && !memcmp(data, e->data + off, n);
			if (!same) {
				tap(0, "%s: data", desc);
				printf("#   got");
				for (size_t i = 0; i < n && i < 32; i++)
					printf(" %02x", data[i]);
				printf("\n");
				return -1;
			}
		} else {
			memset(data, 0, n);
			memcpy(data, e->data + off, off + n <= e->len ? n : (e->len > off ? e->len - off : 0));
		}
		done += run->io.count;
	}
	tap(1, "exit: %s", desc);
	return 0;
}

static int expect_mmio(struct tvm *t, const struct rec *e, const char *desc)
{
	struct kvm_run *run = t->run;
	int r = run_once(t);
	if (r) {
		tap(0, "%s: KVM_RUN failed: %s", desc, strerror(-r));
		return -1;
	}
	if (run->exit_reason != KVM_EXIT_MMIO || run->mmio.is_write != e->a ||
	    run->mmio.phys_addr != e->b || run->mmio.len != e->c) {
		unexpected(t, desc);
		return -1;
	}
	if (e->a) {
		if (memcmp(run->mmio.data, e->data, e->c)) {
			uint64_t v = 0;
			memcpy(&v, run->mmio.data, 8);
			tap(0, "%s: data %#llx", desc, (unsigned long long)v);
			return -1;
		}
	} else {
		memcpy(run->mmio.data, e->data, e->c);
	}
	tap(1, "exit: %s", desc);
	return 0;
}

static int expect_simple(struct tvm *t, const struct rec *e, const char *desc, uint32_t reason)
{
	int r = run_once(t);
	if (r) {
		tap(0, "%s: KVM_RUN failed: %s", desc, strerror(-r));
		return -1;
	}
	if (t->run->exit_reason != reason) {
		unexpected(t, desc);
		return -1;
	}
	(void)e;
	tap(1, "exit: %s", desc);
	return 0;
}

/* KVM document, "immediate_exit": KVM_RUN returns EINTR at once, after
 * completing a pending I/O (complete_userspace_io runs first). */
static int expect_eintr(struct tvm *t, const struct rec *e, const char *desc)
{
	t->run->immediate_exit = 1;
	errno = 0;
	int r = ioctl(t->vcpu, KVM_RUN, 0);
	int err = errno;
	t->run->immediate_exit = 0;
	if (r != -1 || err != EINTR) {
		if (r == 0)
			unexpected(t, desc);
		else
			tap(0, "%s: KVM_RUN returned %d errno %d", desc, r, err);
		return -1;
	}
	tap(1, "exit: %s", desc);
	/* x86 KVM returns before touching exit_reason: it still holds the
	 * previous exit's.  Not pinned by the document: compare backends. */
	static int neintr;
	printf("# obs immediate_exit %d exit_reason=%u\n", ++neintr, t->run->exit_reason);
	if ((int64_t)e->a >= 0) {
		struct kvm_regs regs;
		if (ioctl(t->vcpu, KVM_GET_REGS, &regs) < 0)
			tap(0, "immediate_exit: KVM_GET_REGS");
		else
			tap((regs.rax & 0xff) == e->a, "immediate_exit: pending IN or MMIO read completed first (al %#llx)",
			    (unsigned long long)(regs.rax & 0xff));
	}
	return 0;
}

/* The first alarm interrupts KVM_RUN (EINTR, no SA_RESTART) so the test can
 * say where the guest was; the second one ends a backend that ignores it. */
/* GUEST_MODE 0: the vCPU keeps its reset state (CS.base 0xffff0000, IP
 * 0xfff0: SDM vol. 3 9.1.4).  A 64 KiB read-only slot below 4 GiB holds HLTs
 * and, at the reset vector, a far jump to the guest's entry. */
static int reset_rom(struct tvm *t, uint64_t entry)
{
	uint8_t *rom = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rom == MAP_FAILED)
		return -1;
	memset(rom, 0xf4, 0x10000);
	uint8_t jmp[] = { 0xea, entry & 0xff, entry >> 8 & 0xff, 0, 0 };	/* ljmp $0, $entry */
	memcpy(rom + 0xfff0, jmp, sizeof(jmp));
	struct kvm_userspace_memory_region r = {
		.slot = 2,
		.flags = KVM_MEM_READONLY,
		.guest_phys_addr = 0xffff0000,
		.memory_size = 0x10000,
		.userspace_addr = (uintptr_t)rom,
	};
	return ioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &r);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "Bail out! guest timed out\n";
	if (timed_out++) {
		if (write(1, msg, sizeof(msg) - 1) < 0)
			_exit(3);
		_exit(2);
	}
	alarm(5);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: run_guest GUEST.elf\n");
		return 2;
	}
	size_t len;
	uint8_t *img = read_file(argv[1], &len);
	if (!img) {
		printf("Bail out! cannot read %s\n", argv[1]);
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm(10);

	struct tvm t;
	uint64_t entry;
	int mode = 0, user = 0;
	if (tvm_create(&t, GUEST_MEM)) {
		printf("Bail out! %s: %s\n", t.err, strerror(t.err_errno));
		return 1;
	}
	if (load_elf(&t, img, len, &entry)) {
		printf("Bail out! %s: not a guest ELF\n", argv[1]);
		return 1;
	}
	for (int i = 0; i < nrecs; i++)
		if (recs[i].type == REC_MODE) {
			mode = (int)recs[i].a;
			user = (int)recs[i].b;
		}
	/* Real KVM refuses EFER.LME unless the guest's CPUID has LM: a guest
	 * starting in 64-bit mode cannot do without it. */
	if (mode == 0 && reset_rom(&t, entry))
		tap(0, "setup: reset ROM slot: %s", strerror(errno));
	int cpuid_err = tvm_set_cpuid(&t);
	if (cpuid_err && mode != 64)
		printf("# %s failed (%s): the guest runs without a CPUID table\n", t.err,
		       strerror(t.err_errno));
	if ((cpuid_err && mode == 64) || (mode && tvm_setup_mode(&t, mode, entry, user))) {
		/* A setup ioctl the backend does not implement (yet) is an
		 * honest "not implemented"; any other failure is real. */
		if ((t.err_errno == EINVAL || t.err_errno == ENOTTY || t.err_errno == ENOSYS) &&
		    tvm_allow_unimpl())
			todo = "setup ioctl not implemented (SKVM_ALLOW_UNIMPL)";
		tap(0, "setup: %s: %s", t.err, strerror(t.err_errno));
	}

	int stop = tap_n > 0;
	for (int i = 0; i < nrecs; i++) {
		struct rec *e = &recs[i];
		char desc[96];
		if (e->type == REC_MODE || e->type == REC_CHECK)
			continue;
		describe_rec(e, desc, sizeof(desc));
		if (stop) {
			tap(0, "exit: %s (not reached)", desc);
			continue;
		}
		int r = 0;
		switch (e->type) {
		case REC_IO: r = expect_io(&t, e, desc); break;
		case REC_MMIO: r = expect_mmio(&t, e, desc); break;
		case REC_HLT: r = expect_simple(&t, e, desc, KVM_EXIT_HLT); break;
		case REC_SHUTDOWN: r = expect_simple(&t, e, desc, KVM_EXIT_SHUTDOWN); break;
		case REC_EINTR: r = expect_eintr(&t, e, desc); break;
		default: tap(0, "unknown record type %llu", (unsigned long long)e->type); r = -1;
		}
		stop = r < 0;
	}
	for (int i = 0; i < nrecs; i++) {
		struct rec *c = &recs[i];
		if (c->type != REC_CHECK || c->reported)
			continue;
		tap(0, "check: %s (never reported)", (const char *)c->data);
	}
	printf("1..%d\n", tap_n);
	tvm_destroy(&t);
	free(img);
	return failed ? 1 : 0;
}
