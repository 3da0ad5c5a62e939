/*
 * The run loop, memory access through the soft TLB, segmentation, port and
 * MMIO exits, and exception/interrupt delivery.  See docs/engine.md.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>
#include <linux/kvm.h>
#include <sys/mman.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "x86/exec.h"
#include "x86/jit.h"
#include "x86/mmu.h"
#include "x86/fpu.h"

int x86_engine_init(struct x86_cpu *cpu)
{
	/* ~150 KB, mostly the block cache: anonymous pages arrive zeroed and
	 * only those a vCPU touches cost memory (KVM_CAP_MAX_VCPUS of them) */
	struct engine *e = mmap(NULL, sizeof(*e), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e == MAP_FAILED)
		return -1;
#ifdef __SANITIZE_ADDRESS__
	__lsan_register_root_region(e, sizeof(*e)); /* it holds the block pointers */
#endif
	e->cpu = cpu;
	e->delivering = -1;
	tlb_flush(e);
	cpu->engine = e;
	return 0;
}

void x86_engine_destroy(struct x86_cpu *cpu)
{
	struct engine *e = cpu->engine;
	if (!e)
		return;
	cpu->engine = NULL;
	jit_destroy(e);
	for (int i = 0; i < BLK_CACHE; i++)
		free(e->blocks[i].b);
	free(e->code_pages);
#ifdef __SANITIZE_ADDRESS__
	__lsan_unregister_root_region(e, sizeof(*e));
#endif
	munmap(e, sizeof(*e));
}

bool x86_completion_pending(const struct x86_cpu *cpu)
{
	const struct engine *e = cpu->engine;
	return e && (e->pend_in || e->pend_mmio || e->pend_msr);
}

void x86_complete_msr(struct x86_cpu *cpu, u8 error, u64 data)
{
	struct engine *e = cpu->engine;
	if (!e || !e->pend_msr)
		return;
	e->msr_done = 1;
	e->msr_error = error;
	e->msr_data = data;
}

void x86_complete_mmio_read(struct x86_cpu *cpu, const u8 *data)
{
	struct engine *e = cpu->engine;
	if (!e || e->pend_mmio != MMIO_WAITING)
		return;
	u64 v = 0;
	memcpy(&v, data, 8);
	e->mmio_data[e->mmio_have++] = v;
	/* still pending: x86_run re-executes the instruction first, also
	 * for an immediate_exit (KVM completes the read before EINTR) */
	e->pend_mmio = MMIO_ANSWERED;
}

bool x86_interrupt_window(const struct x86_cpu *cpu)
{
	const struct engine *e = cpu->engine;
	return (cpu->rflags & X86_FL_IF) && !(e && e->shadow);
}

/* ---- unwinding ---- */

static SKVM_TLS int t_exc_vec, t_exc_err;

void raise_exc(struct engine *e, int vec, int err)
{
	t_exc_vec = vec;
	t_exc_err = err;
	longjmp(e->jb, UNWIND_EXC);
}

void unwind_exit(struct engine *e)
{
	longjmp(e->jb, UNWIND_EXIT);
}

static int insn_peek(struct engine *e, u8 *buf, int max);

/* KVM's emulation-failure exit carries what its decoder fetched at RIP, up
 * to 15 bytes, not just the bytes it understood. */
void raise_internal(struct engine *e)
{
	const struct insn *i = e->cur_insn ? e->cur_insn : &e->cur;
	u8 b[15];
	int n = insn_peek(e, b, 15);
	e->exit->reason = X86_EXIT_INTERNAL;
	if (n >= i->len) {
		e->exit->insn.len = (u8)n;
		memcpy(e->exit->insn.bytes, b, sizeof(b));
	} else {
		e->exit->insn.len = i->len;
		memcpy(e->exit->insn.bytes, i->bytes, sizeof(i->bytes));
	}
	unwind_exit(e);
}

/* ---- host faults on guest memory ----
 *
 * Guest accesses go straight to the slots' host memory.  When that memory
 * is unmapped, PROT_NONE, read-only or a truncated file, KVM's fault-in
 * fails and KVM_RUN returns EFAULT; here the host access raises SIGSEGV or
 * SIGBUS.  The handler takes over only for a fault of the thread running
 * x86_run at an address inside one of its map's slots; it then unwinds the
 * instruction (nothing committed) and the run ends with X86_EXIT_FAULT.
 * Every other signal goes to the handler installed before ours, as that
 * handler's own sigaction would have delivered it.
 */
static SKVM_TLS struct engine *t_run_engine;
static struct sigaction host_prev[2]; /* SIGSEGV, SIGBUS */
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static bool in_slot_memory(const struct mem_map *m, uintptr_t a)
{
	for (int as = 0; as < MEM_ADDRESS_SPACES; as++)
		for (u32 k = 0; k < m->nr[as]; k++) {
			const struct mem_slot *s = &m->slots[as][k];
			if (a - (uintptr_t)s->hva < s->size)
				return true;
		}
	return false;
}

static void host_chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction *p = &host_prev[sig == SIGBUS];
	struct sigaction h = *p;
	if (h.sa_handler == SIG_DFL || h.sa_handler == SIG_IGN) {
		/* a sent signal that is ignored stays ignored */
		if (h.sa_handler == SIG_IGN && si->si_code <= 0)
			return;
		/* the default action: a fault happens again on return (the
		 * kernel ignores SIG_IGN for faults too); a sent signal is
		 * sent again and delivered once this handler returns */
		struct sigaction d = {.sa_handler = SIG_DFL};
		sigemptyset(&d.sa_mask);
		sigaction(sig, &d, NULL);
		if (si->si_code <= 0)
			raise(sig);
		return;
	}
	if (h.sa_flags & SA_RESETHAND) {
		p->sa_handler = SIG_DFL;
		p->sa_flags &= ~SA_SIGINFO;
	}
	/* the mask that handler's sigaction asked for */
	sigset_t m = h.sa_mask, saved;
	if (!(h.sa_flags & SA_NODEFER))
		sigaddset(&m, sig);
	pthread_sigmask(SIG_BLOCK, &m, &saved);
	if (h.sa_flags & SA_NODEFER) {
		sigemptyset(&m);
		sigaddset(&m, sig);
		pthread_sigmask(SIG_UNBLOCK, &m, NULL);
	}
	if (h.sa_flags & SA_SIGINFO)
		h.sa_sigaction(sig, si, uc);
	else
		h.sa_handler(sig);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

static void host_fault(int sig, siginfo_t *si, void *uc)
{
	struct engine *e = t_run_engine;
	if (e && si->si_code > 0 && in_slot_memory(e->env->map, (uintptr_t)si->si_addr)) {
		/* longjmp keeps the handler's mask: put back the one the
		 * access ran with */
		pthread_sigmask(SIG_SETMASK, &((ucontext_t *)uc)->uc_sigmask, NULL);
		jit_host_fault(e, uc);
		longjmp(e->jb, UNWIND_HOST_FAULT);
	}
	host_chain(sig, si, uc);
}

static void host_fault_install(void)
{
	/* SA_ONSTACK: a client's alternate stack (stack-overflow handling)
	 * is used as its own handler would be */
	struct sigaction sa = {.sa_sigaction = host_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &host_prev[0]);
	sigaction(SIGBUS, &sa, &host_prev[1]);
}

/* ---- several segment registers in one instruction ----
 *
 * Far CALL through a gate, far RET and IRET to another privilege level
 * change CS, SS and RSP one after the other; an exception (or exit) after
 * the first change must leave the instruction uncommitted.  txn_begin
 * saves what they change; an unwind while it is on puts it back. */
void txn_begin(struct engine *e)
{
	struct x86_cpu *c = e->cpu;
	flags_fold(e);
	memcpy(e->txn.seg, c->seg, sizeof(e->txn.seg));
	e->txn.rsp = c->gpr[R_RSP];
	e->txn.rflags = c->rflags;
	e->txn.on = true;
}

static void txn_undo(struct engine *e)
{
	struct x86_cpu *c = e->cpu;
	e->txn.on = false;
	memcpy(c->seg, e->txn.seg, sizeof(e->txn.seg));
	c->gpr[R_RSP] = e->txn.rsp;
	c->rflags = e->txn.rflags;
	e->lf_op = LF_NONE;
	mode_update(e);
}

/* ---- mode and TLB ---- */

void mode_update(struct engine *e)
{
	struct x86_cpu *c = e->cpu;
	if (!(c->cr0 & X86_CR0_PE))
		e->mode = M_REAL;
	else if (c->efer & X86_EFER_LMA)
		e->mode = M_LONG;
	else
		e->mode = M_PROT;
	e->code64 = e->mode == M_LONG && c->seg[S_CS].l;
	e->leave_block = true; /* decode mode or CPL may have changed */
	e->def32 = !e->code64 && c->seg[S_CS].db;
	/* virtual-8086 mode: protected mode with RFLAGS.VM, CPL 3 */
	e->vm86 = e->mode == M_PROT && (c->rflags & X86_FL_VM);
	/* KVM takes the CPL from SS.DPL (VMX does the same). */
	u8 cpl = e->mode == M_REAL ? 0 : e->vm86 ? 3 : c->seg[S_SS].dpl;
	if (cpl != e->cpl)
		e->cpl = cpl;
}

void tlb_flush(struct engine *e)
{
	e->leave_block = true;
	for (int i = 0; i < TLB_SIZE; i++)
		e->tlb.r[i].tag = e->tlb.w[i].tag = e->tlb.x[i].tag = TLB_INVALID;
	e->tlb_any_global = e->tlb_any_large = false;
}

static struct tlb_entry *tlb_entry_at(struct engine *e, u32 k)
{
	return k < TLB_SIZE ? &e->tlb.r[k] : k < 2 * TLB_SIZE ? &e->tlb.w[k - TLB_SIZE]
							  : &e->tlb.x[k - 2 * TLB_SIZE];
}

/*
 * A hardware TLB keeps global translations across CR3 loads (SDM Vol. 3A
 * 4.10.2.4) and INVLPG drops only the page it names (4.10.4.1): the Linux
 * kernel's own mappings are global, and it issues INVLPG on every page
 * it unmaps or changes, so flushing everything there refilled the whole
 * kernel working set by walks.  Flushing more than asked stays correct,
 * so where an entry's origin is unknown it counts as large, not global.
 */
