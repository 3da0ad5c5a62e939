/*
 * System instructions: control and debug registers, descriptor tables,
 * MSRs, CPUID, TSC, HLT, SYSCALL/SYSRET, SWAPGS.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <linux/kvm_para.h>

#include "x86/exec.h"
#include "x86/cpuid.h"
#include "x86/msr.h"

static void need_cpl0(struct engine *e)
{
	if (e->mode != M_REAL && e->cpl)
		raise_exc(e, EXC_GP, 0);
}

void op_hlt(struct engine *e, const struct insn *i)
{
	(void)i;
	need_cpl0(e);
	e->exit->reason = X86_EXIT_HLT;
}

void op_wbinvd(struct engine *e, const struct insn *i)
{
	(void)i;
	need_cpl0(e);
}

void op_cpuid(struct engine *e, const struct insn *i)
{
	(void)i;
	e->code_epoch++; /* serializing: cross-modified code is seen */
	struct x86_cpu *c = e->cpu;
	u32 out[4];
	x86_cpuid_query(c, (u32)c->gpr[R_RAX], (u32)c->gpr[R_RCX], out);
	c->gpr[R_RAX] = out[0];
	c->gpr[R_RBX] = out[1];
	c->gpr[R_RCX] = out[2];
	c->gpr[R_RDX] = out[3];
}

static void tsc_check(struct engine *e)
{
	if ((e->cpu->cr4 & X86_CR4_TSD) && e->cpl && e->mode != M_REAL)
		raise_exc(e, EXC_GP, 0);
}

void op_rdtsc(struct engine *e, const struct insn *i)
{
	(void)i;
	tsc_check(e);
	u64 t = x86_tsc_read(e->cpu);
	e->cpu->gpr[R_RAX] = (u32)t;
	e->cpu->gpr[R_RDX] = t >> 32;
}

void op_rdtscp(struct engine *e, const struct insn *i)
{
	if (!x86_cpuid_has(e->cpu, 0x80000001, 0, 3, 27))
		raise_exc(e, EXC_UD, NO_ERR);
	op_rdtsc(e, i);
	e->cpu->gpr[R_RCX] = (u32)e->cpu->msr.tsc_aux;
}

/* RDPID (F3 0F C7 /7, register form): IA32_TSC_AUX into r64 in 64-bit
 * mode, r32 elsewhere; any CPL; #UD without CPUID.7.0:ECX.RDPID. */
void op_rdpid(struct engine *e, const struct insn *i)
{
	if (!x86_cpuid_has(e->cpu, 7, 0, 2, 22))
		raise_exc(e, EXC_UD, NO_ERR);
	u64 v = e->cpu->msr.tsc_aux;
	e->cpu->gpr[i->rm] = e->code64 ? v : (u32)v;
}

/*
 * VMCALL / VMMCALL: KVM's hypercall (Documentation/virt/kvm/x86/
 * hypercalls.rst, kvm_emulate_hypercall).  Either instruction works on
 * either vendor, as KVM's default FIX_HYPERCALL_INSN quirk makes it.  The
 * number is in RAX, arguments in RBX, RCX, RDX, RSI, all truncated to 32
 * bits outside 64-bit code; the result goes to RAX; -KVM_EPERM above CPL 0.
 * Without the PV interface (no KVM layer) they are #UD, as on bare metal.
 */
void op_vmcall(struct engine *e, const struct insn *i)
{
	(void)i;
	struct x86_cpu *c = e->cpu;
	if (!c->pv_ops)
		raise_exc(e, EXC_UD, NO_ERR);
	bool op64 = e->mode == M_LONG && e->code64;
	u64 m = op64 ? ~0ULL : 0xffffffffULL;
	u64 a[4] = {c->gpr[R_RBX] & m, c->gpr[R_RCX] & m, c->gpr[R_RDX] & m, c->gpr[R_RSI] & m};
	u64 r;
	if (e->mode != M_REAL && e->cpl)
		r = (u64)-KVM_EPERM;
	else
		r = c->pv_ops->hypercall(c->pv, c->gpr[R_RAX] & m, a, op64);
	c->gpr[R_RAX] = r & m;
}

