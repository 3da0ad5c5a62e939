/*
 * Guest physical memory: memslots per address space.
 *
 * A VM has two slot maps, as KVM has two memslot sets: the active one, which
 * vCPU threads read without locks, and a spare that only the writer touches.
 * A change is applied to the spare (a sorted-array insert or removal, no
 * copy of the other slots), which is then published atomically; the writer
 * waits until no reader holds the map it replaced (KVM's synchronize_srcu),
 * applies the same change to it, and keeps it as the next spare.  So
 * KVM_SET_USER_MEMORY_REGION costs O(log n) plus the slots it shifts, not a
 * copy of every slot.
 *
 * A vCPU takes a reference at KVM_RUN entry (mem_map_get) and drops it at exit,
 * neither taking the lock unless the writer waits for that reader;
 * a running engine notices a newer map between blocks and inside long REP
 * loops, moves to it and drops its TLB.
 *
 * KVM_SET_USER_MEMORY_REGION returns only when no vCPU can still touch the
 * old slots, so the VMM may munmap a deleted slot's memory right after the
 * ioctl: that is the wait above.
 */
#ifndef SOFTKVM_MEM_MEMSLOT_H
#define SOFTKVM_MEM_MEMSLOT_H

#include <pthread.h>
#include <stdatomic.h>

#include "common.h"
#include "mem/dirty_ring.h"

#define MEM_ADDRESS_SPACES 2 /* x86: normal and SMM (KVM_CAP_MULTI_ADDRESS_SPACE) */
#define MEM_MAX_SLOTS 32764  /* user slots per address space (KVM_CAP_NR_MEMSLOTS) */

struct mem_slot {
	u32 id;		   /* slot id within its address space (bits 0-15) */
	u32 as;		   /* address space (bits 16-31 of the KVM slot number) */
	u32 flags;	   /* KVM_MEM_* */
	u64 gpa;	   /* guest_phys_addr */
	u64 size;	   /* memory_size, bytes, page multiple */
	u8 *hva;	   /* userspace_addr */
	_Atomic u64 *dirty; /* one bit a page while KVM_MEM_LOG_DIRTY_PAGES, else NULL */
};

struct mem;

struct mem_map {
	_Atomic int refs; /* readers (mem_map_get) */
	u64 generation;
	struct mem *owner;
	/* Sorted by gpa within each address space for lookup. */
	u32 nr[MEM_ADDRESS_SPACES];
	u32 cap[MEM_ADDRESS_SPACES];
	struct mem_slot *slots[MEM_ADDRESS_SPACES];
	/* slot id -> index in slots[] + 1, 0 when the id has no slot */
	u32 *pos[MEM_ADDRESS_SPACES];
};

struct mem {
	pthread_mutex_t lock; /* serialises writers */
	pthread_cond_t drained; /* a map's last reader left, or a change ended */
	struct mem_map *_Atomic map; /* active */
	/* Inactive, equal to the active map between changes unless
	 * spare_stale (an allocation failure left it behind: the next change
	 * copies the active map into it first).  Maps are freed only with the
	 * VM: a reader may count itself in one it found replaced
	 * (mem_map_get). */
	struct mem_map *spare;
	bool spare_stale;
	/* The writer waits for a replaced map's readers (mem_map_put) */
	atomic_bool waiters;
	/* A change is under way (its wait lets go of the lock), under lock */
	bool updating;
	u64 next_generation;
	/*
	 * Bumped after the dirty log ioctls clear page bits (re-arm).  KVM
	 * write-protects those pages again and flushes every vCPU's TLB before
	 * the ioctl returns; the engine's equivalent is to drop its write-TLB
	 * entries when this changes and to say so in x86_cpu.dirty_ack, and
	 * the ioctl waits for that (kvm/dirty.c), so the next guest write to
	 * each re-armed page is logged again.
	 */
	_Atomic u64 dirty_epoch;
	/* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 flags (KVM_DIRTY_LOG_*), under lock */
	u64 manual_protect;
	/* Dirty ring entries per vCPU, 0 without the ring; under lock, and
	 * fixed before the first vCPU exists.  With the ring there is no
	 * dirty bitmap for the VMM (KVM's kvm_use_dirty_bitmap). */
	u32 ring_size;
};

