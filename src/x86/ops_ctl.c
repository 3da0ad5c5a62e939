/*
 * Control transfer, stack, string and port instructions.
 */
#include <linux/kvm.h>

#include "x86/exec.h"

/* ---- stack ---- */

void op_push_r(struct engine *e, const struct insn *i)
{
	push(e, i->osz, reg_get(e, i->reg, i->osz));
}

void op_pop_r(struct engine *e, const struct insn *i)
{
	u64 v = pop(e, i->osz);
	reg_set(e, i->reg, i->osz, v);
}

void op_push_imm(struct engine *e, const struct insn *i)
{
	push(e, i->osz, i->imm);
}

void op_push_rm(struct engine *e, const struct insn *i)
{
	push(e, i->osz, rm_read(e, i, i->osz));
}

/* POP r/m computes an RSP-based address with RSP already incremented
 * (SDM Vol. 2B POP); RSP changes only once the store succeeded. */
void op_pop_rm(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	u64 v = stack_read(e, i->osz, 0);
	u64 old = c->gpr[R_RSP];
	reg_set(e, R_RSP, stack_size(e), old + i->osz);
	u64 nsp = c->gpr[R_RSP];
	if (!i->mem) {
		reg_set(e, i->rm, i->osz, v);
		return;
	}
	u64 off = ea_offset(e, i);
	c->gpr[R_RSP] = old;
	mem_write(e, i->seg, off, i->osz, v);
	c->gpr[R_RSP] = nsp;
}

void op_push_seg(struct engine *e, const struct insn *i)
{
	push(e, i->osz, e->cpu->seg[i->op].sel);
}

void op_pop_seg(struct engine *e, const struct insn *i)
{
	u64 v = stack_read(e, i->osz, 0);
	seg_load(e, i->op, (u16)v);
	reg_set(e, R_RSP, stack_size(e), e->cpu->gpr[R_RSP] + i->osz);
	if (i->op == S_SS)
		e->shadow_pending = X86_SHADOW_MOV_SS;
}

void op_pusha(struct engine *e, const struct insn *i)
{
	u64 sp = e->cpu->gpr[R_RSP];
	for (int r = R_RAX; r <= R_RDI; r++)
		push(e, i->osz, r == R_RSP ? sp : reg_get(e, r, i->osz));
}

void op_popa(struct engine *e, const struct insn *i)
{
	u64 v[8];
	for (int k = 0; k < 8; k++)
		v[k] = stack_read(e, i->osz, (u64)k * i->osz);
	for (int r = R_RDI; r >= R_RAX; r--)
		if (r != R_RSP)
			reg_set(e, r, i->osz, v[R_RDI - r]);
	reg_set(e, R_RSP, stack_size(e), e->cpu->gpr[R_RSP] + 8 * i->osz);
}

void op_enter(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	int ss = stack_size(e), osz = i->osz;
	u64 level = i->imm2 & 31, bp = c->gpr[R_RBP];
	push(e, osz, bp);
	u64 frame = c->gpr[R_RSP] & size_mask(ss);
	for (u64 k = 1; k < level; k++) {
		bp -= osz;
		push(e, osz, mem_read(e, S_SS, bp & size_mask(ss), osz));
	}
	if (level)
		push(e, osz, frame);
	u64 nsp = c->gpr[R_RSP] - i->imm;
	/* touch the new stack bottom so a fault happens before any change */
	if (i->imm)
		mem_read_w(e, S_SS, nsp & size_mask(ss), 1);
	reg_set(e, R_RBP, osz, frame);
	reg_set(e, R_RSP, ss, nsp);
}

void op_leave(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	int ss = stack_size(e);
	u64 save = c->gpr[R_RSP];
	reg_set(e, R_RSP, ss, c->gpr[R_RBP]);
	u64 v;
	{
		/* restore RSP if the read faults */
		u64 sp = c->gpr[R_RSP];
		c->gpr[R_RSP] = save;
		u64 depth = (sp - save) & size_mask(ss);
		v = stack_read(e, i->osz, depth);
		c->gpr[R_RSP] = sp;
	}
	reg_set(e, R_RSP, ss, c->gpr[R_RSP] + i->osz);
	reg_set(e, R_RBP, i->osz, v);
}

/*
 * CLI, STI, PUSHF, POPF, INT n and IRET in virtual-8086 mode with IOPL < 3:
 * #GP(0) (SDM Vol. 3B 20.2.7).  CR4.VME (and CR4.PVI for CLI/STI at CPL 3)
 * would turn them into virtual-interrupt-flag operations instead; the
 * supported CPUID does not offer VME, and a guest that sets CR4.VME or PVI
 * anyway gets an emulation failure here rather than a wrong #GP.
 */
static void vme_unimpl(struct engine *e)
{
	u64 cr4 = e->cpu->cr4;
	if ((e->vm86 && (cr4 & X86_CR4_VME)) ||
	    (!e->vm86 && e->cpl == 3 && (cr4 & X86_CR4_PVI)))
		raise_internal(e);
}

static void vm86_iopl(struct engine *e)
{
	if (e->vm86 && ((e->cpu->rflags >> 12) & 3) < 3) {
		vme_unimpl(e);
		raise_exc(e, EXC_GP, 0);
	}
}

/* PUSHF/POPF (SDM Vol. 2B POPF: what each privilege may change) */
void op_pushf(struct engine *e, const struct insn *i)
{
	vm86_iopl(e);
	push(e, i->osz, flags_get(e) & ~(X86_FL_VM | X86_FL_RF));
}

