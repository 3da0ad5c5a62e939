/*
 * The CPU model (docs/cpu-model.md).
 *
 * Every feature bit softkvm knows is one row of CPUID_FEATURES, naming the
 * part of softkvm that implements it and whether it is offered.  Turning a
 * feature on, once its part does it, is a one-word change to its row; the
 * tables of KVM_GET_SUPPORTED_CPUID and KVM_GET_EMULATED_CPUID, and leaf 0xD,
 * are built from the rows.  Leaves that describe the host (vendor, family,
 * brand string, cache descriptors, physical address width) come from the
 * host's CPUID, as KVM passes them through: clients also run CPUID natively
 * and must see consistent answers.
 */
#include <cpuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>
#include <asm/kvm_para.h>

#include "x86/cpuid.h"
#include "x86/msr.h"

enum { EAX, EBX, ECX, EDX };

/* Who implements a feature (the engine issue that promises it). */
enum cpuid_part {
	PART_INT,   /* integer ISA in the engine */
	PART_SYS,   /* system architecture: CRs, MSRs, SYSCALL/SYSENTER, TSC */
	PART_MMU,   /* the page walker (x86/mmu.c) */
	PART_X87,   /* x87/MMX: floating-point issue */
	PART_SSE,   /* SSE..SSE4.2 (x86-64-v2 vector issue) */
	PART_AVX,   /* XSAVE, AVX, AVX2, FMA, F16C, BMI (x86-64-v3 issue) */
	PART_APIC,  /* in-kernel local APIC (hw/) */
	PART_INFO,  /* a statement about the platform, nothing to execute */
};

/* Offered in KVM_GET_SUPPORTED_CPUID, only in KVM_GET_EMULATED_CPUID, or not. */
enum { OFF, ON, EMU };

/*
 * F(leaf, subleaf, register, bit, name, part, state).  Bits KVM computes at
 * run time (OSXSAVE, OSPKE) are not rows: x86_cpuid_query supplies them.
 */
