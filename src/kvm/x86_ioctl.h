/*
 * The x86-specific ioctls, each group in its own file.  A handler returns
 * SKVM_NOIOCTL for a command it does not own, so dispatch can try the next.
 */
#ifndef SOFTKVM_KVM_X86_IOCTL_H
#define SOFTKVM_KVM_X86_IOCTL_H

#include "kvm/kvm.h"

#define SKVM_NOIOCTL (-515L) /* the kernel's ENOIOCTLCMD: never returned to a client */

/* System fd: the x86 groups below, in turn (x86_sys.c). */
long skvm_x86_sys_ioctl(unsigned int cmd, unsigned long arg);
/* KVM_GET_MSR_INDEX_LIST, KVM_GET_MSR_FEATURE_INDEX_LIST, KVM_GET_MSRS (vcpu_msr.c). */
long skvm_msr_sys_ioctl(unsigned int cmd, unsigned long arg);
/* KVM_GET_SUPPORTED_CPUID, KVM_GET_EMULATED_CPUID (vcpu_cpuid.c). */
long skvm_cpuid_sys_ioctl(unsigned int cmd, unsigned long arg);

/* vCPU register/state ioctls (vcpu_state.c). */
long skvm_vcpu_state_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg);

/* vCPU CPUID and KVM_TRANSLATE (vcpu_cpuid.c). */
long skvm_vcpu_cpuid_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg);
/* Free the vCPU's CPUID table (vcpu_cpuid.c); called from skvm_x86_vcpu_destroy. */
void skvm_vcpu_cpuid_free(struct skvm_vcpu *vcpu);

/* KVM_INTERRUPT, KVM_NMI: events for the engine (run.c). */
long skvm_vcpu_run_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg);

/* Per-vCPU x86 set-up and tear-down beyond struct x86_cpu (vcpu_state.c). */
int skvm_x86_vcpu_init(struct skvm_vcpu *vcpu);
void skvm_x86_vcpu_destroy(struct skvm_vcpu *vcpu);

#endif