void op_popf(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	vm86_iopl(e);
	u64 v = stack_read(e, i->osz, 0);
	u64 fl = flags_get(e);
	u64 m = X86_FL_CF | X86_FL_PF | X86_FL_AF | X86_FL_ZF | X86_FL_SF | X86_FL_TF |
		X86_FL_DF | X86_FL_OF | X86_FL_NT | X86_FL_AC | X86_FL_ID | X86_FL_IF |
		X86_FL_IOPL;
	u64 iopl = (fl >> 12) & 3;
	if (e->mode != M_REAL) {
		if (e->cpl > 0)
			m &= ~X86_FL_IOPL;
		if (e->cpl > iopl)
			m &= ~X86_FL_IF;
	}
	if (i->osz == 2)
		m &= 0xffff;
	reg_set(e, R_RSP, stack_size(e), c->gpr[R_RSP] + i->osz);
	flags_set(e, ((fl & ~m) | (v & m)) & ~X86_FL_RF);
}

/* CMC CLC STC CLI STI CLD STD */
void op_flag_op(struct engine *e, const struct insn *i)
{
	u64 fl = flags_get(e);
	switch (i->op) {
	case 0: fl ^= X86_FL_CF; break;
	case 1: fl &= ~X86_FL_CF; break;
	case 2: fl |= X86_FL_CF; break;
	case 3:
	case 4:
		if (e->mode != M_REAL && e->cpl > ((fl >> 12) & 3)) {
			vme_unimpl(e);
			raise_exc(e, EXC_GP, 0);
		}
		if (i->op == 3) {
			fl &= ~X86_FL_IF;
		} else {
			/* STI blocks interrupts for one instruction only when IF was clear */
			if (!(fl & X86_FL_IF))
				e->shadow_pending = X86_SHADOW_STI;
			fl |= X86_FL_IF;
		}
		break;
	case 5: fl &= ~X86_FL_DF; break;
	default: fl |= X86_FL_DF; break;
	}
	flags_set(e, fl);
}

/* ---- segment register moves ---- */

void op_mov_rm_seg(struct engine *e, const struct insn *i)
{
	int s = i->reg & 7;
	if (s >= S_NR)
		raise_exc(e, EXC_UD, NO_ERR);
	u16 sel = e->cpu->seg[s].sel;
	if (i->mem)
		mem_write(e, i->seg, ea_offset(e, i), 2, sel);
	else
		reg_set(e, i->rm, i->osz == 2 ? 2 : i->osz, sel);
}

void op_mov_seg_rm(struct engine *e, const struct insn *i)
{
	int s = i->reg & 7;
	if (s >= S_NR || s == S_CS)
		raise_exc(e, EXC_UD, NO_ERR);
	seg_load(e, s, (u16)rm_read(e, i, 2));
	if (s == S_SS)
		e->shadow_pending = X86_SHADOW_MOV_SS;
}

/* LDS/LES/LSS/LFS/LGS: a far pointer from memory */
void op_lds_les(struct engine *e, const struct insn *i)
{
	if (!i->mem)
		raise_exc(e, EXC_UD, NO_ERR);
	u64 off = ea_offset(e, i);
	u64 v = mem_read(e, i->seg, off, i->osz);
	u16 sel = (u16)mem_read(e, i->seg, (off + i->osz) & size_mask(i->asz), 2);
	seg_load(e, i->op, sel);
	reg_set(e, i->reg, i->osz, v);
}

/* ---- branches ---- */

void op_jcc(struct engine *e, const struct insn *i)
{
	if (cond_eval(e, i->op))
		branch(e, e->next_rip + i->imm, i->osz);
}

void op_jmp_rel(struct engine *e, const struct insn *i)
{
	branch(e, e->next_rip + i->imm, i->osz);
}

static void call_to(struct engine *e, const struct insn *i, u64 target)
{
	u64 ret = e->next_rip;
	branch(e, target, i->osz); /* validates before the push */
	push(e, i->osz, ret);
}

void op_call_rel(struct engine *e, const struct insn *i)
{
	call_to(e, i, e->next_rip + i->imm);
}

void op_jmp_rm(struct engine *e, const struct insn *i)
{
	branch(e, rm_read(e, i, i->osz), i->osz);
}

void op_call_rm(struct engine *e, const struct insn *i)
{
	call_to(e, i, rm_read(e, i, i->osz));
}

void op_ret_near(struct engine *e, const struct insn *i)
{
	u64 ip = stack_read(e, i->osz, 0);
	branch(e, ip, i->osz);
	reg_set(e, R_RSP, stack_size(e), e->cpu->gpr[R_RSP] + i->osz + i->imm);
}

/*
 * Far CALL and JMP (SDM Vol. 2A CALL, JMP): real and virtual-8086 mode,
 * a code segment at the same privilege, or a call gate.  Every change of
 * CS, SS and RSP is undone if the instruction faults partway (txn_begin).
 */

/* The stack has room for `bytes` below SP, else #SS(err) (SDM: "IF stack
 * not large enough"); long mode has no limits to check. */
static void stack_room(struct engine *e, u64 bytes, int err)
{
	if (e->code64)
		return;
	const struct x86_seg *s = &e->cpu->seg[S_SS];
	u64 m = size_mask(stack_size(e)), sp = e->cpu->gpr[R_RSP];
	u64 lo = (sp - bytes) & m, hi = (sp - 1) & m;
	bool bad;
	if (!(s->type & 8) && (s->type & 4)) /* expand-down */
		bad = lo <= s->limit || lo > hi;
	else
		bad = hi > s->limit || lo > s->limit || (lo > hi && s->limit < m);
	if (bad)
		raise_exc(e, EXC_SS, err);
}

static void gate_target_check(struct engine *e, u64 off)
{
	if (e->code64 ? !canonical(e, off) : off > e->cpu->seg[S_CS].limit)
		raise_exc(e, EXC_GP, 0);
}