/* ---- control registers (SDM Vol. 3A 2.5, and the MOV CR #GP list) ---- */

/* MAXPHYADDR by the one rule the MSR layer and the MMU use too. */
static u64 phys_bits_mask(struct engine *e)
{
	u32 pb = x86_maxphyaddr(e->cpu);
	return pb >= 64 ? ~0ULL : (1ULL << pb) - 1;
}

void cr_write(struct engine *e, int cr, u64 v)
{
	struct x86_cpu *c = e->cpu;
	switch (cr) {
	case 0: {
		u64 old = c->cr0;
		/* the MSR layer's CR rules, shared with KVM_SET_SREGS */
		if (!x86_cr0_valid(c, v))
			raise_exc(e, EXC_GP, 0);
		v |= X86_CR0_ET;
		bool pg_on = (v & X86_CR0_PG) && !(old & X86_CR0_PG);
		bool pg_off = !(v & X86_CR0_PG) && (old & X86_CR0_PG);
		if (pg_on && (c->efer & X86_EFER_LME)) {
			if (!(c->cr4 & X86_CR4_PAE) || c->seg[S_CS].l)
				raise_exc(e, EXC_GP, 0);
			c->efer |= X86_EFER_LMA;
		}
		if (pg_off && (c->cr4 & X86_CR4_PCIDE))
			raise_exc(e, EXC_GP, 0); /* SDM MOV CR: PG cleared with PCIDE */
		if (pg_off && (c->efer & X86_EFER_LMA)) {
			if (e->code64)
				raise_exc(e, EXC_GP, 0);
			c->efer &= ~X86_EFER_LMA;
		}
		if ((v & X86_CR0_PG) && !(old & X86_CR0_PG) && (c->cr4 & X86_CR4_PAE) &&
		    !(c->efer & X86_EFER_LMA)) {
			/* PAE PDPTEs are loaded here; mmu.c reads them on walks */
		}
		c->cr0 = v;
		if ((old ^ v) & (X86_CR0_PG | X86_CR0_WP | X86_CR0_PE))
			tlb_flush(e);
		mode_update(e);
		break;
	}
	case 2:
		c->cr2 = v;
		break;
	case 3:
		/* with CR4.PCIDE, bit 63 is the no-flush hint (we flush
		 * anyway) and not stored; without, it is reserved */
		if (c->cr4 & X86_CR4_PCIDE)
			v &= ~BIT(63);
		if ((c->efer & X86_EFER_LMA) && (v & ~phys_bits_mask(e)))
			raise_exc(e, EXC_GP, 0);
		c->cr3 = v;
		tlb_flush_nonglobal(e);
		break;
	case 4: {
		u64 old = c->cr4;
		if (!x86_cr4_valid(c, v))
			raise_exc(e, EXC_GP, 0);
		if ((c->efer & X86_EFER_LMA) && !(v & X86_CR4_PAE))
			raise_exc(e, EXC_GP, 0);
		if ((c->efer & X86_EFER_LMA) && ((old ^ v) & X86_CR4_LA57))
			raise_exc(e, EXC_GP, 0);
		/* PCIDE may be set only with CR3[11:0] = 0 in long mode */
		if ((v & X86_CR4_PCIDE) && !(old & X86_CR4_PCIDE) &&
		    (!(c->efer & X86_EFER_LMA) || (c->cr3 & 0xfff)))
			raise_exc(e, EXC_GP, 0);
		c->cr4 = v;
		if ((old ^ v) & (X86_CR4_PGE | X86_CR4_PAE | X86_CR4_PSE | X86_CR4_SMEP |
				 X86_CR4_SMAP | X86_CR4_PCIDE | X86_CR4_LA57 | X86_CR4_PKE))
			tlb_flush(e);
		break;
	}
	case 8:
		if (v >> 4)
			raise_exc(e, EXC_GP, 0);
		x86_set_cr8(c, v);
		break;
	default:
		raise_exc(e, EXC_UD, NO_ERR);
	}
}

