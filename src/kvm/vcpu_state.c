/* vCPU state ioctls: SREGS, FPU, XSAVE, XCRS, DEBUGREGS, events, MP state,
 * MSRs, TSC frequency, guest debug. */
#include <errno.h>

#include "kvm/kvm.h"
#include "kvm/x86_ioctl.h"

int skvm_x86_vcpu_init(struct skvm_vcpu *vcpu)
{
	x86_cpu_reset(&vcpu->cpu, false);
	return 0;
}

void skvm_x86_vcpu_destroy(struct skvm_vcpu *vcpu)
{
	(void)vcpu;
}

long skvm_vcpu_state_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg)
{
	(void)vcpu;
	(void)cmd;
	(void)arg;
	return SKVM_NOIOCTL;
}
