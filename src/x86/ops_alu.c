/*
 * Integer data instructions: ALU, shifts and rotates, multiply and divide,
 * bit operations, moves and exchanges.  Flags follow SDM Vol. 2; where the
 * SDM leaves a flag undefined the choice is stated next to it (and checked
 * against the host CPU by tests/diff).
 */
#include "x86/exec.h"
#include "x86/cpuid.h"

/* ---- undefined flags and results from the host CPU ----
 *
 * Where the SDM leaves a flag (or a result) undefined, CPU generations and
 * vendors differ, and the differential oracle is the host CPU.  So those
 * instructions run once more on the host, with the guest's operands and its
 * six status flags, and the guest sees what this CPU does.  Only forms that
 * cannot fault get here (DIV after the engine's #DE checks).  The flags go
 * in and out as the JIT's LF_HOST image in RAX (ADD AL, 7Fh sets OF from
 * bit 0, SAHF the rest; LAHF, SETO back): a third of POPF/PUSHF's cost.
 * fl: the guest's RFLAGS in, its six status flags as the host left them
 * out.  RAX is the image, so MUL/DIV forms load their RAX/RDX in the text. */
#define HOST_RUN(text, ...)                                                          \
	__asm__ volatile("add $0x7f, %%al\n\tsahf\n\t" text "\n\tlahf\n\tseto %%al"    \
			 : "+a"(img), __VA_ARGS__ : "cc")
/* one instruction in the operand size: w/l/q with %w/%k/%q operands */
#define HOST_SIZES_WLQ(size, insn, ops, ...)                                         \
	do {                                                                         \
		u64 img = flags_host_image(fl);                                      \
		switch (size) {                                                      \
		case 2: HOST_RUN(insn "w " ops("w"), __VA_ARGS__); break;            \
		case 4: HOST_RUN(insn "l " ops("k"), __VA_ARGS__); break;            \
		default: HOST_RUN(insn "q " ops("q"), __VA_ARGS__); break;           \
		}                                                                    \
		fl = flags_from_host_image(img);                                     \
	} while (0)
/* the same for instructions with a byte form too */
#define HOST_SIZES(size, insn, ops, ...)                                             \
	do {                                                                         \
		if ((size) == 1) {                                                   \
			u64 img = flags_host_image(fl);                              \
			HOST_RUN(insn "b " ops("b"), __VA_ARGS__);                   \
			fl = flags_from_host_image(img);                             \
		} else {                                                             \
			HOST_SIZES_WLQ(size, insn, ops, __VA_ARGS__);                \
		}                                                                    \
	} while (0)
/* MUL/DIV forms: RDX:RAX from x and y, results discarded */
#define HOST_AD "mov %[x], %%rax\n\tmov %[y], %%rdx\n\t"
#define OPS_S(m) "%" m "[s]"
#define OPS_SD(m) "%" m "[s], %" m "[d]"
#define OPS_CL_D(m) "%%cl, %" m "[d]"
#define OPS_CL_SD(m) "%%cl, %" m "[s], %" m "[d]"

/* ---- read-modify-write with LOCK on host atomics ---- */

/* new = fn(old, src, aux) on the r/m operand; returns the old value.
 * LOCKed (and XCHG's implicit lock) updates of RAM use a host CAS loop,
 * so other vCPU threads see them atomically. */
typedef u64 (*rmw_fn)(u64 old, u64 src, u64 aux);

