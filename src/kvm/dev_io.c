/*
 * Guest port and MMIO accesses the VM serves without an exit: ioeventfds
 * first (a write that matches one is consumed, as in KVM's bus order), then
 * the in-kernel devices.  The engine asks through x86_env.dev_io.
 */
#include "kvm/irqchip.h"

bool skvm_dev_io(void *opaque, bool pio, u64 addr, u32 len, void *data, bool write)
{
	struct skvm_vcpu *vcpu = opaque;
	if (write && skvm_ioeventfd_write(vcpu->vm, pio, addr, len, data))
		return true;
	return skvm_irqchip_io(vcpu, pio, addr, len, data, write);
}
