/*
 * Local APIC (Intel SDM Vol. 3A, chapter 11).  The state is the 1 KiB
 * register page of struct kvm_lapic_state; in x2APIC mode the ID register
 * holds the 32-bit ID and the ICR's high half lives in the ICR2 slot, which
 * is the layout KVM_GET_LAPIC shows.  The bus clock is 1 GHz, as KVM's
 * (one timer tick per ns before the divider).
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "hw/lapic.h"

#define LVR_VERSION 0x14
#define ESR_SEND_ILLEGAL BIT(5)
#define ESR_RECV_ILLEGAL BIT(6)
#define ICR_BUSY BIT(12)
#define X2APIC_ICR_RSVD (0xfff00000ULL | BIT(16) | BIT(17) | BIT(13))

/* Writable bits of each LVT entry, as KVM keeps them. */
#define LVT_BASIC 0x110ffu		      /* mask, delivery status, vector */
#define LVT_DM (LVT_BASIC | 0x700u)	      /* + delivery mode */
#define LVT_LINT (LVT_DM | 0xe000u)	      /* + polarity, remote IRR, trigger */

static const struct {
	u16 off;
	u32 mask;
} lvts[] = {
	{LAPIC_LVT_TIMER, LVT_BASIC}, /* + timer mode bits, per options */
	{LAPIC_LVT_THERMAL, LVT_DM},  {LAPIC_LVT_PERF, LVT_DM},
	{LAPIC_LVT_LINT0, LVT_LINT},  {LAPIC_LVT_LINT1, LVT_LINT},
	{LAPIC_LVT_ERROR, LVT_BASIC}, {LAPIC_LVT_CMCI, LVT_DM}, /* last: optional */
};

/* memcpy, not u32 pointers: the page is a char array (strict aliasing). */
static u32 get(struct lapic *l, u32 off)
{
	u32 v;
	memcpy(&v, l->s.regs + off, 4);
	return v;
}
static void set(struct lapic *l, u32 off, u32 v) { memcpy(l->s.regs + off, &v, 4); }
static void set_bits(struct lapic *l, u32 off, u32 bits) { set(l, off, get(l, off) | bits); }

static bool x2apic(const struct lapic *l) { return l->base & LAPIC_BASE_EXTD; }
static bool hw_on(const struct lapic *l) { return l->base & LAPIC_BASE_EN; }
static bool sw_on(struct lapic *l) { return get(l, LAPIC_SVR) & LAPIC_SVR_ENABLE; }
static unsigned nr_lvt(const struct lapic *l) { return (l->opts & LAPIC_OPT_CMCI) ? 7 : 6; }

static int lvt_index(const struct lapic *l, u32 off)
{
	for (unsigned i = 0; i < nr_lvt(l); i++)
		if (lvts[i].off == off)
			return (int)i;
	return -1;
}

/* The 256-bit IRR/ISR/TMR: eight registers 16 bytes apart. */
static u32 vec_off(u32 base, unsigned v) { return base + (v / 32) * 0x10; }
static bool vec_test(struct lapic *l, u32 base, unsigned v) { return get(l, vec_off(base, v)) >> (v % 32) & 1; }
static void vec_set(struct lapic *l, u32 base, unsigned v) { set_bits(l, vec_off(base, v), 1u << (v % 32)); }
static void vec_clear(struct lapic *l, u32 base, unsigned v)
{
	set(l, vec_off(base, v), get(l, vec_off(base, v)) & ~(1u << (v % 32)));
}

static int vec_highest(struct lapic *l, u32 base)
{
	for (int w = 7; w >= 0; w--) {
		u32 x = get(l, base + (u32)w * 0x10);
		if (x)
			return w * 32 + 31 - __builtin_clz(x);
	}
	return -1;
}

/* SDM 11.8.3.1: the higher of TPR and the class of the highest ISR bit. */
static void update_ppr(struct lapic *l)
{
	u32 tpr = get(l, LAPIC_TPR) & 0xff;
	int isrv = vec_highest(l, LAPIC_ISR);
	u32 isr_class = isrv < 0 ? 0 : (u32)isrv & 0xf0;
	set(l, LAPIC_PPR, (tpr & 0xf0) >= isr_class ? tpr : isr_class);
}

static u32 lvr_value(const struct lapic *l)
{
	u32 v = LVR_VERSION | (nr_lvt(l) - 1) << 16;
	if (l->opts & LAPIC_OPT_EOI_SUPPRESS)
		v |= LAPIC_LVR_EOI_SUPPRESS;
	return v;
}

static u32 x2apic_ldr(u32 id) { return (id >> 4) << 16 | 1u << (id & 0xf); }

