/*
 * The 82093AA I/O APIC with 24 pins, at 0xfec00000: IOREGSEL at offset
 * 0x00 and IOWIN at 0x10 select and access the ID, version, arbitration
 * and redirection-table registers.  Pins are set with ioapic_set_irq();
 * an interrupt leaves through deliver() for the local APICs, which answer
 * a level-triggered one with ioapic_eoi(vector).  See docs/devices.md.
 */
#ifndef SOFTKVM_HW_IOAPIC_H
#define SOFTKVM_HW_IOAPIC_H

#include <pthread.h>

#include "hw/bus.h"

#define IOAPIC_BASE 0xfec00000ULL
#define IOAPIC_SIZE 0x100
#define IOAPIC_PINS 24
#define IOAPIC_VERSION 0x11 /* the 82093AA, as KVM reports */

/* Redirection-table entry fields (82093AA datasheet, 3.2.4). */
#define IOAPIC_RTE_VECTOR 0xffULL
#define IOAPIC_RTE_DELMODE_SHIFT 8
#define IOAPIC_RTE_DESTMODE BIT(11)
#define IOAPIC_RTE_DELIVS BIT(12)
#define IOAPIC_RTE_POLARITY BIT(13)
#define IOAPIC_RTE_REMOTE_IRR BIT(14)
#define IOAPIC_RTE_LEVEL BIT(15)
#define IOAPIC_RTE_MASK BIT(16)
#define IOAPIC_RTE_DEST_SHIFT 56

/* Field for field `struct kvm_ioapic_state` (KVM_GET_IRQCHIP). */
struct ioapic_state {
	u64 base_address;
	u32 ioregsel;
	u32 id;
	u32 irr;
	u32 pad;
	u64 redirtbl[IOAPIC_PINS];
};

/* One interrupt message for the local APICs. */
struct ioapic_irq {
	u8 vector;
	u8 delivery_mode; /* 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT */
	u8 dest_mode;	  /* 0 physical, 1 logical */
	u8 dest;
	bool level;	  /* trigger mode */
};

struct ioapic {
	struct hw_dev dev;
	pthread_mutex_t lock;
	struct ioapic_state s; /* irr holds the input levels */
	/*
	 * Edge pins whose current assertion was already sent.  KVM leaves
	 * them out of the irr it saves, so a restore (which presents the
	 * saved irr again) does not send them twice.
	 */
	u32 irr_delivered;
	/*
	 * Called with the IOAPIC's lock held; returns how many local APICs
	 * accepted the message (-1: no APIC matched).  It must not call ioapic_eoi() itself.
	 */
	int (*deliver)(void *opaque, const struct ioapic_irq *irq);
	void *opaque;
};

void ioapic_init(struct ioapic *io, int (*deliver)(void *opaque, const struct ioapic_irq *irq),
		 void *opaque);
void ioapic_destroy(struct ioapic *io);
int ioapic_register(struct ioapic *io, struct hw_bus *mmio);

/*
 * Pin input, level 1 asserted (polarity is the device's business).  Returns
 * what KVM_IRQ_LINE_STATUS reports: deliver()'s answer, 0 coalesced (edge
 * already high, or Remote IRR set), -1 masked; 1 for a de-assert.
 */
int ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* The level-triggered pins whose entry uses vector (bit n = pin n). */
u32 ioapic_level_pins(struct ioapic *io, u8 vector);
/* The vector pin's redirection entry names. */
u8 ioapic_pin_vector(struct ioapic *io, unsigned pin);
/* A local APIC's EOI for vector: clears Remote IRR of level pins using it. */
void ioapic_eoi(struct ioapic *io, u8 vector);

extern const struct hw_dev_ops ioapic_ops;

#endif
