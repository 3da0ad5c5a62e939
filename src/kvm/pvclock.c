/*
 * kvmclock and the rest of KVM's paravirtual interface
 * (Documentation/virt/kvm/x86/msr.rst, hypercalls.rst, cpuid.rst; KVM API
 * 4.46/4.47 KVM_GET/SET_CLOCK, 4.75 KVM_KVMCLOCK_CTRL, 7.x
 * KVM_CAP_ENFORCE_PV_FEATURE_CPUID).
 *
 * The VM's kvmclock is x86_clock_ns() (the clock the guest TSC is derived
 * from, x86/tsc.c) plus a per-VM offset, 0 when the VM is created.  Since
 * every vCPU's TSC is that same clock scaled to its rate plus an offset,
 * one pvclock record per vCPU (TSC and kvmclock at one instant, and the
 * vCPU's TSC-to-ns scale) stays right for as long as neither the offset,
 * the TSC nor its rate changes: it is rewritten only then (KVM's master
 * clock, with PVCLOCK_TSC_STABLE_BIT), at the next KVM_RUN for changes the
 * VMM makes and at once for the guest's own MSR writes.
 *
 * Steal time (MSR_KVM_STEAL_TIME) is KVM's record_steal_time: at each guest
 * entry (KVM_RUN, and the guest's own enabling write) the time the vCPU's
 * thread spent runnable but not running since the last entry, its
 * schedstat run delay, is added to the guest's struct kvm_steal_time under
 * the version protocol, preempted cleared.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/kvm_para.h>

#include "kvm/kvm.h"
#include "kvm/irqchip_vm.h"
#include "kvm/pvclock.h"
#include "kvm/sys.h"
#include "kvm/x86_ioctl.h"
#include "x86/msr.h"

/* The guest structures (msr.rst), packed as the ABI has them. */
struct pvclock_vcpu_time_info {
	u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	u32 tsc_to_system_mul;
	s8 tsc_shift;
	u8 flags;
	u8 pad[2];
} __attribute__((packed));

struct pvclock_wall_clock {
	u32 version;
	u32 sec;
	u32 nsec;
} __attribute__((packed));

#define PVCLOCK_TSC_STABLE_BIT BIT(0)
#define PVCLOCK_GUEST_STOPPED BIT(1)
#define CLOCK_FLAGS (KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC)

static u64 realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

/* Deterministic mode's wall clock at VM time 0: 2026-01-01 00:00:00 UTC,
 * so that the guest's date does not depend on when it runs. */
#define DET_EPOCH_NS (1767225600ULL * 1000000000ULL)

/* The VM's time base: the host clock, or its virtual clock. */
static u64 vm_ns(const struct skvm_vm *vm)
{
	return x86_deterministic() ? atomic_load(&vm->vclock) : x86_clock_ns();
}

/* Wall-clock time now, VM time ns being now. */
static u64 wall_ns(u64 ns)
{
	return x86_deterministic() ? DET_EPOCH_NS + ns : realtime_ns();
}

static u64 kvmclock_at(const struct skvm_vm *vm, u64 ns)
{
	return ns + (u64)atomic_load(&vm->kvmclock_offset);
}

/*
 * Guest memory as the guest's own writes see it: a writable slot of
 * address space 0 covering [gpa, gpa + n), dirty-logged (on the vCPU's
 * ring when the VM has rings).  false when there is none, as KVM's
 * kvm_write_guest fails.
 */
bool skvm_guest_rw(struct skvm_vcpu *vcpu, u64 gpa, void *buf, size_t n, bool write)
{
	struct mem_map *map = mem_map_get(&vcpu->vm->mem);
	const struct mem_slot *s = mem_map_find(map, 0, gpa);
	bool ok = s && gpa + n > gpa && gpa + n <= s->gpa + s->size &&
		  (!write || !(s->flags & KVM_MEM_READONLY));
	if (ok) {
		unsigned long hva = (unsigned long)(s->hva + (gpa - s->gpa));
		ok = write ? !skvm_copy_to_user(hva, buf, n) : !skvm_copy_from_user(buf, hva, n);
	}
	if (ok && write) {
		mem_slot_mark_dirty(s, gpa, vcpu->cpu.dirty_ring);
		if ((gpa ^ (gpa + n - 1)) >> PAGE_SHIFT)
			mem_slot_mark_dirty(s, gpa + n - 1, vcpu->cpu.dirty_ring);
	}
	mem_map_put(map);
	return ok;
}

/*
 * TSC ticks to ns as pvclock readers compute it: ((delta << shift, or >>
 * -shift) * mul) >> 32.  The shift puts the shifted rate in (1 GHz, 2 GHz]
 * so that mul uses all 32 bits (KVM's kvm_get_time_scale).
 */
