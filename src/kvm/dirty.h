/* Dirty page tracking: the bitmap ioctls and the dirty ring (kvm/dirty.c). */
#ifndef SOFTKVM_KVM_DIRTY_H
#define SOFTKVM_KVM_DIRTY_H

#include <sys/types.h>

#include "kvm/kvm.h"

/* VM ioctls: KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG, KVM_RESET_DIRTY_RINGS. */
long skvm_get_dirty_log(struct skvm_vm *vm, unsigned long arg);
long skvm_clear_dirty_log(struct skvm_vm *vm, unsigned long arg);
long skvm_reset_dirty_rings(struct skvm_vm *vm);

/* KVM_ENABLE_CAP of KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_CAP_DIRTY_LOG_RING
 * and KVM_CAP_DIRTY_LOG_RING_ACQ_REL; SKVM_NOIOCTL for any other cap. */
long skvm_dirty_enable_cap(struct skvm_vm *vm, const struct kvm_enable_cap *cap);

/* Bytes of a new vCPU fd: the kvm_run area, and the ring pages at
 * KVM_DIRTY_LOG_PAGE_OFFSET when the VM uses the ring.  vm->lock held. */
size_t skvm_vcpu_fd_size(const struct skvm_vm *vm);
/* Map a new vCPU's ring from its fd (nothing without the ring): 0 or -errno. */
int skvm_dirty_ring_vcpu_init(struct skvm_vcpu *vcpu, int fd);
void skvm_dirty_ring_vcpu_destroy(struct skvm_vcpu *vcpu);

/* KVM's kvm_vcpu_mmap rule: a mapping whose first or last page is a ring
 * page must be shared and not executable; 0 or -EINVAL. */
int skvm_dirty_ring_mmap_check(const struct skvm_vcpu *vcpu, int flags, off_t off, size_t len);

#endif