#define CPUID_FEATURES(F)                                          \
	/* Leaf 1 EDX.  x87/FXSR: x86/x87.c; MMX/SSE: x86/native.c. */          \
	F(0x1, 0, EDX, 0, FPU, PART_X87, ON)                       \
	F(0x1, 0, EDX, 1, VME, PART_SYS, OFF)                      \
	F(0x1, 0, EDX, 2, DE, PART_SYS, ON)                        \
	F(0x1, 0, EDX, 3, PSE, PART_MMU, ON)                       \
	F(0x1, 0, EDX, 4, TSC, PART_SYS, ON)                       \
	F(0x1, 0, EDX, 5, MSR, PART_SYS, ON)                       \
	F(0x1, 0, EDX, 6, PAE, PART_MMU, ON)                       \
	F(0x1, 0, EDX, 7, MCE, PART_SYS, ON)                       \
	F(0x1, 0, EDX, 8, CX8, PART_INT, ON)                       \
	F(0x1, 0, EDX, 9, APIC, PART_SYS, ON)                      \
	F(0x1, 0, EDX, 11, SEP, PART_SYS, ON)                      \
	F(0x1, 0, EDX, 12, MTRR, PART_SYS, ON)                     \
	F(0x1, 0, EDX, 13, PGE, PART_MMU, ON)                      \
	F(0x1, 0, EDX, 14, MCA, PART_SYS, ON)                      \
	F(0x1, 0, EDX, 15, CMOV, PART_INT, ON)                     \
	F(0x1, 0, EDX, 16, PAT, PART_SYS, ON)                      \
	F(0x1, 0, EDX, 17, PSE36, PART_MMU, ON)                    \
	F(0x1, 0, EDX, 19, CLFSH, PART_INT, ON)                    \
	F(0x1, 0, EDX, 23, MMX, PART_X87, ON)                       \
	F(0x1, 0, EDX, 24, FXSR, PART_X87, ON)                     \
	F(0x1, 0, EDX, 25, SSE, PART_SSE, ON)                       \
	F(0x1, 0, EDX, 26, SSE2, PART_SSE, ON)                      \
	F(0x1, 0, EDX, 27, SS, PART_INFO, OFF)                     \
	/* Leaf 1 ECX */                                           \
	F(0x1, 0, ECX, 0, SSE3, PART_SSE, ON)                      \
	F(0x1, 0, ECX, 1, PCLMULQDQ, PART_SSE, ON)                 \
	F(0x1, 0, ECX, 3, MONITOR, PART_SYS, OFF)                  \
	F(0x1, 0, ECX, 9, SSSE3, PART_SSE, ON)                     \
	F(0x1, 0, ECX, 12, FMA, PART_AVX, ON)                     \
	F(0x1, 0, ECX, 13, CX16, PART_INT, ON)                     \
	F(0x1, 0, ECX, 17, PCID, PART_MMU, ON)                    \
	F(0x1, 0, ECX, 19, SSE4_1, PART_SSE, ON)                   \
	F(0x1, 0, ECX, 20, SSE4_2, PART_SSE, ON)                   \
	F(0x1, 0, ECX, 21, X2APIC, PART_APIC, ON)                  \
	F(0x1, 0, ECX, 22, MOVBE, PART_INT, ON)                    \
	F(0x1, 0, ECX, 23, POPCNT, PART_INT, ON)                   \
	F(0x1, 0, ECX, 24, TSC_DEADLINE, PART_APIC, ON)            \
	F(0x1, 0, ECX, 25, AES, PART_SSE, ON)                      \
	F(0x1, 0, ECX, 26, XSAVE, PART_AVX, ON)                   \
	F(0x1, 0, ECX, 28, AVX, PART_AVX, ON)                     \
	F(0x1, 0, ECX, 29, F16C, PART_AVX, ON)                    \
	F(0x1, 0, ECX, 30, RDRAND, PART_INT, OFF)                  \
	F(0x1, 0, ECX, 31, HYPERVISOR, PART_INFO, ON)              \
	/* Leaf 6 EAX */                                           \
	/* ARAT: a software APIC timer never stops; KVM always offers it */ \
	F(0x6, 0, EAX, 2, ARAT, PART_INFO, ON)                     \
	/* Leaf 7.0 EBX/ECX/EDX */                                 \
	F(0x7, 0, EBX, 0, FSGSBASE, PART_SYS, ON)                 \
	/* TSC_ADJUST: the MSR (0x3b) follows guest TSC writes (msr.c) */ \
	F(0x7, 0, EBX, 1, TSC_ADJUST, PART_SYS, ON)                \
	F(0x7, 0, EBX, 3, BMI1, PART_AVX, ON)                     \
	F(0x7, 0, EBX, 5, AVX2, PART_AVX, ON)                     \
	F(0x7, 0, EBX, 7, SMEP, PART_MMU, ON)                      \
	F(0x7, 0, EBX, 8, BMI2, PART_AVX, ON)                     \
	F(0x7, 0, EBX, 9, ERMS, PART_INT, OFF)                     \
	F(0x7, 0, EBX, 10, INVPCID, PART_MMU, ON)                 \
	F(0x7, 0, EBX, 18, RDSEED, PART_INT, OFF)                  \
	F(0x7, 0, EBX, 19, ADX, PART_INT, OFF)                     \
	/* SMAP: the walker, STAC/CLAC, implicit accesses (sys_read) */ \
	F(0x7, 0, EBX, 20, SMAP, PART_MMU, ON)                    \
	F(0x7, 0, EBX, 23, CLFLUSHOPT, PART_INT, OFF)              \
	F(0x7, 0, ECX, 2, UMIP, PART_SYS, OFF)                     \
	/* LA57: 5-level walks (mmu.c), canonical checks by CR4.LA57 (exec.h) */ \
	F(0x7, 0, ECX, 16, LA57, PART_MMU, ON)                     \
	F(0x7, 0, ECX, 22, RDPID, PART_INT, ON)                   \
	F(0x7, 0, EDX, 4, FSRM, PART_INT, OFF)                     \
	/* Leaf 0xD.1 EAX */                                       \
	F(0xd, 1, EAX, 0, XSAVEOPT, PART_AVX, ON)                 \
	F(0xd, 1, EAX, 1, XSAVEC, PART_AVX, ON)                   \
	F(0xd, 1, EAX, 2, XGETBV1, PART_AVX, ON)                  \
	/* XSAVES/XRSTORS with IA32_XSS = 0 (no supervisor component) */ \
	F(0xd, 1, EAX, 3, XSAVES, PART_AVX, ON)                    \
	/* Leaf 0x80000001 ECX/EDX */                              \
	F(0x80000001, 0, ECX, 0, LAHF_LM, PART_INT, ON)            \
	F(0x80000001, 0, ECX, 5, ABM, PART_INT, ON)                \
	F(0x80000001, 0, ECX, 8, PREFETCHW, PART_INT, OFF)         \
	F(0x80000001, 0, EDX, 11, SYSCALL, PART_SYS, ON)           \
	F(0x80000001, 0, EDX, 20, NX, PART_MMU, ON)                \
	F(0x80000001, 0, EDX, 26, PDPE1GB, PART_MMU, ON)           \
	F(0x80000001, 0, EDX, 27, RDTSCP, PART_SYS, ON)            \
	F(0x80000001, 0, EDX, 29, LM, PART_SYS, ON)                \
	/* Leaf 0x80000008 EBX: FXSAVE/XSAVE always store FIP/FDP/FOP \
	 * (x86/xsave.c); without it Linux on AMD assumes the FXSAVE   \
	 * pointer leak and runs FNCLEX; EMMS; FILD at every restore */ \
	F(0x80000008, 0, EBX, 2, XSAVEERPTR, PART_X87, ON)          \
	/* Leaf 0x80000007 EDX */                                  \
	F(0x80000007, 0, EDX, 8, INVTSC, PART_SYS, ON)