void tlb_flush_nonglobal(struct engine *e)
{
	if (!e->tlb_any_global) {
		tlb_flush(e);
		return;
	}
	e->leave_block = true;
	for (u32 k = 0; k < 3 * TLB_SIZE; k++)
		if (!(e->tlb_attr[k] & TLB_A_GLOBAL))
			tlb_entry_at(e, k)->tag = TLB_INVALID;
}

void tlb_flush_page(struct engine *e, u64 la)
{
	e->leave_block = true;
	unsigned i = tlb_index(la);
	e->tlb.r[i].tag = e->tlb.w[i].tag = e->tlb.x[i].tag = TLB_INVALID;
	if (e->tlb_any_large)
		for (u32 k = 0; k < 3 * TLB_SIZE; k++)
			if (e->tlb_attr[k] & TLB_A_LARGE)
				tlb_entry_at(e, k)->tag = TLB_INVALID;
}

/* ---- segmentation ---- */


u64 seg_linear_slow(struct engine *e, int seg, u64 off, int size, bool write)
{
	const struct x86_seg *s = &e->cpu->seg[seg];
	int vec = seg == S_SS ? EXC_SS : EXC_GP;
	if (e->code64) {
		u64 la = (seg >= S_FS ? s->base : 0) + off;
		if (unlikely(!canonical(e, la) || !canonical(e, la + size - 1)))
			raise_exc(e, vec, 0);
		return la;
	}
	if (e->mode != M_REAL) {
		if (unlikely(s->unusable || !s->present))
			raise_exc(e, vec, 0);
		/* SDM Vol. 3A 5.4: no writes to code or read-only data, no
		 * reads of execute-only code. */
		if (unlikely(write ? (s->type & 0xa) != 0x2 : (s->type & 0xa) == 0x8))
			raise_exc(e, vec, 0);
	}
	u64 last = off + size - 1;
	if (!(s->type & 8) && (s->type & 4)) {
		/* expand-down: valid offsets are above the limit */
		u64 upper = s->db ? 0xffffffffULL : 0xffff;
		if (unlikely(off <= s->limit || last > upper))
			raise_exc(e, vec, 0);
	} else if (unlikely(last > s->limit)) {
		raise_exc(e, vec, 0);
	}
	return (u32)(s->base + off);
}

/* ---- translation and the soft TLB ---- */

/*
 * Dirty logging: a logged page gets a write TLB entry only from write_part,
 * after the write that set (or found set) its bit; until then every guest
 * write to it comes through the slow path, which logs it once the data is
 * stored (log_write, mem_host_rw_done, the walker's A/D updates).
 * Harvesting (KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG, KVM_RESET_DIRTY_RINGS)
 * clears bits, bumps mem->dirty_epoch and waits until every vCPU in guest
 * code has dropped its write entries (dirty_rearm, at block boundaries and
 * inside long REP loops) before it returns: a write is then either in the
 * VMM's later copy or takes the slow path and is logged again.  A JIT that
 * stores through the TLB keeps to this as long as boundaries call
 * engine_map_check.
 *
 * When the vCPU's dirty ring reaches its soft limit the vCPU stops after
 * the current instruction (a REP string op after the current iteration)
 * and KVM_RUN reports KVM_EXIT_DIRTY_RING_FULL (kvm/run.c).
 */
static void dirty_ring_check(struct engine *e)
{
	struct mem_dirty_ring *r = e->cpu->dirty_ring;
	if (r && unlikely(mem_dirty_ring_soft_full(r))) {
		e->env->stop = true;
		e->env->ring_stop = true;
		e->leave_block = true;
	}
}

static void log_write(struct engine *e, const struct mem_slot *s, u64 gpa)
{
	mem_slot_mark_dirty(s, gpa, e->cpu->dirty_ring);
	dirty_ring_check(e);
}

static void code_page_ad(struct engine *e, const struct x86_walk *w);

/* Returns the gpa; *no_tlb is set when the result must not be cached:
 * a supervisor data access to a user page under CR4.SMAP, whose outcome
 * depends on RFLAGS.AC, which the TLB tag does not carry. */
static u64 translate(struct engine *e, u64 la, u32 acc, bool *no_tlb)
{
	struct x86_walk w;
	u32 a = acc | (e->cpl == 3 ? X86_PF_U : 0);
	u32 f = e->implicit_sv ? X86_WALK_IMPLICIT_SV : 0;
	if (!x86_walk(e->cpu, e->env->map, 0, la, a, f, &w)) {
		if (w.pt_not_ram)
			raise_internal(e);
		e->cpu->cr2 = la;
		raise_exc(e, EXC_PF, (int)w.error_code);
	}
	dirty_ring_check(e); /* the walk may have logged A/D updates */
	code_page_ad(e, &w);
	e->walk_page = la & ~0xfffULL;
	e->walk_attr = (w.global ? TLB_A_GLOBAL : 0) | (w.page_mask != ~0xfffULL ? TLB_A_LARGE : 0);
	*no_tlb = (e->cpu->cr4 & X86_CR4_SMAP) && e->cpl < 3 && w.user && !(acc & ACC_I);
	/* Tags hold only addresses canonical in the current paging mode (the
	 * JIT's probes rely on it): an implicit access at a base that is
	 * canonical only for the CPU's width is not cached. */
	if ((e->cpu->efer & X86_EFER_LMA) && !canonical(e, la))
		*no_tlb = true;
	return w.gpa;
}

/* ---- pages holding cached code (struct code_page) ---- */

static u32 code_page_hash(uintptr_t pg)
{
	return (u32)(((u64)pg >> 12) * 0x9e3779b97f4a7c15ULL >> 51) & (CODE_PAGES - 1);
}

static struct code_page *code_page_find(struct engine *e, uintptr_t pg)
{
	struct code_page *t = e->code_pages;
	for (u32 h = code_page_hash(pg);; h = (h + 1) & (CODE_PAGES - 1)) {
		if (t[h].page == pg)
			return &t[h];
		if (!t[h].page)
			return NULL;
	}
}

/* The entry of the page holding host, added if new (then this vCPU's
 * write-TLB entries for it take TLB_CODE, so its writes reach the slow
 * paths); NULL when the table is full or cannot be allocated. */
static struct code_page *code_page_mark(struct engine *e, const u8 *host)
{
	uintptr_t pg = (uintptr_t)host & ~(uintptr_t)0xfff;
	if (!e->code_pages) {
		e->code_pages = calloc(CODE_PAGES, sizeof(*e->code_pages));
		if (!e->code_pages)
			return NULL;
	}
	struct code_page *t = e->code_pages;
	u32 h = code_page_hash(pg);
	for (; t[h].page; h = (h + 1) & (CODE_PAGES - 1))
		if (t[h].page == pg)
			return &t[h];
	if (e->code_pages_used >= CODE_PAGES / 4 * 3)
		return NULL; /* keep free slots: lookups end at one */
	t[h].page = pg;
	t[h].gen = 0;
	e->code_pages_used++;
	for (int i = 0; i < TLB_SIZE; i++) {
		struct tlb_entry *w = &e->tlb.w[i];
		if ((((w->tag & ~0xfffULL) + w->addend) & ~0xfffULL) == pg)
			w->tag |= TLB_CODE;
	}
	return &t[h];
}

/* The block's bytes (at b->host, in the current mode) still match memory:
 * nothing wrote its page since they last did, or they compare equal. */
static inline bool block_current(struct engine *e, struct block *b)
{
	if (likely(b->cp && b->cp->gen == b->cp_gen && b->epoch == e->code_epoch))
		return true;
	if (memcmp(b->host, b->code, b->nbytes))
		return false;
	if (!b->cp)
		b->cp = code_page_mark(e, b->host);
	if (b->cp)
		b->cp_gen = b->cp->gen;
	b->epoch = e->code_epoch;
	return true;
}

/* The walk's A/D updates are writes too (a page table sharing a page with
 * code is odd but possible). */
static void code_page_ad(struct engine *e, const struct x86_walk *w)
{
	if (likely(!w->n_ad || !e->code_pages))
		return;
	for (int k = 0; k < w->n_ad; k++) {
		struct code_page *cp = code_page_find(e, (uintptr_t)w->ad[k] & ~(uintptr_t)0xfff);
		if (cp)
			cp->gen++;
	}
}

/* Every CODE_TICKS block boundaries, foreign writes to code are seen. */
#define CODE_TICKS 4096
static inline void code_tick(struct engine *e)
{
	if (unlikely(++e->code_ticks >= CODE_TICKS)) {
		e->code_ticks = 0;
		e->code_epoch++;
	}
}

/* RAM behind gpa for n bytes, or NULL (MMIO, or a write to a read-only
 * slot, which KVM also reports as MMIO).  *logged: for a write to a logged
 * slot, that slot (the caller logs the write once it is stored), else NULL. */
static u8 *ram_ptr(struct engine *e, u64 gpa, int n, bool write, bool *no_tlb,
		   const struct mem_slot **logged)
{
	/* *no_tlb comes in from translate() and may be set here too */
	const struct mem_slot *s = mem_map_find(e->env->map, 0, gpa);
	if (logged)
		*logged = NULL;
	if (!s || gpa + n > s->gpa + s->size)
		return NULL;
	if (write && (s->flags & KVM_MEM_READONLY))
		return NULL;
	if (write && s->dirty) {
		*no_tlb = true; /* see dirty_ring_check */
		if (logged)
			*logged = s;
	}
	u8 *p = s->hva + (gpa - s->gpa);
	e->ram_code = false;
	if (write && e->code_pages) {
		/* a write (or read for one) into a page holding cached code:
		 * its blocks compare their bytes again; a TLB_CODE entry */
		struct code_page *cp = code_page_find(e, (uintptr_t)p & ~(uintptr_t)0xfff);
		if (cp) {
			cp->gen++;
			e->ram_code = true;
		}
	}
	return p;
}

