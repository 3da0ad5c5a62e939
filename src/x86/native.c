/*
 * SIMD (MMX, SSE..SSE4.2, AES, PCLMULQDQ, CRC32) and POPCNT, LZCNT, TZCNT,
 * MOVBE executed by the host CPU: exact by construction (docs/engine.md,
 * "SIMD on the host").
 *
 * Every form is a row of SIMD_FORMS naming its operand kinds; nothing else
 * ever reaches the host.  For a decoded instruction we encode the same
 * opcode with the operands renamed to fixed host registers
 *     ModRM.reg: xmm1 / mm1 / rax (or the opcode extension)
 *     ModRM.rm:  xmm2 / mm2 / rcx, or [rsi] for a memory operand
 *     implicit:  xmm0, rax, rcx, rdx as the instruction defines them
 * followed by RET, once per distinct encoding (a global cache).  A
 * trampoline loads those registers from a frame filled from the guest's
 * XSAVE image, GPRs and memory (read through the engine's accessors, so
 * paging, faults, MMIO and dirty tracking behave), calls the stub with all
 * MXCSR exceptions masked, and stores them back; the handler then commits
 * what the row says the instruction writes.
 */
#include <cpuid.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "x86/cpuid.h"
#include "x86/native.h"

/* ---- the forms ---- */

/* Operand kinds of ModRM.reg and ModRM.rm */
enum { K_N, K_X, K_M, K_G }; /* opcode extension, XMM, MMX, GPR */

/* CPUID features (leaf, register, bit) */
#define FEATURES(X)                                                            \
	X(MMX, 1, 3, 23) X(SSE, 1, 3, 25) X(SSE2, 1, 3, 26) X(SSE3, 1, 2, 0)    \
	X(SSSE3, 1, 2, 9) X(SSE41, 1, 2, 19) X(SSE42, 1, 2, 20)                 \
	X(POPCNT, 1, 2, 23) X(AES, 1, 2, 25) X(PCLMUL, 1, 2, 1)                 \
	X(AVX, 1, 2, 28) X(FMA, 1, 2, 12) X(F16C, 1, 2, 29) X(AVX2, 7, 1, 5)      \
	X(BMI1, 7, 1, 3) X(BMI2, 7, 1, 8) X(LZCNT, 0x80000001, 2, 5)             \
	X(MOVBE, 1, 2, 22)
enum {
#define FT_ENUM(n, l, r, b) FT_##n,
	FEATURES(FT_ENUM)
#undef FT_ENUM
	FT_NR
};
static const struct { u32 leaf; u8 reg, bit; } feat_bit[FT_NR] = {
#define FT_ROW(n, l, r, b) {l, r, b},
	FEATURES(FT_ROW)
#undef FT_ROW
};

enum {
	D = BIT(0),   /* ModRM.reg is written (and read) */
	S = BIT(1),   /* ModRM.rm is written; a memory rm is not read */
	RM = BIT(2),  /* ModRM.rm is read and written (shift groups) */
	I = BIT(3),   /* imm8 */
	U = BIT(4),   /* a 16-byte memory operand may be unaligned */
	MO = BIT(5),  /* rm must be memory (#UD for a register) */
	RO = BIT(6),  /* rm must be a register */
	W8 = BIT(7),  /* 8-byte operand with REX.W */
	FL = BIT(8),  /* sets arithmetic flags */
	X0 = BIT(9),  /* writes xmm0 (PCMPxSTRM) */
	CX = BIT(10), /* writes rcx (PCMPxSTRI) */
	OS = BIT(11), /* operand size from 66 / REX.W (POPCNT, CRC32, MOVBE) */
	B8 = BIT(12), /* rm is a byte register */
	SW = BIT(13), /* done in software: the handler is in `sw` */
	NOSSE = BIT(14), /* needs no CR4.OSFXSR (MMX, POPCNT, CRC32) */
	LEG = BIT(15),	/* without the feature the prefix is ignored (TZCNT: BSF) */
};

enum { SW_NONE, SW_EMMS, SW_LDMXCSR, SW_STMXCSR, SW_MASKMOV };

struct simd_form {
	u8 map, pfx, op;
	s8 ext;	    /* ModRM.reg for the shift groups, else -1 */
	u8 feat, rk, mk;
	u8 msize;   /* bytes of a memory operand (W8: 8 with REX.W) */
	u16 fl;
};

/*
 * R(map, prefix, opcode, ext, feature, reg kind, rm kind, memory bytes,
 * flags).  Maps: 1 = 0F, 2 = 0F38, 3 = 0F3A.  Prefix 0 / 66 / F3 / F2.
 * SDM Vol. 2 opcode map tables A-3..A-5.
 */
#define P0 0
#define P66 0x66
#define PF3 0xf3
#define PF2 0xf2
/* MMX rows: the NP form on mm registers and the 66 form on xmm (SSE2) */
#define MX(op, ft, ms, fl) R(1, P0, op, -1, ft, K_M, K_M, ms, (fl) | NOSSE) \
	R(1, P66, op, -1, FT_SSE2, K_X, K_X, 16, fl)
/* two-operand packed arithmetic with an aligned m128 */
#define PK(pfx, op, ft) R(1, pfx, op, -1, ft, K_X, K_X, 16, D)
#define SC(pfx, op, ft, ms) R(1, pfx, op, -1, ft, K_X, K_X, ms, D)
#define SSSE3(op) R(2, P0, op, -1, FT_SSSE3, K_M, K_M, 8, D | NOSSE) \
	R(2, P66, op, -1, FT_SSSE3, K_X, K_X, 16, D)
#define S41(op, ms, fl) R(2, P66, op, -1, FT_SSE41, K_X, K_X, ms, fl)
#define S3A(op, ft, rk, mk, ms, fl) R(3, P66, op, -1, ft, rk, mk, ms, (fl) | I)

