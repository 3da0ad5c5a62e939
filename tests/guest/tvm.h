/*
 * A minimal VMM for test guests (guest tests, the differential tester, the
 * benchmarks): a plain KVM client of <linux/kvm.h> and open("/dev/kvm").
 *
 * Guest physical memory is one anonymous mapping of mem_size bytes exposed
 * as two memslots, [0, 0xA0000) and [0x100000, mem_size): the 640K-1M hole
 * is MMIO.  Long mode uses runner-built structures below 0x8000:
 *
 *   0x1000 GDT   0x08 code64, 0x10 data, 0x18 code32, 0x20 user data,
 *                0x28 user code64, 0x30 TSS (16 bytes), 0x40 user code32
 *   0x2000 PML4  0x3000 PDPT  0x4000 PD (2 MiB pages, the first GiB)
 *   0x6000 TSS   stack top 0x7000
 */
#ifndef SKVM_TVM_H
#define SKVM_TVM_H

#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#define TVM_GDT 0x1000
#define TVM_PML4 0x2000
#define TVM_PDPT 0x3000
#define TVM_PD 0x4000
#define TVM_TSS 0x6000
#define TVM_STACK 0x7000
#define TVM_HOLE 0xA0000
#define TVM_HIGH 0x100000
#define TVM_GUARD 0x10000	/* PROT_NONE on both sides of guest memory */

#define TVM_SEL_CODE64 0x08
#define TVM_SEL_DATA 0x10
#define TVM_SEL_CODE32 0x18
#define TVM_SEL_UDATA 0x23
#define TVM_SEL_UCODE64 0x2b
#define TVM_SEL_TSS 0x30
#define TVM_SEL_UCODE32 0x43

/* Page-table bits (SDM vol. 3 4.5) */
#define TVM_PTE_P 0x1ull
#define TVM_PTE_W 0x2ull
#define TVM_PTE_U 0x4ull
#define TVM_PTE_PS 0x80ull

struct tvm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
	size_t mem_size;
	struct kvm_cpuid2 *cpuid;
	char err[160];	/* what failed, for a TAP line */
	int err_errno;
};

/* Create VM + one vCPU + memory.  Returns 0, or -1 with t->err set. */
int tvm_create(struct tvm *t, size_t mem_size);
/* The same with KVM_SET_USER_MEMORY_REGION flags on both slots, and a dirty
 * ring of ring_bytes per vCPU enabled before the vCPU (0: none). */
int tvm_create_logged(struct tvm *t, size_t mem_size, uint32_t slot_flags, uint32_t ring_bytes);
void tvm_destroy(struct tvm *t);

/* KVM_GET_SUPPORTED_CPUID -> KVM_SET_CPUID2 (long mode needs LM in the
 * guest's CPUID on real KVM).  The table is kept for tvm_cpuid(). */
int tvm_set_cpuid(struct tvm *t);
const struct kvm_cpuid_entry2 *tvm_cpuid(const struct tvm *t, uint32_t fn, uint32_t idx);

/* Initial mode: 16 (CS=0 base 0), 32 (flat protected), 64 (long mode,
 * identity paging of the first GiB; user != 0 sets U/S on every mapping). */
int tvm_setup_mode(struct tvm *t, int bits, uint64_t entry, int user);

static inline void *tvm_ptr(struct tvm *t, uint64_t gpa)
{
	return t->mem + gpa;
}

/*
 * The engine has landed: an emulation failure under softkvm is a failure.
 * SKVM_ALLOW_UNIMPL=1 turns honest "not implemented" exits back into TODO,
 * for work on a guest that needs an instruction not yet implemented.
 */
static inline int tvm_allow_unimpl(void)
{
	const char *e = getenv("SKVM_ALLOW_UNIMPL");
	return e && e[0] == '1';
}

#endif
