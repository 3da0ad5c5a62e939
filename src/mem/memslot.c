/* Memslot maps: copy on write, published atomically, read without locks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "mem/memslot.h"

/* Highest user address on x86-64 with 4-level paging (TASK_SIZE_MAX). */
#define MEM_USER_TOP 0x00007ffffffff000ULL
/* KVM_MEM_MAX_NR_PAGES */
#define MEM_MAX_PAGES ((1ULL << 31) - 1)
/*
 * Guest physical addresses end at 2^52, the architectural MAXPHYADDR limit
 * KVM's shadow MMU uses (kvm_mmu_max_gfn() in kvm_arch_prepare_memory_region).
 */
#define MEM_GPA_TOP (1ULL << 52)

static struct mem_map *map_alloc(void)
{
	struct mem_map *map = calloc(1, sizeof(*map));
	if (map)
		atomic_init(&map->refs, 1);
	return map;
}

static void map_free(struct mem_map *map)
{
	for (u32 as = 0; as < MEM_ADDRESS_SPACES; as++)
		free(map->slots[as]);
	free(map);
}

int mem_init(struct mem *m)
{
	struct mem_map *map = map_alloc();
	if (!map)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->drained, NULL);
	m->stale = 0;
	atomic_init(&m->map, map);
	atomic_init(&m->dirty_epoch, 0);
	m->next_generation = 1;
	return 0;
}

void mem_destroy(struct mem *m)
{
	struct mem_map *map = atomic_load(&m->map);
	for (u32 as = 0; as < MEM_ADDRESS_SPACES; as++)
		for (u32 i = 0; i < map->nr[as]; i++)
			free((void *)map->slots[as][i].dirty);
	mem_map_put(map);
	pthread_cond_destroy(&m->drained);
	pthread_mutex_destroy(&m->lock);
}

struct mem_map *mem_map_get(struct mem *m)
{
	/*
	 * The writer holds m->lock while it swaps maps and drops the old map's
	 * base reference, so taking the lock here makes "load and get" atomic
	 * with respect to the swap.  Readers take it once per KVM_RUN.
	 */
	pthread_mutex_lock(&m->lock);
	struct mem_map *map = atomic_load(&m->map);
	atomic_fetch_add(&map->refs, 1);
	pthread_mutex_unlock(&m->lock);
	return map;
}

void mem_map_put(struct mem_map *map)
{
	if (!map || atomic_fetch_sub(&map->refs, 1) != 1)
		return;
	struct mem *m = map->owner;
	if (m) {
		/* the last user of a stale map: wake mem_set_region */
		pthread_mutex_lock(&m->lock);
		if (!--m->stale)
			pthread_cond_broadcast(&m->drained);
		pthread_mutex_unlock(&m->lock);
	}
	map_free(map);
}

/* Drop the base reference of the map just replaced.  Called with m->lock
 * held, so its free cannot go through mem_map_put's accounting. */
static void map_retire(struct mem *m, struct mem_map *old)
{
	if (atomic_load(&old->refs) > 1) {
		m->stale++;
		old->owner = m; /* before the put: the last putter reads it */
	}
	if (atomic_fetch_sub(&old->refs, 1) == 1) {
		/* every other user left between the check and the put */
		if (old->owner)
			m->stale--;
		map_free(old);
	}
}

/* Wait until no vCPU can still reach a replaced map's slots.  Nobody holds
 * a map while blocked outside guest code, so this ends. */
static void wait_stale(struct mem *m)
{
	while (m->stale)
		pthread_cond_wait(&m->drained, &m->lock);
}

const struct mem_slot *mem_map_find(const struct mem_map *map, u32 as, u64 gpa)
{
	const struct mem_slot *s = map->slots[as];
	u32 lo = 0, hi = map->nr[as];
	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		if (gpa < s[mid].gpa)
			hi = mid;
		else if (gpa >= s[mid].gpa + s[mid].size)
			lo = mid + 1;
		else
			return &s[mid];
	}
	return NULL;
}

const struct mem_slot *mem_map_find_id(const struct mem_map *map, u32 as, u32 id)
{
	for (u32 i = 0; i < map->nr[as]; i++)
		if (map->slots[as][i].id == id)
			return &map->slots[as][i];
	return NULL;
}