#define SIMD_FORMS                                                             \
	/* 0F 10-17: moves */                                                   \
	R(1, P0, 0x10, -1, FT_SSE, K_X, K_X, 16, D | U)                          \
	R(1, P0, 0x11, -1, FT_SSE, K_X, K_X, 16, S | U)                          \
	R(1, P0, 0x12, -1, FT_SSE, K_X, K_X, 8, D)                               \
	R(1, P0, 0x13, -1, FT_SSE, K_X, K_X, 8, S | MO)                          \
	PK(P0, 0x14, FT_SSE) PK(P0, 0x15, FT_SSE)                                \
	R(1, P0, 0x16, -1, FT_SSE, K_X, K_X, 8, D)                               \
	R(1, P0, 0x17, -1, FT_SSE, K_X, K_X, 8, S | MO)                          \
	R(1, P66, 0x10, -1, FT_SSE2, K_X, K_X, 16, D | U)                        \
	R(1, P66, 0x11, -1, FT_SSE2, K_X, K_X, 16, S | U)                        \
	R(1, P66, 0x12, -1, FT_SSE2, K_X, K_X, 8, D | MO)                        \
	R(1, P66, 0x13, -1, FT_SSE2, K_X, K_X, 8, S | MO)                        \
	PK(P66, 0x14, FT_SSE2) PK(P66, 0x15, FT_SSE2)                            \
	R(1, P66, 0x16, -1, FT_SSE2, K_X, K_X, 8, D | MO)                        \
	R(1, P66, 0x17, -1, FT_SSE2, K_X, K_X, 8, S | MO)                        \
	SC(PF3, 0x10, FT_SSE, 4)                                                 \
	R(1, PF3, 0x11, -1, FT_SSE, K_X, K_X, 4, S)                              \
	PK(PF3, 0x12, FT_SSE3) PK(PF3, 0x16, FT_SSE3)                            \
	SC(PF2, 0x10, FT_SSE2, 8)                                                \
	R(1, PF2, 0x11, -1, FT_SSE2, K_X, K_X, 8, S)                             \
	SC(PF2, 0x12, FT_SSE3, 8)                                                \
	/* 0F 28-2F: aligned moves, conversions with MMX and GPRs, compares */  \
	PK(P0, 0x28, FT_SSE) PK(P66, 0x28, FT_SSE2)                              \
	R(1, P0, 0x29, -1, FT_SSE, K_X, K_X, 16, S)                              \
	R(1, P66, 0x29, -1, FT_SSE2, K_X, K_X, 16, S)                            \
	R(1, P0, 0x2a, -1, FT_SSE, K_X, K_M, 8, D)                               \
	R(1, P66, 0x2a, -1, FT_SSE2, K_X, K_M, 8, D)                             \
	R(1, PF3, 0x2a, -1, FT_SSE, K_X, K_G, 4, D | W8)                         \
	R(1, PF2, 0x2a, -1, FT_SSE2, K_X, K_G, 4, D | W8)                        \
	R(1, P0, 0x2b, -1, FT_SSE, K_X, K_X, 16, S | MO)                         \
	R(1, P66, 0x2b, -1, FT_SSE2, K_X, K_X, 16, S | MO)                       \
	R(1, P0, 0x2c, -1, FT_SSE, K_M, K_X, 8, D)                               \
	R(1, P0, 0x2d, -1, FT_SSE, K_M, K_X, 8, D)                               \
	R(1, P66, 0x2c, -1, FT_SSE2, K_M, K_X, 16, D)                            \
	R(1, P66, 0x2d, -1, FT_SSE2, K_M, K_X, 16, D)                            \
	R(1, PF3, 0x2c, -1, FT_SSE, K_G, K_X, 4, D)                              \
	R(1, PF3, 0x2d, -1, FT_SSE, K_G, K_X, 4, D)                              \
	R(1, PF2, 0x2c, -1, FT_SSE2, K_G, K_X, 8, D)                             \
	R(1, PF2, 0x2d, -1, FT_SSE2, K_G, K_X, 8, D)                             \
	R(1, P0, 0x2e, -1, FT_SSE, K_X, K_X, 4, FL)                              \
	R(1, P0, 0x2f, -1, FT_SSE, K_X, K_X, 4, FL)                              \
	R(1, P66, 0x2e, -1, FT_SSE2, K_X, K_X, 8, FL)                            \
	R(1, P66, 0x2f, -1, FT_SSE2, K_X, K_X, 8, FL)                            \
	/* 0F 50-5F: arithmetic */                                              \
	R(1, P0, 0x50, -1, FT_SSE, K_G, K_X, 0, D | RO)                          \
	R(1, P66, 0x50, -1, FT_SSE2, K_G, K_X, 0, D | RO)                        \
	PK(P0, 0x51, FT_SSE) PK(P66, 0x51, FT_SSE2)                              \
	SC(PF3, 0x51, FT_SSE, 4) SC(PF2, 0x51, FT_SSE2, 8)                       \
	PK(P0, 0x52, FT_SSE) SC(PF3, 0x52, FT_SSE, 4)                            \
	PK(P0, 0x53, FT_SSE) SC(PF3, 0x53, FT_SSE, 4)                            \
	PK(P0, 0x54, FT_SSE) PK(P66, 0x54, FT_SSE2)                              \
	PK(P0, 0x55, FT_SSE) PK(P66, 0x55, FT_SSE2)                              \
	PK(P0, 0x56, FT_SSE) PK(P66, 0x56, FT_SSE2)                              \
	PK(P0, 0x57, FT_SSE) PK(P66, 0x57, FT_SSE2)                              \
	ARITH(0x58) ARITH(0x59) ARITH(0x5c) ARITH(0x5d) ARITH(0x5e) ARITH(0x5f)  \
	SC(P0, 0x5a, FT_SSE2, 8) PK(P66, 0x5a, FT_SSE2)                          \
	SC(PF3, 0x5a, FT_SSE2, 4) SC(PF2, 0x5a, FT_SSE2, 8)                      \
	PK(P0, 0x5b, FT_SSE2) PK(P66, 0x5b, FT_SSE2) PK(PF3, 0x5b, FT_SSE2)      \
	/* 0F 60-7F: MMX and their SSE2 forms */                                \
	MX(0x60, FT_MMX, 4, D) MX(0x61, FT_MMX, 4, D) MX(0x62, FT_MMX, 4, D)     \
	MX(0x63, FT_MMX, 8, D) MX(0x64, FT_MMX, 8, D) MX(0x65, FT_MMX, 8, D)     \
	MX(0x66, FT_MMX, 8, D) MX(0x67, FT_MMX, 8, D) MX(0x68, FT_MMX, 8, D)     \
	MX(0x69, FT_MMX, 8, D) MX(0x6a, FT_MMX, 8, D) MX(0x6b, FT_MMX, 8, D)     \
	PK(P66, 0x6c, FT_SSE2) PK(P66, 0x6d, FT_SSE2)                            \
	R(1, P0, 0x6e, -1, FT_MMX, K_M, K_G, 4, D | W8 | NOSSE)                  \
	R(1, P66, 0x6e, -1, FT_SSE2, K_X, K_G, 4, D | W8)                        \
	R(1, P0, 0x6f, -1, FT_MMX, K_M, K_M, 8, D | NOSSE)                       \
	PK(P66, 0x6f, FT_SSE2)                                                   \
	R(1, PF3, 0x6f, -1, FT_SSE2, K_X, K_X, 16, D | U)                        \
	R(1, P0, 0x70, -1, FT_SSE, K_M, K_M, 8, D | I | NOSSE)                   \
	R(1, P66, 0x70, -1, FT_SSE2, K_X, K_X, 16, D | I)                        \
	R(1, PF3, 0x70, -1, FT_SSE2, K_X, K_X, 16, D | I)                        \
	R(1, PF2, 0x70, -1, FT_SSE2, K_X, K_X, 16, D | I)                        \
	SHIFT(0x71, 2) SHIFT(0x71, 4) SHIFT(0x71, 6)                             \
	SHIFT(0x72, 2) SHIFT(0x72, 4) SHIFT(0x72, 6)                             \
	SHIFT(0x73, 2) SHIFT(0x73, 6)                                            \
	R(1, P66, 0x73, 3, FT_SSE2, K_N, K_X, 0, RM | RO | I)                    \
	R(1, P66, 0x73, 7, FT_SSE2, K_N, K_X, 0, RM | RO | I)                    \
	MX(0x74, FT_MMX, 8, D) MX(0x75, FT_MMX, 8, D) MX(0x76, FT_MMX, 8, D)     \
	R(1, P0, 0x77, -1, FT_MMX, K_N, K_N, 0, SW | NOSSE)                      \
	PK(P66, 0x7c, FT_SSE3) PK(P66, 0x7d, FT_SSE3)                            \
	PK(PF2, 0x7c, FT_SSE3) PK(PF2, 0x7d, FT_SSE3)                            \
	R(1, P0, 0x7e, -1, FT_MMX, K_M, K_G, 4, S | W8 | NOSSE)                  \
	R(1, P66, 0x7e, -1, FT_SSE2, K_X, K_G, 4, S | W8)                        \
	SC(PF3, 0x7e, FT_SSE2, 8)                                                \
	R(1, P0, 0x7f, -1, FT_MMX, K_M, K_M, 8, S | NOSSE)                       \
	R(1, P66, 0x7f, -1, FT_SSE2, K_X, K_X, 16, S)                            \
	R(1, PF3, 0x7f, -1, FT_SSE2, K_X, K_X, 16, S | U)                        \
	/* 0F AE: LDMXCSR, STMXCSR; 0F B8: POPCNT */                            \
	R(1, P0, 0xae, 2, FT_SSE, K_N, K_N, 4, SW | MO)                          \
	R(1, P0, 0xae, 3, FT_SSE, K_N, K_N, 4, SW | MO)                          \
	R(1, PF3, 0xb8, -1, FT_POPCNT, K_G, K_G, 4, D | OS | FL | NOSSE)         \
	R(1, PF3, 0xbc, -1, FT_BMI1, K_G, K_G, 4, D | OS | FL | NOSSE | LEG)     \
	R(1, PF3, 0xbd, -1, FT_LZCNT, K_G, K_G, 4, D | OS | FL | NOSSE | LEG)    \
	/* 0F C2-C6 */                                                          \
	R(1, P0, 0xc2, -1, FT_SSE, K_X, K_X, 16, D | I)                          \
	R(1, P66, 0xc2, -1, FT_SSE2, K_X, K_X, 16, D | I)                        \
	R(1, PF3, 0xc2, -1, FT_SSE, K_X, K_X, 4, D | I)                          \
	R(1, PF2, 0xc2, -1, FT_SSE2, K_X, K_X, 8, D | I)                         \
	R(1, P0, 0xc4, -1, FT_SSE, K_M, K_G, 2, D | I | NOSSE)                   \
	R(1, P66, 0xc4, -1, FT_SSE2, K_X, K_G, 2, D | I)                         \
	R(1, P0, 0xc5, -1, FT_SSE, K_G, K_M, 0, D | I | RO | NOSSE)              \
	R(1, P66, 0xc5, -1, FT_SSE2, K_G, K_X, 0, D | I | RO)                    \
	R(1, P0, 0xc6, -1, FT_SSE, K_X, K_X, 16, D | I)                          \
	R(1, P66, 0xc6, -1, FT_SSE2, K_X, K_X, 16, D | I)                        \
	/* 0F D0-FE */                                                          \
	PK(P66, 0xd0, FT_SSE3) PK(PF2, 0xd0, FT_SSE3)                            \
	MX(0xd1, FT_MMX, 8, D) MX(0xd2, FT_MMX, 8, D) MX(0xd3, FT_MMX, 8, D)     \
	MX(0xd4, FT_SSE2, 8, D) MX(0xd5, FT_MMX, 8, D)                           \
	R(1, P66, 0xd6, -1, FT_SSE2, K_X, K_X, 8, S)                             \
	R(1, PF3, 0xd6, -1, FT_SSE2, K_X, K_M, 0, D | RO)                        \
	R(1, PF2, 0xd6, -1, FT_SSE2, K_M, K_X, 0, D | RO)                        \
	R(1, P0, 0xd7, -1, FT_SSE, K_G, K_M, 0, D | RO | NOSSE)                  \
	R(1, P66, 0xd7, -1, FT_SSE2, K_G, K_X, 0, D | RO)                        \
	MX(0xd8, FT_MMX, 8, D) MX(0xd9, FT_MMX, 8, D) MX(0xda, FT_SSE, 8, D)     \
	MX(0xdb, FT_MMX, 8, D) MX(0xdc, FT_MMX, 8, D) MX(0xdd, FT_MMX, 8, D)     \
	MX(0xde, FT_SSE, 8, D) MX(0xdf, FT_MMX, 8, D) MX(0xe0, FT_SSE, 8, D)     \
	MX(0xe1, FT_MMX, 8, D) MX(0xe2, FT_MMX, 8, D) MX(0xe3, FT_SSE, 8, D)     \
	MX(0xe4, FT_SSE, 8, D) MX(0xe5, FT_MMX, 8, D)                            \
	PK(P66, 0xe6, FT_SSE2) PK(PF2, 0xe6, FT_SSE2) SC(PF3, 0xe6, FT_SSE2, 8)  \
	R(1, P0, 0xe7, -1, FT_SSE, K_M, K_M, 8, S | MO | NOSSE)                  \
	R(1, P66, 0xe7, -1, FT_SSE2, K_X, K_X, 16, S | MO)                       \
	MX(0xe8, FT_MMX, 8, D) MX(0xe9, FT_MMX, 8, D) MX(0xea, FT_SSE, 8, D)     \
	MX(0xeb, FT_MMX, 8, D) MX(0xec, FT_MMX, 8, D) MX(0xed, FT_MMX, 8, D)     \
	MX(0xee, FT_SSE, 8, D) MX(0xef, FT_MMX, 8, D)                            \
	R(1, PF2, 0xf0, -1, FT_SSE3, K_X, K_X, 16, D | U | MO)                   \
	MX(0xf1, FT_MMX, 8, D) MX(0xf2, FT_MMX, 8, D) MX(0xf3, FT_MMX, 8, D)     \
	MX(0xf4, FT_SSE2, 8, D) MX(0xf5, FT_MMX, 8, D) MX(0xf6, FT_SSE, 8, D)    \
	R(1, P0, 0xf7, -1, FT_SSE, K_M, K_M, 8, SW | RO | NOSSE)                 \
	R(1, P66, 0xf7, -1, FT_SSE2, K_X, K_X, 16, SW | RO)                      \
	MX(0xf8, FT_MMX, 8, D) MX(0xf9, FT_MMX, 8, D) MX(0xfa, FT_MMX, 8, D)     \
	MX(0xfb, FT_SSE2, 8, D) MX(0xfc, FT_MMX, 8, D) MX(0xfd, FT_MMX, 8, D)    \
	MX(0xfe, FT_MMX, 8, D)                                                   \
	/* 0F38: SSSE3, SSE4.1, SSE4.2, AES, CRC32 */                           \
	SSSE3(0x00) SSSE3(0x01) SSSE3(0x02) SSSE3(0x03) SSSE3(0x04)              \
	SSSE3(0x05) SSSE3(0x06) SSSE3(0x07) SSSE3(0x08) SSSE3(0x09)              \
	SSSE3(0x0a) SSSE3(0x0b) SSSE3(0x1c) SSSE3(0x1d) SSSE3(0x1e)              \
	S41(0x10, 16, D) S41(0x14, 16, D) S41(0x15, 16, D) S41(0x17, 16, FL)     \
	S41(0x20, 8, D) S41(0x21, 4, D) S41(0x22, 2, D) S41(0x23, 8, D)          \
	S41(0x24, 4, D) S41(0x25, 8, D) S41(0x28, 16, D) S41(0x29, 16, D)        \
	S41(0x2a, 16, D | MO) S41(0x2b, 16, D)                                   \
	S41(0x30, 8, D) S41(0x31, 4, D) S41(0x32, 2, D) S41(0x33, 8, D)          \
	S41(0x34, 4, D) S41(0x35, 8, D)                                          \
	R(2, P66, 0x37, -1, FT_SSE42, K_X, K_X, 16, D)                           \
	S41(0x38, 16, D) S41(0x39, 16, D) S41(0x3a, 16, D) S41(0x3b, 16, D)      \
	S41(0x3c, 16, D) S41(0x3d, 16, D) S41(0x3e, 16, D) S41(0x3f, 16, D)      \
	S41(0x40, 16, D) S41(0x41, 16, D)                                        \
	R(2, P66, 0xdb, -1, FT_AES, K_X, K_X, 16, D)                             \
	R(2, P66, 0xdc, -1, FT_AES, K_X, K_X, 16, D)                             \
	R(2, P66, 0xdd, -1, FT_AES, K_X, K_X, 16, D)                             \
	R(2, P66, 0xde, -1, FT_AES, K_X, K_X, 16, D)                             \
	R(2, P66, 0xdf, -1, FT_AES, K_X, K_X, 16, D)                             \
	/* MOVBE: memory only; 66 is its operand size (F2 makes it CRC32) */   \
	R(2, P0, 0xf0, -1, FT_MOVBE, K_G, K_G, 4, D | OS | MO | NOSSE)           \
	R(2, P0, 0xf1, -1, FT_MOVBE, K_G, K_G, 4, S | OS | MO | NOSSE)           \
	R(2, P66, 0xf0, -1, FT_MOVBE, K_G, K_G, 2, D | OS | MO | NOSSE)          \
	R(2, P66, 0xf1, -1, FT_MOVBE, K_G, K_G, 2, S | OS | MO | NOSSE)          \
	R(2, PF2, 0xf0, -1, FT_SSE42, K_G, K_G, 1, D | B8 | NOSSE)               \
	R(2, PF2, 0xf1, -1, FT_SSE42, K_G, K_G, 4, D | OS | NOSSE)               \
	/* 0F3A (all with imm8) */                                              \
	S3A(0x08, FT_SSE41, K_X, K_X, 16, D) S3A(0x09, FT_SSE41, K_X, K_X, 16, D) \
	S3A(0x0a, FT_SSE41, K_X, K_X, 4, D) S3A(0x0b, FT_SSE41, K_X, K_X, 8, D)   \
	S3A(0x0c, FT_SSE41, K_X, K_X, 16, D) S3A(0x0d, FT_SSE41, K_X, K_X, 16, D) \
	S3A(0x0e, FT_SSE41, K_X, K_X, 16, D)                                      \
	R(3, P0, 0x0f, -1, FT_SSSE3, K_M, K_M, 8, D | I | NOSSE)                 \
	S3A(0x0f, FT_SSSE3, K_X, K_X, 16, D)                                     \
	S3A(0x14, FT_SSE41, K_X, K_G, 1, S) S3A(0x15, FT_SSE41, K_X, K_G, 2, S)   \
	S3A(0x16, FT_SSE41, K_X, K_G, 4, S | W8)                                 \
	S3A(0x17, FT_SSE41, K_X, K_G, 4, S)                                      \
	S3A(0x20, FT_SSE41, K_X, K_G, 1, D) S3A(0x21, FT_SSE41, K_X, K_X, 4, D)   \
	S3A(0x22, FT_SSE41, K_X, K_G, 4, D | W8)                                 \
	S3A(0x40, FT_SSE41, K_X, K_X, 16, D) S3A(0x41, FT_SSE41, K_X, K_X, 16, D) \
	S3A(0x42, FT_SSE41, K_X, K_X, 16, D)                                     \
	S3A(0x44, FT_PCLMUL, K_X, K_X, 16, D)                                    \
	S3A(0x60, FT_SSE42, K_X, K_X, 16, U | FL | X0)                           \
	S3A(0x61, FT_SSE42, K_X, K_X, 16, U | FL | CX)                           \
	S3A(0x62, FT_SSE42, K_X, K_X, 16, U | FL | X0)                           \
	S3A(0x63, FT_SSE42, K_X, K_X, 16, U | FL | CX)                           \
	S3A(0xdf, FT_AES, K_X, K_X, 16, D)

/* ADDPS/PD/SS/SD and friends */
#define ARITH(op) PK(P0, op, FT_SSE) PK(P66, op, FT_SSE2) SC(PF3, op, FT_SSE, 4) \
	SC(PF2, op, FT_SSE2, 8)
