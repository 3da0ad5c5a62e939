/*
 * The differential tester's address space, identical in the host process
 * (native runs) and in the guest (identity-mapped, ring 3), so the same
 * position-dependent code runs in both.  Shared by C and assembly.
 */
#ifndef SKVM_DIFF_LAYOUT_H
#define SKVM_DIFF_LAYOUT_H

#define DIFF_USER 0x400000	/* user region: mapped U/S in the guest */
#define DIFF_CODE DIFF_USER	/* the stream, 16 KiB */
#define DIFF_CODE_SIZE 0x4000
#define DIFF_SLOTS (DIFF_USER + 0x4000)	/* register state after each step */
#define DIFF_SLOTS_SIZE 0x4000
#define DIFF_MISC (DIFF_USER + 0x8000)	/* input state, END pointer */
#define DIFF_IN DIFF_MISC
#define DIFF_END_PTR (DIFF_MISC + 0x100)
#define DIFF_GUEST_END (DIFF_MISC + 0x800)	/* guest: the stream's last stop */
#define DIFF_XIN (DIFF_MISC + 0x400)	/* SIMD input: xmm0-15, mm0-7, mxcsr */
#define DIFF_XSLOTS (DIFF_USER + 0x9000)	/* SIMD state after each step */
#define DIFF_XSLOTS_SIZE 0x6000
#define DIFF_MAPPED_END (DIFF_XSLOTS + DIFF_XSLOTS_SIZE)
#define DIFF_WIN (DIFF_USER + 0x10000)	/* data window, unmapped pages around */
#define DIFF_WIN_SIZE 0x4000
#define DIFF_USER_END (DIFF_WIN + DIFF_WIN_SIZE)

/* Guest-only, supervisor: */
#define DIFF_PT 0x8000		/* 4K page table for the 2M page holding DIFF_USER */
#define DIFF_KCODE 0x10000	/* ring-0 handler blob */
#define DIFF_KSTACK 0x20000
#define DIFF_FAULT 0x20000	/* fault record written by the ring-0 handler */
#define DIFF_PORT 0xF0		/* the handler's "stream done" OUT */

/* struct diff_regs: gpr[16] in encoding order (rax, rcx, rdx, rbx, rsp,
 * rbp, rsi, rdi, r8..r15), then rflags.  Fault record: vector, error code,
 * rip, cs, rflags, rsp, cr2, then gpr[16]. */
#define DIFF_REGS_SIZE (17 * 8)
#define FAULT_VEC 0
#define FAULT_ERR 8
#define FAULT_RIP 16
#define FAULT_CS 24
#define FAULT_RFLAGS 32
#define FAULT_RSP 40
#define FAULT_CR2 48
#define FAULT_GPR 56
/* struct diff_xregs: xmm[16][16], mm[8], mxcsr (+ pad to 16) */
#define DIFF_XREGS_SIZE (16 * 16 + 8 * 8 + 16)
/* AVX streams: ymm[16][32], mm[8], mxcsr (+ pad) */
#define DIFF_YREGS_SIZE (16 * 32 + 8 * 8 + 16)

#endif