void skvm_pvclock_scale(u64 tsc_hz, u32 *mul, s8 *shift)
{
	const u64 ns_hz = 1000000000ULL;
	unsigned __int128 num = (unsigned __int128)ns_hz << 32, den = tsc_hz ? tsc_hz : 1;
	unsigned __int128 lo = ns_hz;
	int s = 0;
	while (den <= lo) /* slow TSC: shift the delta left */
		den <<= 1, s++;
	while (den > 2 * lo) /* fast TSC: shift it right */
		lo <<= 1, num <<= 1, s--;
	*mul = (u32)(num / den);
	*shift = (s8)s;
}

/* The version protocol: odd while the record changes, even after. */
static void pvclock_write(struct skvm_vcpu *vcpu)
{
	struct x86_cpu *c = &vcpu->cpu;
	u64 gpa = c->msr.kvm_system_time & ~1ULL;
	struct pvclock_vcpu_time_info g, t;
	atomic_store(&vcpu->pvclock_req, 0);
	if (!(c->msr.kvm_system_time & 1) || ((gpa ^ (gpa + sizeof(t) - 1)) >> PAGE_SHIFT) ||
	    !skvm_guest_rw(vcpu, gpa, &g, sizeof(g), false))
		return;
	memset(&t, 0, sizeof(t));
	u64 ns = x86_cpu_clock_ns(c);
	t.tsc_timestamp = x86_tsc_at(c, ns);
	t.system_time = kvmclock_at(vcpu->vm, ns);
	u32 mul;
	s8 shift;
	skvm_pvclock_scale(c->tsc_khz * 1000, &mul, &shift);
	t.tsc_to_system_mul = mul;
	t.tsc_shift = shift;
	/* the guest clears GUEST_STOPPED once it has seen it */
	t.flags = PVCLOCK_TSC_STABLE_BIT | (g.flags & PVCLOCK_GUEST_STOPPED);
	if (vcpu->pvclock_stopped) {
		t.flags |= PVCLOCK_GUEST_STOPPED;
		vcpu->pvclock_stopped = false;
	}
	t.version = (g.version + 1) | 1;
	if (!skvm_guest_rw(vcpu, gpa, &t.version, sizeof(t.version), true))
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	skvm_guest_rw(vcpu, gpa + 4, (u8 *)&t + 4, sizeof(t) - 4, true);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	t.version++;
	skvm_guest_rw(vcpu, gpa, &t.version, sizeof(t.version), true);
}

/*
 * The run delay of the calling thread, ns: the second field of its
 * /proc/thread-self/schedstat (the run_delay KVM reads from the task).
 * The file stays open while the same thread runs the vCPU.
 */
static bool run_delay_ns(struct skvm_vcpu *vcpu, u64 *ns)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	if (vcpu->steal_fd < 0 || vcpu->steal_tid != tid) {
		if (vcpu->steal_fd >= 0)
			sys_close(vcpu->steal_fd);
		vcpu->steal_fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/thread-self/schedstat",
					      O_RDONLY | O_CLOEXEC);
		vcpu->steal_tid = tid;
		if (vcpu->steal_fd < 0)
			return false;
	}
	char buf[96];
	long n = syscall(SYS_pread64, vcpu->steal_fd, buf, sizeof(buf) - 1, 0L);
	if (n <= 0)
		return false;
	buf[n] = 0;
	char *p = strchr(buf, ' ');
	if (!p)
		return false;
	*ns = strtoull(p + 1, NULL, 10);
	return true;
}

/* struct kvm_steal_time's fields (msr.rst) */
#define ST_STEAL 0
#define ST_VERSION 8
#define ST_PREEMPTED 16