/* immediate shift groups 0F 71-73 on mm and xmm */
#define SHIFT(op, ext) R(1, P0, op, ext, FT_MMX, K_N, K_M, 0, RM | RO | I | NOSSE) \
	R(1, P66, op, ext, FT_SSE2, K_N, K_X, 0, RM | RO | I)

static const struct simd_form forms[] = {
#define R(m, p, o, x, f, r, k, s, l) {m, p, o, x, f, r, k, s, (u16)(l)},
	SIMD_FORMS
#undef R
};

static bool guest_has(struct engine *e, int ft);

/* (map, opcode, prefix) -> first row, built once */
static s16 form_index[4][256][4];
static pthread_once_t form_once = PTHREAD_ONCE_INIT;
static u32 host_feat; /* FT_* bits the host CPU has */

static int pfx_slot(u8 pfx)
{
	return pfx == 0x66 ? 1 : pfx == 0xf3 ? 2 : pfx == 0xf2 ? 3 : 0;
}

static void form_init(void)
{
	memset(form_index, 0xff, sizeof(form_index));
	for (int k = (int)ARRAY_SIZE(forms) - 1; k >= 0; k--)
		form_index[forms[k].map][forms[k].op][pfx_slot(forms[k].pfx)] = (s16)k;
	for (int f = 0; f < FT_NR; f++) {
		u32 r[4];
		if (__get_cpuid_count(feat_bit[f].leaf, 0, &r[0], &r[1], &r[2], &r[3]) &&
		    (r[feat_bit[f].reg] >> feat_bit[f].bit & 1))
			host_feat |= 1u << f;
	}
}

int simd_find(int map, u8 op, u8 pfx, u32 *dec)
{
	pthread_once(&form_once, form_init);
	int k = form_index[map][op][pfx_slot(pfx)];
	if (k < 0)
		return -1;
	const struct simd_form *f = &forms[k];
	*dec = (f->fl & I ? SIMD_DEC_IMM8 : 0) | (f->fl & B8 ? SIMD_DEC_RM8 : 0) |
	       (f->ext >= 0 ? SIMD_DEC_GROUP : 0) | (f->op == 0x77 ? SIMD_DEC_NOMODRM : 0);
	return k;
}

bool simd_legacy(struct engine *e, int sx)
{
	return (forms[sx].fl & LEG) && !guest_has(e, forms[sx].feat);
}

int simd_find_ext(int sx, int ext)
{
	const struct simd_form *f = &forms[sx];
	for (size_t k = 0; k < ARRAY_SIZE(forms); k++)
		if (forms[k].map == f->map && forms[k].op == f->op && forms[k].pfx == f->pfx &&
		    forms[k].ext == ext)
			return (int)k;
	return -1;
}

/* ---- host stubs ---- */

/* The trampolines' frame; offsets are used by the assembly below. */
struct simd_frame {
	u8 x1[32], x2[32], x0[32], x3[32]; /* 0, 32, 64, 96 */
	u8 mem[32];			   /* 128: [rsi] */
	u64 rax, rcx, rdx, rflags;	   /* 160, 168, 176, 184 */
	u32 mxcsr_in, mxcsr_out;	   /* 192, 196 */
	u64 mm1, mm2;			   /* 200, 208 */
	const void *stub;		   /* 216 */
	u8 mmx;				   /* 224: mm1/mm2 in use */
	u8 avx;				   /* 225: VEX: ymm registers */
	u64 r8;				   /* 232: VEX: the vvvv GPR (BMI) */
	u8 x4[32] __attribute__((aligned(32))); /* 256: VEX is4 operand */
} __attribute__((aligned(32)));
_Static_assert(offsetof(struct simd_frame, x4) == 256, "trampoline offsets");
_Static_assert(offsetof(struct simd_frame, mmx) == 224, "trampoline offsets");
_Static_assert(offsetof(struct simd_frame, r8) == 232, "trampoline offsets");

void skvm_simd_call(struct simd_frame *f);
void skvm_vex_call(struct simd_frame *f);

/* LDMXCSR is slow (serialising): the trampolines load the frame's MXCSR
 * only when the host's differs, and restore the host's only when its
 * control bits (masks, rounding, FTZ, DAZ) differ from what the stub left;
 * the host may keep the guest's sticky status flags.  The pieces both
 * trampolines share: */
#define TRAMP_ENTER(name)                                                      \
	".text\n"                                                              \
	".globl " name "\n"                                                    \
	".hidden " name "\n"                                                   \
	".type " name ", @function\n"                                          \
	name ":\n"                                                             \
	"	sub $8, %rsp\n"                                                \
	"	stmxcsr (%rsp)\n"                                              \
	"	mov (%rsp), %eax\n"                                            \
	"	cmp 192(%rdi), %eax\n"                                         \
	"	je 3f\n"                                                       \
	"	ldmxcsr 192(%rdi)\n"                                           \
	"3:\n"
/* GPRs and the guest's status flags in (AMD leaves some undefined flags
 * alone), the stub, flags out */
#define TRAMP_CALL                                                             \
	"	pushq 184(%rdi)\n"                                             \
	"	popfq\n"                                                       \
	"	mov 160(%rdi), %rax\n"                                         \
	"	mov 168(%rdi), %rcx\n"                                         \
	"	mov 176(%rdi), %rdx\n"                                         \
	"	lea 128(%rdi), %rsi\n"                                         \
	"	push %rdi\n"                                                   \
	"	call *216(%rdi)\n"                                             \
	"	pop %rdi\n"                                                    \
	"	pushfq\n"                                                      \
	"	popq 184(%rdi)\n"
/* GPRs and MXCSR out, the host's MXCSR back */
#define TRAMP_LEAVE                                                            \
	"	mov %rax, 160(%rdi)\n"                                         \
	"	mov %rcx, 168(%rdi)\n"                                         \
	"	mov %rdx, 176(%rdi)\n"                                         \
	"	stmxcsr 196(%rdi)\n"                                           \
	"	mov (%rsp), %eax\n"                                            \
	"	xor 196(%rdi), %eax\n"                                         \
	"	test $0xffc0, %eax\n"                                          \
	"	je 4f\n"                                                       \
	"	ldmxcsr (%rsp)\n"                                              \
	"4:	add $8, %rsp\n"

/* Legacy SSE / MMX stubs: xmm0-2, and mm1/mm2 when frame.mmx says so,
 * ending with EMMS (the ABI's empty x87 stack). */
__asm__(
	TRAMP_ENTER("skvm_simd_call")
	"	movdqu 0(%rdi), %xmm1\n"
	"	movdqu 32(%rdi), %xmm2\n"
	"	movdqu 64(%rdi), %xmm0\n"
	"	cmpb $0, 224(%rdi)\n"
	"	je 1f\n"
	"	movq 200(%rdi), %mm1\n"
	"	movq 208(%rdi), %mm2\n"
	"1:\n"
	TRAMP_CALL
	"	movdqu %xmm1, 0(%rdi)\n"
	"	movdqu %xmm2, 32(%rdi)\n"
	"	movdqu %xmm0, 64(%rdi)\n"
	TRAMP_LEAVE
	"	cmpb $0, 224(%rdi)\n"
	"	je 2f\n"
	"	movq %mm1, 200(%rdi)\n"
	"	movq %mm2, 208(%rdi)\n"
	"	emms\n"
	"2:	ret\n"
	".size skvm_simd_call, .-skvm_simd_call\n");

/* VEX stubs: ymm0-4 whole (the upper halves are the guest's YMM_Hi128
 * state) and r8 (a vvvv GPR), no MMX; VZEROUPPER before returning to
 * compiled code. */
__asm__(
	TRAMP_ENTER("skvm_vex_call")
	"	vmovdqu 0(%rdi), %ymm1\n"
	"	vmovdqu 32(%rdi), %ymm2\n"
	"	vmovdqu 64(%rdi), %ymm0\n"
	"	vmovdqu 96(%rdi), %ymm3\n"
	"	vmovdqu 256(%rdi), %ymm4\n"
	"	mov 232(%rdi), %r8\n"
	TRAMP_CALL
	"	mov %r8, 232(%rdi)\n"
	"	vmovdqu %ymm1, 0(%rdi)\n"
	"	vmovdqu %ymm2, 32(%rdi)\n"
	"	vmovdqu %ymm0, 64(%rdi)\n"
	"	vmovdqu %ymm3, 96(%rdi)\n"
	"	vzeroupper\n"
	TRAMP_LEAVE
	"	ret\n"
	".size skvm_vex_call, .-skvm_vex_call\n");

/*
 * The stub cache: encoded bytes -> host code.  Lookups are lock-free
 * (the stub pointer is published last); inserts take the mutex.  Distinct
 * encodings are bounded by the table above (forms x imm8 x mem/reg x W),
 * well under the capacity.
 */
#define STUB_SLOTS (1u << 18)
#define STUB_CODE (8u << 20)
#define STUB_SIZE 16
struct stub_slot {
	u64 k0, k1;
	const void *_Atomic code;
};
static struct stub_slot *stub_tab;
static u8 *stub_mem;
static u32 stub_used;
static pthread_mutex_t stub_lock = PTHREAD_MUTEX_INITIALIZER;

