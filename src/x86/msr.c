/*
 * The MSR layer (see msr.h): one table of every MSR softkvm implements.
 * A row covers an index range and says whether it is listed by
 * KVM_GET_MSR_INDEX_LIST / KVM_GET_MSR_FEATURE_INDEX_LIST; plain storage
 * rows name their field and reserved bits, the rest have their own rule.
 * The rules are KVM's (arch/x86/kvm/x86.c, mtrr.c) and the SDM's.
 */
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm_para.h>

#include "x86/cpuid.h"
#include "x86/msr.h"

#define MSR_LIST BIT(0) /* in KVM_GET_MSR_INDEX_LIST */
#define MSR_FEAT BIT(1) /* in KVM_GET_MSR_FEATURE_INDEX_LIST */

/*
 * A rule's answer: done, refused (#GP / the ioctl stops), or "the vCPU's
 * CPUID does not have this feature".  For a listed MSR KVM lets the VMM read
 * the last as 0 and write 0 to it, so save/restore works whatever the CPUID.
 */
enum { MSR_OK = 0, MSR_FAIL = -1, MSR_UNSUPPORTED = -2 };

struct msr_desc;
typedef int msr_get_fn(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		       u64 *val, bool host);
typedef int msr_set_fn(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		       u64 val, bool host);

struct msr_desc {
	u32 first, last;
	u32 flags;
	bool (*listed)(void); /* MSR_LIST only when this says so (NULL: always) */
	size_t field; /* plain storage: offsetof(struct x86_cpu, u64[]) */
	u64 rsvd;     /* plain storage: bits a write must leave clear */
	msr_get_fn *get;
	msr_set_fn *set;
};

/* Architectural values softkvm reports. */
#define MTRR_CAP 0x508ULL /* 8 variable ranges, fixed ranges, write-combining */
#define MTRR_NR_VAR 8
/*
 * IA32_ARCH_CAPABILITIES: a software CPU has none of the speculation and
 * data-sampling problems these bits deny: RDCL_NO, SKIP_L1DFL_VMENTRY,
 * SSB_NO, MDS_NO, PSCHANGE_MC_NO, TAA_NO, GDS_NO, RFDS_NO.
 */
#define ARCH_CAP_VALUE (BIT(0) | BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(8) | \
			BIT(26) | BIT(27))
#define UCODE_REV_VALUE 0x100000000ULL /* KVM's default: revision 1 */
#define MISC_ENABLE_RESET (BIT(11) | BIT(12)) /* BTS, PEBS unavailable */
#define MISC_ENABLE_PMU_RO (BIT(11) | BIT(12))
#define MISC_ENABLE_EMON BIT(7)
#define MCG_CTL_P BIT(8)
#define PLATFORM_INFO_VALUE 0ULL /* no CPUID faulting */
#define PLATFORM_INFO_CPUID_FAULT BIT(31)
#define HWCR_MCSTATUSWREN BIT(18) /* AMD HWCR: MCi_STATUS writable */
#define HWCR_IGNORED (BIT(3) | BIT(6) | BIT(8))

/* --- CPUID and address helpers ------------------------------------------ */

enum { EAX, EBX, ECX, EDX };
#define x86_guest_has x86_cpuid_has

/* Is a feature in KVM_GET_SUPPORTED_CPUID (KVM's kvm_cpu_cap_has)? */
static bool cpu_cap_has(u32 fn, u32 idx, int reg, int bit)
{
	u32 n;
	const struct x86_cpuid_entry *t = x86_cpuid_supported(&n);
	const struct x86_cpuid_entry *e = x86_cpuid_find_in(t, n, fn, idx);
	if (!e)
		return false;
	const u32 r[4] = {e->eax, e->ebx, e->ecx, e->edx};
	return r[reg] & (1U << bit);
}

/* KVM_GET_SUPPORTED_CPUID never changes once built: asked once (every
 * KVM_RUN asks, through X86_XCR0_SUPPORTED's fpu_use) */
bool x86_xsave_supported(void)
{
	static _Atomic signed char known = -1;
	signed char v = atomic_load_explicit(&known, memory_order_relaxed);
	if (unlikely(v < 0)) {
		v = cpu_cap_has(1, 0, ECX, 26);
		atomic_store_explicit(&known, v, memory_order_relaxed);
	}
	return v;
}

u64 x86_xcr0_supported(void)
{
	u32 n;
	const struct x86_cpuid_entry *t = x86_cpuid_supported(&n);
	const struct x86_cpuid_entry *e = x86_cpuid_find_in(t, n, 0xd, 0);
	/* Without XSAVE there is still the FXSAVE image: x87 and SSE. */
	if (!x86_xsave_supported() || !e)
		return X86_XFEATURE_FP | X86_XFEATURE_SSE;
	return ((u64)e->edx << 32 | e->eax) & X86_XCR0_SUPPORTED;
}

u32 x86_maxphyaddr(const struct x86_cpu *cpu)
{
	const struct x86_cpuid_entry *e = x86_cpuid_find(cpu, 0x80000000, 0);
	if (e && e->eax >= 0x80000008) {
		e = x86_cpuid_find(cpu, 0x80000008, 0);
		if (e)
			return e->eax & 0xff;
	}
	return 36;
}

static u64 rsvd_gpa_bits(const struct x86_cpu *cpu)
{
	u32 w = x86_maxphyaddr(cpu);
	return w >= 64 ? 0 : ~0ULL << w;
}

static unsigned int va_bits(const struct x86_cpu *cpu)
{
	return x86_guest_has(cpu, 7, 0, ECX, 16) ? 57 : 48; /* LA57 */
}