static bool cas(u8 *p, int size, u64 *old, u64 new)
{
	switch (size) {
	case 1: {
		u8 o = (u8)*old;
		bool ok = __atomic_compare_exchange_n(p, &o, (u8)new, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	case 2: {
		u16 o = (u16)*old;
		bool ok = __atomic_compare_exchange_n((u16 *)p, &o, (u16)new, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	case 4: {
		u32 o = (u32)*old;
		bool ok = __atomic_compare_exchange_n((u32 *)p, &o, (u32)new, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	default:
		return __atomic_compare_exchange_n((u64 *)p, old, new, false,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
}

static u64 rmw_mem(struct engine *e, int seg, u64 off, int size, bool atomic,
		   rmw_fn fn, u64 src, u64 aux, u64 *newp)
{
	u64 old, new;
	if (atomic) {
		u64 la = seg_linear(e, seg, off, size, true);
		u8 *p = mem_host_rw(e, la, size);
		if (p && !((uintptr_t)p & (size - 1))) {
			/* another vCPU may store meanwhile: an atomic load
			 * (a plain mov on x86), the CAS retries if stale */
			switch (size) {
			case 1: old = __atomic_load_n(p, __ATOMIC_RELAXED); break;
			case 2: old = __atomic_load_n((u16 *)p, __ATOMIC_RELAXED); break;
			case 4: old = __atomic_load_n((u32 *)p, __ATOMIC_RELAXED); break;
			default: old = __atomic_load_n((u64 *)p, __ATOMIC_RELAXED); break;
			}
			do
				new = fn(old, src, aux) & size_mask(size);
			while (!cas(p, size, &old, new));
			mem_host_rw_done(e);
			*newp = new;
			return old;
		}
	}
	u64 la = seg_linear(e, seg, off, size, true);
	struct tlb_entry *t = &e->tlb.w[tlb_index(la)];
	if (likely(t->tag == tlb_tag(e, la) && (la & 0xfff) + size <= 4096)) {
		u8 *p = (u8 *)(uintptr_t)(la + t->addend);
		old = host_ld(p, size);
		new = fn(old, src, aux) & size_mask(size);
		smc_check(e, p, size);
		host_st(p, size, new);
	} else {
		old = mem_read_la(e, la, size, ACC_W);
		new = fn(old, src, aux) & size_mask(size);
		mem_write_la(e, la, size, new);
	}
	*newp = new;
	return old;
}

static u64 rmw(struct engine *e, const struct insn *i, int size, bool atomic,
	       rmw_fn fn, u64 src, u64 aux, u64 *newp)
{
	if (i->mem)
		return rmw_mem(e, i->seg, ea_offset(e, i), size, atomic, fn, src, aux, newp);
	u64 old = reg_get(e, i->rm, size);
	u64 new = fn(old, src, aux) & size_mask(size);
	reg_set(e, i->rm, size, new);
	*newp = new;
	return old;
}

/* ---- ALU ---- */

static u64 alu_compute(int op, u64 a, u64 b, u64 cf)
{
	switch (op) {
	case 0: return a + b;
	case 1: return a | b;
	case 2: return a + b + cf;
	case 3: return a - b - cf;
	case 4: return a & b;
	case 6: return a ^ b;
	default: return a - b; /* SUB, CMP */
	}
}

static const u8 alu_lf[8] = {LF_ADD, LF_LOGIC, LF_ADC, LF_SBB, LF_LOGIC, LF_SUB,
			     LF_LOGIC, LF_SUB};

static void alu_flags(struct engine *e, int op, int size, u64 a, u64 b, u64 cf)
{
	lf_set(e, alu_lf[op], size, alu_compute(op, a, b, cf), a, b);
	e->lf_cf = cf;
}

static u64 carry_in(struct engine *e, int op)
{
	return (op == 2 || op == 3) ? flags_cf(e) : 0;
}

#define ALU_RMW(n)                                                              \
	static u64 rmw_alu##n(u64 a, u64 b, u64 cf)                             \
	{                                                                       \
		return alu_compute(n, a, b, cf);                                \
	}
ALU_RMW(0) ALU_RMW(1) ALU_RMW(2) ALU_RMW(3) ALU_RMW(4) ALU_RMW(5) ALU_RMW(6)
static const rmw_fn alu_rmw[7] = {rmw_alu0, rmw_alu1, rmw_alu2, rmw_alu3,
				  rmw_alu4, rmw_alu5, rmw_alu6};

/* Register-destination forms, picked at decode time (no RMW machinery). */
static inline void alu_reg_fast(struct engine *e, int op, int size, int r, u64 b)
{
	u64 a = reg_get(e, r, size), cf = carry_in(e, op);
	b &= size_mask(size);
	u64 res = alu_compute(op, a, b, cf);
	lf_set(e, alu_lf[op], size, res, a, b);
	e->lf_cf = cf;
	if (op != 7)
		reg_set(e, r, size, res);
}

void op_alu_rr(struct engine *e, const struct insn *i)
{
	alu_reg_fast(e, i->op, i->osz, i->rm, reg_get(e, i->reg, i->osz));
}

void op_alu_ri(struct engine *e, const struct insn *i)
{
	alu_reg_fast(e, i->reg & 7, i->osz, i->rm, i->imm);
}

static void alu_rm(struct engine *e, const struct insn *i, int op, u64 src)
{
	int size = i->osz;
	u64 cf = carry_in(e, op), n;
	src &= size_mask(size);
	if (op == 7) {
		alu_flags(e, op, size, rm_read(e, i, size), src, 0);
		return;
	}
	u64 old = rmw(e, i, size, i->lock, alu_rmw[op], src, cf, &n);
	alu_flags(e, op, size, old, src, cf);
}

void op_alu_rm_r(struct engine *e, const struct insn *i)
{
	alu_rm(e, i, i->op, reg_get(e, i->reg, i->osz));
}

void op_alu_rm_imm(struct engine *e, const struct insn *i)
{
	alu_rm(e, i, i->reg & 7, i->imm);
}

static void alu_reg(struct engine *e, int op, int size, int r, u64 b)
{
	alu_reg_fast(e, op, size, r, b);
}

void op_alu_r_rm(struct engine *e, const struct insn *i)
{
	alu_reg(e, i->op, i->osz, i->reg, rm_read(e, i, i->osz));
}

void op_alu_a_imm(struct engine *e, const struct insn *i)
{
	alu_reg(e, i->op, i->osz, R_RAX, i->imm);
}

static void logic_flags(struct engine *e, int size, u64 r)
{
	lf_set(e, LF_LOGIC, size, r, 0, 0);
}

void op_test_rm_r(struct engine *e, const struct insn *i)
{
	logic_flags(e, i->osz, rm_read(e, i, i->osz) & reg_get(e, i->reg, i->osz));
}

void op_test_a_imm(struct engine *e, const struct insn *i)
{
	logic_flags(e, i->osz, reg_get(e, R_RAX, i->osz) & i->imm);
}

void op_test_rm_imm(struct engine *e, const struct insn *i)
{
	logic_flags(e, i->osz, rm_read(e, i, i->osz) & i->imm);
}

static u64 rmw_inc(u64 a, u64 b, u64 aux)
{
	(void)aux;
	return a + b;
}

static void inc_dec_flags(struct engine *e, int size, u64 old, bool dec)
{
	u64 cf = flags_cf(e);
	lf_set(e, dec ? LF_DEC : LF_INC, size, dec ? old - 1 : old + 1, old, 1);
	e->lf_cf = cf;
}

void op_inc_dec_rm(struct engine *e, const struct insn *i)
{
	u64 n, old = rmw(e, i, i->osz, i->lock, rmw_inc, i->op ? ~0ULL : 1, 0, &n);
	inc_dec_flags(e, i->osz, old, i->op);
}

void op_inc_dec_r(struct engine *e, const struct insn *i)
{
	u64 old = reg_get(e, i->reg, i->osz);
	inc_dec_flags(e, i->osz, old, i->op);
	reg_set(e, i->reg, i->osz, i->op ? old - 1 : old + 1);
}

static u64 rmw_not(u64 a, u64 b, u64 aux)
{
	(void)b, (void)aux;
	return ~a;
}

static u64 rmw_neg(u64 a, u64 b, u64 aux)
{
	(void)b, (void)aux;
	return -a;
}

void op_not_rm(struct engine *e, const struct insn *i)
{
	u64 n;
	rmw(e, i, i->osz, i->lock, rmw_not, 0, 0, &n);
}

void op_neg_rm(struct engine *e, const struct insn *i)
{
	u64 n, old = rmw(e, i, i->osz, i->lock, rmw_neg, 0, 0, &n);
	lf_set(e, LF_SUB, i->osz, n, 0, old);
}

/* ---- multiply and divide ---- */

/* MUL/IMUL: CF = OF = the high half is significant.  SF, ZF, AF, PF are
 * undefined (AMD parts keep them, Intel parts compute some from the
 * result): the host's.  form: 0 MUL, 1 one-operand IMUL, 2 IMUL r, r/m
 * (the three-operand form is the same multiply with the immediate). */
static void mul_flags(struct engine *e, int form, int size, u64 a, u64 b)
{
	u64 fl = flags_get(e), hi = 0, x = a;
	if (form == 0)
		HOST_SIZES(size, HOST_AD "mul", OPS_S, "+d"(hi) : [s] "r"(b), [x] "r"(x), [y] "r"(hi));
	else if (form == 1)
		HOST_SIZES(size, HOST_AD "imul", OPS_S, "+d"(hi) : [s] "r"(b), [x] "r"(x), [y] "r"(hi));
	else
		HOST_SIZES_WLQ(size, "imul", OPS_SD, [d] "+r"(a) : [s] "r"(b));
	flags_arith(e, fl);
}

static void mul_store(struct engine *e, int size, u64 lo, u64 hi)
{
	if (size == 1) {
		reg_set(e, R_RAX, 2, (lo & 0xff) | (hi & 0xff) << 8);
	} else {
		reg_set(e, R_RAX, size, lo);
		reg_set(e, R_RDX, size, hi);
	}
}

void op_mul_rm(struct engine *e, const struct insn *i)
{
	int size = i->osz, bits = size * 8;
	u64 b = rm_read(e, i, size), a = reg_get(e, R_RAX, size);
	unsigned __int128 p = (unsigned __int128)a * b;
	u64 lo, hi;
	if (size == 8) {
		lo = (u64)p;
		hi = (u64)(p >> 64);
	} else {
		lo = (u64)p & size_mask(size);
		hi = ((u64)p >> bits) & size_mask(size);
	}
	mul_store(e, size, lo, hi);
	mul_flags(e, 0, size, a, b);
}

static __int128 imul_full(int size, u64 a, u64 b)
{
	return (__int128)sext(a, size) * sext(b, size);
}

void op_imul_rm(struct engine *e, const struct insn *i)
{
	int size = i->osz, bits = size * 8;
	u64 b = rm_read(e, i, size), a = reg_get(e, R_RAX, size);
	__int128 p = imul_full(size, a, b);
	u64 lo = (u64)p & size_mask(size);
	u64 hi = size == 8 ? (u64)(p >> 64) : (u64)(p >> bits) & size_mask(size);
	mul_store(e, size, lo, hi);
	mul_flags(e, 1, size, a, b);
}

static void imul2(struct engine *e, const struct insn *i, u64 a, u64 b)
{
	int size = i->osz;
	__int128 p = imul_full(size, a, b);
	u64 lo = (u64)p & size_mask(size);
	reg_set(e, i->reg, size, lo);
	mul_flags(e, 2, size, a, b);
}

void op_imul_r_rm(struct engine *e, const struct insn *i)
{
	imul2(e, i, reg_get(e, i->reg, i->osz), rm_read(e, i, i->osz));
}

void op_imul_r_rm_imm(struct engine *e, const struct insn *i)
{
	imul2(e, i, rm_read(e, i, i->osz), i->imm);
}

/* DIV/IDIV leave all six flags undefined: the host's, from the same
 * division.  Called only after the #DE checks passed (so the host's
 * division cannot fault) and before RAX/RDX are written. */
static void div_flags(struct engine *e, bool sgn, int size, u64 d)
{
	u64 fl = flags_get(e);
	u64 lo = reg_get(e, R_RAX, size == 1 ? 2 : size), hi = reg_get(e, R_RDX, size);
	u64 t = hi;
	if (sgn)
		HOST_SIZES(size, HOST_AD "idiv", OPS_S, "+d"(t) : [s] "r"(d), [x] "r"(lo), [y] "r"(hi));
	else
		HOST_SIZES(size, HOST_AD "div", OPS_S, "+d"(t) : [s] "r"(d), [x] "r"(lo), [y] "r"(hi));
	flags_arith(e, fl);
}

void op_div_rm(struct engine *e, const struct insn *i)
{
	int size = i->osz, bits = size * 8;
	u64 d = rm_read(e, i, size);
	if (!d)
		raise_exc(e, EXC_DE, NO_ERR);
	unsigned __int128 n;
	if (size == 1)
		n = reg_get(e, R_RAX, 2);
	else
		n = ((unsigned __int128)reg_get(e, R_RDX, size) << bits) |
		    reg_get(e, R_RAX, size);
	unsigned __int128 q = n / d, r = n % d;
	if (q > size_mask(size))
		raise_exc(e, EXC_DE, NO_ERR);
	div_flags(e, false, size, d);
	if (size == 1)
		reg_set(e, R_RAX, 2, (u64)q | (u64)r << 8);
	else {
		reg_set(e, R_RAX, size, (u64)q);
		reg_set(e, R_RDX, size, (u64)r);
	}
}

void op_idiv_rm(struct engine *e, const struct insn *i)
{
	int size = i->osz, bits = size * 8;
	s64 d = sext(rm_read(e, i, size), size);
	if (!d)
		raise_exc(e, EXC_DE, NO_ERR);
	__int128 n;
	if (size == 1)
		n = (s16)reg_get(e, R_RAX, 2);
	else
		n = (__int128)(((unsigned __int128)reg_get(e, R_RDX, size) << bits) |
			       reg_get(e, R_RAX, size));
	if (size < 8)
		n = (__int128)((unsigned __int128)n << (128 - 2 * bits)) >> (128 - 2 * bits);
	else
		n = (__int128)(((unsigned __int128)reg_get(e, R_RDX, 8) << 64) |
			       reg_get(e, R_RAX, 8));
	/* -2^127 / -1 overflows __int128 itself; it is #DE in any case. */
	if (size == 8 && d == -1 && n == -n && n != 0)
		raise_exc(e, EXC_DE, NO_ERR);
	__int128 q = n / d, r = n % d;
	__int128 lim = (__int128)1 << (bits - 1);
	if (q >= lim || q < -lim)
		raise_exc(e, EXC_DE, NO_ERR);
	div_flags(e, true, size, (u64)d);
	if (size == 1)
		reg_set(e, R_RAX, 2, ((u64)q & 0xff) | ((u64)r & 0xff) << 8);
	else {
		reg_set(e, R_RAX, size, (u64)q);
		reg_set(e, R_RDX, size, (u64)r);
	}
}

/* ---- shifts and rotates ---- */

/* The whole shift or rotate on the host: result and flags.  The count is
 * the guest's masked count; the host masks it the same way. */
static u64 host_shift(int kind, int size, u64 d, u64 cnt, u64 *flp)
{
	u64 fl = *flp;
	switch (kind) {
	case 0: HOST_SIZES(size, "rol", OPS_CL_D, [d] "+r"(d) : "c"(cnt)); break;
	case 1: HOST_SIZES(size, "ror", OPS_CL_D, [d] "+r"(d) : "c"(cnt)); break;
	case 2: HOST_SIZES(size, "rcl", OPS_CL_D, [d] "+r"(d) : "c"(cnt)); break;
	case 3: HOST_SIZES(size, "rcr", OPS_CL_D, [d] "+r"(d) : "c"(cnt)); break;
	case 5: HOST_SIZES(size, "shr", OPS_CL_D, [d] "+r"(d) : "c"(cnt)); break;
	case 7: HOST_SIZES(size, "sar", OPS_CL_D, [d] "+r"(d) : "c"(cnt)); break;
	default: /* SHL and its /6 alias */
		HOST_SIZES(size, "shl", OPS_CL_D, [d] "+r"(d) : "c"(cnt));
		break;
	}
	*flp = fl;
	return d & size_mask(size);
}

/* Rotates by one are fully defined (CF, OF) and done here.  Any other
 * non-zero count leaves something undefined: OF for rotates and shifts by
 * more than one, AF for every shift, CF and the result of SHL/SHR by the
 * operand size or more; those run on the host. */
void op_shift_rm(struct engine *e, const struct insn *i)
{
	int size = i->osz, kind = i->reg & 7;
	u64 cnt = i->op == 0 ? i->imm : i->op == 1 ? 1 : reg_get(e, R_RCX, 1);
	cnt &= size == 8 ? 0x3f : 0x1f;
	u64 sb = sign_bit(size);
	u64 a = i->mem ? mem_read_w(e, i->seg, ea_offset(e, i), size) : reg_get(e, i->rm, size);
	u64 fl = flags_get(e), r;
	if (!cnt) {
		rm_write(e, i, size, a);
		return;
	}
	if (cnt > 1 || kind >= 4) {
		r = host_shift(kind, size, a, cnt, &fl);
		rm_write(e, i, size, r);
		flags_arith(e, fl);
		return;
	}
	bool cf = fl & X86_FL_CF, of;
	switch (kind) {
	case 0: /* ROL */
		r = ((a << 1) | (a & sb ? 1 : 0)) & size_mask(size);
		cf = r & 1;
		of = !!(r & sb) ^ cf;
		break;
	case 1: /* ROR */
		r = (a >> 1) | (a & 1 ? sb : 0);
		cf = a & 1;
		of = !!(r & sb) ^ !!(r & (sb >> 1));
		break;
	case 2: /* RCL */
		r = ((a << 1) | cf) & size_mask(size);
		cf = a & sb;
		of = !!(r & sb) ^ cf;
		break;
	default: /* RCR: OF = MSB(dest) ^ CF before */
		r = (a >> 1) | (cf ? sb : 0);
		of = !!(a & sb) ^ cf;
		cf = a & 1;
		break;
	}
	rm_write(e, i, size, r);
	fl &= ~(X86_FL_CF | X86_FL_OF);
	flags_arith(e, fl | (cf ? X86_FL_CF : 0) | (of ? X86_FL_OF : 0));
}

/* SHLD/SHRD (op bit 1 = right, bit 0 = count in CL).  AF is undefined for
 * any count, OF for counts above one, the result and all flags for 16-bit
 * counts above 16: every non-zero count runs on the host. */
void op_shld_shrd(struct engine *e, const struct insn *i)
{
	int size = i->osz;
	u64 cnt = (i->op & 1) ? reg_get(e, R_RCX, 1) : i->imm;
	cnt &= size == 8 ? 0x3f : 0x1f;
	u64 a = i->mem ? mem_read_w(e, i->seg, ea_offset(e, i), size) : reg_get(e, i->rm, size);
	u64 b = reg_get(e, i->reg, size), fl = flags_get(e);
	if (cnt) {
		if (i->op & 2)
			HOST_SIZES_WLQ(size, "shrd", OPS_CL_SD, [d] "+r"(a) : [s] "r"(b), "c"(cnt));
		else
			HOST_SIZES_WLQ(size, "shld", OPS_CL_SD, [d] "+r"(a) : [s] "r"(b), "c"(cnt));
	}
	rm_write(e, i, size, a & size_mask(size));
	if (cnt)
		flags_arith(e, fl);
}

/* ---- moves ---- */

void op_mov_rr(struct engine *e, const struct insn *i)
{
	reg_set(e, i->rm, i->osz, reg_get(e, i->reg, i->osz));
}

void op_mov_rm_r(struct engine *e, const struct insn *i)
{
	rm_write(e, i, i->osz, reg_get(e, i->reg, i->osz));
}

void op_mov_r_rm(struct engine *e, const struct insn *i)
{
	reg_set(e, i->reg, i->osz, rm_read(e, i, i->osz));
}

void op_mov_rm_imm(struct engine *e, const struct insn *i)
{
	rm_write(e, i, i->osz, i->imm);
}

void op_mov_r_imm(struct engine *e, const struct insn *i)
{
	reg_set(e, i->reg, i->osz, i->imm);
}

void op_mov_a_moffs(struct engine *e, const struct insn *i)
{
	reg_set(e, R_RAX, i->osz, mem_read(e, i->seg, i->imm & size_mask(i->asz), i->osz));
}

void op_mov_moffs_a(struct engine *e, const struct insn *i)
{
	mem_write(e, i->seg, i->imm & size_mask(i->asz), i->osz, reg_get(e, R_RAX, i->osz));
}

void op_movzx(struct engine *e, const struct insn *i)
{
	reg_set(e, i->reg, i->osz, rm_read(e, i, i->op));
}

void op_movsx(struct engine *e, const struct insn *i)
{
	reg_set(e, i->reg, i->osz, (u64)sext(rm_read(e, i, i->op), i->op));
}

void op_movsxd(struct engine *e, const struct insn *i)
{
	u64 v = rm_read(e, i, i->osz == 8 ? 4 : i->osz);
	reg_set(e, i->reg, i->osz, i->osz == 8 ? (u64)(s64)(s32)v : v);
}

void op_lea(struct engine *e, const struct insn *i)
{
	reg_set(e, i->reg, i->osz, ea_offset(e, i));
}

static u64 rmw_xchg(u64 a, u64 b, u64 aux)
{
	(void)a, (void)aux;
	return b;
}

void op_xchg_rm_r(struct engine *e, const struct insn *i)
{
	u64 n, src = reg_get(e, i->reg, i->osz);
	/* XCHG with memory is locked whether or not LOCK is given. */
	u64 old = rmw(e, i, i->osz, true, rmw_xchg, src, 0, &n);
	reg_set(e, i->reg, i->osz, old);
}

void op_xchg_a_r(struct engine *e, const struct insn *i)
{
	u64 a = reg_get(e, R_RAX, i->osz), b = reg_get(e, i->reg, i->osz);
	reg_set(e, R_RAX, i->osz, b);
	reg_set(e, i->reg, i->osz, a);
}

void op_xadd(struct engine *e, const struct insn *i)
{
	u64 n, old, src = reg_get(e, i->reg, i->osz);
	if (!i->mem) {
		/* SRC = DEST, then DEST = sum: with one register, the sum wins */
		old = reg_get(e, i->rm, i->osz);
		reg_set(e, i->reg, i->osz, old);
		reg_set(e, i->rm, i->osz, old + src);
	} else {
		old = rmw(e, i, i->osz, i->lock, rmw_alu0, src, 0, &n);
		reg_set(e, i->reg, i->osz, old);
	}
	alu_flags(e, 0, i->osz, old, src, 0);
}

void op_cmpxchg(struct engine *e, const struct insn *i)
{
	int size = i->osz;
	u64 acc = reg_get(e, R_RAX, size), src = reg_get(e, i->reg, size), old;
	if (!i->mem) {
		old = reg_get(e, i->rm, size);
		if (old == acc)
			reg_set(e, i->rm, size, src);
		else
			reg_set(e, R_RAX, size, old);
		alu_flags(e, 5, size, acc, old, 0);
		return;
	}
	u64 off = ea_offset(e, i);
	u64 la = seg_linear(e, i->seg, off, size, true);
	u8 *p = i->lock ? mem_host_rw(e, la, size) : NULL;
	if (p && !((uintptr_t)p & (size - 1))) {
		old = acc;
		cas(p, size, &old, src);
		mem_host_rw_done(e);
	} else {
		old = mem_read_w(e, i->seg, off, size);
		/* The destination is written even when the compare fails. */
		mem_write(e, i->seg, off, size, old == acc ? src : old);
	}
	if (old != acc)
		reg_set(e, R_RAX, size, old);
	alu_flags(e, 5, size, acc, old, 0);
}

/* CMPXCHG8B / CMPXCHG16B (REX.W) */
void op_cmpxchg8b(struct engine *e, const struct insn *i)
{
	bool wide = i->osz == 8;
	int half = wide ? 8 : 4;
	u64 off = ea_offset(e, i);
	if (wide && !x86_cpuid_has(e->cpu, 1, 0, 2, 13))
		raise_exc(e, EXC_UD, NO_ERR);
	/* REX.W exists only in 64-bit mode, where only FS and GS have a base
	 * (the rule seg_linear applies): the linear address must be aligned */
	if (wide && (off + (i->seg >= S_FS ? e->cpu->seg[i->seg].base : 0)) & 15)
		raise_exc(e, EXC_GP, 0);
	u64 cmp_lo = reg_get(e, R_RAX, half), cmp_hi = reg_get(e, R_RDX, half);
	u64 new_lo = reg_get(e, R_RBX, half), new_hi = reg_get(e, R_RCX, half);
	u64 la = seg_linear(e, i->seg, off, half * 2, true);
	u64 lo, hi;
	bool eq;
	u8 *p = mem_host_rw(e, la, half * 2);
	if (p && !((uintptr_t)p & (half * 2 - 1))) {
		if (wide) {
			/* the host's own CMPXCHG16B (no libatomic call) */
			lo = cmp_lo;
			hi = cmp_hi;
			__asm__ volatile("lock cmpxchg16b %1"
					 : "=@ccz"(eq), "+m"(*(volatile unsigned __int128 *)p),
					   "+a"(lo), "+d"(hi)
					 : "b"(new_lo), "c"(new_hi)
					 : "memory");
		} else {
			u64 o = cmp_hi << 32 | cmp_lo;
			eq = cas(p, 8, &o, new_hi << 32 | new_lo);
			lo = (u32)o;
			hi = o >> 32;
		}
		mem_host_rw_done(e);
	} else {
		lo = mem_read_w(e, i->seg, off, half);
		hi = mem_read_w(e, i->seg, off + half, half);
		eq = lo == cmp_lo && hi == cmp_hi;
		mem_write(e, i->seg, off, half, eq ? new_lo : lo);
		mem_write(e, i->seg, off + half, half, eq ? new_hi : hi);
	}
	if (!eq) {
		reg_set(e, R_RAX, half, lo);
		reg_set(e, R_RDX, half, hi);
	}
	u64 fl = flags_get(e) & ~X86_FL_ZF;
	flags_arith(e, fl | (eq ? X86_FL_ZF : 0));
}

/* ---- bit operations ---- */

static u64 rmw_bt(u64 a, u64 bit, u64 op)
{
	switch (op) {
	case 1: return a | BIT(bit);
	case 2: return a & ~BIT(bit);
	case 3: return a ^ BIT(bit);
	default: return a;
	}
}

/* BT* set CF to the bit; OF, SF, AF, PF are undefined: the host's, from
 * the same operation on a register copy (bit already reduced mod size). */
static void bt_flag(struct engine *e, int op, int size, u64 a, u64 bit)
{
	u64 fl = flags_get(e);
	switch (op) {
	case 0: HOST_SIZES_WLQ(size, "bt", OPS_SD, [d] "+r"(a) : [s] "r"(bit)); break;
	case 1: HOST_SIZES_WLQ(size, "bts", OPS_SD, [d] "+r"(a) : [s] "r"(bit)); break;
	case 2: HOST_SIZES_WLQ(size, "btr", OPS_SD, [d] "+r"(a) : [s] "r"(bit)); break;
	default: HOST_SIZES_WLQ(size, "btc", OPS_SD, [d] "+r"(a) : [s] "r"(bit)); break;
	}
	flags_arith(e, fl);
}

static void bt_common(struct engine *e, const struct insn *i, u64 off_bits, bool reg_off)
{
	int size = i->osz, bits = size * 8;
	u64 bit;
	int op = i->op;
	if (!i->mem) {
		bit = off_bits & (bits - 1);
		u64 a = reg_get(e, i->rm, size);
		if (op)
			reg_set(e, i->rm, size, rmw_bt(a, bit, op));
		bt_flag(e, op, size, a, bit);
		return;
	}
	/* A register bit offset addresses memory beyond the operand
	 * (signed, SDM Vol. 2A BT); an immediate one does not. */
	u64 off = ea_offset(e, i);
	if (reg_off) {
		s64 so = sext(off_bits, size);
		off = (off + (u64)((so >> (bits == 64 ? 6 : bits == 32 ? 5 : 4)) * (bits / 8))) &
		      size_mask(i->asz);
	}
	bit = off_bits & (bits - 1);
	u64 a, n;
	if (!op)
		a = mem_read(e, i->seg, off, size);
	else
		a = rmw_mem(e, i->seg, off, size, i->lock, rmw_bt, bit, op, &n);
	bt_flag(e, op, size, a, bit);
}

void op_bt_rm_r(struct engine *e, const struct insn *i)
{
	bt_common(e, i, reg_get(e, i->reg, i->osz), true);
}

void op_bt_rm_imm(struct engine *e, const struct insn *i)
{
	struct insn t = *i;
	t.op = i->reg & 3;
	bt_common(e, &t, i->imm & 0xff, false);
}

/* BSF/BSR: ZF = source is zero, destination then unchanged.  The other
 * flags are undefined and CPU generations differ: some AMD parts clear CF,
 * OF, SF, AF and set PF from the index, Zen 3 leaves them as they were.  So
 * the instruction runs on the host with the guest's flags and the guest sees
 * what this CPU does, as the differential oracle does (HOST_RUN). */
static u64 host_bitscan_flags(bool rev, int size, u64 v, u64 fl)
{
	u64 d = 0;
	if (rev)
		HOST_SIZES_WLQ(size, "bsr", OPS_SD, [d] "+r"(d) : [s] "r"(v));
	else
		HOST_SIZES_WLQ(size, "bsf", OPS_SD, [d] "+r"(d) : [s] "r"(v));
	return fl;
}

void op_bsf_bsr(struct engine *e, const struct insn *i)
{
	int size = i->osz;
	u64 v = rm_read(e, i, size) & size_mask(size);
	flags_arith(e, host_bitscan_flags(i->op, size, v, flags_get(e)));
	if (!v)
		return;
	u64 idx = i->op ? 63 - __builtin_clzll(v) : __builtin_ctzll(v);
	reg_set(e, i->reg, size, idx);
}

void op_bswap(struct engine *e, const struct insn *i)
{
	u64 v = reg_get(e, i->reg, 8);
	if (i->osz == 8)
		reg_set(e, i->reg, 8, __builtin_bswap64(v));
	else if (i->osz == 4)
		reg_set(e, i->reg, 4, __builtin_bswap32((u32)v));
	else {
		/* undefined: what the host's BSWAP r16 (66 0F C8, AX) leaves */
		__asm__(".byte 0x66, 0x0f, 0xc8" : "+a"(v));
		reg_set(e, i->reg, 2, v);
	}
}

/* ---- conversions and flag transfers ---- */

void op_cbw(struct engine *e, const struct insn *i)
{
	int h = i->osz / 2;
	reg_set(e, R_RAX, i->osz, (u64)sext(reg_get(e, R_RAX, h), h));
}

void op_cwd(struct engine *e, const struct insn *i)
{
	u64 a = reg_get(e, R_RAX, i->osz);
	reg_set(e, R_RDX, i->osz, a & sign_bit(i->osz) ? ~0ULL : 0);
}

static void lahf_ok(struct engine *e)
{
	/* In 64-bit mode LAHF/SAHF need CPUID.80000001H:ECX.LAHF-SAHF */
	if (e->code64 && !x86_cpuid_has(e->cpu, 0x80000001, 0, 2, 0))
		raise_exc(e, EXC_UD, NO_ERR);
}

void op_lahf(struct engine *e, const struct insn *i)
{
	(void)i;
	lahf_ok(e);
	reg_set(e, 16 + R_RAX, 1, flags_get(e) & 0xff);
}

void op_sahf(struct engine *e, const struct insn *i)
{
	(void)i;
	lahf_ok(e);
	const u64 m = X86_FL_CF | X86_FL_PF | X86_FL_AF | X86_FL_ZF | X86_FL_SF;
	u64 fl = flags_get(e);
	flags_arith(e, (fl & ~m & ~X86_FL_OF) | (fl & X86_FL_OF) |
			       ((e->cpu->gpr[R_RAX] >> 8) & m));
}

void op_setcc(struct engine *e, const struct insn *i)
{
	rm_write(e, i, 1, cond_eval(e, i->op));
}

void op_cmovcc(struct engine *e, const struct insn *i)
{
	/* The source is read (and may fault) whatever the condition; a
	 * 32-bit destination is zero-extended even when nothing moves. */
	u64 v = rm_read(e, i, i->osz);
	if (cond_eval(e, i->op))
		reg_set(e, i->reg, i->osz, v);
	else if (i->osz == 4)
		reg_set(e, i->reg, 4, reg_get(e, i->reg, 4));
}

void op_xlat(struct engine *e, const struct insn *i)
{
	u64 off = (e->cpu->gpr[R_RBX] + (e->cpu->gpr[R_RAX] & 0xff)) & size_mask(i->asz);
	reg_set(e, R_RAX, 1, mem_read(e, i->seg, off, 1));
}

void op_salc(struct engine *e, const struct insn *i)
{
	(void)i;
	reg_set(e, R_RAX, 1, flags_get(e) & X86_FL_CF ? 0xff : 0);
}

/* ---- decimal arithmetic (SDM Vol. 2A DAA, DAS, AAA, AAS, AAM, AAD) ---- */

/* The whole instruction on the host CPU in compatibility mode (host32.c):
 * AX and the six status flags, undefined ones included */
static bool adjust_on_host(struct engine *e, u8 opcode, u8 imm)
{
	u32 eax = (u32)e->cpu->gpr[R_RAX];
	u64 fl = flags_get(e);
	if (!host32_adjust(opcode, imm, &eax, &fl))
		return false;
	reg_set(e, R_RAX, 2, (u16)eax);
	flags_arith(e, fl);
	return true;
}

/* op: 0 DAA, 1 DAS, 2 AAA, 3 AAS */
void op_bcd(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	u64 fl = flags_get(e);
	bool cf = fl & X86_FL_CF, af = fl & X86_FL_AF;
	u8 al = (u8)c->gpr[R_RAX], old = al;
	u16 ax = (u16)c->gpr[R_RAX];
	static const u8 opcode[4] = { 0x27, 0x2f, 0x37, 0x3f };
	if (adjust_on_host(e, opcode[i->op & 3], 0))
		return;
	/* no compat segment on this host: the values an AMD Zen CPU gives */
	u64 nf = fl & ~(X86_FL_CF | X86_FL_AF | X86_FL_ZF | X86_FL_SF | X86_FL_PF | X86_FL_OF);
	switch (i->op) {
	case 0:
	case 1: {
		bool sub = i->op == 1, ncf = false, naf = false;
		if ((al & 0xf) > 9 || af) {
			ncf = cf || (sub ? al < 6 : al > 0xf9);
			al = sub ? al - 6 : al + 6;
			naf = true;
		}
		if (old > 0x99 || cf) {
			al = sub ? al - 0x60 : al + 0x60;
			ncf = true;
		}
		reg_set(e, R_RAX, 1, al);
		/* OF is undefined: from the signed view of the adjustment */
		nf |= flags_szp(al, 1) | (ncf ? X86_FL_CF : 0) | (naf ? X86_FL_AF : 0);
		if (!sub && !(old & 0x80) && (al & 0x80))
			nf |= X86_FL_OF;
		if (sub && (old & 0x80) && !(al & 0x80))
			nf |= X86_FL_OF;
		break;
	}
	default: {
		bool adj = (al & 0xf) > 9 || af;
		u16 old_ax = ax;
		if (adj)
			ax = i->op == 2 ? ax + 0x106 : (u16)((ax - 6) - 0x100);
		/* SF, ZF, PF, OF are undefined: AMD reports those of the 16-bit
		 * AX adjustment, before AL's high nibble is cleared */
		nf |= flags_szp(ax, 2) | (adj ? X86_FL_CF | X86_FL_AF : 0);
		if ((i->op == 2 ? ~old_ax & ax : old_ax & ~ax) & 0x8000)
			nf |= X86_FL_OF;
		ax &= 0xff0f;
		reg_set(e, R_RAX, 2, ax);
		break;
	}
	}
	flags_arith(e, nf);
}

/* AAM (op 0) / AAD (op 1) with base imm8 */
void op_aam_aad(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	u8 base = (u8)i->imm, al = (u8)c->gpr[R_RAX], ah = (u8)(c->gpr[R_RAX] >> 8);
	u16 ax;
	if (!i->op && !base)
		raise_exc(e, EXC_DE, NO_ERR);
	if (adjust_on_host(e, i->op ? 0xd5 : 0xd4, base))
		return;
	if (!i->op) {
		ax = (u16)((al / base) << 8 | (al % base));
		reg_set(e, R_RAX, 2, ax);
		/* OF, AF, CF are undefined: cleared */
		flags_arith(e, flags_szp(ax & 0xff, 1));
		return;
	}
	/* AAD adds AH * base to AL; AMD's undefined flags are that ADD's */
	u8 prod = (u8)(ah * base);
	ax = (u8)(al + prod);
	reg_set(e, R_RAX, 2, ax);
	lf_set(e, LF_ADD, 1, ax, al, prod);
}
