/*
 * The virtual x86-64 CPU: architectural state and the narrow interface
 * through which it sees the world (see docs/design.md).
 *
 * x86/ knows nothing of fds or ioctls: kvm/ converts between these structs and
 * the <linux/kvm.h> ABI.  Engine-private state (decoded blocks, soft TLB) hangs
 * off `engine` and is owned by the execution files.
 */
#ifndef SOFTKVM_X86_CPU_H
#define SOFTKVM_X86_CPU_H

#include <stdatomic.h>

#include "common.h"

enum { R_RAX, R_RCX, R_RDX, R_RBX, R_RSP, R_RBP, R_RSI, R_RDI,
       R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15 };
enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_NR };

/* A segment register with its hidden part, field for field kvm_segment. */
struct x86_seg {
	u64 base;
	u32 limit;	/* byte granular (already scaled by G) */
	u16 sel;
	u8 type, s, dpl, present, db, l, g, avl, unusable;
};

struct x86_dtable {
	u64 base;
	u16 limit;
};

/* CR0 */
#define X86_CR0_PE BIT(0)
#define X86_CR0_MP BIT(1)
#define X86_CR0_EM BIT(2)
#define X86_CR0_TS BIT(3)
#define X86_CR0_ET BIT(4)
#define X86_CR0_NE BIT(5)
#define X86_CR0_WP BIT(16)
#define X86_CR0_AM BIT(18)
#define X86_CR0_NW BIT(29)
#define X86_CR0_CD BIT(30)
#define X86_CR0_PG BIT(31)
/* CR4 */
#define X86_CR4_VME BIT(0)
#define X86_CR4_PVI BIT(1)
#define X86_CR4_TSD BIT(2)
#define X86_CR4_DE BIT(3)
#define X86_CR4_PSE BIT(4)
#define X86_CR4_PAE BIT(5)
#define X86_CR4_MCE BIT(6)
#define X86_CR4_PGE BIT(7)
#define X86_CR4_PCE BIT(8)
#define X86_CR4_OSFXSR BIT(9)
#define X86_CR4_OSXMMEXCPT BIT(10)
#define X86_CR4_UMIP BIT(11)
#define X86_CR4_LA57 BIT(12)
#define X86_CR4_VMXE BIT(13)
#define X86_CR4_SMXE BIT(14)
#define X86_CR4_FSGSBASE BIT(16)
#define X86_CR4_PCIDE BIT(17)
#define X86_CR4_OSXSAVE BIT(18)
#define X86_CR4_SMEP BIT(20)
#define X86_CR4_SMAP BIT(21)
#define X86_CR4_PKE BIT(22)
/* EFER */
#define X86_EFER_SCE BIT(0)
#define X86_EFER_LME BIT(8)
#define X86_EFER_LMA BIT(10)
#define X86_EFER_NXE BIT(11)
#define X86_EFER_SVME BIT(12)
#define X86_EFER_FFXSR BIT(14)
/* RFLAGS */
#define X86_FL_CF BIT(0)
#define X86_FL_FIXED1 BIT(1)
#define X86_FL_PF BIT(2)
#define X86_FL_AF BIT(4)
#define X86_FL_ZF BIT(6)
#define X86_FL_SF BIT(7)
#define X86_FL_TF BIT(8)
#define X86_FL_IF BIT(9)
#define X86_FL_DF BIT(10)
#define X86_FL_OF BIT(11)
#define X86_FL_IOPL (3ULL << 12)
#define X86_FL_NT BIT(14)
#define X86_FL_RF BIT(16)
#define X86_FL_VM BIT(17)
#define X86_FL_AC BIT(18)
#define X86_FL_VIF BIT(19)
#define X86_FL_VIP BIT(20)
#define X86_FL_ID BIT(21)

#define X86_APIC_BASE_DEFAULT 0xfee00000ULL
#define X86_APIC_BASE_BSP BIT(8)
#define X86_APIC_BASE_EXTD BIT(10)
#define X86_APIC_BASE_EN BIT(11)

/* The FXSAVE image (legacy region of XSAVE), 512 bytes. */
struct x86_fxsave {
	u16 fcw, fsw;
	u8 ftw, rsvd1; /* abridged tag */
	u16 fop;
	u64 fip, fdp;
	u32 mxcsr, mxcsr_mask;
	u8 st[8][16];
	u8 xmm[16][16];
	u8 rsvd2[96];
};

#define X86_XSAVE_AREA 4096 /* the size of struct kvm_xsave's region */

/* XSAVE state components (SDM Vol. 1, 13.1) and the standard-format layout. */
#define X86_XFEATURE_FP BIT(0)
#define X86_XFEATURE_SSE BIT(1)
#define X86_XFEATURE_YMM BIT(2)
/* Components the state code knows; x86_xcr0_supported() says which the
 * CPU model offers. */
