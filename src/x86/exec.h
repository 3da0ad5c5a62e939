/*
 * Engine-private definitions: the decoded instruction record, the engine
 * state behind cpu->engine, lazy flags, the soft TLB and the operand
 * accessors every handler uses.  See docs/engine.md.
 */
#ifndef SOFTKVM_X86_EXEC_H
#define SOFTKVM_X86_EXEC_H

#include <setjmp.h>
#include <string.h>

#include "x86/engine.h"

struct engine;
struct insn;
/* The one handler signature. */
typedef void (*x86_handler)(struct engine *e, const struct insn *i);

/* A decoded instruction.  Register numbers 16..19 in byte operations name
 * AH, CH, DH, BH (no REX prefix). */
#define REG_NONE 0xff
#define REG_RIP 0x10

struct insn {
	x86_handler fn;
	u8 len;
	u8 op;	     /* sub-operation: ALU kind, condition, group index, ... */
	u8 osz;	     /* operand size in bytes */
	u8 asz;	     /* address size in bytes */
	u8 seg;	     /* segment of the memory operand */
	u8 rep;	     /* 0, 0xf2 or 0xf3 */
	u8 lock;
	u8 mem;	     /* the r/m operand is memory */
	u8 reg;	     /* ModRM.reg (with REX.R), or the register in the opcode */
	u8 rm;	     /* ModRM.rm register (with REX.B) when !mem */
	u8 base, index, scale;
	u8 b1;	     /* last opcode byte */
	s32 disp;
	u64 imm;
	u16 imm2;    /* far pointer selector, ENTER level */
	u16 sx;	     /* SIMD form (x86/native.c) */
	const void *stub; /* its host code */
	u8 bytes[15];
};

/* Lazy flags (Blink / QEMU style): the last flag-setting operation. */
enum lf_op { LF_NONE, LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC, LF_INC, LF_DEC,
	     LF_HOST /* the six flags are in lf_res as LAHF/SETO left them (JIT) */ };

#define TLB_SIZE 256
struct tlb_entry {
	u64 tag;	  /* page | user bit; TLB_INVALID when empty */
	uintptr_t addend; /* host = la + addend */
};
#define TLB_INVALID 2ULL /* bit 1 is never set in a tag */
#define TLB_A_GLOBAL 1 /* struct engine's tlb_attr */
#define TLB_A_LARGE 2
/* The entry of linear address la: page bits 19:12 XOR bits 26:20 shifted
 * left by one, so buffers a power-of-two multiple of 1 MiB (below 128 MiB)
 * apart (saxpy's x and y) do not take turns in one entry, and two adjacent
 * pages never share one (the index of the lower is odd where the upper's
 * is even when bits 19:12 wrap): jit.c's probe relies on that, taking the
 * index from an access's first byte and the tag from its last.  jit.c's
 * tlb_slot emits the same. */
static inline unsigned tlb_index(u64 la)
{
	u64 p = la >> 12;
	return (unsigned)((p ^ (p >> 8) << 1) & (TLB_SIZE - 1));
}
/* In a write entry: the page holds cached code (struct code_page).  The
 * inline fast paths miss on it; the slow paths use it and bump the page's
 * gen (code_tlb_w in engine.c). */
#define TLB_CODE 4ULL

enum { M_REAL, M_PROT, M_LONG };

/* Interrupt shadow kinds, valued as KVM_X86_SHADOW_INT_* (kvm_vcpu_events). */
#define X86_SHADOW_MOV_SS 1
#define X86_SHADOW_STI 2

/*
 * A decoded block: instructions from one guest page, keyed by the host
 * address of the first byte and the decode mode.  The raw bytes are kept
 * and compared on every entry, so code changed by anyone (this vCPU,
 * another, the VMM) is never run stale across block boundaries.
 */
#define BLK_MAX 32
#define BLK_BYTES 256
#define BLK_CACHE 16384
#define BLK_WAYS 2	/* blocks whose host addresses hash alike: LRU of two */
/*
 * A host page that holds cached blocks (see "Decoded blocks" in
 * docs/engine.md): this vCPU's writes to it never get a write-TLB entry,
 * so they reach ram_ptr(), which bumps gen.  A block whose page gen and
 * the engine's code_epoch are what they were when its bytes last matched
 * memory is still valid without comparing them again.
 */