bool x86_canonical(const struct x86_cpu *cpu, u64 v)
{
	unsigned int s = 64 - va_bits(cpu);
	return (u64)((s64)(v << s) >> s) == v;
}

/* --- control registers -------------------------------------------------- */

bool x86_cr0_valid(const struct x86_cpu *cpu, u64 cr0)
{
	(void)cpu;
	if (cr0 >> 32)
		return false;
	/* SDM 2.5: NW without CD and PG without PE are #GP. */
	if ((cr0 & X86_CR0_NW) && !(cr0 & X86_CR0_CD))
		return false;
	return !((cr0 & X86_CR0_PG) && !(cr0 & X86_CR0_PE));
}

/* CR4 bits KVM knows at all (the complement of its CR4_RESERVED_BITS);
 * SMXE is not among them. */
#define X86_CR4_CET BIT(23)
#define X86_CR4_LAM_SUP BIT(28)
#define CR4_KNOWN (X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD | X86_CR4_DE |         \
		   X86_CR4_PSE | X86_CR4_PAE | X86_CR4_MCE | X86_CR4_PGE |        \
		   X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT |            \
		   X86_CR4_UMIP | X86_CR4_LA57 | X86_CR4_VMXE | X86_CR4_FSGSBASE | \
		   X86_CR4_PCIDE | X86_CR4_OSXSAVE | X86_CR4_SMEP | X86_CR4_SMAP |  \
		   X86_CR4_PKE | X86_CR4_CET | X86_CR4_LAM_SUP)

/* CR4 bits that need a CPUID feature (KVM's __cr4_reserved_bits), checked
 * against the supported CPUID and, once set, the vCPU's. */
static const struct {
	u64 bit;
	u32 fn;
	int reg, nr;
} cr4_features[] = {
	{X86_CR4_OSXSAVE, 1, ECX, 26},	{X86_CR4_PCIDE, 1, ECX, 17},
	{X86_CR4_VMXE, 1, ECX, 5},	{X86_CR4_FSGSBASE, 7, EBX, 0},
	{X86_CR4_SMEP, 7, EBX, 7},	{X86_CR4_SMAP, 7, EBX, 20},
	{X86_CR4_UMIP, 7, ECX, 2},	{X86_CR4_PKE, 7, ECX, 3},
	{X86_CR4_LA57, 7, ECX, 16},	{X86_CR4_CET, 7, ECX, 7},	/* SHSTK */
	{X86_CR4_LAM_SUP, 0x7, EAX, 26}, /* leaf 7.1 below */
};

static bool cr4_feature_ok(size_t i, const struct x86_cpu *cpu)
{
	u32 idx = cr4_features[i].bit == X86_CR4_LAM_SUP ? 1 : 0;
	if (!cpu)
		return cpu_cap_has(cr4_features[i].fn, idx, cr4_features[i].reg,
				   cr4_features[i].nr);
	return x86_guest_has(cpu, cr4_features[i].fn, idx, cr4_features[i].reg,
			     cr4_features[i].nr);
}

bool x86_cr4_valid(const struct x86_cpu *cpu, u64 cr4)
{
	if (cr4 & ~CR4_KNOWN)
		return false;
	/* KVM derives the guest's reserved CR4 bits from its CPUID when
	 * KVM_SET_CPUID2 runs; before that only the host's limits apply. */
	for (size_t i = 0; i < ARRAY_SIZE(cr4_features); i++) {
		if (!(cr4 & cr4_features[i].bit))
			continue;
		if (!cr4_feature_ok(i, NULL) || (cpu->cpuid && !cr4_feature_ok(i, cpu)))
			return false;
	}
	return true;
}

/* --- plain storage ------------------------------------------------------- */

static u64 *field(struct x86_cpu *cpu, const struct msr_desc *d, u32 index)
{
	return (u64 *)((char *)cpu + d->field) + (index - d->first);
}

static int plain_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		     u64 *val, bool host)
{
	(void)host;
	*val = *field(cpu, d, index);
	return MSR_OK;
}

static int plain_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		     u64 val, bool host)
{
	(void)host;
	if (val & d->rsvd)
		return MSR_FAIL;
	*field(cpu, d, index) = val;
	return MSR_OK;
}

/* FS/GS/KERNEL_GS base, LSTAR, CSTAR: a non-canonical address is #GP. */
static int canon_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		     u64 val, bool host)
{
	if (!x86_canonical(cpu, val))
		return MSR_FAIL;
	return plain_set(cpu, d, index, val, host);
}

/* SYSENTER_ESP/EIP: AMD ignores the upper half, Intel faults; KVM makes the
 * value canonical so both behave deterministically. */
static int sysenter_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 val, bool host)
{
	unsigned int s = 64 - va_bits(cpu);
	return plain_set(cpu, d, index, (u64)((s64)(val << s) >> s), host);
}

static int ro_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		  u64 val, bool host)
{
	(void)cpu, (void)d, (void)index, (void)val, (void)host;
	return MSR_FAIL;
}

/* --- individual rules ------------------------------------------------------ */

static int tsc_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		   u64 *val, bool host)
{
	(void)d, (void)index, (void)host;
	*val = x86_tsc_read(cpu);
	return MSR_OK;
}

/* SDM 17.17.3: a guest write to the TSC also moves IA32_TSC_ADJUST by the
 * same amount; the VMM's write (KVM: kvm_synchronize_tsc) does not. */