static void tlb_fill(struct engine *e, struct tlb_entry *t, u64 la, u8 *host)
{
	t->tag = tlb_tag(e, la);
	t->addend = (uintptr_t)host - (uintptr_t)la;
	u32 k = (u32)(((uintptr_t)t - (uintptr_t)e->tlb.r) / sizeof(*t));
	u8 a = la == e->walk_page ? e->walk_attr : TLB_A_LARGE;
	e->tlb_attr[k] = a;
	e->tlb_any_global |= a & TLB_A_GLOBAL;
	e->tlb_any_large |= (a & TLB_A_LARGE) != 0;
}

/* A write entry after ram_ptr() said yes to a write at la. */
static void tlb_fill_w(struct engine *e, u64 la, u8 *page)
{
	struct tlb_entry *t = &e->tlb.w[tlb_index(la)];
	tlb_fill(e, t, la & ~0xfffULL, page);
	if (e->ram_code)
		t->tag |= TLB_CODE;
}

/* A write entry of a page holding cached code: the host pointer for an
 * access within the page at la (for a write: the page's gen bumped, as
 * ram_ptr does), else NULL. */
static inline u8 *code_tlb_w(struct engine *e, u64 la, bool write)
{
	const struct tlb_entry *t = &e->tlb.w[tlb_index(la)];
	if (t->tag != (tlb_tag(e, la) | TLB_CODE))
		return NULL;
	u8 *p = (u8 *)(uintptr_t)(la + t->addend);
	if (write) {
		struct code_page *cp = code_page_find(e, (uintptr_t)p & ~(uintptr_t)0xfff);
		if (cp)
			cp->gen++;
	}
	return p;
}

static void mmio_exit(struct engine *e, u64 gpa, int n, bool write, u64 v)
{
	struct x86_exit *x = e->exit;
	x->reason = X86_EXIT_MMIO;
	x->mmio.gpa = gpa;
	x->mmio.len = n;
	x->mmio.write = write;
	memset(x->mmio.data, 0, sizeof(x->mmio.data));
	memcpy(x->mmio.data, &v, n);
}

static bool dev_io(struct engine *e, bool pio, u64 addr, int n, void *data, bool write)
{
	const struct x86_env *env = e->env;
	if (!env->dev_io || !env->dev_io(env->dev_opaque, pio, addr, (u32)n, data, write))
		return false;
	/* the device wants an exit right after this instruction (an EOI
	 * the VMM's IOAPIC must see): leave the block, the loop sees the kick */
	if (env->kick && atomic_load_explicit(env->kick, memory_order_relaxed))
		e->leave_block = true;
	return true;
}

static u64 mmio_read(struct engine *e, u64 gpa, int n)
{
	u64 v = 0;
	if (e->mmio_used < e->mmio_have)
		return e->mmio_data[e->mmio_used++] & size_mask(n);
	if (dev_io(e, false, gpa, n, &v, false))
		return v;
	if (e->mmio_have >= ARRAY_SIZE(e->mmio_data))
		raise_internal(e);
	mmio_exit(e, gpa, n, false, 0);
	e->pend_mmio = MMIO_WAITING;
	unwind_exit(e);
}

static void mmio_write(struct engine *e, u64 gpa, int n, u64 v)
{
	/* One MMIO write per instruction: it is reported after the
	 * instruction completed, as KVM completes the emulation first. */
	const struct x86_env *env = e->env;
	if (dev_io(e, false, gpa, n, &v, true))
		return;
	if (env->coalesce && env->coalesce(env->coalesce_opaque, gpa, n, &v, false))
		return;
	if (e->exit->reason != X86_EXIT_NONE)
		raise_internal(e);
	mmio_exit(e, gpa, n, true, v);
}

/* A page with a data breakpoint: no data TLB entry, so every access to it
 * comes through the slow paths, which match it (debug_match). */
static bool watched(const struct engine *e, u64 la)
{
	for (int n = 0; n < 4; n++)
		if ((e->dbg_data & BIT(n)) && !((e->dbg_lo[n] ^ la) & ~0xfffULL))
			return true;
	return false;
}

static u64 read_part(struct engine *e, u64 la, int n, u32 acc)
{
	bool no_tlb, no_rtlb;
	u64 gpa = translate(e, la, acc, &no_tlb);
	no_rtlb = no_tlb;
	u8 *p = ram_ptr(e, gpa, n, acc & ACC_W, &no_tlb, NULL);
	if (!p)
		return mmio_read(e, gpa, n);
	u64 v = 0;
	memcpy(&v, p, n);
	u8 *page = p - (gpa & 0xfff);
	if (unlikely(e->dbg_data) && !(acc & ACC_I)) {
		debug_match(e, la, n, false, false);
		if (watched(e, la))
			return v;
	}
	if (!no_rtlb)
		tlb_fill(e, &e->tlb.r[tlb_index(la)], la & ~0xfffULL, page);
	if ((acc & ACC_W) && !no_tlb)
		tlb_fill_w(e, la, page);
	return v;
}

static u64 la_wrap(struct engine *e, u64 la)
{
	return e->mode == M_LONG ? la : (u32)la;
}

u64 mem_read_la(struct engine *e, u64 la, int size, u32 acc)
{
	int n1 = 4096 - (int)(la & 0xfff);
	if (n1 >= size) {
		u8 *p = acc & ACC_W ? code_tlb_w(e, la, false) : NULL;
		if (p)
			return host_ld(p, size);
		return read_part(e, la, size, acc);
	}
	/* Both pages are checked before anything is read. */
	u64 la2 = la_wrap(e, la + n1);
	bool nt;
	translate(e, la, acc, &nt);
	translate(e, la2, acc, &nt);
	u64 lo = read_part(e, la, n1, acc);
	u64 hi = read_part(e, la2, size - n1, acc);
	return lo | hi << (n1 * 8);
}

static void write_part(struct engine *e, u64 la, u64 gpa, bool no_tlb, int n, u64 v)
{
	const struct mem_slot *logged;
	bool cacheable = !no_tlb; /* as translate() said */
	u8 *p = ram_ptr(e, gpa, n, true, &no_tlb, &logged);
	if (!p) {
		mmio_write(e, gpa, n, v);
		return;
	}
	smc_check(e, p, n);
	memcpy(p, &v, n);
	if (unlikely(e->dbg_data)) {
		debug_match(e, la, n, true, false);
		no_tlb |= watched(e, la);
	}
	if (logged) {
		/* the page is dirty now: it may take TLB writes until the next
		 * re-arm (see dirty_ring_check) */
		log_write(e, logged, gpa);
		no_tlb = !cacheable;
	}
	if (!no_tlb)
		tlb_fill_w(e, la, p - (gpa & 0xfff));
}

void mem_write_la(struct engine *e, u64 la, int size, u64 v)
{
	int n1 = 4096 - (int)(la & 0xfff);
	bool t1, t2;
	if (n1 >= size) {
		u8 *p = code_tlb_w(e, la, true);
		if (p) {
			smc_check(e, p, size);
			host_st(p, size, v);
			return;
		}
		u64 g = translate(e, la, ACC_W, &t1);
		write_part(e, la, g, t1, size, v);
		return;
	}
	u64 la2 = la_wrap(e, la + n1);
	u64 g1 = translate(e, la, ACC_W, &t1);
	u64 g2 = translate(e, la2, ACC_W, &t2);
	write_part(e, la, g1, t1, n1, v);
	write_part(e, la2, g2, t2, size - n1, v >> (n1 * 8));
}

void mem_probe(struct engine *e, u64 la, u32 acc)
{
	bool no_tlb;
	translate(e, la, acc, &no_tlb);
}

u8 *mem_host_rw(struct engine *e, u64 la, int size)
{
	if ((la & 0xfff) + size > 4096)
		return NULL;
	struct tlb_entry *t = &e->tlb.w[tlb_index(la)];
	u8 *p;
	e->rw_log = NULL;
	if (t->tag == tlb_tag(e, la)) {
		p = (u8 *)(uintptr_t)(la + t->addend);
	} else if ((p = code_tlb_w(e, la, true))) {
	} else {
		bool no_tlb;
		u64 gpa = translate(e, la, ACC_W, &no_tlb);
		p = ram_ptr(e, gpa, size, true, &no_tlb, &e->rw_log);
		e->rw_log_gpa = gpa;
		if (!p)
			return NULL;
		if (unlikely(e->dbg_data)) {
			debug_match(e, la, size, true, false);
			no_tlb |= watched(e, la);
		}
		if (!no_tlb)
			tlb_fill_w(e, la, p - (gpa & 0xfff));
	}
	smc_check(e, p, size); /* the caller writes through p */
	return p;
}

const u8 *mem_host_ro(struct engine *e, u64 la, int size)
{
	if ((la & 0xfff) + size > 4096 || e->dbg_data)
		return NULL;
	struct tlb_entry *t = &e->tlb.r[tlb_index(la)];
	if (t->tag == tlb_tag(e, la))
		return (const u8 *)(uintptr_t)(la + t->addend);
	bool no_tlb;
	u64 gpa = translate(e, la, 0, &no_tlb);
	u8 *p = ram_ptr(e, gpa, size, false, &no_tlb, NULL);
	if (p && !no_tlb)
		tlb_fill(e, t, la & ~0xfffULL, p - (gpa & 0xfff));
	return p;
}

void mem_host_rw_done(struct engine *e)
{
	if (unlikely(e->rw_log)) {
		log_write(e, e->rw_log, e->rw_log_gpa);
		e->rw_log = NULL;
	}
}

/* System-table accesses (GDT, LDT, IDT, TSS) are supervisor accesses
 * made at CPL 0, and implicit ones whatever the CPL (SDM Vol. 3A 4.6):
 * under CR4.SMAP they may not touch a user page, RFLAGS.AC notwithstanding.
 * implicit_sv keeps the CPL they replaced, for the unwinding of a fault
 * inside one (sys_unwind). */
u64 sys_read(struct engine *e, u64 la, int size)
{
	e->implicit_sv = (u8)(1 + e->cpl);
	e->cpl = 0;
	u64 v = mem_read_la(e, la_wrap(e, la), size, 0);
	e->cpl = (u8)(e->implicit_sv - 1);
	e->implicit_sv = 0;
	return v;
}

