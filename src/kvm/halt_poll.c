/*
 * Halt polling, as KVM's kvm_vcpu_halt (Documentation/virt/kvm/
 * halt-polling.rst): a vCPU that halts with the in-kernel LAPIC spins for a
 * while before its thread sleeps, so an interrupt that comes soon costs no
 * scheduler round trip.  On a machine whose idle CPUs halt (a VM without
 * guest-side idle polling, as these are) waking a sleeping thread on the
 * other CPU takes 15-70 us; a polling vCPU sees an irqfd's interrupt within
 * a microsecond of the writer's injection.
 *
 * The window is per vCPU and adapts as KVM's does (its default module
 * parameters today: grow x2 from 10 us, shrink /2, and below 10 us to 0;
 * 6.1's shrink was 0, a reset; the host's KVM here shrinks by 2): after a
 * halt that ended within the window nothing changes; one that ended later
 * but within the maximum grows it; one that outlasted the maximum shrinks
 * it.  The maximum is the VM's KVM_CAP_HALT_POLL value once set, else the
 * "module parameter" SKVM_HALT_POLL_NS (KVM's halt_poll_ns), 200000 ns as
 * on x86.
 *
 * KVM stops polling as soon as another task is runnable on the CPU
 * (single_task_running, need_resched).  User space cannot ask that; the
 * loop yields the CPU every few microseconds instead and gives up polling
 * when a yield took long because another thread ran meanwhile (the
 * thread's involuntary context switches moved), so a polling vCPU never
 * keeps the client's own threads waiting for more than a yield.  A long
 * yield with no switch is this machine's hypervisor running something
 * else (26-46 us, in about 1.5% of 300 us polls here): no reason to stop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <stdlib.h>

#include "kvm/halt_poll.h"
#include "kvm/irqchip.h"
#include "kvm/irqchip_vm.h"
#include "kvm/stats.h"
#include "x86/msr.h"

#define GROW_START_NS 10000u /* halt_poll_ns_grow_start */
#define GROW 2u		     /* halt_poll_ns_grow */
#define SHRINK 2u	     /* halt_poll_ns_shrink */
#define YIELD_EVERY_NS 4000u /* a sched_yield this often while polling */
#define YIELD_LONG_NS 20000u /* a yield this long: someone else needs the CPU */

/* KVM's halt_poll_ns module parameter; read once, as a module loads once */
static u32 default_max(void)
{
	static _Atomic s64 v = -1;
	s64 m = atomic_load_explicit(&v, memory_order_relaxed);
	if (m < 0) {
		const char *e = getenv("SKVM_HALT_POLL_NS");
		char *end = NULL;
		unsigned long x = e && *e ? strtoul(e, &end, 0) : 200000;
		m = e && *e && (*end || x > UINT32_MAX) ? 200000 : (s64)x;
		atomic_store_explicit(&v, m, memory_order_relaxed);
	}
	return (u32)m;
}

static u32 max_poll_ns(const struct skvm_vm *vm)
{
	s64 m = atomic_load_explicit(&vm->max_halt_poll_ns, memory_order_acquire);
	return m >= 0 ? (u32)m : default_max();
}

long skvm_halt_poll_enable_cap(struct skvm_vm *vm, u64 arg)
{
	/* KVM: any value a u32 holds, 0 turns polling off */
	if (arg != (u32)arg)
		return -EINVAL;
	atomic_store_explicit(&vm->max_halt_poll_ns, (s64)arg, memory_order_release);
	return 0;
}

/* The thread's involuntary context switches: a yield that let another
 * thread run counts one. */
static long involuntary_switches(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_THREAD, &ru) ? 0 : ru.ru_nivcsw;
}

/* kvm_vcpu_check_block with the in-kernel LAPIC: kicked (a signal
 * deferred, an INIT, an NMI, a KVM_RUN exit request) or an interrupt it
 * takes.  The LAPIC is asked only once something was raised. */
static bool woken(struct skvm_vcpu *vcpu)
{
	if (atomic_load_explicit(&vcpu->kick, memory_order_acquire))
		return true;
	if (!atomic_load_explicit(&vcpu->cpu.intr_hint, memory_order_acquire))
		return false;
	return skvm_apic_runnable(vcpu);
}

bool skvm_halt_poll(struct skvm_vcpu *vcpu, struct skvm_halt *h, bool (*signal)(void *),
		    void *opaque)
{
	u32 max = max_poll_ns(vcpu->vm);
	if (vcpu->halt_poll_ns > max)
		vcpu->halt_poll_ns = max;
	h->start = h->poll_end = x86_clock_ns();
	h->polled = vcpu->halt_poll_ns != 0;
	if (!h->polled)
		return false;
	u64 stop = h->start + vcpu->halt_poll_ns, yield_at = h->start + YIELD_EVERY_NS;
	long switches = -1; /* ru_nivcsw, read at the first yield */
	for (;;) {
		if (woken(vcpu))
			return true;
		__builtin_ia32_pause();
		u64 t = h->poll_end = x86_clock_ns();
		if (t >= stop)
			return false;
		if (t >= yield_at) {
			/* a signal for the client ends the halt; the sleep
			 * returns at once for it (EINTR) */
			if (signal(opaque))
				return false;
			if (switches < 0)
				switches = involuntary_switches();
			sched_yield();
			u64 after = h->poll_end = x86_clock_ns();
			if (after - t > YIELD_LONG_NS && involuntary_switches() != switches)
				return false;
			yield_at = after + YIELD_EVERY_NS;
		}
	}
}

void skvm_halt_poll_done(struct skvm_vcpu *vcpu, struct skvm_halt *h, bool waited)
{
	u64 end = x86_clock_ns();
	struct skvm_stats *st = vcpu->stats;
	if (h->polled) {
		skvm_stat_inc(st, VCPU_STAT_HALT_ATTEMPTED_POLL);
		if (!waited) {
			skvm_stat_inc(st, VCPU_STAT_HALT_SUCCESSFUL_POLL);
			skvm_stat_add(st, VCPU_STAT_HALT_POLL_SUCCESS_NS, h->poll_end - h->start);
		} else {
			skvm_stat_add(st, VCPU_STAT_HALT_POLL_FAIL_NS, h->poll_end - h->start);
		}
	}
	if (waited)
		skvm_stat_add(st, VCPU_STAT_HALT_WAIT_NS, end - h->poll_end);
	/* the whole halt, polling included, against the window */
	u64 halt_ns = end - h->start;
	u32 max = max_poll_ns(vcpu->vm), cur = vcpu->halt_poll_ns;
	if (!max)
		cur = 0;
	else if (halt_ns <= cur)
		;
	else if (cur && halt_ns > max)
		cur = cur / SHRINK < GROW_START_NS ? 0 : cur / SHRINK;
	else if (cur < max && halt_ns < max)
		cur = (u32)(cur * (u64)GROW < GROW_START_NS ? GROW_START_NS
			    : cur * (u64)GROW > max    ? max
						       : cur * (u64)GROW);
	vcpu->halt_poll_ns = cur;
}
