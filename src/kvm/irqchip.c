/*
 * The in-kernel interrupt controllers (KVM_CREATE_IRQCHIP): the PIC pair
 * with its ELCR and the IOAPIC, one local APIC per vCPU, their ports and
 * MMIO, interrupt routing between them, the VM's clock and timer thread,
 * and the halt/INIT/SIPI side of KVM_RUN.  The devices are in src/hw/;
 * this file wires them to the VM and converts KVM's structs.
 *
 * Threads: any vCPU thread (a port write, an IPI, an EOI), the timer
 * thread and the routing half (KVM_IRQ_LINE, irqfds) may make an interrupt
 * pending.  Each device has its own lock; a fixed interrupt sets the
 * target's x86_cpu.intr_hint, which its engine looks at every block
 * boundary, and wakes it if it sleeps in HLT.  Events the engine cannot
 * take itself (INIT, SIPI, NMI) also kick: the engine stops at its next
 * block boundary and KVM_RUN's loop takes them (run.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <linux/kvm_para.h>

#include "hw/bus.h"
#include "hw/i8254.h"
#include "hw/i8259.h"
#include "hw/ioapic.h"
#include "hw/lapic.h"
#include "kvm/irqchip.h"
#include "kvm/irqchip_vm.h"
#include "kvm/pvclock.h"
#include "kvm/stats.h"
#include "kvm/sys.h"
#include "kvm/x86_ioctl.h"
#include "x86/cpuid.h"
#include "x86/msr.h"

#define MSR_TSC_DEADLINE 0x6e0

struct skvm_apic {
	struct lapic lapic;
	u64 vapic_addr; /* KVM_SET_VAPIC_ADDR; 0: none */
	struct skvm_vcpu *vcpu;
	struct skvm_irqchip *ic;
	/*
	 * Split irqchip only, touched by the vCPU's own thread (KVM_RUN and
	 * KVM_INTERRUPT hold the vCPU lock):
	 *  extint: KVM_INTERRUPT's vector until INTA takes it, -1 none
	 *          (KVM's pending_external_vector);
	 *  eoi_exit: the vectors whose EOI exits (ioapic_handled_vectors),
	 *          rebuilt from the routes when scan is set;
	 *  stale:  the highest vector in it only because it was pending
	 *          when the routes changed; its EOI asks for a new scan;
	 *  eoi_pending: the vector of the KVM_EXIT_IOAPIC_EOI to report.
	 */
	int extint, stale, eoi_pending;
	u64 eoi_exit[4];
	_Atomic bool scan;
	/* PV EOI: the guest's flag was set for the in-service vector and
	 * not looked at since (KVM's KVM_APIC_PV_EOI_PENDING); vCPU thread */
	bool pv_eoi_pending;
};

struct skvm_irqchip {
	struct skvm_vm *vm;
	/* KVM_CAP_SPLIT_IRQCHIP: LAPICs only; the PIC and IOAPIC below
	 * exist but are on no bus and get no input.  nr_reserved: args[0],
	 * the GSIs whose level MSI routes are the user-space IOAPIC's. */
	bool split;
	u32 nr_reserved;
	struct i8259 pic;
	struct ioapic ioapic;
	struct hw_bus pio, mmio;
	u64 clock_base; /* CLOCK_MONOTONIC ns at creation: the VM clock's 0 */
	/* Deterministic mode (x86/tsc.c): the clock is the VM's instruction
	 * clock, the timer thread idles, and vCPUs fire due timers at block
	 * boundaries (skvm_irqchip_timers) and jump the clock to the next
	 * deadline when all they could do is wait (skvm_irqchip_warp).
	 * det_next: the earliest deadline, 0 when it must be looked up. */
	_Atomic u64 det_next;
	/* Published LAPICs, read without a lock: an entry is written before
	 * nr grows past it, and none goes away before the VM. */
	_Atomic u32 nr;
	struct skvm_apic *apics[SKVM_MAX_VCPUS];
	/* The timer thread: sleeps until the earliest device deadline. */
	pthread_t thread;
	pthread_mutex_t tlock;
	pthread_cond_t tcond;
	bool tstop, poked;
	/* KVM_CREATE_PIT2: the PIT and, in reinject mode (the default), the
	 * ticks not yet delivered; one is in flight until the guest takes it
	 * (PIC INTA of IRQ 0, or the EOI of IOAPIC pin 2's vector). */
	struct i8254 *_Atomic pit;
	pthread_mutex_t pitq;
	bool reinject, pit_in_flight;
	u32 pit_pending;
};

#define PIT_MAX_PENDING 1000

static struct skvm_irqchip *chip_of(struct skvm_vm *vm)
{
	return atomic_load_explicit(&vm->irqchip, memory_order_acquire);
}

bool skvm_irqchip_in_kernel(struct skvm_vm *vm)
{
	return chip_of(vm) != NULL;
}

bool skvm_irqchip_split(struct skvm_vm *vm)
{
	struct skvm_irqchip *ic = chip_of(vm);
	return ic && ic->split;
}

/* ---- the VM clock and the timer thread ---- */

static u64 mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

static u64 chip_clock(const struct skvm_irqchip *ic)
{
	return x86_deterministic() ? atomic_load(&ic->vm->vclock) : mono_ns();
}

static u64 vm_now(void *clock)
{
	const struct skvm_irqchip *ic = clock;
	return chip_clock(ic) - ic->clock_base;
}

/* A device deadline may have moved earlier: the timer thread looks again. */
static void timer_poke(struct skvm_irqchip *ic)
{
	atomic_store(&ic->det_next, 0);
	pthread_mutex_lock(&ic->tlock);
	ic->poked = true;
	pthread_cond_signal(&ic->tcond);
	pthread_mutex_unlock(&ic->tlock);
}

static void apic_raise(struct skvm_apic *a);
static void pit_acked(struct skvm_irqchip *ic);

/* The PIT's edges up to now: one by one in reinject mode (each is a tick
 * to deliver), all at once otherwise (the PIC coalesces them anyway). */
static u64 pit_run(struct skvm_irqchip *ic, u64 now)
{
	struct i8254 *pit = atomic_load_explicit(&ic->pit, memory_order_acquire);
	if (!pit)
		return UINT64_MAX;
	u64 t = i8254_next_event(pit);
	for (int n = 0; t <= now && ic->reinject && n < PIT_MAX_PENDING; n++) {
		i8254_advance(pit, t);
		u64 t2 = i8254_next_event(pit);
		if (t2 <= t)
			break;
		t = t2;
	}
	if (t <= now) {
		i8254_advance(pit, now);
		t = i8254_next_event(pit);
	}
	return t;
}

/* Fire what is due, return the next deadline (VM ns, UINT64_MAX: none). */
static u64 timers_run(struct skvm_irqchip *ic)
{
	u64 now = vm_now(ic), next = pit_run(ic, now);
	u32 n = atomic_load_explicit(&ic->nr, memory_order_acquire);
	for (u32 i = 0; i < n; i++) {
		struct skvm_apic *a = ic->apics[i];
		u64 t = lapic_timer_next_event(&a->lapic);
		if (t <= now) {
			lapic_timer_advance(&a->lapic, now);
			apic_raise(a);
			t = lapic_timer_next_event(&a->lapic);
		}
		if (t < next)
			next = t;
	}
	return next;
}

static void *timer_main(void *arg)
{
	struct skvm_irqchip *ic = arg;
	pthread_mutex_lock(&ic->tlock);
	while (!ic->tstop && x86_deterministic()) /* the vCPUs run the timers */
		pthread_cond_wait(&ic->tcond, &ic->tlock);
	while (!ic->tstop) {
		ic->poked = false;
		pthread_mutex_unlock(&ic->tlock);
		u64 next = timers_run(ic);
		pthread_mutex_lock(&ic->tlock);
		if (ic->poked || ic->tstop)
			continue;
		if (next == UINT64_MAX) {
			pthread_cond_wait(&ic->tcond, &ic->tlock);
		} else {
			u64 abs = ic->clock_base + next;
			struct timespec ts = {(time_t)(abs / 1000000000ULL),
					      (long)(abs % 1000000000ULL)};
			pthread_cond_timedwait(&ic->tcond, &ic->tlock, &ts);
		}
	}
	pthread_mutex_unlock(&ic->tlock);
	return NULL;
}