struct code_page {
	uintptr_t page; /* host address of the page, 0: free slot */
	u32 gen;
};
#define CODE_PAGES 8192 /* open addressing; when full, blocks compare bytes */

struct block {
	const u8 *host;
	struct code_page *cp; /* the page's entry, or NULL (untracked) */
	u32 cp_gen, epoch;    /* when the bytes last matched memory */
	u8 mode;
	u8 n;
	u8 closed; /* ends in an unconditional transfer: do not extend */
	u16 nbytes;
	u16 hits;   /* entries, until translated */
	u8 jit_n;   /* instructions the translation covers */
	void *jit;  /* jit_fn, or NULL */
	u8 code[BLK_BYTES];
	struct insn insns[BLK_MAX];
};

/* A block cache slot: the tag (host address and mode, blk_tag()) is kept
 * beside the pointer, so a lookup reads no block it does not use. */
struct blk_slot {
	uintptr_t tag;
	struct block *b;
};

static inline uintptr_t blk_tag(const u8 *host, u8 mode)
{
	return (uintptr_t)host | (uintptr_t)mode << 58; /* user addresses < 2^57 */
}

/* Why execution unwound out of an instruction (longjmp value). */
enum { UNWIND_EXC = 1, UNWIND_EXIT, UNWIND_HOST_FAULT };
enum { MMIO_WAITING = 1, MMIO_ANSWERED }; /* engine.pend_mmio */

struct engine {
	struct x86_cpu *cpu;
	struct x86_env *env;
	struct x86_exit *exit;
	jmp_buf jb;

	/* lazy flags */
	u8 lf_op, lf_size;
	u64 lf_res, lf_a, lf_b;
	u64 lf_cf; /* carry in (ADC/SBB) or preserved CF (INC/DEC) */

	/* mode, recomputed on CS/CR0/EFER changes */
	u8 mode;
	u8 code64; /* 64-bit code segment */
	u8 def32;  /* CS.D */
	u8 cpl;
	u8 vm86;   /* virtual-8086 mode: M_PROT with RFLAGS.VM */
	u8 implicit_sv; /* in sys_read/sys_write: 1 + the CPL they replaced by 0 */

	/* interrupt shadow after STI / MOV SS / POP SS: X86_SHADOW_* */
	u8 shadow;
	u8 shadow_pending;

	/* exception being delivered (for #DF / triple fault) */
	int delivering;

	/* next instruction pointer while an instruction runs */
	u64 next_rip;

	/* pending completion of an exited instruction */
	u8 pend_in;	 /* IN/INS data is in the PIO page */
	u8 pend_mmio;	 /* an MMIO read exited: MMIO_WAITING for the VMM's
			  * data, then MMIO_ANSWERED until the instruction
			  * has run again */
	u8 pend_msr;	 /* RDMSR/WRMSR exited to the VMM (X86_EXIT_MSR) */
	u8 msr_done;	 /* ... and the VMM's answer is in msr_error/msr_data */
	u8 msr_error;
	u64 msr_data;
	u8 mmio_have;	 /* reads answered for the current instruction */
	u8 mmio_used;
	u64 mmio_data[4];
	bool mmio_write; /* an MMIO write exit is due after this instruction */
	bool io_out;	 /* an OUT exit is due after this instruction */
	u32 pio_count;	 /* elements asked for by the pending IN exit */
	u16 pio_pos, pio_end;
	u8 pio_buf[1024]; /* IN data read ahead for REP INS */

	struct {
		struct tlb_entry r[TLB_SIZE], w[TLB_SIZE], x[TLB_SIZE];
	} tlb;
	/* Per entry (r, then w, then x): TLB_A_GLOBAL, TLB_A_LARGE; what the
	 * targeted flushes (tlb_flush_nonglobal, tlb_flush_page) go by.  The
	 * last walk's page and attributes, for the fill that follows it. */
	u8 tlb_attr[3 * TLB_SIZE];
	bool tlb_any_global, tlb_any_large;
	u64 walk_page;
	u8 walk_attr;