static const void *stub_get(const u8 *b, int n)
{
	u64 k[2] = {0, 0};
	memcpy(k, b, (size_t)n);
	k[1] |= (u64)n << 56;
	u64 h = (k[0] * 0x9e3779b97f4a7c15ULL) ^ (k[1] * 0xc2b2ae3d27d4eb4fULL);
	u32 slot = (u32)(h >> 40) & (STUB_SLOTS - 1);
	if (stub_tab) {
		for (u32 s = slot;; s = (s + 1) & (STUB_SLOTS - 1)) {
			const void *c = atomic_load_explicit(&stub_tab[s].code, memory_order_acquire);
			if (!c)
				break;
			if (stub_tab[s].k0 == k[0] && stub_tab[s].k1 == k[1])
				return c;
		}
	}
	const void *ret = NULL;
	pthread_mutex_lock(&stub_lock);
	if (!stub_tab) {
		void *t = mmap(NULL, STUB_SLOTS * sizeof(struct stub_slot), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		void *c = mmap(NULL, STUB_CODE, PROT_READ | PROT_WRITE | PROT_EXEC,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (t == MAP_FAILED || c == MAP_FAILED) {
			if (t != MAP_FAILED)
				munmap(t, STUB_SLOTS * sizeof(struct stub_slot));
			if (c != MAP_FAILED)
				munmap(c, STUB_CODE);
			goto out;
		}
		stub_mem = c;
		stub_tab = t;
	}
	u32 s = slot;
	for (;; s = (s + 1) & (STUB_SLOTS - 1)) {
		const void *c = atomic_load_explicit(&stub_tab[s].code, memory_order_relaxed);
		if (!c)
			break;
		if (stub_tab[s].k0 == k[0] && stub_tab[s].k1 == k[1]) {
			ret = c;
			goto out;
		}
	}
	if ((stub_used + 1) * STUB_SIZE > STUB_CODE || stub_used >= STUB_SLOTS / 2)
		goto out;
	u8 *code = stub_mem + (size_t)stub_used++ * STUB_SIZE;
	memcpy(code, b, (size_t)n);
	code[n] = 0xc3; /* RET */
	__builtin___clear_cache((char *)code, (char *)code + n + 1);
	stub_tab[s].k0 = k[0];
	stub_tab[s].k1 = k[1];
	atomic_store_explicit(&stub_tab[s].code, code, memory_order_release);
	ret = code;
out:
	pthread_mutex_unlock(&stub_lock);
	return ret;
}

static bool rex_w_of(const struct insn *i)
{
	return i->op & 1;
}
static bool o16_of(const struct insn *i)
{
	return i->op & 2;
}

/* The renamed encoding of i (form f) into b; returns its length.  Vector
 * operands go to host registers xr (ModRM.reg) and xm (ModRM.rm), a GPR
 * to rax / rcx, a memory operand to [mbase] (rsi for the stubs, r15 for
 * the JIT; never rsp / rbp / r12 / r13). */
static int simd_encode(const struct simd_form *f, const struct insn *i, u8 *b, int xr, int xm,
		       int mbase)
{
	int n = 0;
	if ((f->fl & OS) && o16_of(i) && f->pfx != 0x66)
		b[n++] = 0x66;
	if (f->pfx)
		b[n++] = f->pfx;
	u8 reg = f->rk == K_N ? (u8)f->ext : f->rk == K_G ? 0 : (u8)xr;
	u8 rm = i->mem ? (u8)mbase : f->mk == K_G ? 1 : (u8)xm;
	u8 rex = (u8)((rex_w_of(i) ? 8 : 0) | (reg & 8 ? 4 : 0) | (rm & 8 ? 1 : 0));
	if (rex)
		b[n++] = 0x40 | rex;
	b[n++] = 0x0f;
	if (f->map == 2)
		b[n++] = 0x38;
	else if (f->map == 3)
		b[n++] = 0x3a;
	b[n++] = f->op;
	b[n++] = (u8)((i->mem ? 0 : 0xc0) | (reg & 7) << 3 | (rm & 7));
	if (f->fl & I)
		b[n++] = (u8)i->imm;
	return n;
}

/* The host stub for encoding b[0..n), run by handler fn. */
static void use_stub(struct insn *i, const u8 *b, int n, x86_handler fn)
{
	i->stub = stub_get(b, n);
	i->fn = i->stub ? fn : op_unimpl; /* the stub area is full */
}

static bool guest_has(struct engine *e, int ft)
{
	return x86_cpuid_has(e->cpu, feat_bit[ft].leaf, 0, feat_bit[ft].reg, feat_bit[ft].bit);
}

void simd_decode(struct engine *e, struct insn *i, int sx, u8 modrm, bool rex_w, bool o16,
		 int seg)
{
	const struct simd_form *f = &forms[sx];
	int ext = (modrm >> 3) & 7;
	i->sx = (u16)sx;
	if (!i->mem)
		i->seg = seg >= 0 ? (u8)seg : S_DS; /* MASKMOV's DS:rDI */
	i->op = (u8)((rex_w ? 1 : 0) | (o16 ? 2 : 0));
	i->imm &= 0xff;
	if (((f->fl & MO) && !i->mem) || ((f->fl & RO) && i->mem) || !guest_has(e, f->feat)) {
		i->fn = op_ud;
		return;
	}
	if (!(host_feat & (1u << f->feat))) {
		i->fn = op_unimpl; /* a guest CPUID the host cannot back */
		return;
	}
	if (f->fl & SW) {
		switch (f->op) {
		case 0x77: i->fn = op_emms; break;
		case 0xae: i->fn = ext == 2 ? op_ldmxcsr : op_stmxcsr; break;
		default: i->fn = op_maskmov; break;
		}
		return;
	}
	u8 b[16];
	int n = simd_encode(f, i, b, 1, 2, 6);
	use_stub(i, b, n, op_simd);
}

/* ---- guest state ---- */

static u8 *xmm(struct engine *e, int r)
{
	return e->cpu->xsave.fx.xmm[r];
}

static void xstate_dirty(struct engine *e, u64 bits)
{
	u64 bv;
	memcpy(&bv, e->cpu->xsave.bytes + X86_XSAVE_HDR, 8);
	bv |= bits;
	memcpy(e->cpu->xsave.bytes + X86_XSAVE_HDR, &bv, 8);
}

static u64 mm_get(struct engine *e, int r)
{
	u64 v;
	memcpy(&v, e->cpu->xsave.fx.st[r & 7], 8);
	return v;
}

/* An MMX write: the register's exponent and sign read as all ones
 * (SDM Vol. 1, 9.5.1). */
static void mm_set(struct engine *e, int r, u64 v)
{
	u8 *st = e->cpu->xsave.fx.st[r & 7];
	memcpy(st, &v, 8);
	st[8] = st[9] = 0xff;
}

/* x87 -> MMX transition: TOP = 0, all tags valid (SDM Vol. 1, 9.5.1). */
static void mmx_enter(struct engine *e)
{
	struct x86_fxsave *fx = &e->cpu->xsave.fx;
	fx->fsw &= (u16)~(7u << 11);
	fx->ftw = 0xff;
	xstate_dirty(e, X86_XFEATURE_FP);
}

/* #UD / #NM gating (SDM Vol. 3A, 2.5 and 13.1): CR0.EM, CR4.OSFXSR for the
 * SSE side, then CR0.TS; MMX also takes a pending x87 exception (#MF). */
static void simd_gate(struct engine *e, bool sse, bool mmx)
{
	const struct x86_cpu *c = e->cpu;
	if ((c->cr0 & X86_CR0_EM) || (sse && !(c->cr4 & X86_CR4_OSFXSR)))
		raise_exc(e, EXC_UD, NO_ERR);
	if (c->cr0 & X86_CR0_TS)
		raise_exc(e, EXC_NM, NO_ERR);
	if (mmx && (c->xsave.fx.fsw & 0x80) && (c->cr0 & X86_CR0_NE))
		raise_exc(e, EXC_MF, NO_ERR);
}

static u64 la_next(struct engine *e, u64 la)
{
	return e->mode == M_LONG ? la : (u32)la;
}

/* n bytes at la into buf: one TLB hit, else 8-byte pieces through the
 * engine's slow path (both pages checked for a split piece). */
static void simd_read(struct engine *e, u64 la, int n, u8 *buf)
{
	struct tlb_entry *t = &e->tlb.r[tlb_index(la)];
	if (likely(t->tag == tlb_tag(e, la) && (la & 0xfff) + (u64)n <= 4096)) {
		memcpy(buf, (const u8 *)(uintptr_t)(la + t->addend), (size_t)n);
		return;
	}
	for (int k = 0; k < n; k += 8) {
		int m = n - k < 8 ? n - k : 8;
		u64 v = mem_read_la(e, la_next(e, la + (u64)k), m, 0);
		memcpy(buf + k, &v, (size_t)m);
	}
}

/* Check every page of [la, la+n) for a write before any byte is written;
 * a fault on the second page reports its first byte (CR2), as hardware. */
static void probe_write(struct engine *e, u64 la, int n)
{
	u64 last = la_next(e, la + (u64)n - 1);
	mem_probe(e, la, ACC_W);
	if ((last ^ la) & ~0xfffULL)
		mem_probe(e, last & ~0xfffULL, ACC_W);
}

/* A store is all or nothing. */
static void simd_write(struct engine *e, u64 la, int n, const u8 *buf)
{
	struct tlb_entry *t = &e->tlb.w[tlb_index(la)];
	if (likely(t->tag == tlb_tag(e, la) && (la & 0xfff) + (u64)n <= 4096)) {
		u8 *p = (u8 *)(uintptr_t)(la + t->addend);
		smc_check(e, p, n);
		memcpy(p, buf, (size_t)n);
		return;
	}
	if (n > 8)
		probe_write(e, la, n);
	for (int k = 0; k < n; k += 8) {
		int m = n - k < 8 ? n - k : 8;
		u64 v = 0;
		memcpy(&v, buf + k, (size_t)m);
		mem_write_la(e, la_next(e, la + (u64)k), m, v);
	}
}

/* Linear address of the memory operand; #GP(0) for a misaligned 16-byte
 * operand of an instruction that requires alignment (SDM Vol. 1, 11.4.1). */
static u64 simd_la(struct engine *e, const struct insn *i, int n, bool write, bool align)
{
	u64 la = seg_linear(e, i->seg, ea_offset(e, i), n, write);
	if (align && (la & (u64)(n - 1)))
		raise_exc(e, EXC_GP, 0);
	return la;
}

static int mem_size(const struct simd_form *f, const struct insn *i)
{
	if (f->fl & OS)
		return (f->fl & B8) ? 1 : rex_w_of(i) ? 8 : o16_of(i) ? 2 : 4;
	if ((f->fl & W8) && rex_w_of(i))
		return 8;
	return f->msize;
}

#define MXCSR_FLAGS 0x3fu
#define MXCSR_MASKS (0x3fu << 7)
#define MXCSR_PRE 0x7u /* invalid, denormal, divide-by-zero */
#define MXCSR_UE 0x10u
#define MXCSR_UM (MXCSR_UE << 7)
#define MXCSR_FTZ 0x8000u

/* The guest's six status flags, as the stub's input flags (the others
 * clear: DF, TF and AC must not reach compiled code). */
static u64 status_flags(struct engine *e)
{
	return (flags_get(e) & 0x8d5) | 2;
}

static void call_stub(struct simd_frame *fr)
{
	if (fr->avx)
		skvm_vex_call(fr);
	else
		skvm_simd_call(fr);
}

/*
 * Run the stub of fr (its inputs filled) under the guest's MXCSR and
 * return the exception flags the instruction raises.  An exception the
 * guest left unmasked (SDM Vol. 1, 11.5.1) sets the flags and raises #XM
 * (or #UD without CR4.OSXMMEXCPT) with nothing else written; with a
 * pre-computation one, post-computation conditions are not reported.
 * tiny: the caller knows the result is tiny (underflow when unmasked).
 */
static u32 simd_exec(struct engine *e, struct simd_frame *fr, bool tiny)
{
	struct x86_cpu *c = e->cpu;
	/* All exceptions masked (the rule): run on the guest's MXCSR as it is,
	 * flags included.  Otherwise mask them all on the host and start from
	 * clear flags, to see which ones this instruction raises. */
	/* KVM_SET_FPU stores MXCSR unchecked (as KVM does); reserved bits
	 * would make the host's LDMXCSR fault in softkvm itself, so they
	 * are dropped, as the kernel's FPU restore resets a bad state */
	u32 mxcsr = c->xsave.fx.mxcsr & X86_MXCSR_MASK;
	bool masked = (mxcsr & MXCSR_MASKS) == MXCSR_MASKS;
	fr->mxcsr_in = masked ? mxcsr : (mxcsr & ~MXCSR_FLAGS) | MXCSR_MASKS;
	if (!masked && !(mxcsr & MXCSR_UM) && !tiny) {
		/* Unmasked underflow also fires for a tiny exact result, which
		 * a masked run does not flag; with FTZ the host flags every
		 * tiny result (SDM Vol. 1, 11.5.2.5). */
		struct simd_frame t = *fr;
		t.mxcsr_in |= MXCSR_FTZ;
		call_stub(&t);
		tiny = t.mxcsr_out & MXCSR_UE;
	}
	call_stub(fr);

	u32 raised = (fr->mxcsr_out & MXCSR_FLAGS) | (tiny ? MXCSR_UE : 0);
	u32 unmasked = raised & ~(mxcsr >> 7) & MXCSR_FLAGS;
	if (unmasked) {
		if (unmasked & MXCSR_PRE)
			raised &= MXCSR_PRE;
		c->xsave.fx.mxcsr = mxcsr | raised;
		xstate_dirty(e, X86_XFEATURE_SSE);
		raise_exc(e, c->cr4 & X86_CR4_OSXMMEXCPT ? 19 : EXC_UD, NO_ERR);
	}
	return raised;
}

/* The sticky flags of a completed instruction. */
static void simd_flags_commit(struct engine *e, u32 raised)
{
	u32 mxcsr = e->cpu->xsave.fx.mxcsr;
	if (raised != (mxcsr & raised))
		e->cpu->xsave.fx.mxcsr = mxcsr | raised;
}

void op_simd(struct engine *e, const struct insn *i)
{
	const struct simd_form *f = &forms[i->sx];
	struct x86_cpu *c = e->cpu;
	bool mmx = f->rk == K_M || (f->mk == K_M && !i->mem);
	if (f->rk != K_G || f->mk != K_G) /* POPCNT, CRC32, MOVBE: integer */
		simd_gate(e, !(f->fl & NOSSE), mmx);

	struct simd_frame fr;
	if (f->rk == K_X)
		memcpy(fr.x1, xmm(e, i->reg), 16);
	else if (f->rk == K_M)
		fr.mm1 = mm_get(e, i->reg);
	fr.rax = f->rk == K_G ? c->gpr[i->reg] : c->gpr[R_RAX];
	fr.rdx = c->gpr[R_RDX];
	memcpy(fr.x0, xmm(e, 0), 16);

	int n = 0;
	u64 la = 0;
	if (i->mem) {
		n = mem_size(f, i);
		la = simd_la(e, i, n, (f->fl & (S | RM)) != 0, n == 16 && !(f->fl & U));
		if (!(f->fl & S))
			simd_read(e, la, n, fr.mem);
		fr.rcx = c->gpr[R_RCX];
	} else if (f->mk == K_X) {
		memcpy(fr.x2, xmm(e, i->rm), 16);
		fr.rcx = c->gpr[R_RCX];
	} else if (f->mk == K_M) {
		fr.mm2 = mm_get(e, i->rm);
		fr.rcx = c->gpr[R_RCX];
	} else {
		fr.rcx = (f->fl & B8) ? reg_get(e, i->rm, 1) : c->gpr[i->rm];
	}
	fr.stub = i->stub;
	fr.mmx = f->rk == K_M || f->mk == K_M;
	fr.avx = 0;
	fr.rflags = (f->fl & FL) ? status_flags(e) : 2;
	u32 raised = simd_exec(e, &fr, false);

	/* commit: memory first (it may fault), then registers */
	if ((f->fl & (S | RM)) && i->mem)
		simd_write(e, la, n, fr.mem);
	if (mmx)
		mmx_enter(e);
	if (f->fl & D) {
		if (f->rk == K_X)
			memcpy(xmm(e, i->reg), fr.x1, 16);
		else if (f->rk == K_M)
			mm_set(e, i->reg, fr.mm1);
		else
			c->gpr[i->reg] = fr.rax;
	}
	if ((f->fl & (S | RM)) && !i->mem) {
		if (f->mk == K_X)
			memcpy(xmm(e, i->rm), fr.x2, 16);
		else if (f->mk == K_M)
			mm_set(e, i->rm, fr.mm2);
		else
			c->gpr[i->rm] = fr.rcx;
	}
	if (f->fl & X0)
		memcpy(xmm(e, 0), fr.x0, 16);
	if (f->fl & CX)
		c->gpr[R_RCX] = fr.rcx;
	if (f->fl & FL)
		flags_arith(e, fr.rflags);
	simd_flags_commit(e, raised);
	if (f->rk == K_X || f->mk == K_X || raised)
		xstate_dirty(e, X86_XFEATURE_SSE);
}

/* ---- the forms done in software ---- */

void op_emms(struct engine *e, const struct insn *i)
{
	(void)i;
	simd_gate(e, false, true);
	e->cpu->xsave.fx.ftw = 0; /* all empty */
	xstate_dirty(e, X86_XFEATURE_FP);
}

static void ldmxcsr_do(struct engine *e, const struct insn *i)
{
	u32 v = (u32)mem_read(e, i->seg, ea_offset(e, i), 4);
	if (v & ~X86_MXCSR_MASK)
		raise_exc(e, EXC_GP, 0);
	e->cpu->xsave.fx.mxcsr = v;
	xstate_dirty(e, X86_XFEATURE_SSE);
}

static void stmxcsr_do(struct engine *e, const struct insn *i)
{
	mem_write(e, i->seg, ea_offset(e, i), 4, e->cpu->xsave.fx.mxcsr);
}

void op_ldmxcsr(struct engine *e, const struct insn *i)
{
	simd_gate(e, true, false);
	ldmxcsr_do(e, i);
}

void op_stmxcsr(struct engine *e, const struct insn *i)
{
	simd_gate(e, true, false);
	stmxcsr_do(e, i);
}

/* The bytes of data whose mask byte has its top bit set go to DS:rDI
 * (MASKMOVQ, MASKMOVDQU, VMASKMOVDQU; SDM Vol. 2).  Every page the n
 * bytes touch is checked first, so a fault writes nothing. */
static void maskmov_store(struct engine *e, const struct insn *i, const u8 *data,
			  const u8 *mask, int n)
{
	int seg = i->seg;
	u64 off = e->cpu->gpr[R_RDI] & size_mask(i->asz);
	int any = 0;
	for (int k = 0; k < n; k++)
		any |= mask[k] & 0x80;
	if (!any)
		return;
	u64 la = seg_linear(e, seg, off, n, true);
	probe_write(e, la, n);
	for (int k = 0; k < n; k++)
		if (mask[k] & 0x80)
			mem_write_la(e, la_next(e, la + (u64)k), 1, data[k]);
}

/* MASKMOVQ / MASKMOVDQU */
void op_maskmov(struct engine *e, const struct insn *i)
{
	const struct simd_form *f = &forms[i->sx];
	bool mmx = f->rk == K_M;
	simd_gate(e, !mmx, mmx);
	int n = mmx ? 8 : 16;
	u8 data[16], mask[16];
	if (mmx) {
		u64 d = mm_get(e, i->reg), m = mm_get(e, i->rm);
		memcpy(data, &d, 8);
		memcpy(mask, &m, 8);
		mmx_enter(e);
	} else {
		memcpy(data, xmm(e, i->reg), 16);
		memcpy(mask, xmm(e, i->rm), 16);
	}
	maskmov_store(e, i, data, mask, n);
}

/* ---- VEX: AVX, AVX2, FMA, F16C (docs/engine.md, "AVX") ---- */

/*
 * A VEX form: the operands are ModRM.reg (ymm1 / rax on the host), ModRM.rm
 * (ymm2 / rcx / [rsi]), VEX.vvvv (ymm3) and the is4 register (imm8[7:4],
 * ymm4).  Memory operand sizes for VEX.L = 0 and 1.
 */
struct vex_form {
	u8 map, pfx, op;
	s8 ext;
	u8 feat, rk, mk;
	u8 ms0, ms1;
	u32 fl;
};

enum {
	VD = BIT(0),	 /* ModRM.reg written */
	VS = BIT(1),	 /* ModRM.rm written; a memory rm is not read */
	VV = BIT(2),	 /* vvvv is a source (else it must be 1111b) */
	VVR = BIT(3),	 /* vvvv a source in the register form only (VMOVSS/SD) */
	VVD = BIT(4),	 /* vvvv is the destination (shift-by-imm8 groups) */
	VI = BIT(5),	 /* imm8 */
	VA = BIT(6),	 /* the memory operand must be aligned (#GP(0)) */
	VMO = BIT(7),	 /* rm must be memory */
	VRO = BIT(8),	 /* rm must be a register */
	VFL = BIT(9),	 /* sets arithmetic flags */
	VX0 = BIT(10),	 /* writes xmm0 (VPCMPxSTRM) */
	VCX = BIT(11),	 /* writes rcx (VPCMPxSTRI) */
	VL0 = BIT(12),	 /* #UD with VEX.L = 1 */
	VL1 = BIT(13),	 /* #UD with VEX.L = 0 */
	VLIG = BIT(14),	 /* scalar: VEX.L ignored */
	VW0 = BIT(15),	 /* #UD with VEX.W = 1 */
	VW1 = BIT(16),	 /* VEX.W ignored, 1 on the host (VPERMQ, VPERMPD) */
	VWS = BIT(17),	 /* VEX.W selects the operation (in every mode) */
	VWG = BIT(18),	 /* VEX.W selects a 64-bit GPR (64-bit mode only) */
	VW8 = BIT(19),	 /* ... and then an 8-byte memory operand */
	VI2 = BIT(20),	 /* VEX.256 needs AVX2 */
	VIS4 = BIT(21),	 /* imm8[7:4] names a register */
	VRA2 = BIT(22),	 /* the register form needs AVX2 (broadcasts) */
	VSW = BIT(23),	 /* done in software */
	VWM = BIT(24),	 /* scalar FMA: memory operand 8 bytes with W */
	VWU = BIT(25),	 /* #UD with VEX.W = 1 outside 64-bit mode (VPEXTRQ, VPINSRQ) */
	VG = BIT(26),	 /* vvvv names a GPR (BMI): r8 on the host */
	VGPR = BIT(27),	 /* a GPR instruction (BMI): no AVX, OSXSAVE, XCR0 or CR0.TS rule */
};

#define V(m, p, o, x, f, r, k, s0, s1, l) {m, p, o, x, f, r, k, s0, s1, l},
/* packed, vvvv source */
#define VP(p, o) V(1, p, o, -1, FT_AVX, K_X, K_X, 16, 32, VD | VV)
/* scalar, vvvv source */
#define VSC(p, o, s) V(1, p, o, -1, FT_AVX, K_X, K_X, s, s, VD | VV | VLIG)
/* unary packed, no vvvv */
#define VU(p, o) V(1, p, o, -1, FT_AVX, K_X, K_X, 16, 32, VD)
/* integer, vvvv source, AVX2 for VEX.256 */
#define VN(m, o) V(m, P66, o, -1, FT_AVX, K_X, K_X, 16, 32, VD | VV | VI2)
/* shift by an xmm count: the count is m128 for both lengths */
#define VSH(o) V(1, P66, o, -1, FT_AVX, K_X, K_X, 16, 16, VD | VV | VI2)
/* shift by imm8 groups: vvvv is written */
#define VSI(o, x) V(1, P66, o, x, FT_AVX, K_N, K_X, 0, 0, VVD | VRO | VI | VI2)
/* PMOVSX / PMOVZX */
#define VMX(o, s) V(2, P66, o, -1, FT_AVX, K_X, K_X, s, 2 * (s), VD | VI2)
/* FMA: 132, 213, 231 of one operation */
#define VF(o) V(2, P66, o, -1, FT_FMA, K_X, K_X, 16, 32, VD | VV | VWS)
#define VFS(o) V(2, P66, o, -1, FT_FMA, K_X, K_X, 4, 4, VD | VV | VWS | VLIG | VWM)
#define VF3(o) VF(o) VF((o) + 0x10) VF((o) + 0x20)
#define VFS3(o) VFS(o) VFS((o) + 0x10) VFS((o) + 0x20)
/* 0F3A with imm8 */
#define V3(o, f, r, k, s0, s1, l) V(3, P66, o, -1, f, r, k, s0, s1, (l) | VI)
#define VARITH(o) VP(P0, o) VP(P66, o) VSC(PF3, o, 4) VSC(PF2, o, 8)
#define VB(p, o, x, f, r, l) V(2, p, o, x, f, r, K_G, 4, 4, (l) | VG | VL0 | VWG | VW8 | VGPR)

static const struct vex_form vforms[] = {
	/* 0F 10-17 */
	VU(P0, 0x10) VU(P66, 0x10)
	V(1, PF3, 0x10, -1, FT_AVX, K_X, K_X, 4, 4, VD | VVR | VLIG)
	V(1, PF2, 0x10, -1, FT_AVX, K_X, K_X, 8, 8, VD | VVR | VLIG)
	V(1, P0, 0x11, -1, FT_AVX, K_X, K_X, 16, 32, VS)
	V(1, P66, 0x11, -1, FT_AVX, K_X, K_X, 16, 32, VS)
	V(1, PF3, 0x11, -1, FT_AVX, K_X, K_X, 4, 4, VS | VVR | VLIG)
	V(1, PF2, 0x11, -1, FT_AVX, K_X, K_X, 8, 8, VS | VVR | VLIG)
	V(1, P0, 0x12, -1, FT_AVX, K_X, K_X, 8, 8, VD | VV | VL0)
	V(1, P66, 0x12, -1, FT_AVX, K_X, K_X, 8, 8, VD | VV | VL0 | VMO)
	VU(PF3, 0x12)
	V(1, PF2, 0x12, -1, FT_AVX, K_X, K_X, 8, 32, VD)
	V(1, P0, 0x13, -1, FT_AVX, K_X, K_X, 8, 8, VS | VMO | VL0)
	V(1, P66, 0x13, -1, FT_AVX, K_X, K_X, 8, 8, VS | VMO | VL0)
	VP(P0, 0x14) VP(P66, 0x14) VP(P0, 0x15) VP(P66, 0x15)
	V(1, P0, 0x16, -1, FT_AVX, K_X, K_X, 8, 8, VD | VV | VL0)
	V(1, P66, 0x16, -1, FT_AVX, K_X, K_X, 8, 8, VD | VV | VL0 | VMO)
	VU(PF3, 0x16)
	V(1, P0, 0x17, -1, FT_AVX, K_X, K_X, 8, 8, VS | VMO | VL0)
	V(1, P66, 0x17, -1, FT_AVX, K_X, K_X, 8, 8, VS | VMO | VL0)
	/* 0F 28-2F */
	V(1, P0, 0x28, -1, FT_AVX, K_X, K_X, 16, 32, VD | VA)
	V(1, P66, 0x28, -1, FT_AVX, K_X, K_X, 16, 32, VD | VA)
	V(1, P0, 0x29, -1, FT_AVX, K_X, K_X, 16, 32, VS | VA)
	V(1, P66, 0x29, -1, FT_AVX, K_X, K_X, 16, 32, VS | VA)
	V(1, PF3, 0x2a, -1, FT_AVX, K_X, K_G, 4, 4, VD | VV | VLIG | VWG | VW8)
	V(1, PF2, 0x2a, -1, FT_AVX, K_X, K_G, 4, 4, VD | VV | VLIG | VWG | VW8)
	V(1, P0, 0x2b, -1, FT_AVX, K_X, K_X, 16, 32, VS | VA | VMO)
	V(1, P66, 0x2b, -1, FT_AVX, K_X, K_X, 16, 32, VS | VA | VMO)
	V(1, PF3, 0x2c, -1, FT_AVX, K_G, K_X, 4, 4, VD | VLIG | VWG)
	V(1, PF3, 0x2d, -1, FT_AVX, K_G, K_X, 4, 4, VD | VLIG | VWG)
	V(1, PF2, 0x2c, -1, FT_AVX, K_G, K_X, 8, 8, VD | VLIG | VWG)
	V(1, PF2, 0x2d, -1, FT_AVX, K_G, K_X, 8, 8, VD | VLIG | VWG)
	V(1, P0, 0x2e, -1, FT_AVX, K_X, K_X, 4, 4, VFL | VLIG)
	V(1, P0, 0x2f, -1, FT_AVX, K_X, K_X, 4, 4, VFL | VLIG)
	V(1, P66, 0x2e, -1, FT_AVX, K_X, K_X, 8, 8, VFL | VLIG)
	V(1, P66, 0x2f, -1, FT_AVX, K_X, K_X, 8, 8, VFL | VLIG)
	/* 0F 50-5F */
	V(1, P0, 0x50, -1, FT_AVX, K_G, K_X, 0, 0, VD | VRO)
	V(1, P66, 0x50, -1, FT_AVX, K_G, K_X, 0, 0, VD | VRO)
	VU(P0, 0x51) VU(P66, 0x51) VSC(PF3, 0x51, 4) VSC(PF2, 0x51, 8)
	VU(P0, 0x52) VSC(PF3, 0x52, 4) VU(P0, 0x53) VSC(PF3, 0x53, 4)
	VP(P0, 0x54) VP(P66, 0x54) VP(P0, 0x55) VP(P66, 0x55)
	VP(P0, 0x56) VP(P66, 0x56) VP(P0, 0x57) VP(P66, 0x57)
	VARITH(0x58) VARITH(0x59) VARITH(0x5c) VARITH(0x5d) VARITH(0x5e) VARITH(0x5f)
	V(1, P0, 0x5a, -1, FT_AVX, K_X, K_X, 8, 16, VD)
	VU(P66, 0x5a) VSC(PF3, 0x5a, 4) VSC(PF2, 0x5a, 8)
	VU(P0, 0x5b) VU(P66, 0x5b) VU(PF3, 0x5b)
	/* 0F 60-7F */
	VN(1, 0x60) VN(1, 0x61) VN(1, 0x62) VN(1, 0x63) VN(1, 0x64) VN(1, 0x65)
	VN(1, 0x66) VN(1, 0x67) VN(1, 0x68) VN(1, 0x69) VN(1, 0x6a) VN(1, 0x6b)
	VN(1, 0x6c) VN(1, 0x6d)
	V(1, P66, 0x6e, -1, FT_AVX, K_X, K_G, 4, 4, VD | VL0 | VWG | VW8)
	V(1, P66, 0x6f, -1, FT_AVX, K_X, K_X, 16, 32, VD | VA)
	VU(PF3, 0x6f)
	V(1, P66, 0x70, -1, FT_AVX, K_X, K_X, 16, 32, VD | VI | VI2)
	V(1, PF3, 0x70, -1, FT_AVX, K_X, K_X, 16, 32, VD | VI | VI2)
	V(1, PF2, 0x70, -1, FT_AVX, K_X, K_X, 16, 32, VD | VI | VI2)
	VSI(0x71, 2) VSI(0x71, 4) VSI(0x71, 6) VSI(0x72, 2) VSI(0x72, 4) VSI(0x72, 6)
	VSI(0x73, 2) VSI(0x73, 3) VSI(0x73, 6) VSI(0x73, 7)
	VN(1, 0x74) VN(1, 0x75) VN(1, 0x76)
	V(1, P0, 0x77, -1, FT_AVX, K_N, K_N, 0, 0, VSW)
	VP(P66, 0x7c) VP(P66, 0x7d) VP(PF2, 0x7c) VP(PF2, 0x7d)
	V(1, P66, 0x7e, -1, FT_AVX, K_X, K_G, 4, 4, VS | VL0 | VWG | VW8)
	V(1, PF3, 0x7e, -1, FT_AVX, K_X, K_X, 8, 8, VD | VL0)
	V(1, P66, 0x7f, -1, FT_AVX, K_X, K_X, 16, 32, VS | VA)
	V(1, PF3, 0x7f, -1, FT_AVX, K_X, K_X, 16, 32, VS)
	/* 0F AE: VLDMXCSR, VSTMXCSR */
	V(1, P0, 0xae, 2, FT_AVX, K_N, K_N, 4, 4, VSW | VMO | VL0)
	V(1, P0, 0xae, 3, FT_AVX, K_N, K_N, 4, 4, VSW | VMO | VL0)
	/* 0F C2-C6 */
	V(1, P0, 0xc2, -1, FT_AVX, K_X, K_X, 16, 32, VD | VV | VI)
	V(1, P66, 0xc2, -1, FT_AVX, K_X, K_X, 16, 32, VD | VV | VI)
	V(1, PF3, 0xc2, -1, FT_AVX, K_X, K_X, 4, 4, VD | VV | VI | VLIG)
	V(1, PF2, 0xc2, -1, FT_AVX, K_X, K_X, 8, 8, VD | VV | VI | VLIG)
	V(1, P66, 0xc4, -1, FT_AVX, K_X, K_G, 2, 2, VD | VV | VI | VL0)
	V(1, P66, 0xc5, -1, FT_AVX, K_G, K_X, 0, 0, VD | VI | VRO | VL0)
	V(1, P0, 0xc6, -1, FT_AVX, K_X, K_X, 16, 32, VD | VV | VI)
	V(1, P66, 0xc6, -1, FT_AVX, K_X, K_X, 16, 32, VD | VV | VI)
	/* 0F D0-FE */
	VP(P66, 0xd0) VP(PF2, 0xd0)
	VSH(0xd1) VSH(0xd2) VSH(0xd3) VN(1, 0xd4) VN(1, 0xd5)
	V(1, P66, 0xd6, -1, FT_AVX, K_X, K_X, 8, 8, VS | VL0)
	V(1, P66, 0xd7, -1, FT_AVX, K_G, K_X, 0, 0, VD | VRO | VI2)
	VN(1, 0xd8) VN(1, 0xd9) VN(1, 0xda) VN(1, 0xdb) VN(1, 0xdc) VN(1, 0xdd)
	VN(1, 0xde) VN(1, 0xdf) VN(1, 0xe0) VSH(0xe1) VSH(0xe2) VN(1, 0xe3)
	VN(1, 0xe4) VN(1, 0xe5)
	VU(P66, 0xe6) VU(PF2, 0xe6)
	V(1, PF3, 0xe6, -1, FT_AVX, K_X, K_X, 8, 16, VD)
	V(1, P66, 0xe7, -1, FT_AVX, K_X, K_X, 16, 32, VS | VA | VMO)
	VN(1, 0xe8) VN(1, 0xe9) VN(1, 0xea) VN(1, 0xeb) VN(1, 0xec) VN(1, 0xed)
	VN(1, 0xee) VN(1, 0xef)
	V(1, PF2, 0xf0, -1, FT_AVX, K_X, K_X, 16, 32, VD | VMO)
	VSH(0xf1) VSH(0xf2) VSH(0xf3) VN(1, 0xf4) VN(1, 0xf5) VN(1, 0xf6)
	V(1, P66, 0xf7, -1, FT_AVX, K_X, K_X, 16, 16, VSW | VRO | VL0)
	VN(1, 0xf8) VN(1, 0xf9) VN(1, 0xfa) VN(1, 0xfb) VN(1, 0xfc) VN(1, 0xfd)
	VN(1, 0xfe)
	/* 0F38 */
	VN(2, 0x00) VN(2, 0x01) VN(2, 0x02) VN(2, 0x03) VN(2, 0x04) VN(2, 0x05)
	VN(2, 0x06) VN(2, 0x07) VN(2, 0x08) VN(2, 0x09) VN(2, 0x0a) VN(2, 0x0b)
	V(2, P66, 0x0c, -1, FT_AVX, K_X, K_X, 16, 32, VD | VV | VW0)
	V(2, P66, 0x0d, -1, FT_AVX, K_X, K_X, 16, 32, VD | VV | VW0)
	V(2, P66, 0x0e, -1, FT_AVX, K_X, K_X, 16, 32, VFL | VW0)
	V(2, P66, 0x0f, -1, FT_AVX, K_X, K_X, 16, 32, VFL | VW0)
	V(2, P66, 0x13, -1, FT_F16C, K_X, K_X, 8, 16, VD | VW0)
	V(2, P66, 0x16, -1, FT_AVX2, K_X, K_X, 32, 32, VD | VV | VL1 | VW0)
	V(2, P66, 0x17, -1, FT_AVX, K_X, K_X, 16, 32, VFL)
	V(2, P66, 0x18, -1, FT_AVX, K_X, K_X, 4, 4, VD | VW0 | VRA2)
	V(2, P66, 0x19, -1, FT_AVX, K_X, K_X, 8, 8, VD | VW0 | VL1 | VRA2)
	V(2, P66, 0x1a, -1, FT_AVX, K_X, K_X, 16, 16, VD | VW0 | VL1 | VMO)
	V(2, P66, 0x1c, -1, FT_AVX, K_X, K_X, 16, 32, VD | VI2)
	V(2, P66, 0x1d, -1, FT_AVX, K_X, K_X, 16, 32, VD | VI2)
	V(2, P66, 0x1e, -1, FT_AVX, K_X, K_X, 16, 32, VD | VI2)
	VMX(0x20, 8) VMX(0x21, 4) VMX(0x22, 2) VMX(0x23, 8) VMX(0x24, 4) VMX(0x25, 8)
	VN(2, 0x28) VN(2, 0x29)
	V(2, P66, 0x2a, -1, FT_AVX, K_X, K_X, 16, 32, VD | VA | VMO | VI2)
	VN(2, 0x2b)
	V(2, P66, 0x2c, -1, FT_AVX, K_X, K_X, 4, 4, VSW | VV | VMO | VW0)
	V(2, P66, 0x2d, -1, FT_AVX, K_X, K_X, 8, 8, VSW | VV | VMO | VW0)
	V(2, P66, 0x2e, -1, FT_AVX, K_X, K_X, 4, 4, VSW | VV | VMO | VW0)
	V(2, P66, 0x2f, -1, FT_AVX, K_X, K_X, 8, 8, VSW | VV | VMO | VW0)
	VMX(0x30, 8) VMX(0x31, 4) VMX(0x32, 2) VMX(0x33, 8) VMX(0x34, 4) VMX(0x35, 8)
	V(2, P66, 0x36, -1, FT_AVX2, K_X, K_X, 32, 32, VD | VV | VL1 | VW0)
	VN(2, 0x37) VN(2, 0x38) VN(2, 0x39) VN(2, 0x3a) VN(2, 0x3b) VN(2, 0x3c)
	VN(2, 0x3d) VN(2, 0x3e) VN(2, 0x3f) VN(2, 0x40)
	V(2, P66, 0x41, -1, FT_AVX, K_X, K_X, 16, 16, VD | VL0)
	V(2, P66, 0x45, -1, FT_AVX2, K_X, K_X, 16, 32, VD | VV | VWS)
	V(2, P66, 0x46, -1, FT_AVX2, K_X, K_X, 16, 32, VD | VV | VW0)
	V(2, P66, 0x47, -1, FT_AVX2, K_X, K_X, 16, 32, VD | VV | VWS)
	V(2, P66, 0x58, -1, FT_AVX2, K_X, K_X, 4, 4, VD | VW0)
	V(2, P66, 0x59, -1, FT_AVX2, K_X, K_X, 8, 8, VD | VW0)
	V(2, P66, 0x5a, -1, FT_AVX2, K_X, K_X, 16, 16, VD | VW0 | VL1 | VMO)
	V(2, P66, 0x78, -1, FT_AVX2, K_X, K_X, 1, 1, VD | VW0)
	V(2, P66, 0x79, -1, FT_AVX2, K_X, K_X, 2, 2, VD | VW0)
	V(2, P66, 0x8c, -1, FT_AVX2, K_X, K_X, 4, 4, VSW | VV | VMO | VWS)
	V(2, P66, 0x8e, -1, FT_AVX2, K_X, K_X, 4, 4, VSW | VV | VMO | VWS)
	V(2, P66, 0x90, -1, FT_AVX2, K_X, K_X, 4, 4, VSW | VV | VMO | VWS)
	V(2, P66, 0x91, -1, FT_AVX2, K_X, K_X, 4, 4, VSW | VV | VMO | VWS)
	V(2, P66, 0x92, -1, FT_AVX2, K_X, K_X, 4, 4, VSW | VV | VMO | VWS)
	V(2, P66, 0x93, -1, FT_AVX2, K_X, K_X, 4, 4, VSW | VV | VMO | VWS)
	VF3(0x96) VF3(0x97) VF3(0x98) VFS3(0x99) VF3(0x9a) VFS3(0x9b)
	VF3(0x9c) VFS3(0x9d) VF3(0x9e) VFS3(0x9f)
	V(2, P66, 0xdb, -1, FT_AES, K_X, K_X, 16, 16, VD | VL0)
	V(2, P66, 0xdc, -1, FT_AES, K_X, K_X, 16, 16, VD | VV | VL0)
	V(2, P66, 0xdd, -1, FT_AES, K_X, K_X, 16, 16, VD | VV | VL0)
	V(2, P66, 0xde, -1, FT_AES, K_X, K_X, 16, 16, VD | VV | VL0)
	V(2, P66, 0xdf, -1, FT_AES, K_X, K_X, 16, 16, VD | VV | VL0)
	/* 0F3A */
	V3(0x00, FT_AVX2, K_X, K_X, 32, 32, VD | VL1 | VW1)
	V3(0x01, FT_AVX2, K_X, K_X, 32, 32, VD | VL1 | VW1)
	V3(0x02, FT_AVX2, K_X, K_X, 16, 32, VD | VV | VW0)
	V3(0x04, FT_AVX, K_X, K_X, 16, 32, VD | VW0)
	V3(0x05, FT_AVX, K_X, K_X, 16, 32, VD | VW0)
	V3(0x06, FT_AVX, K_X, K_X, 32, 32, VD | VV | VL1 | VW0)
	V3(0x08, FT_AVX, K_X, K_X, 16, 32, VD) V3(0x09, FT_AVX, K_X, K_X, 16, 32, VD)
	V3(0x0a, FT_AVX, K_X, K_X, 4, 4, VD | VV | VLIG)
	V3(0x0b, FT_AVX, K_X, K_X, 8, 8, VD | VV | VLIG)
	V3(0x0c, FT_AVX, K_X, K_X, 16, 32, VD | VV) V3(0x0d, FT_AVX, K_X, K_X, 16, 32, VD | VV)
	V3(0x0e, FT_AVX, K_X, K_X, 16, 32, VD | VV | VI2)
	V3(0x0f, FT_AVX, K_X, K_X, 16, 32, VD | VV | VI2)
	V3(0x14, FT_AVX, K_X, K_G, 1, 1, VS | VL0) V3(0x15, FT_AVX, K_X, K_G, 2, 2, VS | VL0)
	V3(0x16, FT_AVX, K_X, K_G, 4, 4, VS | VL0 | VWG | VW8 | VWU)
	V3(0x17, FT_AVX, K_X, K_G, 4, 4, VS | VL0)
	V3(0x18, FT_AVX, K_X, K_X, 16, 16, VD | VV | VL1 | VW0)
	V3(0x19, FT_AVX, K_X, K_X, 16, 16, VS | VL1 | VW0)
	V3(0x1d, FT_F16C, K_X, K_X, 8, 16, VS | VW0)
	V3(0x20, FT_AVX, K_X, K_G, 1, 1, VD | VV | VL0)
	V3(0x21, FT_AVX, K_X, K_X, 4, 4, VD | VV | VL0)
	V3(0x22, FT_AVX, K_X, K_G, 4, 4, VD | VV | VL0 | VWG | VW8 | VWU)
	V3(0x38, FT_AVX2, K_X, K_X, 16, 16, VD | VV | VL1 | VW0)
	V3(0x39, FT_AVX2, K_X, K_X, 16, 16, VS | VL1 | VW0)
	V3(0x40, FT_AVX, K_X, K_X, 16, 32, VD | VV)
	V3(0x41, FT_AVX, K_X, K_X, 16, 16, VD | VV | VL0)
	V3(0x42, FT_AVX, K_X, K_X, 16, 32, VD | VV | VI2)
	V3(0x44, FT_PCLMUL, K_X, K_X, 16, 16, VD | VV | VL0)
	V3(0x46, FT_AVX2, K_X, K_X, 32, 32, VD | VV | VL1 | VW0)
	V3(0x4a, FT_AVX, K_X, K_X, 16, 32, VD | VV | VIS4 | VW0)
	V3(0x4b, FT_AVX, K_X, K_X, 16, 32, VD | VV | VIS4 | VW0)
	V3(0x4c, FT_AVX, K_X, K_X, 16, 32, VD | VV | VIS4 | VW0 | VI2)
	V3(0x60, FT_AVX, K_X, K_X, 16, 16, VFL | VX0 | VL0 | VWG)
	V3(0x61, FT_AVX, K_X, K_X, 16, 16, VFL | VCX | VL0 | VWG)
	V3(0x62, FT_AVX, K_X, K_X, 16, 16, VFL | VX0 | VL0 | VWG)
	V3(0x63, FT_AVX, K_X, K_X, 16, 16, VFL | VCX | VL0 | VWG)
	V3(0xdf, FT_AES, K_X, K_X, 16, 16, VD | VL0)
	/* BMI1, BMI2: GPR operands, 32 or 64 bits by VEX.W in 64-bit mode */
	VB(P0, 0xf2, -1, FT_BMI1, K_G, VD | VV | VFL)		/* ANDN */
	VB(P0, 0xf3, 1, FT_BMI1, K_N, VVD | VFL)		/* BLSR */
	VB(P0, 0xf3, 2, FT_BMI1, K_N, VVD | VFL)		/* BLSMSK */
	VB(P0, 0xf3, 3, FT_BMI1, K_N, VVD | VFL)		/* BLSI */
	VB(P0, 0xf5, -1, FT_BMI2, K_G, VD | VV | VFL)		/* BZHI */
	VB(PF3, 0xf5, -1, FT_BMI2, K_G, VD | VV)		/* PEXT */
	VB(PF2, 0xf5, -1, FT_BMI2, K_G, VD | VV)		/* PDEP */
	VB(PF2, 0xf6, -1, FT_BMI2, K_G, VD | VVD)		/* MULX */
	VB(P0, 0xf7, -1, FT_BMI1, K_G, VD | VV | VFL)		/* BEXTR */
	VB(P66, 0xf7, -1, FT_BMI2, K_G, VD | VV)		/* SHLX */
	VB(PF3, 0xf7, -1, FT_BMI2, K_G, VD | VV)		/* SARX */
	VB(PF2, 0xf7, -1, FT_BMI2, K_G, VD | VV)		/* SHRX */
	V(3, PF2, 0xf0, -1, FT_BMI2, K_G, K_G, 4, 4, VD | VI | VL0 | VWG | VW8 | VGPR) /* RORX */
};

/* (map, opcode, prefix) -> first VEX row */
static s16 vform_index[4][256][4];
static pthread_once_t vform_once = PTHREAD_ONCE_INIT;

static void vform_init(void)
{
	pthread_once(&form_once, form_init);
	memset(vform_index, 0xff, sizeof(vform_index));
	for (int k = (int)ARRAY_SIZE(vforms) - 1; k >= 0; k--)
		vform_index[vforms[k].map][vforms[k].op][pfx_slot(vforms[k].pfx)] = (s16)k;
	/* The host runs VEX stubs only if its OS enabled the YMM state. */
	u32 a, b, c, d;
	bool ymm = false;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & BIT(27))) {
		u32 lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		ymm = (lo & 6) == 6;
	}
	if (!ymm)
		host_feat &= ~(BIT(FT_AVX) | BIT(FT_AVX2) | BIT(FT_FMA) | BIT(FT_F16C) |
			       BIT(FT_BMI1) | BIT(FT_BMI2));
}