/* ---- waking vCPUs ---- */

static void wake(struct skvm_vcpu *vcpu)
{
	if (atomic_load(&vcpu->sleeping)) {
		u64 one = 1;
		long r = sys_write(vcpu->wake_fd, &one, sizeof(one));
		(void)r; /* a full counter already wakes it */
	}
}

void skvm_vcpu_kick(struct skvm_vcpu *vcpu)
{
	atomic_store(&vcpu->kick, 1);
	wake(vcpu);
}

/* A fixed interrupt is pending in a's LAPIC (or the PIC's INTR rose): its
 * engine notices at the next block boundary; a halted vCPU wakes. */
static void apic_raise(struct skvm_apic *a)
{
	atomic_store(&a->vcpu->cpu.intr_hint, 1);
	wake(a->vcpu);
}

/* ---- routing between the chips ---- */

static int deliver_one(struct skvm_apic *a, u8 vector, u8 dm, bool trig, bool level)
{
	int r = lapic_accept_irq(&a->lapic, vector, dm, trig, level);
	if (r > 0) {
		if (dm <= LAPIC_DM_LOWEST)
			apic_raise(a);
		else
			skvm_vcpu_kick(a->vcpu);
	}
	return r;
}

/* Stands for "not an APIC" when an IOAPIC/MSI message must not get the
 * x2APIC 0xff broadcast quirk (KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK):
 * lapic_match_dest applies the quirk only to messages without a sender. */
static const struct lapic no_quirk_src;

/* The sender to match an IOAPIC/MSI message with (kvm_apic_mda's quirk). */
static const struct lapic *msg_src(const struct skvm_irqchip *ic)
{
	return ic->vm->x2apic_api & KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK ? &no_quirk_src : NULL;
}

/*
 * One interrupt message to every LAPIC its destination names (src NULL:
 * from the IOAPIC or an MSI).  Lowest priority goes to the matching APIC
 * with the lowest PPR.  Returns as kvm_irq_delivery_to_apic: -1 if no APIC
 * matched, else how many accepted.
 */
static int route(struct skvm_irqchip *ic, const struct lapic *src, u32 dest, u8 dest_mode,
		 u8 shorthand, u8 vector, u8 dm, bool trig, bool level, bool lowest)
{
	/* kvm_irq_delivery_to_apic_fast: a destination the APIC map resolves
	 * (no shorthand, not broadcast) answers 0 even if no APIC has it;
	 * only the slow path's "nobody matched" is -1. */
	int r = shorthand == LAPIC_SH_NONE && (dest & 0xff) != 0xff ? 0 : -1;
	if (!src)
		src = msg_src(ic);
	struct skvm_apic *best = NULL;
	u8 best_ppr = 0;
	u32 n = atomic_load_explicit(&ic->nr, memory_order_acquire);
	for (u32 i = 0; i < n; i++) {
		struct skvm_apic *a = ic->apics[i];
		if (!lapic_match_dest(&a->lapic, dest, dest_mode, shorthand, src))
			continue;
		if (lowest) {
			u8 ppr = lapic_ppr(&a->lapic);
			if (!best || ppr < best_ppr)
				best = a, best_ppr = ppr;
			continue;
		}
		if (r < 0)
			r = 0;
		r += deliver_one(a, vector, dm, trig, level);
	}
	if (best)
		r = deliver_one(best, vector, dm, trig, level);
	return r;
}

static void lapic_ipi_cb(void *opaque, struct lapic *src, const struct lapic_ipi *m)
{
	struct skvm_apic *a = opaque;
	route(a->ic, src, m->dest, m->dest_mode, m->shorthand, m->vector, m->delivery_mode,
	      m->trigger, m->level, m->delivery_mode == LAPIC_DM_LOWEST);
}

/* The EOI'd vector is the PIT's: an IOAPIC pin GSI 0 routes to uses it. */
static bool pit_vector(struct skvm_irqchip *ic, u8 vector)
{
	u32 pins = skvm_route_ioapic_pins(ic->vm, 0);
	for (u32 p = 0; pins; p++, pins >>= 1)
		if ((pins & 1) && ioapic_pin_vector(&ic->ioapic, p) == vector)
			return true;
	return false;
}

/* A LAPIC's EOI of a level-triggered vector ends it at the IOAPIC: the
 * resamplers of its pins hear of it first (KVM's kvm_ioapic_update_eoi). */
static void lapic_eoi_cb(void *opaque, u8 vector, bool level)
{
	struct skvm_apic *a = opaque;
	struct skvm_irqchip *ic = a->ic;
	if (ic->split) {
		/* kvm_ioapic_send_eoi: a vector of the user-space IOAPIC's
		 * routes exits once the EOI instruction completed; the kick
		 * stops the engine there */
		if (a->eoi_exit[vector / 64] & BIT(vector % 64)) {
			if (vector == a->stale)
				atomic_store(&a->scan, true);
			a->eoi_pending = vector;
			atomic_store(&a->vcpu->kick, 1);
		}
		return;
	}
	if (atomic_load(&ic->pit) && pit_vector(ic, vector))
		pit_acked(ic);
	if (!level)
		return;
	u32 pins = ioapic_level_pins(&ic->ioapic, vector);
	for (u32 p = 0; pins; p++, pins >>= 1)
		if (pins & 1)
			skvm_irq_ack_notify(ic->vm, KVM_IRQCHIP_IOAPIC, p);
	ioapic_eoi(&ic->ioapic, vector);
}

static int ioapic_deliver_cb(void *opaque, const struct ioapic_irq *irq)
{
	struct skvm_irqchip *ic = opaque;
	return route(ic, NULL, irq->dest, irq->dest_mode, LAPIC_SH_NONE, irq->vector,
		     irq->delivery_mode, irq->level, true,
		     irq->delivery_mode == LAPIC_DM_LOWEST);
}

/* A PIT tick: a pulse on GSI 0 through the routing table as its own
 * source (pit_do_work); KVM's default routing sends GSI 0 to PIC IR0 and
 * IOAPIC pin 0, QEMU's routes it to IOAPIC pin 2. */
static void pit_pulse(struct skvm_irqchip *ic)
{
	skvm_route_set_gsi(ic->vm, SKVM_IRQ_SRC_PIT, 0, 1);
	skvm_route_set_gsi(ic->vm, SKVM_IRQ_SRC_PIT, 0, 0);
}

/* OUT0 of the PIT (called with the PIT's lock held). */
static void pit_irq_cb(void *opaque, int level)
{
	struct skvm_irqchip *ic = opaque;
	if (!level)
		return;
	pthread_mutex_lock(&ic->pitq);
	bool send = true;
	if (ic->reinject) {
		if (ic->pit_pending < PIT_MAX_PENDING)
			ic->pit_pending++;
		send = !ic->pit_in_flight;
		if (send) {
			ic->pit_pending--;
			ic->pit_in_flight = true;
		}
	}
	if (send)
		pit_pulse(ic);
	pthread_mutex_unlock(&ic->pitq);
}

/* The guest took the tick in flight: send the next queued one. */
static void pit_acked(struct skvm_irqchip *ic)
{
	pthread_mutex_lock(&ic->pitq);
	ic->pit_in_flight = false;
	if (ic->reinject && ic->pit_pending) {
		ic->pit_pending--;
		ic->pit_in_flight = true;
		pit_pulse(ic);
	}
	pthread_mutex_unlock(&ic->pitq);
}