#define X86_XCR0_SUPPORTED (X86_XFEATURE_FP | X86_XFEATURE_SSE | X86_XFEATURE_YMM)
#define X86_XSAVE_HDR 512	/* XSTATE_BV, XCOMP_BV, 48 reserved bytes */
#define X86_XSAVE_YMM 576	/* upper halves of YMM0-15, 256 bytes */
#define X86_MXCSR_MASK 0xffffU	/* MXCSR bits the CPU implements (DAZ included) */

/* Pending and injected events, the content of struct kvm_vcpu_events. */
struct x86_events {
	struct {
		u8 injected, pending, nr, has_error_code;
		u32 error_code;
		u8 has_payload;
		u64 payload;
	} exception;
	struct {
		u8 injected, nr, soft, shadow;
	} interrupt;
	struct {
		u8 injected, pending, masked;
	} nmi;
	u32 sipi_vector;
	struct {
		u8 smm, pending, smm_inside_nmi, latched_init;
	} smi;
	u8 triple_fault_pending;
};

/* MSR values the CPU keeps (the MSR layer in x86/msr.c owns their rules). */
struct x86_msrs {
	u64 star, lstar, cstar, sfmask, kernel_gs_base;
	u64 sysenter_cs, sysenter_esp, sysenter_eip;
	u64 tsc_offset; /* guest TSC = host-derived clock + tsc_offset */
	u64 tsc_adjust, tsc_aux, tsc_deadline;
	u64 pat, misc_enable, spec_ctrl, xss;
	u64 mtrr_def_type, mtrr_fixed[11], mtrr_var[16]; /* base/mask pairs */
	u64 mcg_cap, mcg_status, mcg_ctl, mce_banks[32 * 4], mce_ctl2[32];
	u64 kvm_wall_clock, kvm_system_time, kvm_async_pf_en, kvm_steal_time,
		kvm_pv_eoi_en, kvm_poll_control;
	u64 platform_info, ucode_rev, arch_capabilities, smbase;
	u64 smi_count;
	u64 power_ctl; /* MSR_IA32_POWER_CTL: storage, as KVM */
	u64 hwcr;      /* MSR_K7_HWCR: McStatusWrEn only */
};

/*
 * An in-kernel local APIC behind the CPU (kvm/ attaches one when the VM has
 * KVM_CREATE_IRQCHIP; apic_ops NULL without).  The CPU reaches it only
 * through these calls, never its state (docs/design.md).
 */
struct x86_apic_ops {
	/* x2APIC MSRs 0x800-0x8ff and IA32_TSC_DEADLINE: 0, or -1 (#GP) */
	int (*msr_get)(void *apic, u32 index, u64 *val);
	int (*msr_set)(void *apic, u32 index, u64 val);
	/* IA32_APIC_BASE took a value the MSR layer found legal */
	void (*base_set)(void *apic, u64 base);
	/* CR8 = TPR bits 7:4 */
	u64 (*cr8_get)(void *apic);
	void (*cr8_set)(void *apic, u64 cr8);
	/* INTA with IF set: the vector of the interrupt to take now, or -1.
	 * Asked at block boundaries while intr_hint is set. */
	int (*intr_ack)(void *apic);
};

/*
 * The KVM paravirtual interface behind the CPU (kvm/pvclock.c: kvmclock
 * and hypercalls); pv_ops NULL without one (VMCALL is then #UD).
 */
struct x86_pv_ops {
	/* MSR_KVM_WALL_CLOCK(_NEW): the VM's wall-clock address, written to
	 * the guest at once */
	void (*wall_clock_set)(void *pv, u64 gpa);
	u64 (*wall_clock_get)(void *pv);
	/* msr.kvm_system_time or the guest TSC changed: the pvclock page
	 * needs rewriting, `now` before the guest goes on */
	void (*clock_changed)(void *pv, bool now);
	/* VMCALL/VMMCALL at CPL 0: nr and a[0..3] from RAX, RBX, RCX, RDX,
	 * RSI (truncated outside 64-bit mode); the result for RAX */
	u64 (*hypercall)(void *pv, u64 nr, const u64 a[4], bool op64);
	/* the guest enabled MSR_KVM_STEAL_TIME: fill the record before it
	 * goes on */
	void (*steal_time_enabled)(void *pv);
	/* MSR_KVM_PV_EOI_EN is to take val: false if its address is not
	 * guest memory */
	bool (*pv_eoi_set)(void *pv, u64 val);
};

struct x86_cpuid_entry {
	u32 function, index, flags, eax, ebx, ecx, edx;
};

