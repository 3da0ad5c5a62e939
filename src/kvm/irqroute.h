/*
 * The VM-facing side of the routing half (see irqchip.h for the seam with
 * the interrupt controllers): per-VM state and the ioctls of KVM_IOEVENTFD
 * (ioeventfd.c), KVM_IRQ_LINE(_STATUS), KVM_SET_GSI_ROUTING,
 * KVM_SIGNAL_MSI (irqroute.c) and KVM_IRQFD (irqfd.c).
 */
#ifndef SOFTKVM_KVM_IRQROUTE_H
#define SOFTKVM_KVM_IRQROUTE_H

#include "kvm/irqchip.h"
#include "kvm/kvm.h"
#include "kvm/srcu.h"

#define SKVM_MAX_IRQ_ROUTES 4096 /* KVM_MAX_IRQ_ROUTES, KVM_CAP_IRQ_ROUTING */
#define SKVM_IOAPIC_PINS 24
#define SKVM_NR_IRQCHIPS 3	/* PIC master, PIC slave, IOAPIC */


struct route_entry {
	u32 gsi;
	u32 type;		/* KVM_IRQ_ROUTING_IRQCHIP or _MSI */
	u32 chip, pin;		/* IRQCHIP: pin within the chip (0-7 on a PIC) */
	u32 msi_lo, msi_hi, msi_data;
};

struct route_table {
	u32 nr_gsi;		/* GSIs 0..nr_gsi-1 may have routes */
	u32 nr;
	bool is_static;		/* the shared default or empty table */
	u32 *start;		/* e[start[g] .. start[g+1]) route GSI g */
	s32 chip_gsi[SKVM_NR_IRQCHIPS][SKVM_IOAPIC_PINS]; /* last GSI routed to a pin, or -1 */
	struct route_entry e[];	/* sorted by GSI */
};

struct skvm_irqfds;

struct skvm_irqroute {
	pthread_mutex_t lock;		/* serialises KVM_SET_GSI_ROUTING */
	struct skvm_srcu srcu;		/* readers of table */
	struct route_table *_Atomic table; /* NULL: the irqchip's default */
	pthread_mutex_t line_lock;	/* line[] and the pin it drives */
	u8 line[SKVM_NR_IRQCHIPS][SKVM_IOAPIC_PINS]; /* asserted sources, a bit each */
	struct skvm_irqfds *_Atomic irqfds; /* irqfd.c, set once */
};

struct skvm_irqroute *skvm_irqroute_create(void);
void skvm_irqroute_destroy(struct skvm_irqroute *r);

/* The table in force; call between skvm_srcu_read_lock/unlock(&irqroute->srcu). */
const struct route_table *skvm_route_table(struct skvm_vm *vm);

long skvm_irq_line(struct skvm_vm *vm, unsigned int cmd, unsigned long arg);
long skvm_signal_msi(struct skvm_vm *vm, unsigned long arg);
long skvm_set_gsi_routing(struct skvm_vm *vm, unsigned long arg);

/* irqfd.c */
long skvm_irqfd_ioctl(struct skvm_vm *vm, unsigned long arg);
void skvm_irqfds_destroy(struct skvm_vm *vm);

/* ioeventfd.c */
struct skvm_ioeventfds *skvm_ioeventfds_create(void);
void skvm_ioeventfds_destroy(struct skvm_ioeventfds *io);
long skvm_ioeventfd_ioctl(struct skvm_vm *vm, unsigned long arg);

#endif
