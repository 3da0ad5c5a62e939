/*
 * The JIT: a hot block of 64-bit guest code becomes one host function.
 * Guest registers stay in cpu->gpr (loaded and stored around each emitted
 * operation); integer ALU operations run as the same host instruction, so
 * the flags are the host CPU's by construction (the CPU model is the
 * host's vendor).  Anything not translated calls the interpreter's handler
 * for that one instruction, so semantics never fork.  docs/engine.md,
 * "JIT", has the rules for flags, memory, exits and coherence.
 */
#define _GNU_SOURCE /* ucontext's REG_RIP, REG_R13 */
#include <ucontext.h>
enum { UC_RIP = REG_RIP, UC_R13 = REG_R13 };
#undef REG_RIP /* exec.h's is the decoder's RIP-relative base */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "x86/jit.h"
#include "x86/jit_simd.h"

/* Host registers. */
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
/* Pinned: RBX = engine, R12 = cpu (gpr[0] at offset 0), R13 = guest RIP of
 * the block's first byte, RBP = TLB user bit, R14 = effective address
 * offset, R15 = host pointer of a memory operand (0: slow path). */

#define ARITH_FLAGS (X86_FL_CF | X86_FL_PF | X86_FL_AF | X86_FL_ZF | X86_FL_SF | X86_FL_OF)
#define JIT_ARENA (32u << 20)
#define JIT_ROOM 2048	   /* enough for any one guest instruction */
#define JIT_LOOP_BUDGET 1024 /* self-loop iterations between event checks */

_Static_assert(sizeof(struct tlb_entry) == 16, "TLB entry layout");
_Static_assert(offsetof(struct x86_cpu, gpr) == 0, "gpr at cpu+0");

/*
 * Host code that touches guest memory through R15 without cpu->rip stored
 * first: (arena offset of the instruction, guest offset from R13), sorted
 * (the arena fills upwards).  A SIGSEGV/SIGBUS there (slot memory the
 * host cannot access) sets RIP from it (jit_host_fault).
 */
struct jit_pc {
	u32 host, guest;
};

struct jit_arena {
	u8 *base;
	size_t used;
	u64 blocks, insns, native, flushes; /* SKVM_JIT_STATS=1 */
	struct jit_pc *pcs;
	size_t npc, cap;
};

/* ---- settings ---- */

static int jit_on = -1, jit_stats;
static unsigned jit_thr;
static const char *jit_dump; /* SKVM_JIT_DUMP=file: the arena at jit_destroy */

static void jit_settings(void)
{
	const char *s = getenv("SKVM_JIT");
	const char *t = getenv("SKVM_JIT_THRESHOLD");
	jit_thr = t && *t ? (unsigned)strtoul(t, NULL, 0) : 8;
	if (jit_thr < 1)
		jit_thr = 1;
	jit_on = !(s && *s == '0');
	t = getenv("SKVM_JIT_STATS");
	jit_stats = t && *t == '1';
	t = getenv("SKVM_JIT_DUMP");
	jit_dump = t && *t ? t : NULL;
}

bool jit_enabled(void)
{
	if (jit_on < 0)
		jit_settings();
	return jit_on;
}

unsigned jit_threshold(void)
{
	if (jit_on < 0)
		jit_settings();
	return jit_thr;
}

/* ---- slow paths called from translated code ---- */

/* sz: size | seg << 4 | JW (read for a write) */
#define JW 0x100

/*
 * The C code translated blocks call (slow paths, callbacks) is where
 * what ends a chain can become pending synchronously: an exit,
 * leave_block, an interrupt shadow, TF.  Then the chain budget goes to 0,
 * so the next chain exit takes jit_chain's full checks (boundary_quiet)
 * instead of testing each of them inline.
 */
static void chain_sync(struct engine *e)
{
	if (e->exit->reason != X86_EXIT_NONE || e->leave_block || e->shadow ||
	    (e->cpu->rflags & X86_FL_TF))
		e->chain_budget = 0;
}

static u64 jit_ld(struct engine *e, u64 off, const struct insn *i, u32 sz)
{
	e->cur_insn = i;
	e->mmio_used = 0;
	int size = sz & 15, seg = (sz >> 4) & 7;
	u64 v = (sz & JW) ? mem_read_w(e, seg, off, size) : mem_read(e, seg, off, size);
	/* a translated instruction reads once: an MMIO answer it took is
	 * used up (exec_insn does the same after each instruction) */
	e->mmio_have = 0;
	chain_sync(e);
	return v;
}

static void jit_st(struct engine *e, u64 off, const struct insn *i, u32 sz, u64 v)
{
	e->cur_insn = i;
	mem_write(e, (sz >> 4) & 7, off, sz & 15, v);
	/* an MMIO write exit is reported once the instruction completed */
	if (e->exit->reason != X86_EXIT_NONE)
		e->leave_block = true;
	chain_sync(e);
}

/* An instruction the interpreter runs for translated code (callback). */
static bool jit_exec(struct engine *e, const struct insn *i)
{
	bool leave = exec_in_block(e, i);
	chain_sync(e);
	return leave;
}

/* The arithmetic flags as the LF_HOST image (see flags_capture). */
static u64 jit_flags_in(struct engine *e)
{
	return flags_host_image(flags_get(e));
}

/* ---- the assembler ---- */

struct jx {
	u8 *p, *end, *start;
	bool full;
	struct engine *e;
	/* where the guest's arithmetic flags are: in the host RFLAGS (after a
	 * translated flag-writing operation) and/or in memory (cpu->rflags
	 * with the lazy state, or lf_op = LF_HOST with lf_res) */
	bool fl_host, fl_mem;
	/* the flags in memory are an LF_HOST image this translation
	 * captured, no C code that may change the lazy state since */
	bool fl_lf;
	u8 *loop0; /* the block's first instruction, from scratch */
	u8 *loop;  /* the same after the SIMD prelude (simd_prelude) */
	struct jsimd head; /* the SIMD state the prelude establishes */
	u32 native; /* instructions translated, not called back */
	uintptr_t host; /* host address of the block's first byte */
	u8 mode;	/* its mode key (struct block) */
	bool live_head;	/* flags live at the block's start */
	bool live_after; /* flags live after the instruction translated */
	int idx;	/* index of the instruction translated */
	struct jsimd simd; /* SSE / AVX run state (jit_simd.c) */
	bool smc;	/* the block's page is untracked: stores check its bytes */
	struct mcache {	/* the address cache (mem_addr) */
		bool ok, w;
		int base, index, scale, size;
		s32 disp;
	} mc;
	const struct insn *insns; /* the block's instructions */
	int n;
	bool sw_off; /* no stack window (stack_run's own path) */
	struct swin {	/* the stack window (sw_open) */
		bool ok, w;
		s32 lo, hi; /* its bytes: [RSP + lo, RSP + hi) of RSP at sw_open */
		s32 adj;    /* RSP now minus RSP at sw_open */
	} sw;
	u32 off;	/* block offset of the instruction translated */
	struct jit_arena *a;
	/* exits of SIMD instructions to the interpreter (a check failed or
	 * the TLB missed), emitted after the block's code so that the
	 * straight path has no jumps over them (cold_exits) */
	struct cold {
		u32 off;
		int idx, n;
		u8 *at[10];
	} cold[BLK_MAX + 1];
	int ncold;
};

static void e8(struct jx *x, u8 v)
{
	if (x->p < x->end)
		*x->p++ = v;
	else
		x->full = true;
}

static void e16(struct jx *x, u16 v)
{
	e8(x, (u8)v);
	e8(x, (u8)(v >> 8));
}

static void e32(struct jx *x, u32 v)
{
	e16(x, (u16)v);
	e16(x, (u16)(v >> 16));
}

static void e64(struct jx *x, u64 v)
{
	e32(x, (u32)v);
	e32(x, (u32)(v >> 32));
}

/* An r/m operand: a register (mem = 0) or [base + index << scale + disp]. */
struct rm {
	bool mem;
	int base, index, scale;
	s32 disp;
};

static struct rm R(int r)
{
	return (struct rm){.base = r, .index = -1};
}

static struct rm M(int base, s32 disp)
{
	return (struct rm){.mem = true, .base = base, .index = -1, .disp = disp};
}

static struct rm MX(int base, int index, int scale, s32 disp)
{
	return (struct rm){.mem = true, .base = base, .index = index, .scale = scale, .disp = disp};
}

/*
 * One instruction: operand size (1 and 4: no prefix, 2: 66, 8: REX.W),
 * opcode (one or two bytes: 0x0fxx), ModRM.reg and the r/m operand.
 */
static void op(struct jx *x, int size, u32 opc, int reg, struct rm m)
{
	if (size == 2)
		e8(x, 0x66);
	u8 rex = (u8)(0x40 | (size == 8 ? 8 : 0) | (reg & 8 ? 4 : 0) |
		      (m.mem && m.index >= 0 && (m.index & 8) ? 2 : 0) | (m.base & 8 ? 1 : 0));
	if (rex != 0x40)
		e8(x, rex);
	if (opc > 0xff)
		e8(x, (u8)(opc >> 8));
	e8(x, (u8)opc);
	if (!m.mem) {
		e8(x, (u8)(0xc0 | (reg & 7) << 3 | (m.base & 7)));
		return;
	}
	int mod = m.disp == 0 && (m.base & 7) != 5 ? 0 : m.disp >= -128 && m.disp <= 127 ? 1 : 2;
	if (m.index >= 0 || (m.base & 7) == 4) {
		e8(x, (u8)(mod << 6 | (reg & 7) << 3 | 4));
		e8(x, (u8)(m.scale << 6 | ((m.index >= 0 ? m.index : 4) & 7) << 3 | (m.base & 7)));
	} else {
		e8(x, (u8)(mod << 6 | (reg & 7) << 3 | (m.base & 7)));
	}
	if (mod == 1)
		e8(x, (u8)m.disp);
	else if (mod == 2)
		e32(x, (u32)m.disp);
}

/* Forward jumps: emit with a rel32 to patch. */
static u8 *jcc_fwd(struct jx *x, int cc)
{
	e8(x, 0x0f);
	e8(x, (u8)(0x80 | cc));
	e32(x, 0);
	return x->p;
}

static u8 *jmp_fwd(struct jx *x)
{
	e8(x, 0xe9);
	e32(x, 0);
	return x->p;
}

static void patch(struct jx *x, u8 *after)
{
	if (x->full)
		return;
	s32 rel = (s32)(x->p - after);
	memcpy(after - 4, &rel, 4);
}

enum { CC_O, CC_NO, CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A, CC_S, CC_NS, CC_P, CC_NP,
       CC_L, CC_GE, CC_LE, CC_G };