struct cpuid_feature {
	u32 fn;
	u8 idx, reg, bit, state;
};

static const struct cpuid_feature features[] = {
#define CPUID_ROW(fn_, idx_, reg_, bit_, name_, part_, state_) \
	{(fn_), (idx_), (reg_), (bit_), (state_)},
	CPUID_FEATURES(CPUID_ROW)
#undef CPUID_ROW
};

/* The bits of register `reg` of leaf fn.idx that are in `state`. */
static u32 feature_bits(u32 fn, u32 idx, int reg, int state)
{
	u32 v = 0;
	for (size_t i = 0; i < ARRAY_SIZE(features); i++)
		if (features[i].fn == fn && features[i].idx == idx &&
		    features[i].reg == reg && features[i].state == state)
			v |= 1u << features[i].bit;
	return v;
}

static bool feature_on(u32 fn, u32 idx, int reg, int bit)
{
	return feature_bits(fn, idx, reg, ON) & (1u << bit);
}

/*
 * XSAVE state components (SDM Vol. 1, 13.1) and the feature that brings
 * each; the offsets are the standard (non-compacted) layout.
 */
static const struct {
	u32 size, offset;
	u32 fn, reg, bit; /* the feature that enables the component */
} xcomponents[] = {
	{160, 0, 0x1, EDX, 0},	 /* x87 */
	/* SSE: XMM0-15 and MXCSR, the state FXSAVE keeps; the engine saves
	 * and loads it with FXSR, whether or not it executes SSE yet */
	{256, 160, 0x1, EDX, 24},
	{256, 576, 0x1, ECX, 28}, /* AVX (YMM upper halves) */
};

#define XSAVE_LEGACY_AND_HDR 576 /* legacy region + XSAVE header */

/* x86/native.c runs AVX forms on the host's ymm registers: they need the
 * host's AVX and its OS's YMM state (XCR0 bits 1 and 2). */
static bool host_avx(void)
{
	unsigned a, b, c, d;
	__cpuid(1, a, b, c, d);
	if (!(c & BIT(28)) || !(c & BIT(27)))
		return false;
	u32 lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	(void)a, (void)b, (void)d, (void)hi;
	return (lo & 6) == 6;
}

static u64 supported_xcr0(void)
{
	u64 x = 0;
	/* KVM reports no XSAVE components when XSAVE itself is absent. */
	if (!feature_on(0x1, 0, ECX, 26))
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(xcomponents); i++)
		if (feature_on(xcomponents[i].fn, 0, xcomponents[i].reg, xcomponents[i].bit))
			x |= BIT(i);
	if (!host_avx())
		x &= ~(u64)X86_XFEATURE_YMM;
	return x;
}