struct x86_cpu {
	/* General state; rflags through x86_get_rflags/x86_set_rflags, which the
	 * engine may implement with lazy flags. */
	u64 gpr[16];
	u64 rip;
	u64 rflags;

	struct x86_seg seg[S_NR], ldt, tr;
	struct x86_dtable gdt, idt;
	u64 cr0, cr2, cr3, cr4, cr8, efer, apic_base;
	u64 dr[4], dr6, dr7;
	u64 xcr0;

	/* x87/SSE/AVX state in the standard (non-compacted) XSAVE layout;
	 * the first 512 bytes are the FXSAVE image.  XSTATE_BV at
	 * X86_XSAVE_HDR says which components are live, as in the kernel's
	 * guest FPU buffer: KVM_GET_XSAVE reports the init state for the
	 * others, so whatever modifies a component must set its bit. */
	union {
		struct x86_fxsave fx;
		u8 bytes[X86_XSAVE_AREA];
	} xsave __attribute__((aligned(64)));

	struct x86_msrs msr;
	struct x86_events ev;
	u32 mp_state;	/* KVM_MP_STATE_* */
	u32 vcpu_id;	/* also the initial APIC id */
	bool bsp;	/* vcpu_id is the VM's boot CPU id (KVM_SET_BOOT_CPU_ID) */
	/* KVM_CAP_MSR_PLATFORM_INFO turned off: the guest's RDMSR 0xce #GPs */
	bool platform_info_hidden;
	u8 int_shadow;	/* KVM_X86_SHADOW_INT_* */
	u64 guest_debug; /* KVM_SET_GUEST_DEBUG control flags */
	u64 guest_debug_db[8]; /* its arch.debugreg[] */

	/* The guest's CPUID (KVM_SET_CPUID2); the engine answers CPUID from it. */
	struct x86_cpuid_entry *cpuid;
	u32 cpuid_nent;

	u64 tsc_khz;
	struct x86_tsc_sync *tsc_sync; /* shared by the VM's vCPUs (x86/tsc.c) */

	void *engine; /* owned by the execution engine */
	/* The vCPU's dirty ring when the VM uses one (set by kvm/): guest
	 * writes to logged pages are pushed there (mem/dirty_ring.h). */
	struct mem_dirty_ring *dirty_ring;
	/* Dirty-log re-arming (mem->dirty_epoch): in_guest while x86_run
	 * runs; dirty_ack, the epoch whose re-arm this vCPU has honoured by
	 * dropping its write-TLB entries. */
	_Atomic bool in_guest;
	_Atomic u64 dirty_ack;
	/* Moved by whoever changes this state outside x86_run (the VMM's
	 * state ioctls): the soft TLB is kept from one run to the next
	 * only while it stays put (x86_run, tlb_kept). */
	u32 state_gen;

	const struct x86_apic_ops *apic_ops;
	void *apic;
	const struct x86_pv_ops *pv_ops;
	void *pv;
	bool pv_enforce; /* KVM_CAP_ENFORCE_PV_FEATURE_CPUID */
	/* Deterministic mode: the VM's virtual clock (ns), advanced by the
	 * engine for each retired instruction; NULL otherwise (x86/tsc.c) */
	_Atomic u64 *vclock;
#define X86_DET_NS_PER_INSN 1
	/* Non-zero: the APIC may have an interrupt (set by whoever makes one
	 * pending, cleared by intr_ack when there is none). */
	_Atomic int intr_hint;
};

/* The x86 reset state (SDM Vol. 3 9.1.1), as KVM sets up a new vCPU. */
void x86_cpu_reset(struct x86_cpu *cpu, bool init_only);

static inline u64 x86_get_rflags(const struct x86_cpu *cpu)
{
	return cpu->rflags;
}

static inline void x86_set_rflags(struct x86_cpu *cpu, u64 v)
{
	cpu->rflags = v | X86_FL_FIXED1;
}

/* CR8: the APIC's TPR class with an in-kernel APIC, else a plain register. */
static inline u64 x86_get_cr8(const struct x86_cpu *cpu)
{
	return cpu->apic_ops ? cpu->apic_ops->cr8_get(cpu->apic) : cpu->cr8;
}

static inline void x86_set_cr8(struct x86_cpu *cpu, u64 v)
{
	if (cpu->apic_ops)
		cpu->apic_ops->cr8_set(cpu->apic, v);
	else
		cpu->cr8 = v;
}

/* Find a CPUID entry in the guest table, honouring KVM_CPUID_FLAG_SIGNIFCANT_INDEX. */
const struct x86_cpuid_entry *x86_cpuid_find(const struct x86_cpu *cpu, u32 fn,
					     u32 idx);

/* Engine interface to the outside world: kvm/ fills it per vCPU. */
struct x86_mem_ops; /* defined with the engine */

#endif