static void mov_imm64(struct jx *x, int r, u64 v)
{
	if (v <= 0xffffffffu) {
		if (r & 8)
			e8(x, 0x41);
		e8(x, (u8)(0xb8 + (r & 7)));
		e32(x, (u32)v);
		return;
	}
	e8(x, (u8)(0x48 | (r & 8 ? 1 : 0)));
	e8(x, (u8)(0xb8 + (r & 7)));
	e64(x, v);
}

/* Before a C call or a return: the guest's MXCSR stored (jit_simd.c). */
static void simd_flush(struct jx *x)
{
	if (x->end - x->p < 32)
		x->full = true;
	else
		x->p = jsimd_flush(x->p);
}

static void call_abs(struct jx *x, const void *fn)
{
	simd_flush(x); /* C code sees the guest's MXCSR */
	mov_imm64(x, RAX, (u64)(uintptr_t)fn);
	e8(x, 0xff);
	e8(x, 0xd0); /* call rax */
	x->simd = (struct jsimd){0}; /* vector registers, MXCSR, CRs may change */
	op(x, 4, 0x31, R9, R(R9)); /* xor r9d, r9d: the stack window is gone */
}

static void mov_rr(struct jx *x, int dst, int src)
{
	op(x, 8, 0x89, src, R(dst));
}

/* ---- guest registers and flags ---- */

static struct rm greg(int g)
{
	return g >= 16 ? M(R12, (g - 16) * 8 + 1) : M(R12, g * 8);
}

/* hr <- size bytes at m, zero-extended */
static void load_rm(struct jx *x, int hr, struct rm m, int size)
{
	switch (size) {
	case 1: op(x, 4, 0x0fb6, hr, m); break;
	case 2: op(x, 4, 0x0fb7, hr, m); break;
	case 4: op(x, 4, 0x8b, hr, m); break;
	default: op(x, 8, 0x8b, hr, m); break;
	}
}

/* size bytes at m <- hr */
static void store_rm(struct jx *x, int hr, struct rm m, int size)
{
	op(x, size, size == 1 ? 0x88 : 0x89, hr, m);
}

/* host reg <- guest register (zero-extended) */
static void ld(struct jx *x, int hr, int g, int size)
{
	load_rm(x, hr, greg(g), size);
}

/* guest register <- host reg: 32-bit writes zero-extend, 8/16 merge */
static void st(struct jx *x, int hr, int g, int size)
{
	if (size == 4) {
		op(x, 4, 0x89, hr, R(hr)); /* mov r32, r32: clear the top */
		size = 8;
	}
	store_rm(x, hr, greg(g), size);
}

/* host reg <- sign-extended immediate of the operand size */
static void ld_imm(struct jx *x, int hr, u64 imm, int size)
{
	u64 v = imm & size_mask(size);
	if (size == 8 && (s64)imm == (s32)imm) {
		op(x, 8, 0xc7, 0, R(hr));
		e32(x, (u32)imm);
	} else if (size == 8) {
		e8(x, (u8)(0x48 | (hr & 8 ? 1 : 0)));
		e8(x, (u8)(0xb8 + (hr & 7)));
		e64(x, imm);
	} else {
		op(x, 4, 0xc7, 0, R(hr));
		e32(x, (u32)v);
	}
}

#define OFF_E(f) ((s32)offsetof(struct engine, f))
#define OFF_C(f) ((s32)offsetof(struct x86_cpu, f))

/*
 * Host flags -> memory without changing them: LAHF (SF ZF AF PF CF) and
 * SETO into AX, stored in lf_res with lf_op = LF_HOST (flags.c decodes
 * it).  Clobbers RAX.  PUSHF would cost some 15 cycles; this costs 2.
 */
static void flags_capture(struct jx *x)
{
	if (!x->fl_host || x->fl_mem)
		return;
	e8(x, 0x9f);				/* lahf */
	op(x, 1, 0x0f90, 0, R(RAX));		/* seto al */
	op(x, 2, 0x89, RAX, M(RBX, OFF_E(lf_res)));
	if (!x->fl_lf) { /* else lf_op is LF_HOST already */
		op(x, 1, 0xc6, 0, M(RBX, OFF_E(lf_op)));
		e8(x, LF_HOST);
	}
	x->fl_mem = true;
	x->fl_lf = true;
}

/* Before something that reads the flags from memory or clobbers the host's. */
static void flags_to_mem(struct jx *x)
{
	flags_capture(x);
	x->fl_host = false;
}

/* Before a host instruction that reads the guest flags: the LF_HOST image
 * straight from lf_res, any other lazy state through flags_get; then
 * ADD AL, 0x7f sets OF from the SETO byte and SAHF the other five. */
static void flags_to_host(struct jx *x)
{
	if (x->fl_host)
		return;
	if (x->fl_lf) {
		/* captured by this translation: LF_HOST for sure */
		op(x, 4, 0x0fb7, RAX, M(RBX, OFF_E(lf_res)));
	} else {
		op(x, 1, 0x80, 7, M(RBX, OFF_E(lf_op)));
		e8(x, LF_HOST);
		u8 *slow = jcc_fwd(x, CC_NE);
		op(x, 4, 0x0fb7, RAX, M(RBX, OFF_E(lf_res)));
		u8 *load = jmp_fwd(x);
		patch(x, slow);
		mov_rr(x, RDI, RBX);
		call_abs(x, jit_flags_in);
		patch(x, load);
	}
	e8(x, 0x04);
	e8(x, 0x7f);	/* add al, 0x7f */
	e8(x, 0x9e);	/* sahf */
	x->fl_host = true;
}

static void set_rip(struct jx *x, u32 off)
{
	op(x, 8, 0x8d, RAX, M(R13, (s32)off));
	op(x, 8, 0x89, RAX, M(R12, OFF_C(rip)));
}

/* add rsp, 8; pop r15, r14, r13, r12, rbp, rbx */
static void restore_regs(struct jx *x)
{
	op(x, 8, 0x81, 0, R(RSP));
	e32(x, 8);
	static const u8 pops[] = {0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b};
	for (size_t k = 0; k < sizeof(pops); k++)
		e8(x, pops[k]);
}

static void epilogue(struct jx *x, int ret)
{
	simd_flush(x);
	e8(x, 0xb8);
	e32(x, (u32)ret); /* mov eax, ret */
	restore_regs(x);
	e8(x, 0xc3);
}

/*
 * Chaining: the next block's translation, if it may run now (nothing for
 * the run loop to do at this boundary, the block unchanged: its bytes
 * compared as run_block does), else NULL.  cpu->rip is the target already.
 */
/* Offset of the code after the prologue's register setup: every
 * translation has the same stack frame, so a chain jumps there. */
static _Atomic size_t jit_entry_off_; /* set by every vCPU thread, same value */
#define jit_entry_off atomic_load_explicit(&jit_entry_off_, memory_order_relaxed)

/*
 * The slow path of a chain: the run loop's checks (boundary_quiet) and
 * the block lookup.  On success the exit's inline cache (*slot, the
 * immediate of a MOV in the exit's code) remembers the block, and
 * CHAIN_BUDGET chains may take the inline path before this one runs
 * again; the boundaries they crossed are counted for the signal poll and
 * code_tick here.
 */
#define CHAIN_BUDGET 64
static void *jit_chain(struct engine *e, const u8 *host, u64 *slot)
{
	u32 used = CHAIN_BUDGET - (u32)(e->chain_budget > 0 ? e->chain_budget : 0);
	e->chain_budget = 0;
	e->poll_count += used;
	e->code_ticks += used;
	struct block *b = block_chain(e, host);
	if (!b)
		return NULL;
	e->code_lo = (uintptr_t)host;
	e->code_hi = (uintptr_t)host + b->nbytes;
	e->jit_chained = true;
	e->chain_budget = CHAIN_BUDGET;
	if (slot)
		memcpy(slot, &b, sizeof(b));
	return (u8 *)b->jit + jit_entry_off;
}

#define OFF_B(f) ((s32)offsetof(struct block, f))

/* An exit's inline cache before its first chain: starts nowhere. */
static const struct block no_block;

/*
 * Leave for the block at the host address in RSI (cpu->rip set): run its
 * translation in place of this one (in the same frame, RBX/R12/RBP as
 * they are), or return to the dispatcher.  Inline: while the chain budget
 * lasts, the block cached at this exit still starts at RSI in this mode,
 * is translated whole and its page unwritten since its bytes were last
 * compared (block_current).  The synchronous part of boundary_quiet (an
 * exit, leave_block, a shadow or TF pending) can only come from C code
 * this translation or an earlier one in the chain called, which then
 * empties the budget (chain_sync); the asynchronous part, kicks,
 * interrupts, map changes, waits for the budget.
 */
static void chain_exit(struct jx *x)
{
	u8 *slow[16];
	int ns = 0;
	op(x, 4, 0xff, 1, M(RBX, OFF_E(chain_budget)));	/* dec */
	slow[ns++] = jcc_fwd(x, CC_S);
	e8(x, 0x48);
	e8(x, 0xb8); /* mov rax, imm64: the cached block */
	u8 *slot = x->p;
	e64(x, (u64)(uintptr_t)&no_block);
	op(x, 8, 0x3b, RSI, M(RAX, OFF_B(host)));
	slow[ns++] = jcc_fwd(x, CC_NE);
	op(x, 1, 0x80, 7, M(RAX, OFF_B(mode)));
	e8(x, x->mode);
	slow[ns++] = jcc_fwd(x, CC_NE);
	op(x, 8, 0x8b, RDI, M(RAX, OFF_B(jit)));
	op(x, 8, 0x85, RDI, R(RDI));
	slow[ns++] = jcc_fwd(x, CC_E);
	op(x, 4, 0x0fb6, RCX, M(RAX, OFF_B(jit_n)));
	op(x, 1, 0x3a, RCX, M(RAX, OFF_B(n)));	/* cmp cl, [n] */
	slow[ns++] = jcc_fwd(x, CC_NE);
	op(x, 8, 0x8b, RDX, M(RAX, OFF_B(cp)));
	op(x, 8, 0x85, RDX, R(RDX));
	slow[ns++] = jcc_fwd(x, CC_E);
	op(x, 4, 0x8b, RCX, M(RDX, (s32)offsetof(struct code_page, gen)));
	op(x, 4, 0x3b, RCX, M(RAX, OFF_B(cp_gen)));
	slow[ns++] = jcc_fwd(x, CC_NE);
	op(x, 4, 0x8b, RCX, M(RBX, OFF_E(code_epoch)));
	op(x, 4, 0x3b, RCX, M(RAX, OFF_B(epoch)));
	slow[ns++] = jcc_fwd(x, CC_NE);
	_Static_assert(sizeof(((struct block *)0)->jit_n) == 1 && sizeof(((struct block *)0)->n) == 1,
		       "block counts are bytes");
	op(x, 8, 0x89, RSI, M(RBX, OFF_E(code_lo)));
	op(x, 4, 0x0fb7, RCX, M(RAX, OFF_B(nbytes)));
	op(x, 8, 0x01, RSI, R(RCX));
	op(x, 8, 0x89, RCX, M(RBX, OFF_E(code_hi)));
	op(x, 1, 0xc6, 0, M(RBX, OFF_E(jit_chained)));
	e8(x, 1);
	op(x, 8, 0x8d, RAX, M(RDI, (s32)jit_entry_off));
	e8(x, 0xff);
	e8(x, 0xe0); /* jmp rax */
	for (int k = 0; k < ns; k++)
		patch(x, slow[k]);
	mov_rr(x, RDI, RBX);
	mov_imm64(x, RDX, (u64)(uintptr_t)slot);
	call_abs(x, jit_chain);
	op(x, 8, 0x85, RAX, R(RAX));
	u8 *plain = jcc_fwd(x, CC_E);
	e8(x, 0xff);
	e8(x, 0xe0); /* jmp rax */
	patch(x, plain);
	epilogue(x, -1);
}

