/*
 * FXSAVE/FXRSTOR and the state bookkeeping shared with the x87 and SIMD
 * code (fpu.h): which XSAVE components are live in cpu->xsave.
 */
#include "x86/exec.h"
#include "x86/cpuid.h"
#include "x86/msr.h"
#include "x86/fpu.h"

#define FX_MXCSR_OFF 24
#define FX_ST_OFF 32
#define FX_XMM_OFF 160

static u64 xstate_bv_get(const struct x86_cpu *c)
{
	u64 v;
	memcpy(&v, c->xsave.bytes + X86_XSAVE_HDR, sizeof(v));
	return v;
}

static void xstate_bv_set(struct x86_cpu *c, u64 v)
{
	memcpy(c->xsave.bytes + X86_XSAVE_HDR, &v, sizeof(v));
}

/* Without XSAVE the image is always live (KVM's FXSAVE-only buffer). */
static u64 live_components(const struct x86_cpu *c)
{
	if (!x86_xsave_supported())
		return X86_XFEATURE_FP | X86_XFEATURE_SSE | X86_XFEATURE_YMM;
	return xstate_bv_get(c);
}

/* Init values (SDM Vol. 1 13.6) of components `init` in an image. */
static void init_components(u8 *area, u64 init, u64 live)
{
	struct x86_fxsave *fx = (struct x86_fxsave *)area;
	if (init & X86_XFEATURE_FP) {
		fx->fcw = 0x37f;
		fx->fsw = 0;
		fx->ftw = 0;
		fx->rsvd1 = 0;
		fx->fop = 0;
		fx->fip = fx->fdp = 0;
		memset(fx->st, 0, sizeof(fx->st));
	}
	if (init & X86_XFEATURE_SSE)
		memset(fx->xmm, 0, sizeof(fx->xmm));
	/* MXCSR belongs to both SSE and AVX */
	if ((init & (X86_XFEATURE_SSE | X86_XFEATURE_YMM)) &&
	    !(live & (X86_XFEATURE_SSE | X86_XFEATURE_YMM))) {
		fx->mxcsr = 0x1f80;
		fx->mxcsr_mask = X86_MXCSR_MASK;
	}
	if (init & X86_XFEATURE_YMM)
		memset(area + X86_XSAVE_YMM, 0, 256);
}

void fpu_use(struct x86_cpu *cpu, u64 mask)
{
	u64 live = live_components(cpu), init = mask & ~live;
	if (likely(!init))
		return;
	init_components(cpu->xsave.bytes, init, live);
	xstate_bv_set(cpu, live | mask);
}

void fpu_legacy_view(const struct x86_cpu *cpu, struct x86_fxsave *out)
{
	u64 live = live_components(cpu);
	*out = cpu->xsave.fx;
	init_components((u8 *)out, ~live & (X86_XFEATURE_FP | X86_XFEATURE_SSE), live);
}

/* ---- FXSAVE / FXRSTOR (SDM Vol. 2A) ---- */

/* The 16 or 32-byte header of the legacy region: 64-bit FIP/FDP with
 * REX.W, else 32-bit offsets with (deprecated, stored as 0) FCS/FDS. */
static void legacy_hdr_store(const struct x86_fxsave *fx, bool w64, u8 *out)
{
	memcpy(out, &fx->fcw, 2);
	memcpy(out + 2, &fx->fsw, 2);
	out[4] = fx->ftw;
	out[5] = 0;
	memcpy(out + 6, &fx->fop, 2);
	if (w64) {
		memcpy(out + 8, &fx->fip, 8);
		memcpy(out + 16, &fx->fdp, 8);
	} else {
		u32 ip = (u32)fx->fip, dp = (u32)fx->fdp;
		memcpy(out + 8, &ip, 4);
		memset(out + 12, 0, 4);
		memcpy(out + 16, &dp, 4);
		memset(out + 20, 0, 4);
	}
}

static void legacy_hdr_load(struct x86_fxsave *fx, bool w64, const u8 *in)
{
	memcpy(&fx->fcw, in, 2);
	memcpy(&fx->fsw, in + 2, 2);
	fx->ftw = in[4];
	memcpy(&fx->fop, in + 6, 2);
	fx->fop &= 0x7ff;
	if (w64) {
		memcpy(&fx->fip, in + 8, 8);
		memcpy(&fx->fdp, in + 16, 8);
	} else {
		u32 ip, dp;
		memcpy(&ip, in + 8, 4);
		memcpy(&dp, in + 16, 4);
		fx->fip = ip;
		fx->fdp = dp;
	}
	if (fx->fsw & ~fx->fcw & 0x3f)
		fx->fsw |= 0x8080; /* ES, B */
	else
		fx->fsw &= 0x7f7f;
}

