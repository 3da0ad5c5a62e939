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

const struct skvm_stat_def skvm_vcpu_stat_defs[VCPU_STAT_NR] = {
	[VCPU_STAT_EXITS] = {"exits", COUNTER},
	[VCPU_STAT_IO_EXITS] = {"io_exits", COUNTER},
	[VCPU_STAT_MMIO_EXITS] = {"mmio_exits", COUNTER},
	[VCPU_STAT_HALT_EXITS] = {"halt_exits", COUNTER},
	[VCPU_STAT_SIGNAL_EXITS] = {"signal_exits", COUNTER},
	[VCPU_STAT_IRQ_WINDOW_EXITS] = {"irq_window_exits", COUNTER},
};

const struct skvm_stat_def skvm_vm_stat_defs[VM_STAT_NR] = {
	[VM_STAT_MEMSLOT_UPDATES] = {"memslot_updates", COUNTER},
};

struct skvm_stats *skvm_stats_create(const char *id, const struct skvm_stat_def *defs,
				     u32 n)
{
	const u32 name_size = SKVM_STATS_NAME_SIZE;
	size_t desc_size = sizeof(struct kvm_stats_desc) + name_size;
	size_t id_off = sizeof(struct kvm_stats_header);
	size_t desc_off = id_off + name_size;
	size_t data_off = ALIGN_UP(desc_off + desc_size * n, 8);
	size_t size = ALIGN_UP(data_off + 8 * (size_t)n, PAGE_SIZE);

	struct skvm_stats *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->memfd = skvm_anon_fd("kvm-stats", size, O_CLOEXEC);
	if (st->memfd < 0)
		goto fail;
	st->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, st->memfd, 0);
	if (st->map == MAP_FAILED)
		goto fail_fd;
	st->size = size;
	st->n = n;

	struct kvm_stats_header *h = (void *)st->map;
	h->flags = 0;
	h->name_size = name_size;
	h->num_desc = n;
	h->id_offset = (u32)id_off;
	h->desc_offset = (u32)desc_off;
	h->data_offset = (u32)data_off;
	snprintf((char *)st->map + id_off, name_size, "%s", id);
	for (u32 i = 0; i < n; i++) {
		struct kvm_stats_desc *d = (void *)(st->map + desc_off + i * desc_size);
		d->flags = defs[i].flags;
		d->exponent = 0;
		d->size = 1;
		d->offset = 8 * i;
		d->bucket_size = 0;
		snprintf(d->name, name_size, "%s", defs[i].name);
	}
	st->data = (_Atomic u64 *)(st->map + data_off);
	return st;
fail_fd:
	sys_close(st->memfd);
fail:
	free(st);
	return NULL;
}

void skvm_stats_destroy(struct skvm_stats *st)
{
	if (!st)
		return;
	munmap(st->map, st->size);
	sys_close(st->memfd);
	free(st);
}

/*
 * A new read-only open file description on the same memfd, so each stats fd
 * has its own file offset as in KVM.  Without /proc, fall back to dup.
 */
int skvm_stats_fd(struct skvm_stats *st)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", st->memfd);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = sys_dupfd(st->memfd, F_DUPFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}
