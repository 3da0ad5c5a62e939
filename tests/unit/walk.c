/*
 * Unit tests of the page walker (src/x86/mmu.c), no fds involved: page
 * tables are built in a buffer that one memslot maps at guest-physical 0.
 * Expectations come from SDM Vol. 3A chapter 4 (4.3-4.8), not from the
 * walker.  Build and run (see docs/cpu-model.md):
 *
 *   gcc -std=gnu11 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined \
 *       -Isrc tests/unit/walk.c src/x86/mmu.c src/x86/cpuid.c src/mem/memslot.c \
 *       -lpthread -o build/unit-walk && build/unit-walk
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "x86/cpuid.h"
#include "x86/mmu.h"
#include "unit_t.h"

#define MEM (4u << 20)

static u8 *ram;
static struct mem_map map;
static struct mem_slot slot;
static struct x86_cpu cpu;
static struct x86_cpuid_entry cpuid[4];

/* Lives in x86/reset.c, which brings the rest of the CPU with it. */
const struct x86_cpuid_entry *x86_cpuid_find(const struct x86_cpu *c, u32 fn, u32 idx)
{
	return x86_cpuid_find_in(c->cpuid, c->cpuid_nent, fn, idx);
}


static void put32(u64 gpa, u32 v) { memcpy(ram + gpa, &v, 4); }
static void put64(u64 gpa, u64 v) { memcpy(ram + gpa, &v, 8); }
static u32 get32(u64 gpa) { u32 v; memcpy(&v, ram + gpa, 4); return v; }
static u64 get64(u64 gpa) { u64 v; memcpy(&v, ram + gpa, 8); return v; }

#define P BIT(0)
#define RW BIT(1)
#define US BIT(2)
#define A BIT(5)
#define D BIT(6)
#define PS BIT(7)
#define G BIT(8)
#define XD BIT(63)

static struct x86_walk w;

/* Walk and expect success at gpa. */
static int walk_ok(u64 la, u32 acc, u32 flags, u64 gpa)
{
	return x86_walk(&cpu, &map, 0, la, acc, flags, &w) && w.gpa == gpa;
}

/* Walk and expect a fault with error code ec. */
static int walk_fault(u64 la, u32 acc, u32 flags, u32 ec)
{
	bool r = x86_walk(&cpu, &map, 0, la, acc, flags, &w);
	if (r || w.error_code != ec)
		printf("#   la %#llx acc %#x: got %s ec %#x, want fault ec %#x\n",
		       (unsigned long long)la, acc, r ? "success" : "fault", w.error_code, ec);
	return !r && w.error_code == ec;
}

static void reset(u64 cr0, u64 cr4, u64 efer, u64 cr3)
{
	memset(ram, 0, MEM);
	memset(&cpu, 0, sizeof(cpu));
	cpu.cr0 = cr0 | X86_CR0_PE;
	cpu.cr4 = cr4;
	cpu.efer = efer;
	cpu.cr3 = cr3;
	cpu.rflags = X86_FL_FIXED1;
	cpu.cpuid = cpuid;
	cpu.cpuid_nent = 0;
}

/* Guest CPUID: MAXPHYADDR and 1-GByte pages. */
static void set_cpuid(unsigned maxphy, bool gbpages)
{
	cpuid[0] = (struct x86_cpuid_entry){.function = 0x80000000, .eax = 0x80000008};
	cpuid[1] = (struct x86_cpuid_entry){.function = 0x80000008, .eax = maxphy | 48 << 8};
	cpuid[2] = (struct x86_cpuid_entry){.function = 0x80000001, .edx = gbpages ? BIT(26) : 0};
	cpu.cpuid_nent = 3;
}

/* Guest vendor AMD (leaf 0 after the set_cpuid entries). */
static void set_amd(void)
{
	cpuid[3] = (struct x86_cpuid_entry){.function = 0, .eax = 0xd, .ebx = 0x68747541,
					    .ecx = 0x444d4163, .edx = 0x69746e65};
	cpu.cpuid_nent = 4;
}