/* A PIC EOI: resamplers of the GSI routed to that pin hear of it. */
static void pic_eoi_cb(void *opaque, unsigned irq)
{
	struct skvm_irqchip *ic = opaque;
	skvm_irq_ack_notify(ic->vm, irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
			    irq & 7);
}

/* The PIC's INTR changed: any vCPU whose LINT0 takes ExtINT may look. */
static void pic_raise_cb(void *opaque, bool level)
{
	struct skvm_irqchip *ic = opaque;
	if (!level)
		return;
	u32 n = atomic_load_explicit(&ic->nr, memory_order_acquire);
	for (u32 i = 0; i < n; i++)
		apic_raise(ic->apics[i]);
}

int skvm_irqchip_set_pin(struct skvm_vm *vm, u32 chip, u32 pin, int level)
{
	struct skvm_irqchip *ic = chip_of(vm);
	if (!ic || ic->split)
		return -ENXIO;
	switch (chip) {
	case KVM_IRQCHIP_PIC_MASTER:
	case KVM_IRQCHIP_PIC_SLAVE:
		if (pin >= 8)
			return -EINVAL;
		return i8259_set_irq(&ic->pic, pin + 8 * chip, level);
	case KVM_IRQCHIP_IOAPIC:
		if (pin >= IOAPIC_PINS)
			return -EINVAL;
		return ioapic_set_irq(&ic->ioapic, pin, level);
	default:
		return -EINVAL;
	}
}

/* An MSI as kvm_set_msi_irq decodes it (Intel SDM 11.11). */
struct msi_msg {
	u32 dest;
	u8 dest_mode, vector, dm;
	bool trig, lowest;
};

static struct msi_msg msi_decode(const struct skvm_vm *vm, u64 address, u32 data)
{
	struct msi_msg m = {
		.dest = (u32)(address >> 12) & 0xff,
		.dest_mode = !!(address & BIT(2)),
		.vector = (u8)data,
		.dm = (data >> 8) & 7,
		.trig = data & BIT(15),
	};
	if (vm->x2apic_api & KVM_X2APIC_API_USE_32BIT_IDS)
		m.dest |= (u32)(address >> 32) & 0xffffff00;
	m.lowest = m.dm == LAPIC_DM_LOWEST || (address & BIT(3)); /* redirection hint */
	return m;
}

int skvm_irqchip_deliver_msi(struct skvm_vm *vm, u64 address, u32 data)
{
	struct skvm_irqchip *ic = chip_of(vm);
	if (!ic)
		return -ENXIO;
	struct msi_msg m = msi_decode(vm, address, data);
	return route(ic, NULL, m.dest, m.dest_mode, LAPIC_SH_NONE, m.vector, m.dm, m.trig, true,
		     m.lowest);
}

/* ---- split irqchip: which EOIs exit (kvm_scan_ioapic_routes) ---- */

/* Every vCPU scans the routes again before it next runs guest code, as
 * kvm_make_scan_ioapic_request: the routes or some APIC's destination
 * (ID, LDR, DFR, mode) changed. */
static void scan_request(struct skvm_irqchip *ic)
{
	if (!ic->split)
		return;
	u32 n = atomic_load_explicit(&ic->nr, memory_order_acquire);
	for (u32 i = 0; i < n; i++) {
		atomic_store(&ic->apics[i]->scan, true);
		skvm_vcpu_kick(ic->apics[i]->vcpu);
	}
}

void skvm_irqchip_routes_changed(struct skvm_vm *vm)
{
	struct skvm_irqchip *ic = chip_of(vm);
	if (ic)
		scan_request(ic);
}

/* kvm_scan_ioapic_irq for one MSI route of a reserved GSI: a level message
 * that names this APIC, or whose vector it has pending from the old routes
 * (that one is stale: its EOI scans again). */
static void scan_route(void *opaque, u64 address, u32 data)
{
	struct skvm_apic *a = opaque;
	struct msi_msg m = msi_decode(a->ic->vm, address, data);
	if (!m.trig)
		return;
	if (lapic_match_dest(&a->lapic, m.dest, m.dest_mode, LAPIC_SH_NONE, msg_src(a->ic))) {
		a->eoi_exit[m.vector / 64] |= BIT(m.vector % 64);
	} else if (lapic_vector_pending(&a->lapic, m.vector)) {
		a->eoi_exit[m.vector / 64] |= BIT(m.vector % 64);
		if (m.vector > a->stale)
			a->stale = m.vector;
	}
}

/* vcpu_scan_ioapic on the vCPU's thread, before guest code runs. */
static void split_scan(struct skvm_apic *a)
{
	if (!atomic_exchange(&a->scan, false))
		return;
	memset(a->eoi_exit, 0, sizeof(a->eoi_exit));
	a->stale = -1;
	skvm_route_each_msi(a->ic->vm, a->ic->nr_reserved, scan_route, a);
}

int skvm_apic_take_eoi_exit(struct skvm_vcpu *vcpu)
{
	struct skvm_apic *a = vcpu->apic;
	int v = a ? a->eoi_pending : -1;
	if (a)
		a->eoi_pending = -1;
	return v;
}

/* ---- the LAPIC as the CPU sees it (struct x86_apic_ops) ---- */

static bool timer_reg(u32 off)
{
	return off == LAPIC_LVT_TIMER || off == LAPIC_TMICT || off == LAPIC_TDCR;
}

/* After the vCPU wrote its own LAPIC: a self IPI, an error interrupt or a
 * TPR/EOI change may have made an interrupt pending; a timer register may
 * have moved the deadline. */
static void apic_written(struct skvm_apic *a, u32 off)
{
	atomic_store(&a->vcpu->cpu.intr_hint, 1);
	if (timer_reg(off))
		timer_poke(a->ic);
	/* KVM recalculates its APIC map, and scans the routes again */
	if (off == LAPIC_ID || off == LAPIC_LDR || off == LAPIC_DFR)
		scan_request(a->ic);
}

/*
 * PV EOI (msr.rst MSR_KVM_PV_EOI_EN; KVM's lapic.c pv_eoi): at each guest
 * entry, when the vector just acknowledged is alone in ISR with nothing in
 * IRR and no IOAPIC needs its EOI, the guest's flag byte is set, and the
 * guest may end the interrupt by clearing it instead of writing EOI.  At
 * each exit the flag is looked at: cleared, the EOI is done here; still
 * set, it is cleared (the guest writes EOI itself).  Entries and exits are
 * KVM_RUN's and a halt's, and, as the engine takes interrupts and serves
 * the LAPIC without exiting, each INTA and each guest access to the LAPIC.
 */
static bool pv_eoi_on(const struct skvm_apic *a)
{
	return a->vcpu->cpu.msr.kvm_pv_eoi_en & KVM_MSR_ENABLED;
}

static u64 pv_eoi_gpa(const struct skvm_apic *a)
{
	return a->vcpu->cpu.msr.kvm_pv_eoi_en & ~(u64)KVM_MSR_ENABLED;
}

/* kvm_ioapic_handles_vector: the EOI must reach an IOAPIC.  With the
 * in-kernel IOAPIC: a level-triggered pin's vector, the RTC's (GSI 8) and
 * the PIT's (its ack notifier), whatever their destination (KVM also
 * looks at that: the PV EOI is offered a little less often here); split:
 * the vectors whose EOI exits. */
static bool pv_eoi_ioapic(struct skvm_apic *a, u8 v)
{
	struct skvm_irqchip *ic = a->ic;
	if (ic->split)
		return a->eoi_exit[v / 64] & BIT(v % 64);
	return ioapic_level_pins(&ic->ioapic, v) || ioapic_pin_vector(&ic->ioapic, 8) == v ||
	       (atomic_load(&ic->pit) && pit_vector(ic, v));
}