static int accept(struct lapic *l, u8 vector, u8 dm, bool trig, bool level);

/*
 * SDM 11.5.3: errors collect until software writes the ESR, which latches
 * them; a new error raises the LVT error interrupt.  (KVM never sets ESR
 * bits; ours are the two illegal-vector errors, which KVM does not check.)
 */
static void set_error(struct lapic *l, u32 bits)
{
	if ((l->esr_pending & bits) == bits)
		return;
	l->esr_pending |= bits;
	u32 lvt = get(l, LAPIC_LVT_ERROR);
	if (!(lvt & LAPIC_LVT_MASKED))
		accept(l, lvt & 0xff, LAPIC_DM_FIXED, false, true);
}

/* SDM 11.6.1 / KVM __apic_accept_irq; returns 1 if accepted. */
static int accept(struct lapic *l, u8 vector, u8 dm, bool trig, bool level)
{
	if (!hw_on(l))
		return 0;
	switch (dm) {
	case LAPIC_DM_FIXED:
	case LAPIC_DM_LOWEST:
		/* A level de-assert message carries no interrupt (as KVM). */
		if (!sw_on(l) || (trig && !level))
			return 0;
		if (vector < 16) {
			set_error(l, ESR_RECV_ILLEGAL);
			return 0;
		}
		if (trig)
			vec_set(l, LAPIC_TMR, vector);
		else
			vec_clear(l, LAPIC_TMR, vector);
		vec_set(l, LAPIC_IRR, vector);
		return 1;
	case LAPIC_DM_SMI:
		l->events |= LAPIC_EV_SMI;
		return 1;
	case LAPIC_DM_NMI:
		l->events |= LAPIC_EV_NMI;
		return 1;
	case LAPIC_DM_INIT:
		/* An INIT level de-assert (trigger level, level 0) does nothing. */
		if (trig && !level)
			return 0;
		l->events |= LAPIC_EV_INIT;
		return 1;
	case LAPIC_DM_STARTUP:
		l->sipi_vector = vector;
		l->events |= LAPIC_EV_SIPI;
		return 1;
	case LAPIC_DM_EXTINT:
		l->events |= LAPIC_EV_EXTINT;
		return 1;
	default:
		return 0;
	}
}

static void local_deliver(struct lapic *l, u32 lvt_off)
{
	u32 v = get(l, lvt_off);
	if (v & LAPIC_LVT_MASKED)
		return;
	accept(l, v & 0xff, (v >> 8) & 7, v & BIT(15), true);
}

/* ---- timer ---- */

static unsigned timer_mode(struct lapic *l) { return (get(l, LAPIC_LVT_TIMER) >> 17) & 3; }

/* TDCR bits 3,1:0 (SDM Figure 11-10): 2, 4, ..., 128, then 1 for 0b1011. */
static u64 divide(struct lapic *l)
{
	u32 d = get(l, LAPIC_TDCR);
	u32 code = (d & 3) | ((d & 8) >> 1);
	return code == 7 ? 1 : 2ULL << code;
}

static u64 period_ns(struct lapic *l) { return (u64)get(l, LAPIC_TMICT) * divide(l); }

static void timer_stop(struct lapic *l)
{
	l->timer_active = false;
	l->timer_expiry_ns = UINT64_MAX;
}

static u32 current_count(struct lapic *l, u64 now)
{
	u32 ict = get(l, LAPIC_TMICT);
	unsigned mode = timer_mode(l);
	if (!l->timer_active || !ict || mode > LAPIC_TIMER_PERIODIC)
		return 0;
	u64 ticks = (now - l->timer_start_ns) / divide(l);
	if (mode == LAPIC_TIMER_PERIODIC)
		return ict - (u32)(ticks % ict);
	return ticks >= ict ? 0 : ict - (u32)ticks;
}

/* Start counting from count (<= TMICT) at now. */
static void timer_start(struct lapic *l, u32 count, u64 now)
{
	u32 ict = get(l, LAPIC_TMICT);
	if (!ict || timer_mode(l) > LAPIC_TIMER_PERIODIC || !count) {
		timer_stop(l);
		return;
	}
	l->timer_active = true;
	l->timer_start_ns = now - (u64)(ict - count) * divide(l);
	l->timer_expiry_ns = now + (u64)count * divide(l);
}

/*
 * As KVM's apic_update_lvtt: entering or leaving TSC-deadline mode stops
 * the timer and clears TMICT and the deadline; between one-shot and
 * periodic the count runs on (a periodic count turning one-shot ends at
 * the current period's end).
 */
