/*
 * In-kernel interrupt controllers (KVM_CREATE_IRQCHIP): not offered yet.
 * KVM_CAP_IRQCHIP reads 0 and no device claims a port or an address, so
 * every access exits to the VMM.
 */
#include <errno.h>

#include "kvm/irqchip.h"

bool skvm_irqchip_in_kernel(struct skvm_vm *vm)
{
	(void)vm;
	return false;
}

bool skvm_irqchip_split(struct skvm_vm *vm)
{
	(void)vm;
	return false;
}

int skvm_irqchip_set_pin(struct skvm_vm *vm, u32 chip, u32 pin, int level)
{
	(void)vm, (void)chip, (void)pin, (void)level;
	return -ENXIO;
}

int skvm_irqchip_deliver_msi(struct skvm_vm *vm, u64 address, u32 data)
{
	(void)vm, (void)address, (void)data;
	return -ENXIO;
}

bool skvm_irqchip_io(struct skvm_vcpu *vcpu, bool pio, u64 addr, u32 len, void *data,
		     bool write)
{
	(void)vcpu, (void)pio, (void)addr, (void)len, (void)data, (void)write;
	return false;
}

void skvm_vcpu_kick(struct skvm_vcpu *vcpu)
{
	(void)vcpu;
}
