/*
 * Coalesced MMIO and PIO (KVM API 4.116 KVM_REGISTER_COALESCED_MMIO): zones
 * of guest MMIO / port space whose writes may be queued in a ring page
 * instead of exiting.  The ring is one page per VM, shown at page
 * KVM_COALESCED_MMIO_PAGE_OFFSET of every vCPU fd's mmap.
 */
#ifndef SOFTKVM_KVM_COALESCED_MMIO_H
#define SOFTKVM_KVM_COALESCED_MMIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <linux/kvm.h>

#include "common.h"

/* NR_IOBUS_DEVS: devices a KVM I/O bus (MMIO or PIO) holds. */
#define SKVM_IOBUS_MAX 1000

struct skvm_cmmio_zone {
	u64 addr;
	u32 size;
};

struct skvm_cmmio {
	pthread_mutex_t lock;	/* zones, and ring insertion */
	int memfd;		/* the ring page */
	struct kvm_coalesced_mmio_ring *ring;
	u32 nr[2];		/* zones on the MMIO (0) and PIO (1) bus */
	/* nr[] as written under the lock: a write to a bus without zones
	 * exits without the lock, as a write racing with a registration
	 * may in KVM */
	_Atomic u32 live[2];
	struct skvm_cmmio_zone *zones[2];
};

struct skvm_cmmio *skvm_cmmio_create(void);
void skvm_cmmio_destroy(struct skvm_cmmio *c);

/* KVM_REGISTER_COALESCED_MMIO / KVM_UNREGISTER_COALESCED_MMIO: 0 or -errno. */
long skvm_cmmio_ioctl(struct skvm_cmmio *c, unsigned int cmd, unsigned long arg);

/*
 * For the engine: a guest write of len (1..8) bytes to addr in MMIO (pio
 * false) or port space.  Returns true if it was queued in the ring, and the
 * guest goes on without an exit; false if no zone covers it or the ring is
 * full, and it exits to user space as usual (KVM's -EOPNOTSUPP fallback).
 */
bool skvm_cmmio_write(struct skvm_cmmio *c, u64 addr, u32 len, const void *data, bool pio);

#endif