static int tsc_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		   u64 val, bool host)
{
	(void)d, (void)index;
	if (host) {
		x86_tsc_host_write(cpu, val);
		x86_pvclock_changed(cpu, false);
		return MSR_OK;
	}
	cpu->msr.tsc_adjust += val - x86_tsc_read(cpu);
	x86_tsc_write(cpu, val);
	x86_pvclock_changed(cpu, true);
	return MSR_OK;
}

/* KVM silently ignores writes when CPUID lacks TSC_ADJUST. */
static int tsc_adjust_set(struct x86_cpu *cpu, const struct msr_desc *d,
			  u32 index, u64 val, bool host)
{
	(void)d, (void)index;
	if (!x86_guest_has(cpu, 7, 0, EBX, 1))
		return MSR_OK;
	if (!host) {
		cpu->msr.tsc_offset += val - cpu->msr.tsc_adjust;
		x86_pvclock_changed(cpu, true);
	}
	cpu->msr.tsc_adjust = val;
	return MSR_OK;
}

static bool has_rdtscp(const struct x86_cpu *cpu)
{
	return x86_guest_has(cpu, 0x80000001, 0, EDX, 27) ||
	       x86_guest_has(cpu, 7, 0, ECX, 22); /* RDPID */
}

static int tsc_aux_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		       u64 *val, bool host)
{
	if (!host && !has_rdtscp(cpu))
		return MSR_UNSUPPORTED;
	return plain_get(cpu, d, index, val, host);
}

/* SDM: bits 63:32 of IA32_TSC_AUX are reserved. */
static int tsc_aux_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		       u64 val, bool host)
{
	if (!host && !has_rdtscp(cpu))
		return MSR_UNSUPPORTED;
	return plain_set(cpu, d, index, val, host);
}

static int apic_base_set(struct x86_cpu *cpu, const struct msr_desc *d,
			 u32 index, u64 val, bool host)
{
	(void)d, (void)index;
	return x86_set_apic_base(cpu, val, host);
}

/* xAPIC enable (EN) and x2APIC (EXTD) select the mode; EXTD alone is invalid
 * (SDM 10.12.5, Figure 10-27). */
enum { APIC_DISABLED = 0, APIC_XAPIC = 1, APIC_INVALID = 2, APIC_X2APIC = 3 };

static int apic_mode(u64 base)
{
	return (base & X86_APIC_BASE_EN ? 1 : 0) | (base & X86_APIC_BASE_EXTD ? 2 : 0);
}

int x86_set_apic_base(struct x86_cpu *cpu, u64 val, bool host)
{
	int old = apic_mode(cpu->apic_base), new = apic_mode(val);
	if (old == new && cpu->apic_base == val)
		return 0;
	u64 rsvd = rsvd_gpa_bits(cpu) | 0x2ff;
	if (!x86_guest_has(cpu, 1, 0, ECX, 21))
		rsvd |= X86_APIC_BASE_EXTD;
	if ((val & rsvd) || new == APIC_INVALID)
		return MSR_FAIL;
	/* SDM 10.12.5: x2APIC -> xAPIC and disabled -> x2APIC are not legal
	 * transitions for the guest; the VMM may restore any state. */
	if (!host && ((old == APIC_X2APIC && new == APIC_XAPIC) ||
		      (old == APIC_DISABLED && new == APIC_X2APIC)))
		return MSR_FAIL;
	cpu->apic_base = val;
	if (cpu->apic_ops)
		cpu->apic_ops->base_set(cpu->apic, val);
	return 0;
}

/*
 * x2APIC registers (0x800-0x8ff) and IA32_TSC_DEADLINE go to the in-kernel
 * APIC, for the guest and the VMM alike (KVM's kvm_x2apic_msr_read/write,
 * kvm_get/set_lapic_tscdeadline_msr).  Without one the x2APIC range #GPs
 * and TSC_DEADLINE reads 0 and ignores writes, as KVM.
 */
static int apic_msr_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 *val, bool host)
{
	(void)d, (void)host;
	if (cpu->apic_ops)
		return cpu->apic_ops->msr_get(cpu->apic, index, val) ? MSR_FAIL : MSR_OK;
	*val = 0;
	return index == 0x6e0 ? MSR_OK : MSR_FAIL;
}

static int apic_msr_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 val, bool host)
{
	(void)d, (void)host;
	if (cpu->apic_ops)
		return cpu->apic_ops->msr_set(cpu->apic, index, val) ? MSR_FAIL : MSR_OK;
	return index == 0x6e0 ? MSR_OK : MSR_FAIL;
}

#define EFER_IMPLEMENTED (X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE)

static int efer_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		    u64 val, bool host)
{
	(void)d, (void)index;
	if (val & ~EFER_IMPLEMENTED)
		return MSR_FAIL;
	if (!host) {
		if ((val & (X86_EFER_LME | X86_EFER_LMA)) &&
		    !x86_guest_has(cpu, 0x80000001, 0, EDX, 29))
			return MSR_FAIL;
		if ((val & X86_EFER_NXE) && !x86_guest_has(cpu, 0x80000001, 0, EDX, 20))
			return MSR_FAIL;
		/* SDM 9.8.5: LME cannot change while paging is on. */
		if ((cpu->cr0 & X86_CR0_PG) && ((cpu->efer ^ val) & X86_EFER_LME))
			return MSR_FAIL;
	}
	/* LMA is the processor's to set (SDM 9.8.5), never the writer's. */
	cpu->efer = (val & ~X86_EFER_LMA) | (cpu->efer & X86_EFER_LMA);
	return MSR_OK;
}

