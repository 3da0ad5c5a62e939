/* Memslot maps: an active and a spare map, published atomically, read
 * without locks (mem/memslot.h). */
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

static void map_free(struct mem_map *map)
{
	if (!map)
		return;
	for (u32 as = 0; as < MEM_ADDRESS_SPACES; as++) {
		free(map->slots[as]);
		free(map->pos[as]);
	}
	free(map);
}

static struct mem_map *map_alloc(struct mem *m)
{
	struct mem_map *map = calloc(1, sizeof(*map));
	if (!map)
		return NULL;
	atomic_init(&map->refs, 0);
	map->owner = m;
	for (u32 as = 0; as < MEM_ADDRESS_SPACES; as++) {
		map->pos[as] = calloc(MEM_MAX_SLOTS, sizeof(u32));
		if (!map->pos[as]) {
			map_free(map);
			return NULL;
		}
	}
	return map;
}

/* Make dst a copy of src (the spare's rebuild after an allocation failure
 * left it behind); dst keeps its own arrays, so a reader that still
 * counts itself in it (mem_map_get) never sees it freed.  Fails
 * (-ENOMEM) only before changing anything. */
static int map_copy(struct mem_map *dst, const struct mem_map *src)
{
	for (u32 as = 0; as < MEM_ADDRESS_SPACES; as++) {
		u32 n = src->nr[as];
		if (n > dst->cap[as]) {
			struct mem_slot *s = realloc(dst->slots[as], n * sizeof(struct mem_slot));
			if (!s)
				return -ENOMEM;
			dst->slots[as] = s;
			dst->cap[as] = n;
		}
	}
	for (u32 as = 0; as < MEM_ADDRESS_SPACES; as++) {
		if (src->nr[as])
			memcpy(dst->slots[as], src->slots[as], src->nr[as] * sizeof(struct mem_slot));
		dst->nr[as] = src->nr[as];
		memcpy(dst->pos[as], src->pos[as], MEM_MAX_SLOTS * sizeof(u32));
	}
	dst->generation = src->generation;
	return 0;
}

int mem_init(struct mem *m)
{
	struct mem_map *map = map_alloc(m), *spare = map_alloc(m);
	if (!map || !spare) {
		map_free(map);
		map_free(spare);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->drained, NULL);
	m->updating = false;
	m->spare_stale = false;
	atomic_init(&m->waiters, false);
	atomic_init(&m->map, map);
	m->spare = spare;
	atomic_init(&m->dirty_epoch, 0);
	m->next_generation = 1;
	return 0;
}

/* After the VM's last vCPU: nobody holds a map any more. */
void mem_destroy(struct mem *m)
{
	struct mem_map *map = atomic_load(&m->map);
	for (u32 as = 0; as < MEM_ADDRESS_SPACES; as++)
		for (u32 i = 0; i < map->nr[as]; i++)
			free((void *)map->slots[as][i].dirty);
	map_free(map);
	map_free(m->spare);
	pthread_cond_destroy(&m->drained);
	pthread_mutex_destroy(&m->lock);
}

struct mem_map *mem_map_get(struct mem *m)
{
	/*
	 * Without the lock: load the active map, count ourselves in, and
	 * check that it is still the active one.  The writer stores the new
	 * map before it reads the old one's refs (both seq_cst), so either our
	 * second load sees the new map (we back off and retry) or the writer's
	 * read of refs sees our reference and waits for it.  A map we counted
	 * ourselves in by mistake may meanwhile be the writer's spare, changed
	 * under us, or even active again (ABA): we read nothing of it before
	 * the check, and a map never goes back to the allocator while the VM
	 * lives (publish keeps it even when it cannot bring it up to date), so
	 * the stray count is harmless and the check decides.
	 */
	for (;;) {
		struct mem_map *map = atomic_load(&m->map);
		atomic_fetch_add(&map->refs, 1);
		if (likely(atomic_load(&m->map) == map))
			return map;
		mem_map_put(map);
	}
}

void mem_map_put(struct mem_map *map)
{
	if (!map || atomic_fetch_sub(&map->refs, 1) != 1)
		return;
	/* The last reader: wake the writer if one waits for this map
	 * (wait_readers).  It raises `waiters` before it reads refs, both
	 * seq_cst like our decrement and this load, so either it sees refs
	 * at 0 or we see the flag; it reads refs and sleeps under the lock,
	 * so taking the lock first means the broadcast cannot be lost. */
	struct mem *m = map->owner;
	if (!atomic_load(&m->waiters))
		return;
	pthread_mutex_lock(&m->lock);
	pthread_cond_broadcast(&m->drained);
	pthread_mutex_unlock(&m->lock);
}

/* Wait until no vCPU can still reach a replaced map's slots.  Nobody holds
 * a map while blocked outside guest code, so this ends.  m->lock held. */
