/* VM ioctls (KVM API document, section 4, "vm ioctl"). */
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
#include "kvm/halt_poll.h"
#include "kvm/sys.h"
#include "kvm/coalesced_mmio.h"
#include "kvm/dirty.h"
#include "kvm/irqroute.h"
#include "kvm/irqchip_vm.h"
#include "kvm/stats.h"
#include "kvm/x86_ioctl.h"

static long create_vcpu(struct skvm_vm *vm, unsigned long id)
{
	if (id >= SKVM_MAX_VCPU_ID)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	long r = -EINVAL;
	if (vm->nr_vcpus >= vm->max_vcpus)
		goto out;
	/* kvm_arch_vcpu_precreate: the first vCPU fixes an unset id limit. */
	if (!vm->max_vcpu_ids)
		vm->max_vcpu_ids = SKVM_MAX_VCPU_ID;
	if (id >= vm->max_vcpu_ids)
		goto out;
	r = -EEXIST;
	for (u32 i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i]->id == id)
			goto out;

	r = -ENOMEM;
	struct skvm_vcpu *vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		goto out;
	vcpu->vm = vm;
	vcpu->id = (u32)id;
	vcpu->cpu.vcpu_id = (u32)id;
	skvm_pv_vcpu_init(vcpu); /* before the TSC starts: the clock it reads */
	pthread_mutex_init(&vcpu->lock, NULL);
	vcpu->map_size = SKVM_VCPU_MMAP_PAGES * PAGE_SIZE;

	char name[SKVM_STATS_NAME_SIZE];
	snprintf(name, sizeof(name), "kvm-%d/vcpu-%lu", (int)vm->pid, id);
	vcpu->stats = skvm_stats_create(name, skvm_vcpu_stat_defs, VCPU_STAT_NR);
	if (!vcpu->stats)
		goto fail_vcpu;
	/*
	 * The client's fd is the memfd itself: its mmap shows the kvm_run we
	 * write through our own mapping, which outlives the fd.  One fd per
	 * vCPU, as in KVM, so KVM_CAP_MAX_VCPUS vCPUs fit the fd limit the
	 * client sized for them.
	 */
	snprintf(name, sizeof(name), "kvm-vcpu:%lu", id);
	int fd = skvm_anon_fd(name, skvm_vcpu_fd_size(vm), O_CLOEXEC);
	if (fd < 0) {
		r = fd;
		goto fail_stats;
	}
	vcpu->run = mmap(NULL, vcpu->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (vcpu->run == MAP_FAILED) {
		r = -ENOMEM;
		goto fail_fd;
	}
	r = skvm_dirty_ring_vcpu_init(vcpu, fd);
	if (r)
		goto fail_map;
	r = skvm_x86_vcpu_init(vcpu);
	if (r)
		goto fail_ring;
	vcpu->cpu.platform_info_hidden = vm->platform_info_hidden;
	skvm_vm_get(vm); /* the vCPU fd's reference */
	r = skvm_file_install(SKVM_VCPU, fd, vcpu);
	if (r < 0) {
		skvm_vm_put(vm); /* cannot be the last: the caller holds one */
		goto fail_x86;
	}
	skvm_irqchip_vcpu_publish(vcpu);
	vm->vcpus[vm->nr_vcpus++] = vcpu;
	goto out;

fail_x86:
	skvm_x86_vcpu_destroy(vcpu);
fail_ring:
	skvm_dirty_ring_vcpu_destroy(vcpu);
fail_map:
	munmap(vcpu->run, vcpu->map_size);
fail_fd:
	sys_close(fd);
fail_stats:
	skvm_stats_destroy(vcpu->stats);
fail_vcpu:
	pthread_mutex_destroy(&vcpu->lock);
	free(vcpu);
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

static long set_user_memory_region(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_userspace_memory_region r;
	if (skvm_copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	if ((u16)r.slot >= MEM_MAX_SLOTS)
		return -EINVAL;
	long ret = mem_set_region(&vm->mem, r.slot >> 16, (u16)r.slot, r.flags,
				  r.guest_phys_addr, r.memory_size, r.userspace_addr);
	if (!ret)
		skvm_stat_inc(vm->stats, VM_STAT_MEMSLOT_UPDATES);
	return ret;
}

/*
 * KVM_SET_NR_MMU_PAGES (KVM API 4.x, obsolete but served; its getter is
 * gone, ENOTTY): the cap on KVM's shadow-MMU page cache, at least
 * KVM_MIN_ALLOC_MMU_PAGES (64).  softkvm walks guest page tables itself and
 * keeps no shadow pages, so the limit bounds nothing, as for KVM's TDP MMU;
 * it is kept all the same.
 */
#define MMU_PAGES_MIN 64

static long set_nr_mmu_pages(struct skvm_vm *vm, unsigned long n)
{
	if (n < MMU_PAGES_MIN)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	vm->mmu_pages_requested = n;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/*
 * KVM_CAP_MAX_VCPU_ID lowers the vCPU id limit (and so the APIC id range)
 * once: setting the current value again succeeds, any other change fails,
 * as does a limit below the boot CPU id.
 */
static long enable_max_vcpu_id(struct skvm_vm *vm, u64 limit)
{
	if (limit > SKVM_MAX_VCPU_ID)
		return -EINVAL;
	long r = -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->boot_cpu_id > limit) {
		/* EINVAL */
	} else if (vm->max_vcpu_ids == limit) {
		r = 0;
	} else if (!vm->max_vcpu_ids) {
		vm->max_vcpu_ids = (u32)limit;
		r = 0;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

static long enable_cap(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_enable_cap cap;
	if (skvm_copy_from_user(&cap, arg, sizeof(cap)))
		return -EFAULT;
	long r = skvm_dirty_enable_cap(vm, &cap); /* generic caps check flags themselves */
	if (r != SKVM_NOIOCTL)
		return r;
	if (cap.flags)
		return -EINVAL;
	switch (cap.cap) {
	case KVM_CAP_MAX_VCPU_ID:
		return enable_max_vcpu_id(vm, cap.args[0]);
	case KVM_CAP_MSR_PLATFORM_INFO:
		/* any non-zero args[0] lets the guest read MSR_PLATFORM_INFO,
		 * 0 makes its RDMSR #GP (KVM: guest_can_read_msr_platform_info) */
		pthread_mutex_lock(&vm->lock);
		vm->platform_info_hidden = !cap.args[0];
		for (u32 i = 0; i < vm->nr_vcpus; i++)
			vm->vcpus[i]->cpu.platform_info_hidden = vm->platform_info_hidden;
		pthread_mutex_unlock(&vm->lock);
		return 0;
	case KVM_CAP_X2APIC_API:
	case KVM_CAP_SPLIT_IRQCHIP:
		return skvm_irqchip_enable_cap(vm, &cap);
	case KVM_CAP_X86_USER_SPACE_MSR:
		return skvm_user_space_msr_enable(vm, cap.args[0]);
	case KVM_CAP_HALT_POLL:
		return skvm_halt_poll_enable_cap(vm, cap.args[0]);
	default:
		/* Capabilities softkvm cannot enable fail as unknown ones do. */
		return -EINVAL;
	}
}

static long set_boot_cpu_id(struct skvm_vm *vm, unsigned long id)
{
	long r = 0;
	pthread_mutex_lock(&vm->lock);
	if (vm->nr_vcpus)
		r = -EBUSY;
	else if (id > SKVM_MAX_VCPU_ID || (vm->max_vcpu_ids && id > vm->max_vcpu_ids))
		r = -EINVAL; /* "> limit", not ">=": KVM's own bound */
	else
		vm->boot_cpu_id = (u32)id;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

long skvm_vm_ioctl(struct skvm_vm *vm, unsigned int cmd, unsigned long arg)
{
	long r;
	switch (cmd) {
	case KVM_CREATE_VCPU:
		return create_vcpu(vm, arg);
	case KVM_SET_USER_MEMORY_REGION:
		return set_user_memory_region(vm, arg);
	case KVM_GET_DIRTY_LOG:
		return skvm_get_dirty_log(vm, arg);
	case KVM_CLEAR_DIRTY_LOG:
		return skvm_clear_dirty_log(vm, arg);
	case KVM_RESET_DIRTY_RINGS:
		return skvm_reset_dirty_rings(vm);
	case KVM_REGISTER_COALESCED_MMIO:
	case KVM_UNREGISTER_COALESCED_MMIO:
		return skvm_cmmio_ioctl(vm->cmmio, cmd, arg);
	case KVM_IOEVENTFD:
		return skvm_ioeventfd_ioctl(vm, arg);
	case KVM_IRQFD:
		return skvm_irqfd_ioctl(vm, arg);
	case KVM_IRQ_LINE:
	case KVM_IRQ_LINE_STATUS:
		return skvm_irq_line(vm, cmd, arg);
	case KVM_SET_GSI_ROUTING:
		return skvm_set_gsi_routing(vm, arg);
	case KVM_SIGNAL_MSI:
		return skvm_signal_msi(vm, arg);
	case KVM_CHECK_EXTENSION:
		return skvm_check_extension(vm, (long)arg);
	case KVM_ENABLE_CAP:
		return enable_cap(vm, arg);
	case KVM_GET_STATS_FD:
		return skvm_stats_fd(vm->stats);
	case KVM_SET_TSS_ADDR:
		/* Three pages below 4 GiB (kvm_vm_ioctl_set_tss_addr). */
		if (arg > (unsigned int)(-3 * (int)PAGE_SIZE))
			return -EINVAL;
		vm->tss_addr = arg;
		vm->tss_addr_set = true;
		return 0;
	case KVM_SET_IDENTITY_MAP_ADDR: {
		u64 addr;
		pthread_mutex_lock(&vm->lock);
		r = -EINVAL;
		if (vm->nr_vcpus)
			goto ident_out;
		r = -EFAULT;
		if (skvm_copy_from_user(&addr, arg, sizeof(addr)))
			goto ident_out;
		vm->identity_map_addr = addr;
		vm->identity_map_set = true;
		r = 0;
ident_out:
		pthread_mutex_unlock(&vm->lock);
		return r;
	}
	case KVM_SET_BOOT_CPU_ID:
		return set_boot_cpu_id(vm, arg);
	case KVM_SET_NR_MMU_PAGES:
		return set_nr_mmu_pages(vm, arg);
	case KVM_X86_SET_MSR_FILTER:
		return skvm_msr_filter_set(vm, arg);
	default:
		r = skvm_irqchip_vm_ioctl(vm, cmd, arg);
		if (r == SKVM_NOIOCTL)
			r = skvm_pv_vm_ioctl(vm, cmd, arg);
		return r == SKVM_NOIOCTL ? -ENOTTY : r;
	}
}