/* MOV to/from CRn: op 1 = write.  The operand is always a register, 64-bit
 * in 64-bit mode, 32-bit otherwise. */
void op_mov_cr(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	int cr = i->reg, size = e->code64 ? 8 : 4;
	if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8)
		raise_exc(e, EXC_UD, NO_ERR);
	if (cr == 8 && !e->code64 && !(e->mode == M_LONG))
		raise_exc(e, EXC_UD, NO_ERR);
	need_cpl0(e);
	if (i->op) {
		cr_write(e, cr, reg_get(e, i->rm, size));
		return;
	}
	u64 v = cr == 0 ? c->cr0 : cr == 2 ? c->cr2 : cr == 3 ? c->cr3 :
		cr == 4 ? c->cr4 : x86_get_cr8(c);
	reg_set(e, i->rm, size, v);
}

void op_mov_dr(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	int dr = i->reg, size = e->code64 ? 8 : 4;
	if (dr > 7)
		raise_exc(e, EXC_UD, NO_ERR);
	need_cpl0(e);
	if (dr == 4 || dr == 5) {
		if (c->cr4 & X86_CR4_DE)
			raise_exc(e, EXC_UD, NO_ERR);
		dr += 2;
	}
	debug_general_detect(e); /* after #UD and #GP, as KVM's handle_dr */
	if (!i->op) {
		u64 v = dr < 4 ? c->dr[dr] : dr == 6 ? c->dr6 : c->dr7;
		reg_set(e, i->rm, size, v);
		return;
	}
	u64 v = reg_get(e, i->rm, size);
	if (dr >= 6 && (v >> 32))
		raise_exc(e, EXC_GP, 0);
	if (dr < 4)
		c->dr[dr] = v;
	else if (dr == 6)
		c->dr6 = (v & 0x1e00f) | 0xffff0ff0; /* reserved bits read as 1/0 */
	else
		c->dr7 = (v & 0xffff2fff) | 0x400;
	if (dr != 6)
		debug_update(e); /* breakpoints armed or moved */
}

void op_clts(struct engine *e, const struct insn *i)
{
	(void)i;
	need_cpl0(e);
	e->cpu->cr0 &= ~X86_CR0_TS;
}

void op_smsw(struct engine *e, const struct insn *i)
{
	if ((e->cpu->cr4 & X86_CR4_UMIP) && e->cpl)
		raise_exc(e, EXC_GP, 0);
	if (i->mem)
		mem_write(e, i->seg, ea_offset(e, i), 2, e->cpu->cr0);
	else
		reg_set(e, i->rm, i->osz, e->cpu->cr0);
}

/* LMSW loads PE, MP, EM, TS; it can set PE but never clear it. */
void op_lmsw(struct engine *e, const struct insn *i)
{
	need_cpl0(e);
	u64 v = rm_read(e, i, 2) & 0xf;
	u64 cr0 = (e->cpu->cr0 & ~0xeULL) | v | (e->cpu->cr0 & X86_CR0_PE);
	cr_write(e, 0, cr0);
}

/* The operand's linear address, without segment checks (INVLPG never
 * faults on it; a non-canonical one is a no-op). */
void op_invlpg(struct engine *e, const struct insn *i)
{
	need_cpl0(e);
	u64 off = ea_offset(e, i);
	const struct x86_seg *s = &e->cpu->seg[i->seg];
	u64 la = e->code64 ? ((i->seg == S_FS || i->seg == S_GS) ? s->base : 0) + off
			   : (u32)(s->base + off);
	tlb_flush_page(e, la);
}