/* SDM 11.12.2: PAT entries 2 and 3 and bits 3-7 of each entry are reserved. */
static bool pat_valid(u64 v)
{
	if (v & 0xf8f8f8f8f8f8f8f8ULL)
		return false;
	return (v | ((v & 0x0202020202020202ULL) << 1)) == v;
}

static int pat_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		   u64 val, bool host)
{
	if (!pat_valid(val))
		return MSR_FAIL;
	return plain_set(cpu, d, index, val, host);
}

/* SDM 11.11: memory types UC, WC, WT, WP, WB (0, 1, 4, 5, 6). */
static bool mtrr_type_valid(u64 t)
{
	return t < 8 && (0x73 & (1U << t));
}

static int mtrr_cap_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 *val, bool host)
{
	(void)cpu, (void)d, (void)index, (void)host;
	*val = MTRR_CAP;
	return MSR_OK;
}

static int mtrr_def_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 val, bool host)
{
	/* E (11), FE (10) and the default type; the rest is reserved. */
	if ((val & ~0xcffULL) || !mtrr_type_valid(val & 0xff))
		return MSR_FAIL;
	return plain_set(cpu, d, index, val, host);
}

static int mtrr_var_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 val, bool host)
{
	u64 rsvd = rsvd_gpa_bits(cpu);
	if (!(index & 1)) { /* PHYSBASE: type in 7:0, 11:8 reserved */
		if (!mtrr_type_valid(val & 0xff))
			return MSR_FAIL;
		rsvd |= 0xf00;
	} else { /* PHYSMASK: V in bit 11, 10:0 reserved */
		rsvd |= 0x7ff;
	}
	if (val & rsvd)
		return MSR_FAIL;
	return plain_set(cpu, d, index, val, host);
}

/* The 11 fixed-range MTRRs are at scattered indexes: map them to a slot. */
static int mtrr_fixed_slot(u32 index)
{
	if (index == 0x250)
		return 0;
	if (index == 0x258 || index == 0x259)
		return (int)index - 0x258 + 1;
	if (index >= 0x268 && index <= 0x26f)
		return (int)index - 0x268 + 3;
	return -1;
}

static int mtrr_fixed_get(struct x86_cpu *cpu, const struct msr_desc *d,
			  u32 index, u64 *val, bool host)
{
	(void)d, (void)host;
	int slot = mtrr_fixed_slot(index);
	if (slot < 0)
		return MSR_FAIL;
	*val = cpu->msr.mtrr_fixed[slot];
	return MSR_OK;
}

static int mtrr_fixed_set(struct x86_cpu *cpu, const struct msr_desc *d,
			  u32 index, u64 val, bool host)
{
	(void)d, (void)host;
	int slot = mtrr_fixed_slot(index);
	if (slot < 0)
		return MSR_FAIL;
	for (int i = 0; i < 8; i++)
		if (!mtrr_type_valid((val >> (i * 8)) & 0xff))
			return MSR_FAIL;
	cpu->msr.mtrr_fixed[slot] = val;
	return MSR_OK;
}

static int misc_enable_set(struct x86_cpu *cpu, const struct msr_desc *d,
			   u32 index, u64 val, bool host)
{
	(void)d, (void)index;
	u64 old = cpu->msr.misc_enable;
	if (!host) {
		/* The PMU-availability bits are read-only, EMON ignores writes. */
		if ((old ^ val) & MISC_ENABLE_PMU_RO)
			return MSR_FAIL;
		val = (val & ~MISC_ENABLE_EMON) | (old & MISC_ENABLE_EMON);
	}
	cpu->msr.misc_enable = val;
	return MSR_OK;
}

static int mcg_ctl_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		       u64 *val, bool host)
{
	if (!(cpu->msr.mcg_cap & MCG_CTL_P) && !host)
		return MSR_FAIL;
	return plain_get(cpu, d, index, val, host);
}

/* SDM 15.3.1.3: only all-zeroes or all-ones are meaningful in MCG_CTL. */
static int mcg_ctl_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		       u64 val, bool host)
{
	if (!(cpu->msr.mcg_cap & MCG_CTL_P) && (val || !host))
		return MSR_FAIL;
	if (val != 0 && val != ~0ULL)
		return MSR_FAIL;
	return plain_set(cpu, d, index, val, host);
}

static bool mce_bank_present(const struct x86_cpu *cpu, u32 index)
{
	return (index - 0x400) / 4 < (cpu->msr.mcg_cap & 0xff);
}

static int mce_bank_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 *val, bool host)
{
	if (!mce_bank_present(cpu, index))
		return MSR_FAIL;
	return plain_get(cpu, d, index, val, host);
}

static int mce_bank_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 val, bool host)
{
	if (!mce_bank_present(cpu, index))
		return MSR_FAIL;
	/* MCi_CTL: zero or all ones, tolerating the bit 10 that some Linux
	 * versions clear on AMD bank 4 (as KVM does). */
	if ((index & 3) == 0 && val != 0 && (val | BIT(10)) != ~0ULL)
		return MSR_FAIL;
	/* MCi_STATUS: a guest may only clear it (SDM 15.3.2.2), unless an
	 * AMD guest set HWCR.McStatusWrEn (APM Vol. 2 9.3.2; KVM's
	 * can_set_mci_status). */
	if ((index & 3) == 1 && val && !host &&
	    !(x86_cpuid_vendor_amd(cpu) && (cpu->msr.hwcr & HWCR_MCSTATUSWREN)))
		return MSR_FAIL;
	return plain_set(cpu, d, index, val, host);
}

/* MCi_CTL2 (SDM 15.5.1): CMCI enable and threshold.  Without MCG_CMCI_P
 * the guest cannot touch them and the VMM may read them and write 0. */
