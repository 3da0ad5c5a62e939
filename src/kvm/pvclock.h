/* kvmclock, KVM_GET/SET_CLOCK, hypercalls, ENFORCE_PV_FEATURE_CPUID (pvclock.c). */
#ifndef SOFTKVM_KVM_PVCLOCK_H
#define SOFTKVM_KVM_PVCLOCK_H

#include "kvm/kvm.h"

/* A new VM's kvmclock starts at 0; a new vCPU gets the PV interface. */
void skvm_pv_vm_init(struct skvm_vm *vm);
void skvm_pv_vcpu_init(struct skvm_vcpu *vcpu);
void skvm_pv_vcpu_destroy(struct skvm_vcpu *vcpu);
/* Before guest entry: rewrite the vCPU's pvclock if something changed,
 * and add the time stolen since the last entry to its steal-time record. */
void skvm_pvclock_sync(struct skvm_vcpu *vcpu);
/* KVM_GET_CLOCK, KVM_SET_CLOCK; KVM_KVMCLOCK_CTRL, vCPU KVM_ENABLE_CAP.
 * SKVM_NOIOCTL for others. */
long skvm_pv_vm_ioctl(struct skvm_vm *vm, unsigned int cmd, unsigned long arg);
long skvm_pv_vcpu_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg);
/* Guest memory as the guest's own accesses see it: a (for a write:
 * writable) slot of address space 0 holds [gpa, gpa + n); writes are
 * dirty-logged.  false when there is none, as kvm_write_guest fails. */
bool skvm_guest_rw(struct skvm_vcpu *vcpu, u64 gpa, void *buf, size_t n, bool write);
/* The pvclock TSC-to-ns scale for a TSC rate (KVM's kvm_get_time_scale). */
void skvm_pvclock_scale(u64 tsc_hz, u32 *mul, s8 *shift);

#endif