static void pv_eoi_to_guest(struct skvm_apic *a)
{
	if (!pv_eoi_on(a) || a->pv_eoi_pending)
		return;
	int v = lapic_pv_eoi_vector(&a->lapic);
	if (v < 0 || pv_eoi_ioapic(a, (u8)v))
		return;
	u8 one = 1;
	if (skvm_guest_rw(a->vcpu, pv_eoi_gpa(a), &one, 1, true))
		a->pv_eoi_pending = true;
}

static void apic_written(struct skvm_apic *a, u32 off);

static void pv_eoi_from_guest(struct skvm_apic *a)
{
	if (!a->pv_eoi_pending)
		return;
	a->pv_eoi_pending = false;
	u8 val, zero = 0;
	u64 gpa = pv_eoi_gpa(a);
	/* pv_eoi_test_and_clr_pending: a flag it cannot read or clear
	 * counts as the guest's EOI */
	if (skvm_guest_rw(a->vcpu, gpa, &val, 1, false) && (val & 1) &&
	    skvm_guest_rw(a->vcpu, gpa, &zero, 1, true))
		return;
	lapic_eoi(&a->lapic);
	apic_written(a, LAPIC_EOI);
}

void skvm_apic_pv_eoi_sync(struct skvm_vcpu *vcpu, bool to_guest)
{
	struct skvm_apic *a = vcpu->apic;
	if (!a)
		return;
	if (to_guest)
		pv_eoi_to_guest(a);
	else
		pv_eoi_from_guest(a);
}

static int apic_msr_get(void *opaque, u32 index, u64 *val)
{
	struct skvm_apic *a = opaque;
	if (index == MSR_TSC_DEADLINE) {
		*val = lapic_get_tsc_deadline(&a->lapic);
		return 0;
	}
	pv_eoi_from_guest(a);
	int r = lapic_msr_read(&a->lapic, index, val, vm_now(a->ic));
	pv_eoi_to_guest(a);
	return r;
}

static int apic_msr_set(void *opaque, u32 index, u64 val)
{
	struct skvm_apic *a = opaque;
	struct skvm_irqchip *ic = a->ic;
	if (index == MSR_TSC_DEADLINE) {
		/* the guest TSC moment on the VM clock */
		const struct x86_cpu *cpu = &a->vcpu->cpu;
		u64 now = vm_now(ic), tsc = x86_tsc_read(cpu), ns = now;
		if (val > tsc && cpu->tsc_khz)
			ns += (u64)((unsigned __int128)(val - tsc) * 1000000 / cpu->tsc_khz);
		lapic_set_tsc_deadline(&a->lapic, val, ns);
		timer_poke(ic);
		return 0;
	}
	pv_eoi_from_guest(a);
	int r = lapic_msr_write(&a->lapic, index, val, vm_now(ic));
	apic_written(a, (index - LAPIC_MSR_BASE) << 4);
	pv_eoi_to_guest(a);
	return r;
}

static void apic_base_set(void *opaque, u64 base)
{
	struct skvm_apic *a = opaque;
	lapic_set_base(&a->lapic, base);
	scan_request(a->ic);
}

static u64 apic_cr8_get(void *opaque)
{
	struct skvm_apic *a = opaque;
	return lapic_get_tpr(&a->lapic) >> 4;
}

static void apic_cr8_set(void *opaque, u64 cr8)
{
	struct skvm_apic *a = opaque;
	lapic_set_tpr(&a->lapic, (u8)((cr8 & 0xf) << 4));
}

/* PIC interrupts reach this CPU (KVM's kvm_cpu_has_extint): the
 * in-kernel PIC's INTR, or with a split irqchip KVM_INTERRUPT's vector. */
static bool extint_pending(struct skvm_apic *a)
{
	if (a->ic->split)
		return a->extint >= 0 && lapic_accepts_extint(&a->lapic);
	return lapic_accepts_extint(&a->lapic) && i8259_output(&a->ic->pic);
}

/* kvm_cpu_accept_dm_intr: KVM_INTERRUPT has room for a vector that LINT0
 * will take. */
bool skvm_apic_accept_dm_intr(struct skvm_vcpu *vcpu)
{
	struct skvm_apic *a = vcpu->apic;
	return a->extint < 0 && lapic_accepts_extint(&a->lapic);
}

/*
 * INTA (KVM's kvm_cpu_get_interrupt): the PIC through LINT0 first, then
 * the LAPIC's highest deliverable vector.  The hint stays set while
 * anything waits in IRR, so a later TPR or ISR change finds it.
 */
static int apic_intr_ack(void *opaque)
{
	struct skvm_apic *a = opaque;
	_Atomic int *hint = &a->vcpu->cpu.intr_hint;
	pv_eoi_from_guest(a);
	atomic_store(hint, 0);
	if (extint_pending(a)) {
		int irq, v;
		if (a->ic->split) {
			v = a->extint;
			a->extint = -1;
		} else {
			v = i8259_inta(&a->ic->pic, &irq);
			if (irq == 0 && atomic_load(&a->ic->pit))
				pit_acked(a->ic);
		}
		atomic_store(hint, 1);
		return v;
	}
	int v = lapic_ack(&a->lapic);
	if (v >= 0 || lapic_irr_any(&a->lapic))
		atomic_store(hint, 1);
	pv_eoi_to_guest(a);
	return v;
}

static const struct x86_apic_ops apic_cpu_ops = {
	.msr_get = apic_msr_get,
	.msr_set = apic_msr_set,
	.base_set = apic_base_set,
	.cr8_get = apic_cr8_get,
	.cr8_set = apic_cr8_set,
	.intr_ack = apic_intr_ack,
};

/* ---- guest port and MMIO accesses ---- */

bool skvm_irqchip_io(struct skvm_vcpu *vcpu, bool pio, u64 addr, u32 len, void *data,
		     bool write)
{
	struct skvm_irqchip *ic = chip_of(vcpu->vm);
	if (!ic)
		return false;
	if (pio) {
		if (!write)
			return hw_bus_read(&ic->pio, addr, len, data);
		bool r = hw_bus_write(&ic->pio, addr, len, data);
		/* a PIT count or gate may have moved its next edge */
		if (r && ((addr >= I8254_BASE && addr < I8254_BASE + 4) ||
			  addr == I8254_SPEAKER_PORT))
			timer_poke(ic);
		return r;
	}
	/* Each vCPU sees its own LAPIC page at its own APIC base. */
	struct skvm_apic *a = vcpu->apic;
	if (a) {
		const struct hw_dev_ops *ops = a->lapic.dev.ops;
		u64 base = a->lapic.base & LAPIC_BASE_ADDR_MASK;
		bool mine = (addr & ~0xfffULL) == base; /* an exit to the LAPIC */
		if (mine)
			pv_eoi_from_guest(a);
		bool done = false;
		if (write && ops->write(&a->lapic.dev, addr, len, data)) {
			apic_written(a, (u32)(addr - base) & 0xff0);
			done = true;
		} else if (!write && ops->read(&a->lapic.dev, addr, len, data)) {
			done = true;
		}
		if (mine)
			pv_eoi_to_guest(a);
		if (done)
			return true;
	}
	return write ? hw_bus_write(&ic->mmio, addr, len, data)
		     : hw_bus_read(&ic->mmio, addr, len, data);
}

/* ---- VM ioctls ---- */

static void chip_free(struct skvm_irqchip *ic)
{
	struct i8254 *pit = atomic_load(&ic->pit);
	if (pit) {
		i8254_destroy(pit);
		free(pit);
	}
	pthread_mutex_destroy(&ic->pitq);
	hw_bus_destroy(&ic->pio);
	hw_bus_destroy(&ic->mmio);
	i8259_destroy(&ic->pic);
	ioapic_destroy(&ic->ioapic);
	pthread_cond_destroy(&ic->tcond);
	pthread_mutex_destroy(&ic->tlock);
	free(ic);
}

