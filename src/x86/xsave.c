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
