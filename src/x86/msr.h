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
 * Returns 0, or -1 where the guest would take #GP / the ioctl stops.
 */
int x86_msr_get(struct x86_cpu *cpu, u32 index, u64 *val, bool host);
int x86_msr_set(struct x86_cpu *cpu, u32 index, u64 val, bool host);

/* The lists for the system ioctls. */
const u32 *x86_msr_index_list(u32 *n);
const u32 *x86_msr_feature_list(u32 *n);
/* Value of a feature MSR (KVM_GET_MSRS on the system fd); -1 if not one. */
int x86_msr_feature_get(u32 index, u64 *val);

/* Guest TSC now (host clock scaled to cpu->tsc_khz, plus the offset). */
u64 x86_tsc_read(const struct x86_cpu *cpu);

#endif
