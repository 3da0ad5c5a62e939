/*
 * The master/slave Intel 8259A pair of a PC, with the PIIX edge/level
 * control registers (ELCR).  Ports: master 0x20-0x21, slave 0xa0-0xa1,
 * ELCR 0x4d0 (master) and 0x4d1 (slave).  Inputs are set_irq(pin 0-15);
 * the output is the INTR line, reported through raise() whenever its level
 * changes; the CPU's INTA cycle is i8259_ack().  See docs/devices.md.
 */
#ifndef SOFTKVM_HW_I8259_H
#define SOFTKVM_HW_I8259_H

#include <pthread.h>

#include "hw/bus.h"

/* One chip, field for field `struct kvm_pic_state` (KVM_GET_IRQCHIP). */
struct i8259_chip_state {
	u8 last_irr; /* input levels seen, for edge detection */
	u8 irr;
	u8 imr;
	u8 isr;
	u8 priority_add; /* IR number with the lowest priority, plus one */
	u8 irq_base;	 /* ICW2 & 0xf8 */
	u8 read_reg_select; /* OCW3 RIS: 1 reads ISR, 0 IRR */
	u8 poll;
	u8 special_mask;
	u8 init_state; /* 0 ready (OCW1 at odd port), 1-3 awaiting ICW2-4 */
	u8 auto_eoi;
	u8 rotate_on_auto_eoi;
	u8 special_fully_nested_mode;
	u8 init4; /* ICW1 IC4: ICW4 follows */
	u8 elcr;
	u8 elcr_mask;
};

struct i8259_state {
	struct i8259_chip_state chip[2]; /* master, slave */
};

struct i8259 {
	struct hw_dev dev;
	pthread_mutex_t lock;
	struct i8259_chip_state chip[2];
	bool output; /* INTR level last reported */
	/* Called with the PIC's lock held; must not call back into the PIC. */
	void (*raise)(void *opaque, bool level);
	void *opaque;
	/*
	 * An EOI (or an automatic EOI at INTA) ended IR irq (0-15, never the
	 * master's cascade input 2), as KVM's pic_clear_isr tells its ack
	 * notifiers.  Called without the PIC's lock.
	 */
	void (*eoi)(void *opaque, unsigned irq);
	u16 eoi_pending; /* irqs to report once the lock is dropped */
};

#define I8259_MASTER_BASE 0x20
#define I8259_SLAVE_BASE 0xa0
#define I8259_ELCR_BASE 0x4d0

void i8259_init(struct i8259 *pic, void (*raise)(void *opaque, bool level), void *opaque);
void i8259_destroy(struct i8259 *pic);
void i8259_set_eoi_cb(struct i8259 *pic, void (*eoi)(void *opaque, unsigned irq));
/* Claim the PIC's three port ranges on a PIO bus. */
int i8259_register(struct i8259 *pic, struct hw_bus *pio);

/* Input pin 0-15 (8-15 are the slave's IR0-7) at level 0 or 1; returns 1
 * (raised / lowered), 0 (already requested) or -1 (masked), as
 * KVM_IRQ_LINE_STATUS. */
int i8259_set_irq(struct i8259 *pic, unsigned pin, int level);
/* INTA: the vector for the CPU, acknowledging the highest request. */
int i8259_ack(struct i8259 *pic);
/* The same, telling which input (0-15) it acknowledged; -1 if spurious. */
int i8259_inta(struct i8259 *pic, int *irq);
/* Current level of INTR. */
bool i8259_output(struct i8259 *pic);

extern const struct hw_dev_ops i8259_ops;

#endif
