/* Coalesced MMIO/PIO zones and their ring (see coalesced_mmio.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kvm/coalesced_mmio.h"
#include "kvm/kvm.h"
#include "kvm/sys.h"

/* Entries the ring page holds (KVM_COALESCED_MMIO_MAX). */
#define RING_MAX                                                                \
	((PAGE_SIZE - sizeof(struct kvm_coalesced_mmio_ring)) /                 \
	 sizeof(struct kvm_coalesced_mmio))

struct skvm_cmmio *skvm_cmmio_create(void)
{
	struct skvm_cmmio *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->memfd = skvm_anon_fd("kvm-coalesced-mmio", PAGE_SIZE, O_CLOEXEC);
	if (c->memfd < 0)
		goto fail;
	c->ring = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
	if (c->ring == MAP_FAILED)
		goto fail_fd;
	pthread_mutex_init(&c->lock, NULL);
	return c;
fail_fd:
	sys_close(c->memfd);
fail:
	free(c);
	return NULL;
}

void skvm_cmmio_destroy(struct skvm_cmmio *c)
{
	if (!c)
		return;
	munmap(c->ring, PAGE_SIZE);
	sys_close(c->memfd);
	free(c->zones[0]);
	free(c->zones[1]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* [addr, addr + len) lies inside zone z (coalesced_mmio_in_range). */
static bool in_zone(const struct skvm_cmmio_zone *z, u64 addr, u64 len)
{
	return addr + len >= addr && addr >= z->addr && addr + len <= z->addr + z->size;
}

/* Registering adds a zone (duplicates and empty zones too, as KVM's bus
 * does) until the bus is full; unregistering drops every zone that holds
 * the given range, and succeeds even if none does. */
long skvm_cmmio_ioctl(struct skvm_cmmio *c, unsigned int cmd, unsigned long arg)
{
	struct kvm_coalesced_mmio_zone zone;
	if (skvm_copy_from_user(&zone, arg, sizeof(zone)))
		return -EFAULT;
	if (zone.pio > 1)
		return -EINVAL;
	u32 bus = zone.pio;
	long r = 0;
	pthread_mutex_lock(&c->lock);
	if (cmd == KVM_REGISTER_COALESCED_MMIO) {
		if (!c->zones[bus])
			c->zones[bus] = calloc(SKVM_IOBUS_MAX, sizeof(struct skvm_cmmio_zone));
		if (!c->zones[bus])
			r = -ENOMEM;
		else if (c->nr[bus] >= SKVM_IOBUS_MAX)
			r = -ENOSPC;
		else
			c->zones[bus][c->nr[bus]++] = (struct skvm_cmmio_zone){zone.addr, zone.size};
	} else {
		u32 k = 0;
		for (u32 i = 0; i < c->nr[bus]; i++)
			if (!in_zone(&c->zones[bus][i], zone.addr, zone.size))
				c->zones[bus][k++] = c->zones[bus][i];
		c->nr[bus] = k;
	}
	atomic_store(&c->live[bus], c->nr[bus]);
	pthread_mutex_unlock(&c->lock);
	return r;
}

bool skvm_cmmio_write(struct skvm_cmmio *c, u64 addr, u32 len, const void *data, bool pio)
{
	u32 bus = pio;
	if (len > sizeof(c->ring->coalesced_mmio[0].data) || !atomic_load(&c->live[bus]))
		return false;
	bool queued = false;
	pthread_mutex_lock(&c->lock);
	for (u32 i = 0; i < c->nr[bus] && !queued; i++)
		queued = in_zone(&c->zones[bus][i], addr, len);
	if (queued) {
		/* The ring is shared with user space: read its indices once. */
		u32 last = __atomic_load_n(&c->ring->last, __ATOMIC_RELAXED);
		u32 first = __atomic_load_n(&c->ring->first, __ATOMIC_ACQUIRE);
		if (last >= RING_MAX || (last + 1) % RING_MAX == first) {
			queued = false; /* full: exit instead */
		} else {
			struct kvm_coalesced_mmio *e = &c->ring->coalesced_mmio[last];
			e->phys_addr = addr;
			e->len = len;
			e->pio = pio;
			memcpy(e->data, data, len);
			__atomic_store_n(&c->ring->last, (last + 1) % RING_MAX, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return queued;
}
