/*
 * libFuzzer target: arbitrary bytes as guest code, run by a linked-in
 * softkvm (direct API) in real, 32-bit protected or 64-bit long mode.
 *
 * Input: byte 0 picks the mode (real, 32-bit, 64-bit, 64-bit at CPL 3) and
 * whether the code starts at a page's end, to cross into the next page; the rest is the code, loaded at
 * CODE_GPA in a fresh VM.  KVM_RUN is repeated while the guest exits for
 * I/O, MMIO or HLT, up to a budget; a timer kicks the vCPU out of endless
 * loops with immediate_exit.  The only acceptable outcomes are clean exits:
 * any crash or sanitizer report, any access outside guest RAM (guest memory
 * sits between PROT_NONE pages, the MMIO hole is PROT_NONE too, see
 * tests/guest/tvm.c), or an exit reason or errno KVM does not produce here
 * aborts the run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "softkvm.h"
#include "tvm.h"

#define CODE_GPA 0x8000
#define MAX_CODE 0x3000
#define MAX_EXITS 64
#define IDT_GPA 0x20000
#define HANDLER_GPA 0x21000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kvm_run *volatile cur_run;

static void on_timer(int sig)
{
	(void)sig;
	if (cur_run)
		cur_run->immediate_exit = 1;
}

/* A per-thread SIGUSR2 timer: SIGALRM and ITIMER_REAL belong to libFuzzer's
 * -timeout watchdog. */
static timer_t kick_timer;

static void arm_timer(int on)
{
	struct itimerspec it = { .it_value = { .tv_nsec = on ? 1000000 : 0 } };
	timer_settime(kick_timer, 0, &it, NULL);
}

static void bad(const char *what, unsigned v)
{
	fprintf(stderr, "fuzz_run: %s (%u)\n", what, v);
	abort();
}

/* Protected and long mode get an IDT whose every gate leads to a page of
 * HLTs, so exceptions are delivered rather than all ending in a triple
 * fault; user=1 starts the 64-bit code at CPL 3 (TSS.RSP0 from tvm). */
static int setup_idt(struct tvm *t, int mode, int user)
{
	if (mode == 16)
		return 0;
	struct kvm_sregs sr;
	if (softkvm_ioctl(t->vcpu, KVM_GET_SREGS, &sr) < 0)
		return -1;
	memset(tvm_ptr(t, HANDLER_GPA), 0xf4, 0x1000);
	uint32_t *idt = tvm_ptr(t, IDT_GPA);
	for (int v = 0; v < 256; v++) {
		uint32_t lo = (HANDLER_GPA & 0xffff) | (uint32_t)sr.cs.selector << 16;
		uint32_t hi = (HANDLER_GPA & 0xffff0000) | 0xee00;	/* present, DPL 3, interrupt gate */
		if (mode == 64) {
			idt[4 * v] = lo, idt[4 * v + 1] = hi, idt[4 * v + 2] = 0, idt[4 * v + 3] = 0;
		} else {
			idt[2 * v] = lo, idt[2 * v + 1] = hi;
		}
	}
	sr.idt.base = IDT_GPA;
	sr.idt.limit = mode == 64 ? 256 * 16 - 1 : 256 * 8 - 1;
	if (user) {
		sr.cs.selector = TVM_SEL_UCODE64;
		sr.cs.dpl = 3;
		sr.ss.selector = TVM_SEL_UDATA;
		sr.ss.dpl = 3;
		sr.ds = sr.es = sr.ss;
	}
	return softkvm_ioctl(t->vcpu, KVM_SET_SREGS, &sr) < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_timer;
		sigaction(SIGUSR2, &sa, NULL);	/* no SA_RESTART: KVM_RUN gets EINTR */
		struct sigevent ev;
		memset(&ev, 0, sizeof(ev));
		ev.sigev_notify = SIGEV_THREAD_ID;
		ev.sigev_signo = SIGUSR2;
		ev._sigev_un._tid = gettid();
		if (timer_create(CLOCK_MONOTONIC, &ev, &kick_timer))
			bad("timer_create", (unsigned)errno);
		init = 1;
	}
	if (size < 1)
		return 0;
	static const int modes[] = { 16, 32, 64, 64 };
	int mode = modes[data[0] % 4], user = data[0] % 4 == 3;
	uint64_t entry = CODE_GPA + ((data[0] & 0x80) ? 0xff0 : 0);
	size_t n = size - 1 > MAX_CODE ? MAX_CODE : size - 1;

	struct tvm t;
	if (tvm_create(&t, 4u << 20))
		bad("VM setup failed", (unsigned)t.err_errno);
	tvm_set_cpuid(&t);	/* may be unimplemented: then LM stays off */
	memset(tvm_ptr(&t, CODE_GPA), 0xf4, MAX_CODE + 0x1000);	/* HLT after the code */
	memcpy(tvm_ptr(&t, entry), data + 1, n);
	if (tvm_setup_mode(&t, mode, entry, user) || setup_idt(&t, mode, user)) {
		tvm_destroy(&t);
		return 0;
	}
	cur_run = t.run;
	for (int i = 0; i < MAX_EXITS; i++) {
		arm_timer(1);
		int r = softkvm_ioctl(t.vcpu, KVM_RUN, 0);
		int err = errno;
		arm_timer(0);
		if (r < 0) {
			if (err != EINTR)
				bad("KVM_RUN errno", (unsigned)err);
			break;
		}
		struct kvm_run *run = t.run;
		int done = 0;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.size != 1 && run->io.size != 2 && run->io.size != 4)
				bad("io.size", run->io.size);
			if (run->io.data_offset + (uint64_t)run->io.size * run->io.count > t.run_size)
				bad("io data beyond the kvm_run mapping", run->io.count);
			if (run->io.direction == KVM_EXIT_IO_IN)
				memset((uint8_t *)run + run->io.data_offset, 0x5a,
				       (size_t)run->io.size * run->io.count);
			break;
		case KVM_EXIT_MMIO:
			if (run->mmio.len == 0 || run->mmio.len > 8)
				bad("mmio.len", run->mmio.len);
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0xa5, 8);
			break;
		case KVM_EXIT_HLT:
			break;
		case KVM_EXIT_SHUTDOWN:
		case KVM_EXIT_INTERNAL_ERROR:
		case KVM_EXIT_FAIL_ENTRY:
			done = 1;
			break;
		default:
			bad("unexpected exit reason", run->exit_reason);
		}
		if (done)
			break;
	}
	cur_run = NULL;
	tvm_destroy(&t);
	return 0;
}