/*
 * INVPCID (SDM Vol. 2A): the type in a register (64 bits in 64-bit mode,
 * else 32), a 16-byte descriptor in memory (PCID in bits 11:0, 63:12
 * reserved, the linear address in 127:64).  The soft TLB does not tag
 * entries with a PCID, so each type drops its set for every PCID: a
 * superset of what it must invalidate, which the SDM allows.
 */
void op_invpcid(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	if (!x86_cpuid_has(c, 7, 0, 1, 10) || !i->mem)
		raise_exc(e, EXC_UD, NO_ERR);
	need_cpl0(e);
	u64 type = reg_get(e, i->reg, e->code64 ? 8 : 4);
	u64 off = ea_offset(e, i);
	u64 lo = mem_read(e, i->seg, off, 8);
	u64 la = mem_read(e, i->seg, (off + 8) & size_mask(i->asz), 8);
	if (type > 3 || (lo >> 12))
		raise_exc(e, EXC_GP, 0);
	if (type <= 1 && (lo & 0xfff) && !(c->cr4 & X86_CR4_PCIDE))
		raise_exc(e, EXC_GP, 0);
	/* the CPU's own width, not the paging mode's (as INVLPG, KVM's
	 * is_noncanonical_invlpg_address) */
	if (type == 0 && !x86_canonical(c, la))
		raise_exc(e, EXC_GP, 0);
	if (type == 0)
		tlb_flush_page(e, la); /* individual address */
	else if (type == 2)
		tlb_flush(e); /* all contexts, global entries too */
	else
		tlb_flush_nonglobal(e); /* single context, all but global */
}

/* ---- descriptor tables ---- */

void op_lgdt_lidt(struct engine *e, const struct insn *i)
{
	need_cpl0(e);
	u64 off = ea_offset(e, i);
	u16 limit = (u16)mem_read(e, i->seg, off, 2);
	u64 base = mem_read(e, i->seg, (off + 2) & size_mask(i->asz), e->code64 ? 8 : 4);
	if (e->code64) {
		/* a static check: the CPU's linear-address width whatever
		 * CR4.LA57 says (KVM's is_noncanonical_base_address) */
		if (!x86_canonical(e->cpu, base))
			raise_exc(e, EXC_GP, 0);
	} else if (i->osz == 2) {
		base &= 0xffffff;
	}
	struct x86_dtable *t = i->op ? &e->cpu->idt : &e->cpu->gdt;
	t->limit = limit;
	t->base = base;
}

void op_sgdt_sidt(struct engine *e, const struct insn *i)
{
	if ((e->cpu->cr4 & X86_CR4_UMIP) && e->cpl)
		raise_exc(e, EXC_GP, 0);
	const struct x86_dtable *t = i->op ? &e->cpu->idt : &e->cpu->gdt;
	u64 off = ea_offset(e, i);
	int bsz = e->code64 ? 8 : 4;
	/* check both parts before writing either */
	seg_linear(e, i->seg, off, 2 + bsz, true);
	mem_write(e, i->seg, off, 2, t->limit);
	mem_write(e, i->seg, (off + 2) & size_mask(i->asz), bsz, t->base);
}

void op_sldt_str(struct engine *e, const struct insn *i)
{
	if (e->mode == M_REAL || e->vm86)
		raise_exc(e, EXC_UD, NO_ERR);
	if ((e->cpu->cr4 & X86_CR4_UMIP) && e->cpl)
		raise_exc(e, EXC_GP, 0);
	u16 sel = i->op ? e->cpu->tr.sel : e->cpu->ldt.sel;
	if (i->mem)
		mem_write(e, i->seg, ea_offset(e, i), 2, sel);
	else
		reg_set(e, i->rm, i->osz, sel);
}

/* LLDT (op 0) / LTR (op 1): system descriptors from the GDT, 16 bytes in
 * long mode; LTR marks the TSS busy. */
