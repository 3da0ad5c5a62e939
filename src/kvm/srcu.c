/* Writer side of kvm/srcu.h. */
#include <sched.h>

#include "kvm/srcu.h"

static void drain(struct skvm_srcu *s, u32 i)
{
	/* Readers stay for a table lookup and at most one short system call
	 * (an eventfd write, a kick): yielding beats sleeping here. */
	while (atomic_load_explicit(&s->readers[i], memory_order_acquire))
		sched_yield();
}

void skvm_srcu_synchronize(struct skvm_srcu *s)
{
	for (int k = 0; k < 2; k++) {
		u32 old = atomic_fetch_add(&s->epoch, 1) & 1;
		drain(s, old);
	}
}