static void timer_mode_changed(struct lapic *l, unsigned old, u64 now)
{
	unsigned mode = timer_mode(l);
	if ((old == LAPIC_TIMER_TSC_DEADLINE) != (mode == LAPIC_TIMER_TSC_DEADLINE)) {
		timer_stop(l);
		set(l, LAPIC_TMICT, 0);
		l->tsc_deadline = 0;
	} else if (l->timer_active && old == LAPIC_TIMER_PERIODIC && mode == LAPIC_TIMER_ONESHOT) {
		u64 p = period_ns(l);
		l->timer_start_ns += (now - l->timer_start_ns) / p * p;
	}
}

void lapic_timer_advance(struct lapic *l, u64 now)
{
	pthread_mutex_lock(&l->lock);
	if (timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE) {
		if (l->tsc_deadline && now >= l->tsc_deadline_ns) {
			l->tsc_deadline = 0;
			l->timer_expiry_ns = UINT64_MAX;
			local_deliver(l, LAPIC_LVT_TIMER);
		}
	} else if (l->timer_expiry_ns <= now) {
		/* Missed periods coalesce into the one IRR bit. */
		if (timer_mode(l) == LAPIC_TIMER_PERIODIC) {
			u64 p = period_ns(l);
			l->timer_expiry_ns += ((now - l->timer_expiry_ns) / p + 1) * p;
		} else {
			timer_stop(l); /* TMCCT stays 0 until the next TMICT write */
		}
		local_deliver(l, LAPIC_LVT_TIMER);
	}
	pthread_mutex_unlock(&l->lock);
}

u64 lapic_timer_next_event(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	u64 t = l->timer_expiry_ns;
	pthread_mutex_unlock(&l->lock);
	return t;
}

void lapic_set_tsc_deadline(struct lapic *l, u64 tsc, u64 deadline_ns)
{
	pthread_mutex_lock(&l->lock);
	if (hw_on(l) && timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE) {
		l->tsc_deadline = tsc;
		l->tsc_deadline_ns = deadline_ns;
		l->timer_expiry_ns = tsc ? deadline_ns : UINT64_MAX;
	}
	pthread_mutex_unlock(&l->lock);
}

u64 lapic_get_tsc_deadline(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	u64 v = timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
	pthread_mutex_unlock(&l->lock);
	return v;
}

/* ---- registers ---- */

/* What a write leaves for after the unlock. */
struct after {
	bool ipi, eoi, eoi_level;
	u8 eoi_vector;
	struct lapic_ipi msg;
};

static void run_after(struct lapic *l, const struct after *a)
{
	if (a->ipi && l->ipi)
		l->ipi(l->opaque, l, &a->msg);
	if (a->eoi && l->eoi)
		l->eoi(l->opaque, a->eoi_vector, a->eoi_level);
}

static void do_eoi(struct lapic *l, struct after *a)
{
	int v = vec_highest(l, LAPIC_ISR);
	if (v < 0)
		return;
	vec_clear(l, LAPIC_ISR, (unsigned)v);
	l->isr_cache = -1;
	update_ppr(l);
	bool level = vec_test(l, LAPIC_TMR, (unsigned)v);
	/* SDM 11.8.5: with EOI-broadcast suppression a level EOI stays local. */
	if (level && (get(l, LAPIC_SVR) & LAPIC_SVR_EOI_SUPPRESS) &&
	    !(l->opts & LAPIC_OPT_EOI_ALL))
		return;
	a->eoi = true;
	a->eoi_vector = (u8)v;
	a->eoi_level = level;
}

static void send_icr(struct lapic *l, u32 lo, u32 dest, struct after *a)
{
	struct lapic_ipi m = {
		.vector = lo & 0xff,
		.delivery_mode = (lo >> 8) & 7,
		.dest_mode = (lo >> 11) & 1,
		.level = lo & BIT(14),
		.trigger = lo & BIT(15),
		.shorthand = (lo >> 18) & 3,
		.dest = dest,
	};
	if (m.vector < 16 && m.delivery_mode <= LAPIC_DM_LOWEST) {
		set_error(l, ESR_SEND_ILLEGAL);
		return;
	}
	a->ipi = true;
	a->msg = m;
}

static bool readable(struct lapic *l, u32 off)
{
	switch (off) {
	case LAPIC_APR:
	case LAPIC_DFR:
	case LAPIC_ICR2:
		return !x2apic(l);
	case LAPIC_ID: case LAPIC_LVR: case LAPIC_TPR: case LAPIC_PPR: case LAPIC_LDR:
	case LAPIC_SVR: case LAPIC_ESR: case LAPIC_ICR: case LAPIC_TMICT: case LAPIC_TMCCT:
	case LAPIC_TDCR:
		return true;
	default:
		if (off >= LAPIC_ISR && off < LAPIC_IRR + 0x80 && !(off & 0xf))
			return true;
		return lvt_index(l, off) >= 0;
	}
}