int vex_find(int map, u8 op, u8 pfx, u32 *dec)
{
	pthread_once(&vform_once, vform_init);
	if (map < 1 || map > 3)
		return -1;
	int k = vform_index[map][op][pfx_slot(pfx)];
	if (k < 0)
		return -1;
	const struct vex_form *f = &vforms[k];
	*dec = (f->fl & VI ? SIMD_DEC_IMM8 : 0) | (f->ext >= 0 ? SIMD_DEC_GROUP : 0) |
	       (f->map == 1 && f->op == 0x77 ? SIMD_DEC_NOMODRM : 0);
	return k;
}

int vex_find_ext(int vx, int ext)
{
	const struct vex_form *f = &vforms[vx];
	for (size_t k = (size_t)vx; k < ARRAY_SIZE(vforms); k++)
		if (vforms[k].map == f->map && vforms[k].op == f->op && vforms[k].pfx == f->pfx &&
		    vforms[k].ext == ext)
			return (int)k;
	return -1;
}

/* insn fields of a VEX instruction: op = L | W << 1 | 64-bit mode << 2,
 * imm2 = vvvv, rm = the VSIB index register of a gather. */
static bool vex_l(const struct insn *i)
{
	return i->op & 1;
}
static bool vex_w(const struct insn *i)
{
	return i->op & 2;
}
static bool vex_64(const struct insn *i)
{
	return i->op & 4;
}

