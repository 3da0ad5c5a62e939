/*
 * SIMD instructions executed by the host CPU (docs/engine.md, "SIMD on the
 * host").  The decoder asks this file whether a 0F / 0F38 / 0F3A opcode
 * under its mandatory prefix is a SIMD form; if so, simd_decode() picks the
 * handler and builds (or finds) the host stub that computes it.
 */
#ifndef SOFTKVM_X86_NATIVE_H
#define SOFTKVM_X86_NATIVE_H

#include "x86/exec.h"

/* Decode-time properties of a SIMD form (what decode.c must fetch). */
#define SIMD_DEC_IMM8 1u /* an imm8 follows the ModRM operand */
#define SIMD_DEC_RM8 2u	 /* ModRM.rm names a byte register (CRC32 r, r/m8) */
#define SIMD_DEC_GROUP 4u /* ModRM.reg selects the form: see simd_find_ext */
#define SIMD_DEC_NOMODRM 8u

/* The form of map (1 = 0F, 2 = 0F38, 3 = 0F3A) opcode op under mandatory
 * prefix pfx (0, 0x66, 0xf3, 0xf2), or -1.  *dec gets SIMD_DEC_*. */
int simd_find(int map, u8 op, u8 pfx, u32 *dec);
/* Form sx is a legacy opcode with an ignored prefix in this guest
 * (TZCNT without BMI1 is BSF). */
bool simd_legacy(struct engine *e, int sx);
/* The row of group form sx with ModRM.reg = ext, or -1. */
int simd_find_ext(int sx, int ext);

/* Finish the decoded record of form sx: handler (op_simd, a software
 * handler, op_ud or op_unimpl), REX.W, and the host stub. */
void simd_decode(struct engine *e, struct insn *i, int sx, u8 modrm, bool rex_w, bool o16,
		 int seg);

/* VEX forms (AVX, AVX2, FMA, F16C): the row of map (1..3) opcode op
 * under the prefix VEX.pp names (0, 0x66, 0xf3, 0xf2), or -1. */
int vex_find(int map, u8 op, u8 pfx, u32 *dec);
int vex_find_ext(int vx, int ext);
/* Finish a decoded VEX instruction: vsib is the SIB index field (with
 * VEX.X) or 0xff without a SIB byte; vvvv already inverted, all 4 bits
 * also outside 64-bit mode. */
void vex_decode(struct engine *e, struct insn *i, int vx, u8 vsib, bool w, bool l, u8 vvvv,
		int seg);

/*
 * A SIMD instruction the JIT runs as one host instruction on the guest's
 * own register numbers (host xmm/ymm N holds guest N; jit_simd.c): its
 * encoding with the memory operand at [r15], GPR operands in rax (ModRM.reg)
 * and rcx (ModRM.rm), and what it reads and writes.  False for forms that
 * stay with op_simd / op_vex (MMX, flags, implicit GPRs, software forms).
 */
struct simd_jit {
	u8 len, bytes[16];
	bool vex;	 /* VEX: the AVX gate, VEX.128 clears bits 255:128 */
	bool wide;	 /* VEX.256: register sources read whole */
	u16 rd, wr;	 /* guest vector registers read / written */
	s8 g_rcx;	 /* guest GPR read into rcx, or -1 */
	s8 g_rax, g_wrcx; /* guest GPR written from rax / rcx, or -1 */
	u8 msize;	 /* memory operand bytes */
	bool mwrite;	 /* the memory operand is written (else read) */
	bool malign;	 /* ... and must be aligned to msize (#GP(0)) */
};
bool simd_jit_form(const struct insn *i, struct simd_jit *j);
/* The host runs VEX code (AVX and the OS's YMM state). */
bool simd_host_ymm(void);

#endif
