/*
 * The MSR layer: one table saying, for every MSR softkvm implements, how it
 * reads, what a write may contain (reserved bits) and whether it is in
 * KVM_GET_MSR_INDEX_LIST / KVM_GET_MSR_FEATURE_INDEX_LIST.  RDMSR/WRMSR in the
 * engine and KVM_GET/SET_MSRS go through the same functions, so the guest and
 * the VMM see identical rules.  Owner: x86/msr.c.
 */
#ifndef SOFTKVM_X86_MSR_H
#define SOFTKVM_X86_MSR_H

#include "x86/cpu.h"

/*
 * Read or write one MSR.  `host` is true for KVM_GET/SET_MSRS (KVM lets the
 * VMM do some things the guest may not, e.g. write read-only feature MSRs).
 * Returns 0, -1 where the guest would take #GP / the ioctl stops, or
 * X86_MSR_UNKNOWN for an MSR softkvm does not implement at all (KVM's
 * KVM_MSR_RET_UNSUPPORTED: KVM_MSR_EXIT_REASON_UNKNOWN for user-space exits).
 */
#define X86_MSR_UNKNOWN (-2)
int x86_msr_get(struct x86_cpu *cpu, u32 index, u64 *val, bool host);
int x86_msr_set(struct x86_cpu *cpu, u32 index, u64 val, bool host);

/* Power-on values of the MSRs (the rest of struct x86_msrs is zero). */
void x86_msr_reset(struct x86_cpu *cpu);

/* IA32_MCG_CAP bits KVM_X86_SETUP_MCE accepts (KVM_X86_GET_MCE_CAP_SUPPORTED). */
#define X86_MCG_CAP_SUPPORTED (BIT(8) | BIT(24)) /* MCG_CTL_P, MCG_SER_P */
#define X86_MCE_MAX_BANKS 32

/* The lists for the system ioctls. */
const u32 *x86_msr_index_list(u32 *n);
const u32 *x86_msr_feature_list(u32 *n);
/* Value of a feature MSR (KVM_GET_MSRS on the system fd); -1 if not one. */
int x86_msr_feature_get(u32 index, u64 *val);

/* The clock guest time derives from (CLOCK_MONOTONIC_RAW, ns), and the
 * guest TSC at one of its readings.  In deterministic mode
 * (x86_deterministic(), SOFTKVM_DETERMINISTIC=1) a vCPU's clock is its VM's
 * instruction-driven cpu->vclock instead: x86_cpu_clock_ns. */
u64 x86_clock_ns(void);
bool x86_deterministic(void);
u64 x86_cpu_clock_ns(const struct x86_cpu *cpu);
u64 x86_tsc_at(const struct x86_cpu *cpu, u64 ns);
/* Guest TSC now (host clock scaled to cpu->tsc_khz, plus the offset). */
u64 x86_tsc_read(const struct x86_cpu *cpu);
/* Make the guest TSC read `val` now. */
void x86_tsc_write(struct x86_cpu *cpu, u64 val);
/* The VMM's IA32_TSC write, matched with the VM's other vCPUs as KVM's
 * kvm_synchronize_tsc() does. */
void x86_tsc_host_write(struct x86_cpu *cpu, u64 val);
/* A new vCPU's TSC (KVM: kvm_synchronize_tsc(vcpu, 0) at creation). */
void x86_tsc_vcpu_created(struct x86_cpu *cpu);
/* Join the TSC synchronisation of `peer`'s VM (NULL: the first vCPU of a
 * new VM); 0 or -ENOMEM.  x86_tsc_sync_put when the vCPU goes away. */
int x86_tsc_sync_get(struct x86_cpu *cpu, const struct x86_cpu *peer);
void x86_tsc_sync_put(struct x86_cpu *cpu);
/* The host's TSC rate in kHz: the default guest rate. */
u32 x86_host_tsc_khz(void);

/*
 * Rules shared by KVM_SET_SREGS and the guest's own writes (MOV to CR,
 * WRMSR): each says whether the value is architecturally acceptable for this
 * vCPU, given its CPUID.  Same checks as KVM's kvm_is_valid_cr0/cr4 and
 * kvm_set_apic_base.
 */
bool x86_cr0_valid(const struct x86_cpu *cpu, u64 cr0);
bool x86_cr4_valid(const struct x86_cpu *cpu, u64 cr4);
/* Set IA32_APIC_BASE; -1 for reserved bits or an invalid mode change. */
int x86_set_apic_base(struct x86_cpu *cpu, u64 val, bool host);
/* Guest physical address width from CPUID 0x80000008 (36 without it). */
u32 x86_maxphyaddr(const struct x86_cpu *cpu);
/* Is v canonical for the vCPU's linear-address width (57 bits with LA57
 * in its CPUID, else 48)?  The MSR bases and WRFSBASE/WRGSBASE use it. */
bool x86_canonical(const struct x86_cpu *cpu, u64 v);
/* XSAVE in the supported CPUID, and the XCR0 bits it supports (FP|SSE, the
 * FXSAVE image, without XSAVE). */
bool x86_xsave_supported(void);
u64 x86_xcr0_supported(void);
/* XCR0 rules (SDM Vol. 1 13.3, KVM's __kvm_set_xcr), for XSETBV and
 * KVM_SET_XCRS alike; x86/xsave.c. */
bool x86_xcr0_valid(const struct x86_cpu *cpu, u64 xcr0);

/* The KVM paravirtual interface (CPUID 0x40000001 EAX bits, KVM_FEATURE_*):
 * the vCPU has the feature unless KVM_CAP_ENFORCE_PV_FEATURE_CPUID is on
 * and its KVM leaf lacks it (KVM's guest_pv_has). */
bool x86_pv_has(const struct x86_cpu *cpu, int feature);
/* The host keeps per-thread scheduler statistics (run delay): steal time
 * can be offered (KVM's sched_info_on()). */
bool x86_steal_time_host(void);
/* The guest TSC changed (write, rate): the kvmclock page is out of date;
 * `now` = rewrite it before the guest runs on (a guest write). */
void x86_pvclock_changed(struct x86_cpu *cpu, bool now);

#endif
