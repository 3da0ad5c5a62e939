/*
 * The guest page walker (SDM Vol. 3A chapter 4), written once for every
 * paging mode.  A mode is described by a small table row (levels, entry
 * width, index bits); the per-level loop is the same for all of them and
 * does no allocation, so the engine can call it on every soft-TLB miss.
 *
 * Choices worth knowing (see also docs/cpu-model.md):
 *  - Reserved bits follow Intel (SDM 4.5, Tables 4-14..4-20); bits above the
 *    guest MAXPHYADDR (CPUID 0x80000008 EAX[7:0], 36 without the leaf) are
 *    reserved, and so is XD while EFER.NXE = 0.  For an AMD guest vendor,
 *    bit 8 of PML4Es and PML5Es is reserved too (APM Vol. 2, 5.3.3: MBZ).
 *  - The four PAE PDPTEs are read from memory at each walk instead of being
 *    cached at CR3 load (softkvm keeps no PDPTE registers).
 *  - Accessed/dirty bits are set only for an access that is permitted, each
 *    with a compare-and-swap on guest memory; if the entry changed under us
 *    (another vCPU, the VMM) the walk restarts, as KVM's walker does.
 *  - The permissions reported in struct x86_walk are the raw combined bits
 *    of the walk (R/W and U/S of every level, XD of any level); the access
 *    decision itself (WP, SMEP, SMAP) is made here for `acc`.
 */
#include <linux/kvm.h>

#include "x86/cpuid.h"
#include "x86/mmu.h"
#include "x86/msr.h"

#define PTE_P BIT(0)
#define PTE_RW BIT(1)
#define PTE_US BIT(2)
#define PTE_A BIT(5)
#define PTE_D BIT(6)
#define PTE_PS BIT(7)
#define PTE_G BIT(8)
#define PTE_XD BIT(63)

enum walk_mode { WM_32, WM_PAE, WM_L4, WM_L5 };

/* Per mode: levels below CR3, entry size, index bits per level and the
 * highest level (counting the leaf as 1) at which PS may map a page. */
static const struct {
	u8 levels, entry_bytes, index_bits, top_bits;
} modes[] = {
	[WM_32] = {2, 4, 10, 10},
	[WM_PAE] = {3, 8, 9, 2},
	[WM_L4] = {4, 8, 9, 9},
	[WM_L5] = {5, 8, 9, 9},
};

/*
 * Guest MAXPHYADDR (SDM 4.1.4) by the one rule in msr.c (KVM's
 * cpuid_query_maxphyaddr), clamped to the architectural 32..52 so the
 * masks below stay defined.
 */
static unsigned guest_maxphyaddr(const struct x86_cpu *cpu)
{
	unsigned m = x86_maxphyaddr(cpu);
	return m < 32 ? 32 : m > 52 ? 52 : m;
}

static bool guest_has_gbpages(const struct x86_cpu *cpu)
{
	const struct x86_cpuid_entry *e = x86_cpuid_find(cpu, 0x80000001, 0);
	return e && (e->edx & BIT(26));
}

static u64 read_entry(const u8 *p, unsigned bytes)
{
	if (bytes == 4)
		return __atomic_load_n((const u32 *)p, __ATOMIC_ACQUIRE);
	return __atomic_load_n((const u64 *)p, __ATOMIC_ACQUIRE);
}

