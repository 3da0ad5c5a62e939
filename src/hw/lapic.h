/*
 * The local APIC of one vCPU (Intel SDM Vol. 3A, chapter 11): the xAPIC
 * register page on MMIO, the x2APIC view through MSRs 0x800-0x8ff, interrupt
 * acceptance, IRR/ISR/EOI, destination matching and the timer on the
 * caller's virtual clock.  Not wired to a VM yet.  See docs/devices.md.
 */
#ifndef SOFTKVM_HW_LAPIC_H
#define SOFTKVM_HW_LAPIC_H

#include <pthread.h>

#include "hw/bus.h"

#define LAPIC_DEFAULT_BASE 0xfee00000ULL
#define LAPIC_SIZE 0x1000

/* IA32_APIC_BASE bits (SDM 11.4.4, 11.12.1). */
#define LAPIC_BASE_BSP BIT(8)
#define LAPIC_BASE_EXTD BIT(10)
#define LAPIC_BASE_EN BIT(11)
#define LAPIC_BASE_ADDR_MASK 0x000ffffffffff000ULL

/* Register offsets in the xAPIC page (SDM Table 11-1). */
#define LAPIC_ID 0x20
#define LAPIC_LVR 0x30
#define LAPIC_TPR 0x80
#define LAPIC_APR 0x90
#define LAPIC_PPR 0xa0
#define LAPIC_EOI 0xb0
#define LAPIC_LDR 0xd0
#define LAPIC_DFR 0xe0
#define LAPIC_SVR 0xf0
#define LAPIC_ISR 0x100
#define LAPIC_TMR 0x180
#define LAPIC_IRR 0x200
#define LAPIC_ESR 0x280
#define LAPIC_LVT_CMCI 0x2f0
#define LAPIC_ICR 0x300
#define LAPIC_ICR2 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_THERMAL 0x330
#define LAPIC_LVT_PERF 0x340
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TMICT 0x380
#define LAPIC_TMCCT 0x390
#define LAPIC_TDCR 0x3e0
#define LAPIC_SELF_IPI 0x3f0 /* x2APIC only */

#define LAPIC_MSR_BASE 0x800
#define LAPIC_MSR_END 0x8ff

#define LAPIC_SVR_ENABLE BIT(8)
#define LAPIC_SVR_FOCUS_OFF BIT(9)
#define LAPIC_SVR_EOI_SUPPRESS BIT(12)
#define LAPIC_LVR_EOI_SUPPRESS BIT(24)
#define LAPIC_LVT_MASKED BIT(16)

/* Timer modes, LVT timer bits 18:17. */
#define LAPIC_TIMER_ONESHOT 0
#define LAPIC_TIMER_PERIODIC 1
#define LAPIC_TIMER_TSC_DEADLINE 2

/* Delivery modes (ICR / LVT / MSI bits 10:8). */
enum {
	LAPIC_DM_FIXED = 0,
	LAPIC_DM_LOWEST = 1,
	LAPIC_DM_SMI = 2,
	LAPIC_DM_NMI = 4,
	LAPIC_DM_INIT = 5,
	LAPIC_DM_STARTUP = 6,
	LAPIC_DM_EXTINT = 7,
};

/* Destination shorthands, ICR bits 19:18. */
enum {
	LAPIC_SH_NONE = 0,
	LAPIC_SH_SELF = 1,
	LAPIC_SH_ALL = 2,
	LAPIC_SH_ALL_BUT_SELF = 3,
};

/* Events other than fixed vectors, for the vCPU to take (lapic_take_events). */
#define LAPIC_EV_NMI BIT(0)
#define LAPIC_EV_INIT BIT(1)
#define LAPIC_EV_SIPI BIT(2)
#define LAPIC_EV_SMI BIT(3)
#define LAPIC_EV_EXTINT BIT(4)