void op_lldt_ltr(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	if (e->mode == M_REAL || e->vm86)
		raise_exc(e, EXC_UD, NO_ERR);
	need_cpl0(e);
	u16 sel = (u16)rm_read(e, i, 2);
	struct x86_seg *dst = i->op ? &c->tr : &c->ldt;
	if (!(sel & ~3)) {
		if (i->op)
			raise_exc(e, EXC_GP, 0);
		*dst = (struct x86_seg){.sel = sel, .unusable = 1};
		return;
	}
	if ((sel & 4) || (sel | 7) > c->gdt.limit ||
	    (e->mode == M_LONG && (sel | 7) + 8 > c->gdt.limit))
		raise_exc(e, EXC_GP, sel & ~3);
	u8 save = e->cpl;
	e->cpl = 0;
	u64 addr = c->gdt.base + (sel & ~7);
	if (e->mode != M_LONG)
		addr = (u32)addr;
	u64 d = mem_read_la(e, addr, 8, 0);
	u64 hi = e->mode == M_LONG ? mem_read_la(e, addr + 8, 8, 0) : 0;
	e->cpl = save;
	u8 type = (d >> 40) & 0xf, s = (d >> 44) & 1;
	bool ok = !s && (i->op ? (type == 9 || (type == 1 && e->mode != M_LONG)) : type == 2);
	if (!ok)
		raise_exc(e, EXC_GP, sel & ~3);
	if (!((d >> 47) & 1))
		raise_exc(e, EXC_NP, sel & ~3);
	/* a 64-bit base must be canonical (the CPU's width, as LGDT) */
	if (e->mode == M_LONG &&
	    !x86_canonical(c, ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24) | (hi << 32)))
		raise_exc(e, EXC_GP, sel & ~3);
	struct x86_seg n = {
		.sel = sel,
		.limit = (u32)((d & 0xffff) | ((d >> 32) & 0xf0000)),
		.base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24) | (hi << 32),
		.type = type,
		.dpl = (d >> 45) & 3,
		.present = 1,
		.avl = (d >> 52) & 1,
		.g = (d >> 55) & 1,
	};
	if (n.g)
		n.limit = (n.limit << 12) | 0xfff;
	if (i->op) {
		n.type |= 2;
		e->cpl = 0;
		mem_write_la(e, addr + 5, 1, (d >> 40) | 2);
		e->cpl = save;
	}
	*dst = n;
}

/* ARPL r/m16, r16 (SDM Vol. 2A): raise the destination selector's RPL to
 * the source's, ZF saying whether it did; the operand size is always 16
 * bits, and the destination is written only when it changes.  #UD in
 * real-address and virtual-8086 mode. */
void op_arpl(struct engine *e, const struct insn *i)
{
	if (e->mode == M_REAL || e->vm86)
		raise_exc(e, EXC_UD, NO_ERR);
	u16 dst = (u16)rm_read(e, i, 2), src = (u16)reg_get(e, i->reg, 2);
	bool adjust = (dst & 3) < (src & 3);
	if (adjust)
		rm_write(e, i, 2, (dst & ~3u) | (src & 3u));
	u64 fl = flags_get(e) & ~X86_FL_ZF;
	flags_set(e, fl | (adjust ? X86_FL_ZF : 0));
}

/* VERR (op 0) / VERW (op 1), SDM Vol. 2B: ZF says whether the segment
 * is readable / writable at the current CPL and the selector's RPL; only
 * reading the operand faults.  Linux's MDS mitigation runs VERW on every
 * return to user space. */
void op_verr_verw(struct engine *e, const struct insn *i)
{
	if (e->mode == M_REAL || e->vm86)
		raise_exc(e, EXC_UD, NO_ERR);
	u16 sel = (u16)rm_read(e, i, 2);
	u64 d;
	bool ok = false;
	u8 save = e->cpl;
	e->cpl = 0; /* descriptor tables are read as supervisor data */
	bool found = desc_lookup(e, sel, &d);
	e->cpl = save;
	if (found && ((d >> 44) & 1)) { /* code or data, not system */
		u8 type = (d >> 40) & 0xf, dpl = (d >> 45) & 3;
		bool code = type & 8, conforming = code && (type & 4);
		bool priv = conforming || (dpl >= e->cpl && dpl >= (sel & 3));
		if (i->op)
			ok = !code && (type & 2) && priv;
		else
			ok = (!code || (type & 2)) && priv;
	}
	u64 fl = flags_get(e) & ~X86_FL_ZF;
	flags_set(e, fl | (ok ? X86_FL_ZF : 0));
}

