/*
 * The capability table: the one place that says what softkvm offers.
 *
 * A capability reads non-zero only when its feature works end to end; a
 * feature not listed here reads 0, as on a real KVM that lacks it.  When a
 * feature lands, its row lands with it (and its tests).
 */
#include <unistd.h>

#include "kvm/kvm.h"
#include "kvm/irqchip.h"
#include "kvm/irqchip_vm.h"
#include "x86/msr.h"

/* Newer than the <linux/kvm.h> of Debian 12; clients built on newer headers ask. */
#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES 235
#endif

struct cap_row {
	long cap;
	long value;
};

static const struct cap_row caps[] = {
	/* Memory slots (mem/memslot.c) */
	{KVM_CAP_USER_MEMORY, 1},
	{KVM_CAP_DESTROY_MEMORY_REGION_WORKS, 1},
	{KVM_CAP_JOIN_MEMORY_REGIONS_WORKS, 1},
	{KVM_CAP_NR_MEMSLOTS, MEM_MAX_SLOTS},
	{KVM_CAP_MULTI_ADDRESS_SPACE, MEM_ADDRESS_SPACES},
	/* Writes to a read-only slot exit as KVM_EXIT_MMIO (engine slow path). */
	{KVM_CAP_READONLY_MEM, 1},
	/* Guest memory is read through the slot's host address on every access,
	 * so a remap of that range by the VMM shows at once. */
	{KVM_CAP_SYNC_MMU, 1},
	/* Dirty logging (mem/, kvm/dirty.c): KVM_CLEAR_DIRTY_LOG and the
	 * flags KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 takes; the per-vCPU ring's
	 * maximum size in bytes (x86 is TSO: plain and acquire/release) */
	{KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
	 KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET},
	{KVM_CAP_DIRTY_LOG_RING, MEM_DIRTY_RING_MAX * sizeof(struct kvm_dirty_gfn)},
	{KVM_CAP_DIRTY_LOG_RING_ACQ_REL, MEM_DIRTY_RING_MAX * sizeof(struct kvm_dirty_gfn)},
	/* KVM_RUN (kvm/run.c, x86/engine.c) */
	{KVM_CAP_IMMEDIATE_EXIT, 1},
	{KVM_CAP_HLT, 1},	/* HLT exits to userspace as KVM_EXIT_HLT */
	{KVM_CAP_USER_NMI, 1},	/* KVM_NMI (kvm/run.c) */
	/* single-step, INT3 and execution breakpoints exit as KVM_EXIT_DEBUG */
	{KVM_CAP_SET_GUEST_DEBUG, 1},
	/* kvm_run->s: general and special registers, events (kvm/run.c) */
	{KVM_CAP_SYNC_REGS, KVM_SYNC_X86_VALID_FIELDS},
	/* Coalesced MMIO/PIO (kvm/coalesced_mmio.c): the ring page's offset */
	{KVM_CAP_COALESCED_MMIO, KVM_COALESCED_MMIO_PAGE_OFFSET},
	{KVM_CAP_COALESCED_PIO, 1},
	/* Port and MMIO writes signal eventfds without an exit (kvm/ioeventfd.c) */
	{KVM_CAP_IOEVENTFD, 1},
	{KVM_CAP_IOEVENTFD_NO_LENGTH, 1},
	{KVM_CAP_IOEVENTFD_ANY_LENGTH, 1},
	/* GSI routing, MSIs and irqfds into the in-kernel irqchip
	 * (kvm/irqroute.c, kvm/irqfd.c); the device id of an MSI is ignored,
	 * as on x86 KVM, so KVM_CAP_MSI_DEVID stays 0. */
	{KVM_CAP_IRQ_ROUTING, 4096},	/* KVM_MAX_IRQ_ROUTES */
	{KVM_CAP_IRQ_INJECT_STATUS, 1},
	{KVM_CAP_SIGNAL_MSI, 1},
	{KVM_CAP_IRQFD, 1},
	{KVM_CAP_IRQFD_RESAMPLE, 1},
	/* VM configuration (kvm/vm.c) */
	{KVM_CAP_SET_TSS_ADDR, 1},
	{KVM_CAP_SET_IDENTITY_MAP_ADDR, 1},
	{KVM_CAP_SET_BOOT_CPU_ID, 1},
	{KVM_CAP_MAX_VCPUS, SKVM_MAX_VCPUS},
	{KVM_CAP_MAX_VCPU_ID, SKVM_MAX_VCPU_ID},
	{KVM_CAP_ENABLE_CAP_VM, 1},	/* KVM_CAP_MAX_VCPU_ID, MSR_PLATFORM_INFO */
	{KVM_CAP_VM_TYPES, 1 << 0},	/* KVM_X86_DEFAULT_VM only */
	{KVM_CAP_CHECK_EXTENSION_VM, 1},
	{KVM_CAP_HALT_POLL, 1},	/* kvm/halt_poll.c */
	{KVM_CAP_MMU_SHADOW_CACHE_CONTROL, 1},	/* KVM_SET_NR_MMU_PAGES (vm.c) */
	/* Binary statistics (kvm/stats.c) */
	{KVM_CAP_BINARY_STATS_FD, 1},
	/* CPUID (x86/cpuid.c, kvm/vcpu_cpuid.c) */
	{KVM_CAP_EXT_CPUID, 1},
	{KVM_CAP_EXT_EMUL_CPUID, 1},
	/* vCPU state and MSRs (kvm/vcpu_state.c, kvm/vcpu_msr.c, x86/msr.c) */
	{KVM_CAP_MP_STATE, 1},
	{KVM_CAP_VCPU_EVENTS, 1},
	{KVM_CAP_DEBUGREGS, 1},
	{KVM_CAP_XSAVE2, 4096},	/* KVM_GET_XSAVE2 size: the 4 KiB kvm_xsave */
	{KVM_CAP_GET_MSR_FEATURES, 1},
	{KVM_CAP_MSR_PLATFORM_INFO, 1},	/* guest access switch (vm.c, msr.c) */
	/* RDMSR/WRMSR exits and the MSR filter (vcpu_msr.c, ops_sys.c) */
	{KVM_CAP_X86_USER_SPACE_MSR, 1},
	{KVM_CAP_X86_MSR_FILTER, 1},
	/* kvmclock, KVM_GET/SET_CLOCK, PV CPUID, hypercalls (kvm/pvclock.c) */
	{KVM_CAP_ADJUST_CLOCK, KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC},
	{KVM_CAP_KVMCLOCK_CTRL, 1},
	{KVM_CAP_ENFORCE_PV_FEATURE_CPUID, 1},
	{KVM_CAP_ENABLE_CAP, 1},	/* vCPU: ENFORCE_PV_FEATURE_CPUID */
	{KVM_CAP_GET_TSC_KHZ, 1},
	{KVM_CAP_TSC_CONTROL, 1},
	{KVM_CAP_MCE, 32},	/* banks; KVM_X86_SETUP_MCE, KVM_X86_SET_MCE */
	/* In-kernel PIC pair, IOAPIC and LAPICs (kvm/irqchip.c, hw/) */
	{KVM_CAP_IRQCHIP, 1},
	/* LAPICs only, PIC and IOAPIC in the VMM: KVM_INTERRUPT for ExtINT,
	 * KVM_EXIT_IOAPIC_EOI for the EOIs of its routes' vectors */
	{KVM_CAP_SPLIT_IRQCHIP, 1},
	{KVM_CAP_X2APIC_API, SKVM_X2APIC_API_FLAGS},
	{KVM_CAP_TSC_DEADLINE_TIMER, 1},	/* LAPIC timer mode 2, MSR 0x6e0 */
	{KVM_CAP_PIT2, 1},
	{KVM_CAP_PIT_STATE2, 1},
	{KVM_CAP_REINJECT_CONTROL, 1},
};

/* KVM's recommended vCPU count: the host's online CPUs, at most MAX_VCPUS. */
static long nr_vcpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > SKVM_MAX_VCPUS ? SKVM_MAX_VCPUS : n;
}

long skvm_check_extension(struct skvm_vm *vm, long cap)
{
	if (cap == KVM_CAP_NR_VCPUS)
		return nr_vcpus();
	/* XSAVE state and XCR0 exist when the CPU model offers XSAVE (KVM:
	 * boot_cpu_has(X86_FEATURE_XSAVE)); vcpu_state.c follows the same. */
	if (cap == KVM_CAP_XSAVE || cap == KVM_CAP_XCRS)
		return x86_xsave_supported();
	/* a VM without a split irqchip cannot enable directed EOI */
	if (cap == KVM_CAP_X2APIC_API && vm && !skvm_irqchip_split(vm))
		return SKVM_X2APIC_API_FLAGS & ~KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST;
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++)
		if (caps[i].cap == cap)
			return caps[i].value;
	return 0;
}