/* RAX (a linear address) <- its soft TLB entry's offset in an array
 * (tlb_index). */
static void tlb_slot(struct jx *x)
{
	op(x, 8, 0xc1, 5, R(RAX));
	e8(x, 12);				/* shr rax, 12 */
	e8(x, 0x00);
	e8(x, 0xe4);				/* add ah, ah */
	e8(x, 0x30);
	e8(x, 0xe0);				/* xor al, ah */
	op(x, 4, 0x0fb6, RAX, R(RAX));	/* movzx eax, al */
	op(x, 4, 0xc1, 4, R(RAX));
	e8(x, 4);				/* shl eax, 4 */
}

/* Leave for the guest address in RSI (canonical, cpu->rip set) in
 * another page: chained when the execute TLB maps it (no walk, no fault
 * here), else the dispatcher. */
static void far_exit(struct jx *x)
{
	mov_rr(x, RAX, RSI);
	tlb_slot(x);
	mov_rr(x, RCX, RSI);
	op(x, 8, 0x81, 4, R(RCX));
	e32(x, 0xfffff000u);			/* and rcx, -4096 */
	op(x, 8, 0x09, RBP, R(RCX));		/* or rcx, rbp */
	op(x, 8, 0x3b, RCX, MX(RBX, RAX, 0, OFF_E(tlb.x)));
	u8 *miss = jcc_fwd(x, CC_NE);
	op(x, 8, 0x03, RSI, MX(RBX, RAX, 0, OFF_E(tlb.x) + 8));
	chain_exit(x);
	patch(x, miss);
	epilogue(x, -1);
}

/* Leave for block offset t (its guest address in RAX): chained. */
static void static_exit(struct jx *x, u64 t)
{
	u64 pg = (x->host & 0xfff) + t;
	if (pg < 4096) {
		mov_imm64(x, RSI, x->host + t);
		chain_exit(x);
	} else {
		mov_rr(x, RSI, RAX);
		far_exit(x);
	}
}

/* Leave with RIP at block offset off; the compile-time flag state of the
 * path that continues is unchanged (capture leaves the host flags). */
static void side_exit(struct jx *x, u32 off, int ret)
{
	bool h = x->fl_host, m = x->fl_mem, lf = x->fl_lf;
	flags_capture(x);
	set_rip(x, off);
	epilogue(x, ret);
	x->fl_host = h, x->fl_mem = m, x->fl_lf = lf;
}

/* ---- memory operands ---- */

/* dst <- the effective address offset (ea_offset); dst is not RAX. */
static void emit_ea_to(struct jx *x, const struct insn *i, u32 next, int dst)
{
	if (i->base == REG_RIP) {
		s64 d = (s64)next + i->disp;
		if (d == (s32)d) {
			op(x, 8, 0x8d, dst, M(R13, (s32)d));
		} else {
			mov_rr(x, dst, R13);
			mov_imm64(x, RAX, (u64)d);
			op(x, 8, 0x01, RAX, R(dst));
		}
	} else {
		if (i->base != REG_NONE)
			op(x, 8, 0x8b, dst, M(R12, i->base * 8));
		else
			ld_imm(x, dst, (u64)(s64)i->disp, 8);
		s32 disp = i->base != REG_NONE ? i->disp : 0;
		if (i->index != REG_NONE) {
			op(x, 8, 0x8b, RAX, M(R12, i->index * 8));
			op(x, 8, 0x8d, dst, MX(dst, RAX, i->scale, disp));
		} else if (disp) {
			op(x, 8, 0x8d, dst, M(dst, disp));
		}
	}
	if (i->asz == 4)
		op(x, 4, 0x89, dst, R(dst));
}

static void emit_ea(struct jx *x, const struct insn *i, u32 next)
{
	emit_ea_to(x, i, next, R14);
}

/*
 * R15 <- host pointer for an access of size bytes at seg:R14 through the
 * soft TLB (read or write array); a miss jumps to the slow path (the
 * jumps are left in *pr to patch there).  As mem_read: tag (page | user)
 * and within-page checks; a non-canonical address never matches a tag,
 * so it reaches the slow path and its #GP/#SS.
 */
struct probe {
	u8 *miss[2];
};

/* dst <- host pointer for the linear address in register la (the same
 * checks) */
static void tlb_probe(struct jx *x, int la, int size, bool write, struct probe *pr, int dst)
{
	s32 tlb = write ? OFF_E(tlb.w) : OFF_E(tlb.r);
	mov_rr(x, RAX, la);
	tlb_slot(x);
	/* the tag of the last byte's page against the entry of the first
	 * byte's: an access crossing into the next page misses, since two
	 * adjacent pages never share an entry (tlb_index) */
	op(x, 8, 0x8d, RCX, M(la, size - 1));	/* lea rcx, [la + size - 1] */
	op(x, 8, 0x81, 4, R(RCX));
	e32(x, 0xfffff000u);			/* and rcx, -4096 */
	op(x, 8, 0x09, RBP, R(RCX));		/* or rcx, rbp */
	op(x, 8, 0x3b, RCX, MX(RBX, RAX, 0, tlb));
	pr->miss[0] = jcc_fwd(x, CC_NE);
	pr->miss[1] = NULL;
	op(x, 8, 0x8b, dst, MX(RBX, RAX, 0, tlb + 8));
	op(x, 8, 0x01, la, R(dst));		/* add dst, la */
}

static void emit_probe(struct jx *x, int seg, int size, bool write, struct probe *pr)
{
	int la = R14; /* the linear address: R14, or RDX = R14 + base */
	if (seg == S_FS || seg == S_GS) {
		la = RDX;
		mov_rr(x, RDX, R14);
		op(x, 8, 0x03, RDX, M(R12, OFF_C(seg[seg].base)));
	}
	tlb_probe(x, la, size, write, pr, R15);
}

static void patch_miss(struct jx *x, const struct probe *pr)
{
	patch(x, pr->miss[0]);
	if (pr->miss[1])
		patch(x, pr->miss[1]);
}

static u32 seg_size(int seg, int size, bool write)
{
	return (u32)size | (u32)seg << 4 | (write ? JW : 0);
}

/* The next instruction emitted accesses guest memory at R15 for the
 * instruction at x->off (struct jit_pc). */
static void host_pc(struct jx *x)
{
	struct jit_arena *a = x->a;
	if (x->full)
		return;
	if (a->npc == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 4096;
		struct jit_pc *n = realloc(a->pcs, cap * sizeof(*n));
		if (!n) {
			x->full = true; /* retried after a flush, then interpreted */
			return;
		}
		a->pcs = n, a->cap = cap;
	}
	a->pcs[a->npc++] = (struct jit_pc){(u32)(x->p - a->base), x->off};
}

void jit_host_fault(struct engine *e, void *ucv)
{
	const ucontext_t *uc = ucv;
	const struct jit_arena *a = e->jit;
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[UC_RIP];
	if (!a || pc < (uintptr_t)a->base || pc >= (uintptr_t)a->base + JIT_ARENA)
		return;
	u32 o = (u32)(pc - (uintptr_t)a->base);
	size_t lo = 0, hi = a->npc;
	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		if (a->pcs[m].host < o)
			lo = m + 1;
		else
			hi = m;
	}
	if (lo < a->npc && a->pcs[lo].host == o)
		e->cpu->rip = (u64)uc->uc_mcontext.gregs[UC_R13] + a->pcs[lo].guest;
}

/* The C slow path fn(e, R14, i, sz[, R8]), with RIP stored. */
static void slow_call(struct jx *x, const struct insn *i, u32 sz, const void *fn)
{
	set_rip(x, x->off);
	mov_rr(x, RDI, RBX);
	mov_rr(x, RSI, R14);
	mov_imm64(x, RDX, (u64)(uintptr_t)i);
	mov_imm64(x, RCX, sz);
	call_abs(x, fn);
}

/* RCX <- the operand at R14 (after emit_probe), zero-extended.  R15 is
 * 0 after the slow path (a store after a read for a write takes its slow
 * path too; the address cache, mem_addr, is not used). */
static void emit_load(struct jx *x, const struct insn *i, int seg, int size, bool write,
		      const struct probe *pr)
{
	host_pc(x);
	load_rm(x, RCX, M(R15, 0), size);
	u8 *done = jmp_fwd(x);
	patch_miss(x, pr);
	slow_call(x, i, seg_size(seg, size, write), jit_ld);
	mov_rr(x, RCX, RAX);
	op(x, 4, 0x31, R15, R(R15));	/* xor r15d, r15d */
	patch(x, done);
}

static void leave_check(struct jx *x, u32 next);

/*
 * The operand at R14 <- R8 (loaded before the probe: its misses skip
 * what comes after it): through R15 after emit_probe (pr), or after
 * emit_load's read for a write (pr NULL: R15 is 0 for the slow path).
 * rsp: then RSP <- R14 (PUSH, CALL).  A store into the running block's
 * bytes (smc_check) or an MMIO write exit leaves the block after the
 * instruction (leave_check at next, unless next is NO_LEAVE: the caller
 * leaves anyway).  A block in a tracked code page needs no inline check:
 * the page's write-TLB entries carry TLB_CODE, so its stores miss.
 */
