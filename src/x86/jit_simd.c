/*
 * SSE / AVX in translated blocks: the guest's own instruction runs on the
 * host's vector registers (docs/engine.md, "JIT", SIMD).
 *
 * Guest xmm/ymm N is host N.  Within a run of consecutive SIMD
 * instructions of a block a register loaded from cpu->xsave stays in the
 * host register; every result is written through at once, so the state in
 * memory is exact at every instruction boundary (exits, faults, callbacks).
 * The host runs with the guest's MXCSR: a run starts only when the guest
 * masks every exception and its control bits (rounding, FTZ, DAZ) are the
 * host's own, so only the sticky flags differ and the host's need no
 * restoring; MXCSR is stored back after each instruction.  Everything
 * else (gates that fail, unmasked exceptions, a TLB miss, page crossing,
 * MMIO, misalignment of an aligned form, a store into the running block)
 * leaves the instruction to the interpreter (op_simd / op_vex), so the
 * exceptions and their order are the interpreter's.
 *
 * Host registers: R12 = cpu, RBX = engine, R15 = host pointer of the
 * memory operand (jit.c's probe); rax and rcx are scratch.
 */
#include <stddef.h>

#include "x86/jit_simd.h"

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

#define OFF_C(f) ((s32)offsetof(struct x86_cpu, f))
#define OFF_E(f) ((s32)offsetof(struct engine, f))
#define OFF_XMM(r) (OFF_C(xsave) + (s32)offsetof(struct x86_fxsave, xmm) + 16 * (r))
#define OFF_YMMH(r) (OFF_C(xsave) + X86_XSAVE_YMM + 16 * (r))
#define OFF_MXCSR (OFF_C(xsave) + (s32)offsetof(struct x86_fxsave, mxcsr))
#define OFF_BV (OFF_C(xsave) + X86_XSAVE_HDR)

#define MXCSR_MASKS 0x1f80u
/* masks, rounding, FTZ, DAZ (bit 6) and the reserved bits: KVM_SET_FPU
 * takes any MXCSR, and LDMXCSR of a reserved bit would #GP in the host */
#define MXCSR_CTRL 0xffffffc0u

static u8 *e32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
	return p + 4;
}

/* ModRM with reg and [r12 + d32] */
static u8 *m_cpu(u8 *p, int reg, s32 d)
{
	*p++ = (u8)(0x84 | (reg & 7) << 3);
	*p++ = 0x24;
	return e32(p, (u32)d);
}

/* jcc rel32 to the interpreter exit */
static u8 *jcc_fix(u8 *p, int cc, struct jsimd_fix *fx)
{
	*p++ = 0x0f;
	*p++ = (u8)(0x80 | cc);
	p = e32(p, 0);
	fx->at[fx->n++] = p;
	return p;
}

enum { CC_E = 4, CC_NE = 5, CC_A = 7 };

/* test dword [r12 + d], imm */
static u8 *test_cpu(u8 *p, s32 d, u32 imm)
{
	*p++ = 0x41;
	*p++ = 0xf7;
	p = m_cpu(p, 0, d);
	return e32(p, imm);
}

/*
 * Host xmm r <-> guest bits 127:0: VMOVDQU where the host has AVX (a load
 * clears the host's bits 255:128), else MOVDQU.  A legacy SSE instruction
 * while a host ymm register has non-zero upper bits costs some 300 ns on
 * this machine (state transition), so VEX code never hands dirty upper
 * halves to legacy SSE code: VZEROUPPER first (jsimd.clean).
 */
static u8 *move_lo(u8 *p, int r, bool store)
{
	if (simd_host_ymm()) {
		*p++ = 0xc4;
		*p++ = (u8)((r & 8 ? 0 : 0x80) | 0x40 | 1); /* B = 1: r12 */
		*p++ = 0x78 | 2;			     /* vvvv 1111, F3 */
	} else {
		*p++ = 0xf3;
		*p++ = (u8)(0x41 | (r & 8 ? 4 : 0));
		*p++ = 0x0f;
	}
	*p++ = store ? 0x7f : 0x6f;
	return m_cpu(p, r, OFF_XMM(r));
}

static u8 *vzeroupper(u8 *p)
{
	*p++ = 0xc5;
	*p++ = 0xf8;
	*p++ = 0x77;
	return p;
}