/* Size of an XSAVE area holding components `mask` (SDM Vol. 1, 13.4.3). */
static u32 xsave_size(u64 mask, bool compacted)
{
	u32 size = XSAVE_LEGACY_AND_HDR;
	for (unsigned i = 2; i < 64; i++) {
		if (!(mask & BIT(i)))
			continue;
		u32 sz, off, align = 0;
		if (i < ARRAY_SIZE(xcomponents)) {
			sz = xcomponents[i].size;
			off = xcomponents[i].offset;
		} else {
			unsigned a, b, c, d;
			__cpuid_count(0xd, i, a, b, c, d);
			sz = a;
			off = b;
			align = c & 2;
			(void)d;
		}
		if (compacted) {
			if (align)
				size = ALIGN_UP(size, 64);
			size += sz;
		} else if (off + sz > size) {
			size = off + sz;
		}
	}
	return size;
}

/* The supported table, built once from the rows and the host's CPUID. */
#define MAX_SUPPORTED 80
static struct x86_cpuid_entry supported[MAX_SUPPORTED];
static u32 nr_supported;
static struct x86_cpuid_entry emulated[4];
static u32 nr_emulated;
static pthread_once_t build_once = PTHREAD_ONCE_INIT;

static struct x86_cpuid_entry *add(struct x86_cpuid_entry *tbl, u32 *n, u32 fn,
				   u32 idx, bool sig)
{
	/* Both tables are sized for the model; outgrowing one is a bug. */
	if (*n >= (tbl == supported ? MAX_SUPPORTED : ARRAY_SIZE(emulated)))
		abort();
	struct x86_cpuid_entry *e = &tbl[(*n)++];
	*e = (struct x86_cpuid_entry){.function = fn, .index = idx,
				      .flags = sig ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0};
	return e;
}

/* Fill the feature registers of e from the rows in `state`. */
static void set_features(struct x86_cpuid_entry *e, int state)
{
	e->eax |= feature_bits(e->function, e->index, EAX, state);
	e->ebx |= feature_bits(e->function, e->index, EBX, state);
	e->ecx |= feature_bits(e->function, e->index, ECX, state);
	e->edx |= feature_bits(e->function, e->index, EDX, state);
}

static void host_cpuid(u32 fn, u32 idx, struct x86_cpuid_entry *e)
{
	unsigned a, b, c, d;
	__cpuid_count(fn, idx, a, b, c, d);
	e->eax = a;
	e->ebx = b;
	e->ecx = c;
	e->edx = d;
}

/* Leaf 1 EDX bits that AMD repeats in 0x80000001 EDX (APM Vol. 3, E.4.2). */
#define AMD_DUP_EDX 0x0183f3ffu

#define MAX_BASIC 0xd
#define MAX_LEAF4 8 /* subleaves of leaf 4 taken from the host, at most */
#define MAX_EXT 0x80000008u
/* On AMD, up to 0x80000021: its "not affected" bits for the speculation
 * bugs (AMD's SRSO and TSA notes), true of a CPU that does not speculate. */
#define MAX_EXT_AMD 0x80000021u
#define SRSO_NO BIT(29)				    /* 0x80000021 EAX */
#define TSA_SQ_NO BIT(1)			    /* 0x80000021 ECX */
#define TSA_L1_NO BIT(2)