#define PG X86_CR0_PG
#define WP X86_CR0_WP
#define W X86_PF_W
#define U X86_PF_U
#define I X86_PF_I
#define PF_P X86_PF_P
#define RSVD X86_PF_RSVD

static void test_paging_off(void)
{
	reset(0, 0, 0, 0);
	cpu.cr0 = X86_CR0_PE;
	OK(walk_ok(0x12345, 0, 0, 0x12345), "paging off: identity");
	OK(walk_ok(0x123456789ULL, W | U, 0, 0x123456789ULL), "paging off: not truncated");
	OK(w.writable && w.user && w.executable, "paging off: all permissions");
}

static void test_32bit(void)
{
	/* PD at 0x1000, PT at 0x2000. */
	reset(PG, 0, 0, 0x1000);
	put32(0x1000 + 1 * 4, 0x2000 | P | RW | US);
	put32(0x2000 + 3 * 4, 0x5000 | P | RW | US);
	OK(walk_ok(0x00403123, 0, 0, 0x5123), "32-bit: 4K read");
	OK(w.page_mask == ~0xfffULL, "32-bit: 4K page mask");
	OK((get32(0x1004) & A) && (get32(0x200c) & A), "32-bit: accessed bits set");
	OK(!(get32(0x200c) & D), "32-bit: read leaves dirty clear");
	OK(walk_ok(0x00403123, W, 0, 0x5123), "32-bit: 4K write");
	OK(get32(0x200c) & D, "32-bit: write sets dirty");
	OK(!(get32(0x1004) & D), "32-bit: dirty only in the leaf");
	OK(walk_ok(0x100403123ULL, 0, 0, 0x5123), "32-bit: linear address bits 63:32 ignored");

	put32(0x2000 + 4 * 4, 0x6000 | RW | US); /* not present */
	OK(walk_fault(0x00404000, 0, 0, 0), "32-bit: not present, supervisor read");
	OK(walk_fault(0x00404000, W | U, 0, W | U), "32-bit: not present, user write");
	OK(walk_fault(0x00404000, I, 0, 0), "32-bit: fetch has no I flag without SMEP/NX");
	OK(walk_fault(0x00800000, 0, 0, 0), "32-bit: PDE not present");

	/* 4-MByte pages need CR4.PSE; PSE-36 puts address bits 39:32 in 20:13. */
	put32(0x1000 + 2 * 4, 0x00c00000 | P | RW | PS);
	OK(walk_fault(0x00812345, 0, 0, 0), "32-bit: PS ignored without CR4.PSE");
	cpu.cr4 = X86_CR4_PSE;
	OK(walk_ok(0x00812345, 0, 0, 0x00c12345), "32-bit: 4M page");
	OK(w.page_mask == ~0x3fffffULL, "32-bit: 4M page mask");
	put32(0x1000 + 3 * 4, 0x00400000 | 5u << 13 | P | PS);
	OK(walk_ok(0x00c00010, 0, 0, 0x500400010ULL), "32-bit: PSE-36 high address bits");
	put32(0x1000 + 3 * 4, 0x00400000 | BIT(17) | P | PS);
	OK(walk_fault(0x00c00010, 0, 0, PF_P | RSVD), "32-bit: PSE-36 bit above MAXPHYADDR 36");
	set_cpuid(40, false);
	OK(walk_ok(0x00c00010, 0, 0, 0x1000400010ULL), "32-bit: PSE-36 bit 17 with MAXPHYADDR 40");
	put32(0x1000 + 3 * 4, 0x00400000 | BIT(21) | P | PS);
	OK(walk_fault(0x00c00010, 0, 0, PF_P | RSVD), "32-bit: 4M PDE bit 21 is reserved");

	/* Permissions (SDM 4.6). */
	put32(0x2000 + 5 * 4, 0x7000 | P);	       /* supervisor, read-only */
	OK(walk_fault(0x00405000, U, 0, PF_P | U), "32-bit: user read of supervisor page");
	OK(walk_ok(0x00405000, W, 0, 0x7000), "32-bit: supervisor write, WP=0");
	cpu.cr0 |= WP;
	OK(walk_fault(0x00405000, W, 0, PF_P | W), "32-bit: supervisor write, WP=1");
	OK(walk_ok(0x00405000, W, X86_WALK_NO_CHECK, 0x7000), "32-bit: NO_CHECK skips permissions");
	put32(0x2000 + 6 * 4, 0x8000 | P | US);	       /* user, read-only */
	OK(walk_fault(0x00406000, W | U, 0, PF_P | W | U), "32-bit: user write of read-only page");
	OK(walk_ok(0x00406000, U | I, 0, 0x8000), "32-bit: user fetch (no NX in 32-bit paging)");
	OK(w.user && !w.writable && w.executable, "32-bit: reported permissions");
}