/* Through the call gate gsel (descriptor lo at gaddr). */
static void call_gate(struct engine *e, u16 gsel, u64 lo, bool call)
{
	struct x86_cpu *c = e->cpu;
	bool lm = e->mode == M_LONG;
	int cpl = e->cpl, gdpl = (lo >> 45) & 3;
	if (gdpl < cpl || (gsel & 3) > gdpl)
		raise_exc(e, EXC_GP, gsel & ~3);
	if (!(lo & BIT(47)))
		raise_exc(e, EXC_NP, gsel & ~3);
	u64 off = lo & 0xffff;
	int gsz = 2;
	if ((lo >> 40) & 8) {
		off |= (lo >> 32) & 0xffff0000ULL;
		gsz = 4;
	}
	if (lm) {
		/* the upper half: inside the table, type field 0 */
		u64 a, hi;
		desc_read_ex(e, gsel, &a, &hi, EXC_GP, 0);
		(void)a;
		if ((hi >> 40) & 0x1f)
			raise_exc(e, EXC_GP, gsel & ~3);
		off |= hi << 32;
		gsz = 8;
	}
	u16 csel = (u16)(lo >> 16);
	if (!(csel & ~3))
		raise_exc(e, EXC_GP, 0);
	u64 caddr, cd = desc_read(e, csel, &caddr);
	struct x86_seg n;
	desc_parse(cd, &n, csel);
	if (!n.s || !(n.type & 8) || n.dpl > cpl || (lm && (!n.l || n.db)))
		raise_exc(e, EXC_GP, csel & ~3);
	bool conforming = n.type & 4;
	if (!call && !conforming && n.dpl != cpl)
		raise_exc(e, EXC_GP, csel & ~3);
	if (!n.present)
		raise_exc(e, EXC_NP, csel & ~3);
	u16 old_cs = c->seg[S_CS].sel, old_ss = c->seg[S_SS].sel;
	u64 old_sp = c->gpr[R_RSP], ret = e->next_rip;
	int new_cpl = call && !conforming ? n.dpl : cpl;
	txn_begin(e);
	if (new_cpl < cpl) {
		/* more privileged: the stack from the TSS, the gate's
		 * parameter count copied from the old one (not in long mode) */
		u16 nss;
		u64 nsp, par[31];
		int np = lm ? 0 : (lo >> 32) & 0x1f;
		tss_stack(e, new_cpl, 0, &nss, &nsp);
		struct x86_seg ss;
		if (lm) {
			if (!canonical(e, nsp))
				raise_exc(e, EXC_SS, 0);
			ss = (struct x86_seg){.sel = (u16)new_cpl, .unusable = 1,
					      .dpl = (u8)new_cpl, .db = 1};
		} else {
			ss_inner(e, nss, new_cpl, 0, &ss);
		}
		for (int k = 0; k < np; k++)
			par[k] = stack_read(e, gsz, (u64)k * gsz);
		c->seg[S_SS] = ss;
		c->gpr[R_RSP] = lm ? nsp : ss.db ? (u32)nsp : (u16)nsp;
		mode_update(e);
		stack_room(e, (u64)(4 + np) * gsz, nss & ~3);
		desc_touch(e, caddr, cd);
		n.type |= 1;
		n.sel = (csel & ~3) | new_cpl;
		c->seg[S_CS] = n;
		mode_update(e); /* CPL = SS.DPL = new_cpl */
		gate_target_check(e, off);
		push(e, gsz, old_ss);
		push(e, gsz, old_sp);
		for (int k = np - 1; k >= 0; k--)
			push(e, gsz, par[k]);
	} else {
		if (call)
			stack_room(e, 2 * (u64)gsz, 0);
		desc_touch(e, caddr, cd);
		n.type |= 1;
		n.sel = (csel & ~3) | cpl;
		c->seg[S_CS] = n;
		mode_update(e);
		gate_target_check(e, off);
	}
	if (call) {
		push(e, gsz, old_cs);
		push(e, gsz, ret);
	}
	txn_end(e);
	e->next_rip = off;
}

/*
 * Hardware task switch (SDM Vol. 3A 7.3) between 32-bit and 16-bit TSSs, in
 * any combination.  Checks up to the TSS descriptor fault in the old task;
 * once the old task's state is saved, the switch is committed and a bad
 * selector in the new TSS faults in the new task (#TS, #NP, #SS), the
 * segment registers not yet loaded left unusable.  A 16-bit TSS (SDM
 * Figure 7-11) holds no CR3, FS, GS or T bit: FS and GS keep their
 * selectors and descriptors, CR3 stays, and its 16-bit IP, FLAGS and
 * registers load zero-extended, as KVM's emulator does (load_state_from_
 * tss16).  The T bit of a 32-bit TSS raises #DB with DR6.BT once the
 * switch is complete, before the new task's first instruction.
 */

/* A segment register of the incoming task (SDM Vol. 3A Table 7-1). */
static void ts_seg(struct engine *e, int seg, u16 sel, int cpl)
{
	struct x86_cpu *c = e->cpu;
	struct x86_seg n;
	int err = sel & ~3;
	if (!(sel & ~3)) {
		if (seg == S_CS || seg == S_SS)
			raise_exc(e, EXC_TS, 0);
		return; /* null data segment: stays unusable */
	}
	u64 addr, d = desc_read_ex(e, sel, &addr, NULL, EXC_TS, 0);
	desc_parse(d, &n, sel);
	bool code = n.type & 8, conf = code && (n.type & 4);
	if (seg == S_CS) {
		if (!n.s || !code || (conf ? n.dpl > (sel & 3) : n.dpl != (sel & 3)))
			raise_exc(e, EXC_TS, err);
		if (!n.present)
			raise_exc(e, EXC_NP, err);
	} else if (seg == S_SS) {
		if (!n.s || (n.type & 0xa) != 0x2 || n.dpl != cpl || (sel & 3) != cpl)
			raise_exc(e, EXC_TS, err);
		if (!n.present)
			raise_exc(e, EXC_SS, err);
	} else {
		if (!n.s || (n.type & 0xa) == 0x8 ||
		    (!conf && (n.dpl < cpl || n.dpl < (sel & 3))))
			raise_exc(e, EXC_TS, err);
		if (!n.present)
			raise_exc(e, EXC_NP, err);
	}
	desc_touch(e, addr, d);
	n.type |= 1;
	c->seg[seg] = n;
}