static int vex_msize(const struct vex_form *f, const struct insn *i)
{
	if (((f->fl & VW8) && vex_64(i) && vex_w(i)) || ((f->fl & VWM) && vex_w(i)))
		return 8;
	return vex_l(i) && !(f->fl & VLIG) ? f->ms1 : f->ms0;
}

static bool vex_uses_v(const struct vex_form *f, const struct insn *i)
{
	return (f->fl & (VV | VVD)) || ((f->fl & VVR) && !i->mem);
}

/* The renamed encoding (3-byte VEX) of i into b; returns its length.
 * Vector operands go to host registers xr (ModRM.reg), xm (ModRM.rm), xv
 * (vvvv) and x4 (is4), GPRs to rax / rcx / r8, memory to [mbase]. */
static int vex_encode(const struct vex_form *f, const struct insn *i, u8 *b, int xr, int xm,
		      int xv, int x4, int mbase)
{
	bool w = (vex_w(i) && ((f->fl & VWS) || ((f->fl & VWG) && vex_64(i)))) || (f->fl & VW1);
	bool l = vex_l(i) && !(f->fl & VLIG);
	u8 pp = (u8)pfx_slot(f->pfx); /* as VEX.pp */
	u8 vf = !vex_uses_v(f, i) ? 15 : (f->fl & VG) ? (u8)(~8u & 15) : (u8)(~(unsigned)xv & 15);
	u8 reg = f->rk == K_N ? (u8)f->ext : f->rk == K_G ? 0 : (u8)xr;
	u8 rm = i->mem ? (u8)mbase : f->mk == K_G ? 1 : (u8)xm;
	int n = 0;
	b[n++] = 0xc4;
	b[n++] = (u8)((reg & 8 ? 0 : 0x80) | 0x40 | (rm & 8 ? 0 : 0x20) | f->map);
	b[n++] = (u8)((w ? 0x80 : 0) | vf << 3 | (l ? 4 : 0) | pp);
	b[n++] = f->op;
	b[n++] = (u8)((i->mem ? 0 : 0xc0) | (reg & 7) << 3 | (rm & 7));
	if (f->fl & VI)
		b[n++] = (f->fl & VIS4) ? (u8)(x4 << 4 | (i->imm & 15)) : (u8)i->imm;
	return n;
}