#define MCG_CMCI_P BIT(10)
#define MCI_CTL2_WRITABLE (BIT(30) | 0x7fffULL)

static int mce_ctl2_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 *val, bool host)
{
	if (index - 0x280 >= (cpu->msr.mcg_cap & 0xff) ||
	    (!(cpu->msr.mcg_cap & MCG_CMCI_P) && !host))
		return MSR_FAIL;
	return plain_get(cpu, d, index, val, host);
}

static int mce_ctl2_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 val, bool host)
{
	if (index - 0x280 >= (cpu->msr.mcg_cap & 0xff) ||
	    (!(cpu->msr.mcg_cap & MCG_CMCI_P) && (val || !host)) ||
	    (val & ~MCI_CTL2_WRITABLE))
		return MSR_FAIL;
	return plain_set(cpu, d, index, val, host);
}

/*
 * AMD's configuration MSRs as KVM serves them (to every vendor, as KVM does,
 * since guests probe them by family): HWCR keeps only McStatusWrEn, bits
 * KVM ignores (TLB cache disable, flush filter disable, IGNNE emulation) may
 * be written and read as 0, anything else is #GP; NB_CFG, the other
 * northbridge/bus-unit registers and VM_HSAVE_PA read 0 and ignore writes;
 * the MMIO configuration base reads 0 and takes only 0; SYSCFG, the TSEG
 * pair and INT_PENDING_MSG read 0 and refuse writes.
 */
static int hwcr_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		    u64 val, bool host)
{
	(void)d, (void)index, (void)host;
	val &= ~HWCR_IGNORED;
	if (val & ~HWCR_MCSTATUSWREN)
		return MSR_FAIL;
	cpu->msr.hwcr = val;
	return MSR_OK;
}

static int zero_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		    u64 *val, bool host)
{
	(void)cpu, (void)d, (void)index, (void)host;
	*val = 0;
	return MSR_OK;
}

static int ignore_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		      u64 val, bool host)
{
	(void)cpu, (void)d, (void)index, (void)val, (void)host;
	return MSR_OK;
}

static int zero_only_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			 u64 val, bool host)
{
	(void)cpu, (void)d, (void)index, (void)host;
	return val ? MSR_FAIL : MSR_OK;
}

/* Feature MSRs: the VMM configures them, the guest only reads. */
static int ucode_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		     u64 val, bool host)
{
	/* A guest write asks for a microcode load: ignored, no #GP. */
	if (!host)
		return MSR_OK;
	return plain_set(cpu, d, index, val, host);
}

/* Without the CPUID bit even the VMM reads 0 (KVM's unsupported-MSR path),
 * so what it reads it can always write back. */
static int arch_cap_get(struct x86_cpu *cpu, const struct msr_desc *d,
			u32 index, u64 *val, bool host)
{
	if (!x86_guest_has(cpu, 7, 0, EDX, 29))
		return MSR_UNSUPPORTED;
	return plain_get(cpu, d, index, val, host);
}

static int arch_cap_set(struct x86_cpu *cpu, const struct msr_desc *d,
			u32 index, u64 val, bool host)
{
	if (!host || !x86_guest_has(cpu, 7, 0, EDX, 29))
		return MSR_UNSUPPORTED;
	if (val & ~ARCH_CAP_VALUE)
		return MSR_FAIL;
	return plain_set(cpu, d, index, val, host);
}

static int host_only_set(struct x86_cpu *cpu, const struct msr_desc *d,
			 u32 index, u64 val, bool host)
{
	if (!host)
		return MSR_FAIL;
	return plain_set(cpu, d, index, val, host);
}

/*
 * kvmclock (Documentation/virt/kvm/x86/msr.rst): the wall-clock and
 * system-time MSRs, old (0x11/0x12, KVM_FEATURE_CLOCKSOURCE) and new
 * (0x4b564d00/01, CLOCKSOURCE2).  The wall-clock address is the VM's, the
 * system-time MSR the vCPU's; kvm/pvclock.c fills the guest structures.
 * A feature hidden by ENFORCE_PV_FEATURE_CPUID is "unsupported": #GP for
 * the guest, 0 for the VMM (the MSRs are listed).
 */
static bool kvmclock_wall(u32 index)
{
	return index == 0x11 || index == 0x4b564d00;
}

static bool kvmclock_has(const struct x86_cpu *cpu, u32 index)
{
	return x86_pv_has(cpu, index < 0x100 ? KVM_FEATURE_CLOCKSOURCE : KVM_FEATURE_CLOCKSOURCE2);
}

static int kvmclock_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 *val, bool host)
{
	(void)d, (void)host;
	if (!kvmclock_has(cpu, index))
		return MSR_UNSUPPORTED;
	if (!kvmclock_wall(index))
		*val = cpu->msr.kvm_system_time;
	else
		*val = cpu->pv_ops ? cpu->pv_ops->wall_clock_get(cpu->pv) : cpu->msr.kvm_wall_clock;
	return MSR_OK;
}

static int kvmclock_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 val, bool host)
{
	(void)d;
	if (!kvmclock_has(cpu, index))
		return MSR_UNSUPPORTED;
	if (kvmclock_wall(index)) {
		cpu->msr.kvm_wall_clock = val;
		if (cpu->pv_ops)
			cpu->pv_ops->wall_clock_set(cpu->pv, val);
		return MSR_OK;
	}
	cpu->msr.kvm_system_time = val;
	if (cpu->pv_ops)
		cpu->pv_ops->clock_changed(cpu->pv, !host);
	return MSR_OK;
}

