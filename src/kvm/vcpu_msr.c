/* MSR ioctls: the system-fd lists and feature MSRs, vCPU KVM_GET/SET_MSRS. */
#include <errno.h>

#include "kvm/kvm.h"
#include "kvm/x86_ioctl.h"

long skvm_msr_sys_ioctl(unsigned int cmd, unsigned long arg)
{
	(void)cmd;
	(void)arg;
	return SKVM_NOIOCTL;
}