	struct insn cur;
	const struct insn *cur_insn; /* the instruction executing */
	u32 poll_count;
	bool leave_block;	     /* TLB flush or mode change: leave the block */
	/* host bytes of the block being run: stores into them leave it */
	uintptr_t code_lo, code_hi;
	/* the logged page mem_host_rw handed out, logged by mem_host_rw_done */
	const struct mem_slot *rw_log;
	u64 rw_log_gpa;
	u64 dirty_seen; /* the mem->dirty_epoch whose re-arm was honoured */
	/* what the TLB was valid under when the last run ended (tlb_kept) */
	struct {
		bool valid;
		u32 state_gen;
		u64 map_gen, cr0, cr3, cr4, efer;
	} tlb_key;
	struct blk_slot blocks[BLK_CACHE];
	struct code_page *code_pages; /* CODE_PAGES entries, or NULL */
	u32 code_pages_used;
	/* foreign writers (the VMM, other vCPUs, a new memslot map) are not
	 * tracked: the epoch moves at every KVM_RUN, map change, delivered
	 * interrupt, serializing CPUID/IRET and every CODE_TICKS boundaries,
	 * and every block compares its bytes again after a move */
	u32 code_epoch, code_ticks;
	bool ram_code; /* the last ram_ptr() write was into such a page */
	struct jit_arena *jit; /* translated code (jit.c) */
	bool jit_chained;      /* translated code went on to another block */

	/* Breakpoints of the effective DR7 (debug_update): bit n for DRn */
	u8 dbg_armed;  /* any: run one instruction at a time (step) */
	u8 dbg_exec;   /* R/W 00: instruction */
	u8 dbg_data;   /* R/W 01 or 11: data (watched pages get no data TLB) */
	u8 dbg_wonly;  /* ... of which R/W 01: writes only */
	u8 dbg_io;     /* R/W 10 with CR4.DE: I/O ports */
	bool dbg_vmm;  /* the VMM's (KVM_GUESTDBG_USE_HW_BP), not the guest's */
	u8 dbg_hit;    /* data/I/O matches of the current instruction */
	u8 dbg_pend;   /* ... of an instruction that exited to the VMM */
	u64 dbg_lo[4], dbg_hi[4]; /* DRn's range, inclusive */
	s32 chain_budget;      /* inline chains before jit_chain's checks */
	struct {	       /* txn_begin: what an unwind puts back */
		bool on;
		u64 rsp, rflags;
		struct x86_seg seg[S_NR];
	} txn;
	/* translated SIMD (jit_simd.c): the host MXCSR holds the guest's,
	 * flags raised since it was loaded not yet stored; the host's MXCSR
	 * at KVM_RUN entry */
	u8 jit_mx;
	u32 host_mxcsr;
};

static inline struct engine *eng(struct x86_cpu *cpu)
{
	return cpu->engine;
}

