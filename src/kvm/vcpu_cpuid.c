/* vCPU CPUID (KVM_SET_CPUID2/KVM_GET_CPUID2) and KVM_TRANSLATE. */
#include <errno.h>

#include "kvm/kvm.h"
#include "kvm/x86_ioctl.h"

long skvm_vcpu_cpuid_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg)
{
	(void)vcpu;
	(void)cmd;
	(void)arg;
	return SKVM_NOIOCTL;
}

long skvm_cpuid_sys_ioctl(unsigned int cmd, unsigned long arg)
{
	(void)cmd;
	(void)arg;
	return SKVM_NOIOCTL;
}
