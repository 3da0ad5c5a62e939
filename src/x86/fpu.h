/*
 * The engine's view of the x87/SSE/AVX state in cpu->xsave, shared by the
 * x87 (x87.c), XSAVE-family (xsave.c) and SIMD code.
 */
#ifndef SOFTKVM_X86_FPU_H
#define SOFTKVM_X86_FPU_H

#include "x86/exec.h"

/*
 * Make the components in mask (X86_XFEATURE_*) live.  A component whose
 * XSTATE_BV bit is clear is in its init state whatever the image holds (as
 * the kernel's guest FPU buffer after reset, or after KVM_SET_XSAVE): this
 * writes the init values and sets the bit.  x86_run does it for every
 * component at entry, so while the engine runs the raw image (FCW, MXCSR,
 * XMM, ...) is the architectural state and instruction code may use it
 * directly; XSTATE_BV then only says "may be in use", which the SDM allows
 * (Vol. 1 13.6: XINUSE[i] may be 1 for a component in its init state).
 */
void fpu_use(struct x86_cpu *cpu, u64 mask);
/* The FXSAVE image the guest sees: the raw one with init state for
 * components that are not live. */
void fpu_legacy_view(const struct x86_cpu *cpu, struct x86_fxsave *out);

/* Tag words (SDM Vol. 1 8.1.7, 10.5.1.1). */
u16 x87_full_tag(const struct x86_fxsave *fx);
u8 x87_abridged_tag(u16 full);

/* Guest memory of n bytes at seg:off: every page is checked (segment and
 * paging faults) before anything is read or written. */
u64 fpu_mem_check(struct engine *e, int seg, u64 off, u32 n, bool write);
void fpu_mem_read(struct engine *e, int seg, u64 off, void *buf, u32 n);
void fpu_mem_write(struct engine *e, int seg, u64 off, const void *buf, u32 n);

#endif