static void build(void)
{
	struct x86_cpuid_entry host0, *e;
	u32 *n = &nr_supported;
	host_cpuid(0, 0, &host0);
	bool amd = host0.ebx == 0x68747541 || host0.ebx == 0x6f677948; /* Auth, Hygo(n) */

	for (u32 fn = 0; fn <= MAX_BASIC; fn++) {
		bool sig = fn == 4 || fn == 7 || fn == 0xb || fn == 0xd;
		e = add(supported, n, fn, 0, sig);
		switch (fn) {
		case 0:
			e->eax = MAX_BASIC;
			e->ebx = host0.ebx;
			e->ecx = host0.ecx;
			e->edx = host0.edx;
			break;
		case 2: /* cache descriptors, as KVM passes them through */
			host_cpuid(2, 0, e);
			break;
		case 4: /* deterministic cache parameters: the host's subleaves
			 * up to the first with cache type 0, as KVM does */
			host_cpuid(4, 0, e);
			for (u32 i = 1; (e->eax & 0x1f) && i < MAX_LEAF4; i++) {
				e = add(supported, n, 4, i, true);
				host_cpuid(4, i, e);
			}
			continue;
		case 1: {
			struct x86_cpuid_entry h;
			host_cpuid(1, 0, &h);
			e->eax = h.eax; /* family/model/stepping of the host */
			if (feature_on(1, 0, EDX, 19))
				e->ebx = 8 << 8; /* CLFLUSH line size: 64 bytes */
			break;
		}
		case 0xd: {
			/* KVM stops at subleaf 0 when no component is supported. */
			u64 x = supported_xcr0();
			e->eax = (u32)x;
			e->edx = (u32)(x >> 32);
			e->ebx = e->ecx = xsave_size(x, false);
			if (!x)
				break;
			e = add(supported, n, 0xd, 1, true);
			set_features(e, ON);
			if (e->eax & (BIT(1) | BIT(3)))
				e->ebx = xsave_size(x, true);
			for (unsigned i = 2; i < ARRAY_SIZE(xcomponents); i++) {
				if (!(x & BIT(i)))
					continue;
				e = add(supported, n, 0xd, i, true);
				e->eax = xcomponents[i].size;
				e->ebx = xcomponents[i].offset;
			}
			continue;
		}
		}
		set_features(e, ON);
		if (fn == 1) {
			/* x86/native.c runs these on the host CPU: never offer one
			 * the host lacks (MMX, SSE, SSE2; SSE3, PCLMULQDQ, SSSE3,
			 * SSE4.1, SSE4.2, MOVBE, POPCNT, AES; FMA, AVX, F16C) */
			struct x86_cpuid_entry h;
			host_cpuid(1, 0, &h);
			e->edx &= h.edx | ~0x06800000u;
			e->ecx &= h.ecx | ~0x32d81203u;
			if (!host_avx())
				e->ecx &= ~0x30001000u;
		}
		if (fn == 7) { /* BMI1, AVX2, BMI2: the host's too, and its
				* YMM state (x86/native.c runs them through
				* its ymm trampoline) */
			struct x86_cpuid_entry h;
			host_cpuid(7, 0, &h);
			if (!host_avx())
				h.ebx = 0;
			e->ebx &= h.ebx | ~(BIT(3) | BIT(5) | BIT(8));
		}
	}

	u32 max_ext = amd ? MAX_EXT_AMD : MAX_EXT;
	for (u32 fn = 0x80000000u; fn <= max_ext; fn++) {
		e = add(supported, n, fn, 0, fn == 0x8000001du); /* cache subleaves */
		switch (fn) {
		case 0x80000000u:
			host_cpuid(fn, 0, e);
			e->eax = max_ext;
			break;
		case 0x80000001u: {
			struct x86_cpuid_entry h;
			host_cpuid(fn, 0, &h);
			e->eax = h.eax;
			e->ebx = h.ebx & ~0x0fff0000u; /* KVM drops bits 27:16 */
			if (amd)
				e->edx = supported[1].edx & AMD_DUP_EDX;
			break;
		}
		case 0x80000002u:
		case 0x80000003u:
		case 0x80000004u: /* brand string */
		case 0x80000005u: /* L1 cache and TLB descriptors */
			host_cpuid(fn, 0, e);
			break;
		case 0x80000006u: /* L2/L3 descriptors, reserved bits dropped */
			host_cpuid(fn, 0, e);
			e->edx &= ~0x30000u;
			break;
		case 0x80000008u: {
			struct x86_cpuid_entry h;
			host_cpuid(fn, 0, &h);
			u32 va = feature_on(7, 0, ECX, 16) ? 57 : 48;
			e->eax = (h.eax & 0xff) | va << 8;
			break;
		}
		case MAX_EXT_AMD:
			/* the engine has no speculative execution: not affected by
			 * SRSO or TSA, so a guest kernel needs neither the safe-RET
			 * thunk nor VERW on every return to user space */
			e->eax = SRSO_NO;
			e->ecx = TSA_SQ_NO | TSA_L1_NO;
			break;
		/* 0x80000009..0x80000020: zeros, as KVM lists leaves it does
		 * not handle (no SVM, SEV, IBS, extended topology offered) */
		}
		set_features(e, ON);
		if (fn == 0x80000001u) { /* LZCNT runs on the host (x86/native.c) */
			struct x86_cpuid_entry h;
			host_cpuid(fn, 0, &h);
			e->ecx &= h.ecx | ~BIT(5);
		}
	}

	/* KVM's paravirtual leaves: the signature, and the PV features
	 * kvm/pvclock.c implements: kvmclock (both MSR pairs) with a stable
	 * TSC, the port-0x80 delay hint, the yield hypercall, and steal time
	 * where the host keeps the threads' run delay. */
	e = add(supported, n, KVM_CPUID_SIGNATURE, 0, false);
	e->eax = KVM_CPUID_FEATURES;
	memcpy(&e->ebx, "KVMK", 4);
	memcpy(&e->ecx, "VMKV", 4);
	memcpy(&e->edx, "M\0\0\0", 4);
	e = add(supported, n, KVM_CPUID_FEATURES, 0, false);
	e->eax = BIT(KVM_FEATURE_CLOCKSOURCE) | BIT(KVM_FEATURE_NOP_IO_DELAY) |
		 BIT(KVM_FEATURE_CLOCKSOURCE2) | BIT(KVM_FEATURE_PV_SCHED_YIELD) |
		 BIT(KVM_FEATURE_CLOCKSOURCE_STABLE_BIT) | BIT(KVM_FEATURE_PV_EOI);
	if (x86_steal_time_host())
		e->eax |= BIT(KVM_FEATURE_STEAL_TIME);

	/* The emulated table has KVM's shape: leaves 0, 1 and 7.0, holding
	 * what softkvm can run but does not advertise as supported. */
	e = add(emulated, &nr_emulated, 0, 0, false);
	e->eax = 7;
	e = add(emulated, &nr_emulated, 1, 0, false);
	set_features(e, EMU);
	e = add(emulated, &nr_emulated, 7, 0, true);
	set_features(e, EMU);
}

