/*
 * Dirty logging under paging (softkvm only: the PVM host emulates ring-0
 * long mode, and its emulator is not what is being tested here).
 *
 * 1. The page walker's accessed/dirty updates are guest writes to the
 *    page-table pages and go into the log, once; the data page too.
 * 2. A hot 64-bit loop (translated by the JIT, storing through the soft
 *    TLB) writes 16 pages while the host harvests with KVM_GET_DIRTY_LOG
 *    and copies: after the stop and a last harvest nothing is missing, so
 *    every re-arm dropped the write-TLB entries in time.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "tvm.h"

#define LOAD 0x10000
#define MEM (4 << 20)
#define HOT 0x300000

extern const unsigned char a_start[], a_end[], h_start[], h_end[];
__asm__(".pushsection .rodata\n"
	".code64\n"
	"a_start:\n"
	"	movq $1, 0x200000\n"
	"	hlt\n"
	"a_end:\n"
	"h_start:\n"
	"	mov $3000000, %ecx\n"
	"1:	mov %ecx, %eax\n"
	"	and $15, %eax\n"
	"	shl $12, %eax\n"
	"	mov %rcx, 0x300000(%rax)\n"
	"	dec %ecx\n"
	"	jnz 1b\n"
	"	hlt\n"
	"h_end:\n"
	".popsection\n");

static struct tvm t;
static int n_ok, n_fail, n;
static unsigned long long low[3], high[16]; /* 160 and 768 pages */
static volatile int running;

static void ok(int c, const char *what)
{
	printf("%sok %d - %s\n", c ? "" : "not ", ++n, what);
	c ? n_ok++ : n_fail++;
}

/* Slot 0 is [0, 640K), slot 1 [1M, MEM): get both logs (and clear them). */
static void get_logs(void)
{
	struct kvm_dirty_log l0 = {.slot = 0, .dirty_bitmap = low};
	struct kvm_dirty_log l1 = {.slot = 1, .dirty_bitmap = high};
	memset(low, 0, sizeof(low));
	memset(high, 0, sizeof(high));
	ioctl(t.vm, KVM_GET_DIRTY_LOG, &l0);
	ioctl(t.vm, KVM_GET_DIRTY_LOG, &l1);
}

static int bit(const unsigned long long *bm, unsigned p)
{
	return bm[p / 64] >> (p % 64) & 1;
}

static int run_at(uint64_t rip)
{
	struct kvm_regs r;
	ioctl(t.vcpu, KVM_GET_REGS, &r);
	r.rip = rip;
	ioctl(t.vcpu, KVM_SET_REGS, &r);
	return ioctl(t.vcpu, KVM_RUN, 0) == 0 && t.run->exit_reason == KVM_EXIT_HLT;
}

static void *hot_thread(void *arg)
{
	(void)arg;
	running = run_at(LOAD + 0x100) ? 1 : -1;
	return NULL;
}

int main(void)
{
	memset(&t, 0, sizeof(t));
	if (tvm_create_logged(&t, MEM, KVM_MEM_LOG_DIRTY_PAGES, 0) || tvm_set_cpuid(&t) ||
	    tvm_setup_mode(&t, 64, LOAD, 0)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	memcpy(tvm_ptr(&t, LOAD), a_start, a_end - a_start);
	memcpy(tvm_ptr(&t, LOAD + 0x100), h_start, h_end - h_start);
	const unsigned data = (0x200000 - TVM_HIGH) / 4096;
	uint64_t *pd = tvm_ptr(&t, TVM_PD);

	get_logs();
	ok(run_at(LOAD), "guest writes 0x200000");
	get_logs();
	ok(bit(low, TVM_PML4 / 4096) && bit(low, TVM_PDPT / 4096) && bit(low, TVM_PD / 4096),
	   "A/D updates logged PML4, PDPT and PD pages");
	ok((pd[1] & 0x60) == 0x60, "the PD entry has A and D");
	ok(bit(high, data), "the data page is logged");
	unsigned others = 0;
	for (unsigned p = 0; p < 160; p++)
		others += bit(low, p) && p != TVM_PML4 / 4096 && p != TVM_PDPT / 4096 &&
			  p != TVM_PD / 4096;
	ok(others == 0, "no other page of slot 0");
	ok(run_at(LOAD), "the same write again");
	get_logs();
	ok(!low[0] && !low[1] && !low[2], "A/D already set: page tables not logged again");
	ok(bit(high, data), "the data page is, after its re-arm");
	pd[1] &= ~0x60ULL; /* the VMM clears A/D: the next walk sets them again */
	ok(run_at(LOAD), "and once more with A/D cleared by the VMM");
	get_logs();
	ok(bit(low, TVM_PD / 4096) && bit(high, data), "the PD page is logged again");

	/* Hot loop against concurrent harvests. */
	static unsigned char shadow[16][4096];
	unsigned char *hot = tvm_ptr(&t, HOT);
	memcpy(shadow, hot, sizeof(shadow));
	get_logs();
	pthread_t th;
	running = 0;
	pthread_create(&th, NULL, hot_thread, NULL);
	unsigned long rounds = 0;
	const unsigned first = (HOT - TVM_HIGH) / 4096;
	while (!running) {
		get_logs();
		for (unsigned k = 0; k < 16; k++)
			if (bit(high, first + k)) {
				memcpy(shadow[k], hot + k * 4096, 4096);
				rounds++;
			}
		sched_yield();
	}
	pthread_join(th, NULL);
	get_logs();
	for (unsigned k = 0; k < 16; k++)
		if (bit(high, first + k))
			memcpy(shadow[k], hot + k * 4096, 4096);
	ok(running == 1, "the hot loop ran to HLT");
	unsigned missed = 0;
	for (unsigned k = 0; k < 16; k++)
		missed += memcmp(shadow[k], hot + k * 4096, 4096) != 0;
	printf("# %lu page copies during the run\n", rounds);
	ok(missed == 0, "hot loop: no page changed after its last report");
	printf("1..%d\n", n);
	tvm_destroy(&t);
	return n_fail != 0;
}
