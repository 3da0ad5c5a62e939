/*
 * KVM_IOEVENTFD (KVM API 4.59): a guest write to a registered port or MMIO
 * address signals an eventfd instead of exiting.
 *
 * The entries of a VM live in one immutable array sorted by (bus, address);
 * every assign or deassign publishes a new copy (kvm/srcu.h), so the vCPU
 * threads look up without a lock.  Matching follows KVM's
 * ioeventfd_in_range: the address must be equal; a length-0 entry takes
 * any length, else the length must be equal and, with DATAMATCH, the value
 * too.  The collision rule (EEXIST) is ioeventfd_check_collision's, which
 * leaves at most one entry matching any access.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/eventfd.h"
#include "kvm/irqchip.h"
#include "kvm/irqroute.h"
#include "kvm/srcu.h"

/* KVM's buses; s390's virtio-ccw notify bus exists on x86 too, and no
 * access reaches it. */
enum { BUS_MMIO, BUS_PIO, BUS_CCW };

/* Flags KVM knows (KVM_IOEVENTFD_VALID_FLAG_MASK of newer headers): bit 4
 * (fast MMIO) is accepted and selects nothing. */
#define IOEVENTFD_VALID_FLAGS 0x1fu

struct ioev {
	u64 addr;
	u64 datamatch;
	u32 len;	/* 0: any length */
	u8 bus;
	bool wildcard;	/* no DATAMATCH */
	int fd;		/* our dup of the eventfd */
};

struct ioev_list {
	u32 nr;
	struct ioev e[];
};

struct skvm_ioeventfds {
	pthread_mutex_t lock;	/* serialises assign / deassign */
	struct skvm_srcu srcu;
	struct ioev_list *_Atomic list; /* NULL when empty */
};

struct skvm_ioeventfds *skvm_ioeventfds_create(void)
{
	struct skvm_ioeventfds *io = calloc(1, sizeof(*io));
	if (io)
		pthread_mutex_init(&io->lock, NULL);
	return io;
}

void skvm_ioeventfds_destroy(struct skvm_ioeventfds *io)
{
	if (!io)
		return;
	struct ioev_list *l = atomic_load(&io->list);
	for (u32 i = 0; l && i < l->nr; i++)
		skvm_eventfd_put(l->e[i].fd);
	free(l);
	pthread_mutex_destroy(&io->lock);
	free(io);
}

static int key_cmp(u8 bus, u64 addr, const struct ioev *e)
{
	if (bus != e->bus)
		return bus < e->bus ? -1 : 1;
	return addr < e->addr ? -1 : addr > e->addr;
}