static void test_pae(void)
{
	/* PDPT at 0x3020 (32-byte aligned), PD at 0x4000, PT at 0x6000. */
	reset(PG, X86_CR4_PAE, 0, 0x3020);
	put64(0x3020, 0x4000 | P);
	put64(0x4000 + 1 * 8, 0x6000 | P | RW | US);
	put64(0x6000 + 2 * 8, 0x9000 | P | RW | US);
	OK(walk_ok(0x00202abc, 0, 0, 0x9abc), "PAE: 4K read");
	OK(!(get64(0x3020) & A), "PAE: no accessed bit in the PDPTE");
	OK(get64(0x4008) & A, "PAE: accessed bit in the PDE");
	put64(0x4000 + 2 * 8, 0x200000 | P | RW | PS);
	OK(walk_ok(0x00412345, 0, 0, 0x212345), "PAE: 2M page");
	OK(w.page_mask == ~0x1fffffULL, "PAE: 2M page mask");
	put64(0x4000 + 3 * 8, 0x200000 | BIT(13) | P | PS);
	OK(walk_fault(0x00600000, 0, 0, PF_P | RSVD), "PAE: 2M PDE bit 13 reserved");
	OK(walk_fault(0x40000000, 0, 0, 0), "PAE: PDPTE not present");
	put64(0x3028, 0x4000 | P | RW);
	OK(walk_fault(0x40000000, 0, 0, PF_P | RSVD), "PAE: PDPTE R/W is reserved");
	put64(0x3028, 0x4000 | P | XD);
	cpu.efer = X86_EFER_NXE;
	OK(walk_fault(0x40000000, 0, 0, PF_P | RSVD), "PAE: PDPTE XD is reserved even with NXE");

	put64(0x6000 + 3 * 8, 0xa000 | P | RW | XD);
	cpu.efer = 0;
	OK(walk_fault(0x00203000, 0, 0, PF_P | RSVD), "PAE: XD reserved without NXE");
	cpu.efer = X86_EFER_NXE;
	OK(walk_ok(0x00203000, 0, 0, 0xa000), "PAE: XD page readable with NXE");
	OK(!w.executable, "PAE: XD page not executable");
	OK(walk_fault(0x00203000, I, 0, PF_P | I), "PAE: fetch of XD page");
	put64(0x6000 + 4 * 8, 0xb000 | BIT(40) | P);
	OK(walk_fault(0x00204000, 0, 0, PF_P | RSVD), "PAE: bit above MAXPHYADDR 36");
	OK(walk_fault(0x00205000, I, 0, I), "PAE: not-present fetch has I with NXE");
	OK(walk_ok(0x100202abcULL, 0, 0, 0x9abc), "PAE: linear address bits 63:32 ignored");
}

/* 4-level tables: PML4 0x8000, PDPT 0x9000, PD 0xa000, PT 0xb000. */
static void build_l4(void)
{
	put64(0x8000, 0x9000 | P | RW | US);
	put64(0x9000, 0xa000 | P | RW | US);
	put64(0xa000, 0xb000 | P | RW | US);
	put64(0xb000 + 1 * 8, 0x11000 | P | RW | US);
	put64(0xb000 + 2 * 8, 0x12000 | P | RW | G);
	put64(0xb000 + 3 * 8, 0x13000 | P | RW | US | XD);
}

