/*
 * The device buses of a VM: one for port I/O (16-bit addresses), one for
 * MMIO (guest-physical addresses).  A device is a `struct hw_dev` whose
 * `const` ops table the device's file defines; it is registered for one or
 * more address ranges.  The engine asks the bus first on every port or
 * MMIO access; an address no device claims becomes a KVM_EXIT_IO or
 * KVM_EXIT_MMIO.  See docs/devices.md.
 *
 * Lookups are lock free: the ranges live in an immutable sorted array that
 * every registration replaces (copy on write, published atomically, as
 * src/mem/memslot.c does for memslots).  Replaced arrays are kept until
 * the bus is destroyed, because a vCPU may still be searching one and
 * registrations are rare (a handful per VM).
 */
#ifndef SOFTKVM_HW_BUS_H
#define SOFTKVM_HW_BUS_H

#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

struct hw_dev;

struct hw_dev_ops {
	const char *name;
	/*
	 * Access of len bytes (1, 2, 4 or 8) at the absolute address addr,
	 * which lies in a range the device registered.  Returns true when the
	 * device handled it; false sends the access on as an exit.
	 */
	bool (*read)(struct hw_dev *dev, u64 addr, u32 len, void *data);
	bool (*write)(struct hw_dev *dev, u64 addr, u32 len, const void *data);
	/* Power-on / RESET# state. */
	void (*reset)(struct hw_dev *dev);
	/* Copy the state to / from the device's own state struct (named in
	 * its header, field for field the KVM_GET_* struct); restore returns
	 * 0 or -EINVAL. */
	void (*save)(struct hw_dev *dev, void *state);
	int (*restore)(struct hw_dev *dev, const void *state);
};

/* Embedded in each device's struct; container_of gets back to it. */
struct hw_dev {
	const struct hw_dev_ops *ops;
};

#define hw_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct hw_range {
	u64 base;
	u64 len;
	struct hw_dev *dev;
};

struct hw_bus_map {
	u32 nr;
	struct hw_bus_map *retired; /* older maps, freed with the bus */
	struct hw_range r[];	    /* sorted by base, not overlapping */
};

struct hw_bus {
	pthread_mutex_t lock; /* serialises writers */
	struct hw_bus_map *_Atomic map;
};

int hw_bus_init(struct hw_bus *bus);
void hw_bus_destroy(struct hw_bus *bus);

/*
 * Claim [base, base+len) for dev: 0, -EINVAL for an empty or wrapping
 * range, -EEXIST if it overlaps a range already registered, -ENOMEM.
 */
int hw_bus_register(struct hw_bus *bus, u64 base, u64 len, struct hw_dev *dev);
/*
 * Drop every range of dev (0, or -ENOENT if it had none).  The caller
 * makes sure no vCPU is inside one of dev's ops before freeing dev.
 */
int hw_bus_unregister(struct hw_bus *bus, struct hw_dev *dev);

/* The range holding all of [addr, addr+len), or NULL. */
const struct hw_range *hw_bus_find(struct hw_bus *bus, u64 addr, u32 len);

/* Dispatch an access; false means nobody claimed it: exit to user space. */
bool hw_bus_read(struct hw_bus *bus, u64 addr, u32 len, void *data);
bool hw_bus_write(struct hw_bus *bus, u64 addr, u32 len, const void *data);

/* Reset every registered device once. */
void hw_bus_reset_all(struct hw_bus *bus);

#endif