void x86_pvclock_changed(struct x86_cpu *cpu, bool now)
{
	if (cpu->pv_ops && (cpu->msr.kvm_system_time & 1))
		cpu->pv_ops->clock_changed(cpu->pv, now);
}

/*
 * MSR_KVM_STEAL_TIME (msr.rst): the 64-byte aligned guest address of a
 * struct kvm_steal_time and the enable bit; bits 5:1 are reserved (#GP, and
 * a failed KVM_SET_MSRS).  As KVM it needs the host's scheduler statistics
 * (sched_info_on()): kvm/pvclock.c fills the record at each guest entry
 * from the vCPU thread's run delay.
 */
bool x86_steal_time_host(void)
{
	static int ok = -1;
	if (ok < 0)
		ok = access("/proc/thread-self/schedstat", R_OK) == 0;
	return ok;
}

static int steal_time_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			  u64 *val, bool host)
{
	if (!x86_pv_has(cpu, KVM_FEATURE_STEAL_TIME))
		return MSR_UNSUPPORTED;
	return plain_get(cpu, d, index, val, host);
}

static int steal_time_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			  u64 val, bool host)
{
	(void)d, (void)index;
	if (!x86_pv_has(cpu, KVM_FEATURE_STEAL_TIME) || !x86_steal_time_host())
		return MSR_UNSUPPORTED;
	if (val & KVM_STEAL_RESERVED_MASK)
		return MSR_FAIL;
	cpu->msr.kvm_steal_time = val;
	if ((val & KVM_MSR_ENABLED) && !host && cpu->pv_ops)
		cpu->pv_ops->steal_time_enabled(cpu->pv);
	return MSR_OK;
}

/*
 * MSR_KVM_PV_EOI_EN (msr.rst): a 4-byte aligned guest address of the PV
 * EOI flag and the enable bit; the in-kernel LAPIC uses it (kvm/irqchip.c),
 * without one the value is only kept, as in KVM.
 */
static int pv_eoi_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index, u64 *val,
		      bool host)
{
	if (!x86_pv_has(cpu, KVM_FEATURE_PV_EOI))
		return MSR_UNSUPPORTED;
	return plain_get(cpu, d, index, val, host);
}

static int pv_eoi_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index, u64 val,
		      bool host)
{
	(void)d, (void)index, (void)host;
	if (!x86_pv_has(cpu, KVM_FEATURE_PV_EOI))
		return MSR_UNSUPPORTED;
	if (val & 6) /* the address is not 4-byte aligned */
		return MSR_FAIL;
	if (cpu->pv_ops && !cpu->pv_ops->pv_eoi_set(cpu->pv, val))
		return MSR_FAIL;
	cpu->msr.kvm_pv_eoi_en = val;
	return MSR_OK;
}

/* KVM's "KVMKVMKVM\0\0\0" signature, looked for as kvm_find_kvm_cpuid_features
 * does: at 0x40000000 and every 0x100 leaves up to 0x4000ff00. */
bool x86_pv_has(const struct x86_cpu *cpu, int feature)
{
	if (!cpu->pv_enforce)
		return true;
	for (u32 base = 0x40000000; base < 0x40010000; base += 0x100) {
		const struct x86_cpuid_entry *e = x86_cpuid_find(cpu, base, 0);
		if (!e || e->ebx != 0x4b4d564b || e->ecx != 0x564b4d56 || e->edx != 0x4d)
			continue;
		if (e->eax < base + 1)
			return false;
		e = x86_cpuid_find(cpu, base + 1, 0);
		return e && (e->eax >> feature) & 1;
	}
	return false;
}

/* Only the VMM writes, and only 0 (a PERF_CAPABILITIES without a PMU). */
static int host_zero_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			 u64 val, bool host)
{
	(void)cpu, (void)d, (void)index;
	return host && !val ? MSR_OK : MSR_FAIL;
}

/*
 * MSR_PLATFORM_INFO: the guest reads it unless the VMM turned that off
 * (KVM_CAP_MSR_PLATFORM_INFO); only the VMM writes it, any value but the
 * CPUID-faulting bit, which would promise MSR_MISC_FEATURES_ENABLES
 * faulting softkvm does not implement (KVM checks only that it is not
 * cleared while in use).
 */
static int platform_info_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			     u64 *val, bool host)
{
	if (!host && cpu->platform_info_hidden)
		return MSR_FAIL;
	return plain_get(cpu, d, index, val, host);
}

/*
 * IA32_PERF_CAPABILITIES: KVM always lists it and serves it to the VMM;
 * without a PMU its supported value is 0, so 0 is all the VMM may write;
 * the guest reads it only with PDCM in its CPUID and never writes it.
 */
static int perf_cap_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
			u64 *val, bool host)
{
	(void)d, (void)index;
	if (!host && !x86_guest_has(cpu, 1, 0, ECX, 15))
		return MSR_FAIL;
	*val = 0;
	return MSR_OK;
}

/* IA32_XSS (KVM's kvm_get/set_msr_common): the guest needs XSAVES in its
 * CPUID, the VMM does not; no supervisor state component is supported, so
 * every bit is reserved for both. */
static int xss_get(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		   u64 *val, bool host)
{
	if (!host && !x86_guest_has(cpu, 0xd, 1, EAX, 3))
		return MSR_FAIL;
	return plain_get(cpu, d, index, val, host);
}

static int xss_set(struct x86_cpu *cpu, const struct msr_desc *d, u32 index,
		   u64 val, bool host)
{
	if (!host && !x86_guest_has(cpu, 0xd, 1, EAX, 3))
		return MSR_FAIL;
	return plain_set(cpu, d, index, val, host);
}