void vex_decode(struct engine *e, struct insn *i, int vx, u8 vsib, bool w, bool l, u8 vvvv,
		int seg)
{
	const struct vex_form *f = &vforms[vx];
	/* An unused vvvv must be 1111b in every mode (what the host CPU
	 * does); a used one names one of 8 registers outside 64-bit mode. */
	if (!vex_uses_v(f, i) && vvvv) {
		i->fn = op_ud;
		return;
	}
	if (!e->code64)
		vvvv &= 7;
	i->sx = (u16)vx;
	i->imm &= 0xff;
	i->op = (u8)((l ? 1 : 0) | (w ? 2 : 0) | (e->code64 ? 4 : 0));
	i->imm2 = vvvv;
	if (!i->mem)
		i->seg = seg >= 0 ? (u8)seg : S_DS; /* VMASKMOVDQU's DS:rDI */
	bool gather = f->map == 2 && (f->op & 0xfc) == 0x90;
	if (gather) {
		/* VSIB: a SIB byte, 32/64-bit addressing; the destination,
		 * index and mask registers all distinct (SDM Vol. 2 VPGATHERDD) */
		u8 x = vsib & 15;
		if (vsib == 0xff || i->asz == 2 || x == i->reg || x == vvvv || i->reg == vvvv) {
			i->fn = op_ud;
			return;
		}
		i->rm = x;
		i->index = REG_NONE;
	}
	u32 fl = f->fl;
	bool ud = ((fl & VMO) && !i->mem) || ((fl & VRO) && i->mem) || ((fl & VL0) && l) ||
		  ((fl & VL1) && !l) || ((fl & VW0) && w) ||
		  ((fl & VWU) && w && !e->code64) ||
		  (!(fl & VGPR) && !guest_has(e, FT_AVX)) ||
		  !guest_has(e, f->feat) ||
		  (l && (fl & VI2) && !guest_has(e, FT_AVX2)) ||
		  ((fl & VRA2) && !i->mem && !guest_has(e, FT_AVX2));
	if (ud) {
		i->fn = op_ud;
		return;
	}
	u32 need = ((fl & VGPR) ? 0 : BIT(FT_AVX)) | BIT(f->feat) |
		   ((l && (fl & VI2)) || ((fl & VRA2) && !i->mem) ? BIT(FT_AVX2) : 0);
	if ((host_feat & need) != need) {
		i->fn = op_unimpl; /* a guest CPUID the host cannot back */
		return;
	}
	if (fl & VSW) {
		i->fn = op_vex_sw;
		return;
	}
	u8 b[16];
	int n = vex_encode(f, i, b, 1, 2, 3, 4, 6);
	use_stub(i, b, n, op_vex);
}

/* YMM register r: the low half in the FXSAVE image, the upper half in the
 * YMM_Hi128 component (SDM Vol. 1 13.5.3). */
static u8 *ymm_hi(struct engine *e, int r)
{
	return e->cpu->xsave.bytes + X86_XSAVE_YMM + 16 * r;
}

static void ymm_get(struct engine *e, int r, u8 *out)
{
	memcpy(out, xmm(e, r), 16);
	memcpy(out + 16, ymm_hi(e, r), 16);
}

static void ymm_set(struct engine *e, int r, const u8 *in)
{
	memcpy(xmm(e, r), in, 16);
	memcpy(ymm_hi(e, r), in + 16, 16);
}

/* #UD without CR4.OSXSAVE or with XCR0 missing SSE or AVX state, then #NM
 * for CR0.TS (SDM Vol. 2 2.8, exception types 1-6; CR0.EM and CR4.OSFXSR
 * do not matter to VEX forms). */
static void vex_gate(struct engine *e)
{
	const struct x86_cpu *c = e->cpu;
	if (!(c->cr4 & X86_CR4_OSXSAVE) ||
	    (c->xcr0 & (X86_XFEATURE_SSE | X86_XFEATURE_YMM)) !=
		    (X86_XFEATURE_SSE | X86_XFEATURE_YMM))
		raise_exc(e, EXC_UD, NO_ERR);
	if (c->cr0 & X86_CR0_TS)
		raise_exc(e, EXC_NM, NO_ERR);
}

/* VCVTPS2PH ignores MXCSR.FTZ (SDM Vol. 2 VCVTPS2PH), so the FTZ probe of
 * simd_exec cannot see a tiny exact result: any source element that is
 * finite, non-zero and below the smallest normal half (2^-14) is tiny.
 * DAZ makes single denormals zero first. */