/* Options fixed at creation (what the vCPU's CPUID / MCG_CAP advertise). */
#define LAPIC_OPT_CMCI BIT(0)	      /* 7 LVT entries, version 0x60014 */
#define LAPIC_OPT_EOI_SUPPRESS BIT(1) /* LVR bit 24, SVR bit 12 writable */
#define LAPIC_OPT_TSC_DEADLINE BIT(2) /* LVT timer mode 2 writable */
/* Every EOI reaches the eoi callback, a level one that SVR bit 12
 * suppresses included (a split irqchip: KVM exits for it regardless). */
#define LAPIC_OPT_EOI_ALL BIT(3)

/* Field for field `struct kvm_lapic_state` (KVM_GET_LAPIC): the register page. */
struct lapic_state {
	char regs[1024];
};

/* One interrupt command, as ICR encodes it. */
struct lapic_ipi {
	u8 vector;
	u8 delivery_mode;
	u8 dest_mode; /* 0 physical, 1 logical */
	u8 shorthand;
	bool level;   /* ICR bit 14: assert (INIT level de-assert has it 0) */
	bool trigger; /* ICR bit 15: level triggered */
	u32 dest;     /* 8 bits in xAPIC mode, 32 in x2APIC mode */
};

struct lapic {
	struct hw_dev dev;
	pthread_mutex_t lock;
	struct lapic_state s;
	u64 base;	/* IA32_APIC_BASE */
	u32 initial_id; /* the vCPU id: CPUID's initial (x2)APIC ID */
	u32 opts;
	u32 esr_pending; /* errors since the last ESR write (SDM 11.5.3) */
	/* LAPIC_EV_*, changed under the lock; read without it by
	 * lapic_take_events to skip the lock when there are none */
	_Atomic u32 events;
	u8 sipi_vector;
	/* The vector lapic_ack last put in ISR, -1 once any EOI or state
	 * change followed (KVM's highest_isr_cache, for PV EOI). */
	int isr_cache;
	/* Timer: counting since start_ns with period_ns per initial count. */
	bool timer_active;   /* a count runs (one-shot / periodic) */
	u64 timer_start_ns;
	u64 timer_expiry_ns; /* next interrupt; UINT64_MAX: none */
	u64 tsc_deadline;    /* the MSR value; 0 when disarmed */
	u64 tsc_deadline_ns; /* the same moment on the virtual clock */
	/*
	 * Called WITHOUT the lock held (so a router may deliver to this same
	 * APIC): an ICR write, and an EOI that is not suppressed.
	 */
	void (*ipi)(void *opaque, struct lapic *src, const struct lapic_ipi *ipi);
	void (*eoi)(void *opaque, u8 vector, bool level);
	void *opaque;
	u64 (*now)(void *clock); /* virtual ns, for the bus ops */
	void *clock;
};

void lapic_init(struct lapic *l, u32 initial_id, u32 opts, bool bsp,
		void (*ipi)(void *, struct lapic *, const struct lapic_ipi *),
		void (*eoi)(void *, u8, bool), void *opaque, u64 (*now)(void *), void *clock);
void lapic_destroy(struct lapic *l);
/* Power-on reset (init_event false) or INIT (keeps APIC_BASE and the x2APIC ID/LDR). */
void lapic_reset(struct lapic *l, bool init_event);
/* Register the MMIO window at the current base (4 KiB). */
int lapic_register(struct lapic *l, struct hw_bus *mmio);

/* xAPIC MMIO access at offset off (0-0xfff) in the page. */
u32 lapic_mmio_read(struct lapic *l, u32 off, u64 now_ns);
void lapic_mmio_write(struct lapic *l, u32 off, u32 val, u64 now_ns);

/* x2APIC MSR access; 0, or -1 for #GP. */
int lapic_msr_read(struct lapic *l, u32 msr, u64 *val, u64 now_ns);
int lapic_msr_write(struct lapic *l, u32 msr, u64 val, u64 now_ns);

/*
 * Apply an IA32_APIC_BASE value the MSR layer found legal: clearing EN
 * resets the APIC; setting EN restores the xAPIC ID; setting EXTD gives the
 * x2APIC ID and LDR.
 */
void lapic_set_base(struct lapic *l, u64 value);
u64 lapic_get_base(struct lapic *l);
bool lapic_x2apic_mode(struct lapic *l);

