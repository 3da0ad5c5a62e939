/* Binary statistics: the layout of KVM API 4.133 (KVM_GET_STATS_FD). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "kvm/sys.h"
#include "kvm/stats.h"

#define COUNTER (KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10)
/* KVM's STATS_DESC_TIME_NSEC: seconds, 10^-9 */
#define TIME_NS (KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_SECONDS | KVM_STATS_BASE_POW10), -9

/* KVM's x86 names; each exit counter counts the KVM_RUN exits of its kind
 * (kvm/run.c), the halt ones are halt polling's (kvm/halt_poll.c;
 * halt_poll_invalid stays 0 on x86, as in KVM). */
const struct skvm_stat_def skvm_vcpu_stat_defs[VCPU_STAT_NR] = {
	[VCPU_STAT_EXITS] = {"exits", COUNTER},
	[VCPU_STAT_IO_EXITS] = {"io_exits", COUNTER},
	[VCPU_STAT_MMIO_EXITS] = {"mmio_exits", COUNTER},
	[VCPU_STAT_HALT_EXITS] = {"halt_exits", COUNTER},
	[VCPU_STAT_SIGNAL_EXITS] = {"signal_exits", COUNTER},
	[VCPU_STAT_IRQ_WINDOW_EXITS] = {"irq_window_exits", COUNTER},
	[VCPU_STAT_HALT_SUCCESSFUL_POLL] = {"halt_successful_poll", COUNTER},
	[VCPU_STAT_HALT_ATTEMPTED_POLL] = {"halt_attempted_poll", COUNTER},
	[VCPU_STAT_HALT_POLL_INVALID] = {"halt_poll_invalid", COUNTER},
	[VCPU_STAT_HALT_WAKEUP] = {"halt_wakeup", COUNTER},
	[VCPU_STAT_HALT_POLL_SUCCESS_NS] = {"halt_poll_success_ns", TIME_NS},
	[VCPU_STAT_HALT_POLL_FAIL_NS] = {"halt_poll_fail_ns", TIME_NS},
	[VCPU_STAT_HALT_WAIT_NS] = {"halt_wait_ns", TIME_NS},
};

const struct skvm_stat_def skvm_vm_stat_defs[VM_STAT_NR] = {
	[VM_STAT_MEMSLOT_UPDATES] = {"memslot_updates", COUNTER},
};

struct skvm_stats *skvm_stats_create(const char *id, const struct skvm_stat_def *defs,
				     u32 n)
{
	struct skvm_stats *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->priv = calloc(n ? n : 1, sizeof(u64));
	if (!st->priv) {
		free(st);
		return NULL;
	}
	atomic_init(&st->data, st->priv);
	st->defs = defs;
	st->n = n;
	snprintf(st->id, sizeof(st->id), "%s", id);
	pthread_mutex_init(&st->lock, NULL);
	st->memfd = -1;
	return st;
}

/*
 * Header, id string right behind it (readers read both sequentially),
 * descriptors, then one u64 a counter.  The file ends with the data, so a
 * read past the last counter returns 0 bytes, as in KVM.
 */
static int stats_materialise(struct skvm_stats *st)
{
	const u32 name_size = SKVM_STATS_NAME_SIZE;
	size_t desc_size = sizeof(struct kvm_stats_desc) + name_size;
	size_t id_off = sizeof(struct kvm_stats_header);
	size_t desc_off = id_off + name_size;
	size_t data_off = desc_off + desc_size * st->n;
	size_t size = data_off + sizeof(u64) * st->n;

	int fd = skvm_anon_fd("kvm-stats", size, O_CLOEXEC);
	if (fd < 0)
		return fd;
	u8 *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		int e = errno;
		sys_close(fd);
		return -e;
	}
	struct kvm_stats_header *h = (void *)map;
	h->flags = 0;
	h->name_size = name_size;
	h->num_desc = st->n;
	h->id_offset = (u32)id_off;
	h->desc_offset = (u32)desc_off;
	h->data_offset = (u32)data_off;
	snprintf((char *)map + id_off, name_size, "%s", st->id);
	for (u32 i = 0; i < st->n; i++) {
		struct kvm_stats_desc *d = (void *)(map + desc_off + i * desc_size);
		d->flags = st->defs[i].flags;
		d->exponent = st->defs[i].exponent;
		d->size = 1;
		d->offset = (u32)(sizeof(u64) * i);
		d->bucket_size = 0;
		snprintf(d->name, name_size, "%s", st->defs[i].name);
	}
	/* data_off is 8-aligned: the header and descriptors are multiples of 8. */
	u64 *data = (u64 *)(map + data_off);
	atomic_store_explicit(&st->data, data, memory_order_release);
	/* Carry over what was counted so far; an increment that raced with the
	 * switch still lands in priv and is picked up here. */
	for (u32 i = 0; i < st->n; i++)
		__atomic_fetch_add(&data[i], __atomic_exchange_n(&st->priv[i], 0, __ATOMIC_RELAXED),
				   __ATOMIC_RELAXED);
	st->map = map;
	st->size = size;
	st->memfd = fd;
	return 0;
}

void skvm_stats_destroy(struct skvm_stats *st)
{
	if (!st)
		return;
	if (st->memfd >= 0) {
		munmap(st->map, st->size);
		sys_close(st->memfd);
	}
	pthread_mutex_destroy(&st->lock);
	free(st->priv);
	free(st);
}

/*
 * A new read-only open file description on the memfd, so each stats fd has
 * its own file offset as in KVM.  Without /proc, fall back to a dup.
 */
int skvm_stats_fd(struct skvm_stats *st)
{
	pthread_mutex_lock(&st->lock);
	int r = st->memfd < 0 ? stats_materialise(st) : 0;
	int memfd = st->memfd;
	pthread_mutex_unlock(&st->lock);
	if (r)
		return r;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = sys_dupfd(memfd, F_DUPFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* In the table so mmap answers ENODEV and ioctls ENOTTY, as in KVM. */
	r = skvm_file_install(SKVM_STATS, fd, NULL);
	if (r < 0)
		sys_close(fd);
	return r;
}