static void test_l4(void)
{
	u64 efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
	reset(PG | WP, X86_CR4_PAE, efer, 0x8000);
	build_l4();
	OK(walk_ok(0x1234, U, 0, 0x11234), "4-level: user read");
	OK((get64(0x8000) & A) && (get64(0x9000) & A) && (get64(0xa000) & A) &&
	   (get64(0xb008) & A), "4-level: accessed bits at every level");
	OK(walk_ok(0x1234, W | U, 0, 0x11234) && (get64(0xb008) & D), "4-level: write sets dirty");
	OK(walk_ok(0x2000, 0, 0, 0x12000) && !w.global, "4-level: G without PGE is not global");
	cpu.cr4 |= X86_CR4_PGE;
	OK(walk_ok(0x2000, 0, 0, 0x12000) && w.global, "4-level: G with PGE is global");
	OK(walk_fault(0x2000, U, 0, PF_P | U), "4-level: user read of supervisor page");
	OK(walk_fault(0x3000, U | I, 0, PF_P | U | I), "4-level: user fetch of XD page");
	OK(walk_fault(0x4000, W, 0, W), "4-level: not present write");
	put64(0x8000 + 256 * 8, 0x9000 | P | RW | US);
	OK(walk_ok(0xffff800000001234ULL, 0, 0, 0x11234), "4-level: PML4 index from bits 47:39");

	/* Reserved bits. */
	put64(0x8000 + 1 * 8, 0x9000 | P | PS);
	OK(walk_fault(1ULL << 39, 0, 0, PF_P | RSVD), "4-level: PS in a PML4E is reserved");
	put64(0x9000 + 1 * 8, 0x40000000 | P | RW | PS);
	OK(walk_fault(1ULL << 30, 0, 0, PF_P | RSVD), "4-level: 1G page without PDPE1GB");
	set_cpuid(48, true);
	OK(walk_ok((1ULL << 30) + 0x12345678, 0, 0, 0x52345678), "4-level: 1G page");
	OK(w.page_mask == ~0x3fffffffULL, "4-level: 1G page mask");
	put64(0x9000 + 1 * 8, 0x40000000 | BIT(29) | P | PS);
	OK(walk_fault(1ULL << 30, 0, 0, PF_P | RSVD), "4-level: 1G PDPTE bit 29 reserved");
	put64(0xb000 + 5 * 8, 0x15000 | BIT(45) | P);
	OK(walk_ok(0x5000, 0, 0, 0x200000015000ULL), "4-level: bit 45 with MAXPHYADDR 48");
	set_cpuid(36, true);
	OK(walk_fault(0x5000, 0, 0, PF_P | RSVD), "4-level: bit 45 with MAXPHYADDR 36");
	put64(0xb000 + 6 * 8, 0x16000 | BIT(52) | BIT(62) | P);
	OK(walk_ok(0x6000, 0, 0, 0x16000), "4-level: bits 62:52 are ignored");
	cpu.efer &= ~X86_EFER_NXE;
	OK(walk_fault(0x3000, 0, 0, PF_P | RSVD), "4-level: XD reserved without NXE");
	OK(walk_fault(0x7000, I, 0, 0), "4-level: fetch without NXE or SMEP has no I");
	cpu.efer |= X86_EFER_NXE;

	/* Bit 8 of a PML4E: ignored on Intel, must be zero on AMD. */
	put64(0x8000 + 2 * 8, 0x9000 | P | RW | G);
	OK(walk_ok((2ULL << 39) | 0x1234, 0, 0, 0x11234), "4-level: PML4E bit 8 ignored (Intel)");
	set_amd();
	OK(walk_fault((2ULL << 39) | 0x1234, 0, 0, PF_P | RSVD), "4-level: PML4E bit 8 reserved (AMD)");
	OK(walk_ok(0x2000, 0, 0, 0x12000), "4-level: PTE G bit fine (AMD)");
	set_cpuid(36, true);

	/* SMEP and SMAP. */
	OK(walk_ok(0x1000, I, 0, 0x11000), "4-level: supervisor fetch of user page, no SMEP");
	cpu.cr4 |= X86_CR4_SMEP;
	OK(walk_fault(0x1000, I, 0, PF_P | I), "SMEP: supervisor fetch of user page");
	OK(walk_ok(0x1000, 0, 0, 0x11000), "SMEP: supervisor read of user page");
	OK(walk_ok(0x1000, U | I, 0, 0x11000), "SMEP: user fetch of user page");
	cpu.cr4 = (cpu.cr4 & ~X86_CR4_SMEP) | X86_CR4_SMAP;
	OK(walk_fault(0x1000, 0, 0, PF_P), "SMAP: supervisor read of user page, AC=0");
	OK(walk_fault(0x1000, W, 0, PF_P | W), "SMAP: supervisor write of user page, AC=0");
	OK(walk_ok(0x1000, I, 0, 0x11000), "SMAP: fetches are not SMAP's business");
	cpu.rflags |= X86_FL_AC;
	OK(walk_ok(0x1000, W, 0, 0x11000), "SMAP: explicit access with AC=1");
	OK(walk_fault(0x1000, 0, X86_WALK_IMPLICIT_SV, PF_P), "SMAP: implicit access ignores AC");
	OK(walk_ok(0x2000, 0, X86_WALK_IMPLICIT_SV, 0x12000), "SMAP: implicit access to supervisor page");
	OK(walk_ok(0x1000, U, 0, 0x11000), "SMAP: user access unaffected");
	put64(0xb000 + 7 * 8, 0x17000 | P | US);
	OK(walk_fault(0x7000, W, 0, PF_P | W), "SMAP+AC: read-only user page, WP=1");
	cpu.cr0 &= ~WP;
	OK(walk_ok(0x7000, W, 0, 0x17000), "SMAP+AC: read-only user page, WP=0");

	/* NO_AD leaves the tables alone. */
	put64(0xb000 + 8 * 8, 0x18000 | P | RW);
	OK(walk_ok(0x8000, W, X86_WALK_NO_AD, 0x18000) && !(get64(0xb040) & (A | D)),
	   "NO_AD: no accessed or dirty bit");
	/* Permission faults set no accessed bit either. */
	put64(0xb000 + 9 * 8, 0x19000 | P);
	OK(walk_fault(0x9000, U, 0, PF_P | U) && !(get64(0xb048) & A),
	   "a faulting access sets no accessed bit");

	/* A paging structure outside RAM. */
	cpu.cr3 = 0x10000000;
	OK(!x86_walk(&cpu, &map, 0, 0x1000, 0, 0, &w) && w.pt_not_ram, "paging structure not in RAM");
	OK(!x86_walk(&cpu, &map, 1, 0x1000, 0, 0, &w) && w.pt_not_ram, "address space 1 has no RAM");
}