void sys_write(struct engine *e, u64 la, int size, u64 v)
{
	e->implicit_sv = (u8)(1 + e->cpl);
	e->cpl = 0;
	mem_write_la(e, la_wrap(e, la), size, v);
	e->cpl = (u8)(e->implicit_sv - 1);
	e->implicit_sv = 0;
}

/* A fault inside sys_read/sys_write: the CPL is the guest's again. */
static void sys_unwind(struct engine *e)
{
	if (e->implicit_sv) {
		e->cpl = (u8)(e->implicit_sv - 1);
		e->implicit_sv = 0;
	}
}

/* ---- code fetch ---- */

/* Copy up to n code bytes at rip + off; returns how many are readable
 * without crossing into a page that faults (the decoder asks again for
 * more only if it needs them). */
/* Host pointer of the code byte at rip; *room = bytes readable from there
 * without leaving the page or the CS limit.  Faults as a fetch would. */
static const u8 *code_ptr(struct engine *e, u64 rip, u64 *room)
{
	const struct x86_seg *cs = &e->cpu->seg[S_CS];
	u64 la, lim = ~0ULL;
	if (e->code64) {
		la = rip;
		if (!canonical(e, la))
			raise_exc(e, EXC_GP, 0);
	} else {
		if (rip > cs->limit)
			raise_exc(e, EXC_GP, 0);
		lim = cs->limit - rip + 1;
		la = (u32)(cs->base + rip);
	}
	u64 inpage = 4096 - (la & 0xfff);
	*room = inpage < lim ? inpage : lim;
	struct tlb_entry *t = &e->tlb.x[tlb_index(la)];
	if (t->tag != tlb_tag(e, la)) {
		bool no_tlb;
		u64 gpa = translate(e, la, ACC_I, &no_tlb);
		u8 *p = ram_ptr(e, gpa, 1, false, &no_tlb, NULL);
		if (!p)
			raise_internal(e); /* KVM cannot fetch from MMIO either */
		tlb_fill(e, t, la & ~0xfffULL, p - (gpa & 0xfff));
	}
	return (const u8 *)(uintptr_t)(la + t->addend);
}

/* Copy up to n code bytes at rip; returns how many lie in this page (the
 * decoder asks again for more only if it needs them). */
int code_fetch(struct engine *e, u64 rip, u8 *buf, int n);
int code_fetch(struct engine *e, u64 rip, u8 *buf, int n)
{
	u64 room;
	const u8 *p = code_ptr(e, rip, &room);
	if ((u64)n > room)
		n = (int)room;
	memcpy(buf, p, n);
	return n;
}

/* Up to max code bytes at RIP for an emulation-failure report, without
 * raising anything: stops at the CS limit, a page that does not translate
 * for a fetch, or memory that is not RAM. */
static int insn_peek(struct engine *e, u8 *buf, int max)
{
	const struct x86_seg *cs = &e->cpu->seg[S_CS];
	u32 a = ACC_I | (e->cpl == 3 ? X86_PF_U : 0);
	int n = 0;
	while (n < max) {
		u64 rip = e->cpu->rip + (u64)n, la = rip;
		if (!e->code64) {
			rip = e->def32 ? (u32)rip : (u16)rip;
			if (rip > cs->limit)
				break;
			la = (u32)(cs->base + rip);
		} else if (!canonical(e, la)) {
			break;
		}
		struct x86_walk w;
		if (!x86_walk(e->cpu, e->env->map, 0, la, a, 0, &w))
			break;
		const struct mem_slot *s = mem_map_find(e->env->map, 0, w.gpa);
		if (!s)
			break;
		u64 k = 4096 - (la & 0xfff), left = s->gpa + s->size - w.gpa;
		if (k > left)
			k = left;
		if (!e->code64 && k > cs->limit - rip + 1)
			k = cs->limit - rip + 1;
		if (k > (u64)(max - n))
			k = (u64)(max - n);
		memcpy(buf + n, s->hva + (w.gpa - s->gpa), k);
		n += (int)k;
	}
	return n;
}

/* ---- stack ---- */

int stack_size(struct engine *e)
{
	return e->code64 ? 8 : e->cpu->seg[S_SS].db ? 4 : 2;
}

static void sp_set(struct engine *e, int ss, u64 v)
{
	reg_set(e, R_RSP, ss, v);
}

void push(struct engine *e, int size, u64 v)
{
	int ss = stack_size(e);
	u64 sp = (e->cpu->gpr[R_RSP] - size) & size_mask(ss);
	mem_write(e, S_SS, sp, size, v);
	sp_set(e, ss, sp);
}

u64 stack_read(struct engine *e, int size, u64 depth)
{
	int ss = stack_size(e);
	u64 sp = (e->cpu->gpr[R_RSP] + depth) & size_mask(ss);
	return mem_read(e, S_SS, sp, size);
}

u64 pop(struct engine *e, int size)
{
	int ss = stack_size(e);
	u64 v = stack_read(e, size, 0);
	sp_set(e, ss, e->cpu->gpr[R_RSP] + size);
	return v;
}

/* ---- segment loads ---- */

void seg_load_real(struct engine *e, int seg, u16 sel)
{
	struct x86_seg *s = &e->cpu->seg[seg];
	s->sel = sel;
	s->base = (u64)sel << 4;
	if (seg == S_CS)
		mode_update(e);
}

void desc_parse(u64 d, struct x86_seg *s, u16 sel)
{
	s->sel = sel;
	s->limit = (u32)((d & 0xffff) | ((d >> 32) & 0xf0000));
	s->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	s->type = (d >> 40) & 0xf;
	s->s = (d >> 44) & 1;
	s->dpl = (d >> 45) & 3;
	s->present = (d >> 47) & 1;
	s->avl = (d >> 52) & 1;
	s->l = (d >> 53) & 1;
	s->db = (d >> 54) & 1;
	s->g = (d >> 55) & 1;
	s->unusable = 0;
	if (s->g)
		s->limit = (s->limit << 12) | 0xfff;
}

/* Read the descriptor for sel (16 bytes when hi is set: a system
 * descriptor in long mode), vec(sel + ext) if outside its table. */
u64 desc_read_ex(struct engine *e, u16 sel, u64 *addr, u64 *hi, int vec, int ext)
{
	const struct x86_dtable *gdt = &e->cpu->gdt;
	u64 base = gdt->base, limit = gdt->limit;
	if (sel & 4) {
		const struct x86_seg *l = &e->cpu->ldt;
		if (l->unusable || !l->present)
			raise_exc(e, vec, (sel & ~3) | ext);
		base = l->base;
		limit = l->limit;
	}
	if ((u64)(sel & ~7) + (hi ? 15 : 7) > limit)
		raise_exc(e, vec, (sel & ~3) | ext);
	*addr = base + (sel & ~7);
	if (hi)
		*hi = sys_read(e, *addr + 8, 8);
	return sys_read(e, *addr, 8);
}

u64 desc_read(struct engine *e, u16 sel, u64 *addr)
{
	return desc_read_ex(e, sel, addr, NULL, EXC_GP, 0);
}

/* The descriptor for sel, or false where VERR/VERW/LAR/LSL clear ZF
 * instead of faulting: a null selector, one beyond its table's limit, or
 * an LDT selector without a usable LDT. */
bool desc_lookup(struct engine *e, u16 sel, u64 *d)
{
	const struct x86_dtable *gdt = &e->cpu->gdt;
	u64 base = gdt->base, limit = gdt->limit;
	if (!(sel & ~3))
		return false;
	if (sel & 4) {
		const struct x86_seg *l = &e->cpu->ldt;
		if (l->unusable || !l->present)
			return false;
		base = l->base;
		limit = l->limit;
	}
	if ((sel | 7) > limit)
		return false;
	*d = sys_read(e, base + (sel & ~7), 8);
	return true;
}

/* Set the accessed bit in memory, as the processor does on a load. */
void desc_touch(struct engine *e, u64 addr, u64 d)
{
	if (!(d & BIT(40)))
		sys_write(e, addr + 5, 1, (d >> 40) | 1);
}

void seg_load(struct engine *e, int seg, u16 sel)
{
	struct x86_cpu *c = e->cpu;
	if (e->mode == M_REAL || e->vm86) {
		seg_load_real(e, seg, sel);
		return;
	}
	struct x86_seg *s = &c->seg[seg];
	u8 rpl = sel & 3;
	if (!(sel & ~3)) {
		/* A null selector: SS only in 64-bit mode below CPL 3 with
		 * RPL = CPL (SDM Vol. 3A 5.4.1.1). */
		if (seg == S_SS && !(e->code64 && e->cpl < 3 && rpl == e->cpl))
			raise_exc(e, EXC_GP, 0);
		*s = (struct x86_seg){.sel = sel, .unusable = 1,
				      .base = e->code64 && seg >= S_FS ? s->base : 0};
		if (seg == S_SS)
			s->dpl = e->cpl, s->db = 1;
		return;
	}
	u64 addr, d = desc_read(e, sel, &addr);
	struct x86_seg n;
	desc_parse(d, &n, sel);
	if (seg == S_SS) {
		if (!n.s || (n.type & 0xa) != 0x2 || rpl != e->cpl || n.dpl != e->cpl)
			raise_exc(e, EXC_GP, sel & ~3);
		if (!n.present)
			raise_exc(e, EXC_SS, sel & ~3);
	} else {
		if (!n.s || (n.type & 0xa) == 0x8)
			raise_exc(e, EXC_GP, sel & ~3);
		/* data and non-conforming code: privilege check */
		if ((!(n.type & 8) || !(n.type & 4)) && (rpl > n.dpl || e->cpl > n.dpl))
			raise_exc(e, EXC_GP, sel & ~3);
		if (!n.present)
			raise_exc(e, EXC_NP, sel & ~3);
	}
	desc_touch(e, addr, d);
	n.type |= 1;
	*s = n;
	if (seg == S_SS)
		mode_update(e);
}

/* Load CS for a far JMP/CALL/RET at the same privilege or, with `to_cpl`,
 * RET/IRET to an outer level. */