/* KVM lists TSC_AUX only when it can offer RDTSCP or RDPID. */
static bool rdtscp_supported(void)
{
	return cpu_cap_has(0x80000001, 0, EDX, 27) || cpu_cap_has(7, 0, ECX, 22);
}

/* --- the table ------------------------------------------------------------ */

#define F(f) offsetof(struct x86_cpu, f)
#define PLAIN(idx, fl, f) {idx, idx, fl, NULL, F(f), 0, plain_get, plain_set}
#define CANON(idx, fl, f) {idx, idx, fl, NULL, F(f), 0, plain_get, canon_set}

static const struct msr_desc msr_table[] = {
	{0x11, 0x12, MSR_LIST, NULL, 0, 0, kvmclock_get, kvmclock_set},
	{0x4b564d00, 0x4b564d01, MSR_LIST, NULL, 0, 0, kvmclock_get, kvmclock_set},
	{MSR_KVM_STEAL_TIME, MSR_KVM_STEAL_TIME, MSR_LIST, NULL,
	 F(msr.kvm_steal_time), 0, steal_time_get, steal_time_set},
	{MSR_KVM_PV_EOI_EN, MSR_KVM_PV_EOI_EN, MSR_LIST, NULL, F(msr.kvm_pv_eoi_en), 0,
	 pv_eoi_get, pv_eoi_set},
	{0x10, 0x10, MSR_LIST, NULL, 0, 0, tsc_get, tsc_set},			/* IA32_TSC */
	{0x1b, 0x1b, 0, NULL, F(apic_base), 0, plain_get, apic_base_set},	/* IA32_APIC_BASE */
	/* MSR_SMI_COUNT: SMIs taken (none without SMM); only the VMM sets it */
	{0x34, 0x34, MSR_LIST, NULL, F(msr.smi_count), 0, plain_get, host_only_set},
	{0x3b, 0x3b, MSR_LIST, NULL, F(msr.tsc_adjust), 0, plain_get, tsc_adjust_set},
	{0x8b, 0x8b, MSR_LIST | MSR_FEAT, NULL, F(msr.ucode_rev), 0, plain_get, ucode_set},
	{0xce, 0xce, MSR_LIST | MSR_FEAT, NULL, F(msr.platform_info), PLATFORM_INFO_CPUID_FAULT,
	 platform_info_get, host_only_set},					/* MSR_PLATFORM_INFO */
	{0xfe, 0xfe, 0, NULL, 0, 0, mtrr_cap_get, ro_set},			/* IA32_MTRRCAP */
	{0x10a, 0x10a, MSR_LIST | MSR_FEAT, NULL, F(msr.arch_capabilities), 0, arch_cap_get,
	 arch_cap_set},
	{0x345, 0x345, MSR_LIST | MSR_FEAT, NULL, 0, 0, perf_cap_get, host_zero_set},
	PLAIN(0x174, MSR_LIST, msr.sysenter_cs),
	{0x175, 0x175, MSR_LIST, NULL, F(msr.sysenter_esp), 0, plain_get, sysenter_set},
	{0x176, 0x176, MSR_LIST, NULL, F(msr.sysenter_eip), 0, plain_get, sysenter_set},
	/* IA32_MCG_CAP: set by KVM_X86_SETUP_MCE only (SDM 15.3.1.1) */
	{0x179, 0x179, 0, NULL, F(msr.mcg_cap), 0, plain_get, ro_set},
	PLAIN(0x17a, MSR_LIST, msr.mcg_status),
	{0x17b, 0x17b, MSR_LIST, NULL, F(msr.mcg_ctl), 0, mcg_ctl_get, mcg_ctl_set},
	{0x1a0, 0x1a0, MSR_LIST, NULL, F(msr.misc_enable), 0, plain_get, misc_enable_set},
	PLAIN(0x1fc, MSR_LIST, msr.power_ctl),	/* MSR_IA32_POWER_CTL: any value */
	{0x200, 0x200 + 2 * MTRR_NR_VAR - 1, 0, NULL, F(msr.mtrr_var), 0, plain_get,
	 mtrr_var_set},							/* PHYSBASE/MASKn */
	{0x250, 0x26f, 0, NULL, 0, 0, mtrr_fixed_get, mtrr_fixed_set},	/* fixed ranges */
	{0x277, 0x277, MSR_LIST, NULL, F(msr.pat), 0, plain_get, pat_set},	/* IA32_PAT */
	{0x280, 0x280 + X86_MCE_MAX_BANKS - 1, 0, NULL, F(msr.mce_ctl2), 0, mce_ctl2_get,
	 mce_ctl2_set},							/* MCi_CTL2 */
	{0x2ff, 0x2ff, 0, NULL, F(msr.mtrr_def_type), 0, plain_get, mtrr_def_set},
	{0x400, 0x400 + 4 * X86_MCE_MAX_BANKS - 1, 0, NULL, F(msr.mce_banks), 0,
	 mce_bank_get, mce_bank_set},					/* MCi_CTL/STATUS/ADDR/MISC */
	{0x6e0, 0x6e0, MSR_LIST, NULL, 0, 0, apic_msr_get, apic_msr_set}, /* IA32_TSC_DEADLINE */
	{0xda0, 0xda0, 0, NULL, F(msr.xss), ~0ULL, xss_get, xss_set},	/* IA32_XSS */
	{0x800, 0x8ff, 0, NULL, 0, 0, apic_msr_get, apic_msr_set},	/* x2APIC */
	{0xc0000080, 0xc0000080, 0, NULL, F(efer), 0, plain_get, efer_set},	/* EFER */
	PLAIN(0xc0000081, MSR_LIST, msr.star),
	CANON(0xc0000082, MSR_LIST, msr.lstar),
	CANON(0xc0000083, MSR_LIST, msr.cstar),
	PLAIN(0xc0000084, MSR_LIST, msr.sfmask),
	CANON(0xc0000100, 0, seg[S_FS].base),
	CANON(0xc0000101, 0, seg[S_GS].base),
	CANON(0xc0000102, MSR_LIST, msr.kernel_gs_base),
	{0xc0000103, 0xc0000103, MSR_LIST, rdtscp_supported, F(msr.tsc_aux), ~0xffffffffULL,
	 tsc_aux_get, tsc_aux_set},					/* IA32_TSC_AUX */
	{0xc0010010, 0xc0010010, 0, NULL, 0, 0, zero_get, ro_set},	/* SYSCFG */
	{0xc0010015, 0xc0010015, MSR_LIST, NULL, F(msr.hwcr), 0, plain_get, hwcr_set}, /* HWCR */
	{0xc001001f, 0xc001001f, 0, NULL, 0, 0, zero_get, ignore_set},	/* NB_CFG */
	{0xc0010055, 0xc0010055, 0, NULL, 0, 0, zero_get, ro_set},	/* INT_PENDING_MSG */
	{0xc0010058, 0xc0010058, 0, NULL, 0, 0, zero_get, zero_only_set}, /* MMIO_CONF_BASE */
	{0xc0010112, 0xc0010113, 0, NULL, 0, 0, zero_get, ro_set},	/* TSEG_ADDR/MASK */
	{0xc0010117, 0xc0010117, 0, NULL, 0, 0, zero_get, ignore_set},	/* VM_HSAVE_PA */
	{0xc0011022, 0xc0011023, 0, NULL, 0, 0, zero_get, ignore_set},	/* DC_CFG, TW_CFG */
	{0xc001102a, 0xc001102a, 0, NULL, 0, 0, zero_get, ignore_set},	/* BU_CFG2 */
	{0xc001102c, 0xc001102c, 0, NULL, 0, 0, zero_get, ignore_set},	/* EX_CFG */
};