/*
 * KVM_CREATE_IRQCHIP (kvm_arch_vm_ioctl), or KVM_ENABLE_CAP of
 * KVM_CAP_SPLIT_IRQCHIP with nr_reserved GSIs (kvm_vm_ioctl_enable_cap):
 * once, and before any vCPU (EINVAL for the first, EEXIST for the second).
 */
static long create_irqchip(struct skvm_vm *vm, bool split, u32 nr_reserved)
{
	long r;
	pthread_mutex_lock(&vm->lock);
	r = -EEXIST;
	if (chip_of(vm))
		goto out;
	r = split ? -EEXIST : -EINVAL;
	if (vm->nr_vcpus)
		goto out;
	r = -ENOMEM;
	struct skvm_irqchip *ic = calloc(1, sizeof(*ic));
	if (!ic)
		goto out;
	ic->vm = vm;
	ic->split = split;
	ic->nr_reserved = nr_reserved;
	ic->clock_base = chip_clock(ic);
	pthread_mutex_init(&ic->tlock, NULL);
	pthread_mutex_init(&ic->pitq, NULL);
	ic->reinject = true;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ic->tcond, &ca);
	pthread_condattr_destroy(&ca);
	hw_bus_init(&ic->pio);
	hw_bus_init(&ic->mmio);
	i8259_init(&ic->pic, pic_raise_cb, ic);
	i8259_set_eoi_cb(&ic->pic, pic_eoi_cb);
	ioapic_init(&ic->ioapic, ioapic_deliver_cb, ic);
	if (!split && ((r = i8259_register(&ic->pic, &ic->pio)) ||
		       (r = ioapic_register(&ic->ioapic, &ic->mmio)))) {
		chip_free(ic);
		goto out;
	}
	if (skvm_thread_create(&ic->thread, timer_main, ic)) {
		chip_free(ic);
		r = -ENOMEM;
		goto out;
	}
	atomic_store_explicit(&vm->irqchip, ic, memory_order_release);
	r = 0;
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void skvm_irqchip_timers(void *opaque)
{
	struct skvm_vcpu *vcpu = opaque;
	struct skvm_irqchip *ic = chip_of(vcpu->vm);
	if (!ic || vm_now(ic) < atomic_load(&ic->det_next))
		return;
	pthread_mutex_lock(&ic->tlock);
	atomic_store(&ic->det_next, timers_run(ic));
	pthread_mutex_unlock(&ic->tlock);
}

bool skvm_irqchip_warp(struct skvm_vcpu *vcpu)
{
	struct skvm_irqchip *ic = chip_of(vcpu->vm);
	if (!ic || !x86_deterministic())
		return false;
	pthread_mutex_lock(&ic->tlock);
	u64 next = timers_run(ic);
	bool warped = next != UINT64_MAX;
	if (warped) {
		u64 to = ic->clock_base + next, cur = atomic_load(&vcpu->vm->vclock);
		while (cur < to && !atomic_compare_exchange_weak(&vcpu->vm->vclock, &cur, to))
			;
		next = timers_run(ic);
	}
	atomic_store(&ic->det_next, next);
	pthread_mutex_unlock(&ic->tlock);
	return warped;
}

void skvm_irqchip_destroy(struct skvm_vm *vm)
{
	struct skvm_irqchip *ic = chip_of(vm);
	if (!ic)
		return;
	pthread_mutex_lock(&ic->tlock);
	ic->tstop = true;
	pthread_cond_signal(&ic->tcond);
	pthread_mutex_unlock(&ic->tlock);
	pthread_join(ic->thread, NULL);
	chip_free(ic);
	vm->irqchip = NULL;
}

/* KVM_GET/SET_IRQCHIP: one PIC chip or the IOAPIC (kvm_vm_ioctl_get/set_irqchip). */
static long irqchip_state(struct skvm_vm *vm, unsigned long arg, bool set)
{
	struct kvm_irqchip chip;
	if (skvm_copy_from_user(&chip, arg, sizeof(chip)))
		return -EFAULT;
	struct skvm_irqchip *ic = chip_of(vm);
	if (!ic || ic->split) /* irqchip_kernel(): not with a split irqchip */
		return -ENXIO;
	_Static_assert(sizeof(struct i8259_chip_state) == sizeof(struct kvm_pic_state), "pic");
	_Static_assert(sizeof(struct ioapic_state) == sizeof(struct kvm_ioapic_state), "ioapic");
	struct i8259_state pics;
	switch (chip.chip_id) {
	case KVM_IRQCHIP_PIC_MASTER:
	case KVM_IRQCHIP_PIC_SLAVE:
		ic->pic.dev.ops->save(&ic->pic.dev, &pics);
		if (!set) {
			memcpy(&chip.chip.pic, &pics.chip[chip.chip_id], sizeof(chip.chip.pic));
			break;
		}
		memcpy(&pics.chip[chip.chip_id], &chip.chip.pic, sizeof(chip.chip.pic));
		return ic->pic.dev.ops->restore(&ic->pic.dev, &pics);
	case KVM_IRQCHIP_IOAPIC:
		if (!set) {
			ic->ioapic.dev.ops->save(&ic->ioapic.dev, &chip.chip.ioapic);
			break;
		}
		return ic->ioapic.dev.ops->restore(&ic->ioapic.dev, &chip.chip.ioapic);
	default:
		return -EINVAL;
	}
	return skvm_copy_to_user(arg, &chip, sizeof(chip)) ? -EFAULT : 0;
}

/* KVM_CREATE_PIT2 (and the old KVM_CREATE_PIT, with the dummy speaker
 * port): once (EEXIST), and only with the PIC in the kernel (ENOENT: none,
 * or a split irqchip, as pic_in_kernel). */