static void cs_load(struct engine *e, u16 sel, int new_cpl)
{
	struct x86_cpu *c = e->cpu;
	if (!(sel & ~3))
		raise_exc(e, EXC_GP, 0);
	u64 addr, d = desc_read(e, sel, &addr);
	struct x86_seg n;
	desc_parse(d, &n, sel);
	/* gates and TSSs: far CALL/JMP take them before (far_xfer); RET and
	 * IRET may not return through one */
	if (!n.s || !(n.type & 8))
		raise_exc(e, EXC_GP, sel & ~3);
	if (n.type & 4) { /* conforming */
		if (n.dpl > new_cpl)
			raise_exc(e, EXC_GP, sel & ~3);
	} else if (n.dpl != new_cpl || (sel & 3) > new_cpl) {
		raise_exc(e, EXC_GP, sel & ~3);
	}
	if (e->mode == M_LONG && n.l && n.db)
		raise_exc(e, EXC_GP, sel & ~3);
	if (!n.present)
		raise_exc(e, EXC_NP, sel & ~3);
	desc_touch(e, addr, d);
	n.type |= 1;
	n.sel = (sel & ~3) | new_cpl;
	c->seg[S_CS] = n;
	mode_update(e);
}

void far_jump(struct engine *e, u16 sel, u64 off, int osz)
{
	if (e->mode == M_REAL || e->vm86) {
		seg_load_real(e, S_CS, sel);
		e->next_rip = off & size_mask(osz);
		return;
	}
	far_jump_to(e, sel, off, osz, e->cpl);
}

void far_jump_to(struct engine *e, u16 sel, u64 off, int osz, int cpl)
{
	cs_load(e, sel, cpl);
	if (!e->code64 && off > e->cpu->seg[S_CS].limit)
		raise_exc(e, EXC_GP, 0);
	e->next_rip = e->code64 ? off : off & size_mask(osz);
}

void branch(struct engine *e, u64 target, int osz)
{
	if (e->code64) {
		if (osz != 8)
			target &= size_mask(osz);
		if (!canonical(e, target))
			raise_exc(e, EXC_GP, 0);
	} else {
		target &= size_mask(osz);
		if (target > e->cpu->seg[S_CS].limit)
			raise_exc(e, EXC_GP, 0);
	}
	e->next_rip = target;
}

/* ---- ports ---- */

bool io_allowed(struct engine *e, u16 port, int size)
{
	struct x86_cpu *c = e->cpu;
	if (e->mode == M_REAL || (!e->vm86 && e->cpl <= ((c->rflags >> 12) & 3)))
		return true;
	/* The TSS I/O permission bitmap (SDM Vol. 1 19.5.2), whatever IOPL
	 * says in virtual-8086 mode (SDM Vol. 3B 20.2.8.1). */
	const struct x86_seg *tr = &c->tr;
	if (!tr->present || (tr->type != 9 && tr->type != 11) || tr->limit < 0x67)
		return false;
	u64 base = sys_read(e, tr->base + 0x66, 2);
	u64 at = base + port / 8;
	if (at + 1 > tr->limit)
		return false;
	u64 bits = sys_read(e, tr->base + at, 2);
	return !((bits >> (port & 7)) & size_mask(size));
}

/*
 * IN and INS.  Data the VMM supplied is kept in a read-ahead buffer: a
 * REP INS exits once for up to min(count, bytes to the end of RDI's page,
 * 1024 / size) elements, as KVM's pio_in_emulated() does, and the
 * following iterations take their data from the buffer.
 */
u64 io_in_n(struct engine *e, u16 port, int size, u32 n)
{
	if (unlikely(e->dbg_io))
		debug_match(e, port, size, false, true);
	if (e->pend_in) {
		e->pend_in = 0;
		e->pio_pos = 0;
		e->pio_end = (u16)(e->pio_count * size);
		memcpy(e->pio_buf, e->env->pio, e->pio_end);
	}
	if (e->pio_pos < e->pio_end) {
		u64 v = 0;
		memcpy(&v, e->pio_buf + e->pio_pos, size);
		e->pio_pos += size;
		return v;
	}
	u64 dv = 0;
	if (dev_io(e, true, port, size, &dv, false))
		return dv;
	if (n > sizeof(e->pio_buf) / size)
		n = sizeof(e->pio_buf) / size;
	if (!n)
		n = 1;
	struct x86_exit *x = e->exit;
	x->reason = X86_EXIT_IO;
	x->io.in = true;
	x->io.size = size;
	x->io.port = port;
	x->io.count = n;
	e->pio_count = n;
	e->pend_in = 1;
	unwind_exit(e);
}

u64 io_in(struct engine *e, u16 port, int size)
{
	return io_in_n(e, port, size, 1);
}

void io_out(struct engine *e, u16 port, int size, u64 v)
{
	const struct x86_env *env = e->env;
	if (unlikely(e->dbg_io))
		debug_match(e, port, size, false, true);
	if (dev_io(e, true, port, size, &v, true))
		return;
	if (env->coalesce && env->coalesce(env->coalesce_opaque, port, size, &v, true))
		return;
	if (e->exit->reason != X86_EXIT_NONE)
		raise_internal(e);
	struct x86_exit *x = e->exit;
	memcpy(e->env->pio, &v, size);
	x->reason = X86_EXIT_IO;
	x->io.in = false;
	x->io.size = size;
	x->io.port = port;
	x->io.count = 1;
}

/* ---- event delivery ---- */

static bool has_error_code(int vec)
{
	return vec == EXC_DF || (vec >= EXC_TS && vec <= EXC_PF) || vec == EXC_AC;
}

static void deliver_real(struct engine *e, int vec, u64 ret_rip)
{
	struct x86_cpu *c = e->cpu;
	if ((u64)vec * 4 + 3 > c->idt.limit)
		raise_exc(e, EXC_GP, vec * 8 + 2);
	u64 ent = sys_read(e, c->idt.base + vec * 4, 4);
	push(e, 2, flags_get(e));
	push(e, 2, c->seg[S_CS].sel);
	push(e, 2, ret_rip);
	c->rflags &= ~(X86_FL_IF | X86_FL_TF | X86_FL_AC | X86_FL_RF);
	seg_load_real(e, S_CS, ent >> 16);
	c->rip = ent & 0xffff;
}

/* Stack pointer for privilege level `dpl` from the TSS (64-bit, 32-bit,
 * or a 16-bit TSS: SPn at 2 + 4n, SSn after it). */
void tss_stack(struct engine *e, int dpl, int ist, u16 *ss, u64 *sp)
{
	struct x86_cpu *c = e->cpu;
	const struct x86_seg *tr = &c->tr;
	bool t16 = e->mode != M_LONG && (tr->type & 8) == 0;
	u64 off;
	int n = e->mode == M_LONG ? 8 : t16 ? 2 : 4;
	if (e->mode == M_LONG)
		off = ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * dpl;
	else
		off = t16 ? 2 + 4 * dpl : 4 + 8 * dpl;
	u64 need = e->mode == M_LONG ? off + n - 1 : off + n + 1;
	if (!tr->present || need > tr->limit)
		raise_exc(e, EXC_TS, tr->sel & ~3);
	*sp = sys_read(e, tr->base + off, n);
	*ss = e->mode == M_LONG ? (u16)dpl : (u16)sys_read(e, tr->base + off + n, 2);
}

/* The inner stack segment named by the TSS for privilege level cpl (an
 * interrupt or a call gate to a more privileged level): #TS(sel + ext)
 * unless it is a present writable data segment with RPL = DPL = cpl,
 * #SS(sel + ext) if not present (SDM Vol. 2A CALL, Vol. 3A 6.12.1). */
void ss_inner(struct engine *e, u16 sel, int cpl, int ext, struct x86_seg *out)
{
	if (!(sel & ~3))
		raise_exc(e, EXC_TS, ext);
	u64 addr, d = desc_read_ex(e, sel, &addr, NULL, EXC_TS, ext);
	desc_parse(d, out, sel);
	if ((sel & 3) != cpl || out->dpl != cpl || !out->s || (out->type & 0xa) != 0x2)
		raise_exc(e, EXC_TS, (sel & ~3) | ext);
	if (!out->present)
		raise_exc(e, EXC_SS, (sel & ~3) | ext);
	desc_touch(e, addr, d);
	out->type |= 1;
}