/* VINSERTF128 ymm r, ymm r, [hi], 1 / VEXTRACTF128 [hi], ymm r, 1 */
static u8 *vex_hi(u8 *p, int r, bool store)
{
	*p++ = 0xc4;
	*p++ = (u8)((r & 8 ? 0 : 0x80) | 0x40 | 3); /* B = 1: r12 */
	*p++ = (u8)((store ? 15 : (~r & 15)) << 3 | 4 | 1);
	*p++ = store ? 0x19 : 0x18;
	p = m_cpu(p, r, OFF_YMMH(r));
	*p++ = 1;
	return p;
}

/* ldmxcsr / stmxcsr [r12 + mxcsr] */
static u8 *mxcsr_cpu(u8 *p, bool store)
{
	*p++ = 0x41;
	*p++ = 0x0f;
	*p++ = 0xae;
	return m_cpu(p, store ? 3 : 2, OFF_MXCSR);
}

/* cmp byte [rbx+jit_mx], 0; jcc rel8 (opcode jop) to patch at the end */
static u8 *mx_live(u8 *p, u8 jop)
{
	*p++ = 0x80;
	*p++ = 0xbb;
	p = e32(p, (u32)OFF_E(jit_mx));
	*p++ = 0;
	*p++ = jop;
	*p++ = 0;
	return p;
}

/* mov byte [rbx+jit_mx], v */
static u8 *set_live(u8 *p, u8 v)
{
	*p++ = 0xc6;
	*p++ = 0x83;
	p = e32(p, (u32)OFF_E(jit_mx));
	*p++ = v;
	return p;
}

u8 *jsimd_flush(u8 *p)
{
	if (simd_host_ymm())
		p = vzeroupper(p); /* C code is legacy SSE */
	p = mx_live(p, 0x74);
	u8 *skip = p;
	p = mxcsr_cpu(p, true);
	p = set_live(p, 0);
	skip[-1] = (u8)(p - skip);
	return p;
}

u8 *jsimd_enter(struct jsimd *s, const struct simd_jit *j, u8 *p, struct jsimd_fix *fx)
{
	if (!j->vex && !s->sse) {
		/* SDM Vol. 3A 13.1: #UD for CR0.EM or no CR4.OSFXSR, #NM for TS */
		p = test_cpu(p, OFF_C(cr0), X86_CR0_EM | X86_CR0_TS);
		p = jcc_fix(p, CC_NE, fx);
		p = test_cpu(p, OFF_C(cr4), X86_CR4_OSFXSR);
		p = jcc_fix(p, CC_E, fx);
		s->sse = true;
	}
	if (j->vex && !s->vex) {
		/* #UD without OSXSAVE or XCR0.SSE|YMM, #NM for TS */
		p = test_cpu(p, OFF_C(cr0), X86_CR0_TS);
		p = jcc_fix(p, CC_NE, fx);
		p = test_cpu(p, OFF_C(cr4), X86_CR4_OSXSAVE);
		p = jcc_fix(p, CC_E, fx);
		*p++ = 0x41;
		*p++ = 0x8b;
		p = m_cpu(p, RAX, OFF_C(xcr0)); /* mov eax, [xcr0] */
		*p++ = 0xf7;
		*p++ = 0xd0;			/* not eax */
		*p++ = 0xa9;
		p = e32(p, X86_XFEATURE_SSE | X86_XFEATURE_YMM); /* test eax, imm */
		p = jcc_fix(p, CC_NE, fx);
		s->vex = true;
	}
	if (!s->run) {
		/* the host MXCSR still holds the guest's (no C call since it
		 * was loaded), or load it: all exceptions masked and the
		 * control bits the host's, so only sticky flags differ */
		p = mx_live(p, 0x75);
		u8 *live = p;
		*p++ = 0x41;
		*p++ = 0x8b;
		p = m_cpu(p, RAX, OFF_MXCSR);	/* mov eax, [mxcsr] */
		*p++ = 0x89;
		*p++ = 0xc1;			/* mov ecx, eax */
		*p++ = 0xf7;
		*p++ = 0xd1;			/* not ecx */
		*p++ = 0xf7;
		*p++ = 0xc1;
		p = e32(p, MXCSR_MASKS);	/* test ecx, masks */
		p = jcc_fix(p, CC_NE, fx);	/* an unmasked exception */
		*p++ = 0x33;
		*p++ = 0x83;
		p = e32(p, (u32)OFF_E(host_mxcsr)); /* xor eax, [rbx+host_mxcsr] */
		*p++ = 0xa9;
		p = e32(p, MXCSR_CTRL);		/* test eax, control */
		p = jcc_fix(p, CC_NE, fx);	/* other control bits than the host's */
		p = mxcsr_cpu(p, false);
		p = set_live(p, 1);
		live[-1] = (u8)(p - live);
		s->run = true;
	}
	if (!j->vex && !s->clean && simd_host_ymm()) {
		p = vzeroupper(p);
		s->hi = 0;
		s->clean = true;
	}
	for (int r = 0; r < 16; r++) {
		if (!(j->rd & BIT(r)))
			continue;
		if (!(s->lo & BIT(r))) {
			p = move_lo(p, r, false);
			if (simd_host_ymm())
				s->hi &= (u16)~BIT(r);
		}
		s->lo |= (u16)BIT(r);
		if (j->wide && !(s->hi & BIT(r))) {
			p = vex_hi(p, r, false);
			s->clean = false;
		}
		if (j->wide)
			s->hi |= (u16)BIT(r);
	}
	return p;
}

