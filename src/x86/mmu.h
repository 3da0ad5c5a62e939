/*
 * The guest page walker, written once for every paging mode (none, 32-bit
 * with PSE/PSE-36, PAE, 4-level, 5-level) and used by both the engine (soft
 * TLB fills) and KVM_TRANSLATE.  Owner: x86/mmu.c.
 */
#ifndef SOFTKVM_X86_MMU_H
#define SOFTKVM_X86_MMU_H

#include "mem/memslot.h"
#include "x86/cpu.h"

/* #PF error code bits (SDM Vol. 3A 4.7); also the access kind of a walk. */
#define X86_PF_P BIT(0)	   /* the fault was a protection violation */
#define X86_PF_W BIT(1)	   /* write access */
#define X86_PF_U BIT(2)	   /* user-mode (CPL 3, explicit) access */
#define X86_PF_RSVD BIT(3) /* reserved bit set in a paging entry */
#define X86_PF_I BIT(4)	   /* instruction fetch */
#define X86_PF_PK BIT(5)   /* protection key */

/* Walk flags */
#define X86_WALK_NO_AD BIT(0)	     /* do not set accessed/dirty (KVM_TRANSLATE) */
#define X86_WALK_IMPLICIT_SV BIT(1) /* implicit supervisor access (SMAP ignores AC) */
#define X86_WALK_NO_CHECK BIT(2)    /* translate only, no permission checks */

struct x86_walk {
	u64 gpa;	 /* the translated guest-physical address */
	u64 page_mask;	 /* ~(page size - 1): 4K, 2M, 4M or 1G */
	u32 error_code;	 /* #PF error code when the walk faults */
	bool writable;	 /* effective permissions of the whole walk */
	bool user;
	bool executable;
	bool global;
	bool pt_not_ram; /* a paging structure is not in RAM (KVM fails the access) */
	u8 n_ad;	 /* entries whose A/D bits the walk set, at ad[] (host) */
	u8 *ad[5];
};

/*
 * Translate linear address la for an access of kind acc (X86_PF_W/U/I).
 * Returns true with w->gpa filled, or false with w->error_code (and
 * w->pt_not_ram) set; the caller raises #PF with CR2 = la.  With paging
 * off, gpa = la (truncated to 32 bits outside long mode).
 * Address space 0 or 1 (SMM) is the caller's choice via `as`.
 */
bool x86_walk(const struct x86_cpu *cpu, const struct mem_map *map, u32 as, u64 la,
	      u32 acc, u32 flags, struct x86_walk *w);

#endif