static void deliver_prot(struct engine *e, int vec, int err, bool soft, u64 ret_rip)
{
	struct x86_cpu *c = e->cpu;
	bool lm = e->mode == M_LONG;
	int gsz = lm ? 16 : 8;
	int ext = soft ? 0 : 1;
	if ((u64)vec * gsz + gsz - 1 > c->idt.limit)
		raise_exc(e, EXC_GP, vec * 8 + 2 + ext);
	u64 lo = sys_read(e, c->idt.base + vec * gsz, 8);
	u64 hi = lm ? sys_read(e, c->idt.base + vec * gsz + 8, 8) : 0;
	int type = (lo >> 40) & 0xf, dpl = (lo >> 45) & 3;
	bool gate32 = type == 0xe || type == 0xf;
	bool task = type == 5 && !lm;
	if (lm ? !gate32 : (type != 6 && type != 7 && !gate32 && !task))
		raise_exc(e, EXC_GP, vec * 8 + 2 + ext);
	if (soft && dpl < e->cpl)
		raise_exc(e, EXC_GP, vec * 8 + 2);
	if (!((lo >> 47) & 1))
		raise_exc(e, EXC_NP, vec * 8 + 2 + ext);
	u16 sel = (lo >> 16) & 0xffff;
	if (task) {
		task_switch(e, sel, TS_INT, err, ret_rip, ext);
		return;
	}
	u64 off = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ULL);
	if (lm)
		off |= hi << 32;
	int ist = lm ? (lo >> 32) & 7 : 0;

	if (!(sel & ~3))
		raise_exc(e, EXC_GP, ext);
	u64 daddr, d = desc_read(e, sel, &daddr);
	struct x86_seg cs;
	desc_parse(d, &cs, sel);
	if (!cs.s || !(cs.type & 8) || cs.dpl > e->cpl || (lm && (!cs.l || cs.db)))
		raise_exc(e, EXC_GP, (sel & ~3) + ext);
	if (!cs.present)
		raise_exc(e, EXC_NP, (sel & ~3) + ext);
	int new_cpl = (cs.type & 4) ? e->cpl : cs.dpl;
	int psz = lm ? 8 : (type & 8) ? 4 : 2;
	/* from virtual-8086 mode only to non-conforming ring-0 code */
	bool v86 = e->vm86;
	if (v86 && new_cpl != 0)
		raise_exc(e, EXC_GP, (sel & ~3) + ext);

	u64 fl = flags_get(e);
	struct x86_seg old_ss = c->seg[S_SS];
	u64 old_sp = c->gpr[R_RSP];
	u16 old_cs = c->seg[S_CS].sel;
	u64 sp;
	if (new_cpl < e->cpl || ist) {
		u16 nss = 0;
		tss_stack(e, new_cpl, ist, &nss, &sp);
		if (new_cpl < e->cpl) {
			if (lm) {
				c->seg[S_SS] = (struct x86_seg){.sel = (u16)new_cpl,
					.unusable = 1, .dpl = (u8)new_cpl, .db = 1};
			} else {
				ss_inner(e, nss, new_cpl, ext, &c->seg[S_SS]);
			}
		}
	} else {
		sp = c->gpr[R_RSP];
	}
	if (lm)
		sp &= ~15ULL;
	/* Build the frame on the new stack (the new privilege level). */
	u8 save_cpl = e->cpl;
	e->cpl = (u8)new_cpl;
	u8 save64 = e->code64;
	e->code64 = lm;
	c->gpr[R_RSP] = sp;
	/* 64-bit mode always pushes SS:RSP (SDM Vol. 3A 6.14.2) */
	if (new_cpl < save_cpl || lm) {
		if (v86) /* SDM Vol. 3B 20.3.1.1: the data segments first */
			for (int sr = S_GS; sr >= S_ES; sr--)
				if (sr != S_CS && sr != S_SS)
					push(e, psz, c->seg[sr].sel);
		push(e, psz, old_ss.sel);
		push(e, psz, old_sp);
	}
	push(e, psz, fl);
	push(e, psz, old_cs);
	push(e, psz, ret_rip);
	if (err != NO_ERR)
		push(e, psz, (u32)err);
	e->code64 = save64;
	e->cpl = save_cpl;

	desc_touch(e, daddr, d);
	cs.type |= 1;
	cs.sel = (sel & ~3) | new_cpl;
	c->seg[S_CS] = cs;
	c->rflags = fl & ~(X86_FL_TF | X86_FL_NT | X86_FL_RF | X86_FL_VM);
	e->lf_op = LF_NONE;
	if (v86) /* ... and they are left null */
		for (int sr = S_ES; sr < S_NR; sr++)
			if (sr != S_CS && sr != S_SS)
				c->seg[sr] = (struct x86_seg){.unusable = 1};
	if (!(type & 1))
		c->rflags &= ~X86_FL_IF;
	c->rip = lm ? off : psz == 2 ? off & 0xffff : (u32)off;
	mode_update(e);
	e->cpl = (u8)new_cpl;
}

/* Deliver vector vec; ret_rip is what the frame records. */
void deliver_event(struct engine *e, int vec, int err, bool soft, u64 ret_rip)
{
	flags_fold(e);
	if (vec >= 32 || vec == EXC_NMI)
		e->code_epoch++; /* an interrupt: cross-modified code is seen */
	if (e->mode == M_REAL)
		deliver_real(e, vec, ret_rip);
	else
		deliver_prot(e, vec, err, soft, ret_rip);
	e->shadow = 0;
}

/* SDM Vol. 3A Table 6-5: which pairs escalate to #DF. */
static int exc_class(int vec)
{
	if (vec == EXC_PF)
		return 2;
	if (vec == EXC_DE || (vec >= EXC_TS && vec <= EXC_GP))
		return 1;
	return 0;
}

/* ---- the run loop ---- */

#define POLL_EVERY 4096

bool engine_stop_requested(struct engine *e, bool poll_now)
{
	const struct x86_env *env = e->env;
	if (env->stop || (env->kick && atomic_load_explicit(env->kick, memory_order_relaxed)))
		return true;
	code_tick(e);
	if (env->poll && (poll_now || ++e->poll_count >= POLL_EVERY)) {
		e->poll_count = 0;
		return env->poll(env->opaque);
	}
	return false;
}

/* SKVM_TRACE=1: one line per instruction on stderr (debugging aid). */
/* every vCPU thread may set it first (the same value): relaxed atomics,
 * plain moves on x86 (check-tsan) */
static _Atomic int trace_on = -1;

static inline int tracing(void)
{
	return atomic_load_explicit(&trace_on, memory_order_relaxed);
}

static void trace(struct engine *e, const struct insn *i)
{
	if (likely(!tracing()))
		return;
	fprintf(stderr, "skvm: %04x:%016llx rsp=%llx fl=%llx cpl=%d:", e->cpu->seg[S_CS].sel,
		(unsigned long long)e->cpu->rip, (unsigned long long)e->cpu->gpr[R_RSP],
		(unsigned long long)flags_get(e), e->cpl);
	for (int k = 0; k < i->len; k++)
		fprintf(stderr, " %02x", i->bytes[k]);
	fprintf(stderr, "\n");
}

static u64 ip_wrap(struct engine *e, u64 ip)
{
	return e->code64 ? ip : ip & (e->def32 ? 0xffffffffULL : 0xffff);
}

/* Execute one decoded instruction and commit it. */
static void exec_insn(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	e->cur_insn = i;
	e->mmio_used = 0;
	trace(e, i);
	if (unlikely(c->vclock)) /* deterministic mode: time is instructions */
		atomic_fetch_add_explicit(c->vclock, X86_DET_NS_PER_INSN, memory_order_relaxed);
	e->next_rip = ip_wrap(e, c->rip + i->len);
	e->shadow_pending = 0;
	i->fn(e, i);
	c->rip = e->next_rip;
	e->mmio_have = 0;
	e->shadow = e->shadow_pending;
}

bool exec_in_block(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	u64 fall = ip_wrap(e, c->rip + i->len);
	bool was_open = (c->rflags & X86_FL_IF) && !e->shadow;
	exec_insn(e, i);
	if (e->exit->reason != X86_EXIT_NONE || c->rip != fall || e->leave_block)
		return true;
	/* STI (after its shadow), POPF or IRET opened the interrupt window:
	 * let the run loop look for a pending in-kernel APIC interrupt */
	return unlikely(!was_open && c->apic_ops && (c->rflags & X86_FL_IF) && !e->shadow);
}

/*
 * Hardware breakpoints (SDM Vol. 3B 17.2-17.3): those of the effective DR7,
 * the VMM's with KVM_GUESTDBG_USE_HW_BP (KVM loads them instead of the
 * guest's), else the guest's own.  While one is enabled the engine runs one
 * instruction at a time (step), and the pages of data breakpoints get no data
 * TLB entries, so their accesses come through the slow paths; nothing of
 * this runs otherwise.  Instruction breakpoints are faults (unless RFLAGS.RF),
 * data and I/O breakpoints traps after the instruction.  The VMM's end
 * KVM_RUN with KVM_EXIT_DEBUG, as KVM's #DB intercept reports them; the
 * guest's raise #DB with B0-B3 of DR6 saying which matched.
 */
void debug_update(struct engine *e)
{
	const struct x86_cpu *c = e->cpu;
	bool vmm = c->guest_debug & KVM_GUESTDBG_USE_HW_BP;
	const u64 *dr = vmm ? c->guest_debug_db : c->dr;
	u64 dr7 = vmm ? c->guest_debug_db[7] : c->dr7;
	u8 exec = 0, data = 0, wonly = 0, io = 0;
	/* none enabled (the usual case, checked on every x86_run): the
	 * loop would find nothing */
	for (int n = 0; n < 4 && (dr7 & 0xff); n++) {
		if (!((dr7 >> (2 * n)) & 3))
			continue;
		u32 rw = (dr7 >> (16 + 4 * n)) & 3, len = (dr7 >> (18 + 4 * n)) & 3;
		u64 size = len == 0 ? 1 : len == 1 ? 2 : len == 2 ? 8 : 4;
		e->dbg_lo[n] = dr[n] & ~(size - 1);
		e->dbg_hi[n] = e->dbg_lo[n] + size - 1;
		if (rw == 0) {
			exec |= BIT(n);
		} else if (rw == 2) {
			/* I/O with CR4.DE; undefined without it: never matches */
			if (c->cr4 & X86_CR4_DE)
				io |= BIT(n);
		} else {
			data |= BIT(n);
			if (rw == 1)
				wonly |= BIT(n);
		}
	}
	if (data || e->dbg_data)
		tlb_flush(e); /* drop the entries of newly watched pages */
	e->dbg_exec = exec;
	e->dbg_data = data;
	e->dbg_wonly = wonly;
	e->dbg_io = io;
	e->dbg_vmm = vmm;
	e->dbg_armed = exec | data | io;
	if (!e->dbg_armed)
		e->dbg_pend = 0;
	e->leave_block = true;
}

void debug_match(struct engine *e, u64 addr, int n, bool write, bool io)
{
	u8 set = io ? e->dbg_io : write ? e->dbg_data : (u8)(e->dbg_data & ~e->dbg_wonly);
	u64 last = addr + (u64)n - 1;
	for (int k = 0; k < 4; k++)
		if ((set & BIT(k)) && addr <= e->dbg_hi[k] && last >= e->dbg_lo[k])
			e->dbg_hit |= BIT(k);
}

/* #DB for the breakpoints in `hits` (B0-B3), or for DR6.BD / DR6.BS
 * (`extra`): a KVM_EXIT_DEBUG for the VMM's, a #DB for the guest's. */
static void debug_event(struct engine *e, u8 hits, u64 extra, bool vmm)
{
	struct x86_cpu *c = e->cpu;
	if (vmm) {
		struct x86_exit *x = e->exit;
		x->reason = X86_EXIT_DEBUG;
		x->debug.exception = EXC_DB;
		x->debug.pc = linear_rip(e);
		x->debug.dr6 = 0xffff0ff0 | hits | extra;
		x->debug.dr7 = c->guest_debug_db[7];
		x->debug.has_dr = true;
		unwind_exit(e);
	}
	/* as KVM delivers a #DB payload: B0-B3 replaced, BD/BS added */
	c->dr6 = (c->dr6 & ~0xfULL) | 0xffff0ff0 | hits | extra;
	raise_exc(e, EXC_DB, NO_ERR);
}