static void wait_readers(struct mem *m, struct mem_map *old)
{
	atomic_store(&m->waiters, true);
	while (atomic_load(&old->refs))
		pthread_cond_wait(&m->drained, &m->lock);
	atomic_store(&m->waiters, false);
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
	u32 p = id < MEM_MAX_SLOTS ? map->pos[as][id] : 0;
	return p ? &map->slots[as][p - 1] : NULL;
}

/* The first slot of as that ends above gpa (slots do not overlap, so their
 * ends are sorted too); nr if none. */
static u32 first_ending_above(const struct mem_map *map, u32 as, u64 gpa)
{
	const struct mem_slot *s = map->slots[as];
	u32 lo = 0, hi = map->nr[as];
	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		if (s[mid].gpa + s[mid].size <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Room for one more slot in as; only for a map no reader holds. */
static int map_reserve(struct mem_map *map, u32 as)
{
	if (map->nr[as] < map->cap[as])
		return 0;
	u32 cap = map->cap[as] ? map->cap[as] * 2 : 8;
	struct mem_slot *n = realloc(map->slots[as], cap * sizeof(struct mem_slot));
	if (!n)
		return -ENOMEM;
	map->slots[as] = n;
	map->cap[as] = cap;
	return 0;
}

/* Renumber pos[] for slots [from, to) of as after a shift. */
static void map_repos(struct mem_map *map, u32 as, u32 from, u32 to)
{
	for (u32 i = from; i < to; i++)
		map->pos[as][map->slots[as][i].id] = i + 1;
}

/*
 * Replace slot `id` of address space `as` by *ns, add it, or remove it (ns
 * NULL), in a map no reader holds.  Fails (-ENOMEM) only before changing
 * anything.
 */
static int map_apply(struct mem_map *map, u32 as, u32 id, const struct mem_slot *ns)
{
	u32 p = map->pos[as][id];
	if (!p && ns) {
		int r = map_reserve(map, as);
		if (r)
			return r;
	}
	struct mem_slot *s = map->slots[as];
	if (p) {
		u32 i = p - 1;
		if (ns && ns->gpa == s[i].gpa) {
			s[i] = *ns; /* flags only: stays in place */
			return 0;
		}
		memmove(&s[i], &s[i + 1], (map->nr[as] - i - 1) * sizeof(*s));
		map->nr[as]--;
		map->pos[as][id] = 0;
		map_repos(map, as, i, map->nr[as]);
	}
	if (ns) {
		u32 i = first_ending_above(map, as, ns->gpa);
		memmove(&s[i + 1], &s[i], (map->nr[as] - i) * sizeof(*s));
		s[i] = *ns;
		map->nr[as]++;
		map_repos(map, as, i, map->nr[as]);
	}
	return 0;
}

/*
 * Make the change in the spare, publish it, wait for the readers of the map
 * it replaced, and bring that one up to date as the next spare.  Called
 * with m->lock held; returns 0 or -ENOMEM (nothing published).  free_log,
 * if not NULL, is freed once no reader can reach it.
 */
static int publish(struct mem *m, u32 as, u32 id, const struct mem_slot *ns,
		   _Atomic u64 *free_log)
{
	struct mem_map *old = atomic_load(&m->map);
	if (m->spare_stale) {
		if (map_copy(m->spare, old))
			return -ENOMEM;
		m->spare_stale = false;
	}
	struct mem_map *map = m->spare;
	int r = map_apply(map, as, id, ns);
	if (r)
		return r;
	map->generation = m->next_generation++;
	atomic_store(&m->map, map);
	wait_readers(m, old);
	free((void *)free_log);
	/* out of memory: the next change copies the active map into it */
	m->spare_stale = map_apply(old, as, id, ns) != 0;
	m->spare = old;
	return 0;
}

/* Another slot of as than id that overlaps [gpa, gpa + size)? */
static bool overlaps(const struct mem_map *map, u32 as, u32 id, u64 gpa, u64 size)
{
	for (u32 i = first_ending_above(map, as, gpa); i < map->nr[as]; i++) {
		const struct mem_slot *s = &map->slots[as][i];
		if (s->gpa >= gpa + size)
			break;
		if (s->id != id)
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
	/* One change at a time: publish() lets go of the lock while it waits
	 * for readers, and the spare is the writer's alone. */
	while (m->updating)
		pthread_cond_wait(&m->drained, &m->lock);
	m->updating = true;
	struct mem_map *map = atomic_load(&m->map);
	int r = 0;
	const struct mem_slot *old = mem_map_find_id(map, as, id);

	if (!size) {
		/* Deleting a slot that does not exist is EINVAL since Linux 5.x.
		 * The slot's dirty bitmap goes once no vCPU can reach it. */
		r = old ? publish(m, as, id, NULL, old->dirty) : -EINVAL;
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
	r = publish(m, as, id, &ns, old_log != ns.dirty ? old_log : NULL);
	if (r && ns.dirty != old_log)
		free((void *)ns.dirty);
out:
	m->updating = false;
	pthread_cond_broadcast(&m->drained);
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