#define NO_LEAVE 0xffffffffu
static void emit_store(struct jx *x, const struct insn *i, int seg, int size,
		       const struct probe *pr, bool rsp, u32 next)
{
	u8 *slow = NULL;
	if (!pr) {
		op(x, 8, 0x85, R15, R(R15));
		slow = jcc_fwd(x, CC_E);
	}
	if (x->smc) {
		op(x, 8, 0x3b, R15, M(RBX, OFF_E(code_hi)));
		u8 *ok1 = jcc_fwd(x, CC_AE);
		op(x, 8, 0x8d, RAX, M(R15, size));
		op(x, 8, 0x3b, RAX, M(RBX, OFF_E(code_lo)));
		u8 *ok2 = jcc_fwd(x, CC_BE);
		op(x, 1, 0xc6, 0, M(RBX, OFF_E(leave_block)));
		e8(x, 1);
		patch(x, ok1);
		patch(x, ok2);
	}
	host_pc(x);
	store_rm(x, R8, M(R15, 0), size);
	if (rsp)
		op(x, 8, 0x89, R14, M(R12, R_RSP * 8));
	u8 *done = jmp_fwd(x);
	if (pr)
		patch_miss(x, pr);
	else
		patch(x, slow);
	slow_call(x, i, seg_size(seg, size, true), jit_st);
	op(x, 4, 0x31, R15, R(R15));	/* xor r15d, r15d */
	if (rsp)
		op(x, 8, 0x89, R14, M(R12, R_RSP * 8));
	if (!x->smc && next != NO_LEAVE)
		leave_check(x, next);
	patch(x, done);
	if (x->smc && next != NO_LEAVE)
		leave_check(x, next);
}

/* After a store: leave if it hit the block's code or ended in an exit. */
static void leave_check(struct jx *x, u32 next)
{
	op(x, 1, 0x80, 7, M(RBX, OFF_E(leave_block)));
	e8(x, 0);
	u8 *stay = jcc_fwd(x, CC_E);
	side_exit(x, next, -1);
	patch(x, stay);
}

/*
 * The address cache: after a memory operand [base + index * scale + disp]
 * (64-bit address size, no FS/GS base), R14 holds its address and R15
 * its host pointer (0 after a slow path).  A later operand with the same
 * base and index, neither written since (no callback, R14/R15 untouched
 * in between), is disp - c.disp away: in the same page (the page offset
 * checked at run time) its host pointer is R15 moved by as much, with no
 * TLB probe.  A pointer from the write TLB serves reads too (x86 has no
 * write-only pages; watched and MMIO pages have no TLB entry at all).
 */
static void mc_note(struct jx *x, const struct insn *i, int size, bool write)
{
	struct mcache *c = &x->mc;
	c->ok = i->base != REG_RIP && i->base != REG_NONE && i->asz == 8 && i->seg != S_FS &&
		i->seg != S_GS;
	c->base = i->base, c->index = i->index, c->scale = i->scale;
	c->disp = i->disp, c->w = write, c->size = size;
}

/* May i (a translated form) write guest GPR g?  Over-approximated. */
static bool writes_gpr(const struct insn *i, int g)
{
	x86_handler f = i->fn;
	if (f == op_simd || f == op_vex) {
		struct simd_jit j;
		return !simd_jit_form(i, &j) || j.g_rax == g || j.g_wrcx == g;
	}
	int w[3] = {i->reg & 15, i->mem ? -1 : i->rm & 15,
		    f == op_alu_a_imm || f == op_xchg_a_r || f == op_test_a_imm ? R_RAX : -1};
	if (i->reg >= 16)
		w[0] = i->reg - 16;
	if (!i->mem && i->rm >= 16)
		w[1] = i->rm - 16;
	return w[0] == g || w[1] == g || w[2] == g;
}

/* The same operand form as the cached one: base, index and scale, 64-bit
 * address size, no FS/GS base, the displacement within a page of it. */
static bool mc_same(const struct mcache *c, const struct insn *i)
{
	s64 delta = (s64)i->disp - c->disp;
	return i->mem && i->base == c->base && i->index == c->index && i->asz == 8 &&
	       (i->index == REG_NONE || i->scale == c->scale) && i->seg != S_FS &&
	       i->seg != S_GS && delta > -4096 && delta < 4096;
}

/*
 * A read whose operand the next instruction writes through the address
 * cache (addsd xmm, [m] then movsd [m], xmm; a load then a store of the
 * same field) probes the write TLB, so the store needs no probe of its
 * own.  Every page with a write entry is readable (watched and MMIO pages
 * have no entries); a page without one sends the read to its slow path,
 * which reads as a read (jit_ld without JW) or, for SIMD, to the
 * interpreter.
 */
static bool store_follows(const struct jx *x, const struct insn *i)
{
	if (x->idx + 1 >= x->n || i->lock || i->base == REG_RIP || i->base == REG_NONE ||
	    i->asz != 8 || i->seg == S_FS || i->seg == S_GS)
		return false;
	const struct insn *nx = &x->insns[x->idx + 1];
	if (nx->lock || !nx->mem)
		return false;
	x86_handler f = nx->fn;
	bool w = false;
	if (f == op_mov_rm_r || f == op_mov_rm_imm) {
		w = true;
	} else if (f == op_simd || f == op_vex) {
		struct simd_jit j;
		w = simd_jit_form(nx, &j) && j.mwrite;
	}
	if (!w)
		return false;
	struct mcache c = {.base = i->base, .index = i->index, .scale = i->scale, .disp = i->disp};
	return mc_same(&c, nx) && !writes_gpr(i, i->base) &&
	       (i->index == REG_NONE || !writes_gpr(i, i->index));
}

/* After an instruction other than a memory operand's: keep the cache
 * only when the instruction left R14/R15 and its base and index alone. */
static void mc_after(struct jx *x, const struct insn *i, bool native)
{
	struct mcache *c = &x->mc;
	if (!c->ok)
		return;
	x86_handler f = i->fn;
	bool keep = native &&
		    (f == op_nop || f == op_mov_rr || f == op_mov_r_imm || f == op_mov_rm_imm ||
		     f == op_mov_r_rm || f == op_mov_rm_r || f == op_lea || f == op_movzx ||
		     f == op_movsx || f == op_movsxd || f == op_alu_rr || f == op_alu_ri ||
		     f == op_alu_a_imm || f == op_alu_r_rm || f == op_alu_rm_r ||
		     f == op_alu_rm_imm || f == op_test_rm_r || f == op_test_rm_imm ||
		     f == op_test_a_imm || f == op_not_rm || f == op_neg_rm ||
		     f == op_inc_dec_rm || f == op_shift_rm || f == op_imul_r_rm ||
		     f == op_imul_r_rm_imm || f == op_setcc || f == op_cmovcc ||
		     f == op_xchg_rm_r || f == op_xchg_a_r || f == op_jcc || f == op_simd ||
		     f == op_vex);
	if (writes_gpr(i, c->base) || (c->index != REG_NONE && writes_gpr(i, c->index)))
		keep = false;
	c->ok = keep;
}

/* Prepare a memory instruction: flags in memory, R14 = its address,
 * R15 = its host pointer through the address cache or the TLB; a TLB
 * miss jumps to the slow path (pr).  RIP is not stored: slow paths and
 * exits store it (slow_call, cold_exits), and a host fault of the access
 * itself finds it through host_pc. */
static void mem_addr(struct jx *x, const struct insn *i, u32 next, int size, bool write,
		     struct probe *pr)
{
	flags_to_mem(x);
	const struct mcache *c = &x->mc;
	s64 delta = (s64)i->disp - c->disp;
	u8 *have = NULL;
	bool pw = write || store_follows(x, i); /* the TLB array probed */
	if (c->ok && mc_same(c, i) && (c->w || !pw) && delta == 0 && size <= c->size) {
		/* the very bytes of the cached operand (or fewer): in its page */
		op(x, 8, 0x85, R15, R(R15));
		have = jcc_fwd(x, CC_NE);
	} else if (c->ok && mc_same(c, i) && (c->w || !pw)) {
		op(x, 8, 0x85, R15, R(R15));
		u8 *no1 = jcc_fwd(x, CC_E);
		op(x, 4, 0x89, R14, R(RAX));		/* mov eax, r14d */
		op(x, 4, 0x81, 4, R(RAX));
		e32(x, 0xfff);				/* and eax, 0xfff */
		if (delta) {
			op(x, 4, 0x81, 0, R(RAX));
			e32(x, (u32)(s32)delta);	/* add eax, delta */
		}
		op(x, 4, 0x81, 7, R(RAX));
		e32(x, (u32)(4096 - size));
		u8 *no2 = jcc_fwd(x, CC_A);
		if (delta) {
			op(x, 8, 0x8d, R14, M(R14, (s32)delta));
			op(x, 8, 0x8d, R15, M(R15, (s32)delta));
		}
		have = jmp_fwd(x);
		patch(x, no1);
		patch(x, no2);
	}
	emit_ea(x, i, next);
	emit_probe(x, i->seg, size, pw, pr);
	if (have)
		patch(x, have);
	mc_note(x, i, size, pw);
}

/*
 * The stack window: the RSP-relative bytes a run of a block's
 * instructions touches ([RSP + disp] operands of the forms mem_form
 * lists, PUSH/POP r64, CALL rel, RET), when they lie within SW_SPAN bytes,
 * probed once for all at the first of them (sw_open): R9 = the host
 * pointer of RSP + lo (0: not all in one mapped page, or C code ran
 * since: each access then takes its own path), R10 = RSP at sw_open.  The
 * translator follows RSP through PUSH/POP and ADD/SUB RSP, imm (adj);
 * anything else that may write RSP, and any callback, closes the window.
 * An access in it costs a test of R9 (no TLB probe) and leaves R14/R15
 * alone, so the address cache forgets its operand.
 */
#define SW_SPAN 1024

/* A memory operand translate_insn reads or writes through mem_addr: its
 * size and direction; false for any other form. */
static bool mem_form(const struct insn *i, int *size, bool *write)
{
	x86_handler f = i->fn;
	if (!i->mem || i->lock)
		return false;
	*size = i->osz;
	*write = false;
	if (f == op_mov_r_rm || f == op_test_rm_r || f == op_test_rm_imm)
		return true;
	if (f == op_mov_rm_r || f == op_mov_rm_imm) {
		*write = true;
		return true;
	}
	if (f == op_movzx || f == op_movsx || f == op_movsxd) {
		*size = f == op_movsxd ? (i->osz == 8 ? 4 : i->osz) : i->op;
		return true;
	}
	if (f == op_alu_r_rm)
		return i->op != 2 && i->op != 3;
	if (f == op_alu_rm_r || f == op_alu_rm_imm) {
		int k = f == op_alu_rm_imm ? i->reg & 7 : i->op;
		*write = k != 7;
		return k != 2 && k != 3;
	}
	return false;
}