static void vm86_seg(struct x86_seg *s, u16 sel);

/* A task's state as its TSS holds it. */
struct tss_state {
	u32 eip, eflags, gpr[8], cr3;
	u16 sel[S_NR], ldt;
	bool t;
};

static bool tss16(const struct x86_seg *t)
{
	return !(t->type & 8);
}

/* Read the whole state of the TSS t before anything is written. */
static void tss_read(struct engine *e, const struct x86_seg *t, struct tss_state *st)
{
	struct x86_cpu *c = e->cpu;
	if (tss16(t)) {
		u16 v[0x2c / 2];
		for (int k = 0; k < 0x2c / 2; k++)
			v[k] = (u16)sys_read(e, t->base + 2 * (u64)k, 2);
		st->eip = v[0x0e / 2];
		st->eflags = v[0x10 / 2];
		for (int r = 0; r < 8; r++)
			st->gpr[r] = v[0x12 / 2 + r];
		for (int s = S_ES; s <= S_DS; s++)
			st->sel[s] = v[0x22 / 2 + s];
		st->sel[S_FS] = c->seg[S_FS].sel;
		st->sel[S_GS] = c->seg[S_GS].sel;
		st->ldt = v[0x2a / 2];
		st->cr3 = (u32)c->cr3;
		st->t = false;
		return;
	}
	u32 v[0x68 / 4];
	for (int k = 0; k < 0x68 / 4; k++)
		v[k] = (u32)sys_read(e, t->base + 4 * (u64)k, 4);
	st->cr3 = v[0x1c / 4];
	st->eip = v[0x20 / 4];
	st->eflags = v[0x24 / 4];
	for (int r = 0; r < 8; r++)
		st->gpr[r] = v[0x28 / 4 + r];
	for (int s = 0; s < S_NR; s++)
		st->sel[s] = (u16)v[0x48 / 4 + s];
	st->ldt = (u16)v[0x60 / 4];
	st->t = v[0x64 / 4] & 1;
}

/* Save the outgoing task's dynamic fields (EIP, EFLAGS, GPRs, selectors). */
static void tss_save(struct engine *e, const struct x86_seg *t, u64 eip, u64 fl)
{
	struct x86_cpu *c = e->cpu;
	bool t16 = tss16(t);
	int n = t16 ? 2 : 4;
	sys_write(e, t->base + (t16 ? 0x0e : 0x20), n, eip);
	sys_write(e, t->base + (t16 ? 0x10 : 0x24), n, fl);
	for (int r = 0; r < 8; r++)
		sys_write(e, t->base + (t16 ? 0x12 : 0x28) + (u64)(n * r), n, c->gpr[r]);
	for (int s = 0; s < (t16 ? S_FS : S_NR); s++)
		sys_write(e, t->base + (t16 ? 0x22 : 0x48) + (u64)(n * s), 2, c->seg[s].sel);
}