const struct x86_cpuid_entry *x86_cpuid_supported(u32 *n)
{
	pthread_once(&build_once, build);
	*n = nr_supported;
	return supported;
}

const struct x86_cpuid_entry *x86_cpuid_emulated(u32 *n)
{
	pthread_once(&build_once, build);
	*n = nr_emulated;
	return emulated;
}

const struct x86_cpuid_entry *x86_cpuid_find_in(const struct x86_cpuid_entry *tbl,
						u32 n, u32 fn, u32 idx)
{
	for (u32 i = 0; i < n; i++) {
		const struct x86_cpuid_entry *e = &tbl[i];
		if (e->function == fn &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == idx))
			return e;
	}
	return NULL;
}

/*
 * The bits KVM keeps up to date in the guest table (kvm_update_cpuid_runtime):
 * OSXSAVE follows CR4, the APIC bit follows APIC_BASE.EN, and the XSAVE area
 * sizes follow XCR0 (and IA32_XSS for the compacted form).  `e` is an entry
 * of tbl, `r` its registers to adjust.
 */
static void runtime_bits(const struct x86_cpu *cpu, const struct x86_cpuid_entry *tbl,
			 u32 n, const struct x86_cpuid_entry *e, u32 r[4])
{
	if (e->function == 1 && e == x86_cpuid_find_in(tbl, n, 1, 0)) {
		r[ECX] = (r[ECX] & ~BIT(27)) | (cpu->cr4 & X86_CR4_OSXSAVE ? BIT(27) : 0);
		r[EDX] = (r[EDX] & ~BIT(9)) | (cpu->apic_base & X86_APIC_BASE_EN ? BIT(9) : 0);
	}
	if (e->function != 0xd)
		return;
	if (e == x86_cpuid_find_in(tbl, n, 0xd, 0))
		r[EBX] = xsave_size(cpu->xcr0, false);
	if (e == x86_cpuid_find_in(tbl, n, 0xd, 1) && (r[EAX] & (BIT(1) | BIT(3))))
		r[EBX] = xsave_size(cpu->xcr0 | cpu->msr.xss, true);
}