/* MOV DR with DR7.GD set (general detect): a fault before the access. */
void debug_general_detect(struct engine *e)
{
	struct x86_cpu *c = e->cpu;
	bool vmm = c->guest_debug & KVM_GUESTDBG_USE_HW_BP;
	if (!((vmm ? c->guest_debug_db[7] : c->dr7) & BIT(13)))
		return;
	if (!vmm)
		c->dr7 &= ~BIT(13); /* the processor clears GD for the handler */
	debug_event(e, 0, BIT(13), vmm);
}

/* One instruction, decoded afresh (single-step, breakpoints, page-crossing
 * code). */
static void step(struct engine *e)
{
	struct x86_cpu *c = e->cpu;
	bool tf = c->rflags & X86_FL_TF, rf = c->rflags & X86_FL_RF;
	if (unlikely(e->dbg_armed)) {
		u8 pend = e->dbg_pend;
		e->dbg_pend = 0;
		if (pend) /* a trap of an instruction that exited to the VMM */
			debug_event(e, pend, 0, e->dbg_vmm);
		if (e->dbg_exec && !rf) {
			u64 ip = linear_rip(e);
			u8 hits = 0;
			for (int n = 0; n < 4; n++)
				if ((e->dbg_exec & BIT(n)) && e->dbg_lo[n] == ip)
					hits |= BIT(n);
			if (hits)
				debug_event(e, hits, 0, e->dbg_vmm);
		}
		e->dbg_hit = 0;
	}
	e->cur_insn = NULL;
	decode(e, &e->cur);
	exec_insn(e, &e->cur);
	if (rf)
		c->rflags &= ~X86_FL_RF; /* cleared once an instruction completes */
	u8 hits = e->dbg_hit;
	if (unlikely(hits)) {
		e->dbg_hit = 0;
		if (e->exit->reason != X86_EXIT_NONE) {
			e->dbg_pend = hits; /* after the VMM completed it */
			hits = 0;
		} else if (e->dbg_vmm) {
			debug_event(e, hits, 0, true);
		}
	}
	if (tf || hits) {
		/* single-step trap after the instruction (SDM Vol. 3B 17.3.1.4) */
		debug_event(e, hits, tf ? BIT(14) : 0, false);
	}
}

static u8 mode_key(const struct engine *e)
{
	return (u8)(e->code64 | e->def32 << 1);
}

/* Instructions after which the block never falls through. */
static bool ends_block(const struct insn *i)
{
	x86_handler f = i->fn;
	return f == op_jmp_rel || f == op_jmp_rm || f == op_ret_near || f == op_ret_far ||
	       f == op_jmp_far || f == op_jmp_far_rm || f == op_iret || f == op_hlt ||
	       f == op_unimpl || f == op_ud || f == op_int_n || f == op_int3 ||
	       f == op_syscall || f == op_sysret;
}

/* The set of BLK_WAYS slots that may hold the block at host, the most
 * recently used first. */
static struct blk_slot *block_set(struct engine *e, const u8 *host)
{
	uintptr_t h = (uintptr_t)host;
	return &e->blocks[((h ^ (h >> 10) ^ (h >> 20)) & (BLK_CACHE / BLK_WAYS - 1)) * BLK_WAYS];
}

/* The slot of the block at host in mode mk, moved first in its set.  When
 * none is cached: NULL, or with refill the set's least recently used slot
 * moved first, to be refilled (its block, if any, is reused). */
static struct blk_slot *block_slot(struct engine *e, const u8 *host, u8 mk, bool refill)
{
	struct blk_slot *set = block_set(e, host);
	uintptr_t tag = blk_tag(host, mk);
	if (likely(set[0].tag == tag))
		return set;
	int w = 1;
	while (w < BLK_WAYS && set[w].tag != tag)
		w++;
	if (w == BLK_WAYS) {
		if (!refill)
			return NULL;
		w = BLK_WAYS - 1;
	}
	struct blk_slot hit = set[w];
	memmove(set + 1, set, (size_t)w * sizeof(*set));
	set[0] = hit;
	return set;
}

/*
 * Run the block at RIP, decoding (and appending) instructions the first
 * time execution reaches them.  Leaves after a taken branch, a mode or
 * TLB change, or an exit; every instruction commits on its own, so state
 * is exact wherever it stops.
 */
static void run_block(struct engine *e)
{
	struct x86_cpu *c = e->cpu;
	u64 room;
	const u8 *host = code_ptr(e, c->rip, &room);
	u8 mk = mode_key(e);
	uintptr_t h = (uintptr_t)host;
	struct blk_slot *slot = block_slot(e, host, mk, true);
	struct block *b = slot->b;
	if (!b) {
		b = malloc(sizeof(*b));
		if (!b) {
			step(e);
			return;
		}
		slot->b = b;
		slot->tag = 0;
	}
	uintptr_t tag = blk_tag(host, mk);
	if (slot->tag != tag || b->nbytes > room || !block_current(e, b)) {
		slot->tag = tag;
		b->host = host;
		b->cp = code_page_mark(e, host);
		b->cp_gen = b->cp ? b->cp->gen : 0;
		b->epoch = e->code_epoch;
		b->mode = mk;
		b->n = 0;
		b->nbytes = 0;
		b->closed = 0;
		b->hits = 0;
		b->jit = NULL;
	}
	e->leave_block = false;
	e->code_lo = h;
	e->code_hi = h + b->nbytes;
	int k = 0;
	/* hot 64-bit blocks run as host code (jit.c), outside a shadow */
	if (e->code64 && !e->shadow && b->n && likely(!tracing()) && !c->vclock && jit_enabled()) {
		if ((!b->jit || b->jit_n != b->n) && ++b->hits >= jit_threshold())
			jit_translate(e, b);
		if (b->jit && b->jit_n == b->n) {
			e->jit_chained = false;
			k = ((jit_fn)b->jit)(e, c, e->cpl == 3);
			if (k < 0 || e->jit_chained)
				return;
		}
	}
	for (;; k++) {
		const struct insn *i;
		if (k < b->n) {
			i = &b->insns[k];
		} else {
			if (b->closed || k == BLK_MAX || b->nbytes + 15 > BLK_BYTES)
				return;
			e->cur_insn = NULL;
			struct insn *d = &b->insns[k];
			decode(e, d);
			if (b->nbytes + d->len > room) {
				/* crosses the page or the CS limit: run it uncached */
				e->cur = *d;
				exec_insn(e, &e->cur);
				return;
			}
			memcpy(b->code + b->nbytes, d->bytes, d->len);
			b->nbytes += d->len;
			e->code_hi = h + b->nbytes;
			b->n++;
			b->closed = ends_block(d);
			i = d;
		}
		if (exec_in_block(e, i))
			return;
	}
}

/* Deliver one pending NMI unless NMIs are blocked: by a previous NMI until
 * IRET (SDM Vol. 3A 6.7.1), or by an STI / MOV SS shadow as KVM's VMX and
 * SVM code treat it.  A second queued NMI waits for the next IRET. */
static void nmi_window(struct engine *e)
{
	struct x86_events *ev = &e->cpu->ev;
	if (!ev->nmi.pending || ev->nmi.masked || e->shadow)
		return;
	ev->nmi.pending--;
	ev->nmi.masked = 1;
	deliver_event(e, EXC_NMI, NO_ERR, false, e->cpu->rip);
}

/* Take the in-kernel APIC's interrupt (INTA, then delivery through the
 * IDT/IVT as an external interrupt) when the window is open. */
static void apic_interrupt(struct engine *e)
{
	struct x86_cpu *c = e->cpu;
	if (!(c->rflags & X86_FL_IF) || e->shadow || c->ev.interrupt.injected)
		return;
	int vec = c->apic_ops->intr_ack(c->apic);
	if (vec >= 0)
		deliver_event(e, vec, NO_ERR, false, c->rip);
}

static void inject_events(struct engine *e)
{
	struct x86_events *ev = &e->cpu->ev;
	if (ev->exception.injected || ev->exception.pending) {
		int vec = ev->exception.nr;
		int err = ev->exception.has_error_code ? (int)ev->exception.error_code : NO_ERR;
		/* KVM_CAP_EXCEPTION_PAYLOAD: a pending #PF/#DB carries what
		 * delivery puts in CR2 / DR6 */
		if (ev->exception.pending && ev->exception.has_payload) {
			if (vec == EXC_PF)
				e->cpu->cr2 = ev->exception.payload;
			else if (vec == EXC_DB) {
				/* payload bits are "active high" even where DR6
				 * is active low, as in kvm_deliver_exception_payload */
				u64 p = ev->exception.payload, d = e->cpu->dr6;
				d = (d & ~0xfULL) | 0xffff0ff0ULL | p;
				e->cpu->dr6 = d ^ (p & 0xffff0ff0ULL);
			}
		}
		ev->exception.has_payload = 0;
		ev->exception.injected = ev->exception.pending = 0;
		if (e->mode == M_REAL)
			err = NO_ERR;
		e->delivering = vec;
		deliver_event(e, vec, err, false, e->cpu->rip);
		e->delivering = -1;
	}
	if (ev->nmi.injected) {
		ev->nmi.injected = 0;
		ev->nmi.masked = 1;
		deliver_event(e, EXC_NMI, NO_ERR, false, e->cpu->rip);
	} else {
		nmi_window(e);
	}
	if (ev->interrupt.injected) {
		ev->interrupt.injected = 0;
		deliver_event(e, ev->interrupt.nr, NO_ERR, ev->interrupt.soft,
			      e->cpu->rip);
	}
}