static int slot_cmp(const void *a, const void *b)
{
	const struct mem_slot *x = a, *y = b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Publish a new map with slot `idx` of address space `as` replaced, removed
 * (new_slot NULL) or added (idx == nr).  Called with m->lock held. */
static int publish(struct mem *m, u32 as, u32 idx, const struct mem_slot *new_slot)
{
	struct mem_map *old = atomic_load(&m->map);
	struct mem_map *map = map_alloc();
	if (!map)
		return -ENOMEM;
	for (u32 a = 0; a < MEM_ADDRESS_SPACES; a++) {
		u32 n = old->nr[a] + (a == as && idx == old->nr[a] ? 1 : 0);
		map->slots[a] = calloc(n ? n : 1, sizeof(struct mem_slot));
		if (!map->slots[a]) {
			map_free(map);
			return -ENOMEM;
		}
		u32 k = 0;
		for (u32 i = 0; i < old->nr[a]; i++) {
			if (a == as && i == idx) {
				if (new_slot)
					map->slots[a][k++] = *new_slot;
			} else {
				map->slots[a][k++] = old->slots[a][i];
			}
		}
		if (a == as && idx == old->nr[a])
			map->slots[a][k++] = *new_slot;
		map->nr[a] = k;
		qsort(map->slots[a], k, sizeof(struct mem_slot), slot_cmp);
	}
	map->generation = m->next_generation++;
	atomic_store(&m->map, map);
	map_retire(m, old);
	return 0;
}

static bool overlaps(const struct mem_map *map, u32 as, u32 id, u64 gpa, u64 size)
{
	for (u32 i = 0; i < map->nr[as]; i++) {
		const struct mem_slot *s = &map->slots[as][i];
		if (s->id != id && gpa < s->gpa + s->size && s->gpa < gpa + size)
			return true;
	}
	return false;
}

/* A new slot's log.  With KVM_DIRTY_LOG_INITIALLY_SET (and no dirty ring)
 * every page starts dirty, as KVM's kvm_prepare_memory_region sets the
 * bitmap; the VMM then write-protects with KVM_CLEAR_DIRTY_LOG. */
static _Atomic u64 *log_alloc(const struct mem *m, u64 size)
{
	u64 pages = size >> PAGE_SHIFT;
	_Atomic u64 *log = calloc((pages + 63) / 64 ? (pages + 63) / 64 : 1, sizeof(u64));
	if (log && !m->ring_size && (m->manual_protect & KVM_DIRTY_LOG_INITIALLY_SET))
		for (u64 p = 0; p < pages; p += 64)
			atomic_init(&log[p / 64], pages - p >= 64 ? ~0ULL : (1ULL << (pages - p)) - 1);
	return log;
}

/* Rules as in kvm_set_memory_region() (virt/kvm/kvm_main.c), Linux 6.x. */
int mem_set_region(struct mem *m, u32 as, u32 id, u32 flags, u64 gpa, u64 size,
		   u64 hva)
{
	if (flags & ~(u32)(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY))
		return -EINVAL;
	if ((size | gpa | hva) & (PAGE_SIZE - 1))
		return -EINVAL;
	if (hva + size < hva || hva + size > MEM_USER_TOP)
		return -EINVAL;
	if (as >= MEM_ADDRESS_SPACES || id >= MEM_MAX_SLOTS)
		return -EINVAL;
	if (gpa + size < gpa)
		return -EINVAL;
	if ((size >> PAGE_SHIFT) > MEM_MAX_PAGES)
		return -EINVAL;

	pthread_mutex_lock(&m->lock);
	struct mem_map *map = atomic_load(&m->map);
	int r = 0;
	u32 idx = map->nr[as];
	for (u32 i = 0; i < map->nr[as]; i++)
		if (map->slots[as][i].id == id)
			idx = i;
	const struct mem_slot *old = idx < map->nr[as] ? &map->slots[as][idx] : NULL;

	if (!size) {
		/* Deleting a slot that does not exist is EINVAL since Linux 5.x. */
		if (!old) {
			r = -EINVAL;
		} else {
			_Atomic u64 *log = old->dirty;
			r = publish(m, as, idx, NULL);
			if (!r) {
				/* No vCPU can reach the old slot after the wait,
				 * so its dirty bitmap goes with it. */
				wait_stale(m);
				free((void *)log);
			}
		}
		goto out;
	}

	struct mem_slot ns = {.id = id, .as = as, .flags = flags, .gpa = gpa, .size = size,
			      .hva = (u8 *)(uintptr_t)hva};
	if (old) {
		/* No resize, no new backing, no READONLY toggle. */
		if ((u64)(uintptr_t)old->hva != hva || old->size != size ||
		    ((old->flags ^ flags) & KVM_MEM_READONLY)) {
			r = -EINVAL;
			goto out;
		}
		if (old->gpa == gpa && old->flags == flags)
			goto out; /* nothing changes */
	}
	if ((!old || old->gpa != gpa) && overlaps(map, as, id, gpa, size)) {
		r = -EEXIST;
		goto out;
	}
	if ((!old || old->gpa != gpa) && gpa + size > MEM_GPA_TOP) {
		r = -EINVAL;
		goto out;
	}
	/* A moved slot starts with a clean log, as in KVM; a flags change keeps
	 * the bitmap if logging stays on. */
	ns.dirty = NULL;
	if (flags & KVM_MEM_LOG_DIRTY_PAGES) {
		if (old && old->dirty && old->gpa == gpa) {
			ns.dirty = old->dirty;
		} else {
			ns.dirty = log_alloc(m, size);
			if (!ns.dirty) {
				r = -ENOMEM;
				goto out;
			}
		}
	}
	_Atomic u64 *old_log = old ? old->dirty : NULL;
	r = publish(m, as, idx, &ns);
	if (r) {
		if (ns.dirty != old_log)
			free((void *)ns.dirty);
	} else {
		wait_stale(m);
		if (old_log != ns.dirty)
			free((void *)old_log); /* unreachable after the wait */
	}
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

void mem_set_manual_protect(struct mem *m, u64 flags)
{
	pthread_mutex_lock(&m->lock);
	m->manual_protect = flags;
	pthread_mutex_unlock(&m->lock);
}

/* The checks KVM's kvm_get_dirty_log_protect and kvm_clear_dirty_log_protect
 * share, in their order.  Called with m->lock held. */
static int log_slot(struct mem *m, u32 slot, const struct mem_slot **sp)
{
	if (m->ring_size)
		return -ENXIO;
	u32 as = slot >> 16, id = (u16)slot;
	if (as >= MEM_ADDRESS_SPACES || id >= MEM_MAX_SLOTS)
		return -EINVAL;
	*sp = mem_map_find_id(atomic_load(&m->map), as, id);
	return *sp && (*sp)->dirty ? 0 : -ENOENT;
}

int mem_get_dirty_log(struct mem *m, u32 slot, u64 **log, size_t *bytes, bool *cleared)
{
	pthread_mutex_lock(&m->lock);
	const struct mem_slot *s;
	int r = log_slot(m, slot, &s);
	if (r)
		goto out;
	size_t words = ((s->size >> PAGE_SHIFT) + 63) / 64;
	u64 *out = malloc(words * sizeof(u64));
	r = -ENOMEM;
	if (!out)
		goto out;
	/* Manual protection: the log stays until KVM_CLEAR_DIRTY_LOG. */
	bool take = !(m->manual_protect & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
	for (size_t i = 0; i < words; i++)
		out[i] = take ? atomic_exchange(&s->dirty[i], 0) : atomic_load(&s->dirty[i]);
	*cleared = take;
	*log = out;
	*bytes = words * sizeof(u64);
	r = 0;
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

int mem_clear_dirty_log(struct mem *m, u32 slot, u64 first_page, u32 num_pages,
			int (*read_mask)(void *buf, size_t bytes, void *opaque), void *opaque)
{
	pthread_mutex_lock(&m->lock);
	const struct mem_slot *s;
	u64 *mask = NULL;
	int r = log_slot(m, slot, &s);
	/* KVM checks the alignment of first_page before the slot */
	if ((!r || r == -ENOENT) && (first_page & 63))
		r = -EINVAL;
	if (r)
		goto out;
	/* KVM API 4.118: first_page a multiple of 64, num_pages too unless
	 * the range runs to the end of the slot. */
	u64 pages = s->size >> PAGE_SHIFT;
	r = -EINVAL;
	if (first_page > pages || num_pages > pages - first_page ||
	    (num_pages < pages - first_page && (num_pages & 63)))
		goto out;
	size_t words = ((u64)num_pages + 63) / 64;
	r = -ENOMEM;
	mask = malloc(words ? words * sizeof(u64) : 1);
	if (!mask)
		goto out;
	r = read_mask(mask, words * sizeof(u64), opaque);
	if (r)
		goto out;
	for (size_t i = 0; i < words; i++)
		if (mask[i])
			atomic_fetch_and(&s->dirty[first_page / 64 + i], ~mask[i]);
out:
	pthread_mutex_unlock(&m->lock);
	free(mask);
	return r;
}
