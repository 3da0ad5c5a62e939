/*
 * SSE / AVX in translated blocks (jit_simd.c; docs/engine.md, "JIT"): the
 * pieces of host code jit.c puts around the guest's own SIMD instruction.
 */
#ifndef SOFTKVM_X86_JIT_SIMD_H
#define SOFTKVM_X86_JIT_SIMD_H

#include "x86/native.h"

/*
 * Translation-time state of SIMD in a block since its start or the last C
 * call (which may clobber the host vector registers and MXCSR, and change
 * the guest's CR0, CR4, XCR0 or MXCSR).  Guest xmm/ymm N is cached in host
 * N and written through to cpu->xsave after every instruction.
 */
struct jsimd {
	bool run;	   /* the host MXCSR holds the guest's */
	bool sse, vex;	   /* the SSE / AVX gate checked */
	bool bv_sse, bv_ymm; /* XSTATE_BV bits set */
	bool clean;	   /* the host's ymm upper halves are all zero */
	u16 lo, hi;	   /* guest registers whose bits 127:0 / 255:128 are in
			    * the host register */
};

/* rel32 jumps (their end, as jit.c's jcc_fwd) to the exit that leaves
 * the instruction to the interpreter. */
struct jsimd_fix {
	int n;
	u8 *at[8];
};

/* Before any C call and any return from translated code: the guest's
 * MXCSR (sticky flags) stored when the host holds it (engine.jit_mx). */
u8 *jsimd_flush(u8 *p);
/* Checks (gates, MXCSR) and operand loads; p: where to emit, returns the
 * end.  Host flags, rax, rcx clobbered. */
u8 *jsimd_enter(struct jsimd *s, const struct simd_jit *j, u8 *p, struct jsimd_fix *fx);
/* After jit.c's TLB probe (R15 the host pointer; a miss jumped to the
 * exit): a misaligned operand of an aligned form or, with smc (the block's page untracked), a store into
 * the running block's code leave. */
u8 *jsimd_mem(const struct simd_jit *j, u8 *p, bool smc, struct jsimd_fix *fx);
/* The instruction, then its results written back (registers, MXCSR,
 * XSTATE_BV).  GPR operands in rax / rcx as struct simd_jit says. */
u8 *jsimd_exec(struct jsimd *s, const struct simd_jit *j, u8 *p);

#endif
