/* KVM_RESET_DIRTY_RINGS: the reset half of the dirty ring (mem/dirty_ring.h). */
#include "mem/memslot.h"

u32 mem_dirty_ring_reset(struct mem *m, struct mem_dirty_ring *r)
{
	u32 count = 0;
	pthread_mutex_lock(&m->lock);
	const struct mem_map *map = atomic_load(&m->map);
	/* Only entries the vCPU pushed: flags a VMM set on free entries do
	 * not move reset_index past dirty_index. */
	u32 end = atomic_load_explicit(&r->dirty_index, memory_order_acquire);
	for (u32 i = atomic_load(&r->reset_index); i != end; i++) {
		struct kvm_dirty_gfn *g = &r->gfns[i & (r->size - 1)];
		/* In order: the first entry not yet harvested ends the reset. */
		if (!(__atomic_load_n(&g->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_RESET))
			break;
		u32 slot = __atomic_load_n(&g->slot, __ATOMIC_RELAXED);
		u64 offset = __atomic_load_n(&g->offset, __ATOMIC_RELAXED);
		__atomic_store_n(&g->flags, 0, __ATOMIC_RELEASE);
		atomic_store_explicit(&r->reset_index, i + 1, memory_order_release);
		count++;
		/* Re-arm the page: its next write is pushed again.  An entry
		 * whose slot went away or shrank is skipped, as in KVM's
		 * kvm_reset_dirty_gfn. */
		u32 as = slot >> 16;
		const struct mem_slot *s =
			as < MEM_ADDRESS_SPACES ? mem_map_find_id(map, as, (u16)slot) : NULL;
		if (s && s->dirty && offset < s->size >> PAGE_SHIFT)
			atomic_fetch_and(&s->dirty[offset / 64], ~(1ULL << (offset % 64)));
	}
	pthread_mutex_unlock(&m->lock);
	return count;
}
