/*
 * Lazy flags: arithmetic instructions record their operation, operands and
 * result; the six status flags are computed only when something reads them
 * (Jcc, PUSHF, an exit).  Operations whose flags are awkward to derive
 * afterwards (shifts, multiplies, bit tests) store them eagerly instead.
 */
#include "x86/exec.h"

u64 parity_flag(u64 res)
{
	return __builtin_parity((u8)res) ? 0 : X86_FL_PF;
}

static u64 lazy_arith(const struct engine *e)
{
	int size = e->lf_size;
	u64 res = e->lf_res, a = e->lf_a, b = e->lf_b, sb = sign_bit(size);
	u64 fl = flags_szp(res, size);
	bool cf = false, of = false;

	switch (e->lf_op) {
	case LF_ADD:
		cf = res < a;
		of = (a ^ res) & (b ^ res) & sb;
		break;
	case LF_ADC:
		cf = res < a || (e->lf_cf && res == a);
		of = (a ^ res) & (b ^ res) & sb;
		break;
	case LF_SUB:
		cf = a < b;
		of = (a ^ b) & (a ^ res) & sb;
		break;
	case LF_SBB:
		cf = a < b || (e->lf_cf && a == b);
		of = (a ^ b) & (a ^ res) & sb;
		break;
	case LF_LOGIC:
		/* AF is undefined; the processors we mirror leave it clear. */
		return fl;
	case LF_INC:
		cf = e->lf_cf;
		of = res == sb;
		break;
	case LF_DEC:
		cf = e->lf_cf;
		of = res == sb - 1;
		break;
	}
	fl |= (a ^ b ^ res) & X86_FL_AF;
	return fl | (cf ? X86_FL_CF : 0) | (of ? X86_FL_OF : 0);
}

u64 flags_cf(struct engine *e)
{
	switch (e->lf_op) {
	case LF_NONE: return e->cpu->rflags & X86_FL_CF;
	case LF_ADD: return e->lf_res < e->lf_a;
	case LF_SUB: return e->lf_a < e->lf_b;
	case LF_LOGIC: return 0;
	case LF_INC: case LF_DEC: return e->lf_cf;
	default: return flags_get(e) & X86_FL_CF;
	}
}

/* LF_HOST (JIT): bits 15:8 as LAHF leaves AH, bit 0 OF (SETO). */
u64 flags_host_image(u64 fl)
{
	return (fl & 0xd5) << 8 | ((fl >> 11) & 1);
}

u64 flags_from_host_image(u64 img)
{
	return ((img >> 8) & 0xd5) | (img & 1) << 11;
}

u64 flags_get(struct engine *e)
{
	if (e->lf_op == LF_NONE)
		return e->cpu->rflags;
	const u64 m = X86_FL_CF | X86_FL_PF | X86_FL_AF | X86_FL_ZF | X86_FL_SF |
		      X86_FL_OF;
	u64 fl = e->lf_op == LF_HOST ? flags_from_host_image(e->lf_res) : lazy_arith(e);
	return (e->cpu->rflags & ~m) | (fl & m);
}

void flags_fold(struct engine *e)
{
	e->cpu->rflags = flags_get(e);
	e->lf_op = LF_NONE;
}

void flags_set(struct engine *e, u64 v)
{
	e->lf_op = LF_NONE;
	e->cpu->rflags = v | X86_FL_FIXED1;
}

/* The condition codes of Jcc/SETcc/CMOVcc (SDM Vol. 1, Appendix B). */
bool cond_eval(struct engine *e, int cc)
{
	/* ZF and SF of any pending operation are those of its result */
	if (e->lf_op != LF_NONE && e->lf_op != LF_HOST && ((cc >> 1) == 2 || (cc >> 1) == 4)) {
		bool r = (cc >> 1) == 2 ? e->lf_res == 0 : !!(e->lf_res & sign_bit(e->lf_size));
		return r ^ (cc & 1);
	}
	/* Fast paths for a pending CMP/SUB or logic result (the usual Jcc
	 * predecessors): the condition straight from the operands. */
	if (e->lf_op == LF_SUB || e->lf_op == LF_LOGIC) {
		u64 a = e->lf_a, b = e->lf_b, res = e->lf_res;
		int sz = e->lf_size;
		bool logic = e->lf_op == LF_LOGIC, r;
		switch (cc >> 1) {
		case 1: r = !logic && a < b; break;			/* B */
		case 2: r = res == 0; break;				/* Z */
		case 3: r = (!logic && a < b) || res == 0; break;	/* BE */
		case 4: r = res & sign_bit(sz); break;			/* S */
		case 6:							/* L */
			r = logic ? !!(res & sign_bit(sz)) : sext(a, sz) < sext(b, sz);
			break;
		case 7:							/* LE */
			r = logic ? (res == 0 || (res & sign_bit(sz))) :
				    sext(a, sz) <= sext(b, sz);
			break;
		default:
			goto slow;
		}
		return r ^ (cc & 1);
	}
slow:;
	u64 f = flags_get(e);
	bool r;
	switch (cc >> 1) {
	case 0: r = f & X86_FL_OF; break;
	case 1: r = f & X86_FL_CF; break;
	case 2: r = f & X86_FL_ZF; break;
	case 3: r = f & (X86_FL_CF | X86_FL_ZF); break;
	case 4: r = f & X86_FL_SF; break;
	case 5: r = f & X86_FL_PF; break;
	case 6: r = !(f & X86_FL_SF) != !(f & X86_FL_OF); break;
	default: r = (f & X86_FL_ZF) || (!(f & X86_FL_SF) != !(f & X86_FL_OF)); break;
	}
	return r ^ (cc & 1);
}
