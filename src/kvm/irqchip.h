/*
 * The VM's interrupt plumbing, split in two halves that meet here:
 *
 *  - irqchip.c (and hw/): KVM_CREATE_IRQCHIP / KVM_CAP_SPLIT_IRQCHIP, the
 *    PIC pair, IOAPIC and local APICs, KVM_CREATE_PIT2, interrupt delivery
 *    to vCPUs, halted-vCPU wake-up, the devices' ports and MMIO;
 *  - irqroute.c, irqfd.c, ioeventfd.c: the GSI routing table (KVM_IRQ_LINE,
 *    KVM_SET_GSI_ROUTING, KVM_SIGNAL_MSI), irqfds and ioeventfds.
 *
 * Each half calls the other only through the functions below.
 */
#ifndef SOFTKVM_KVM_IRQCHIP_H
#define SOFTKVM_KVM_IRQCHIP_H

#include "kvm/kvm.h"

/* --- provided by irqchip.c ---------------------------------------------- */

/* KVM_CREATE_IRQCHIP (full) or KVM_CAP_SPLIT_IRQCHIP (LAPICs only) done. */
bool skvm_irqchip_in_kernel(struct skvm_vm *vm);
bool skvm_irqchip_split(struct skvm_vm *vm);

/*
 * Drive one input pin of an in-kernel chip (KVM_IRQCHIP_PIC_MASTER,
 * KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC) to level (0 or 1).  Returns
 * what KVM_IRQ_LINE_STATUS reports for that chip: > 0 delivered, 0
 * coalesced (already pending), < 0 masked / ignored; -EINVAL for a chip or
 * pin that does not exist.
 */
int skvm_irqchip_set_pin(struct skvm_vm *vm, u32 chip, u32 pin, int level);

/*
 * Deliver an MSI (kvm_msi / routing entry address and data; address_hi
 * carries x2APIC destination bits 31:8 when KVM_CAP_X2APIC_API asked for
 * it).  Returns > 0 delivered, 0 coalesced, < 0 dropped, as KVM_SIGNAL_MSI.
 */
int skvm_irqchip_deliver_msi(struct skvm_vm *vm, u64 address, u32 data);

/*
 * A guest port or MMIO access to an in-kernel device (LAPIC page, IOAPIC
 * window, PIC, ELCR, PIT and speaker ports): true = served.
 */
bool skvm_irqchip_io(struct skvm_vcpu *vcpu, bool pio, u64 addr, u32 len, void *data,
		     bool write);

/* KVM_SET_GSI_ROUTING installed a new table (kvm_arch_irq_routing_update):
 * with a split irqchip every vCPU scans it again for EOI exits. */
void skvm_irqchip_routes_changed(struct skvm_vm *vm);

/* Make the vCPU look at its pending events soon: stop the engine at its
 * next block boundary, or wake it from a halt. */
void skvm_vcpu_kick(struct skvm_vcpu *vcpu);

/* The engine's x86_env.dev_io for a vCPU (dev_io.c): ioeventfds, then
 * skvm_irqchip_io. */
bool skvm_dev_io(void *opaque, bool pio, u64 addr, u32 len, void *data, bool write);

/* --- provided by irqroute.c / ioeventfd.c ------------------------------- */

/*
 * The guest acknowledged (EOI) a level-triggered interrupt that came in on
 * pin `pin` of chip `chip`: resampling irqfds of every GSI routed there are
 * notified.  irqchip.c calls it from the EOI paths of the IOAPIC and PIC,
 * holding none of its locks (it may drive pins); pin is within the chip,
 * 0-7 on either PIC, as for skvm_irqchip_set_pin.
 */
void skvm_irq_ack_notify(struct skvm_vm *vm, u32 chip, u32 pin);

/* Interrupt sources whose levels a chip pin ORs (KVM's irq_source_id). */
enum { SKVM_IRQ_SRC_USER, SKVM_IRQ_SRC_RESAMPLE, SKVM_IRQ_SRC_PIT };

/*
 * kvm_set_irq: drive GSI gsi to level as source src through every route of
 * the GSI (the in-kernel PIT is SKVM_IRQ_SRC_PIT on GSI 0, as KVM's
 * pit_do_work); returns the merged KVM_IRQ_LINE_STATUS result.  Takes the
 * chips' locks: call it holding none of them.
 */
int skvm_route_set_gsi(struct skvm_vm *vm, u32 src, u32 gsi, int level);

/* The IOAPIC pins GSI gsi is routed to now (bit n = pin n). */
u32 skvm_route_ioapic_pins(struct skvm_vm *vm, u32 gsi);

/* The walk of kvm_scan_ioapic_routes: fn(opaque, address, data) for every
 * MSI route of the GSIs below nr_gsi (address_hi in bits 63:32). */
void skvm_route_each_msi(struct skvm_vm *vm, u32 nr_gsi,
			 void (*fn)(void *opaque, u64 address, u32 data), void *opaque);

/* A guest write that matches an ioeventfd: signal it; true = consumed. */
bool skvm_ioeventfd_write(struct skvm_vm *vm, bool pio, u64 addr, u32 len,
			  const void *data);

#endif
