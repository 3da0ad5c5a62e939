/* x86 system ioctls: each group answers what it owns. */
#include <errno.h>

#include "kvm/kvm.h"
#include "kvm/x86_ioctl.h"

long skvm_x86_sys_ioctl(unsigned int cmd, unsigned long arg)
{
	long r = skvm_msr_sys_ioctl(cmd, arg);
	if (r == SKVM_NOIOCTL)
		r = skvm_cpuid_sys_ioctl(cmd, arg);
	if (r == SKVM_NOIOCTL)
		r = -EINVAL; /* kvm_arch_dev_ioctl's default */
	return r;
}
