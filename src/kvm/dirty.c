/*
 * Dirty page tracking ioctls: KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG
 * with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (KVM API 4.8, 4.117, 7.18), and
 * the per-vCPU dirty ring, KVM_CAP_DIRTY_LOG_RING(_ACQ_REL) and
 * KVM_RESET_DIRTY_RINGS (KVM API 4.129, 8.29).  The logs themselves live
 * in mem/ (memslot.c, dirty_ring.c); the engine writes them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "kvm/dirty.h"
#include "kvm/x86_ioctl.h"

/*
 * After page bits were cleared: KVM write-protects the pages and flushes
 * every vCPU's TLB before the ioctl returns.  Here each vCPU in guest code
 * drops its write-TLB entries at its next block boundary (engine.c
 * dirty_rearm) and acknowledges; a vCPU outside guest code does so on
 * entry.  Called with no lock held: vCPUs may take locks to get there.
 */
static void rearm_wait(struct skvm_vm *vm)
{
	u64 epoch = atomic_fetch_add(&vm->mem.dirty_epoch, 1) + 1;
	pthread_mutex_lock(&vm->lock);
	u32 n = vm->nr_vcpus; /* vcpus[] only grows while the VM lives */
	pthread_mutex_unlock(&vm->lock);
	for (u32 i = 0; i < n; i++) {
		const struct x86_cpu *c = &vm->vcpus[i]->cpu;
		while (atomic_load(&c->in_guest) && atomic_load(&c->dirty_ack) < epoch)
			sched_yield();
	}
}

/* KVM_GET_DIRTY_LOG: the bits are cleared as they are handed out (unless
 * manual protection is on), and lost if the bitmap pointer is bad, as in KVM. */
long skvm_get_dirty_log(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_dirty_log log;
	if (skvm_copy_from_user(&log, arg, sizeof(log)))
		return -EFAULT;
	u64 *bits;
	size_t bytes;
	bool cleared;
	long r = mem_get_dirty_log(&vm->mem, log.slot, &bits, &bytes, &cleared);
	if (r)
		return r;
	if (cleared)
		rearm_wait(vm);
	r = skvm_copy_to_user((unsigned long)log.dirty_bitmap, bits, bytes) ? -EFAULT : 0;
	free(bits);
	return r;
}

static int read_mask(void *buf, size_t bytes, void *opaque)
{
	return skvm_copy_from_user(buf, (unsigned long)opaque, bytes) ? -EFAULT : 0;
}

/* KVM_CLEAR_DIRTY_LOG: re-arm the pages whose bits the VMM passes.  KVM
 * accepts it whether or not manual protection is enabled. */
long skvm_clear_dirty_log(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_clear_dirty_log log;
	if (skvm_copy_from_user(&log, arg, sizeof(log)))
		return -EFAULT;
	long r = mem_clear_dirty_log(&vm->mem, log.slot, log.first_page, log.num_pages,
				     read_mask, log.dirty_bitmap);
	if (!r)
		rearm_wait(vm);
	return r;
}

/* KVM_RESET_DIRTY_RINGS: every vCPU's harvested entries; returns how many. */
long skvm_reset_dirty_rings(struct skvm_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	long n = -EINVAL;
	if (vm->mem.ring_size) {
		n = 0;
		for (u32 i = 0; i < vm->nr_vcpus; i++)
			n += mem_dirty_ring_reset(&vm->mem, &vm->vcpus[i]->ring);
	}
	pthread_mutex_unlock(&vm->lock);
	if (n > 0)
		rearm_wait(vm);
	return n;
}

/* kvm_vm_ioctl_enable_dirty_log_ring: the size (a u32 there) in bytes, a
 * power of two of at least a page and the reserved entries, at most
 * KVM_DIRTY_RING_MAX_ENTRIES entries; once, and before any vCPU. */