static bool ps2ph_tiny(struct engine *e, const struct insn *i, const u8 *src)
{
	u32 mxcsr = e->cpu->xsave.fx.mxcsr;
	if ((mxcsr & MXCSR_MASKS) == MXCSR_MASKS || (mxcsr & MXCSR_UM))
		return false;
	for (int k = 0; k < (vex_l(i) ? 8 : 4); k++) {
		u32 v;
		memcpy(&v, src + 4 * k, 4);
		u32 exp = (v >> 23) & 0xff, mag = v & 0x7fffffff;
		if (!mag || exp == 0xff || (exp == 0 && (mxcsr & 0x40)))
			continue;
		if (exp < 127 - 14)
			return true;
	}
	return false;
}

void op_vex(struct engine *e, const struct insn *i)
{
	const struct vex_form *f = &vforms[i->sx];
	struct x86_cpu *c = e->cpu;
	if (!(f->fl & VGPR))
		vex_gate(e);
	int nreg = vex_64(i) ? 15 : 7;

	struct simd_frame fr;
	if (f->rk == K_X)
		ymm_get(e, i->reg, fr.x1);
	fr.rax = f->rk == K_G ? c->gpr[i->reg] : c->gpr[R_RAX];
	fr.rcx = c->gpr[R_RCX];
	fr.rdx = c->gpr[R_RDX];
	ymm_get(e, 0, fr.x0);
	if ((f->fl & VG) && vex_uses_v(f, i))
		fr.r8 = c->gpr[i->imm2];
	else if (vex_uses_v(f, i))
		ymm_get(e, i->imm2, fr.x3);
	if (f->fl & VIS4)
		ymm_get(e, (int)(i->imm >> 4) & nreg, fr.x4);

	int n = 0;
	u64 la = 0;
	if (i->mem) {
		n = vex_msize(f, i);
		la = simd_la(e, i, n, (f->fl & VS) != 0, (f->fl & VA) != 0);
		if (!(f->fl & VS))
			simd_read(e, la, n, fr.mem);
		else /* a store's page fault comes before #XM (VCVTPS2PH) */
			probe_write(e, la, n);
	} else if (f->mk == K_X) {
		ymm_get(e, i->rm, fr.x2);
	} else if (f->mk == K_G) {
		fr.rcx = c->gpr[i->rm];
	}
	fr.stub = i->stub;
	fr.mmx = 0;
	fr.avx = 1;
	fr.rflags = (f->fl & VFL) ? status_flags(e) : 2;
	u32 raised = simd_exec(e, &fr, f->map == 3 && f->op == 0x1d && ps2ph_tiny(e, i, fr.x1));

	/* commit: memory first (it may fault), then registers */
	bool vec = false;
	if ((f->fl & VS) && i->mem)
		simd_write(e, la, n, fr.mem);
	/* vvvv before ModRM.reg: MULX with both the same keeps the high half */
	if ((f->fl & VVD) && (f->fl & VG))
		c->gpr[i->imm2] = fr.r8;
	else if (f->fl & VVD)
		ymm_set(e, i->imm2, fr.x3), vec = true;
	if (f->fl & VD) {
		if (f->rk == K_X)
			ymm_set(e, i->reg, fr.x1), vec = true;
		else
			c->gpr[i->reg] = fr.rax;
	}
	if ((f->fl & VS) && !i->mem) {
		if (f->mk == K_X)
			ymm_set(e, i->rm, fr.x2), vec = true;
		else
			c->gpr[i->rm] = fr.rcx;
	}
	if (f->fl & VX0)
		ymm_set(e, 0, fr.x0), vec = true;
	if (f->fl & VCX)
		c->gpr[R_RCX] = fr.rcx;
	if (f->fl & VFL)
		flags_arith(e, fr.rflags);
	simd_flags_commit(e, raised);
	if (vec)
		xstate_dirty(e, X86_XFEATURE_SSE | X86_XFEATURE_YMM);
	else if (raised)
		xstate_dirty(e, X86_XFEATURE_SSE);
}

/* VMASKMOVPS/PD, VPMASKMOVD/Q: only the elements whose mask (vvvv) has
 * the top bit set are accessed, so only they fault (SDM Vol. 2); a store
 * checks them all before writing any. */
static void vex_maskmov(struct engine *e, const struct insn *i, const struct vex_form *f)
{
	int es = f->map == 2 && (f->op & 0xf0) == 0x80 ? (vex_w(i) ? 8 : 4) : (f->op & 1) ? 8 : 4;
	bool store = f->op & 2;
	int nel = (vex_l(i) ? 32 : 16) / es;
	u8 mask[32], data[32];
	ymm_get(e, i->imm2, mask);
	u64 off = ea_offset(e, i), la[8];
	for (int k = 0; k < nel; k++)
		if (mask[k * es + es - 1] & 0x80) {
			la[k] = seg_linear(e, i->seg, (off + (u64)(k * es)) & size_mask(i->asz), es,
					   store);
			if (store)
				probe_write(e, la[k], es);
		}
	if (store) {
		ymm_get(e, i->reg, data);
		for (int k = 0; k < nel; k++)
			if (mask[k * es + es - 1] & 0x80)
				simd_write(e, la[k], es, data + k * es);
		return;
	}
	memset(data, 0, sizeof(data));
	for (int k = 0; k < nel; k++)
		if (mask[k * es + es - 1] & 0x80)
			simd_read(e, la[k], es, data + k * es);
	ymm_set(e, i->reg, data);
	xstate_dirty(e, X86_XFEATURE_SSE | X86_XFEATURE_YMM);
}

/*
 * VGATHERDPS/DPD/QPS/QPD, VPGATHERDD/DQ/QD/QQ: element k, if its mask
 * element's top bit is set, is read from base + disp + index[k] * scale.
 * Elements complete in order; each completed one is written to the
 * destination and its mask element cleared at once, so a fault leaves the
 * registers as far as they got (SDM Vol. 2 VGATHERDPS: restartable).  At
 * the end the whole mask register is zero and the destination's bits
 * above the gathered elements are cleared.
 */
static void vex_gather(struct engine *e, const struct insn *i, const struct vex_form *f)
{
	int isz = (f->op & 1) ? 8 : 4, dsz = vex_w(i) ? 8 : 4, vb = vex_l(i) ? 32 : 16;
	int nel = vb / isz < vb / dsz ? vb / isz : vb / dsz;
	int dst = i->reg, msk = i->imm2;
	u8 d[32], m[32], x[32];
	ymm_get(e, dst, d);
	ymm_get(e, msk, m);
	ymm_get(e, i->rm, x);
	u64 base = ea_offset(e, i);
	xstate_dirty(e, X86_XFEATURE_SSE | X86_XFEATURE_YMM);
	for (int k = 0; k < nel; k++) {
		if (!(m[k * dsz + dsz - 1] & 0x80))
			continue;
		s64 iv;
		if (isz == 4) {
			s32 v;
			memcpy(&v, x + 4 * k, 4);
			iv = v;
		} else {
			memcpy(&iv, x + 8 * k, 8);
		}
		u64 off = (base + ((u64)iv << i->scale)) & size_mask(i->asz);
		u64 la = seg_linear(e, i->seg, off, dsz, false);
		simd_read(e, la, dsz, d + k * dsz);
		memset(m + k * dsz, 0, (size_t)dsz);
		ymm_set(e, dst, d);
		ymm_set(e, msk, m);
	}
	memset(d + nel * dsz, 0, (size_t)(32 - nel * dsz));
	memset(m, 0, sizeof(m));
	ymm_set(e, dst, d);
	ymm_set(e, msk, m);
}

/* VZEROUPPER, VZEROALL, VLDMXCSR, VSTMXCSR, VMASKMOVDQU, the masked moves
 * and the gathers. */
void op_vex_sw(struct engine *e, const struct insn *i)
{
	const struct vex_form *f = &vforms[i->sx];
	vex_gate(e);
	if (f->map == 1) {
		switch (f->op) {
		case 0x77: {
			/* outside 64-bit mode only ymm0-7 (SDM Vol. 2 VZEROUPPER) */
			int nr = vex_64(i) ? 16 : 8;
			for (int r = 0; r < nr; r++) {
				memset(ymm_hi(e, r), 0, 16);
				if (vex_l(i))
					memset(xmm(e, r), 0, 16);
			}
			xstate_dirty(e, X86_XFEATURE_SSE | X86_XFEATURE_YMM);
			return;
		}
		case 0xae:
			if (f->ext == 2)
				ldmxcsr_do(e, i);
			else
				stmxcsr_do(e, i);
			return;
		default: /* F7: VMASKMOVDQU */
			maskmov_store(e, i, xmm(e, i->reg), xmm(e, i->rm), 16);
			return;
		}
	}
	if ((f->op & 0xfc) == 0x90)
		vex_gather(e, i, f);
	else
		vex_maskmov(e, i, f);
}

/* ---- forms the JIT runs inline (jit_simd.c) ---- */

/* Legacy forms that replace all 128 bits of ModRM.reg without reading it
 * (MOVUPS/UPD, MOVAPS/APD, MOVDQA/DQU, MOVQ, MOVD; MOVSS/SD loads). */
static bool simd_reg_replaced(const struct simd_form *f, const struct insn *i)
{
	if (f->map != 1)
		return false;
	switch (f->op) {
	case 0x10: return f->pfx == P0 || f->pfx == P66 || i->mem;
	case 0x28: return f->pfx == P0 || f->pfx == P66;
	case 0x6f: return f->pfx == P66 || f->pfx == PF3;
	case 0x6e: return f->pfx == P66;
	case 0x7e: return f->pfx == PF3;
	default: return false;
	}
}

bool simd_host_ymm(void)
{
	pthread_once(&vform_once, vform_init);
	return host_feat & BIT(FT_AVX);
}

bool simd_jit_form(const struct insn *i, struct simd_jit *j)
{
	memset(j, 0, sizeof(*j));
	j->g_rcx = j->g_rax = j->g_wrcx = -1;
	if (i->fn == op_simd) {
		const struct simd_form *f = &forms[i->sx];
		if ((f->fl & (SW | FL | X0 | CX | NOSSE | B8 | OS)) || f->rk == K_M || f->mk == K_M)
			return false;
		if (f->rk == K_X) {
			if (f->fl & D)
				j->wr |= (u16)BIT(i->reg);
			if (!(f->fl & D) || !simd_reg_replaced(f, i))
				j->rd |= (u16)BIT(i->reg);
		} else if (f->rk == K_G) {
			if (!(f->fl & D))
				return false;
			j->g_rax = (s8)i->reg;
		}
		if (i->mem) {
			j->msize = (u8)mem_size(f, i);
			j->mwrite = (f->fl & S) != 0;
			j->malign = j->msize == 16 && !(f->fl & U);
		} else if (f->mk == K_X) {
			j->rd |= (u16)BIT(i->rm);
			if (f->fl & (S | RM))
				j->wr |= (u16)BIT(i->rm);
		} else if (f->fl & S) {
			j->g_wrcx = (s8)i->rm;
		} else {
			j->g_rcx = (s8)i->rm;
		}
		if (f->map == 2 && (f->op == 0x10 || f->op == 0x14 || f->op == 0x15))
			j->rd |= 1; /* BLENDV: xmm0 */
		j->len = (u8)simd_encode(f, i, j->bytes, i->reg, i->rm, 15);
		return true;
	}
	if (i->fn != op_vex)
		return false;
	const struct vex_form *f = &vforms[i->sx];
	if ((f->fl & (VSW | VFL | VX0 | VCX | VGPR | VG)) || (f->map == 3 && f->op == 0x1d))
		return false; /* VCVTPS2PH: its own underflow rule */
	j->vex = true;
	j->wide = vex_l(i) && !(f->fl & VLIG);
	if (f->rk == K_X) {
		if (f->fl & VD)
			j->wr |= (u16)BIT(i->reg);
		if (!(f->fl & VD) || f->feat == FT_FMA) /* VEX writes the whole ymm */
			j->rd |= (u16)BIT(i->reg);
	} else if (f->rk == K_G) {
		if (!(f->fl & VD))
			return false;
		j->g_rax = (s8)i->reg;
	}
	int v = i->imm2 & 15, r4 = (int)(i->imm >> 4) & 15;
	if (vex_uses_v(f, i))
		j->rd |= (f->fl & VVD) ? 0 : (u16)BIT(v), j->wr |= (f->fl & VVD) ? (u16)BIT(v) : 0;
	if (f->fl & VIS4)
		j->rd |= (u16)BIT(r4);
	if (i->mem) {
		j->msize = (u8)vex_msize(f, i);
		j->mwrite = (f->fl & VS) != 0;
		j->malign = (f->fl & VA) != 0;
	} else if (f->mk == K_X) {
		j->rd |= (u16)BIT(i->rm);
		if (f->fl & VS)
			j->wr |= (u16)BIT(i->rm);
	} else if (f->fl & VS) {
		j->g_wrcx = (s8)i->rm;
	} else {
		j->g_rcx = (s8)i->rm;
	}
	j->len = (u8)vex_encode(f, i, j->bytes, i->reg, i->rm, v, r4, 15);
	return true;
}