/* #UD without the feature, #NM with CR0.TS or CR0.EM (SDM Vol. 2A FXSAVE). */
static void fxsr_avail(struct engine *e)
{
	if (!x86_cpuid_has(e->cpu, 1, 0, 3, 24))
		raise_exc(e, EXC_UD, NO_ERR);
	if (e->cpu->cr0 & (X86_CR0_EM | X86_CR0_TS))
		raise_exc(e, EXC_NM, NO_ERR);
}

/* Is REX.W among the prefixes of i? */
static bool rex_w(const struct engine *e, const struct insn *i)
{
	if (!e->code64)
		return false;
	for (int k = 0; k < i->len && i->bytes[k] != 0x0f; k++)
		if ((i->bytes[k] & 0xf8) == 0x48)
			return true;
	return false;
}

/* op 0: FXSAVE, 1: FXRSTOR (0F AE /0, /1). */
void op_fxsave(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	if (!i->mem)
		raise_exc(e, EXC_UD, NO_ERR);
	fxsr_avail(e);
	u64 off = ea_offset(e, i);
	/* a misaligned m512 is #GP(0) whatever the segment (not #AC) */
	if (seg_linear(e, i->seg, off, 1, false) & 15)
		raise_exc(e, EXC_GP, 0);
	bool w64 = rex_w(e, i);
	u32 nxmm = e->code64 ? 16 : 8;
	u32 n = FX_XMM_OFF + 16 * nxmm;
	u8 buf[512];
	if (i->op == 0) {
		struct x86_fxsave fx;
		fpu_legacy_view(c, &fx);
		fx.mxcsr_mask = X86_MXCSR_MASK;
		memcpy(buf, &fx, n);
		legacy_hdr_store(&fx, w64, buf);
		fpu_mem_write(e, i->seg, off, buf, n);
		return;
	}
	fpu_mem_read(e, i->seg, off, buf, n);
	u32 mxcsr;
	memcpy(&mxcsr, buf + FX_MXCSR_OFF, 4);
	if (mxcsr & ~X86_MXCSR_MASK)
		raise_exc(e, EXC_GP, 0);
	fpu_use(c, X86_XFEATURE_FP | X86_XFEATURE_SSE);
	struct x86_fxsave *fx = &c->xsave.fx;
	legacy_hdr_load(fx, w64, buf);
	fx->mxcsr = mxcsr;
	for (int r = 0; r < 8; r++) {
		memcpy(fx->st[r], buf + FX_ST_OFF + 16 * r, 10);
		memset(fx->st[r] + 10, 0, 6);
	}
	memcpy(fx->xmm, buf + FX_XMM_OFF, 16 * nxmm);
}

/* ---- XCR0 (SDM Vol. 1 13.3; KVM's __kvm_set_xcr) ---- */

bool x86_xcr0_valid(const struct x86_cpu *c, u64 xcr0)
{
	if (!(xcr0 & X86_XFEATURE_FP))
		return false;
	if ((xcr0 & X86_XFEATURE_YMM) && !(xcr0 & X86_XFEATURE_SSE))
		return false;
	/* Only what the guest's CPUID leaf 0xD offers, and we support. */
	u64 guest = 0;
	const struct x86_cpuid_entry *e = x86_cpuid_find(c, 0xd, 0);
	if (e)
		guest = ((u64)e->edx << 32 | e->eax) & x86_xcr0_supported();
	return !(xcr0 & ~(guest | X86_XFEATURE_FP));
}

/* Prefixes 66, F2, F3 make other instructions of these opcodes (CLWB,
 * PTWRITE, ...), none of which the CPU model offers: #UD. */
static bool simd_prefix(const struct insn *i)
{
	if (i->rep)
		return true;
	for (int k = 0; k < i->len && i->bytes[k] != 0x0f; k++)
		if (i->bytes[k] == 0x66)
			return true;
	return false;
}

/* XGETBV (op 0) / XSETBV (op 1), 0F 01 D0 / D1. */
void op_xsetbv(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	if (!(c->cr4 & X86_CR4_OSXSAVE) || simd_prefix(i))
		raise_exc(e, EXC_UD, NO_ERR);
	u32 idx = (u32)c->gpr[R_RCX];
	if (i->op == 0) {
		u64 v;
		if (idx == 0)
			v = c->xcr0;
		else if (idx == 1 && x86_cpuid_has(c, 0xd, 1, 0, 2))
			v = c->xcr0 & live_components(c); /* XINUSE */
		else
			raise_exc(e, EXC_GP, 0);
		c->gpr[R_RAX] = (u32)v;
		c->gpr[R_RDX] = v >> 32;
		return;
	}
	u64 v = (u32)c->gpr[R_RAX] | c->gpr[R_RDX] << 32;
	if ((e->mode != M_REAL && e->cpl) || idx != 0 || !x86_xcr0_valid(c, v))
		raise_exc(e, EXC_GP, 0);
	c->xcr0 = v;
}

