/* Power-on and INIT state (SDM Vol. 3A, 9.1.1, Table 9-1), as KVM builds it. */
#include <string.h>
#include <linux/kvm.h>

#include "x86/cpu.h"
#include "x86/msr.h"

static void seg_reset(struct x86_seg *s, u16 sel, u64 base, u8 type)
{
	*s = (struct x86_seg){.base = base, .limit = 0xffff, .sel = sel,
			      .type = type, .s = 1, .present = 1};
}

void x86_cpu_reset(struct x86_cpu *cpu, bool init_only)
{
	const struct x86_cpuid_entry *e1 = x86_cpuid_find(cpu, 1, 0);

	memset(cpu->gpr, 0, sizeof(cpu->gpr));
	/* EDX holds the processor signature; KVM uses 0x600 without CPUID. */
	cpu->gpr[R_RDX] = e1 ? e1->eax : 0x600;
	cpu->rip = 0xfff0;
	cpu->rflags = X86_FL_FIXED1;

	for (int i = 0; i < S_NR; i++)
		seg_reset(&cpu->seg[i], 0, 0, 3);
	seg_reset(&cpu->seg[S_CS], 0xf000, 0xffff0000, 0xb);
	cpu->ldt = (struct x86_seg){.limit = 0xffff, .type = 2, .present = 1};
	cpu->tr = (struct x86_seg){.limit = 0xffff, .type = 0xb, .present = 1};
	cpu->gdt = (struct x86_dtable){.limit = 0xffff};
	cpu->idt = (struct x86_dtable){.limit = 0xffff};

	/* INIT keeps CD/NW; power-on sets them (and ET, hardwired on). */
	cpu->cr0 = X86_CR0_ET | (init_only ? cpu->cr0 & (X86_CR0_CD | X86_CR0_NW)
					   : X86_CR0_CD | X86_CR0_NW);
	cpu->cr2 = cpu->cr3 = cpu->cr4 = cpu->cr8 = 0;
	cpu->efer = 0;
	memset(cpu->dr, 0, sizeof(cpu->dr));
	cpu->dr6 = 0xffff0ff0;
	cpu->dr7 = 0x400;

	memset(&cpu->ev, 0, sizeof(cpu->ev));
	cpu->int_shadow = 0;

	if (!init_only) {
		/*
		 * x87/SSE state is not touched by INIT (SDM 9.1.1).  KVM's guest
		 * FPU buffer starts zeroed but for FCW, with XSTATE_BV clear:
		 * KVM_GET_FPU shows MXCSR 0 while KVM_GET_XSAVE shows the init
		 * state (MXCSR 0x1f80), and so do we.  Without XSAVE there is
		 * only the FXSAVE image, initialised as FNINIT plus the MXCSR
		 * power-on value (SDM 9.1.1, Table 9-1).
		 */
		memset(&cpu->xsave, 0, sizeof(cpu->xsave));
		cpu->xsave.fx.fcw = 0x37f;
		if (!x86_xsave_supported()) {
			cpu->xsave.fx.mxcsr = 0x1f80;
			cpu->xsave.fx.mxcsr_mask = X86_MXCSR_MASK;
		}
		cpu->xcr0 = X86_XFEATURE_FP;
		memset(&cpu->msr, 0, sizeof(cpu->msr));
		x86_msr_reset(cpu);
		cpu->apic_base = X86_APIC_BASE_DEFAULT | X86_APIC_BASE_EN |
				 (cpu->bsp ? X86_APIC_BASE_BSP : 0);
		cpu->tsc_khz = x86_host_tsc_khz();
	}
	/* Without an in-kernel LAPIC every vCPU starts runnable, as in KVM. */
	cpu->mp_state = KVM_MP_STATE_RUNNABLE;
}

const struct x86_cpuid_entry *x86_cpuid_find(const struct x86_cpu *cpu, u32 fn,
					     u32 idx)
{
	for (u32 i = 0; i < cpu->cpuid_nent; i++) {
		const struct x86_cpuid_entry *e = &cpu->cpuid[i];
		if (e->function == fn &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == idx))
			return e;
	}
	return NULL;
}