static bool is_listed(const struct msr_desc *d)
{
	return (d->flags & MSR_LIST) && (!d->listed || d->listed());
}

static const struct msr_desc *msr_find(u32 index)
{
	for (size_t i = 0; i < ARRAY_SIZE(msr_table); i++)
		if (index >= msr_table[i].first && index <= msr_table[i].last)
			return &msr_table[i];
	return NULL;
}

int x86_msr_get(struct x86_cpu *cpu, u32 index, u64 *val, bool host)
{
	const struct msr_desc *d = msr_find(index);
	*val = 0;
	if (!d)
		return X86_MSR_UNKNOWN;
	int r = d->get(cpu, d, index, val, host);
	if (r == MSR_UNSUPPORTED && host && is_listed(d)) {
		*val = 0;
		return 0;
	}
	return r ? -1 : 0;
}

int x86_msr_set(struct x86_cpu *cpu, u32 index, u64 val, bool host)
{
	const struct msr_desc *d = msr_find(index);
	if (!d)
		return X86_MSR_UNKNOWN;
	int r = d->set(cpu, d, index, val, host);
	if (r == MSR_UNSUPPORTED && host && is_listed(d) && !val)
		return 0;
	return r ? -1 : 0;
}

void x86_msr_reset(struct x86_cpu *cpu)
{
	cpu->msr.pat = 0x0007040600070406ULL; /* SDM 11.12.4 */
	cpu->msr.misc_enable = MISC_ENABLE_RESET;
	cpu->msr.mcg_cap = X86_MCE_MAX_BANKS; /* until KVM_X86_SETUP_MCE */
	cpu->msr.ucode_rev = UCODE_REV_VALUE;
	cpu->msr.arch_capabilities = ARCH_CAP_VALUE;
	cpu->msr.platform_info = PLATFORM_INFO_VALUE;
	cpu->msr.smbase = 0x30000;
}

/* The lists, built once from the table. */
static u32 list_all[64], list_feat[8];
static u32 n_all, n_feat;
static pthread_once_t lists_once = PTHREAD_ONCE_INIT;

static void lists_build(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(msr_table); i++) {
		const struct msr_desc *d = &msr_table[i];
		for (u32 idx = d->first; idx <= d->last; idx++) {
			if (is_listed(d) && n_all < ARRAY_SIZE(list_all))
				list_all[n_all++] = idx;
			if ((d->flags & MSR_FEAT) && n_feat < ARRAY_SIZE(list_feat))
				list_feat[n_feat++] = idx;
		}
	}
}

const u32 *x86_msr_index_list(u32 *n)
{
	pthread_once(&lists_once, lists_build);
	*n = n_all;
	return list_all;
}

const u32 *x86_msr_feature_list(u32 *n)
{
	pthread_once(&lists_once, lists_build);
	*n = n_feat;
	return list_feat;
}

int x86_msr_feature_get(u32 index, u64 *val)
{
	const struct msr_desc *d = msr_find(index);
	*val = 0;
	switch (index) {
	case 0x8b:
		*val = UCODE_REV_VALUE;
		return 0;
	case 0xce:
		*val = PLATFORM_INFO_VALUE;
		return 0;
	case 0x10a:
		*val = ARCH_CAP_VALUE;
		return 0;
	}
	/* KVM reads any other MSR it lists as 0 here (kvm_do_msr_access). */
	return d && is_listed(d) ? 0 : -1;
}
