/* vCPU MSR ioctls (vcpu_msr.c), reached from the state group in vcpu_state.c. */
#ifndef SOFTKVM_KVM_VCPU_MSR_H
#define SOFTKVM_KVM_VCPU_MSR_H

#include "kvm/kvm.h"

/* KVM_GET_MSRS, KVM_SET_MSRS, KVM_X86_SETUP_MCE, KVM_X86_SET_MCE; SKVM_NOIOCTL otherwise. */
long skvm_vcpu_msr_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg);

#endif