/* ---- MSRs ----
 *
 * As KVM's kvm_emulate_rdmsr/wrmsr: the VM's filter is asked first, then
 * the MSR layer.  A refusal becomes an exit to the VMM when it asked for
 * that reason with KVM_CAP_X86_USER_SPACE_MSR (FILTER for a filtered MSR,
 * UNKNOWN for one softkvm does not implement, INVAL for a rejected access),
 * otherwise #GP.  The instruction completes on the next KVM_RUN with the
 * VMM's msr.error / msr.data (x86_complete_msr).
 */

static int msr_access(struct engine *e, u32 index, u64 *val, bool write)
{
	const struct x86_env *env = e->env;
	if (env->msr_denied && env->msr_denied(env->msr_opaque, index, write))
		return KVM_MSR_EXIT_REASON_FILTER;
	int r = write ? x86_msr_set(e->cpu, index, *val, false)
		      : x86_msr_get(e->cpu, index, val, false);
	if (!r)
		return 0;
	return r == X86_MSR_UNKNOWN ? KVM_MSR_EXIT_REASON_UNKNOWN : KVM_MSR_EXIT_REASON_INVAL;
}

/* Returns with *val read or written; else #GP or an exit to the VMM. */
static void msr_insn(struct engine *e, u64 *val, bool write)
{
	struct x86_cpu *c = e->cpu;
	u32 index = (u32)c->gpr[R_RCX];
	if (e->pend_msr && e->msr_done) { /* the VMM answered */
		e->pend_msr = e->msr_done = 0;
		if (e->msr_error)
			raise_exc(e, EXC_GP, 0);
		*val = e->msr_data;
		return;
	}
	e->pend_msr = 0;
	int reason = msr_access(e, index, val, write);
	if (!reason)
		return;
	if (!(e->env->msr_exits & (u32)reason))
		raise_exc(e, EXC_GP, 0);
	struct x86_exit *x = e->exit;
	x->reason = X86_EXIT_MSR;
	x->msr.write = write;
	x->msr.reason = (u32)reason;
	x->msr.index = index;
	x->msr.data = write ? *val : 0;
	e->pend_msr = 1;
	unwind_exit(e);
}

void op_rdmsr(struct engine *e, const struct insn *i)
{
	(void)i;
	struct x86_cpu *c = e->cpu;
	need_cpl0(e);
	u64 v = 0;
	msr_insn(e, &v, false);
	c->gpr[R_RAX] = (u32)v;
	c->gpr[R_RDX] = v >> 32;
}

void op_wrmsr(struct engine *e, const struct insn *i)
{
	(void)i;
	struct x86_cpu *c = e->cpu;
	need_cpl0(e);
	u64 v = (u32)c->gpr[R_RAX] | (c->gpr[R_RDX] << 32);
	u64 efer = c->efer;
	msr_insn(e, &v, true);
	/* EFER, FS/GS bases and others live in *cpu: pick up any change */
	if (c->efer != efer)
		tlb_flush(e);
	mode_update(e);
}

/* ---- SYSCALL / SYSRET (SDM Vol. 2B) ---- */

static void flat_seg(struct x86_seg *s, u16 sel, bool code, bool l, u8 dpl)
{
	*s = (struct x86_seg){.sel = sel, .limit = 0xffffffff, .type = code ? 0xb : 0x3,
			      .s = 1, .dpl = dpl, .present = 1, .l = l, .db = !l,
			      .g = 1};
}