void x86_cpuid_runtime_table(const struct x86_cpu *cpu, const struct x86_cpuid_entry *tbl,
			     u32 n, struct x86_cpuid_entry *out)
{
	for (u32 i = 0; i < n; i++) {
		u32 r[4] = {tbl[i].eax, tbl[i].ebx, tbl[i].ecx, tbl[i].edx};
		runtime_bits(cpu, tbl, n, &tbl[i], r);
		out[i] = tbl[i];
		out[i].eax = r[EAX];
		out[i].ebx = r[EBX];
		out[i].ecx = r[ECX];
		out[i].edx = r[EDX];
	}
}

static bool vendor_is_amd(const struct x86_cpuid_entry *leaf0)
{
	if (!leaf0)
		return false;
	/* "AuthenticAMD" and "HygonGenuine": ebx, edx, ecx. */
	return (leaf0->ebx == 0x68747541 && leaf0->edx == 0x69746e65 &&
		leaf0->ecx == 0x444d4163) ||
	       (leaf0->ebx == 0x6f677948 && leaf0->edx == 0x6e65476e &&
		leaf0->ecx == 0x656e6975);
}

bool x86_cpuid_vendor_amd(const struct x86_cpu *cpu)
{
	return vendor_is_amd(x86_cpuid_find(cpu, 0, 0));
}

/*
 * A leaf beyond its range (KVM's get_out_of_range_cpuid_entry): on AMD it
 * reads as zeros; on Intel it reads as the highest basic leaf, with the
 * original subleaf (SDM Vol. 2A, CPUID, "If a value entered for CPUID.EAX
 * is higher than the maximum input value...").
 */
static const struct x86_cpuid_entry *out_of_range(const struct x86_cpu *cpu, u32 *fn,
						  u32 idx)
{
	const struct x86_cpuid_entry *basic = x86_cpuid_find(cpu, 0, 0), *class;
	if (!basic || vendor_is_amd(basic))
		return NULL;
	if (*fn >= 0x40000000 && *fn <= 0x4fffffff)
		class = x86_cpuid_find(cpu, *fn & 0xffffff00, 0);
	else if (*fn >= 0xc0000000)
		class = x86_cpuid_find(cpu, 0xc0000000, 0);
	else
		class = x86_cpuid_find(cpu, *fn & 0x80000000, 0);
	if (class && *fn <= class->eax)
		return NULL;
	*fn = basic->eax;
	return x86_cpuid_find(cpu, basic->eax, idx);
}

void x86_cpuid_query(const struct x86_cpu *cpu, u32 fn, u32 idx, u32 out[4])
{
	const struct x86_cpuid_entry *e = x86_cpuid_find(cpu, fn, idx);
	if (!e)
		e = out_of_range(cpu, &fn, idx);
	if (e) {
		out[EAX] = e->eax;
		out[EBX] = e->ebx;
		out[ECX] = e->ecx;
		out[EDX] = e->edx;
		runtime_bits(cpu, cpu->cpuid, cpu->cpuid_nent, e, out);
		return;
	}
	out[EAX] = out[EBX] = out[ECX] = out[EDX] = 0;
	/* SDM: for leaves 0xB and 0x1F, ECX[7:0] echoes the subleaf and EDX
	 * is the x2APIC id even past the last level; the leaf exists iff its
	 * subleaf 1 does. */
	if (fn == 0xb || fn == 0x1f) {
		e = x86_cpuid_find(cpu, fn, 1);
		if (e) {
			out[ECX] = idx & 0xff;
			out[EDX] = e->edx;
		}
	}
}

bool x86_cpuid_has(const struct x86_cpu *cpu, u32 fn, u32 idx, int reg, int bit)
{
	const struct x86_cpuid_entry *e = x86_cpuid_find(cpu, fn, idx);
	if (!e || reg < 0 || reg > 3 || bit < 0 || bit > 31)
		return false;
	const u32 r[4] = {e->eax, e->ebx, e->ecx, e->edx};
	return r[reg] & (1u << bit);
}