/* A readable register's value (lock held). */
static u32 read_reg(struct lapic *l, u32 off, u64 now)
{
	switch (off) {
	case LAPIC_APR:
		return 0; /* P6 only; KVM reads 0 */
	case LAPIC_TMCCT:
		return current_count(l, now);
	case LAPIC_PPR:
		update_ppr(l);
		return get(l, off);
	default:
		return get(l, off);
	}
}

/* Returns -1 where an x2APIC write #GPs; xAPIC callers ignore it. */
static int write_reg(struct lapic *l, u32 off, u32 val, u64 now, struct after *a)
{
	int i;
	switch (off) {
	case LAPIC_ID:
		if (x2apic(l))
			return -1;
		set(l, off, val & 0xff000000);
		return 0;
	case LAPIC_TPR:
		set(l, off, val & 0xff);
		update_ppr(l);
		return 0;
	case LAPIC_EOI:
		do_eoi(l, a);
		return 0;
	case LAPIC_LDR:
		if (x2apic(l))
			return -1;
		set(l, off, val & 0xff000000);
		return 0;
	case LAPIC_DFR:
		if (x2apic(l))
			return -1;
		set(l, off, val | 0x0fffffff);
		return 0;
	case LAPIC_SVR: {
		u32 mask = 0x3ff;
		if (get(l, LAPIC_LVR) & LAPIC_LVR_EOI_SUPPRESS)
			mask |= LAPIC_SVR_EOI_SUPPRESS;
		set(l, off, val & mask);
		/* SDM 11.4.7.2: software disable masks every LVT entry. */
		if (!(val & LAPIC_SVR_ENABLE))
			for (unsigned k = 0; k < nr_lvt(l); k++)
				set_bits(l, lvts[k].off, LAPIC_LVT_MASKED);
		return 0;
	}
	case LAPIC_ESR:
		if (x2apic(l) && val)
			return -1;
		set(l, off, l->esr_pending);
		l->esr_pending = 0;
		return 0;
	case LAPIC_ICR:
		if (x2apic(l))
			return -1; /* the MSR path writes the 64-bit ICR */
		set(l, off, val & ~(u32)ICR_BUSY);
		send_icr(l, val, get(l, LAPIC_ICR2) >> 24, a);
		return 0;
	case LAPIC_ICR2:
		if (x2apic(l))
			return -1;
		set(l, off, val & 0xff000000);
		return 0;
	case LAPIC_TMICT:
		if (timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE)
			return 0; /* SDM 11.5.4.1: ignored in TSC-deadline mode */
		set(l, off, val);
		timer_start(l, val, now);
		return 0;
	case LAPIC_TDCR: {
		u32 cc = current_count(l, now);
		set(l, off, val & 0xb);
		/* The count goes on from where it is at the new rate. */
		if (l->timer_active)
			timer_start(l, cc, now);
		return 0;
	}
	case LAPIC_SELF_IPI:
		if (!x2apic(l) || (val & ~0xffu))
			return -1; /* bits 31:8 reserved */
		accept(l, val & 0xff, LAPIC_DM_FIXED, false, true);
		return 0;
	default:
		i = lvt_index(l, off);
		if (i < 0)
			return -1; /* read-only or reserved */
		u32 mask = lvts[i].mask;
		if (off == LAPIC_LVT_TIMER)
			mask |= (l->opts & LAPIC_OPT_TSC_DEADLINE) ? 3u << 17 : 1u << 17;
		if (!sw_on(l))
			val |= LAPIC_LVT_MASKED;
		unsigned old_mode = timer_mode(l);
		set(l, off, val & mask);
		if (off == LAPIC_LVT_TIMER)
			timer_mode_changed(l, old_mode, now);
		return 0;
	}
}

u32 lapic_mmio_read(struct lapic *l, u32 off, u64 now)
{
	pthread_mutex_lock(&l->lock);
	u32 v;
	off &= 0xff0;
	/* Disabled or x2APIC: KVM's MMIO hole reads all ones. */
	if (!hw_on(l) || x2apic(l))
		v = 0xffffffff;
	else
		v = readable(l, off) ? read_reg(l, off, now) : 0;
	pthread_mutex_unlock(&l->lock);
	return v;
}

void lapic_mmio_write(struct lapic *l, u32 off, u32 val, u64 now)
{
	struct after a = {0};
	pthread_mutex_lock(&l->lock);
	if (hw_on(l) && !x2apic(l) && !(off & 0xf) && off < LAPIC_SELF_IPI)
		write_reg(l, off, val, now, &a);
	pthread_mutex_unlock(&l->lock);
	run_after(l, &a);
}

