/*
 * The VM-facing side of the routing half (see irqchip.h for the seam with
 * the interrupt controllers): per-VM state and the ioctls of KVM_IOEVENTFD
 * (ioeventfd.c), KVM_IRQ_LINE(_STATUS), KVM_SET_GSI_ROUTING,
 * KVM_SIGNAL_MSI (irqroute.c) and KVM_IRQFD (irqfd.c).
 */
#ifndef SOFTKVM_KVM_IRQROUTE_H
#define SOFTKVM_KVM_IRQROUTE_H

#include "kvm/kvm.h"

struct skvm_ioeventfds *skvm_ioeventfds_create(void);
void skvm_ioeventfds_destroy(struct skvm_ioeventfds *io);
long skvm_ioeventfd_ioctl(struct skvm_vm *vm, unsigned long arg);

#endif