/* [RSP + disp] with 64-bit addressing and a zero segment base. */
static bool sw_mem(const struct insn *i)
{
	return i->mem && i->base == R_RSP && i->index == REG_NONE && i->asz == 8 &&
	       i->seg != S_FS && i->seg != S_GS;
}

/* How a translated i moves RSP: by *d (PUSH/POP r64, ADD/SUB RSP, imm32,
 * 0 for most); false when it may write RSP otherwise (over-approximated
 * from its register operands). */
static bool sw_step(const struct insn *i, s32 *d)
{
	x86_handler f = i->fn;
	*d = 0;
	if (i->lock)
		return true; /* memory operands only */
	if ((f == op_push_r || f == op_pop_r) && i->osz == 8) {
		*d = f == op_push_r ? -8 : 8;
		return f == op_push_r || i->reg != R_RSP;
	}
	if (f == op_alu_ri && i->rm == R_RSP && i->osz == 8 &&
	    ((i->reg & 7) == 0 || (i->reg & 7) == 5) && (s64)i->imm == (s32)i->imm &&
	    (s32)i->imm != INT32_MIN) {
		*d = (i->reg & 7) == 0 ? (s32)i->imm : -(s32)i->imm;
		return true;
	}
	if (f == op_simd || f == op_vex) {
		struct simd_jit j;
		if (simd_jit_form(i, &j) && (j.g_rax == R_RSP || j.g_wrcx == R_RSP))
			return false;
	}
	/* forms whose ModRM.reg is a source or an opcode extension */
	if (f == op_test_rm_r || f == op_test_rm_imm ||
	    ((f == op_mov_rm_r || f == op_mov_rm_imm || f == op_alu_rm_r || f == op_alu_rm_imm) &&
	     i->mem))
		return true;
	if (f == op_mov_rr || f == op_alu_rr || f == op_alu_ri)
		return i->rm != R_RSP;
	return i->reg != R_RSP && (i->mem || i->rm != R_RSP) && f != op_push_r &&
	       f != op_pop_r && f != op_call_rel && f != op_ret_near;
}

/* The stack access of i, relative to RSP before it, if it has one. */
static bool sw_access(const struct insn *i, s32 a, s64 *at, int *size, bool *write)
{
	x86_handler f = i->fn;
	*write = false;
	*size = 8;
	if ((f == op_push_r || f == op_call_rel) && i->osz == 8 && !i->lock) {
		*at = (s64)a - 8;
		*write = true;
		return true;
	}
	if ((f == op_pop_r || f == op_ret_near) && i->osz == 8 && !i->lock) {
		*at = a;
		return true;
	}
	if (sw_mem(i) && mem_form(i, size, write)) {
		*at = (s64)a + i->disp;
		return true;
	}
	return false;
}

/* Open a window at instruction x->idx (RSP now: adj 0) over its stack
 * access and those of the instructions after it while RSP is followed;
 * not for fewer than two accesses. */
static void sw_open(struct jx *x)
{
	s64 lo = 0, hi = 0;
	bool w = false;
	int cnt = 0;
	s32 a = 0;
	x->sw.ok = false;
	for (int j = x->idx; j < x->n && !x->smc; j++) {
		const struct insn *i = &x->insns[j];
		s64 at;
		int size;
		bool wr;
		if (sw_access(i, a, &at, &size, &wr)) {
			s64 nlo = cnt && lo < at ? lo : at;
			s64 nhi = cnt && hi > at + size ? hi : at + size;
			if (nhi - nlo <= SW_SPAN)
				lo = nlo, hi = nhi, w |= wr, cnt++;
		}
		s32 d;
		if (i->fn == op_call_rel || i->fn == op_ret_near || !sw_step(i, &d) ||
		    (s64)a + d < -(1 << 20) || (s64)a + d > (1 << 20))
			break;
		a += d;
	}
	if (cnt < 2)
		return;
	flags_to_mem(x);
	op(x, 8, 0x8b, R10, greg(R_RSP));
	op(x, 8, 0x8d, RDX, M(R10, (s32)lo));
	struct probe pr;
	tlb_probe(x, RDX, (int)(hi - lo), w, &pr, R9);
	u8 *done = jmp_fwd(x);
	patch_miss(x, &pr);
	op(x, 4, 0x31, R9, R(R9));
	patch(x, done);
	x->sw = (struct swin){.ok = true, .w = w, .lo = (s32)lo, .hi = (s32)hi, .adj = 0};
}

/*
 * An access of size bytes at RSP + rel (RSP as it is now): when the
 * window covers it (opening one if it does not), the test of R9 and the
 * jump to the access's own path (returned, to patch), *h its offset from
 * R9; else NULL.  The flags are in memory after it.  Not while
 * stack_run's own path is emitted (sw_off).
 */
static u8 *sw_enter(struct jx *x, s32 rel, int size, bool write, s32 *h)
{
	flags_to_mem(x);
	if (x->smc || x->sw_off)
		return NULL;
	const struct swin *w = &x->sw;
	for (int k = 0; k < 2; k++) {
		s64 at = (s64)w->adj + rel;
		if (w->ok && at >= w->lo && at + size <= w->hi && (w->w || !write)) {
			*h = (s32)(at - w->lo);
			op(x, 8, 0x85, R9, R(R9));
			return jcc_fwd(x, CC_E);
		}
		if (!k)
			sw_open(x);
	}
	return NULL;
}

/* After instruction i: the window follows RSP or closes. */
static void sw_after(struct jx *x, const struct insn *i, bool native)
{
	s32 d;
	if (!x->sw.ok)
		return;
	if (!native || !sw_step(i, &d) || x->sw.adj + (s64)d < -(1 << 20) ||
	    x->sw.adj + (s64)d > (1 << 20))
		x->sw.ok = false;
	else
		x->sw.adj += d;
}

/* After an access through the window: RSP <- R10 + adj + d. */
static void sw_rsp(struct jx *x, s32 d)
{
	op(x, 8, 0x8d, RAX, M(R10, x->sw.adj + d));
	op(x, 8, 0x89, RAX, greg(R_RSP));
}

/* RCX <- the r/m operand (register or memory read). */
static void rm_load(struct jx *x, const struct insn *i, int size, u32 next, bool write)
{
	if (!i->mem) {
		ld(x, RCX, i->rm, size);
		return;
	}
	s32 h;
	u8 *own = !write && sw_mem(i) ? sw_enter(x, i->disp, size, false, &h) : NULL, *done = NULL;
	if (own) {
		set_rip(x, x->off);
		load_rm(x, RCX, M(R9, h), size);
		done = jmp_fwd(x);
		patch(x, own);
	}
	struct probe pr;
	mem_addr(x, i, next, size, write, &pr);
	emit_load(x, i, i->seg, size, write, &pr);
	if (done) {
		patch(x, done);
		x->mc.ok = false; /* R14/R15 as the own path left them, or not */
	}
}

/* ---- instruction translation ---- */

/* ALU operation of kind k (ADD..CMP) on host registers, flags native. */
static void alu_host(struct jx *x, int k, int size, int dst, int src)
{
	op(x, size, (u32)(k << 3 | (size == 1 ? 0 : 1)), src, R(dst));
}

/* ALU operation of kind k on r/m with an immediate (sign-extended to
 * 64-bit for size 8: the caller checks it fits). */
static void alu_imm_rm(struct jx *x, int k, int size, struct rm m, u64 imm)
{
	if (size == 1) {
		op(x, 1, 0x80, k, m);
		e8(x, (u8)imm);
	} else if ((s64)sext(imm, size) == (s8)imm) {
		op(x, size, 0x83, k, m);
		e8(x, (u8)imm);
	} else {
		op(x, size, 0x81, k, m);
		if (size == 2)
			e16(x, (u16)imm);
		else
			e32(x, (u32)imm);
	}
}

static void callback(struct jx *x, const struct insn *i, u32 off)
{
	flags_to_mem(x);
	set_rip(x, off);
	mov_rr(x, RDI, RBX);
	mov_imm64(x, RSI, (u64)(uintptr_t)i);
	call_abs(x, jit_exec);
	op(x, 1, 0x84, RAX, R(RAX)); /* bool in al */
	u8 *stay = jcc_fwd(x, CC_E);
	epilogue(x, -1);
	patch(x, stay);
	x->fl_host = false;
	x->fl_mem = true;
	x->fl_lf = false; /* the interpreter's lazy state */
}

/*
 * Flag effect of a translated register-form operation: full writers
 * replace all six flags; the others keep some (INC/DEC keep CF, IMUL and
 * shifts may keep undefined ones, counts that may be 0 keep all), so
 * the guest flags must be in the host RFLAGS first.  flags_pre comes
 * before the operands are loaded (it may call out), flags_kill after any
 * memory operand was read (the read may fault with the old flags).
 */
static void flags_pre(struct jx *x, bool full)
{
	if (!full)
		flags_to_host(x);
}

static void flags_kill(struct jx *x, bool full)
{
	if (full)
		x->fl_host = false;
}

static void flags_post(struct jx *x)
{
	x->fl_host = true;
	x->fl_mem = false;
}

static void self_loop(struct jx *x)
{
	/* flags dead at the loop head: they stay in the host until the
	 * countdown runs out (LEA and JRCXZ leave them alone) */
	bool h = x->fl_host, m = x->fl_mem, lf = x->fl_lf;
	if (x->live_head)
		flags_capture(x);
	/* past the SIMD prelude when what it established still holds */
	const struct jsimd *hd = &x->head, *s = &x->simd;
	bool keep = (!hd->sse || s->sse) && (!hd->vex || s->vex) && (!hd->run || s->run) &&
		    (!hd->clean || s->clean) && (s->lo & hd->lo) == hd->lo &&
		    (s->hi & hd->hi) == hd->hi;
	u8 *to = keep ? x->loop : x->loop0;
	if (x->fl_mem) {
		/* the flags are in memory: the countdown may clobber them */
		op(x, 8, 0x83, 5, M(RSP, 0));
		e8(x, 1);	/* sub qword [rsp], 1 */
		e8(x, 0x0f);
		e8(x, 0x85);	/* jnz */
		e32(x, (u32)(s32)(to - (x->p + 4)));
		x->fl_host = false;
	} else {
		op(x, 8, 0x8b, RCX, M(RSP, 0));
		op(x, 8, 0x8d, RCX, M(RCX, -1));
		op(x, 8, 0x89, RCX, M(RSP, 0));
		e8(x, 0xe3);
		e8(x, 5);	/* jrcxz over the jmp */
		e8(x, 0xe9);
		e32(x, (u32)(s32)(to - (x->p + 4)));
	}
	flags_capture(x);
	set_rip(x, 0);
	epilogue(x, -1);
	x->fl_host = h, x->fl_mem = m, x->fl_lf = lf;
}