static void test_l5(void)
{
	u64 efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
	reset(PG, X86_CR4_PAE | X86_CR4_LA57, efer, 0xc000);
	build_l4();
	put64(0xc000 + 1 * 8, 0x8000 | P | RW | US);
	OK(walk_ok((1ULL << 48) | 0x1234, 0, 0, 0x11234), "5-level: PML5 index from bits 56:48");
	OK(get64(0xc008) & A, "5-level: accessed bit in the PML5E");
	OK(walk_fault(0x1234, 0, 0, 0), "5-level: PML5E 0 not present");
	put64(0xc000 + 2 * 8, 0x8000 | P | PS);
	OK(walk_fault(2ULL << 48, 0, 0, PF_P | RSVD), "5-level: PS in a PML5E is reserved");
	put64(0xc000 + 256 * 8, 0x8000 | P | RW); /* bit 56 set: index 256 */
	OK(walk_ok(0xff00000000002000ULL, 0, 0, 0x12000), "5-level: top of the address space");
}

int main(void)
{
	ram = aligned_alloc(4096, MEM);
	if (!ram)
		return 1;
	slot = (struct mem_slot){.id = 0, .gpa = 0, .size = MEM, .hva = ram};
	map.nr[0] = 1;
	map.slots[0] = &slot;

	test_paging_off();
	test_32bit();
	test_pae();
	test_l4();
	test_l5();

	printf("1..%d\n", n_tests);
	free(ram);
	return n_failed ? 1 : 0;
}
