/*
 * The CPU model: what KVM_GET_SUPPORTED_CPUID reports (exactly what softkvm
 * implements), and the guest-visible CPUID instruction answered from the
 * vCPU's KVM_SET_CPUID2 table with KVM's dynamic bits.  Owner: x86/cpuid.c.
 */
#ifndef SOFTKVM_X86_CPUID_H
#define SOFTKVM_X86_CPUID_H

#include "x86/cpu.h"

/* The supported table (KVM_GET_SUPPORTED_CPUID); *n entries. */
const struct x86_cpuid_entry *x86_cpuid_supported(u32 *n);
/* The emulated table (KVM_GET_EMULATED_CPUID); *n entries. */
const struct x86_cpuid_entry *x86_cpuid_emulated(u32 *n);

/*
 * The CPUID instruction: leaf fn, subleaf idx, from the guest table, with
 * the bits KVM computes at run time (OSXSAVE and OSPKE from CR4, APIC from
 * APIC_BASE, the initial APIC id, XSAVE sizes from XCR0).  Out-of-range
 * leaves behave as on Intel/AMD per the vendor in leaf 0.
 */
void x86_cpuid_query(const struct x86_cpu *cpu, u32 fn, u32 idx, u32 out[4]);

/* Find in any table, honouring KVM_CPUID_FLAG_SIGNIFCANT_INDEX. */
const struct x86_cpuid_entry *x86_cpuid_find_in(const struct x86_cpuid_entry *tbl,
						u32 n, u32 fn, u32 idx);

/*
 * Copy tbl to out with the run-time bits applied as KVM keeps them in its
 * stored table (what KVM_GET_CPUID2 returns and what KVM_SET_CPUID2 after
 * KVM_RUN compares).
 */
void x86_cpuid_runtime_table(const struct x86_cpu *cpu, const struct x86_cpuid_entry *tbl,
			     u32 n, struct x86_cpuid_entry *out);

/* Is the guest's vendor (leaf 0) AMD or Hygon?  AMD-specific rules key on it. */
bool x86_cpuid_vendor_amd(const struct x86_cpu *cpu);

/* Convenience: is feature bit `bit` of register `reg` (0=eax..3=edx) of
 * leaf fn/idx set in the guest table?  Used for #UD and CR4 checks. */
bool x86_cpuid_has(const struct x86_cpu *cpu, u32 fn, u32 idx, int reg, int bit);

#endif