/* The interpreter runs i and the block is left (it branches or raises). */
static void interp_exit(struct jx *x, const struct insn *i, u32 off)
{
	set_rip(x, off);
	mov_rr(x, RDI, RBX);
	mov_imm64(x, RSI, (u64)(uintptr_t)i);
	call_abs(x, jit_exec);
	epilogue(x, -1);
}

/* RAX <- the guest address at block offset t; false if t does not fit. */
static bool target_rax(struct jx *x, u64 t)
{
	if ((s64)t != (s32)t)
		return false;
	op(x, 8, 0x8d, RAX, M(R13, (s32)t));
	return true;
}

/* Block offset t is in the block's page (canonical as the page is). */
static bool in_page(const struct jx *x, u64 t)
{
	return (x->host & 0xfff) + t < 4096;
}

/* A jump (to patch) taken when RAX is not canonical; clobbers RDX and
 * the host flags. */
static u8 *canonical_rax(struct jx *x)
{
	mov_rr(x, RDX, RAX);
	op(x, 8, 0xc1, 4, R(RDX));
	e8(x, 16);
	op(x, 8, 0xc1, 7, R(RDX));
	e8(x, 16);
	op(x, 8, 0x3b, RDX, R(RAX));
	return jcc_fwd(x, CC_NE);
}

/* The same for RAX = block offset t: none needed in the block's page. */
static u8 *canonical_to(struct jx *x, u64 t)
{
	return in_page(x, t) ? NULL : canonical_rax(x);
}

/* A taken branch to block offset t (flags in memory): loop to the start
 * or leave with RIP = t; a non-canonical target is the interpreter's. */
static void branch_to(struct jx *x, const struct insn *i, u32 off, u64 t)
{
	if (t == 0) {
		self_loop(x);
		return;
	}
	if (!target_rax(x, t)) {
		interp_exit(x, i, off);
		return;
	}
	u8 *bad = canonical_to(x, t);
	op(x, 8, 0x89, RAX, M(R12, OFF_C(rip)));
	static_exit(x, t);
	if (bad) {
		patch(x, bad);
		interp_exit(x, i, off);
	}
}

/* ALU with a memory destination (not LOCK, not ADC/SBB): read, operate,
 * store through the same host pointer (or the slow path). */
static void alu_mem(struct jx *x, const struct insn *i, int k, u32 next, bool imm)
{
	int size = i->osz;
	rm_load(x, i, size, next, k != 7);
	if (imm)
		ld_imm(x, RAX, i->imm, size);
	else
		ld(x, RAX, i->reg, size);
	alu_host(x, k, size, RCX, RAX);
	flags_post(x);
	if (k == 7)
		return;
	flags_capture(x);
	x->fl_host = false;
	mov_rr(x, R8, RCX);
	emit_store(x, i, i->seg, size, NULL, false, next);
}

/* SHL/SHR/SAL/SAR by a non-zero constant write all six flags. */

/*
 * An SSE / AVX instruction as itself on the host's vector registers
 * (jit_simd.c); anything its checks reject (gates, MXCSR, TLB miss,
 * alignment, a store into this block) leaves to the interpreter at it.
 */
static bool simd_insn(struct jx *x, const struct insn *i, u32 off, u32 next)
{
	struct simd_jit j;
	if (!simd_jit_form(i, &j))
		return false;
	struct jsimd_fix fx = {0};
	flags_to_mem(x);
	x->p = jsimd_enter(&x->simd, &j, x->p, &fx);
	struct probe pr = {{NULL, NULL}};
	if (i->mem) {
		/* a TLB miss leaves to the interpreter, as jsimd_mem's checks */
		mem_addr(x, i, next, j.msize, j.mwrite, &pr);
		x->p = jsimd_mem(&j, x->p, x->smc, &fx);
	}
	if (j.g_rcx >= 0)
		ld(x, RCX, j.g_rcx, 8);
	if (i->mem)
		host_pc(x); /* jsimd_exec starts with the instruction */
	x->p = jsimd_exec(&x->simd, &j, x->p);
	if (j.g_rax >= 0)
		st(x, RAX, j.g_rax, 8);
	if (j.g_wrcx >= 0)
		st(x, RCX, j.g_wrcx, 8);
	/* the exit, out of line (the flags are in memory: no capture) */
	struct cold *c = &x->cold[x->ncold++];
	c->off = off, c->idx = x->idx, c->n = 0;
	for (int k = 0; k < fx.n; k++)
		c->at[c->n++] = fx.at[k];
	for (int k = 0; k < 2; k++)
		if (pr.miss[k])
			c->at[c->n++] = pr.miss[k];
	return true;
}

/* The SIMD exits (simd_insn), each RIP and the instruction's index for
 * run_block, then one shared return. */
static void cold_exits(struct jx *x)
{
	if (!x->ncold)
		return;
	if (x->end - x->p < JIT_ROOM)
		x->full = true;
	u8 *tail = x->p;
	simd_flush(x);
	restore_regs(x);
	e8(x, 0xc3);
	for (int k = 0; k < x->ncold; k++) {
		const struct cold *c = &x->cold[k];
		for (int n = 0; n < c->n; n++)
			patch(x, c->at[n]);
		set_rip(x, c->off);
		e8(x, 0xb8);
		e32(x, (u32)c->idx); /* mov eax, idx */
		e8(x, 0xe9);
		e32(x, (u32)(s32)(tail - (x->p + 4)));
	}
}