/* ---- XSAVE, XRSTOR, XSAVEOPT, XSAVEC, XSAVES, XRSTORS (SDM Vol. 1 13.7-13.12) ---- */

enum { XS_SAVE, XS_RSTOR, XS_SAVEOPT, XS_SAVEC, XS_SAVES, XS_RSTORS };

/* The parts of each component in the image (all are at their standard
 * offsets in the compacted form too: YMM is the first extended component
 * and needs no alignment).  The XMM and YMM rows are 16 bytes per register,
 * 8 registers outside 64-bit mode. */
#define XS_X87 BIT(0)
#define XS_SSE BIT(1)
#define XS_YMM BIT(2)
#define XS_MXCSR BIT(3)

static void xs_region(u64 part, u32 nreg, u32 *off, u32 *len, u32 *off2, u32 *len2)
{
	*off2 = *len2 = 0;
	switch (part) {
	case XS_X87: *off = 0; *len = FX_MXCSR_OFF; *off2 = FX_ST_OFF; *len2 = 128; break;
	case XS_MXCSR: *off = FX_MXCSR_OFF; *len = 8; break;
	case XS_SSE: *off = FX_XMM_OFF; *len = 16 * nreg; break;
	default: *off = X86_XSAVE_YMM; *len = 16 * nreg; break;
	}
}