/* Set `bits` in the entry if it still holds `old`; false if it changed. */
static bool set_entry_bits(u8 *p, unsigned bytes, u64 old, u64 bits)
{
	if ((old & bits) == bits)
		return true;
	if (bytes == 4) {
		u32 o = (u32)old;
		return __atomic_compare_exchange_n((u32 *)p, &o, o | (u32)bits, false,
						   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	}
	return __atomic_compare_exchange_n((u64 *)p, &old, old | bits, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/*
 * Reserved bits of entry `ent` at `level` (1 = PTE) with PS = `ps`, SDM
 * Tables 4-4..4-6 (32-bit), 4-8..4-11 (PAE) and 4-14..4-20 (4/5-level).
 * The guest CPUID is consulted only for the rare entries whose answer
 * depends on it (PS in a PDPTE, bit 8 in a PML4E), keeping common walks
 * to one table lookup.
 */
static u64 rsvd_mask(const struct x86_cpu *cpu, enum walk_mode m, unsigned level, bool ps,
		     u64 ent, u64 phys_rsvd, bool nxe, unsigned maxphy)
{
	u64 r;
	if (m == WM_32) {
		if (level != 2 || !ps)
			return 0;
		/* PSE-36: PDE bits 20:13 hold address bits 39:32 up to
		 * MAXPHYADDR (at most 40); the rest of 21:13 is reserved. */
		unsigned hi = maxphy > 40 ? 40 : maxphy;
		return ((BIT(22) - 1) & ~(BIT(13 + hi - 32) - 1));
	}
	r = phys_rsvd | (nxe ? 0 : PTE_XD);
	if (m == WM_PAE && level == 3)
		/* PDPTE: no R/W, U/S, A, D, PS, G, XD (SDM Table 4-8). */
		return phys_rsvd | PTE_XD | 0x1e6;
	if (level >= 4)
		return r | PTE_PS | ((ent & PTE_G) && x86_cpuid_vendor_amd(cpu) ? PTE_G : 0);
	if (ps && level == 3) /* 1-GByte page: 29:13, or PS itself without 1G pages */
		return r | (guest_has_gbpages(cpu) ? (BIT(30) - 1) & ~(BIT(13) - 1) : PTE_PS);
	if (ps && level == 2) /* 2-MByte page: 20:13 */
		return r | ((BIT(21) - 1) & ~(BIT(13) - 1));
	return r;
}

/* The final access decision, SDM 4.6. */
static bool access_allowed(const struct x86_cpu *cpu, u32 acc, u32 flags, bool w,
			   bool u, bool x)
{
	if (acc & X86_PF_U) {
		if (!u)
			return false;
		if ((acc & X86_PF_W) && !w)
			return false;
		return !(acc & X86_PF_I) || x;
	}
	if (acc & X86_PF_I)
		return x && !(u && (cpu->cr4 & X86_CR4_SMEP));
	/* Supervisor data access to a user page under SMAP: allowed only
	 * for an explicit access with RFLAGS.AC = 1. */
	if (u && (cpu->cr4 & X86_CR4_SMAP) &&
	    ((flags & X86_WALK_IMPLICIT_SV) || !(x86_get_rflags(cpu) & X86_FL_AC)))
		return false;
	return !(acc & X86_PF_W) || w || !(cpu->cr0 & X86_CR0_WP);
}

bool x86_walk(const struct x86_cpu *cpu, const struct mem_map *map, u32 as, u64 la,
	      u32 acc, u32 flags, struct x86_walk *w)
{
	*w = (struct x86_walk){0};
	acc &= X86_PF_W | X86_PF_U | X86_PF_I;

	if (!(cpu->cr0 & X86_CR0_PG)) {
		w->gpa = la;
		w->page_mask = ~(PAGE_SIZE - 1);
		w->writable = w->user = w->executable = true;
		return true;
	}

	enum walk_mode m = !(cpu->cr4 & X86_CR4_PAE) ? WM_32
			   : !(cpu->efer & X86_EFER_LMA) ? WM_PAE
			   : (cpu->cr4 & X86_CR4_LA57) ? WM_L5
						     : WM_L4;
	const unsigned bytes = modes[m].entry_bytes;
	const bool nxe = m != WM_32 && (cpu->efer & X86_EFER_NXE);
	const unsigned maxphy = guest_maxphyaddr(cpu);
	const u64 phys_rsvd = (BIT(52) - 1) & ~(BIT(maxphy) - 1);
	if (m != WM_L4 && m != WM_L5)
		la = (u32)la;

	/* #PF error code bits that describe the access (SDM 4.7): I only
	 * when fetches can fault, i.e. with SMEP or with PAE-style NX. */
	u32 ec = acc & (X86_PF_W | X86_PF_U);
	if ((acc & X86_PF_I) && (nxe || (cpu->cr4 & X86_CR4_SMEP)))
		ec |= X86_PF_I;

	for (int tries = 0;; tries++) {
		u64 table, ent = 0;
		bool rw = true, us = true, xd = false;
		u8 *ptrs[5];
		u64 ents[5];
		u64 gpas[5];			   /* where each entry lives */
		const struct mem_slot *slots[5]; /* and in which slot */
		unsigned level = modes[m].levels, shift;

		if (m == WM_32)
			table = cpu->cr3 & 0xfffff000u;
		else if (m == WM_PAE)
			table = cpu->cr3 & 0xffffffe0u;
		else
			table = cpu->cr3 & (BIT(52) - 1) & ~0xfffULL;

		for (;; level--) {
			shift = 12 + (level - 1) * modes[m].index_bits;
			unsigned bits = level == modes[m].levels ? modes[m].top_bits
								  : modes[m].index_bits;
			u64 idx = (la >> shift) & (BIT(bits) - 1);
			u64 egpa = table + idx * bytes;
			const struct mem_slot *slot = mem_map_find(map, as, egpa);
			u8 *p = slot && egpa + bytes <= slot->gpa + slot->size
					? slot->hva + (egpa - slot->gpa)
					: NULL;
			if (!p) {
				w->pt_not_ram = true;
				w->error_code = ec;
				return false;
			}
			ent = read_entry(p, bytes);
			ptrs[level - 1] = p;
			ents[level - 1] = ent;
			gpas[level - 1] = egpa;
			slots[level - 1] = slot;
			if (!(ent & PTE_P)) {
				w->error_code = ec;
				return false;
			}
			bool ps = level > 1 && (ent & PTE_PS) &&
				  (m != WM_32 || (cpu->cr4 & X86_CR4_PSE));
			if (ent & rsvd_mask(cpu, m, level, ps, ent, phys_rsvd, nxe, maxphy)) {
				w->error_code = ec | X86_PF_P | X86_PF_RSVD;
				return false;
			}
			if (!(m == WM_PAE && level == 3)) {
				rw &= !!(ent & PTE_RW);
				us &= !!(ent & PTE_US);
				xd |= nxe && (ent & PTE_XD);
			}
			if (level == 1 || ps)
				break;
			table = ent & (BIT(52) - 1) & ~0xfffULL;
			if (m == WM_32)
				table &= 0xfffff000u;
		}

		u64 size = BIT(shift);
		u64 base;
		if (m == WM_32 && level == 2)
			base = (ent & 0xffc00000u) | ((ent >> 13) & 0xff) << 32;
		else
			base = ent & (BIT(52) - 1) & ~(size - 1);
		w->gpa = base | (la & (size - 1));
		w->page_mask = ~(size - 1);
		w->writable = rw;
		w->user = us;
		w->executable = !xd;
		w->global = (ent & PTE_G) && (cpu->cr4 & X86_CR4_PGE);

		if (!(flags & X86_WALK_NO_CHECK) &&
		    !access_allowed(cpu, acc, flags, rw, us, !xd)) {
			w->error_code = ec | X86_PF_P;
			return false;
		}
		if (flags & X86_WALK_NO_AD)
			return true;

		/* SDM 4.8: A in every entry used (PAE PDPTEs have none), D in
		 * the leaf on a write. */
		bool changed = false;
		unsigned top = m == WM_PAE ? 2 : modes[m].levels;
		for (unsigned l = top; l >= level && !changed; l--) {
			u64 set = PTE_A | (l == level && (acc & X86_PF_W) ? PTE_D : 0);
			/* Paging structures in a read-only slot keep their bits,
			 * as KVM's walker does (the host mapping may well be
			 * read-only); a bit we do set is a guest write to the
			 * table page, so it goes into the dirty log. */
			if ((slots[l - 1]->flags & KVM_MEM_READONLY) ||
			    (ents[l - 1] & set) == set)
				continue;
			changed = !set_entry_bits(ptrs[l - 1], bytes, ents[l - 1], set);
			if (!changed) {
				mem_slot_mark_dirty(slots[l - 1], gpas[l - 1], cpu->dirty_ring);
				if (w->n_ad < 5)
					w->ad[w->n_ad++] = ptrs[l - 1];
			}
		}
		if (!changed || tries >= 64)
			return true;
	}
}