/* Translate one instruction; false: use the interpreter for it. */
static bool translate_insn(struct jx *x, const struct insn *i, u32 off)
{
	x->off = off;
	x86_handler f = i->fn;
	u32 next = off + i->len;
	int size = i->osz;

	if ((f == op_simd || f == op_vex) && simd_insn(x, i, off, next))
		return true;
	if (i->lock)
		return false;
	if (f == op_nop)
		return true;
	if (f == op_mov_rr) {
		ld(x, RAX, i->reg, size);
		st(x, RAX, i->rm, size);
		return true;
	}
	if (f == op_mov_r_imm || (f == op_mov_rm_imm && !i->mem)) {
		ld_imm(x, RAX, i->imm, size);
		st(x, RAX, f == op_mov_r_imm ? i->reg : i->rm, size);
		return true;
	}
	if (f == op_mov_r_rm) {
		rm_load(x, i, size, next, false);
		st(x, RCX, i->reg, size);
		return true;
	}
	if (f == op_mov_rm_r || f == op_mov_rm_imm) {
		struct probe pr;
		if (f == op_mov_rm_r)
			ld(x, R8, i->reg, size);
		else
			ld_imm(x, R8, i->imm, size);
		s32 h;
		u8 *own = sw_mem(i) ? sw_enter(x, i->disp, size, true, &h) : NULL, *done = NULL;
		if (own) {
			set_rip(x, off);
			store_rm(x, R8, M(R9, h), size);
			done = jmp_fwd(x);
			patch(x, own);
		}
		mem_addr(x, i, next, size, true, &pr);
		emit_store(x, i, i->seg, size, &pr, false, next);
		if (done) {
			patch(x, done);
			x->mc.ok = false;
		}
		return true;
	}
	if (f == op_lea) {
		emit_ea_to(x, i, next, RCX);
		st(x, RCX, i->reg, size);
		return true;
	}
	if (f == op_movzx || f == op_movsx || f == op_movsxd) {
		int ssz = f == op_movsxd ? (size == 8 ? 4 : size) : i->op;
		rm_load(x, i, ssz, next, false);
		if (f == op_movsx)
			op(x, 8, ssz == 1 ? 0x0fbe : 0x0fbf, RCX, R(RCX));
		else if (f == op_movsxd && size == 8)
			op(x, 8, 0x63, RCX, R(RCX));
		st(x, RCX, i->reg, size);
		return true;
	}
	if (f == op_alu_rr || f == op_alu_ri || f == op_alu_a_imm || f == op_alu_r_rm) {
		int k = f == op_alu_ri ? i->reg & 7 : i->op;
		int dst = f == op_alu_r_rm ? i->reg : f == op_alu_a_imm ? R_RAX : i->rm;
		bool full = k != 2 && k != 3;
		if (f == op_alu_r_rm && i->mem && !full)
			return false;
		flags_pre(x, full);
		/* 8-, 16- and 64-bit results and CMP: the host instruction
		 * works on the guest register in cpu->gpr itself (a 32-bit
		 * result must clear the top half, so it goes through RCX) */
		bool imm = f == op_alu_ri || f == op_alu_a_imm;
		if ((size != 4 || k == 7) && (!imm || size != 8 || (s64)i->imm == (s32)i->imm)) {
			if (f == op_alu_r_rm)
				rm_load(x, i, size, next, false);
			else if (f == op_alu_rr)
				ld(x, RCX, i->reg, size);
			flags_kill(x, full);
			if (imm)
				alu_imm_rm(x, k, size, greg(dst), i->imm);
			else
				op(x, size, (u32)(k << 3 | (size == 1 ? 0 : 1)), RCX, greg(dst));
			flags_post(x);
			return true;
		}
		if (f == op_alu_r_rm) {
			rm_load(x, i, size, next, false);
			mov_rr(x, RAX, RCX);
		} else if (f == op_alu_rr) {
			ld(x, RAX, i->reg, size);
		} else {
			ld_imm(x, RAX, i->imm, size);
		}
		ld(x, RCX, dst, size);
		flags_kill(x, full);
		alu_host(x, k, size, RCX, RAX);
		flags_post(x);
		if (k != 7)
			st(x, RCX, dst, size);
		return true;
	}
	if ((f == op_alu_rm_r || f == op_alu_rm_imm) && i->mem) {
		int k = f == op_alu_rm_imm ? i->reg & 7 : i->op;
		if (k == 2 || k == 3)
			return false;
		alu_mem(x, i, k, next, f == op_alu_rm_imm);
		return true;
	}
	if ((f == op_test_rm_r || f == op_test_rm_imm || f == op_test_a_imm) &&
	    (f == op_test_a_imm || !i->mem)) {
		/* on the guest register in cpu->gpr */
		struct rm m = greg(f == op_test_a_imm ? R_RAX : i->rm);
		if (f == op_test_rm_r)
			ld(x, RAX, i->reg, size);
		x->fl_host = false;
		if (f == op_test_rm_r) {
			op(x, size, size == 1 ? 0x84 : 0x85, RAX, m);
		} else {
			op(x, size, size == 1 ? 0xf6 : 0xf7, 0, m);
			if (size == 1)
				e8(x, (u8)i->imm);
			else if (size == 2)
				e16(x, (u16)i->imm);
			else
				e32(x, (u32)i->imm);
		}
		flags_post(x);
		return true;
	}
	if (f == op_test_rm_r || f == op_test_rm_imm || f == op_test_a_imm) {
		if (f == op_test_a_imm)
			ld(x, RCX, R_RAX, size);
		else
			rm_load(x, i, size, next, false);
		if (f == op_test_rm_r)
			ld(x, RAX, i->reg, size);
		else
			ld_imm(x, RAX, i->imm, size);
		x->fl_host = false;
		op(x, size, size == 1 ? 0x84 : 0x85, RAX, R(RCX));
		flags_post(x);
		return true;
	}
	if ((f == op_not_rm || f == op_neg_rm || f == op_inc_dec_rm) && !i->mem) {
		int ext = f == op_not_rm ? 2 : f == op_neg_rm ? 3 : i->op;
		bool full = f == op_neg_rm || !x->live_after;
		if (f != op_not_rm)
			flags_pre(x, full);
		u32 opc = f == op_inc_dec_rm ? (size == 1 ? 0xfe : 0xff) : (size == 1 ? 0xf6 : 0xf7);
		if (size != 4) {
			/* on the guest register in cpu->gpr (merges, as 8/16-bit
			 * writes do) */
			if (f != op_not_rm)
				flags_kill(x, full);
			op(x, size, opc, ext, greg(i->rm));
			if (f != op_not_rm)
				flags_post(x);
			return true;
		}
		ld(x, RCX, i->rm, size);
		if (f != op_not_rm)
			flags_kill(x, full);
		op(x, size, opc, ext, R(RCX));
		if (f != op_not_rm)
			flags_post(x);
		st(x, RCX, i->rm, size);
		return true;
	}
	if (f == op_shift_rm && !i->mem) {
		int kind = i->reg & 7;
		if (kind == 6)
			kind = 4; /* SAL */
		/* dead flags after it: the old ones are not needed, except by
		 * RCL/RCR, whose result takes CF in */
		/* AF (and OF above count 1) are undefined: a CPU may keep
		 * them, so the guest's flags go in unless they are dead */
		bool full = !x->live_after && kind != 2 && kind != 3;
		flags_pre(x, full);
		ld(x, RAX, i->rm, size);
		if (i->op == 2)
			ld(x, RCX, R_RCX, 1);
		flags_kill(x, full);
		u32 opc = i->op == 0 ? 0xc0 : i->op == 1 ? 0xd0 : 0xd2;
		op(x, size, opc + (size == 1 ? 0 : 1), kind, R(RAX));
		if (i->op == 0)
			e8(x, (u8)i->imm);
		flags_post(x);
		st(x, RAX, i->rm, size);
		return true;
	}
	if ((f == op_imul_r_rm || f == op_imul_r_rm_imm) && !i->mem) {
		flags_pre(x, !x->live_after);
		ld(x, RAX, i->rm, size);
		if (f == op_imul_r_rm)
			ld(x, RCX, i->reg, size);
		flags_kill(x, !x->live_after);
		if (f == op_imul_r_rm) {
			op(x, size, 0x0faf, RCX, R(RAX));
		} else {
			op(x, size, 0x69, RCX, R(RAX));
			if (size == 2)
				e16(x, (u16)i->imm);
			else
				e32(x, (u32)i->imm);
		}
		flags_post(x);
		st(x, RCX, i->reg, size);
		return true;
	}
	if ((f == op_setcc || f == op_cmovcc) && !i->mem) {
		flags_to_host(x);
		if (f == op_setcc) {
			op(x, 1, 0x0f90 | i->op, 0, R(RCX));
			st(x, RCX, i->rm, 1);
		} else {
			ld(x, RAX, i->rm, size);
			ld(x, RCX, i->reg, size);
			op(x, size == 8 ? 8 : size, 0x0f40 | i->op, RCX, R(RAX));
			st(x, RCX, i->reg, size);
		}
		return true;
	}
	if ((f == op_xchg_rm_r && !i->mem) || f == op_xchg_a_r) {
		int a = f == op_xchg_a_r ? R_RAX : i->rm;
		ld(x, RAX, a, size);
		ld(x, RCX, i->reg, size);
		st(x, RAX, i->reg, size);
		st(x, RCX, a, size);
		return true;
	}
	if ((f == op_push_r || f == op_pop_r) && size == 8) {
		bool push = f == op_push_r;
		s32 h;
		flags_to_mem(x);
		set_rip(x, off);
		u8 *own = sw_enter(x, push ? -8 : 0, 8, push, &h), *done = NULL;
		if (own) {
			if (push) {
				ld(x, RCX, i->reg, 8);
				op(x, 8, 0x89, RCX, M(R9, h));
				sw_rsp(x, -8);
			} else {
				op(x, 8, 0x8b, RCX, M(R9, h));
				sw_rsp(x, 8);
				st(x, RCX, i->reg, 8);
			}
			done = jmp_fwd(x);
			patch(x, own);
		}
		op(x, 8, 0x8b, R14, M(R12, R_RSP * 8));
		struct probe pr;
		if (push) {
			op(x, 8, 0x8d, R14, M(R14, -8));
			ld(x, R8, i->reg, 8);
			emit_probe(x, S_SS, 8, true, &pr);
			emit_store(x, i, S_SS, 8, &pr, true, next);
		} else {
			emit_probe(x, S_SS, 8, false, &pr);
			emit_load(x, i, S_SS, 8, false, &pr);
			op(x, 8, 0x8d, R14, M(R14, 8));
			op(x, 8, 0x89, R14, M(R12, R_RSP * 8));
			st(x, RCX, i->reg, 8);
		}
		if (done)
			patch(x, done);
		return true;
	}
	if (f == op_jcc && size == 8) {
		flags_to_host(x);
		u8 *fall = jcc_fwd(x, i->op ^ 1);
		bool m = x->fl_mem, lf = x->fl_lf;
		u64 t = next + i->imm;
		if (t)
			flags_capture(x); /* a self-loop captures as it needs */
		branch_to(x, i, off, t);
		patch(x, fall);
		x->fl_host = true, x->fl_mem = m, x->fl_lf = lf;
		return true;
	}
	if (f == op_jmp_rel && size == 8) {
		if (next + i->imm)
			flags_to_mem(x);
		branch_to(x, i, off, next + i->imm);
		return true;
	}
	if (f == op_call_rel && size == 8) {
		/* the target is checked before the push, as branch() does */
		flags_to_mem(x);
		set_rip(x, off);
		if (!target_rax(x, next + i->imm)) {
			interp_exit(x, i, off);
			return true;
		}
		u8 *bad = canonical_to(x, next + i->imm);
		op(x, 8, 0x8d, R8, M(R13, (s32)next));
		s32 h;
		u8 *own = sw_enter(x, -8, 8, true, &h), *done = NULL;
		if (own) {
			op(x, 8, 0x89, R8, M(R9, h));
			sw_rsp(x, -8);
			done = jmp_fwd(x);
			patch(x, own);
		}
		op(x, 8, 0x8b, R14, M(R12, R_RSP * 8));
		op(x, 8, 0x8d, R14, M(R14, -8));
		struct probe pr;
		emit_probe(x, S_SS, 8, true, &pr);
		emit_store(x, i, S_SS, 8, &pr, true, NO_LEAVE);
		if (done)
			patch(x, done);
		target_rax(x, next + i->imm);
		op(x, 8, 0x89, RAX, M(R12, OFF_C(rip)));
		static_exit(x, next + i->imm);
		if (bad) {
			patch(x, bad);
			interp_exit(x, i, off);
		}
		return true;
	}
	if (f == op_ret_near && size == 8) {
		s32 h;
		flags_to_mem(x);
		set_rip(x, off);
		u8 *own = sw_enter(x, 0, 8, false, &h), *done = NULL;
		if (own) {
			op(x, 8, 0x8b, RCX, M(R9, h));
			op(x, 8, 0x8d, R14, M(R10, x->sw.adj)); /* RSP */
			done = jmp_fwd(x);
			patch(x, own);
		}
		op(x, 8, 0x8b, R14, M(R12, R_RSP * 8));
		struct probe pr;
		emit_probe(x, S_SS, 8, false, &pr);
		emit_load(x, i, S_SS, 8, false, &pr);
		if (done)
			patch(x, done);
		mov_rr(x, RAX, RCX);
		u8 *bad = canonical_rax(x);
		op(x, 8, 0x8d, R14, M(R14, (s32)(8 + i->imm)));
		op(x, 8, 0x89, R14, M(R12, R_RSP * 8));
		op(x, 8, 0x89, RCX, M(R12, OFF_C(rip)));
		/* chained when the return address is in the block's page */
		mov_rr(x, RSI, RCX);
		op(x, 8, 0x31, R13, R(RCX)); /* xor rcx, r13 */
		op(x, 8, 0xc1, 5, R(RCX));
		e8(x, 12);
		u8 *far = jcc_fwd(x, CC_NE);
		op(x, 8, 0x2b, RSI, R(R13)); /* sub rsi, r13 */
		mov_imm64(x, RAX, x->host);
		op(x, 8, 0x01, RAX, R(RSI)); /* add rsi, rax */
		chain_exit(x);
		patch(x, far);
		op(x, 8, 0x8b, RSI, M(R12, OFF_C(rip)));
		far_exit(x);
		patch(x, bad);
		interp_exit(x, i, off);
		return true;
	}
	return false;
}

/*
 * A run of PUSH r64 or of POP r64 (not of RSP): one probe for the bytes
 * of all of them, taken when they are in one page; else each instruction
 * as translate_insn has it (its own probe, fault and RIP).  The fast path
 * cannot fault, so RIP and the flags are stored once, for the first.
 * Returns the instructions consumed (0: no run here).
 */