/* An interrupt message for this APIC; returns 1 if accepted. */
int lapic_accept_irq(struct lapic *l, u8 vector, u8 delivery_mode, bool trigger_level,
		     bool level);
/* Whether the message's destination includes this APIC (src NULL: IOAPIC/MSI). */
bool lapic_match_dest(struct lapic *l, u32 dest, u8 dest_mode, u8 shorthand,
		      const struct lapic *src);
/* The highest pending vector deliverable above the PPR, or -1. */
int lapic_has_interrupt(struct lapic *l);
/* INTA: move that vector from IRR to ISR and return it (-1 if none). */
int lapic_ack(struct lapic *l);
/* Hardware- and software-enabled (KVM's kvm_lapic_enabled). */
bool lapic_enabled(struct lapic *l);
/* The word KVM mirrors into the guest's VAPIC page: TPR in bits 7:0, the
 * highest ISR class in 15:12, the highest IRR vector in 31:24. */
u32 lapic_vapic_word(struct lapic *l);
/* Any IRR bit set (deliverable now or not). */
bool lapic_irr_any(struct lapic *l);
/* PV EOI (KVM's apic_sync_pv_eoi_to_guest): the in-service vector the
 * guest may end by clearing its PV EOI flag, or -1: IRR is not empty, or no
 * vector was acknowledged since the last EOI. */
int lapic_pv_eoi_vector(struct lapic *l);
/* An EOI as the EOI register takes it (the guest's PV EOI). */
void lapic_eoi(struct lapic *l);
/* The vector waits in IRR or is in service (KVM's kvm_apic_pending_eoi). */
bool lapic_vector_pending(struct lapic *l, u8 vector);
/* Whether the PIC's INTR reaches the CPU through this APIC (LINT0 ExtINT,
 * or the APIC hardware-disabled). */
bool lapic_accepts_extint(struct lapic *l);
/* TPR (CR8 is bits 7:4); lapic_get_tpr on the vCPU's own thread only. */
u8 lapic_get_tpr(struct lapic *l);
void lapic_set_tpr(struct lapic *l, u8 tpr);
/* New LAPIC_OPT_* after a CPUID change (KVM's kvm_apic_set_version). */
void lapic_set_opts(struct lapic *l, u32 opts);
/* PPR, for lowest-priority arbitration by the caller. */
u8 lapic_ppr(struct lapic *l);
/* Take and clear the LAPIC_EV_* flags; *sipi gets the SIPI vector. */
u32 lapic_take_events(struct lapic *l, u8 *sipi);
/* Deliver through LINT0/LINT1 (pin 0/1), as its LVT entry says. */
void lapic_lint(struct lapic *l, unsigned pin);

/* Timer on the virtual clock: the next expiry (UINT64_MAX: none). */
u64 lapic_timer_next_event(struct lapic *l);
/* Fire what expired by now_ns (one interrupt however many periods passed). */
void lapic_timer_advance(struct lapic *l, u64 now_ns);
/*
 * IA32_TSC_DEADLINE write: tsc is the MSR value, deadline_ns the same moment
 * on the virtual clock (the MSR layer converts with the guest TSC).  As in
 * KVM, ignored unless the LVT timer is in TSC-deadline mode.
 */
void lapic_set_tsc_deadline(struct lapic *l, u64 tsc, u64 deadline_ns);
u64 lapic_get_tsc_deadline(struct lapic *l);

/*
 * KVM_GET/SET_LAPIC images.  x2apic_api: KVM_X2APIC_API_USE_32BIT_IDS, the
 * ID register holding the 32-bit x2APIC ID; otherwise it is shifted to bits
 * 31:24.  The timer restarts from the saved current count at now_ns.
 * Set returns 0 or -EINVAL.
 */
void lapic_get_state(struct lapic *l, struct lapic_state *st, bool x2apic_api, u64 now_ns);
int lapic_set_state(struct lapic *l, const struct lapic_state *st, bool x2apic_api, u64 now_ns);

extern const struct hw_dev_ops lapic_ops;

#endif