int lapic_msr_read(struct lapic *l, u32 msr, u64 *val, u64 now)
{
	u32 off = (msr - LAPIC_MSR_BASE) << 4;
	int r = 0;
	if (msr < LAPIC_MSR_BASE || msr > LAPIC_MSR_END)
		return -1;
	pthread_mutex_lock(&l->lock);
	if (!x2apic(l) || !readable(l, off))
		r = -1;
	else if (off == LAPIC_ICR)
		*val = (u64)get(l, LAPIC_ICR2) << 32 | get(l, LAPIC_ICR);
	else
		*val = read_reg(l, off, now);
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lapic_msr_write(struct lapic *l, u32 msr, u64 val, u64 now)
{
	u32 off = (msr - LAPIC_MSR_BASE) << 4;
	struct after a = {0};
	int r = 0;
	if (msr < LAPIC_MSR_BASE || msr > LAPIC_MSR_END)
		return -1;
	pthread_mutex_lock(&l->lock);
	if (!x2apic(l)) {
		r = -1;
	} else if (off == LAPIC_ICR) {
		/* One 64-bit register; busy is ignored as on Intel (KVM does too). */
		if (val & X2APIC_ICR_RSVD) {
			r = -1;
		} else {
			set(l, LAPIC_ICR, (u32)val & ~(u32)ICR_BUSY);
			set(l, LAPIC_ICR2, (u32)(val >> 32));
			send_icr(l, (u32)val, (u32)(val >> 32), &a);
		}
	} else if (val >> 32) {
		r = -1;
	} else {
		r = write_reg(l, off, (u32)val, now, &a);
	}
	pthread_mutex_unlock(&l->lock);
	run_after(l, &a);
	return r;
}

/* ---- interrupts ---- */

int lapic_accept_irq(struct lapic *l, u8 vector, u8 dm, bool trigger_level, bool level)
{
	pthread_mutex_lock(&l->lock);
	int r = accept(l, vector, dm, trigger_level, level);
	pthread_mutex_unlock(&l->lock);
	return r;
}

static int pending_vector(struct lapic *l)
{
	if (!hw_on(l))
		return -1;
	update_ppr(l);
	int v = vec_highest(l, LAPIC_IRR);
	if (v < 0 || ((u32)v & 0xf0) <= (get(l, LAPIC_PPR) & 0xf0))
		return -1;
	return v;
}

int lapic_has_interrupt(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	int v = pending_vector(l);
	pthread_mutex_unlock(&l->lock);
	return v;
}

int lapic_ack(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	int v = pending_vector(l);
	if (v >= 0) {
		vec_clear(l, LAPIC_IRR, (unsigned)v);
		vec_set(l, LAPIC_ISR, (unsigned)v);
		l->isr_cache = v;
		update_ppr(l);
	}
	pthread_mutex_unlock(&l->lock);
	return v;
}

int lapic_pv_eoi_vector(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	int v = hw_on(l) && vec_highest(l, LAPIC_IRR) < 0 ? l->isr_cache : -1;
	pthread_mutex_unlock(&l->lock);
	return v;
}

void lapic_eoi(struct lapic *l)
{
	struct after a = {0};
	pthread_mutex_lock(&l->lock);
	do_eoi(l, &a);
	pthread_mutex_unlock(&l->lock);
	run_after(l, &a);
}

bool lapic_enabled(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	bool r = hw_on(l) && sw_on(l);
	pthread_mutex_unlock(&l->lock);
	return r;
}

u32 lapic_vapic_word(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	int irr = vec_highest(l, LAPIC_IRR), isr = vec_highest(l, LAPIC_ISR);
	u32 v = (get(l, LAPIC_TPR) & 0xff) | ((u32)(isr < 0 ? 0 : isr) & 0xf0) << 8 |
		(u32)(irr < 0 ? 0 : irr) << 24;
	pthread_mutex_unlock(&l->lock);
	return v;
}

bool lapic_irr_any(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	bool r = hw_on(l) && vec_highest(l, LAPIC_IRR) >= 0;
	pthread_mutex_unlock(&l->lock);
	return r;
}

bool lapic_vector_pending(struct lapic *l, u8 vector)
{
	pthread_mutex_lock(&l->lock);
	bool r = vec_test(l, LAPIC_IRR, vector) || vec_test(l, LAPIC_ISR, vector);
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* KVM's kvm_apic_accept_pic_intr: a hardware-disabled APIC passes INTR
 * through, an enabled one takes it on an unmasked ExtINT LINT0. */
bool lapic_accepts_extint(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	u32 lvt0 = get(l, LAPIC_LVT_LINT0);
	bool r = !hw_on(l) ||
		 (!(lvt0 & LAPIC_LVT_MASKED) && ((lvt0 >> 8) & 7) == LAPIC_DM_EXTINT);
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* Without the lock: called on the vCPU's own thread (every exit's
 * kvm_run->cr8, MOV from CR8), which is the TPR's only writer (guest
 * writes, and state ioctls under the same vCPU lock). */
u8 lapic_get_tpr(struct lapic *l)
{
	return (u8)get(l, LAPIC_TPR);
}

void lapic_set_tpr(struct lapic *l, u8 tpr)
{
	pthread_mutex_lock(&l->lock);
	set(l, LAPIC_TPR, tpr);
	update_ppr(l);
	pthread_mutex_unlock(&l->lock);
}

void lapic_set_opts(struct lapic *l, u32 opts)
{
	pthread_mutex_lock(&l->lock);
	l->opts = opts;
	set(l, LAPIC_LVR, lvr_value(l));
	if (!(opts & LAPIC_OPT_EOI_SUPPRESS))
		set(l, LAPIC_SVR, get(l, LAPIC_SVR) & ~LAPIC_SVR_EOI_SUPPRESS);
	pthread_mutex_unlock(&l->lock);
}

u8 lapic_ppr(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	update_ppr(l);
	u8 v = (u8)get(l, LAPIC_PPR);
	pthread_mutex_unlock(&l->lock);
	return v;
}

u32 lapic_take_events(struct lapic *l, u8 *sipi)
{
	/* every KVM_RUN asks: most of the time there are none (a sender
	 * sets them, then kicks the vCPU, which asks again) */
	if (!atomic_load_explicit(&l->events, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&l->lock);
	u32 e = l->events;
	l->events = 0;
	if (sipi)
		*sipi = l->sipi_vector;
	pthread_mutex_unlock(&l->lock);
	return e;
}

void lapic_lint(struct lapic *l, unsigned pin)
{
	pthread_mutex_lock(&l->lock);
	if (pin < 2)
		local_deliver(l, pin ? LAPIC_LVT_LINT1 : LAPIC_LVT_LINT0);
	pthread_mutex_unlock(&l->lock);
}

/* SDM 11.6.2; the 0xff-to-x2APIC broadcast for IOAPIC/MSI messages is KVM's. */
bool lapic_match_dest(struct lapic *l, u32 dest, u8 dest_mode, u8 shorthand,
		      const struct lapic *src)
{
	pthread_mutex_lock(&l->lock);
	bool r = false;
	if (!hw_on(l))
		goto out;
	switch (shorthand) {
	case LAPIC_SH_SELF:
		r = l == src;
		goto out;
	case LAPIC_SH_ALL:
		r = true;
		goto out;
	case LAPIC_SH_ALL_BUT_SELF:
		r = l != src;
		goto out;
	}
	if (x2apic(l)) {
		if (!src && dest == 0xff)
			dest = 0xffffffff;
		if (dest == 0xffffffff) {
			r = true;
		} else if (!dest_mode) {
			r = dest == get(l, LAPIC_ID);
		} else {
			u32 ldr = get(l, LAPIC_LDR);
			r = (ldr >> 16) == (dest >> 16) && (ldr & dest & 0xffff);
		}
		goto out;
	}
	dest &= 0xff;
	if (dest == 0xff) {
		r = true;
	} else if (!dest_mode) {
		r = dest == get(l, LAPIC_ID) >> 24;
	} else {
		u32 lid = get(l, LAPIC_LDR) >> 24;
		if ((get(l, LAPIC_DFR) >> 28) == 0xf) /* flat */
			r = lid & dest;
		else /* cluster: 4-bit cluster, 4-bit member mask */
			r = (lid >> 4) == (dest >> 4) && (lid & dest & 0xf);
	}
out:
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* ---- base, reset, state ---- */

static void reset_locked(struct lapic *l, bool init_event, bool bsp)
{
	/* As KVM: INIT keeps the ID, and the LDR in x2APIC mode. */
	u32 id = get(l, LAPIC_ID), ldr = get(l, LAPIC_LDR);
	bool keep_ldr = init_event && x2apic(l);
	/* An INIT or SIPI that arrived after the vCPU took the INIT being
	 * handled stays pending, as KVM's pending_events survive
	 * kvm_lapic_reset: clearing them lost an AP's SIPI now and then */
	u32 keep_events = init_event ? l->events & (LAPIC_EV_INIT | LAPIC_EV_SIPI) : 0;
	__typeof__(l->sipi_vector) keep_vector = init_event ? l->sipi_vector : 0;
	memset(&l->s, 0, sizeof(l->s));
	l->isr_cache = -1;
	if (!init_event)
		l->base = LAPIC_DEFAULT_BASE | LAPIC_BASE_EN | (bsp ? LAPIC_BASE_BSP : 0);
	set(l, LAPIC_ID, init_event ? id : l->initial_id << 24);
	set(l, LAPIC_LDR, keep_ldr ? ldr : 0);
	set(l, LAPIC_LVR, lvr_value(l));
	for (unsigned k = 0; k < nr_lvt(l); k++)
		set(l, lvts[k].off, LAPIC_LVT_MASKED);
	/* KVM's LINT0_REENABLED quirk: the BSP's LINT0 starts as unmasked ExtINT. */
	if (l->base & LAPIC_BASE_BSP)
		set(l, LAPIC_LVT_LINT0, LAPIC_DM_EXTINT << 8);
	set(l, LAPIC_DFR, 0xffffffff);
	set(l, LAPIC_SVR, 0xff);
	l->esr_pending = 0;
	l->events = keep_events;
	l->sipi_vector = keep_vector;
	l->tsc_deadline = 0;
	timer_stop(l);
}

void lapic_reset(struct lapic *l, bool init_event)
{
	pthread_mutex_lock(&l->lock);
	reset_locked(l, init_event, l->base & LAPIC_BASE_BSP);
	pthread_mutex_unlock(&l->lock);
}

void lapic_set_base(struct lapic *l, u64 value)
{
	pthread_mutex_lock(&l->lock);
	u64 old = l->base;
	l->base = value;
	if (!(value & LAPIC_BASE_EN)) {
		/* SDM 11.4.3: a disabled APIC comes back in its power-up state. */
		reset_locked(l, true, false);
		l->base = value;
	} else if (!(old & LAPIC_BASE_EN)) {
		set(l, LAPIC_ID, l->initial_id << 24);
	}
	if ((value & LAPIC_BASE_EXTD) && !(old & LAPIC_BASE_EXTD)) {
		set(l, LAPIC_ID, l->initial_id);
		set(l, LAPIC_LDR, x2apic_ldr(l->initial_id));
	} else if ((old & LAPIC_BASE_EXTD) && (value & LAPIC_BASE_EN) && !(value & LAPIC_BASE_EXTD)) {
		/* x2APIC to xAPIC: only the VMM may do it; KVM re-derives the ID. */
		set(l, LAPIC_ID, l->initial_id << 24);
	}
	pthread_mutex_unlock(&l->lock);
}

u64 lapic_get_base(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	u64 b = l->base;
	pthread_mutex_unlock(&l->lock);
	return b;
}

bool lapic_x2apic_mode(struct lapic *l)
{
	pthread_mutex_lock(&l->lock);
	bool r = x2apic(l);
	pthread_mutex_unlock(&l->lock);
	return r;
}

void lapic_get_state(struct lapic *l, struct lapic_state *st, bool x2apic_api, u64 now)
{
	pthread_mutex_lock(&l->lock);
	update_ppr(l);
	/* KVM saves the current count so a restore resumes the countdown. */
	set(l, LAPIC_TMCCT, current_count(l, now));
	*st = l->s;
	set(l, LAPIC_TMCCT, 0);
	if (x2apic(l) && !x2apic_api) {
		u32 id = get(l, LAPIC_ID) << 24;
		memcpy(st->regs + LAPIC_ID, &id, 4);
	}
	pthread_mutex_unlock(&l->lock);
}

int lapic_set_state(struct lapic *l, const struct lapic_state *st, bool x2apic_api, u64 now)
{
	pthread_mutex_lock(&l->lock);
	int r = 0;
	struct lapic_state img = *st;
	u32 id, cc;
	memcpy(&id, img.regs + LAPIC_ID, 4);
	if (x2apic(l)) {
		/* KVM: the x2APIC ID is the vCPU id and cannot change. */
		if (x2apic_api && id != l->initial_id) {
			r = -EINVAL;
			goto out;
		}
		/* Legacy format: KVM ignores the ID given (it is read-only). */
		id = l->initial_id;
		memcpy(img.regs + LAPIC_ID, &id, 4);
		u32 ldr = x2apic_ldr(l->initial_id);
		memcpy(img.regs + LAPIC_LDR, &ldr, 4);
	}
	l->s = img;
	l->isr_cache = -1;
	set(l, LAPIC_LVR, lvr_value(l));
	cc = get(l, LAPIC_TMCCT);
	set(l, LAPIC_TMCCT, 0);
	set(l, LAPIC_TDCR, get(l, LAPIC_TDCR) & 0xb);
	update_ppr(l);
	l->esr_pending = 0;
	timer_stop(l);
	/*
	 * As KVM (set_target_expiration): a count above TMICT restarts from
	 * TMICT, a periodic count of 0 from a full period, and a one-shot
	 * count of 0 with TMICT set expires at once.  The saved 0 cannot say
	 * whether the interrupt was delivered: the count reaches 0 a moment
	 * before the timer thread fires it, and a state saved in between
	 * (QEMU's migration stopping the vCPU then) has the timer neither
	 * running nor in IRR.  Leaving it stopped lost that interrupt, and a
	 * guest whose clockevent it was slept forever; firing it again costs
	 * a guest that did get it a spurious tick, as on KVM.
	 */
	if (cc > get(l, LAPIC_TMICT) || (!cc && timer_mode(l) == LAPIC_TIMER_PERIODIC))
		cc = get(l, LAPIC_TMICT);
	if (timer_mode(l) == LAPIC_TIMER_TSC_DEADLINE) {
		if (l->tsc_deadline)
			l->timer_expiry_ns = l->tsc_deadline_ns;
	} else if (!cc && timer_mode(l) == LAPIC_TIMER_ONESHOT && get(l, LAPIC_TMICT)) {
		/* due now: lapic_timer_advance delivers it and stops */
		l->timer_active = true;
		l->timer_start_ns = now - period_ns(l);
		l->timer_expiry_ns = now;
	} else {
		timer_start(l, cc, now);
	}
out:
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* ---- device ---- */

static u64 dev_now(struct lapic *l) { return l->now ? l->now(l->clock) : 0; }

/* The page follows APIC_BASE; outside it the access exits. */
static bool in_window(struct lapic *l, u64 addr, u32 *off)
{
	u64 b = lapic_get_base(l) & LAPIC_BASE_ADDR_MASK;
	if (addr < b || addr - b >= LAPIC_SIZE)
		return false;
	*off = (u32)(addr - b);
	return true;
}

static bool lapic_read(struct hw_dev *dev, u64 addr, u32 len, void *data)
{
	struct lapic *l = hw_container_of(dev, struct lapic, dev);
	u32 off;
	if (!in_window(l, addr, &off))
		return false;
	u32 v = lapic_mmio_read(l, off, dev_now(l));
	/* Within one 32-bit register only (SDM 11.4.1); the rest reads 0. */
	u32 sh = off & 0xf;
	u64 out = sh + len > 4 ? 0 : v >> (8 * sh);
	memcpy(data, &out, len > 8 ? 8 : len);
	return true;
}

static bool lapic_write(struct hw_dev *dev, u64 addr, u32 len, const void *data)
{
	struct lapic *l = hw_container_of(dev, struct lapic, dev);
	u32 off, v;
	if (!in_window(l, addr, &off))
		return false;
	/* SDM 11.4.1: only aligned 32-bit accesses; KVM drops the others. */
	if (len == 4 && !(off & 0xf)) {
		memcpy(&v, data, 4);
		lapic_mmio_write(l, off, v, dev_now(l));
	}
	return true;
}

static void lapic_dev_reset(struct hw_dev *dev)
{
	struct lapic *l = hw_container_of(dev, struct lapic, dev);
	lapic_reset(l, false);
}

static void lapic_save(struct hw_dev *dev, void *state)
{
	struct lapic *l = hw_container_of(dev, struct lapic, dev);
	lapic_get_state(l, state, false, dev_now(l));
}

static int lapic_restore(struct hw_dev *dev, const void *state)
{
	struct lapic *l = hw_container_of(dev, struct lapic, dev);
	return lapic_set_state(l, state, false, dev_now(l));
}

const struct hw_dev_ops lapic_ops = {
	.name = "lapic",
	.read = lapic_read,
	.write = lapic_write,
	.reset = lapic_dev_reset,
	.save = lapic_save,
	.restore = lapic_restore,
};

void lapic_init(struct lapic *l, u32 initial_id, u32 opts, bool bsp,
		void (*ipi)(void *, struct lapic *, const struct lapic_ipi *),
		void (*eoi)(void *, u8, bool), void *opaque, u64 (*now)(void *), void *clock)
{
	memset(l, 0, sizeof(*l));
	l->dev.ops = &lapic_ops;
	pthread_mutex_init(&l->lock, NULL);
	l->initial_id = initial_id;
	l->opts = opts;
	l->ipi = ipi;
	l->eoi = eoi;
	l->opaque = opaque;
	l->now = now;
	l->clock = clock;
	reset_locked(l, false, bsp);
}

void lapic_destroy(struct lapic *l) { pthread_mutex_destroy(&l->lock); }

int lapic_register(struct lapic *l, struct hw_bus *mmio)
{
	return hw_bus_register(mmio, lapic_get_base(l) & LAPIC_BASE_ADDR_MASK, LAPIC_SIZE, &l->dev);
}