static inline bool boundary_quiet(struct engine *e)
{
	struct x86_cpu *c = e->cpu;
	const struct x86_env *env = e->env;
	if (e->exit->reason != X86_EXIT_NONE || e->leave_block || e->shadow ||
	    c->ev.nmi.pending || env->irq_window || (c->rflags & X86_FL_TF) || c->guest_debug ||
	    e->dbg_armed)
		return false;
	if (c->apic_ops && atomic_load_explicit(&c->intr_hint, memory_order_acquire))
		return false;
	if (env->stop || (env->kick && atomic_load_explicit(env->kick, memory_order_relaxed)))
		return false;
	/* the signal poll is the loop's, every POLL_EVERY boundaries */
	if (env->poll && e->poll_count + 1 >= POLL_EVERY)
		return false;
	e->poll_count++;
	code_tick(e);
	engine_map_check(e); /* a new map flushes the TLB: leave_block */
	return !e->leave_block;
}

struct block *block_chain(struct engine *e, const u8 *host)
{
	if (!boundary_quiet(e))
		return NULL;
	struct blk_slot *slot = block_slot(e, host, mode_key(e), false);
	struct block *b = slot ? slot->b : NULL;
	if (!b || !b->jit || b->jit_n != b->n || !block_current(e, b))
		return NULL;
	return b;
}

u64 linear_rip(struct engine *e)
{
	return e->code64 ? e->cpu->rip : (u32)(e->cpu->seg[S_CS].base + e->cpu->rip);
}

/* The VMM changed the memslots: continue with the new map.  Dropping the
 * old one lets KVM_SET_USER_MEMORY_REGION return (see mem/memslot.h), so
 * no host pointer into it may survive: the TLB goes with it. */
/* The dirty log was re-armed: no write TLB entry may outlive it. */
static void dirty_rearm(struct engine *e, u64 epoch)
{
	for (int i = 0; i < TLB_SIZE; i++)
		e->tlb.w[i].tag = TLB_INVALID;
	e->dirty_seen = epoch;
	atomic_store_explicit(&e->cpu->dirty_ack, epoch, memory_order_release);
}

void engine_map_check(struct engine *e)
{
	struct x86_env *env = e->env;
	if (!env->mem)
		return;
	u64 epoch = atomic_load_explicit(&env->mem->dirty_epoch, memory_order_acquire);
	if (unlikely(epoch != e->dirty_seen))
		dirty_rearm(e, epoch);
	if (likely(atomic_load_explicit(&env->mem->map, memory_order_relaxed) == env->map))
		return;
	struct mem_map *old = env->map;
	tlb_flush(e);
	e->code_epoch++; /* host addresses may hold other pages now */
	env->map = mem_map_get(env->mem);
	mem_map_put(old);
}

/*
 * The soft TLB outlives a KVM_RUN round trip (a PIO exit) when nothing it
 * was filled under changed outside the engine: the memslot map (its
 * generation: the host pointers of an old map may be gone), the VMM's
 * state ioctls (cpu->state_gen), and the paging registers, which INIT
 * also resets.  Inside the engine every such change flushes it already;
 * a guest page table the VMM rewrites is no different from another CPU's
 * store, which a hardware TLB need not see before INVLPG or a CR3 write
 * either.  Without a memory map (unit harnesses) it never survives.
 */
static void tlb_key_save(struct engine *e, const struct x86_env *env)
{
	const struct x86_cpu *c = e->cpu;
	e->tlb_key.valid = env->map != NULL;
	e->tlb_key.map_gen = env->map ? env->map->generation : 0;
	e->tlb_key.state_gen = c->state_gen;
	e->tlb_key.cr0 = c->cr0;
	e->tlb_key.cr3 = c->cr3;
	e->tlb_key.cr4 = c->cr4;
	e->tlb_key.efer = c->efer;
}

static bool tlb_kept(const struct engine *e, const struct x86_env *env)
{
	const struct x86_cpu *c = e->cpu;
	return e->tlb_key.valid && env->map && env->map->generation == e->tlb_key.map_gen &&
	       c->state_gen == e->tlb_key.state_gen && c->cr0 == e->tlb_key.cr0 &&
	       c->cr3 == e->tlb_key.cr3 && c->cr4 == e->tlb_key.cr4 && c->efer == e->tlb_key.efer;
}

void x86_run(struct x86_cpu *cpu, struct x86_env *env, struct x86_exit *exit)
{
	struct engine *e = cpu->engine;
	if (unlikely(tracing() < 0)) {
		const char *t = getenv("SKVM_TRACE");
		atomic_store_explicit(&trace_on, t && *t == '1', memory_order_relaxed);
	}
	pthread_once(&host_once, host_fault_install);
	e->env = env;
	e->exit = exit;
	exit->reason = X86_EXIT_NONE;
	/* while the engine runs, the FPU image is the whole truth (fpu.h) */
	fpu_use(cpu, X86_XCR0_SUPPORTED);
	e->jit_mx = 0;
	e->host_mxcsr = __builtin_ia32_stmxcsr();
	e->lf_op = LF_NONE;
	e->delivering = -1;
	/* State ioctls may have changed anything since the last run.  The
	 * harvester of a dirty log waits only for vCPUs in guest code, so
	 * in_guest goes up before the epoch is read (kvm/dirty.c). */
	atomic_store(&cpu->in_guest, true);
	u64 epoch = env->mem ? atomic_load(&env->mem->dirty_epoch) : 0;
	if (!tlb_kept(e, env))
		tlb_flush(e);
	if (epoch != e->dirty_seen || !env->mem)
		dirty_rearm(e, epoch);
	e->code_epoch++; /* the VMM may have written code since the last run */
	mode_update(e);
	e->shadow = cpu->int_shadow & (X86_SHADOW_MOV_SS | X86_SHADOW_STI);
	volatile bool resumed = e->pend_in || e->pend_mmio || e->pend_msr;
	volatile bool injected = false;

	t_run_engine = e;
	int why = setjmp(e->jb);
	if (why)
		sys_unwind(e);
	if (why && e->txn.on)
		txn_undo(e);
	switch (why) {
	case 0:
		break;
	case UNWIND_EXIT:
		goto out;
	case UNWIND_HOST_FAULT:
		/* as after an exception: the instruction starts afresh (the
		 * handler ran with the host's MXCSR: the guest's is reloaded) */
		e->jit_mx = 0;
		e->pend_in = e->pend_mmio = e->pend_msr = 0;
		e->mmio_have = 0;
		e->pio_pos = e->pio_end = 0;
		e->mmio_write = e->io_out = false;
		e->delivering = -1;
		exit->reason = X86_EXIT_FAULT;
		goto out;
	case UNWIND_EXC: {
		int vec = t_exc_vec, err = t_exc_err;
		if (e->delivering >= 0) {
			int prev = e->delivering, pc = exc_class(prev), vc = exc_class(vec);
			if (prev == EXC_DF) {
				exit->reason = X86_EXIT_SHUTDOWN;
				e->delivering = -1;
				goto out;
			}
			if ((pc == 1 && vc == 1) || (pc == 2 && vc))
				vec = EXC_DF, err = 0;
		}
		if (e->mode == M_REAL || !has_error_code(vec))
			err = NO_ERR;
		e->pend_in = e->pend_mmio = e->pend_msr = 0;
		e->mmio_have = 0;
		e->pio_pos = e->pio_end = 0;
		exit->reason = X86_EXIT_NONE;
		e->delivering = vec;
		if (tracing() > 0)
			fprintf(stderr, "skvm: exception %d err %#x\n", vec, err);
		deliver_event(e, vec, err, false, cpu->rip);
		e->delivering = -1;
		break;
	}
	}
	/* Breakpoints of the effective DR7 (the VMM's or the guest's, maybe
	 * restored through KVM_SET_DEBUGREGS) */
	debug_update(e);
	if (!injected) {
		injected = true;
		if (!resumed)
			inject_events(e);
	}
	if (resumed) {
		resumed = false;
		/* the read data is in mmio_data; a second read of the same
		 * instruction exits again and sets it anew */
		e->pend_mmio = 0;
		step(e);
		/* an MSR answer is for the instruction that exited only */
		if (exit->reason != X86_EXIT_MSR)
			e->pend_msr = e->msr_done = 0;
		if (exit->reason != X86_EXIT_NONE)
			goto out;
	}
	/* Translated code skips this loop between blocks while
	 * boundary_quiet() says it would do nothing: keep the two in step. */
	for (;;) {
		if (engine_stop_requested(e, false)) {
			exit->reason = X86_EXIT_KICK;
			break;
		}
		if (unlikely(env->timers))
			env->timers(env->timers_opaque);
		engine_map_check(e);
		/* KVM_GUESTDBG_BLOCKIRQ: no NMI or interrupt is injected
		 * (kvm_check_and_inject_events) */
		bool block_irq = cpu->guest_debug & KVM_GUESTDBG_BLOCKIRQ;
		if (unlikely(cpu->ev.nmi.pending) && !block_irq)
			nmi_window(e);
		if (cpu->apic_ops && !block_irq &&
		    atomic_load_explicit(&cpu->intr_hint, memory_order_acquire))
			apic_interrupt(e);
		if (env->irq_window && (cpu->rflags & X86_FL_IF) && !e->shadow) {
			exit->reason = X86_EXIT_IRQ_WINDOW;
			break;
		}
		/* single-step, or watch for the interrupt window at every
		 * instruction as interrupt-window exiting does */
		if ((cpu->rflags & X86_FL_TF) || env->irq_window || cpu->guest_debug ||
		    e->dbg_armed)
			step(e);
		else
			run_block(e);
		if ((cpu->guest_debug & KVM_GUESTDBG_SINGLESTEP) && exit->reason == X86_EXIT_NONE) {
			/* as VMX's #DB intercept reports a single step */
			exit->reason = X86_EXIT_DEBUG;
			exit->debug.exception = EXC_DB;
			exit->debug.pc = linear_rip(e);
			exit->debug.dr6 = 0xffff0ff0 | BIT(14);
			exit->debug.dr7 = cpu->dr7;
			exit->debug.has_dr = true;
		}
		if (exit->reason != X86_EXIT_NONE)
			break;
	}
out:
	tlb_key_save(e, env);
	/* release is enough here: a harvester that sees it down sees every
	 * write and ack before it (only the store above needs seq_cst) */
	atomic_store_explicit(&cpu->in_guest, false, memory_order_release);
	t_run_engine = NULL;
	flags_fold(e);
	cpu->int_shadow = e->shadow;
}
