/* TLB invalidation a guest may rely on (SDM Vol. 3A 4.10.4): INVLPG of
 * any address in a 2 MiB page drops the whole page's translation, global
 * or not; INVLPG drops a global 4K translation; clearing and setting
 * CR4.PGE drops global ones; MOV to CR3 drops non-global ones.  Each
 * remap points a page at other memory, so a stale translation reads the
 * old marker.  (A global translation surviving MOV to CR3 is allowed but
 * not required, so it is not checked.) */
#include "guest.h"
#define PD 0x4000		/* the runner's page directory: 2 MiB pages */
#define PT 0x40000		/* ours, for the 4K pages at VA4K */
#define OLD 0x230000		/* physical markers: 2 MiB + 0x30000 ... */
#define NEW 0x030000		/* ... and 0x30000, 2 MiB apart */
#define VA2M 0xc800000		/* PDE 100 */
#define VA4K 0xca00000		/* PDE 101 -> PT */
#define G 0x100
#define PS 0x80

	GUEST_MODE 64
	.code64
	.globl _start
_start:
	movq $0xbbbb, OLD
	movq $0xaaaa, NEW
	movq $0xcccc, OLD + 0x1000
	movq $0xdddd, NEW + 0x1000
	mov %cr4, %rax
	bts $7, %rax			/* CR4.PGE */
	mov %rax, %cr4

	/* a global 2 MiB page at physical 2 MiB, read at offset 0x30000 */
	movq $0x200000 | G | PS | 3, PD + 100 * 8
	mov %cr3, %rax
	mov %rax, %cr3
	mov VA2M + 0x30000, %rax
	CHECK_EQ $0xbbbb, %rax, "2 MiB page: the old marker"
	/* remapped to physical 0; INVLPG names another 4K part of it */
	movq $0x000000 | G | PS | 3, PD + 100 * 8
	invlpg VA2M + 0x1ff000
	mov VA2M + 0x30000, %rax
	CHECK_EQ $0xaaaa, %rax, "INVLPG anywhere in a 2 MiB page drops all of it"

	/* 4K pages: VA4K global, VA4K + 0x1000 not */
	xor %eax, %eax
	mov $PT, %edi
	mov $512, %ecx
	rep stosq
	movq $OLD | G | 3, PT
	movq $(OLD + 0x1000) | 3, PT + 8
	movq $PT | 3, PD + 101 * 8
	mov %cr3, %rax
	mov %rax, %cr3
	mov VA4K, %rax
	CHECK_EQ $0xbbbb, %rax, "global 4K page: the old marker"
	mov VA4K + 0x1000, %rax
	CHECK_EQ $0xcccc, %rax, "non-global 4K page: the old marker"

	movq $NEW | G | 3, PT
	invlpg VA4K
	mov VA4K, %rax
	CHECK_EQ $0xaaaa, %rax, "INVLPG drops a global translation"

	movq $OLD | G | 3, PT
	mov %cr4, %rax
	btr $7, %rax
	mov %rax, %cr4
	bts $7, %rax
	mov %rax, %cr4
	mov VA4K, %rax
	CHECK_EQ $0xbbbb, %rax, "clearing CR4.PGE drops global translations"

	movq $(NEW + 0x1000) | 3, PT + 8
	mov %cr3, %rax
	mov %rax, %cr3
	mov VA4K + 0x1000, %rax
	CHECK_EQ $0xdddd, %rax, "MOV to CR3 drops a non-global translation"

	/* the same through a code fetch: a global page of code remapped */
	movq $0xc3, OLD + 0x2000	/* ret */
	movl $0x90c3c031, NEW + 0x2000	/* xor %eax,%eax; ret; nop */
	movq $(OLD + 0x2000) | G | 3, PT + 16
	mov $1, %eax
	call VA4K + 0x2000
	CHECK_EQ $1, %eax, "code in a global page: the old bytes run"
	movq $(NEW + 0x2000) | G | 3, PT + 16
	invlpg VA4K + 0x2000
	mov $1, %eax
	call VA4K + 0x2000
	CHECK_EQ $0, %eax, "after INVLPG the remapped code runs"
	EXPECT_HLT
	hlt