void task_switch(struct engine *e, u16 tss_sel, int reason, int err, u64 ret_rip, int ext)
{
	struct x86_cpu *c = e->cpu;
	int bad = reason == TS_IRET ? EXC_TS : EXC_GP;
	u16 nerr = (tss_sel & ~3) | ext;
	/* the new TSS: in the GDT, available (busy for IRET), present */
	if (tss_sel & 4)
		raise_exc(e, bad, nerr);
	u64 naddr, nd = desc_read_ex(e, tss_sel, &naddr, NULL, bad, ext);
	struct x86_seg nt;
	desc_parse(nd, &nt, tss_sel);
	bool busy = (nt.type & 2) != 0;
	if (nt.s || (nt.type & 5) != 1 || busy != (reason == TS_IRET))
		raise_exc(e, bad, nerr);
	if (!nt.present)
		raise_exc(e, EXC_NP, nerr);
	struct x86_seg ot = c->tr;
	bool n16 = tss16(&nt);
	/* SDM 7.3 step 7: at least 0x67 (32-bit) or 0x2b (16-bit); the old
	 * one must hold the fields saved into it */
	if (nt.limit < (n16 ? 0x2bu : 0x67u))
		raise_exc(e, EXC_TS, nerr);
	if (ot.limit < (tss16(&ot) ? 0x29u : 0x5fu))
		raise_exc(e, EXC_TS, (ot.sel & ~3) | ext);
	struct tss_state st;
	tss_read(e, &nt, &st);
	u64 fl = flags_get(e);
	if (reason == TS_IRET)
		fl &= ~X86_FL_NT;
	tss_save(e, &ot, ret_rip, fl);
	u64 gdt = c->gdt.base;
	if (reason == TS_JMP || reason == TS_IRET) /* old TSS no longer busy */
		sys_write(e, gdt + (ot.sel & ~7) + 5, 1, (sys_read(e, gdt + (ot.sel & ~7) + 5, 1) & ~2));
	u32 nfl = st.eflags;
	if (reason == TS_CALL || reason == TS_INT) {
		sys_write(e, nt.base, 2, ot.sel); /* back link */
		nfl |= X86_FL_NT;
	}
	if (reason != TS_IRET)
		sys_write(e, naddr + 5, 1, (nd >> 40) | 2);
	/* committed: the new task's context */
	nt.type |= 2;
	c->tr = nt;
	c->cr0 |= X86_CR0_TS;
	if ((c->cr0 & X86_CR0_PG) && c->cr3 != st.cr3) {
		c->cr3 = st.cr3;
		tlb_flush_nonglobal(e);
	}
	for (int r = 0; r < 8; r++)
		c->gpr[r] = st.gpr[r];
	flags_set(e, (nfl & 0x3f7fd5) | X86_FL_FIXED1);
	c->rip = e->next_rip = st.eip;
	int nseg = n16 ? S_FS : S_NR; /* a 16-bit TSS leaves FS and GS alone */
	for (int s = 0; s < nseg; s++)
		c->seg[s] = (struct x86_seg){.sel = st.sel[s], .unusable = 1};
	c->ldt = (struct x86_seg){.sel = st.ldt, .unusable = 1};
	/* a fault while loading them is the new task's, at its CPL */
	int cpl = st.sel[S_CS] & 3;
	c->seg[S_SS].dpl = (u8)cpl;
	mode_update(e);
	if (nfl & X86_FL_VM) {
		for (int s = 0; s < S_NR; s++)
			vm86_seg(&c->seg[s], st.sel[s]);
		mode_update(e);
	} else {
		u16 ldt = st.ldt;
		if (ldt & ~3) {
			u64 la, ld;
			if (ldt & 4)
				raise_exc(e, EXC_TS, ldt & ~3);
			ld = desc_read_ex(e, ldt, &la, NULL, EXC_TS, 0);
			struct x86_seg l;
			desc_parse(ld, &l, ldt);
			if (l.s || l.type != 2)
				raise_exc(e, EXC_TS, ldt & ~3);
			if (!l.present)
				raise_exc(e, EXC_NP, ldt & ~3);
			c->ldt = l;
		}
		/* CS and SS first: the CPL (SS.DPL) of the loads that follow */
		ts_seg(e, S_CS, st.sel[S_CS], cpl);
		ts_seg(e, S_SS, st.sel[S_SS], cpl);
		mode_update(e);
		static const u8 data[4] = {S_ES, S_DS, S_FS, S_GS};
		for (int k = 0; k < (n16 ? 2 : 4); k++)
			ts_seg(e, data[k], st.sel[data[k]], cpl);
	}
	if (c->rip > c->seg[S_CS].limit)
		raise_exc(e, EXC_GP, 0);
	if (err != NO_ERR)
		push(e, n16 ? 2 : 4, (u32)err);
	if (st.t) { /* debug trap: the switch is complete, DR6.BT */
		c->dr6 |= 0xffff0ff0 | BIT(15);
		raise_exc(e, EXC_DB, NO_ERR);
	}
}

static void far_xfer(struct engine *e, const struct insn *i, u16 sel, u64 off, bool call)
{
	struct x86_cpu *c = e->cpu;
	u16 old_cs = c->seg[S_CS].sel;
	u64 ret = e->next_rip;
	if (e->mode != M_REAL && !e->vm86) {
		if (!(sel & ~3))
			raise_exc(e, EXC_GP, 0);
		u64 addr, d = desc_read(e, sel, &addr);
		int type = (d >> 40) & 0xf;
		bool lm = e->mode == M_LONG;
		if (!(d & BIT(44))) {
			if (type == 0xc || (type == 4 && !lm)) {
				call_gate(e, sel, d, call);
				return;
			}
			int dpl = (d >> 45) & 3;
			if (!lm && (type == 5 || type == 1 || type == 9)) {
				/* a task switch: the TSS or gate DPL >= CPL, RPL */
				if (dpl < e->cpl || dpl < (sel & 3))
					raise_exc(e, EXC_GP, sel & ~3);
				if (!(d & BIT(47)))
					raise_exc(e, EXC_NP, sel & ~3);
				task_switch(e, type == 5 ? (u16)(d >> 16) : sel,
					    call ? TS_CALL : TS_JMP, NO_ERR, ret, 0);
				return;
			}
			raise_exc(e, EXC_GP, sel & ~3);
		}
	}
	txn_begin(e);
	far_jump(e, sel, off, i->osz);
	if (call) {
		push(e, i->osz, old_cs);
		push(e, i->osz, ret);
	}
	txn_end(e);
}

void op_jmp_far(struct engine *e, const struct insn *i)
{
	far_xfer(e, i, (u16)i->imm2, i->imm, false);
}

void op_call_far(struct engine *e, const struct insn *i)
{
	far_xfer(e, i, (u16)i->imm2, i->imm, true);
}

static void far_ptr(struct engine *e, const struct insn *i, u16 *sel, u64 *off)
{
	if (!i->mem)
		raise_exc(e, EXC_UD, NO_ERR);
	u64 a = ea_offset(e, i);
	*off = mem_read(e, i->seg, a, i->osz);
	*sel = (u16)mem_read(e, i->seg, (a + i->osz) & size_mask(i->asz), 2);
}

void op_jmp_far_rm(struct engine *e, const struct insn *i)
{
	u16 sel;
	u64 off;
	far_ptr(e, i, &sel, &off);
	far_xfer(e, i, sel, off, false);
}

void op_call_far_rm(struct engine *e, const struct insn *i)
{
	u16 sel;
	u64 off;
	far_ptr(e, i, &sel, &off);
	far_xfer(e, i, sel, off, true);
}

/* Data segments the new, outer level may not use become null
 * (SDM Vol. 2B RET and IRET: returning to an outer privilege level). */
static void null_inaccessible(struct engine *e)
{
	for (int s = S_ES; s < S_NR; s++) {
		struct x86_seg *g = &e->cpu->seg[s];
		if (s == S_CS || s == S_SS || g->unusable)
			continue;
		if ((!(g->type & 8) || !(g->type & 4)) && g->dpl < e->cpl)
			*g = (struct x86_seg){.sel = 0, .unusable = 1};
	}
}

