/*
 * The JIT: hot decoded blocks of 64-bit code become host code behind the
 * same block interface (see docs/engine.md, "JIT").
 */
#ifndef SOFTKVM_X86_JIT_H
#define SOFTKVM_X86_JIT_H

#include "x86/exec.h"

/* A translated block: called with the engine, its CPU and the TLB user
 * bit.  Returns -1 when execution left the block (cpu->rip and flags are
 * exact), else the index of the next instruction for the interpreter. */
typedef int (*jit_fn)(struct engine *e, struct x86_cpu *cpu, u64 user);

/* SKVM_JIT=0 turns the JIT off; SKVM_JIT_THRESHOLD=n sets how many runs
 * make a block hot (default 8). */
bool jit_enabled(void);
unsigned jit_threshold(void);

void jit_destroy(struct engine *e);
/* A SIGSEGV/SIGBUS in slot memory (ucontext uc): if translated code made
 * the access, cpu->rip <- the instruction's (translated code stores RIP
 * before C calls and exits only). */
void jit_host_fault(struct engine *e, void *uc);
/* Translate b->insns[0..b->n) (e->code64 only); false if it cannot. */
bool jit_translate(struct engine *e, struct block *b);

/* engine.c: execute one instruction of a block and commit it; true when
 * the block must be left (exit, branch taken, TLB or mode change). */
bool exec_in_block(struct engine *e, const struct insn *i);
/* engine.c: the translated block at host to go on with when nothing for
 * the run loop to do at this block boundary (boundary_quiet) and its
 * bytes still match memory, else NULL. */
struct block *block_chain(struct engine *e, const u8 *host);


#endif