static long enable_ring(struct skvm_vm *vm, u32 bytes)
{
	const u32 gfn = sizeof(struct kvm_dirty_gfn);
	if (!bytes || (bytes & (bytes - 1)))
		return -EINVAL;
	if (bytes < MEM_DIRTY_RING_RSVD * gfn || bytes < PAGE_SIZE)
		return -EINVAL;
	if (bytes > MEM_DIRTY_RING_MAX * gfn)
		return -E2BIG;
	long r = -EINVAL;
	pthread_mutex_lock(&vm->lock);
	pthread_mutex_lock(&vm->mem.lock);
	if (!vm->mem.ring_size && !vm->nr_vcpus) {
		vm->mem.ring_size = bytes / gfn;
		r = 0;
	}
	pthread_mutex_unlock(&vm->mem.lock);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

long skvm_dirty_enable_cap(struct skvm_vm *vm, const struct kvm_enable_cap *cap)
{
	switch (cap->cap) {
	case KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: {
		/* INITIALLY_SET only together with ENABLE */
		u64 allowed = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		if (cap->args[0] & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)
			allowed |= KVM_DIRTY_LOG_INITIALLY_SET;
		if (cap->flags || (cap->args[0] & ~allowed))
			return -EINVAL;
		mem_set_manual_protect(&vm->mem, cap->args[0]);
		return 0;
	}
	case KVM_CAP_DIRTY_LOG_RING:
	case KVM_CAP_DIRTY_LOG_RING_ACQ_REL:
		/* KVM looks at neither flags nor the high half of args[0] */
		return enable_ring(vm, (u32)cap->args[0]);
	default:
		return SKVM_NOIOCTL;
	}
}

static size_t ring_bytes(const struct skvm_vm *vm)
{
	return (size_t)vm->mem.ring_size * sizeof(struct kvm_dirty_gfn);
}

size_t skvm_vcpu_fd_size(const struct skvm_vm *vm)
{
	if (!vm->mem.ring_size)
		return SKVM_VCPU_MMAP_PAGES * PAGE_SIZE;
	return KVM_DIRTY_LOG_PAGE_OFFSET * PAGE_SIZE + ring_bytes(vm);
}

int skvm_dirty_ring_vcpu_init(struct skvm_vcpu *vcpu, int fd)
{
	const struct skvm_vm *vm = vcpu->vm;
	struct mem_dirty_ring *r = &vcpu->ring;
	if (!vm->mem.ring_size)
		return 0;
	void *p = mmap(NULL, ring_bytes(vm), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       KVM_DIRTY_LOG_PAGE_OFFSET * PAGE_SIZE);
	if (p == MAP_FAILED)
		return -ENOMEM;
	r->gfns = p;
	r->size = vm->mem.ring_size;
	r->soft_limit = r->size - MEM_DIRTY_RING_RSVD;
	atomic_init(&r->dirty_index, 0);
	atomic_init(&r->reset_index, 0);
	atomic_init(&r->overflow, false);
	vcpu->cpu.dirty_ring = r;
	return 0;
}

void skvm_dirty_ring_vcpu_destroy(struct skvm_vcpu *vcpu)
{
	if (vcpu->ring.gfns)
		munmap(vcpu->ring.gfns, vcpu->ring.size * sizeof(struct kvm_dirty_gfn));
	vcpu->ring.gfns = NULL;
	vcpu->cpu.dirty_ring = NULL;
}

int skvm_dirty_ring_mmap_check(const struct skvm_vcpu *vcpu, int flags, off_t off, size_t len)
{
	u64 first = KVM_DIRTY_LOG_PAGE_OFFSET, end = first + vcpu->ring.size *
					  sizeof(struct kvm_dirty_gfn) / PAGE_SIZE;
	if (!vcpu->ring.size || off < 0 || !len)
		return 0; /* the kernel's own checks decide */
	u64 pg = (u64)off / PAGE_SIZE, last = pg + (len + PAGE_SIZE - 1) / PAGE_SIZE - 1;
	bool in_ring = (pg >= first && pg < end) || (last >= first && last < end);
	int type = flags & MAP_TYPE;
	if (in_ring && type != MAP_SHARED && type != MAP_SHARED_VALIDATE)
		return -EINVAL;
	return 0;
}