/* --- sizes and masks --- */
static inline u64 size_mask(int size)
{
	return size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static inline u64 sign_bit(int size)
{
	return 1ULL << (size * 8 - 1);
}

static inline s64 sext(u64 v, int size)
{
	switch (size) {
	case 1: return (s8)v;
	case 2: return (s16)v;
	case 4: return (s32)v;
	default: return (s64)v;
	}
}

/* --- registers --- */
static inline u64 reg_get(struct engine *e, int r, int size)
{
	if (size == 1 && r >= 16)
		return (e->cpu->gpr[r - 16] >> 8) & 0xff;
	return e->cpu->gpr[r] & size_mask(size);
}

/* A 32-bit write zero-extends to 64 bits; 8/16-bit writes merge. */
static inline void reg_set(struct engine *e, int r, int size, u64 v)
{
	u64 *p;
	switch (size) {
	case 1:
		if (r >= 16) {
			p = &e->cpu->gpr[r - 16];
			*p = (*p & ~0xff00ULL) | ((v & 0xff) << 8);
		} else {
			p = &e->cpu->gpr[r];
			*p = (*p & ~0xffULL) | (v & 0xff);
		}
		break;
	case 2:
		p = &e->cpu->gpr[r];
		*p = (*p & ~0xffffULL) | (v & 0xffff);
		break;
	case 4:
		e->cpu->gpr[r] = (u32)v;
		break;
	default:
		e->cpu->gpr[r] = v;
	}
}

/* --- flags (flags.c) --- */
u64 flags_get(struct engine *e);		/* full RFLAGS */
u64 flags_cf(struct engine *e);		/* CF alone (0 or 1) */
void flags_set(struct engine *e, u64 v);	/* all of RFLAGS, no checks */
void flags_fold(struct engine *e);		/* lazy state into cpu->rflags */
bool cond_eval(struct engine *e, int cc);	/* Jcc/SETcc/CMOVcc condition */
u64 parity_flag(u64 res);
u64 flags_host_image(u64 fl);		/* RFLAGS -> LF_HOST image */
u64 flags_from_host_image(u64 img);	/* and back (arithmetic flags) */
/* DAA/DAS/AAA/AAS/AAM/AAD (opcode, imm8) run by the host CPU in a
 * compat-mode segment: EAX and the six status flags in and out; false
 * where the host has no 32-bit code segment (host32.c) */
bool host32_adjust(u8 opcode, u8 imm, u32 *eax, u64 *rflags);

static inline void lf_set(struct engine *e, int op, int size, u64 res, u64 a, u64 b)
{
	e->lf_op = op;
	e->lf_size = size;
	e->lf_res = res & size_mask(size);
	e->lf_a = a & size_mask(size);
	e->lf_b = b & size_mask(size);
}

/* Replace the six arithmetic flags eagerly. */
static inline void flags_arith(struct engine *e, u64 fl)
{
	const u64 m = X86_FL_CF | X86_FL_PF | X86_FL_AF | X86_FL_ZF | X86_FL_SF |
		      X86_FL_OF;
	e->lf_op = LF_NONE;
	e->cpu->rflags = (e->cpu->rflags & ~m) | (fl & m);
}

/* ZF, SF, PF of a result */
static inline u64 flags_szp(u64 res, int size)
{
	res &= size_mask(size);
	return (res ? 0 : X86_FL_ZF) | (res & sign_bit(size) ? X86_FL_SF : 0) |
	       parity_flag(res);
}

/* --- exceptions and exits (engine.c) --- */
enum { EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5,
       EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12,
       EXC_GP = 13, EXC_PF = 14, EXC_MF = 16, EXC_AC = 17 };
#define NO_ERR (-1)

__attribute__((noreturn)) void raise_exc(struct engine *e, int vec, int err);
__attribute__((noreturn)) void raise_internal(struct engine *e);
__attribute__((noreturn)) void unwind_exit(struct engine *e);

/* Debug registers (engine.c): re-read the effective DR0-3/DR7 after a
 * change; record a data or I/O access for the breakpoints it matches. */
void debug_update(struct engine *e);
void debug_match(struct engine *e, u64 addr, int n, bool write, bool io);
/* MOV DR: #DB (or the VMM's KVM_EXIT_DEBUG) with DR6.BD if DR7.GD is set */
void debug_general_detect(struct engine *e);
void mode_update(struct engine *e);
u64 linear_rip(struct engine *e); /* CS.base + RIP */
/* A kick, env->stop or (polled now, or every few thousand calls) a signal. */
bool engine_stop_requested(struct engine *e, bool poll_now);
/* Move to a newer memslot map if the VMM published one (drops the TLB). */
void engine_map_check(struct engine *e);
void tlb_flush(struct engine *e);
/* MOV CR3 and the like: every entry but those of global pages (CR4.PGE) */
void tlb_flush_nonglobal(struct engine *e);
/* INVLPG la: its page's entries, and every entry that came from a large
 * page (it may be la's) */
void tlb_flush_page(struct engine *e, u64 la);
void deliver_event(struct engine *e, int vec, int err, bool soft, u64 ret_rip);

/* --- memory (engine.c) --- */
#define ACC_W 2 /* X86_PF_W */
#define ACC_I 16

/* Canonical for the current paging mode (SDM Vol. 3A 4.5): bits 63:47
 * equal with 4-level paging, 63:56 with CR4.LA57 (5-level; CR4.LA57 can
 * change only outside IA-32e mode, so in 64-bit code it is the paging
 * mode).  The checks of addresses that hardware tests against the CPU's
 * own width (MSRs, LGDT/LIDT, LLDT/LTR bases, INVPCID) use
 * x86_canonical (msr.c) instead. */
static inline bool canonical(const struct engine *e, u64 la)
{
	unsigned sh = (e->cpu->cr4 & X86_CR4_LA57) ? 7 : 16;
	return (u64)((s64)(la << sh) >> sh) == la;
}

/* Linear address of seg:off for an access of `size` bytes (segmentation
 * checks; #GP/#SS on violation). */
u64 seg_linear_slow(struct engine *e, int seg, u64 off, int size, bool write);

static inline u64 seg_linear(struct engine *e, int seg, u64 off, int size, bool write)
{
	if (likely(e->code64)) {
		u64 la = (seg >= S_FS ? e->cpu->seg[seg].base : 0) + off;
		if (likely(canonical(e, la) && canonical(e, la + size - 1)))
			return la;
	}
	return seg_linear_slow(e, seg, off, size, write);
}

/* Loads and stores of 1/2/4/8 bytes at a host address. */
static inline u64 host_ld(const u8 *p, int size)
{
	switch (size) {
	case 1: return *p;
	case 2: { u16 v; memcpy(&v, p, 2); return v; }
	case 4: { u32 v; memcpy(&v, p, 4); return v; }
	default: { u64 v; memcpy(&v, p, 8); return v; }
	}
}

static inline void host_st(u8 *p, int size, u64 v)
{
	switch (size) {
	case 1: *p = (u8)v; break;
	case 2: { u16 x = (u16)v; memcpy(p, &x, 2); break; }
	case 4: { u32 x = (u32)v; memcpy(p, &x, 4); break; }
	default: memcpy(p, &v, 8); break;
	}
}

/* Host pointer from the TLB for an access within one page, or NULL. */

u64 mem_read_la(struct engine *e, u64 la, int size, u32 acc);
void mem_write_la(struct engine *e, u64 la, int size, u64 v);
/* Check that la can be accessed (acc) without touching it: #PF if not. */
void mem_probe(struct engine *e, u64 la, u32 acc);
/* Host pointer for an aligned-within-page RAM access, or NULL. */
u8 *mem_host_rw(struct engine *e, u64 la, int size);
/* Host pointer for a RAM read of size bytes within one page, or NULL
 * (MMIO, a watched page): #PF as a read of la would raise. */
const u8 *mem_host_ro(struct engine *e, u64 la, int size);
/* After a write through mem_host_rw's pointer: the dirty log sees it. */
void mem_host_rw_done(struct engine *e);
/* Physical access without translation (page walks in flight are mmu.c's). */

static inline u64 tlb_tag(struct engine *e, u64 la)
{
	return (la & ~0xfffULL) | (e->cpl == 3);
}

static inline u64 mem_read(struct engine *e, int seg, u64 off, int size)
{
	u64 la = seg_linear(e, seg, off, size, false);
	struct tlb_entry *t = &e->tlb.r[tlb_index(la)];
	if (likely(t->tag == tlb_tag(e, la) && (la & 0xfff) + size <= 4096))
		return host_ld((const u8 *)(uintptr_t)(la + t->addend), size);
	return mem_read_la(e, la, size, 0);
}

/*
 * SDM Vol. 3A 11.6: a store into code that is about to run must be seen by
 * the next instruction.  A store into the running block's bytes leaves the
 * block; its bytes are compared again on the next entry, so execution goes
 * on with a fresh decode.  Two compares a store; pages without the running
 * code pay nothing else.
 */
static inline void smc_check(struct engine *e, const u8 *p, int n)
{
	uintptr_t a = (uintptr_t)p;
	if (unlikely(a < e->code_hi && a + (uintptr_t)n > e->code_lo))
		e->leave_block = true;
}

static inline void mem_write(struct engine *e, int seg, u64 off, int size, u64 v)
{
	u64 la = seg_linear(e, seg, off, size, true);
	struct tlb_entry *t = &e->tlb.w[tlb_index(la)];
	if (likely(t->tag == tlb_tag(e, la) && (la & 0xfff) + size <= 4096)) {
		u8 *p = (u8 *)(uintptr_t)(la + t->addend);
		smc_check(e, p, size);
		host_st(p, size, v);
		return;
	}
	mem_write_la(e, la, size, v);
}

/* Read for a read-modify-write: faults as a write would. */
static inline u64 mem_read_w(struct engine *e, int seg, u64 off, int size)
{
	u64 la = seg_linear(e, seg, off, size, true);
	struct tlb_entry *t = &e->tlb.w[tlb_index(la)];
	if (likely(t->tag == tlb_tag(e, la) && (la & 0xfff) + size <= 4096))
		return host_ld((u8 *)(uintptr_t)(la + t->addend), size);
	return mem_read_la(e, la, size, ACC_W);
}

/* --- operands --- */
static inline u64 ea_offset(struct engine *e, const struct insn *i)
{
	u64 a = (u64)(s64)i->disp;
	if (i->base == REG_RIP)
		a += e->next_rip;
	else if (i->base != REG_NONE)
		a += e->cpu->gpr[i->base];
	if (i->index != REG_NONE)
		a += e->cpu->gpr[i->index] << i->scale;
	return a & size_mask(i->asz);
}

static inline u64 rm_read(struct engine *e, const struct insn *i, int size)
{
	if (!i->mem)
		return reg_get(e, i->rm, size);
	return mem_read(e, i->seg, ea_offset(e, i), size);
}

static inline void rm_write(struct engine *e, const struct insn *i, int size, u64 v)
{
	if (!i->mem)
		reg_set(e, i->rm, size, v);
	else
		mem_write(e, i->seg, ea_offset(e, i), size, v);
}

/* Stack (engine.c) */
int stack_size(struct engine *e); /* 2, 4 or 8: SS.B or 64-bit mode */
void push(struct engine *e, int size, u64 v);
u64 pop(struct engine *e, int size);
u64 stack_read(struct engine *e, int size, u64 depth);

/* Segment loads (engine.c) */
void seg_load(struct engine *e, int seg, u16 sel);
void seg_load_real(struct engine *e, int seg, u16 sel);
void far_jump(struct engine *e, u16 sel, u64 off, int osz);
/* Descriptor of sel without faulting on null / beyond-limit selectors. */
bool desc_lookup(struct engine *e, u16 sel, u64 *d);
/* far transfer to privilege level cpl (RET/IRET to an outer level) */
void far_jump_to(struct engine *e, u16 sel, u64 off, int osz, int cpl);
/* Descriptors (engine.c): read (vec(sel + ext) beyond the table; 16
 * bytes with hi), parse, set accessed; TSS stacks; inner SS checks. */
u64 desc_read(struct engine *e, u16 sel, u64 *addr);
u64 desc_read_ex(struct engine *e, u16 sel, u64 *addr, u64 *hi, int vec, int ext);
void desc_parse(u64 d, struct x86_seg *s, u16 sel);
void desc_touch(struct engine *e, u64 addr, u64 d);
void tss_stack(struct engine *e, int dpl, int ist, u16 *ss, u64 *sp);
void ss_inner(struct engine *e, u16 sel, int cpl, int ext, struct x86_seg *out);
/* System-table access (GDT, IDT, TSS) as supervisor. */
u64 sys_read(struct engine *e, u64 la, int size);
void sys_write(struct engine *e, u64 la, int size, u64 v);
/* Hardware task switch to the TSS tss_sel (ops_ctl.c); err is pushed on
 * the new task's stack unless NO_ERR. */
enum { TS_JMP, TS_CALL, TS_IRET, TS_INT };
void task_switch(struct engine *e, u16 tss_sel, int reason, int err, u64 ret_rip, int ext);
/* Undo of a multi-segment change if the instruction unwinds (txn_end
 * once it cannot any more). */
void txn_begin(struct engine *e);
static inline void txn_end(struct engine *e)
{
	e->txn.on = false;
}

/* Control registers and system state (ops_sys.c) */
void cr_write(struct engine *e, int cr, u64 v);

/* Ports (engine.c) */
u64 io_in(struct engine *e, u16 port, int size);
/* IN for a string instruction that may use up to n elements. */
u64 io_in_n(struct engine *e, u16 port, int size, u32 n);
void io_out(struct engine *e, u16 port, int size, u64 v);
bool io_allowed(struct engine *e, u16 port, int size);

/* Code addresses */
static inline u64 ip_mask(struct engine *e, u64 ip, int osz)
{
	(void)e;
	return osz == 8 ? ip : ip & size_mask(osz);
}
void branch(struct engine *e, u64 target, int osz);

/* Decoder (decode.c): decode the instruction at cpu->rip. */
void decode(struct engine *e, struct insn *i);

/* Handlers referenced by the decode tables */
#define HANDLERS(X)                                                             \
	X(alu_rm_r) X(alu_r_rm) X(alu_a_imm) X(alu_rm_imm) X(test_rm_r)        \
	X(test_a_imm) X(test_rm_imm) X(inc_dec_rm) X(inc_dec_r) X(not_rm)      \
	X(neg_rm) X(mul_rm) X(imul_rm) X(div_rm) X(idiv_rm) X(imul_r_rm)       \
	X(imul_r_rm_imm) X(shift_rm) X(shld_shrd) X(mov_rm_r) X(mov_r_rm)      \
	X(mov_rm_imm) X(mov_r_imm) X(mov_a_moffs) X(mov_moffs_a) X(movzx)      \
	X(movsx) X(movsxd) X(lea) X(xchg_rm_r) X(xchg_a_r) X(xadd)            \
	X(cmpxchg) X(cmpxchg8b) X(bt_rm_r) X(bt_rm_imm) X(bsf_bsr) X(bswap)    \
	X(cbw) X(cwd) X(lahf) X(sahf) X(pushf) X(popf) X(flag_op) X(push_r)    \
	X(pop_r) X(push_imm) X(push_rm) X(pop_rm) X(push_seg) X(pop_seg)       \
	X(mov_rm_seg) X(mov_seg_rm) X(jcc) X(setcc) X(cmovcc) X(jmp_rel)       \
	X(call_rel) X(jmp_rm) X(call_rm) X(ret_near) X(ret_far) X(jmp_far)     \
	X(call_far) X(jmp_far_rm) X(call_far_rm) X(loop) X(jcxz) X(enter)      \
	X(leave) X(string_op) X(in_op) X(out_op) X(nop) X(hlt) X(cpuid)        \
	X(rdtsc) X(rdtscp) X(rdpid) X(fsgsbase) X(int_n) X(int3) X(into) X(iret) X(ud)              \
	X(mov_cr) X(mov_dr) X(clts) X(lgdt_lidt) X(sgdt_sidt) X(lldt_ltr)      \
	X(sldt_str) X(smsw) X(lmsw) X(invlpg) X(wrmsr) X(rdmsr) X(syscall)     \
	X(sysret) X(swapgs) X(xlat) X(salc) X(pusha) X(popa) X(lds_les)        \
	X(unimpl) X(wbinvd) X(fence) X(stac_clac) X(vmcall) \
	X(alu_rr) X(alu_ri) X(mov_rr) X(sysenter) X(sysexit) X(bcd) X(aam_aad) X(clflush) X(monitor_mwait) X(bound) \
	X(x87) X(fwait) X(fxsave) X(xsave) X(xsetbv) X(verr_verw) X(arpl) \
	X(simd) X(emms) X(ldmxcsr) X(stmxcsr) X(maskmov) X(vex) X(vex_sw) X(invpcid)

#define DECLARE_HANDLER(name) void op_##name(struct engine *e, const struct insn *i);
HANDLERS(DECLARE_HANDLER)
#undef DECLARE_HANDLER

#endif