static long create_pit(struct skvm_vm *vm, u32 flags)
{
	pthread_mutex_lock(&vm->lock);
	struct skvm_irqchip *ic = chip_of(vm);
	long r = -EEXIST;
	if (ic && atomic_load(&ic->pit))
		goto out;
	r = -ENOENT;
	if (!ic || ic->split)
		goto out;
	r = -ENOMEM;
	struct i8254 *pit = calloc(1, sizeof(*pit));
	if (!pit)
		goto out;
	i8254_init(pit, pit_irq_cb, ic, vm_now, ic);
	/* port 0x61 is KVM's only with KVM_PIT_SPEAKER_DUMMY (kvm_create_pit) */
	r = hw_bus_register(&ic->pio, I8254_BASE, 4, &pit->dev);
	if (!r && (flags & KVM_PIT_SPEAKER_DUMMY))
		r = hw_bus_register(&ic->pio, I8254_SPEAKER_PORT, 1, &pit->dev);
	if (r) {
		hw_bus_unregister(&ic->pio, &pit->dev);
		i8254_destroy(pit);
		free(pit);
		goto out;
	}
	atomic_store_explicit(&ic->pit, pit, memory_order_release);
	timer_poke(ic);
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/*
 * KVM_GET/SET_PIT(2).  A set loads every channel's count anew at the
 * current time, as kvm_pit_load_count does; the old KVM_SET_PIT keeps the
 * flags.
 */
static long pit_state(struct skvm_vm *vm, unsigned long arg, bool set, bool v2)
{
	struct i8254_state st;
	_Static_assert(sizeof(struct i8254_state) == sizeof(struct kvm_pit_state2), "pit2");
	_Static_assert(sizeof(struct kvm_pit_state) == sizeof(st.channels), "pit");
	size_t n = v2 ? sizeof(st) : sizeof(st.channels);
	struct skvm_irqchip *ic = chip_of(vm);
	struct i8254 *pit = ic ? atomic_load(&ic->pit) : NULL;
	if (set && skvm_copy_from_user(&st, arg, n))
		return -EFAULT;
	if (!pit)
		return -ENXIO;
	if (!set) {
		pit->dev.ops->save(&pit->dev, &st);
		return skvm_copy_to_user(arg, &st, n) ? -EFAULT : 0;
	}
	if (!v2) {
		struct i8254_state cur;
		pit->dev.ops->save(&pit->dev, &cur);
		st.flags = cur.flags;
	}
	s64 now = (s64)vm_now(ic);
	for (int i = 0; i < 3; i++)
		st.channels[i].count_load_time = now;
	int r = pit->dev.ops->restore(&pit->dev, &st);
	timer_poke(ic);
	return r;
}

static long reinject_control(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_reinject_control rc;
	if (skvm_copy_from_user(&rc, arg, sizeof(rc)))
		return -EFAULT;
	struct skvm_irqchip *ic = chip_of(vm);
	if (!ic || !atomic_load(&ic->pit))
		return -ENXIO;
	pthread_mutex_lock(&ic->pitq);
	ic->reinject = rc.pit_reinject;
	ic->pit_pending = 0;
	ic->pit_in_flight = false;
	pthread_mutex_unlock(&ic->pitq);
	return 0;
}

long skvm_irqchip_vm_ioctl(struct skvm_vm *vm, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case KVM_CREATE_PIT2: {
		struct kvm_pit_config cfg;
		if (skvm_copy_from_user(&cfg, arg, sizeof(cfg)))
			return -EFAULT;
		return create_pit(vm, cfg.flags);
	}
	case KVM_CREATE_PIT:
		return create_pit(vm, KVM_PIT_SPEAKER_DUMMY);
	case KVM_GET_PIT:
	case KVM_SET_PIT:
		return pit_state(vm, arg, cmd == KVM_SET_PIT, false);
	case KVM_GET_PIT2:
	case KVM_SET_PIT2:
		return pit_state(vm, arg, cmd == KVM_SET_PIT2, true);
	case KVM_REINJECT_CONTROL:
		return reinject_control(vm, arg);
	case KVM_CREATE_IRQCHIP:
		return create_irqchip(vm, false, 0);
	case KVM_GET_IRQCHIP:
		return irqchip_state(vm, arg, false);
	case KVM_SET_IRQCHIP:
		return irqchip_state(vm, arg, true);
	}
	return SKVM_NOIOCTL;
}

/* Reserved IOAPIC GSIs a split irqchip may ask for (MAX_NR_RESERVED_IOAPIC_PINS). */
#define SKVM_MAX_RESERVED_PINS 4096

/* KVM_CAP_X2APIC_API: 32-bit x2APIC IDs in KVM_GET/SET_LAPIC and MSIs.
 * KVM_CAP_SPLIT_IRQCHIP: LAPICs here, PIC and IOAPIC in the VMM. */
long skvm_irqchip_enable_cap(struct skvm_vm *vm, const struct kvm_enable_cap *cap)
{
	switch (cap->cap) {
	case KVM_CAP_SPLIT_IRQCHIP:
		if (cap->args[0] > SKVM_MAX_RESERVED_PINS)
			return -EINVAL;
		return create_irqchip(vm, true, (u32)cap->args[0]);
	case KVM_CAP_X2APIC_API: {
		/* kvm_vm_ioctl_enable_cap: both directed-EOI switches at once
		 * or ENABLE without a split irqchip are EINVAL; the last one
		 * given wins, the other flags only ever turn on */
		const u64 en = KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST,
			  dis = KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST, a = cap->args[0];
		if ((a & ~(u64)SKVM_X2APIC_API_FLAGS) || ((a & en) && (a & dis)) ||
		    ((a & en) && !skvm_irqchip_split(vm)))
			return -EINVAL;
		pthread_mutex_lock(&vm->lock);
		if (a & (en | dis))
			vm->x2apic_api &= ~(u32)(en | dis);
		vm->x2apic_api |= (u32)a;
		pthread_mutex_unlock(&vm->lock);
		return 0;
	}
	}
	return SKVM_NOIOCTL;
}

/* ---- vCPUs ---- */

/* What the guest's CPUID lets the LAPIC offer (kvm_apic_set_version and
 * the timer-mode mask KVM derives from CPUID). */
static u32 apic_opts(const struct skvm_irqchip *ic, const struct x86_cpu *cpu)
{
	u32 o = 0;
	if (x86_cpuid_has(cpu, 1, 0, 2, 24))
		o |= LAPIC_OPT_TSC_DEADLINE;
	/* Directed EOI (kvm_lapic_advertise/respect_suppress_eoi_broadcast):
	 * by default (the quirk) KVM offers it to x2APIC guests only
	 * without an in-kernel IOAPIC, and then still exits for every EOI
	 * of the IOAPIC's vectors; KVM_CAP_X2APIC_API's switches offer and
	 * honour it, or never offer it. */
	u32 api = ic->vm->x2apic_api;
	bool advertise = api & KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST    ? true
			 : api & KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST ? false
									    : ic->split;
	bool respect = api & KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST	  ? true
		       : api & KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST ? false
									  : !ic->split;
	if (advertise && x86_cpuid_has(cpu, 1, 0, 2, 21))
		o |= LAPIC_OPT_EOI_SUPPRESS;
	if (!respect)
		o |= LAPIC_OPT_EOI_ALL;
	return o;
}

int skvm_irqchip_vcpu_init(struct skvm_vcpu *vcpu)
{
	struct skvm_irqchip *ic = chip_of(vcpu->vm);
	vcpu->wake_fd = -1;
	if (!ic)
		return 0;
	struct skvm_apic *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	vcpu->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vcpu->wake_fd < 0) {
		free(a);
		return -errno;
	}
	a->vcpu = vcpu;
	a->ic = ic;
	a->extint = a->stale = a->eoi_pending = -1;
	struct x86_cpu *cpu = &vcpu->cpu;
	lapic_init(&a->lapic, vcpu->id, apic_opts(ic, cpu), cpu->bsp, lapic_ipi_cb, lapic_eoi_cb,
		   a, vm_now, ic);
	lapic_set_base(&a->lapic, cpu->apic_base);
	vcpu->apic = a;
	cpu->apic = a;
	cpu->apic_ops = &apic_cpu_ops;
	/* kvm_arch_vcpu_create: APs wait for INIT/SIPI, the BSP runs. */
	cpu->mp_state = cpu->bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED;
	return 0;
}

void skvm_irqchip_vcpu_publish(struct skvm_vcpu *vcpu)
{
	struct skvm_irqchip *ic = chip_of(vcpu->vm);
	if (!ic || !vcpu->apic)
		return;
	u32 n = atomic_load_explicit(&ic->nr, memory_order_relaxed);
	ic->apics[n] = vcpu->apic;
	atomic_store_explicit(&ic->nr, n + 1, memory_order_release);
	scan_request(ic); /* a new APIC in KVM's map */
}

void skvm_irqchip_vcpu_destroy(struct skvm_vcpu *vcpu)
{
	if (vcpu->wake_fd >= 0)
		sys_close(vcpu->wake_fd);
	if (vcpu->apic) {
		lapic_destroy(&vcpu->apic->lapic);
		free(vcpu->apic);
	}
	vcpu->apic = NULL;
	vcpu->cpu.apic = NULL;
	vcpu->cpu.apic_ops = NULL;
}

void skvm_irqchip_cpuid_changed(struct skvm_vcpu *vcpu)
{
	if (vcpu->apic)
		lapic_set_opts(&vcpu->apic->lapic, apic_opts(vcpu->apic->ic, &vcpu->cpu));
}

