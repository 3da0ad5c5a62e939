/* Binary statistics (KVM_GET_STATS_FD): a memfd laid out as the document's
 * header, id string, descriptors and data; the counters are updated in place
 * so every stats fd reads live values with plain read/pread. */
#ifndef SOFTKVM_KVM_STATS_H
#define SOFTKVM_KVM_STATS_H

#include "common.h"

/* KVM_STATS_NAME_SIZE in the kernel: descriptor name and id string size. */
#define SKVM_STATS_NAME_SIZE 48

struct skvm_stats {
	int memfd;
	u8 *map;
	size_t size;
	_Atomic u64 *data;
	u32 n;
};

struct skvm_stat_def {
	const char *name;
	u32 flags; /* KVM_STATS_TYPE_* | KVM_STATS_UNIT_* | KVM_STATS_BASE_* */
};

struct skvm_stats *skvm_stats_create(const char *id, const struct skvm_stat_def *defs,
				     u32 n);
void skvm_stats_destroy(struct skvm_stats *st);

static inline void skvm_stat_inc(struct skvm_stats *st, u32 i)
{
	if (st)
		__atomic_fetch_add((u64 *)&st->data[i], 1, __ATOMIC_RELAXED);
}

/* vCPU counters, in descriptor order */
enum { VCPU_STAT_EXITS, VCPU_STAT_IO_EXITS, VCPU_STAT_MMIO_EXITS,
       VCPU_STAT_HALT_EXITS, VCPU_STAT_SIGNAL_EXITS, VCPU_STAT_IRQ_WINDOW_EXITS,
       VCPU_STAT_NR };
/* VM counters */
enum { VM_STAT_MEMSLOT_UPDATES, VM_STAT_NR };

extern const struct skvm_stat_def skvm_vcpu_stat_defs[VCPU_STAT_NR];
extern const struct skvm_stat_def skvm_vm_stat_defs[VM_STAT_NR];

#endif
