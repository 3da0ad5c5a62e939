/* Device buses: sorted ranges, copy on write, lock-free lookup. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw/bus.h"

static struct hw_bus_map *map_alloc(u32 nr)
{
	struct hw_bus_map *m = calloc(1, sizeof(*m) + nr * sizeof(m->r[0]));
	if (m)
		m->nr = nr;
	return m;
}

int hw_bus_init(struct hw_bus *bus)
{
	struct hw_bus_map *m = map_alloc(0);
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&bus->lock, NULL);
	atomic_init(&bus->map, m);
	return 0;
}

void hw_bus_destroy(struct hw_bus *bus)
{
	struct hw_bus_map *m = atomic_load(&bus->map);
	while (m) {
		struct hw_bus_map *older = m->retired;
		free(m);
		m = older;
	}
	atomic_store(&bus->map, NULL);
	pthread_mutex_destroy(&bus->lock);
}

/* Publish next in place of the current map (lock held). */
static void publish(struct hw_bus *bus, struct hw_bus_map *next)
{
	next->retired = atomic_load(&bus->map);
	atomic_store_explicit(&bus->map, next, memory_order_release);
}

int hw_bus_register(struct hw_bus *bus, u64 base, u64 len, struct hw_dev *dev)
{
	if (!len || base + len - 1 < base || !dev)
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	struct hw_bus_map *old = atomic_load(&bus->map);
	u32 at = 0;
	while (at < old->nr && old->r[at].base < base)
		at++;
	int r = -EEXIST;
	if (at > 0 && old->r[at - 1].base + old->r[at - 1].len - 1 >= base)
		goto out;
	if (at < old->nr && base + len - 1 >= old->r[at].base)
		goto out;
	r = -ENOMEM;
	struct hw_bus_map *next = map_alloc(old->nr + 1);
	if (!next)
		goto out;
	memcpy(next->r, old->r, at * sizeof(old->r[0]));
	next->r[at] = (struct hw_range){.base = base, .len = len, .dev = dev};
	memcpy(next->r + at + 1, old->r + at, (old->nr - at) * sizeof(old->r[0]));
	publish(bus, next);
	r = 0;
out:
	pthread_mutex_unlock(&bus->lock);
	return r;
}

int hw_bus_unregister(struct hw_bus *bus, struct hw_dev *dev)
{
	pthread_mutex_lock(&bus->lock);
	struct hw_bus_map *old = atomic_load(&bus->map);
	u32 keep = 0;
	for (u32 i = 0; i < old->nr; i++)
		keep += old->r[i].dev != dev;
	int r = keep == old->nr ? -ENOENT : -ENOMEM;
	struct hw_bus_map *next = keep == old->nr ? NULL : map_alloc(keep);
	if (next) {
		for (u32 i = 0, j = 0; i < old->nr; i++)
			if (old->r[i].dev != dev)
				next->r[j++] = old->r[i];
		publish(bus, next);
		r = 0;
	}
	pthread_mutex_unlock(&bus->lock);
	return r;
}

const struct hw_range *hw_bus_find(struct hw_bus *bus, u64 addr, u32 len)
{
	const struct hw_bus_map *m = atomic_load_explicit(&bus->map, memory_order_acquire);
	u32 lo = 0, hi = m->nr;
	/* Last range with base <= addr. */
	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		if (m->r[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || !len)
		return NULL;
	const struct hw_range *r = &m->r[lo - 1];
	u64 off = addr - r->base;
	/* The whole access must fall inside, as in KVM's kvm_io_bus_get_first_dev. */
	if (off >= r->len || len > r->len - off)
		return NULL;
	return r;
}

bool hw_bus_read(struct hw_bus *bus, u64 addr, u32 len, void *data)
{
	const struct hw_range *r = hw_bus_find(bus, addr, len);
	return r && r->dev->ops->read && r->dev->ops->read(r->dev, addr, len, data);
}

bool hw_bus_write(struct hw_bus *bus, u64 addr, u32 len, const void *data)
{
	const struct hw_range *r = hw_bus_find(bus, addr, len);
	return r && r->dev->ops->write && r->dev->ops->write(r->dev, addr, len, data);
}

void hw_bus_reset_all(struct hw_bus *bus)
{
	pthread_mutex_lock(&bus->lock);
	const struct hw_bus_map *m = atomic_load(&bus->map);
	for (u32 i = 0; i < m->nr; i++) {
		bool seen = false;
		for (u32 j = 0; j < i && !seen; j++)
			seen = m->r[j].dev == m->r[i].dev;
		if (!seen && m->r[i].dev->ops->reset)
			m->r[i].dev->ops->reset(m->r[i].dev);
	}
	pthread_mutex_unlock(&bus->lock);
}
