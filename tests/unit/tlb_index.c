/*
 * The soft TLB's index (tlb_index, src/x86/exec.h; docs/engine.md, "Soft
 * TLB").  jit.c's inline probe takes the entry from an access's first
 * byte and compares its tag with the last byte's page, which is sound
 * only if two adjacent pages never share an entry: checked for every page
 * of the low 4 GiB, around the top of each canonical half and at the
 * 2^64 wrap.  Buffers 1-64 MiB apart (power-of-two multiples of 1 MiB,
 * saxpy's x and y) must not share entries either.
 */
#include "x86/exec.h"
#include "unit_t.h"

int main(void)
{
	int adjacent = 0;
	for (u64 p = 0; p < (1ull << 20); p++)
		adjacent += tlb_index(p << 12) == tlb_index((p + 1) << 12);
	static const u64 tops[] = {0x00007ffffffff000ull, 0xffff7ffffffff000ull,
				   0xfffffffffffff000ull, 0x0000000fffff8000ull};
	for (unsigned k = 0; k < sizeof(tops) / sizeof(tops[0]); k++)
		for (u64 d = 0; d < (1u << 24); d += 4096)
			adjacent += tlb_index(tops[k] - d) == tlb_index(tops[k] - d + 4096);
	EQ(adjacent, 0, "no two adjacent pages share a TLB entry");
	int apart = 0;
	for (u64 mib = 1; mib <= 64; mib <<= 1)
		for (u64 p = 0; p < (1ull << 18); p++)
			apart += tlb_index(p << 12) == tlb_index((p << 12) + (mib << 20));
	EQ(apart, 0, "pages 1, 2, 4 .. 64 MiB apart do not share an entry");
	return done();
}