/* Index of the first entry not below (bus, addr). */
static u32 lower_bound(const struct ioev_list *l, u8 bus, u64 addr)
{
	u32 lo = 0, hi = l ? l->nr : 0;
	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		if (key_cmp(bus, addr, &l->e[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool collides(const struct ioev *a, const struct ioev *b)
{
	return a->bus == b->bus && a->addr == b->addr &&
	       (!a->len || !b->len ||
		(a->len == b->len && (a->wildcard || b->wildcard || a->datamatch == b->datamatch)));
}

/* Publish l in place of the current list and free the old one once no
 * vCPU can be reading it.  Called with io->lock held. */
static void publish(struct skvm_ioeventfds *io, struct ioev_list *l)
{
	if (l && !l->nr) {
		free(l);
		l = NULL;
	}
	struct ioev_list *old = atomic_exchange(&io->list, l);
	skvm_srcu_synchronize(&io->srcu);
	free(old);
}

/* A copy of the current list with room for `extra` more entries. */
static struct ioev_list *copy_list(const struct ioev_list *cur, u32 extra)
{
	u32 nr = cur ? cur->nr : 0;
	struct ioev_list *l = malloc(sizeof(*l) + (nr + extra) * sizeof(l->e[0]));
	if (!l)
		return NULL;
	l->nr = nr;
	if (nr)
		memcpy(l->e, cur->e, nr * sizeof(l->e[0]));
	return l;
}

static long assign(struct skvm_ioeventfds *io, const struct kvm_ioeventfd *a, u8 bus)
{
	/* kvm_assign_ioeventfd's checks, in its order. */
	switch (a->len) {
	case 0: case 1: case 2: case 4: case 8:
		break;
	default:
		return -EINVAL;
	}
	if (a->addr + a->len < a->addr)
		return -EINVAL;
	if (a->flags & ~IOEVENTFD_VALID_FLAGS)
		return -EINVAL;
	if (!a->len && (a->flags & KVM_IOEVENTFD_FLAG_DATAMATCH))
		return -EINVAL;

	struct ioev n = {
		.addr = a->addr,
		.len = a->len,
		.bus = bus,
		.wildcard = !(a->flags & KVM_IOEVENTFD_FLAG_DATAMATCH),
	};
	if (!n.wildcard)
		n.datamatch = a->datamatch;
	n.fd = skvm_eventfd_get(a->fd);
	if (n.fd < 0)
		return n.fd;

	long r = 0;
	pthread_mutex_lock(&io->lock);
	struct ioev_list *cur = atomic_load(&io->list);
	u32 pos = lower_bound(cur, bus, n.addr);
	for (u32 i = pos; cur && i < cur->nr && !key_cmp(bus, n.addr, &cur->e[i]); i++)
		if (collides(&n, &cur->e[i]))
			r = -EEXIST;
	struct ioev_list *l = r ? NULL : copy_list(cur, 1);
	if (!r && !l)
		r = -ENOMEM;
	if (!r) {
		memmove(&l->e[pos + 1], &l->e[pos], (l->nr - pos) * sizeof(l->e[0]));
		l->e[pos] = n;
		l->nr++;
		publish(io, l);
	}
	pthread_mutex_unlock(&io->lock);
	if (r)
		skvm_eventfd_put(n.fd);
	return r;
}

/* kvm_deassign_ioeventfd_idx: no argument checks but the fd; the first
 * entry equal in bus, eventfd, address, length and data goes. */
static long deassign(struct skvm_ioeventfds *io, const struct kvm_ioeventfd *a, u8 bus)
{
	int r = skvm_eventfd_check(a->fd);
	if (r)
		return r;
	bool wildcard = !(a->flags & KVM_IOEVENTFD_FLAG_DATAMATCH);
	int gone = -1;
	r = -ENOENT;
	pthread_mutex_lock(&io->lock);
	struct ioev_list *cur = atomic_load(&io->list);
	for (u32 i = lower_bound(cur, bus, a->addr);
	     cur && i < cur->nr && !key_cmp(bus, a->addr, &cur->e[i]); i++) {
		const struct ioev *e = &cur->e[i];
		if (e->len != a->len || e->wildcard != wildcard ||
		    (!wildcard && e->datamatch != a->datamatch) ||
		    !skvm_eventfd_same(e->fd, (int)a->fd))
			continue;
		struct ioev_list *l = copy_list(cur, 0);
		if (!l) {
			r = -ENOMEM;
			break;
		}
		gone = e->fd;
		memmove(&l->e[i], &l->e[i + 1], (l->nr - i - 1) * sizeof(l->e[0]));
		l->nr--;
		publish(io, l);
		r = 0;
		break;
	}
	pthread_mutex_unlock(&io->lock);
	/* No vCPU uses the entry after publish(): its fd may go. */
	skvm_eventfd_put(gone);
	return r;
}

long skvm_ioeventfd_ioctl(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_ioeventfd a;
	if (skvm_copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	/* ioeventfd_bus_from_flags */
	u8 bus = (a.flags & KVM_IOEVENTFD_FLAG_PIO)		  ? BUS_PIO
		 : (a.flags & KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY) ? BUS_CCW
								    : BUS_MMIO;
	if (a.flags & KVM_IOEVENTFD_FLAG_DEASSIGN)
		return deassign(vm->ioeventfds, &a, bus);
	return assign(vm->ioeventfds, &a, bus);
}

static bool matches(const struct ioev *e, u32 len, const void *data)
{
	if (!e->len)
		return true;
	if (len != e->len)
		return false;
	if (e->wildcard)
		return true;
	u64 v = 0;
	memcpy(&v, data, len); /* little-endian, as the guest wrote it */
	return v == e->datamatch;
}

bool skvm_ioeventfd_write(struct skvm_vm *vm, bool pio, u64 addr, u32 len,
			  const void *data)
{
	struct skvm_ioeventfds *io = vm->ioeventfds;
	/* Most VMs have none: skip the reader accounting. */
	if (!atomic_load_explicit(&io->list, memory_order_relaxed))
		return false;
	u8 bus = pio ? BUS_PIO : BUS_MMIO;
	bool hit = false;
	u32 idx = skvm_srcu_read_lock(&io->srcu);
	const struct ioev_list *l = atomic_load(&io->list);
	for (u32 i = lower_bound(l, bus, addr);
	     l && i < l->nr && !key_cmp(bus, addr, &l->e[i]); i++) {
		if (matches(&l->e[i], len, data)) {
			/* Signalled inside the read side: deassign closes the
			 * fd only after every reader left. */
			skvm_eventfd_signal(l->e[i].fd);
			hit = true;
			break;
		}
	}
	skvm_srcu_read_unlock(&io->srcu, idx);
	return hit;
}