void op_ret_far(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	int osz = i->osz;
	u64 ip = stack_read(e, osz, 0);
	u16 sel = (u16)stack_read(e, osz, osz);
	if (e->mode == M_REAL) {
		far_jump(e, sel, ip, osz);
		reg_set(e, R_RSP, stack_size(e), c->gpr[R_RSP] + 2 * osz + i->imm);
		return;
	}
	int rpl = sel & 3;
	if (rpl < e->cpl)
		raise_exc(e, EXC_GP, sel & ~3);
	if (rpl == e->cpl) {
		far_jump_to(e, sel, ip, osz, rpl);
		reg_set(e, R_RSP, stack_size(e), c->gpr[R_RSP] + 2 * osz + i->imm);
		return;
	}
	u64 nsp = stack_read(e, osz, 2 * osz + i->imm);
	u16 nss = (u16)stack_read(e, osz, 3 * osz + i->imm);
	txn_begin(e);
	far_jump_to(e, sel, ip, osz, rpl);
	e->cpl = (u8)rpl;
	seg_load(e, S_SS, nss);
	mode_update(e);
	txn_end(e);
	reg_set(e, R_RSP, e->code64 ? 8 : stack_size(e), nsp + i->imm);
	null_inaccessible(e);
}

/* LOOP/LOOPE/LOOPNE use rCX of the address size. */
void op_loop(struct engine *e, const struct insn *i)
{
	u64 c = (reg_get(e, R_RCX, i->asz) - 1) & size_mask(i->asz);
	bool take = c != 0;
	if (i->op == 0)
		take = take && !(flags_get(e) & X86_FL_ZF);
	else if (i->op == 1)
		take = take && (flags_get(e) & X86_FL_ZF);
	if (take)
		branch(e, e->next_rip + i->imm, i->osz);
	reg_set(e, R_RCX, i->asz, c);
}

void op_jcxz(struct engine *e, const struct insn *i)
{
	if (!reg_get(e, R_RCX, i->asz))
		branch(e, e->next_rip + i->imm, i->osz);
}

/* BOUND: #BR unless lower <= index <= upper (signed), both from memory. */
void op_bound(struct engine *e, const struct insn *i)
{
	if (!i->mem)
		raise_exc(e, EXC_UD, NO_ERR);
	u64 off = ea_offset(e, i);
	s64 lo = sext(mem_read(e, i->seg, off, i->osz), i->osz);
	s64 hi = sext(mem_read(e, i->seg, (off + i->osz) & size_mask(i->asz), i->osz), i->osz);
	s64 v = sext(reg_get(e, i->reg, i->osz), i->osz);
	if (v < lo || v > hi)
		raise_exc(e, EXC_BR, NO_ERR);
}

/* ---- interrupts ---- */

static void soft_int(struct engine *e, int vec)
{
	deliver_event(e, vec, NO_ERR, true, e->next_rip);
	e->next_rip = e->cpu->rip;
}

void op_int_n(struct engine *e, const struct insn *i)
{
	/* with CR4.VME even IOPL 3 consults the redirection bitmap */
	if (e->vm86 && (e->cpu->cr4 & X86_CR4_VME))
		raise_internal(e);
	vm86_iopl(e); /* INT3 and INTO are not IOPL-sensitive */
	soft_int(e, (int)(i->imm & 0xff));
}

void op_int3(struct engine *e, const struct insn *i)
{
	(void)i;
	if (e->cpu->guest_debug & KVM_GUESTDBG_USE_SW_BP) {
		/* the VMM's breakpoint: exit with RIP on the INT3 */
		e->exit->reason = X86_EXIT_DEBUG;
		e->exit->debug.exception = EXC_BP;
		e->exit->debug.pc = linear_rip(e);
		e->exit->debug.has_dr = false;
		unwind_exit(e);
	}
	soft_int(e, EXC_BP);
}

void op_into(struct engine *e, const struct insn *i)
{
	(void)i;
	if (flags_get(e) & X86_FL_OF)
		soft_int(e, EXC_OF);
}

static void vm86_seg(struct x86_seg *s, u16 sel)
{
	*s = (struct x86_seg){.sel = sel, .base = (u64)sel << 4, .limit = 0xffff,
			      .type = 3, .s = 1, .dpl = 3, .present = 1};
}

/* IRET from CPL 0 with VM set in the popped EFLAGS (SDM Vol. 2A IRET,
 * RETURN-TO-VIRTUAL-8086-MODE): EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS
 * as dwords; every segment as in real mode (base sel << 4, limit 0xffff,
 * DPL 3: VMX's 0xf3 access rights), CPL 3. */
static void iret_to_vm86(struct engine *e, u64 ip, u16 cs, u64 nfl)
{
	struct x86_cpu *c = e->cpu;
	u64 v[6];
	for (int k = 0; k < 6; k++)
		v[k] = stack_read(e, 4, 12 + 4 * (u64)k);
	if (ip > 0xffff)
		raise_exc(e, EXC_GP, 0);
	static const u8 order[4] = {S_ES, S_DS, S_FS, S_GS};
	vm86_seg(&c->seg[S_CS], cs);
	vm86_seg(&c->seg[S_SS], (u16)v[1]);
	for (int k = 0; k < 4; k++)
		vm86_seg(&c->seg[order[k]], (u16)v[2 + k]);
	c->gpr[R_RSP] = (u32)v[0];
	flags_set(e, nfl & 0x3f7fd5);
	e->next_rip = ip;
	mode_update(e);
	e->shadow = 0;
}

/* IRET: real mode, virtual-8086 mode, and protected/long mode without task
 * switches. */