/* KVM_GET/SET_LAPIC (kvm_apic_get_state / kvm_apic_set_state). */
static long lapic_state_ioctl(struct skvm_vcpu *vcpu, unsigned long arg, bool set)
{
	struct skvm_apic *a = vcpu->apic;
	_Static_assert(sizeof(struct lapic_state) == sizeof(struct kvm_lapic_state), "lapic");
	struct lapic_state st;
	if (!a)
		return -EINVAL;
	bool x2api = vcpu->vm->x2apic_api & KVM_X2APIC_API_USE_32BIT_IDS;
	u64 now = vm_now(a->ic);
	if (!set) {
		lapic_get_state(&a->lapic, &st, x2api, now);
		return skvm_copy_to_user(arg, &st, sizeof(st)) ? -EFAULT : 0;
	}
	if (skvm_copy_from_user(&st, arg, sizeof(st)))
		return -EFAULT;
	lapic_set_base(&a->lapic, vcpu->cpu.apic_base);
	int r = lapic_set_state(&a->lapic, &st, x2api, now);
	if (!r) {
		atomic_store(&vcpu->cpu.intr_hint, 1);
		timer_poke(a->ic);
		scan_request(a->ic);
	}
	return r;
}

/* The host address of the VAPIC word, or 0 if no slot backs it. */
static unsigned long vapic_hva(struct skvm_vcpu *vcpu, u64 gpa)
{
	struct mem_map *map = mem_map_get(&vcpu->vm->mem);
	u8 *p = mem_map_hva(map, 0, gpa, 4);
	mem_map_put(map);
	return (unsigned long)p;
}

/*
 * KVM_SET_VAPIC_ADDR (kvm_lapic_set_vapic_addr): a guest page where the TPR
 * is mirrored for guests patched to read and write it there (QEMU's
 * kvmvapic option ROM).  KVM syncs it around every guest entry; softkvm
 * around every KVM_RUN (skvm_apic_vapic_sync).  KVM_CAP_VAPIC stays 0:
 * KVM_TPR_ACCESS_REPORTING is not implemented.
 */
static long set_vapic_addr(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_vapic_addr va;
	if (!vcpu->apic)
		return -EINVAL;
	if (skvm_copy_from_user(&va, arg, sizeof(va)))
		return -EFAULT;
	if (va.vapic_addr && !vapic_hva(vcpu, va.vapic_addr))
		return -EINVAL;
	vcpu->apic->vapic_addr = va.vapic_addr;
	return 0;
}

void skvm_apic_vapic_sync(struct skvm_vcpu *vcpu, bool to_guest)
{
	struct skvm_apic *a = vcpu->apic;
	unsigned long hva = a && a->vapic_addr ? vapic_hva(vcpu, a->vapic_addr) : 0;
	u32 w;
	if (!hva)
		return;
	if (to_guest) {
		/* vcpu_enter_guest mirrors only for an enabled LAPIC */
		if (!lapic_enabled(&a->lapic))
			return;
		w = lapic_vapic_word(&a->lapic);
		skvm_copy_to_user(hva, &w, sizeof(w));
	} else if (!skvm_copy_from_user(&w, hva, sizeof(w))) {
		lapic_set_tpr(&a->lapic, (u8)w);
		atomic_store(&vcpu->cpu.intr_hint, 1);
	}
}

long skvm_irqchip_vcpu_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case KVM_SET_VAPIC_ADDR:
		return set_vapic_addr(vcpu, arg);
	case KVM_GET_LAPIC:
		return lapic_state_ioctl(vcpu, arg, false);
	case KVM_SET_LAPIC:
		return lapic_state_ioctl(vcpu, arg, true);
	case KVM_INTERRUPT: {
		/* kvm_vcpu_ioctl_interrupt with a LAPIC: refused when the PIC
		 * is in the kernel; with a split irqchip the VMM's PIC hands
		 * over one ExtINT vector at a time, taken at INTA when LINT0
		 * accepts it */
		struct kvm_interrupt irq;
		struct skvm_irqchip *ic = chip_of(vcpu->vm);
		if (!ic)
			return SKVM_NOIOCTL;
		if (skvm_copy_from_user(&irq, arg, sizeof(irq)))
			return -EFAULT;
		if (irq.irq >= 256)
			return -EINVAL;
		if (!ic->split)
			return -ENXIO;
		if (vcpu->apic->extint >= 0)
			return -EEXIST;
		vcpu->apic->extint = (int)irq.irq;
		atomic_store(&vcpu->cpu.intr_hint, 1);
		return 0;
	}
	}
	return SKVM_NOIOCTL;
}

/* ---- KVM_RUN: events, halt and wait-for-SIPI ---- */

/* kvm_vcpu_deliver_sipi_vector: real mode at vector << 12. */
static void sipi(struct x86_cpu *cpu, u8 vector)
{
	cpu->seg[S_CS].sel = (u16)(vector << 8);
	cpu->seg[S_CS].base = (u64)vector << 12;
	cpu->rip = 0;
}

/* KVM's kvm_apic_accept_events, and process_nmi's limit of two. */
void skvm_apic_accept_events(struct skvm_vcpu *vcpu)
{
	struct skvm_apic *a = vcpu->apic;
	struct x86_cpu *cpu = &vcpu->cpu;
	u8 vec;
	u32 ev = lapic_take_events(&a->lapic, &vec);
	if (ev & LAPIC_EV_INIT) {
		x86_cpu_reset(cpu, true);
		lapic_reset(&a->lapic, true);
		cpu->msr.kvm_pv_eoi_en = 0; /* kvm_lapic_reset */
		a->pv_eoi_pending = false;
		cpu->mp_state = cpu->bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_INIT_RECEIVED;
	}
	if ((ev & LAPIC_EV_SIPI) && cpu->mp_state == KVM_MP_STATE_INIT_RECEIVED) {
		sipi(cpu, vec);
		cpu->mp_state = KVM_MP_STATE_RUNNABLE;
	}
	if ((ev & LAPIC_EV_NMI) && cpu->ev.nmi.pending < 2)
		cpu->ev.nmi.pending++;
}

bool skvm_apic_runnable(struct skvm_vcpu *vcpu)
{
	struct skvm_apic *a = vcpu->apic;
	struct x86_cpu *cpu = &vcpu->cpu;
	if (a->ic->split)
		split_scan(a);
	skvm_apic_accept_events(vcpu);
	switch (cpu->mp_state) {
	case KVM_MP_STATE_RUNNABLE:
		return true;
	case KVM_MP_STATE_HALTED:
		/* kvm_vcpu_has_events: an NMI it may take, or an interrupt
		 * with IF set */
		if ((cpu->ev.nmi.pending && !cpu->ev.nmi.masked) ||
		    cpu->ev.exception.pending || cpu->ev.exception.injected ||
		    ((cpu->rflags & X86_FL_IF) &&
		     (extint_pending(a) || lapic_has_interrupt(&a->lapic) >= 0))) {
			cpu->mp_state = KVM_MP_STATE_RUNNABLE;
			return true;
		}
		return false;
	default: /* UNINITIALIZED, INIT_RECEIVED: wait for INIT / SIPI */
		return false;
	}
}

/* KVM_SET_MP_STATE with a LAPIC (kvm_arch_vcpu_ioctl_set_mpstate):
 * SIPI_RECEIVED means INIT_RECEIVED with the last SIPI vector pending. */
long skvm_apic_set_mp_state(struct skvm_vcpu *vcpu, u32 state)
{
	struct skvm_apic *a = vcpu->apic;
	switch (state) {
	case KVM_MP_STATE_RUNNABLE:
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_HALTED:
	case KVM_MP_STATE_INIT_RECEIVED:
		vcpu->cpu.mp_state = state;
		return 0;
	case KVM_MP_STATE_SIPI_RECEIVED:
		vcpu->cpu.mp_state = KVM_MP_STATE_INIT_RECEIVED;
		lapic_accept_irq(&a->lapic, a->lapic.sipi_vector, LAPIC_DM_STARTUP, false, true);
		return 0;
	default:
		return -EINVAL;
	}
}