void op_xsave(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	int kind = i->op;
	/* #UD: no feature, CR4.OSXSAVE clear, a register operand */
	static const u8 sub_bit[] = {[XS_SAVEOPT] = 0, [XS_SAVEC] = 1, [XS_SAVES] = 3,
				     [XS_RSTORS] = 3};
	bool sub = kind >= XS_SAVEOPT;
	if (!i->mem || !x86_cpuid_has(c, 1, 0, 2, 26) || !(c->cr4 & X86_CR4_OSXSAVE) ||
	    (sub && !x86_cpuid_has(c, 0xd, 1, 0, sub_bit[kind])) ||
	    (kind <= XS_SAVEOPT && simd_prefix(i)))
		raise_exc(e, EXC_UD, NO_ERR);
	if (c->cr0 & X86_CR0_TS)
		raise_exc(e, EXC_NM, NO_ERR);
	if ((kind == XS_SAVES || kind == XS_RSTORS) && e->mode != M_REAL && e->cpl)
		raise_exc(e, EXC_GP, 0);
	u64 off = ea_offset(e, i);
	if (seg_linear(e, i->seg, off, 1, false) & 63)
		raise_exc(e, EXC_GP, 0);
	u64 edx_eax = (u32)c->gpr[R_RAX] | c->gpr[R_RDX] << 32;
	u64 xss = (kind == XS_SAVES || kind == XS_RSTORS) ? c->msr.xss : 0;
	u64 rfbm = (c->xcr0 | xss) & edx_eax;
	bool compact = kind == XS_SAVEC || kind == XS_SAVES;
	bool w64 = rex_w(e, i);
	u32 nreg = e->code64 ? 16 : 8;
	u64 live = live_components(c);
	u32 end = (rfbm & X86_XFEATURE_YMM) ? X86_XSAVE_YMM + 16 * nreg : X86_XSAVE_YMM;
	u8 hdr[64];

	if (kind == XS_RSTOR || kind == XS_RSTORS) {
		fpu_mem_read(e, i->seg, off + X86_XSAVE_HDR, hdr, 64);
		u64 bv, comp;
		memcpy(&bv, hdr, 8);
		memcpy(&comp, hdr + 8, 8);
		bool cform = comp >> 63;
		/* SDM Vol. 1 13.8: the header checks, #GP(0) */
		if (kind == XS_RSTORS && !cform)
			raise_exc(e, EXC_GP, 0);
		if (cform) {
			u64 comp_ok = c->xcr0 | (kind == XS_RSTORS ? c->msr.xss : 0);
			if (!x86_cpuid_has(c, 0xd, 1, 0, 1) || (comp & ~BIT(63) & ~comp_ok) ||
			    (bv & ~comp))
				raise_exc(e, EXC_GP, 0);
			for (int k = 16; k < 64; k++)
				if (hdr[k])
					raise_exc(e, EXC_GP, 0);
		} else {
			if (bv & ~c->xcr0)
				raise_exc(e, EXC_GP, 0);
			for (int k = 8; k < 24; k++)
				if (hdr[k])
					raise_exc(e, EXC_GP, 0);
		}
		/* a compacted image holds only what XCOMP_BV names */
		u64 load = rfbm & bv & (cform ? comp : ~0ULL);
		u8 img[X86_XSAVE_YMM + 256];
		fpu_mem_check(e, i->seg, off, end, false);
		memset(img, 0, sizeof(img));
		u32 mx = 0x1f80;
		bool mx_load = (rfbm & (X86_XFEATURE_SSE | X86_XFEATURE_YMM)) &&
			       (!cform || (load & (X86_XFEATURE_SSE | X86_XFEATURE_YMM)));
		if (mx_load) {
			fpu_mem_read(e, i->seg, off + FX_MXCSR_OFF, &mx, 4);
			if (mx & ~X86_MXCSR_MASK)
				raise_exc(e, EXC_GP, 0);
		}
		for (u64 part = XS_X87; part <= XS_YMM; part <<= 1) {
			if (!(load & part))
				continue;
			u32 o, l, o2, l2;
			xs_region(part, nreg, &o, &l, &o2, &l2);
			fpu_mem_read(e, i->seg, off + o, img + o, l);
			if (l2)
				fpu_mem_read(e, i->seg, off + o2, img + o2, l2);
		}
		/* commit: loaded components live, the others of RFBM init */
		u8 *raw = c->xsave.bytes;
		u64 init = rfbm & ~load & X86_XCR0_SUPPORTED;
		/* init components stay live with their init values (fpu.h) */
		u64 nlive = live | (rfbm & X86_XCR0_SUPPORTED);
		if (load & X86_XFEATURE_FP) {
			legacy_hdr_load(&c->xsave.fx, w64, img);
			for (int r = 0; r < 8; r++) {
				memcpy(c->xsave.fx.st[r], img + FX_ST_OFF + 16 * r, 10);
				memset(c->xsave.fx.st[r] + 10, 0, 6);
			}
		}
		if (load & X86_XFEATURE_SSE)
			memcpy(raw + FX_XMM_OFF, img + FX_XMM_OFF, 16 * nreg);
		if (load & X86_XFEATURE_YMM)
			memcpy(raw + X86_XSAVE_YMM, img + X86_XSAVE_YMM, 16 * nreg);
		init_components(raw, init, 0);
		if (mx_load) {
			c->xsave.fx.mxcsr = mx;
			c->xsave.fx.mxcsr_mask = X86_MXCSR_MASK;
		}
		xstate_bv_set(c, nlive);
		return;
	}

	/* the saves: the guest-visible state, init values where not live */
	u8 img[X86_XSAVE_YMM + 256];
	struct x86_fxsave fx;
	fpu_legacy_view(c, &fx);
	fx.mxcsr_mask = X86_MXCSR_MASK;
	memcpy(img, &fx, sizeof(fx));
	legacy_hdr_store(&fx, w64, img);
	if (live & X86_XFEATURE_YMM)
		memcpy(img + X86_XSAVE_YMM, c->xsave.bytes + X86_XSAVE_YMM, 256);
	else
		memset(img + X86_XSAVE_YMM, 0, 256);
	/* XSAVEOPT, XSAVEC and XSAVES skip components in their init state
	 * (the init optimisation); XSAVE writes every one RFBM names */
	u64 write = rfbm & X86_XCR0_SUPPORTED;
	if (kind != XS_SAVE)
		write &= live;
	fpu_mem_check(e, i->seg, off, end > X86_XSAVE_HDR + 64 ? end : X86_XSAVE_HDR + 64, true);
	fpu_mem_read(e, i->seg, off + X86_XSAVE_HDR, hdr, 64);
	for (u64 part = XS_X87; part <= XS_YMM; part <<= 1) {
		if (!(write & part))
			continue;
		u32 o, l, o2, l2;
		xs_region(part, nreg, &o, &l, &o2, &l2);
		fpu_mem_write(e, i->seg, off + o, img + o, l);
		if (l2)
			fpu_mem_write(e, i->seg, off + o2, img + o2, l2);
	}
	/* MXCSR goes with SSE or AVX, whatever their init state */
	if (rfbm & (X86_XFEATURE_SSE | X86_XFEATURE_YMM))
		fpu_mem_write(e, i->seg, off + FX_MXCSR_OFF, img + FX_MXCSR_OFF, 8);
	u64 bv, comp;
	memcpy(&bv, hdr, 8);
	if (compact) {
		bv = rfbm & live;
		comp = rfbm | BIT(63);
		memcpy(hdr + 8, &comp, 8);
	} else {
		bv = (bv & ~rfbm) | (rfbm & live);
	}
	memcpy(hdr, &bv, 8);
	fpu_mem_write(e, i->seg, off + X86_XSAVE_HDR, hdr, compact ? 16 : 8);
}