void op_iret(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	vm86_iopl(e); /* virtual-8086 mode: IRET needs IOPL 3 */
	e->code_epoch++; /* serializing: cross-modified code is seen */
	int osz = i->osz;
	u64 fl = flags_get(e);
	u64 ip = stack_read(e, osz, 0);
	u16 cs = (u16)stack_read(e, osz, osz);
	u64 nfl = stack_read(e, osz, 2 * osz);
	c->ev.nmi.masked = 0; /* IRET ends NMI blocking (SDM Vol. 3A 6.7.1) */
	u64 m = X86_FL_CF | X86_FL_PF | X86_FL_AF | X86_FL_ZF | X86_FL_SF | X86_FL_TF |
		X86_FL_DF | X86_FL_OF | X86_FL_NT | X86_FL_AC | X86_FL_ID | X86_FL_IF |
		X86_FL_IOPL | X86_FL_RF;
	if (e->mode == M_REAL || e->vm86) {
		/* virtual-8086 mode (IOPL 3): IOPL, VM, VIF, VIP stay */
		if (e->vm86)
			m &= ~X86_FL_IOPL;
		if (osz == 2)
			m &= 0xffff;
		branch(e, ip, osz);
		seg_load_real(e, S_CS, cs);
		reg_set(e, R_RSP, stack_size(e), c->gpr[R_RSP] + 3 * osz);
		flags_set(e, (fl & ~m) | (nfl & m));
		return;
	}
	if ((fl & X86_FL_NT) && e->mode == M_LONG)
		raise_exc(e, EXC_GP, 0); /* no task return in IA-32e mode */
	if (fl & X86_FL_NT) {
		/* return to the task in the back link (SDM Vol. 2A IRET) */
		task_switch(e, (u16)sys_read(e, c->tr.base, 2), TS_IRET, NO_ERR, e->next_rip, 0);
		return;
	}
	if ((nfl & X86_FL_VM) && e->cpl == 0 && e->mode != M_LONG && osz == 4) {
		iret_to_vm86(e, ip, cs, nfl);
		return;
	}
	int rpl = cs & 3;
	if (rpl < e->cpl)
		raise_exc(e, EXC_GP, cs & ~3);
	bool outer = rpl > e->cpl || e->mode == M_LONG;
	u64 nsp = 0;
	u16 nss = 0;
	if (outer) {
		nsp = stack_read(e, osz, 3 * osz);
		nss = (u16)stack_read(e, osz, 4 * osz);
	}
	if (e->cpl > 0)
		m &= ~X86_FL_IOPL;
	if (e->cpl > ((fl >> 12) & 3))
		m &= ~X86_FL_IF;
	if (osz == 2)
		m &= 0xffff;
	u8 old_cpl = e->cpl;
	u64 sp_after = c->gpr[R_RSP] + 3 * osz;
	txn_begin(e);
	far_jump_to(e, cs, ip, osz, rpl);
	if (outer) {
		e->cpl = (u8)rpl;
		seg_load(e, S_SS, nss);
		mode_update(e);
		txn_end(e);
		reg_set(e, R_RSP, e->code64 ? 8 : stack_size(e), nsp);
	} else {
		txn_end(e);
		reg_set(e, R_RSP, stack_size(e), sp_after);
	}
	flags_set(e, (fl & ~m) | (nfl & m));
	if (rpl > old_cpl)
		null_inaccessible(e);
	e->shadow = 0;
}

/* ---- strings ---- */

/*
 * REP MOVS / REP STOS in 64-bit code with 64-bit addresses and DF clear:
 * the iterations that stay within the current source and destination
 * pages, at most cnt, done at once on host memory.  The first iteration's
 * accesses are checked as it would make them (source read, then
 * destination write: a #PF leaves the registers as they are), the rest
 * share its pages.  Returns the iterations done; 0 leaves the next one
 * to the iteration-by-iteration loop (MMIO, a watched page, an element
 * that straddles a page, fewer than two in reach).
 */
static u64 string_bulk(struct engine *e, const struct insn *i, int size, u64 cnt)
{
	struct x86_cpu *c = e->cpu;
	u64 dla = seg_linear(e, S_ES, c->gpr[R_RDI], size, true);
	u64 n = (4096 - (dla & 0xfff)) / (u64)size, sla = 0;
	if (i->op == 0) {
		sla = seg_linear(e, i->seg, c->gpr[R_RSI], size, false);
		u64 ns = (4096 - (sla & 0xfff)) / (u64)size;
		n = ns < n ? ns : n;
	}
	n = cnt < n ? cnt : n;
	if (n < 2)
		return 0;
	u32 bytes = (u32)n * (u32)size;
	const u8 *src = i->op == 0 ? mem_host_ro(e, sla, (int)bytes) : NULL;
	if (i->op == 0 && !src)
		return 0;
	u8 *dst = mem_host_rw(e, dla, (int)bytes);
	if (!dst)
		return 0;
	if (i->op == 2 && size == 1) {
		memset(dst, (int)(c->gpr[R_RAX] & 0xff), bytes);
	} else if (i->op == 2) {
		for (u32 k = 0; k < bytes; k += (u32)size)
			host_st(dst + k, size, c->gpr[R_RAX]);
	} else if (dst > src && dst < src + bytes) {
		/* each iteration reads what the ones before it wrote */
		for (u32 k = 0; k < bytes; k += (u32)size)
			host_st(dst + k, size, host_ld(src + k, size));
	} else {
		memmove(dst, src, bytes);
	}
	mem_host_rw_done(e);
	c->gpr[R_RDI] += bytes;
	if (i->op == 0)
		c->gpr[R_RSI] += bytes;
	c->gpr[R_RCX] -= n;
	return n;
}