void op_syscall(struct engine *e, const struct insn *i)
{
	(void)i;
	struct x86_cpu *c = e->cpu;
	if (!(c->efer & X86_EFER_SCE) || e->mode == M_REAL)
		raise_exc(e, EXC_UD, NO_ERR);
	u16 sel = (c->msr.star >> 32) & 0xfffc;
	u64 fl = flags_get(e);
	if (e->mode == M_LONG) {
		c->gpr[R_RCX] = e->next_rip;
		c->gpr[R_R11] = fl & ~X86_FL_RF;
		e->next_rip = e->code64 ? c->msr.lstar : c->msr.cstar;
		flags_set(e, fl & ~c->msr.sfmask & ~X86_FL_RF);
		flat_seg(&c->seg[S_CS], sel, true, true, 0);
	} else {
		c->gpr[R_RCX] = (u32)e->next_rip;
		e->next_rip = (u32)c->msr.star;
		flags_set(e, fl & ~(X86_FL_VM | X86_FL_IF | X86_FL_RF));
		flat_seg(&c->seg[S_CS], sel, true, false, 0);
	}
	flat_seg(&c->seg[S_SS], sel + 8, false, false, 0);
	c->seg[S_SS].db = 1;
	mode_update(e);
}

void op_sysret(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	if (!(c->efer & X86_EFER_SCE))
		raise_exc(e, EXC_UD, NO_ERR);
	if (e->mode == M_REAL || e->cpl)
		raise_exc(e, EXC_GP, 0);
	u16 sel = (c->msr.star >> 48) & 0xffff;
	if (e->mode == M_LONG) {
		bool to64 = i->osz == 8;
		u64 rip = to64 ? c->gpr[R_RCX] : (u32)c->gpr[R_RCX];
		if (to64 && !canonical(e, rip))
			raise_exc(e, EXC_GP, 0);
		flags_set(e, (c->gpr[R_R11] & 0x3c7fd7) | X86_FL_FIXED1);
		flat_seg(&c->seg[S_CS], (to64 ? sel + 16 : sel) | 3, true, to64, 3);
		e->next_rip = rip;
	} else {
		flags_set(e, flags_get(e) | X86_FL_IF);
		flat_seg(&c->seg[S_CS], sel | 3, true, false, 3);
		e->next_rip = (u32)c->gpr[R_RCX];
	}
	/* SS keeps the fixed flat attributes, selector from STAR */
	flat_seg(&c->seg[S_SS], (sel + 8) | 3, false, false, 3);
	mode_update(e);
}

void op_swapgs(struct engine *e, const struct insn *i)
{
	(void)i;
	struct x86_cpu *c = e->cpu;
	need_cpl0(e);
	u64 t = c->seg[S_GS].base;
	c->seg[S_GS].base = c->msr.kernel_gs_base;
	c->msr.kernel_gs_base = t;
}

/*
 * RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE (F3 0F AE /0../3, register form;
 * op is ModRM.reg): 64-bit mode only, #UD outside it, without the CPUID
 * bit or with CR4.FSGSBASE clear, at any CPL.  A 32-bit operand size
 * zero-extends the base on RD*, and on WR* writes the low 32 bits with
 * the upper cleared; a non-canonical 64-bit WR* value is #GP(0).
 */
void op_fsgsbase(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	if (!e->code64 || !(c->cr4 & X86_CR4_FSGSBASE) || !x86_cpuid_has(c, 7, 0, 1, 0))
		raise_exc(e, EXC_UD, NO_ERR);
	u64 *base = &c->seg[i->op & 1 ? S_GS : S_FS].base;
	bool w64 = i->osz == 8;
	if (i->op < 2) {
		c->gpr[i->rm] = w64 ? *base : (u32)*base;
		return;
	}
	u64 v = w64 ? c->gpr[i->rm] : (u32)c->gpr[i->rm];
	if (!x86_canonical(c, v))
		raise_exc(e, EXC_GP, 0);
	*base = v;
}

