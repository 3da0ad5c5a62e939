/* The system fd (/dev/kvm) and its ioctls (KVM API document, section 4). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "kvm/vcpu_msr.h"
#include "kvm/pvclock.h"
#include "kvm/dirty.h"
#include "kvm/sys.h"
#include "kvm/coalesced_mmio.h"
#include "kvm/irqroute.h"
#include "kvm/irqchip_vm.h"
#include "kvm/stats.h"
#include "kvm/x86_ioctl.h"

int skvm_sys_open(int flags)
{
	int fd = skvm_anon_fd("kvm", 0, flags);
	if (fd < 0)
		return fd;
	int r = skvm_file_install(SKVM_SYS, fd, NULL);
	if (r < 0)
		sys_close(fd);
	return r;
}

void skvm_vm_get(struct skvm_vm *vm)
{
	atomic_fetch_add(&vm->refs, 1);
}

static void vcpu_destroy(struct skvm_vcpu *vcpu)
{
	munmap(vcpu->run, vcpu->map_size);
	skvm_dirty_ring_vcpu_destroy(vcpu);
	skvm_stats_destroy(vcpu->stats);
	skvm_x86_vcpu_destroy(vcpu);
	pthread_mutex_destroy(&vcpu->lock);
	free(vcpu);
}

void skvm_vm_put(struct skvm_vm *vm)
{
	if (atomic_fetch_sub(&vm->refs, 1) != 1)
		return;
	skvm_irqfds_destroy(vm); /* first: its thread injects into the devices */
	skvm_irqchip_destroy(vm); /* its timer thread first: it reads the LAPICs */
	for (u32 i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(vm->vcpus[i]);
	mem_destroy(&vm->mem);
	skvm_stats_destroy(vm->stats);
	skvm_cmmio_destroy(vm->cmmio);
	skvm_ioeventfds_destroy(vm->ioeventfds);
	skvm_irqroute_destroy(vm->irqroute);
	skvm_msr_filter_destroy(vm);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

static long create_vm(unsigned long type)
{
	/* x86 knows KVM_X86_DEFAULT_VM (0) only, here. */
	if (type != 0)
		return -EINVAL;
	struct skvm_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	int r = mem_init(&vm->mem);
	if (r) {
		free(vm);
		return r;
	}
	atomic_init(&vm->refs, 1);
	pthread_mutex_init(&vm->lock, NULL);
	vm->pid = getpid();
	vm->max_vcpus = SKVM_MAX_VCPUS;
	atomic_init(&vm->max_halt_poll_ns, -1);
	char id[SKVM_STATS_NAME_SIZE];
	snprintf(id, sizeof(id), "kvm-%d", (int)vm->pid);
	vm->stats = skvm_stats_create(id, skvm_vm_stat_defs, VM_STAT_NR);
	vm->cmmio = skvm_cmmio_create();
	vm->ioeventfds = skvm_ioeventfds_create();
	vm->irqroute = skvm_irqroute_create();
	skvm_pv_vm_init(vm);

	int fd = skvm_anon_fd("kvm-vm", 0, O_CLOEXEC);
	if (fd < 0 || !vm->stats || !vm->cmmio || !vm->ioeventfds || !vm->irqroute) {
		if (fd >= 0)
			sys_close(fd);
		skvm_vm_put(vm);
		return fd < 0 ? fd : -ENOMEM;
	}
	r = skvm_file_install(SKVM_VM, fd, vm);
	if (r < 0) {
		sys_close(fd);
		skvm_vm_put(vm);
	}
	return r;
}

long skvm_sys_ioctl(unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case KVM_GET_API_VERSION:
		return arg ? -EINVAL : SKVM_API_VERSION;
	case KVM_CREATE_VM:
		return create_vm(arg);
	case KVM_CHECK_EXTENSION:
		return skvm_check_extension(NULL, (long)arg);
	case KVM_GET_VCPU_MMAP_SIZE:
		return arg ? -EINVAL : SKVM_VCPU_MMAP_PAGES * (long)PAGE_SIZE;
	default:
		return skvm_x86_sys_ioctl(cmd, arg);
	}
}