/* op: 0 MOVS, 1 CMPS, 2 STOS, 3 LODS, 4 SCAS, 6 INS, 7 OUTS */
void op_string_op(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	int size = i->osz > 4 && i->op >= 6 ? 4 : i->osz, asz = i->asz;
	bool rep = i->rep != 0;
	u16 port = (u16)c->gpr[R_RDX];
	if (i->op >= 6 && !io_allowed(e, port, size))
		raise_exc(e, EXC_GP, 0);
	bool bulk = rep && (i->op == 0 || i->op == 2) && e->code64 && asz == 8 &&
		    !(flags_get(e) & (X86_FL_DF | X86_FL_TF)) && !e->dbg_data && !c->guest_debug;
	for (u64 n = 0, poll_at = 4096, map_at = 255;; n++) {
		if (rep && !reg_get(e, R_RCX, asz))
			break;
		/* (never with read-ahead IN data still to store) */
		if (rep && n && e->pio_pos == e->pio_end &&
		    (e->env->stop || (n >= poll_at && engine_stop_requested(e, true)))) {
			e->next_rip = c->rip; /* resume later, state is exact */
			break;
		}
		if (n >= poll_at)
			poll_at = n + 4096;
		/* a memslot writer waits for this vCPU to leave the old map */
		if (rep && (bulk || n >= map_at)) {
			engine_map_check(e);
			map_at = n + 256;
		}
		u64 done = bulk ? string_bulk(e, i, size, c->gpr[R_RCX]) : 0;
		if (done) {
			n += done - 1;
			if (e->exit->reason != X86_EXIT_NONE) {
				/* a full dirty ring: the rest runs on re-entry */
				if (c->gpr[R_RCX])
					e->next_rip = c->rip;
				break;
			}
			continue;
		}
		s64 d = flags_get(e) & X86_FL_DF ? -size : size;
		u64 si = reg_get(e, R_RSI, asz), di = reg_get(e, R_RDI, asz);
		u64 a, b;
		bool upd_si = false, upd_di = false, cmp = false;
		switch (i->op) {
		case 0:
			a = mem_read(e, i->seg, si, size);
			mem_write(e, S_ES, di, size, a);
			upd_si = upd_di = true;
			break;
		case 1:
			a = mem_read(e, i->seg, si, size);
			b = mem_read(e, S_ES, di, size);
			lf_set(e, LF_SUB, size, a - b, a, b);
			upd_si = upd_di = cmp = true;
			break;
		case 2:
			mem_write(e, S_ES, di, size, reg_get(e, R_RAX, size));
			upd_di = true;
			break;
		case 3:
			reg_set(e, R_RAX, size, mem_read(e, i->seg, si, size));
			upd_si = true;
			break;
		case 4:
			a = reg_get(e, R_RAX, size);
			b = mem_read(e, S_ES, di, size);
			lf_set(e, LF_SUB, size, a - b, a, b);
			upd_di = cmp = true;
			break;
		case 6:
			/* check the destination before the port is read */
			seg_linear(e, S_ES, di, size, true);
			if (rep) {
				/* KVM's read-ahead: bytes (sic) to the page end of RDI */
				u64 in_page = (flags_get(e) & X86_FL_DF) ? (c->gpr[R_RDI] & 0xfff) :
					      4096 - (c->gpr[R_RDI] & 0xfff);
				u64 cnt = reg_get(e, R_RCX, asz);
				a = io_in_n(e, port, size, (u32)(cnt < in_page ? cnt : in_page));
			} else {
				a = io_in(e, port, size);
			}
			mem_write(e, S_ES, di, size, a);
			upd_di = true;
			break;
		default:
			a = mem_read(e, i->seg, si, size);
			io_out(e, port, size, a);
			upd_si = true;
			break;
		}
		if (upd_si)
			reg_set(e, R_RSI, asz, si + d);
		if (upd_di)
			reg_set(e, R_RDI, asz, di + d);
		/* an iteration is complete: MMIO reads start afresh */
		e->mmio_have = e->mmio_used = 0;
		if (!rep)
			break;
		u64 cnt = (reg_get(e, R_RCX, asz) - 1) & size_mask(asz);
		reg_set(e, R_RCX, asz, cnt);
		if (cmp) {
			bool zf = flags_get(e) & X86_FL_ZF;
			if ((i->rep == 0xf3 && !zf) || (i->rep == 0xf2 && zf))
				break;
		}
		if (e->exit->reason != X86_EXIT_NONE) {
			/* exit after this iteration; the rest runs on re-entry */
			if (cnt)
				e->next_rip = c->rip;
			break;
		}
	}
}

/* ---- ports ---- */

void op_in_op(struct engine *e, const struct insn *i)
{
	int size = i->osz > 4 ? 4 : i->osz;
	u16 port = i->op ? (u16)e->cpu->gpr[R_RDX] : (u16)(i->imm & 0xff);
	if (!io_allowed(e, port, size))
		raise_exc(e, EXC_GP, 0);
	reg_set(e, R_RAX, size, io_in(e, port, size));
}

void op_out_op(struct engine *e, const struct insn *i)
{
	int size = i->osz > 4 ? 4 : i->osz;
	u16 port = i->op ? (u16)e->cpu->gpr[R_RDX] : (u16)(i->imm & 0xff);
	if (!io_allowed(e, port, size))
		raise_exc(e, EXC_GP, 0);
	io_out(e, port, size, reg_get(e, R_RAX, size));
}

/* ---- misc ---- */

void op_nop(struct engine *e, const struct insn *i)
{
	(void)e, (void)i;
}

void op_fence(struct engine *e, const struct insn *i)
{
	(void)e, (void)i;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void op_ud(struct engine *e, const struct insn *i)
{
	(void)i;
	raise_exc(e, EXC_UD, NO_ERR);
}

void op_unimpl(struct engine *e, const struct insn *i)
{
	(void)i;
	raise_internal(e);
}
