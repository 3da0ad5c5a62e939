/* vCPU MSR ioctls (vcpu_msr.c), reached from the state group in vcpu_state.c. */
#ifndef SOFTKVM_KVM_VCPU_MSR_H
#define SOFTKVM_KVM_VCPU_MSR_H

#include "kvm/kvm.h"

/* KVM_GET_MSRS, KVM_SET_MSRS, KVM_X86_SETUP_MCE, KVM_X86_SET_MCE; SKVM_NOIOCTL otherwise. */
long skvm_vcpu_msr_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg);

/* KVM_X86_SET_MSR_FILTER (VM ioctl); the filter goes with the VM. */
long skvm_msr_filter_set(struct skvm_vm *vm, unsigned long arg);
void skvm_msr_filter_destroy(struct skvm_vm *vm);
/* For x86_env.msr_denied: does the VM's filter deny the guest this access? */
bool skvm_msr_denied(void *vm, u32 index, bool write);
/* KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR) */
long skvm_user_space_msr_enable(struct skvm_vm *vm, u64 reasons);

#endif