u8 *jsimd_mem(const struct simd_jit *j, u8 *p, bool smc, struct jsimd_fix *fx)
{
	/* R15 is the host pointer: a TLB miss jumped to the exit already */
	if (j->malign) {
		/* the host pointer has the linear address's page offset */
		*p++ = 0x41;
		*p++ = 0xf6;
		*p++ = 0xc7;
		*p++ = (u8)(j->msize - 1);	/* test r15b, size - 1 */
		p = jcc_fix(p, CC_NE, fx);
	}
	if (j->mwrite && smc) {
		/* a store into the running block's bytes: the interpreter's
		 * smc_check leaves the block.  Only for a block in an
		 * untracked page: a tracked one's write-TLB entries carry
		 * TLB_CODE, so a store into it misses the probe and leaves */
		*p++ = 0x4c;
		*p++ = 0x3b;
		*p++ = 0xbb;
		p = e32(p, (u32)OFF_E(code_hi));	/* cmp r15, [rbx+code_hi] */
		*p++ = 0x73;
		u8 *ok1 = p + 1;
		*p++ = 0;			/* jae ok */
		*p++ = 0x49;
		*p++ = 0x8d;
		*p++ = 0x47;
		*p++ = j->msize;		/* lea rax, [r15 + size] */
		*p++ = 0x48;
		*p++ = 0x3b;
		*p++ = 0x83;
		p = e32(p, (u32)OFF_E(code_lo));	/* cmp rax, [rbx+code_lo] */
		p = jcc_fix(p, CC_A, fx);
		ok1[-1] = (u8)(p - ok1);
	}
	return p;
}

u8 *jsimd_exec(struct jsimd *s, const struct simd_jit *j, u8 *p)
{
	memcpy(p, j->bytes, j->len);
	p += j->len;
	if (j->wide)
		s->clean = false;
	for (int r = 0; r < 16; r++) {
		if (!(j->wr & BIT(r)))
			continue;
		p = move_lo(p, r, true);
		s->lo |= (u16)BIT(r);
		if (j->vex) {
			p = vex_hi(p, r, true);
			s->hi |= (u16)BIT(r);
		}
	}
	/* XSTATE_BV as op_simd / op_vex: SSE for any legacy xmm form, SSE and
	 * YMM for a VEX form that writes a vector register */
	u8 bv = 0;
	if (!j->vex && !s->bv_sse)
		bv = X86_XFEATURE_SSE, s->bv_sse = true;
	else if (j->vex && j->wr && !(s->bv_sse && s->bv_ymm))
		bv = X86_XFEATURE_SSE | X86_XFEATURE_YMM, s->bv_sse = s->bv_ymm = true;
	if (bv) {
		*p++ = 0x41;
		*p++ = 0x80;
		p = m_cpu(p, 1, OFF_BV);	/* or byte [bv], bits */
		*p++ = bv;
	}
	return p;
}
