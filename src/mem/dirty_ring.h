/*
 * The per-vCPU dirty ring (KVM API 8.29, KVM_CAP_DIRTY_LOG_RING).
 *
 * The ring is an array of struct kvm_dirty_gfn shared with the VMM's
 * mapping of the vCPU fd.  Only the vCPU's own thread pushes (dirty_index);
 * KVM_RESET_DIRTY_RINGS, from any thread, collects the entries the VMM
 * marked harvested, in order, and advances reset_index.  Each entry goes
 * 00 (free) -> 01 (dirty, pushed here) -> 1X (harvested by the VMM) -> 00
 * (reset here).
 *
 * Which pages are "dirty and not yet reset" is kept in the slot's bitmap:
 * a write pushes only when it sets its page's bit, and the reset clears
 * it, so only the first write to a page after each reset is pushed.
 */
#ifndef SOFTKVM_MEM_DIRTY_RING_H
#define SOFTKVM_MEM_DIRTY_RING_H

#include <stdatomic.h>
#include <linux/kvm.h>

#include "common.h"

/*
 * KVM_DIRTY_RING_RSVD_ENTRIES: the soft limit leaves this many entries
 * free, for the pushes of the instruction that reaches it.  KVM adds the
 * size of a hardware log (PML) that softkvm does not have.
 */
#define MEM_DIRTY_RING_RSVD 64
#define MEM_DIRTY_RING_MAX 65536 /* KVM_DIRTY_RING_MAX_ENTRIES */

struct mem_dirty_ring {
	struct kvm_dirty_gfn *gfns; /* size entries, shared with the VMM */
	u32 size;		    /* entries, a power of two */
	u32 soft_limit;		    /* size - MEM_DIRTY_RING_RSVD */
	_Atomic u32 dirty_index;    /* next entry to push (vCPU thread) */
	_Atomic u32 reset_index;    /* next entry to reset */
	_Atomic bool overflow;	    /* a push found the ring full */
};

static inline u32 mem_dirty_ring_used(const struct mem_dirty_ring *r)
{
	return atomic_load_explicit(&r->dirty_index, memory_order_relaxed) -
	       atomic_load_explicit(&r->reset_index, memory_order_acquire);
}

/* At or over the soft limit: KVM_RUN exits with KVM_EXIT_DIRTY_RING_FULL
 * until the VMM harvests and resets. */
static inline bool mem_dirty_ring_soft_full(const struct mem_dirty_ring *r)
{
	return mem_dirty_ring_used(r) >= r->soft_limit;
}

/* Push (slot, offset) as a dirty entry.  The soft limit stops the vCPU
 * long before the ring is full; should it ever be, the entry is not
 * written over an unreset one and the ring records the overflow. */
static inline void mem_dirty_ring_push(struct mem_dirty_ring *r, u32 slot, u64 offset)
{
	if (mem_dirty_ring_used(r) >= r->size) {
		atomic_store(&r->overflow, true);
		return;
	}
	u32 i = atomic_load_explicit(&r->dirty_index, memory_order_relaxed);
	struct kvm_dirty_gfn *g = &r->gfns[i & (r->size - 1)];
	g->slot = slot;
	g->offset = offset;
	/* slot and offset are visible before the flag says "dirty" */
	__atomic_store_n(&g->flags, KVM_DIRTY_GFN_F_DIRTY, __ATOMIC_RELEASE);
	atomic_store_explicit(&r->dirty_index, i + 1, memory_order_release);
}

#endif