static void steal_time_record(struct skvm_vcpu *vcpu)
{
	u64 msr = vcpu->cpu.msr.kvm_steal_time;
	if (!(msr & KVM_MSR_ENABLED))
		return;
	u64 gpa = msr & KVM_STEAL_VALID_BITS;
	struct kvm_steal_time st;
	if (!skvm_guest_rw(vcpu, gpa, &st, sizeof(st), false))
		return;
	/* No time is stolen from deterministic mode's virtual clock.  A
	 * thread new to the vCPU starts from its own run delay (KVM would
	 * subtract the old thread's). */
	u64 now = 0, delta = 0;
	if (!x86_deterministic() && run_delay_ns(vcpu, &now)) {
		if (now >= vcpu->steal_last)
			delta = now - vcpu->steal_last;
		vcpu->steal_last = now;
	}
	u8 zero = 0;
	skvm_guest_rw(vcpu, gpa + ST_PREEMPTED, &zero, 1, true);
	u32 version = st.version + (st.version & 1) + 1; /* odd: junk at first */
	skvm_guest_rw(vcpu, gpa + ST_VERSION, &version, sizeof(version), true);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	u64 steal;
	if (skvm_guest_rw(vcpu, gpa + ST_STEAL, &steal, sizeof(steal), false)) {
		steal += delta;
		skvm_guest_rw(vcpu, gpa + ST_STEAL, &steal, sizeof(steal), true);
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	version++;
	skvm_guest_rw(vcpu, gpa + ST_VERSION, &version, sizeof(version), true);
}

/* A writable slot of address space 0 holds [gpa, gpa + n) (what
 * kvm_gfn_to_hva_cache_init asks of a PV MSR's address). */
static bool guest_writable(struct skvm_vcpu *vcpu, u64 gpa, size_t n)
{
	struct mem_map *map = mem_map_get(&vcpu->vm->mem);
	const struct mem_slot *s = mem_map_find(map, 0, gpa);
	bool ok = s && gpa + n > gpa && gpa + n <= s->gpa + s->size &&
		  !(s->flags & KVM_MEM_READONLY);
	mem_map_put(map);
	return ok;
}

/* MSR_KVM_PV_EOI_EN (kvm_lapic_set_pv_eoi): an enabled flag needs a
 * writable slot; the LAPIC first settles a pending PV EOI under the old
 * setting, as the exit for the WRMSR would. */
static bool pv_pv_eoi_set(void *pv, u64 val)
{
	struct skvm_vcpu *vcpu = pv;
	if ((val & KVM_MSR_ENABLED) && !guest_writable(vcpu, val & ~(u64)KVM_MSR_ENABLED, 1))
		return false;
	skvm_apic_pv_eoi_sync(vcpu, false);
	return true;
}

static void pv_steal_time_enabled(void *pv)
{
	steal_time_record(pv);
}

void skvm_pvclock_sync(struct skvm_vcpu *vcpu)
{
	if (atomic_load(&vcpu->pvclock_req))
		pvclock_write(vcpu);
	steal_time_record(vcpu);
}

/* The wall clock at the time of kvmclock 0 (KVM's kvm_write_wall_clock). */
static void wall_clock_write(struct skvm_vcpu *vcpu, u64 gpa)
{
	struct pvclock_wall_clock w;
	if (!gpa || !skvm_guest_rw(vcpu, gpa, &w.version, sizeof(w.version), false))
		return;
	w.version += (w.version & 1) + 1; /* odd: a first write finds junk */
	if (!skvm_guest_rw(vcpu, gpa, &w.version, sizeof(w.version), true))
		return;
	u64 ns = vm_ns(vcpu->vm);
	u64 epoch = wall_ns(ns) - kvmclock_at(vcpu->vm, ns);
	w.sec = (u32)(epoch / 1000000000ULL);
	w.nsec = (u32)(epoch % 1000000000ULL);
	skvm_guest_rw(vcpu, gpa, &w, sizeof(w), true);
	w.version++;
	skvm_guest_rw(vcpu, gpa, &w.version, sizeof(w.version), true);
}

static void pv_wall_clock_set(void *pv, u64 gpa)
{
	struct skvm_vcpu *vcpu = pv;
	atomic_store(&vcpu->vm->wall_clock, gpa);
	wall_clock_write(vcpu, gpa);
}

static u64 pv_wall_clock_get(void *pv)
{
	const struct skvm_vcpu *vcpu = pv;
	return atomic_load(&vcpu->vm->wall_clock);
}

static void pv_clock_changed(void *pv, bool now)
{
	struct skvm_vcpu *vcpu = pv;
	atomic_store(&vcpu->pvclock_req, 1);
	if (now)
		pvclock_write(vcpu);
}

/* KVM_HC_CLOCK_PAIRING: the host's wall clock and the guest TSC at one
 * instant, for PTP in the guest (kvm_pv_clock_pairing). */
static u64 clock_pairing(struct skvm_vcpu *vcpu, u64 gpa, u64 type)
{
	if (type != KVM_CLOCK_PAIRING_WALLCLOCK)
		return (u64)-KVM_EOPNOTSUPP;
	struct kvm_clock_pairing p;
	memset(&p, 0, sizeof(p));
	u64 ns = vm_ns(vcpu->vm), wall = wall_ns(ns);
	p.tsc = x86_tsc_at(&vcpu->cpu, ns);
	p.sec = (s64)(wall / 1000000000ULL);
	p.nsec = (s64)(wall % 1000000000ULL);
	return skvm_guest_rw(vcpu, gpa, &p, sizeof(p), true) ? 0 : (u64)-KVM_EFAULT;
}

/*
 * The hypercalls that mean something here.  KICK_CPU and SEND_IPI (PV
 * spinlocks and IPIs) are not implemented, and their feature bits are not
 * offered: they fail as unknown ones do, -KVM_ENOSYS.
 */
static u64 pv_hypercall(void *pv, u64 nr, const u64 a[4], bool op64)
{
	struct skvm_vcpu *vcpu = pv;
	(void)op64;
	switch (nr) {
	case KVM_HC_VAPIC_POLL_IRQ:
		return 0;
	case KVM_HC_SCHED_YIELD:
		if (!x86_pv_has(&vcpu->cpu, KVM_FEATURE_PV_SCHED_YIELD))
			break;
		sched_yield();
		return 0;
	case KVM_HC_CLOCK_PAIRING:
		return clock_pairing(vcpu, a[0], a[1]);
	}
	return (u64)-KVM_ENOSYS;
}

static const struct x86_pv_ops pv_ops = {
	.wall_clock_set = pv_wall_clock_set,
	.wall_clock_get = pv_wall_clock_get,
	.clock_changed = pv_clock_changed,
	.hypercall = pv_hypercall,
	.steal_time_enabled = pv_steal_time_enabled,
	.pv_eoi_set = pv_pv_eoi_set,
};

void skvm_pv_vm_init(struct skvm_vm *vm)
{
	atomic_store(&vm->kvmclock_offset, -(s64)vm_ns(vm));
}

void skvm_pv_vcpu_init(struct skvm_vcpu *vcpu)
{
	vcpu->cpu.pv_ops = &pv_ops;
	vcpu->cpu.pv = vcpu;
	vcpu->steal_fd = -1;
	if (x86_deterministic())
		vcpu->cpu.vclock = &vcpu->vm->vclock;
}

void skvm_pv_vcpu_destroy(struct skvm_vcpu *vcpu)
{
	if (vcpu->steal_fd >= 0)
		sys_close(vcpu->steal_fd);
	vcpu->steal_fd = -1;
}

/* KVM_GET_CLOCK: kvmclock now, with the host's wall clock and TSC read at
 * (nearly) the same instant; the clock is always TSC-stable here. */
static long get_clock(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_clock_data d;
	memset(&d, 0, sizeof(d));
	u64 ns = vm_ns(vm);
	d.realtime = wall_ns(ns);
	d.host_tsc = __builtin_ia32_rdtsc();
	d.clock = kvmclock_at(vm, ns);
	d.flags = CLOCK_FLAGS;
	return skvm_copy_to_user(arg, &d, sizeof(d)) ? -EFAULT : 0;
}

/* KVM_SET_CLOCK: any flag KVM_GET_CLOCK returns is accepted; only
 * KVM_CLOCK_REALTIME means something (the time since `realtime` is added,
 * never subtracted).  Every vCPU's pvclock is rewritten before it runs. */
static long set_clock(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_clock_data d;
	if (skvm_copy_from_user(&d, arg, sizeof(d)))
		return -EFAULT;
	if (d.flags & ~CLOCK_FLAGS)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	u64 ns = vm_ns(vm);
	if (d.flags & KVM_CLOCK_REALTIME) {
		u64 now = wall_ns(ns);
		if (now > d.realtime)
			d.clock += now - d.realtime;
	}
	atomic_store(&vm->kvmclock_offset, (s64)(d.clock - ns));
	for (u32 i = 0; i < vm->nr_vcpus; i++)
		atomic_store(&vm->vcpus[i]->pvclock_req, 1);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

long skvm_pv_vm_ioctl(struct skvm_vm *vm, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case KVM_GET_CLOCK:
		return get_clock(vm, arg);
	case KVM_SET_CLOCK:
		return set_clock(vm, arg);
	}
	return SKVM_NOIOCTL;
}

/* vCPU ioctls: KVM_KVMCLOCK_CTRL (the VMM paused the guest: tell it
 * through PVCLOCK_GUEST_STOPPED, so its watchdogs do not fire) and
 * KVM_ENABLE_CAP on the vCPU, whose only capability here is
 * ENFORCE_PV_FEATURE_CPUID. */
long skvm_pv_vcpu_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case KVM_KVMCLOCK_CTRL:
		if (!(vcpu->cpu.msr.kvm_system_time & 1))
			return -EINVAL;
		vcpu->pvclock_stopped = true;
		atomic_store(&vcpu->pvclock_req, 1);
		return 0;
	case KVM_ENABLE_CAP: {
		struct kvm_enable_cap cap;
		if (skvm_copy_from_user(&cap, arg, sizeof(cap)))
			return -EFAULT;
		if (cap.flags || cap.cap != KVM_CAP_ENFORCE_PV_FEATURE_CPUID)
			return -EINVAL;
		vcpu->cpu.pv_enforce = cap.args[0] != 0;
		return 0;
	}
	}
	return SKVM_NOIOCTL;
}