/* CLAC (op 0) / STAC (op 1): #UD without SMAP in CPUID or above CPL 0. */
void op_stac_clac(struct engine *e, const struct insn *i)
{
	if (!x86_cpuid_has(e->cpu, 7, 0, 1, 20) || (e->mode != M_REAL && e->cpl))
		raise_exc(e, EXC_UD, NO_ERR);
	u64 fl = flags_get(e) & ~X86_FL_AC;
	flags_set(e, fl | (i->op ? X86_FL_AC : 0));
}

/* ---- SYSENTER / SYSEXIT (SDM Vol. 2B) ---- */

/* AMD processors raise #UD for both in long mode (APM Vol. 3). */
static bool amd_vendor(struct engine *e)
{
	u32 out[4];
	x86_cpuid_query(e->cpu, 0, 0, out);
	return out[1] == 0x68747541; /* "Auth" */
}

void op_sysenter(struct engine *e, const struct insn *i)
{
	(void)i;
	struct x86_cpu *c = e->cpu;
	if (!x86_cpuid_has(c, 1, 0, 3, 11) || (e->mode == M_LONG && amd_vendor(e)))
		raise_exc(e, EXC_UD, NO_ERR);
	u16 sel = c->msr.sysenter_cs & 0xfffc;
	if (e->mode == M_REAL || !sel)
		raise_exc(e, EXC_GP, 0);
	bool lm = e->mode == M_LONG;
	flags_set(e, flags_get(e) & ~(X86_FL_VM | X86_FL_IF | X86_FL_RF));
	flat_seg(&c->seg[S_CS], sel, true, lm, 0);
	flat_seg(&c->seg[S_SS], sel + 8, false, false, 0);
	c->seg[S_SS].db = 1;
	c->gpr[R_RSP] = lm ? c->msr.sysenter_esp : (u32)c->msr.sysenter_esp;
	e->next_rip = lm ? c->msr.sysenter_eip : (u32)c->msr.sysenter_eip;
	mode_update(e);
}

void op_sysexit(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	if (!x86_cpuid_has(c, 1, 0, 3, 11) || (e->mode == M_LONG && amd_vendor(e)))
		raise_exc(e, EXC_UD, NO_ERR);
	u16 sel = c->msr.sysenter_cs & 0xfffc;
	if (e->mode == M_REAL || !sel || e->cpl)
		raise_exc(e, EXC_GP, 0);
	bool to64 = i->osz == 8;
	u64 rip = to64 ? c->gpr[R_RDX] : (u32)c->gpr[R_RDX];
	if (to64 && (!canonical(e, rip) || !canonical(e, c->gpr[R_RCX])))
		raise_exc(e, EXC_GP, 0);
	flat_seg(&c->seg[S_CS], (sel + (to64 ? 32 : 16)) | 3, true, to64, 3);
	flat_seg(&c->seg[S_SS], (sel + (to64 ? 40 : 24)) | 3, false, false, 3);
	c->seg[S_SS].db = 1;
	c->gpr[R_RSP] = to64 ? c->gpr[R_RCX] : (u32)c->gpr[R_RCX];
	e->next_rip = rip;
	mode_update(e);
}

/* CLFLUSH/CLFLUSHOPT: the cache is the host's; only the access checks of
 * a one-byte read remain (SDM Vol. 2A CLFLUSH: #GP/#SS/#PF as a load). */
void op_clflush(struct engine *e, const struct insn *i)
{
	if (!x86_cpuid_has(e->cpu, 1, 0, 3, 19))
		raise_exc(e, EXC_UD, NO_ERR);
	mem_probe(e, seg_linear(e, i->seg, ea_offset(e, i), 1, false), 0);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* MONITOR/MWAIT: #UD when the guest CPUID hides them; not implemented. */
void op_monitor_mwait(struct engine *e, const struct insn *i)
{
	(void)i;
	if (!x86_cpuid_has(e->cpu, 1, 0, 2, 3))
		raise_exc(e, EXC_UD, NO_ERR);
	raise_internal(e);
}
