/* x86 system ioctls: MSR index lists, feature MSRs, supported CPUID. */
#include <errno.h>

#include "kvm/kvm.h"
#include "kvm/x86_ioctl.h"

long skvm_x86_sys_ioctl(unsigned int cmd, unsigned long arg)
{
	(void)cmd;
	(void)arg;
	return -EINVAL; /* kvm_arch_dev_ioctl's default */
}