int mem_init(struct mem *m);
void mem_destroy(struct mem *m);

/* Take and drop a reference to the current map. */
struct mem_map *mem_map_get(struct mem *m);
void mem_map_put(struct mem_map *map);

/* The KVM_SET_USER_MEMORY_REGION rules; returns 0 or -errno. */
int mem_set_region(struct mem *m, u32 as, u32 id, u32 flags, u64 gpa, u64 size,
		   u64 hva);

/* Slot covering gpa in address space as, or NULL. */
const struct mem_slot *mem_map_find(const struct mem_map *map, u32 as, u64 gpa);

/* Slot by id (for the dirty log ioctls), or NULL. */
const struct mem_slot *mem_map_find_id(const struct mem_map *map, u32 as, u32 id);

/*
 * Record a completed guest write to gpa, which slot s covers
 * (KVM_MEM_LOG_DIRTY_PAGES), on the writing vCPU's ring if the VM uses
 * the dirty ring (ring is NULL otherwise).  Called after the data is
 * stored: the harvester clears bits with an atomic exchange before it
 * copies pages, so a write is either in the copy or marks the page again.
 * Only the write that sets the page's bit is pushed on the ring.  Writes
 * the VMM makes through its own mapping are not logged, as in KVM.
 */
static inline void mem_slot_mark_dirty(const struct mem_slot *s, u64 gpa,
				       struct mem_dirty_ring *ring)
{
	if (!s->dirty)
		return;
	u64 page = (gpa - s->gpa) >> PAGE_SHIFT, bit = 1ULL << (page % 64);
	u64 old = atomic_fetch_or(&s->dirty[page / 64], bit);
	if (ring && !(old & bit))
		mem_dirty_ring_push(ring, s->as << 16 | s->id, page);
}

/*
 * The dirty log ioctls; slot is KVM's (as << 16 | id).  All return 0 or
 * -errno: -ENXIO while the VM uses the dirty ring, -EINVAL for a bad slot
 * number, -ENOENT if the slot does not exist or does not log.
 *
 * mem_get_dirty_log (KVM_GET_DIRTY_LOG): *log is a malloc'd bitmap of
 * *bytes bytes (one bit a page, rounded up to 64 pages).  The log is
 * cleared as it is taken (*cleared), unless manual protection is on.
 *
 * mem_clear_dirty_log (KVM_CLEAR_DIRTY_LOG): clear the bits of mask (bit
 * 0 = first_page) for num_pages pages.  read_mask copies the caller's
 * mask of `bytes` bytes into buf (0 or -EFAULT) once the arguments are
 * known to be valid, as KVM reads it only then.
 */
int mem_get_dirty_log(struct mem *m, u32 slot, u64 **log, size_t *bytes, bool *cleared);
int mem_clear_dirty_log(struct mem *m, u32 slot, u64 first_page, u32 num_pages,
			int (*read_mask)(void *buf, size_t bytes, void *opaque), void *opaque);

/* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 flags, checked by the caller. */
void mem_set_manual_protect(struct mem *m, u64 flags);

/* KVM_RESET_DIRTY_RINGS for one ring (mem/dirty_ring.c): reset the
 * harvested entries in order, re-arming their pages; returns how many. */
u32 mem_dirty_ring_reset(struct mem *m, struct mem_dirty_ring *r);

/* Host pointer for [gpa, gpa+len) if one slot backs it all, else NULL. */
static inline u8 *mem_map_hva(const struct mem_map *map, u32 as, u64 gpa, u64 len)
{
	const struct mem_slot *s = mem_map_find(map, as, gpa);
	if (!s || gpa + len > s->gpa + s->size || gpa + len < gpa)
		return NULL;
	return s->hva + (gpa - s->gpa);
}

#endif