static int stack_run(struct jx *x, const struct insn *ins, int n, u32 off)
{
	x86_handler f = ins[0].fn;
	if ((f != op_push_r && f != op_pop_r) || ins[0].osz != 8 || ins[0].lock)
		return 0;
	int k = 0;
	while (k < n && k < 8 && ins[k].fn == f && ins[k].osz == 8 && !ins[k].lock &&
	       ins[k].reg != R_RSP)
		k++;
	if (k < 2)
		return 0;
	bool push = f == op_push_r;
	s32 h;
	flags_to_mem(x);
	set_rip(x, off);
	u8 *own = sw_enter(x, push ? -8 * k : 0, 8 * k, push, &h), *wdone = NULL;
	if (own) {
		for (int j = 0; j < k; j++) {
			if (push) {
				ld(x, RCX, ins[j].reg, 8);
				op(x, 8, 0x89, RCX, M(R9, h + 8 * (k - 1 - j)));
			} else {
				op(x, 8, 0x8b, RCX, M(R9, h + 8 * j));
				st(x, RCX, ins[j].reg, 8);
			}
		}
		sw_rsp(x, push ? -8 * k : 8 * k);
		wdone = jmp_fwd(x);
		patch(x, own);
	}
	op(x, 8, 0x8b, R14, M(R12, R_RSP * 8));
	if (push)
		op(x, 8, 0x8d, R14, M(R14, -8 * k));
	struct probe pr;
	emit_probe(x, S_SS, 8 * k, push, &pr);
	for (int j = 0; j < k; j++) {
		if (push) {
			ld(x, RCX, ins[j].reg, 8);
			op(x, 8, 0x89, RCX, M(R15, 8 * (k - 1 - j)));
		} else {
			op(x, 8, 0x8b, RCX, M(R15, 8 * j));
			st(x, RCX, ins[j].reg, 8);
		}
	}
	if (!push)
		op(x, 8, 0x8d, R14, M(R14, 8 * k));
	op(x, 8, 0x89, R14, M(R12, R_RSP * 8));
	u8 *done = jmp_fwd(x);
	patch_miss(x, &pr);
	x->sw_off = true; /* the window's state is the run's, not theirs */
	for (int j = 0; j < k; j++) {
		translate_insn(x, &ins[j], off);
		off += ins[j].len;
	}
	x->sw_off = false;
	patch(x, done);
	if (wdone)
		patch(x, wdone);
	return k;
}

/* ---- blocks ---- */

static struct jit_arena *arena(struct engine *e)
{
	if (e->jit)
		return e->jit;
	struct jit_arena *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	void *m = mmap(NULL, JIT_ARENA, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		free(a);
		jit_on = 0; /* no executable memory here: interpret */
		return NULL;
	}
	a->base = m;
	e->jit = a;
	return a;
}

/* Full: drop every translation and start the arena afresh. */
static void arena_flush(struct engine *e)
{
	for (int k = 0; k < BLK_CACHE; k++)
		if (e->blocks[k].b)
			e->blocks[k].b->jit = NULL;
	e->jit->used = 0;
	e->jit->npc = 0;
}

/*
 * Flag liveness within the block.  Classes: FL_N leaves the flags alone,
 * FL_W replaces all six, FL_P keeps some (so it needs the old ones only if
 * its own are live after it), FL_R reads or may expose them (flag
 * readers, memory accesses that may fault, callbacks, exits).  Anything
 * not named here is FL_R.  Must agree with translate_insn.
 */
enum { FL_N, FL_W, FL_P, FL_R };

static int flag_class(const struct insn *i)
{
	x86_handler f = i->fn;
	if (i->lock)
		return FL_R;
	if (f == op_nop || f == op_mov_rr || f == op_mov_r_imm || f == op_lea || f == op_xchg_a_r)
		return FL_N;
	if (i->mem)
		return FL_R;
	if (f == op_mov_rm_imm || f == op_mov_r_rm || f == op_movzx || f == op_movsx ||
	    f == op_movsxd || f == op_xchg_rm_r || f == op_not_rm)
		return FL_N;
	if (f == op_alu_rr || f == op_alu_ri || f == op_alu_a_imm || f == op_alu_r_rm) {
		int k = f == op_alu_ri ? i->reg & 7 : i->op;
		return k == 2 || k == 3 ? FL_R : FL_W;
	}
	if (f == op_test_rm_r || f == op_test_rm_imm || f == op_test_a_imm || f == op_neg_rm)
		return FL_W;
	if (f == op_inc_dec_rm || f == op_imul_r_rm || f == op_imul_r_rm_imm)
		return FL_P;
	if (f == op_shift_rm) {
		int kind = i->reg & 7;
		if (kind == 2 || kind == 3)
			return FL_R; /* RCL/RCR read CF */
		return FL_P; /* may keep undefined flags, as IMUL */
	}
	return FL_R;
}

/*
 * A block with a branch to its own start and SIMD instructions: their
 * gates, the MXCSR check
 * and load, VZEROUPPER before legacy SSE and the loads of every vector
 * register they read, once before the loop head, so that the back edge
 * skips them when its state still has them (no C call in between:
 * self_loop).  A failed check leaves to the interpreter at the block's
 * first instruction, which then raises what the instruction that needs
 * it raises, in order.
 */
static void simd_prelude(struct jx *x, const struct block *b)
{
	bool loop = false;
	u32 next = 0;
	for (int k = 0; k < b->n; k++) {
		const struct insn *i = &b->insns[k];
		next += i->len;
		if ((i->fn == op_jcc || i->fn == op_jmp_rel) && i->osz == 8 && next + i->imm == 0)
			loop = true;
	}
	if (!loop)
		return;
	struct simd_jit vex = {.vex = true}, sse = {0};
	bool any_vex = false, any_sse = false;
	for (int k = 0; k < b->n; k++) {
		const struct insn *i = &b->insns[k];
		struct simd_jit j;
		if ((i->fn != op_simd && i->fn != op_vex) || !simd_jit_form(i, &j))
			continue;
		if (j.vex)
			any_vex = true;
		else
			any_sse = true;
		sse.rd |= j.rd; /* bits 127:0 of every register read */
	}
	if (!any_vex && !any_sse)
		return;
	if (x->end - x->p < JIT_ROOM) {
		x->full = true;
		return;
	}
	struct jsimd_fix fx = {0};
	/* the AVX gate, then the SSE gate with VZEROUPPER and the loads */
	if (any_vex)
		x->p = jsimd_enter(&x->simd, &vex, x->p, &fx);
	vex.rd = sse.rd;
	x->p = jsimd_enter(&x->simd, any_sse ? &sse : &vex, x->p, &fx);
	x->head = x->simd;
	struct cold *c = &x->cold[x->ncold++];
	c->off = 0, c->idx = 0, c->n = 0;
	for (int k = 0; k < fx.n; k++)
		c->at[c->n++] = fx.at[k];
}

static bool emit_block(struct jx *x, struct block *b)
{
	bool live[BLK_MAX + 1]; /* live[k]: flags live before instruction k */
	live[b->n] = true;	/* the block's exits expose them */
	for (int k = b->n - 1; k >= 0; k--) {
		int c = flag_class(&b->insns[k]);
		live[k] = c == FL_R || (c != FL_W && live[k + 1]);
	}
	x->live_head = live[0];
	/* push rbx, rbp, r12-r15; sub rsp, 8 (16-byte aligned calls) */
	static const u8 pro[] = {0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57};
	for (size_t k = 0; k < sizeof(pro); k++)
		e8(x, pro[k]);
	op(x, 8, 0x81, 5, R(RSP));
	e32(x, 8);
	mov_rr(x, RBX, RDI);
	mov_rr(x, R12, RSI);
	mov_rr(x, RBP, RDX);
	size_t entry = (size_t)(x->p - x->start);
	if (jit_entry_off && entry != jit_entry_off)
		return false; /* cannot happen: one prologue for all */
	atomic_store_explicit(&jit_entry_off_, entry, memory_order_relaxed);
	op(x, 8, 0x8b, R13, M(R12, OFF_C(rip)));
	op(x, 8, 0xc7, 0, M(RSP, 0)); /* all 64 bits: self_loop counts in RCX */
	e32(x, JIT_LOOP_BUDGET);
	x->loop0 = x->p;
	x->fl_host = false;
	x->fl_mem = true;
	x->fl_lf = false;
	x->sw.ok = false;
	simd_prelude(x, b);
	x->loop = x->p;
	u32 off = 0;
	for (int k = 0; k < b->n && !x->full; k++) {
		const struct insn *i = &b->insns[k];
		if (x->end - x->p < JIT_ROOM) {
			x->full = true;
			break;
		}
		x->idx = k;
		int run = stack_run(x, i, b->n - k, off);
		if (run) {
			x->mc.ok = false;
			x->native += (u32)run;
			for (int j = 0; j < run; j++) {
				off += b->insns[k + j].len;
				sw_after(x, &b->insns[k + j], true);
			}
			k += run - 1;
			continue;
		}
		x->live_after = live[k + 1];
		if (translate_insn(x, i, off)) {
			x->native++;
			mc_after(x, i, true);
			sw_after(x, i, true);
		} else {
			callback(x, i, off);
			x->mc.ok = false;
			sw_after(x, i, false);
		}
		off += i->len;
	}
	/* off the end: the interpreter goes on with the next instruction;
	 * a block that cannot grow (run_block would return to the
	 * dispatcher there) chains to the next one */
	if (!b->closed && (b->n == BLK_MAX || b->nbytes + 15 > BLK_BYTES) && (s64)off == (s32)off) {
		flags_to_mem(x); /* before RAX: the capture uses AX */
		target_rax(x, off);
		u8 *bad = canonical_to(x, off);
		op(x, 8, 0x89, RAX, M(R12, OFF_C(rip)));
		static_exit(x, off);
		if (bad)
			patch(x, bad);
	}
	side_exit(x, off, b->n);
	cold_exits(x);
	return !x->full;
}

bool jit_translate(struct engine *e, struct block *b)
{
	struct jit_arena *a = arena(e);
	if (!a || !e->code64 || !b->n)
		return false;
	for (int tries = 0; tries < 2; tries++) {
		struct jx x = {.p = a->base + a->used, .start = a->base + a->used,
			       .end = a->base + JIT_ARENA, .e = e, .mode = b->mode,
			       .host = (uintptr_t)b->host, .smc = !b->cp, .insns = b->insns,
			       .n = b->n, .a = a};
		if (emit_block(&x, b)) {
			b->jit = a->base + a->used;
			b->jit_n = b->n;
			a->blocks++;
			a->insns += b->n;
			a->native += x.native;
			a->used = (size_t)(x.p - a->base + 15) & ~(size_t)15;
			return true;
		}
		arena_flush(e);
		a->flushes++;
	}
	return false;
}

void jit_destroy(struct engine *e)
{
	if (!e->jit)
		return;
	if (jit_stats)
		fprintf(stderr, "skvm: jit: %llu blocks, %llu instructions (%llu native), %llu flushes\n",
			(unsigned long long)e->jit->blocks, (unsigned long long)e->jit->insns,
			(unsigned long long)e->jit->native, (unsigned long long)e->jit->flushes);
	if (jit_dump) {
		/* for profiles: perf's samples at base + offset, objdump -D
		 * -b binary -mi386:x86-64 on the file */
		FILE *f = fopen(jit_dump, "wb");
		if (f) {
			fwrite(e->jit->base, 1, e->jit->used, f);
			fclose(f);
		}
		fprintf(stderr, "skvm: jit: arena at %p, %zu bytes in %s\n", (void *)e->jit->base,
			e->jit->used, jit_dump);
	}
	munmap(e->jit->base, JIT_ARENA);
	free(e->jit->pcs);
	free(e->jit);
	e->jit = NULL;
}