int skvm_apic_block(struct skvm_vcpu *vcpu, const sigset_t *mask, bool *waited)
{
	int r = 0;
	*waited = false;
	atomic_store(&vcpu->sleeping, 1);
	if (!atomic_load(&vcpu->kick) && !skvm_apic_runnable(vcpu)) {
		/*
		 * The wait keeps every signal blocked, as the engine runs: a
		 * signal KVM_RUN allows (one not in `mask`) only ends it,
		 * through a signalfd, and its handler runs once KVM_RUN has
		 * returned, as in KVM.  A handler run in here could unwind
		 * the thread (pthread_cancel, longjmp) through softkvm with
		 * its memslot-map reference held, and the next memslot
		 * change would wait for it forever (xapic_ipi_test).
		 * mask NULL: signals are not blocked (run.c's fast way); a
		 * wrapped handler defers its signal, kicks, and the poll
		 * ends with EINTR or the wake.
		 */
		int sfd = -1;
		if (mask) {
			sigset_t allowed;
			sigemptyset(&allowed);
			for (int n = 1; n <= SIGRTMAX; n++)
				if (n != SIGKILL && n != SIGSTOP && !sigismember(mask, n))
					skvm_sigset_add(&allowed, n);
			sfd = signalfd(-1, &allowed, SFD_CLOEXEC | SFD_NONBLOCK);
		}
		struct pollfd p[2] = {{.fd = vcpu->wake_fd, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};
		int k = poll(p, sfd >= 0 ? 2 : 1, -1);
		if ((k < 0 && errno == EINTR) || (k > 0 && sfd >= 0 && (p[1].revents & POLLIN)))
			r = -EINTR;
		else if (k > 0 && (p[0].revents & POLLIN))
			skvm_stat_inc(vcpu->stats, VCPU_STAT_HALT_WAKEUP);
		*waited = true;
		if (sfd >= 0)
			sys_close(sfd);
	}
	atomic_store(&vcpu->sleeping, 0);
	u64 v;
	ssize_t n = read(vcpu->wake_fd, &v, sizeof(v));
	(void)n;
	return r;
}

/* ---- debugging a hung guest ---- */

/*
 * skvm_debug_dump(): every VM's vCPUs as the interrupt path sees them
 * (LAPIC IRR/ISR/TPR/PPR, the timer, PV EOI, pending events, halt state)
 * appended to the file path (NULL: stderr).  Not called by softkvm itself: a debugger calls it in a
 * process whose guest stopped taking interrupts (`gdb -p PID -batch -ex
 * 'call (void)skvm_debug_dump("FILE")'`; tests/qemu/migrate.pl does so with
 * SKVM_QEMU_MIGRATE_GDB).  It reads without taking locks, so a thread
 * stuck holding one does not stop it; a field may be torn.
 */
static u32 get32(const struct lapic *l, u32 off)
{
	u32 v;
	memcpy(&v, l->s.regs + off, 4);
	return v;
}

static void dump_vec(FILE *f, const char *name, const struct lapic *l, u32 base)
{
	fprintf(f, " %s", name);
	for (int i = 7; i >= 0; i--) {
		u32 w;
		memcpy(&w, l->s.regs + base + (u32)i * 0x10, 4);
		fprintf(f, "%c%08x", i == 7 ? '=' : ':', w);
	}
}

static void dump_vcpu(FILE *f, struct skvm_vcpu *vcpu)
{
	struct x86_cpu *c = &vcpu->cpu;
	const struct x86_events *ev = &c->ev;
	fprintf(f, "vcpu %u: mp_state %u rip %#llx rflags %#llx shadow %u sleeping %d kick %d "
		   "intr_hint %d tsc %llu tsc_khz %llu\n",
		vcpu->id, c->mp_state, (unsigned long long)c->rip, (unsigned long long)c->rflags,
		c->int_shadow, atomic_load(&vcpu->sleeping), atomic_load(&vcpu->kick),
		atomic_load(&c->intr_hint), (unsigned long long)x86_tsc_read(c),
		(unsigned long long)c->tsc_khz);
	fprintf(f, "  events: exc inj %u pend %u nr %u; intr inj %u nr %u soft %u; nmi inj %u "
		   "pend %u masked %u\n",
		ev->exception.injected, ev->exception.pending, ev->exception.nr,
		ev->interrupt.injected, ev->interrupt.nr, ev->interrupt.soft, ev->nmi.injected,
		ev->nmi.pending, ev->nmi.masked);
	fprintf(f, "  pv: system_time %#llx pv_eoi_en %#llx steal %#llx",
		(unsigned long long)c->msr.kvm_system_time, (unsigned long long)c->msr.kvm_pv_eoi_en,
		(unsigned long long)c->msr.kvm_steal_time);
	struct skvm_apic *a = vcpu->apic;
	if (!a) {
		fprintf(f, "\n");
		return;
	}
	u8 flag = 0xff;
	if (c->msr.kvm_pv_eoi_en & KVM_MSR_ENABLED)
		skvm_guest_rw(vcpu, pv_eoi_gpa(a), &flag, 1, false);
	fprintf(f, " pv_eoi_pending %d guest flag %#x\n", a->pv_eoi_pending, flag);
	struct lapic *l = &a->lapic;
	u64 now = vm_now(a->ic);
	fprintf(f, "  lapic: base %#llx svr %#x tpr %#x ppr %#x lvtt %#x tmict %u tdcr %#x "
		   "lint0 %#x isr_cache %d\n",
		(unsigned long long)l->base, get32(l, LAPIC_SVR), get32(l, LAPIC_TPR),
		get32(l, LAPIC_PPR), get32(l, LAPIC_LVT_TIMER), get32(l, LAPIC_TMICT),
		get32(l, LAPIC_TDCR), get32(l, 0x350), l->isr_cache);
	fprintf(f, "  timer: now %llu active %d start %llu expiry %lld from now, tsc_deadline %llu "
		   "(%lld ns from now; %lld ticks past the TSC)\n",
		(unsigned long long)now, l->timer_active, (unsigned long long)l->timer_start_ns,
		l->timer_expiry_ns == UINT64_MAX ? -1LL : (long long)(l->timer_expiry_ns - now),
		(unsigned long long)l->tsc_deadline, (long long)(l->tsc_deadline_ns - now),
		(long long)(l->tsc_deadline - x86_tsc_read(c)));
	fprintf(f, " ");
	dump_vec(f, "isr", l, LAPIC_ISR);
	dump_vec(f, "irr", l, LAPIC_IRR);
	fprintf(f, "\n");
}

void skvm_debug_dump(const char *path);
void skvm_debug_dump(const char *path)
{
	FILE *f = path ? fopen(path, "a") : stderr;
	if (!f)
		return;
	for (int fd = 0; fd < 4096; fd++) {
		if (skvm_file_kind(fd) != SKVM_VM)
			continue;
		struct skvm_file *file = skvm_file_get(fd);
		if (!file)
			continue;
		struct skvm_vm *vm = file->obj;
		struct skvm_irqchip *ic = chip_of(vm);
		fprintf(f, "softkvm dump: VM fd %d, %u vCPUs, irqchip %s, kvmclock offset %lld\n", fd,
			vm->nr_vcpus, !ic ? "none" : ic->split ? "split" : "in-kernel",
			(long long)atomic_load(&vm->kvmclock_offset));
		if (ic && !ic->split)
			fprintf(f, "  pit %s, pit_pending %u in_flight %d\n",
				atomic_load(&ic->pit) ? "yes" : "no", ic->pit_pending, ic->pit_in_flight);
		for (u32 i = 0; i < vm->nr_vcpus; i++)
			if (vm->vcpus[i])
				dump_vcpu(f, vm->vcpus[i]);
		skvm_file_put(file);
	}
	if (f != stderr)
		fclose(f);
	else
		fflush(f);
}
