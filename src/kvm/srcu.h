/*
 * Read-mostly tables swapped whole (the GSI routing table, the ioeventfd
 * list): readers never block or take a lock; a writer publishes a new copy
 * with an atomic store, then waits until no reader can still hold the old
 * one before freeing it (KVM's irq_srcu / synchronize_srcu).
 *
 * A reader counts itself in one of two counters, picked by the low bit of
 * the epoch, before it loads the table pointer.  After publishing, the
 * writer flips the epoch, so new readers count in the other counter, waits
 * for the old counter to drain, and then does the same for the other one:
 * every reader that could have loaded the old pointer was counted in one of
 * them before the store and has left once both were seen at zero.
 */
#ifndef SOFTKVM_KVM_SRCU_H
#define SOFTKVM_KVM_SRCU_H

#include <stdatomic.h>

#include "common.h"

struct skvm_srcu {
	_Atomic u32 epoch;
	_Atomic long readers[2];
};

static inline u32 skvm_srcu_read_lock(struct skvm_srcu *s)
{
	u32 i = atomic_load(&s->epoch) & 1;
	atomic_fetch_add(&s->readers[i], 1);
	return i;
}

static inline void skvm_srcu_read_unlock(struct skvm_srcu *s, u32 i)
{
	atomic_fetch_sub_explicit(&s->readers[i], 1, memory_order_release);
}

/* After a new table was published: returns once no reader holds the old
 * one.  Writers serialise among themselves. */
void skvm_srcu_synchronize(struct skvm_srcu *s);

#endif
