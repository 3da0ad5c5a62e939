/*
 * KVM_IOEVENTFD and the GSI router: not offered yet (KVM_CAP_IOEVENTFD,
 * KVM_CAP_IRQ_ROUTING read 0); no write is consumed.
 */
#include "kvm/irqchip.h"

bool skvm_ioeventfd_write(struct skvm_vm *vm, bool pio, u64 addr, u32 len,
			  const void *data)
{
	(void)vm, (void)pio, (void)addr, (void)len, (void)data;
	return false;
}

void skvm_irq_ack_notify(struct skvm_vm *vm, u32 chip, u32 pin)
{
	(void)vm, (void)chip, (void)pin;
}
