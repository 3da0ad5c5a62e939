/*
 * The two worlds the differential testers (diff.c, x87.c) run a stream in:
 * natively in this process at CPL 3, and in a 64-bit ring-3 guest under
 * KVM, both on the address space of layout.h.  Also their random numbers
 * and the CPUID gates that decide which forms both sides can run.
 */
#ifndef SKVM_DIFF_WORLD_H
#define SKVM_DIFF_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "tvm.h"

/* The record of the exception that ended a stream (layout.h FAULT_*). */
struct fault {
	uint64_t vec, err, rip, cs, rflags, rsp, cr2;
	uint64_t gpr[16];
};

/* A stream's code as it is generated. */
struct code {
	uint8_t b[DIFF_CODE_SIZE];
	size_t len;
};
void emit(struct code *c, const void *p, size_t n);
void emit8(struct code *c, uint8_t v);
void emit32(struct code *c, uint32_t v);

/* xorshift64*, reproducible from the seed (rng_state = seed | 1) */
extern uint64_t rng_state;
uint64_t rnd(void);
unsigned rn(unsigned n);

/* Native world (kernel.S): a stream placed at native_user runs from
 * diff_native_enter() and comes back at diff_native_end, or through the
 * signal handler, which fills native_fault and sets native_faulted. */
extern void diff_native_enter(void);
extern void diff_native_end(void);
extern uint8_t *native_user;
extern struct fault native_fault;
extern volatile int native_faulted;
/* Maps [DIFF_USER, mapped_end) and the data window, installs the handler. */
int native_setup(uint64_t mapped_end, char *err, size_t n);

/* Guest world: the VM, identity-mapped, with kernel.S as its ring-0 code
 * and the user region present in 4K pages [DIFF_USER, mapped_end) and the
 * window.  guest_map() leaves the sregs to the caller (guest_sregs()), and
 * guest_enter() makes the first entry, up to the kernel's first OUT.
 * Returns 0; 1 the VM refused; 2 the backend gave up (internal error);
 * -1 another failure, with err filled. */
extern struct tvm vm;
int guest_map(uint64_t mapped_end, char *err, size_t n);
int guest_sregs(uint64_t cr4_set, char *err, size_t n);
int guest_enter(char *err, size_t n);

/* A CPUID feature bit (reg: 0 eax .. 3 edx) of the host CPU / of the
 * guest's CPUID (SKVM_DIFF_HOST_FEATURES=1: the host's alone, to validate
 * forms against a host that hides features from its supported CPUID). */
int host_has(unsigned leaf, unsigned sub, int reg, int bit);
int guest_has(unsigned leaf, unsigned sub, int reg, int bit);

#endif
