/* Binary statistics (KVM_GET_STATS_FD): a memfd laid out as the document's
 * header, id string, descriptors and data; the counters are updated in place
 * so every stats fd reads live values with plain read/pread. */
#ifndef SOFTKVM_KVM_STATS_H
#define SOFTKVM_KVM_STATS_H

#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

/* KVM_STATS_NAME_SIZE in the kernel: descriptor name and id string size. */
#define SKVM_STATS_NAME_SIZE 48

struct skvm_stat_def {
	const char *name;
	u32 flags; /* KVM_STATS_TYPE_* | KVM_STATS_UNIT_* | KVM_STATS_BASE_* */
	s16 exponent; /* the value is counter * base^exponent (ns: -9) */
};

/*
 * The counters live in `data`: a private array until the first stats fd is
 * asked for, then the data block of the memfd (the private values are
 * carried over).  A vCPU thus costs no fd until its stats are read, which
 * keeps KVM_CAP_MAX_VCPUS vCPUs within the client's fd limit.
 */
struct skvm_stats {
	u64 *_Atomic data;
	u64 *priv;
	const struct skvm_stat_def *defs;
	u32 n;
	char id[SKVM_STATS_NAME_SIZE];
	pthread_mutex_t lock;	/* creating the memfd */
	int memfd;		/* -1 until then */
	u8 *map;
	size_t size;
};

struct skvm_stats *skvm_stats_create(const char *id, const struct skvm_stat_def *defs,
				     u32 n);
void skvm_stats_destroy(struct skvm_stats *st);

static inline void skvm_stat_add(struct skvm_stats *st, u32 i, u64 v)
{
	if (st) {
		u64 *d = atomic_load_explicit(&st->data, memory_order_acquire);
		__atomic_fetch_add(&d[i], v, __ATOMIC_RELAXED);
	}
}

static inline void skvm_stat_inc(struct skvm_stats *st, u32 i)
{
	skvm_stat_add(st, i, 1);
}

/* A vCPU counter that only the vCPU's thread bumps, in KVM_RUN under
 * vcpu->lock, which KVM_GET_STATS_FD (the move to the shared page,
 * skvm_stats_fd) holds too: nothing else writes it, so no locked
 * instruction (two of them cost a few percent of a PIO exit). */
static inline void skvm_stat_inc_own(struct skvm_stats *st, u32 i)
{
	if (st) {
		u64 *d = atomic_load_explicit(&st->data, memory_order_acquire);
		__atomic_store_n(&d[i], __atomic_load_n(&d[i], __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELAXED);
	}
}

/* vCPU counters, in descriptor order */
enum { VCPU_STAT_EXITS, VCPU_STAT_IO_EXITS, VCPU_STAT_MMIO_EXITS,
       VCPU_STAT_HALT_EXITS, VCPU_STAT_SIGNAL_EXITS, VCPU_STAT_IRQ_WINDOW_EXITS,
       VCPU_STAT_HALT_SUCCESSFUL_POLL, VCPU_STAT_HALT_ATTEMPTED_POLL,
       VCPU_STAT_HALT_POLL_INVALID, VCPU_STAT_HALT_WAKEUP, VCPU_STAT_HALT_POLL_SUCCESS_NS,
       VCPU_STAT_HALT_POLL_FAIL_NS, VCPU_STAT_HALT_WAIT_NS, VCPU_STAT_NR };
/* VM counters */
enum { VM_STAT_MEMSLOT_UPDATES, VM_STAT_NR };

extern const struct skvm_stat_def skvm_vcpu_stat_defs[VCPU_STAT_NR];
extern const struct skvm_stat_def skvm_vm_stat_defs[VM_STAT_NR];

#endif
