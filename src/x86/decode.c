/*
 * The instruction decoder: prefixes, one opcode table per map with
 * operand-kind flags, ModRM/SIB, immediates.  The handler is picked here, at
 * decode time; anything the tables do not name ends in op_unimpl, which
 * exits with KVM_INTERNAL_ERROR_EMULATION and the instruction bytes.
 */
#include "x86/exec.h"
#include "x86/cpuid.h"
#include "x86/native.h"

/* The tables default every slot, then name the implemented ones. */
#pragma GCC diagnostic ignored "-Woverride-init"

enum {
	F_MODRM = BIT(0),
	F_BYTE = BIT(1),   /* 8-bit operation */
	F_IMM8 = BIT(2),   /* imm8, sign-extended */
	F_IMMZ = BIT(3),   /* imm16/imm32 by operand size, sign-extended */
	F_IMMV = BIT(4),   /* imm16/32/64 (MOV r, imm) */
	F_IMM16 = BIT(5),
	F_DEF64 = BIT(6),  /* 64-bit default operand size in 64-bit mode */
	F_F64 = BIT(7),	   /* always 64-bit in 64-bit mode (near branches) */
	F_NO64 = BIT(8),   /* #UD in 64-bit mode */
	F_LOCK = BIT(9),   /* LOCK allowed with a memory destination */
	F_MOFFS = BIT(10), /* address-size offset */
	F_FAR = BIT(11),   /* ptr16:16/32 */
	F_ENTER = BIT(12), /* imm16, imm8 */
	F_RM8 = BIT(13),   /* r/m is a byte operand (MOVZX/MOVSX/SETcc) */
	F_REG = BIT(14),   /* register in the low opcode bits */
	F_ONLY64 = BIT(15),/* #UD outside 64-bit mode */
	F_CR = BIT(16),	   /* MOV CR/DR: mod is ignored, always a register */
};

struct op_ent {
	x86_handler fn;
	const struct op_ent *grp; /* ModRM.reg selects from 8 entries */
	u32 flags;
	u8 op;
};

#define E(h, f, o) {op_##h, NULL, (f), (o)}
#define G(g, f) {NULL, g, (f) | F_MODRM, 0}
#define M F_MODRM
#define B F_BYTE
#define L F_LOCK

/* The eight ALU operations share one row shape (opcodes 00-3F). */
#define ALU_ROW(n)                                                              \
	[(n) * 8 + 0] = E(alu_rm_r, M | B | L, n),                              \
	[(n) * 8 + 1] = E(alu_rm_r, M | L, n),                                  \
	[(n) * 8 + 2] = E(alu_r_rm, M | B, n),                                  \
	[(n) * 8 + 3] = E(alu_r_rm, M, n),                                      \
	[(n) * 8 + 4] = E(alu_a_imm, B | F_IMM8, n),                            \
	[(n) * 8 + 5] = E(alu_a_imm, F_IMMZ, n)

static const struct op_ent grp1_b[8] = {
	[0 ... 6] = E(alu_rm_imm, B | F_IMM8 | L, 0), [7] = E(alu_rm_imm, B | F_IMM8, 0)};
static const struct op_ent grp1_z[8] = {
	[0 ... 6] = E(alu_rm_imm, F_IMMZ | L, 0), [7] = E(alu_rm_imm, F_IMMZ, 0)};
static const struct op_ent grp1_8[8] = {
	[0 ... 6] = E(alu_rm_imm, F_IMM8 | L, 0), [7] = E(alu_rm_imm, F_IMM8, 0)};
static const struct op_ent grp2_1b[8] = {[0 ... 7] = E(shift_rm, B, 1)};
static const struct op_ent grp2_1[8] = {[0 ... 7] = E(shift_rm, 0, 1)};
static const struct op_ent grp2_clb[8] = {[0 ... 7] = E(shift_rm, B, 2)};
static const struct op_ent grp2_cl[8] = {[0 ... 7] = E(shift_rm, 0, 2)};
static const struct op_ent grp2_ib[8] = {[0 ... 7] = E(shift_rm, B | F_IMM8, 0)};
static const struct op_ent grp2_i[8] = {[0 ... 7] = E(shift_rm, F_IMM8, 0)};
static const struct op_ent grp3_b[8] = {
	E(test_rm_imm, B | F_IMM8, 0), E(test_rm_imm, B | F_IMM8, 0), E(not_rm, B | L, 0),
	E(neg_rm, B | L, 0), E(mul_rm, B, 0), E(imul_rm, B, 0), E(div_rm, B, 0),
	E(idiv_rm, B, 0)};
static const struct op_ent grp3_v[8] = {
	E(test_rm_imm, F_IMMZ, 0), E(test_rm_imm, F_IMMZ, 0), E(not_rm, L, 0),
	E(neg_rm, L, 0), E(mul_rm, 0, 0), E(imul_rm, 0, 0), E(div_rm, 0, 0),
	E(idiv_rm, 0, 0)};
static const struct op_ent grp4[8] = {
	E(inc_dec_rm, B | L, 0), E(inc_dec_rm, B | L, 1), [2 ... 7] = E(ud, 0, 0)};
static const struct op_ent grp5[8] = {
	E(inc_dec_rm, L, 0), E(inc_dec_rm, L, 1), E(call_rm, F_F64, 0),
	E(call_far_rm, 0, 0), E(jmp_rm, F_F64, 0), E(jmp_far_rm, 0, 0),
	E(push_rm, F_DEF64, 0), E(ud, 0, 0)};
static const struct op_ent grp1a[8] = {E(pop_rm, F_DEF64, 0), [1 ... 7] = E(ud, 0, 0)};
static const struct op_ent grp11_b[8] = {E(mov_rm_imm, B | F_IMM8, 0), [1 ... 7] = E(ud, 0, 0)};
static const struct op_ent grp11_z[8] = {E(mov_rm_imm, F_IMMZ, 0), [1 ... 7] = E(ud, 0, 0)};
static const struct op_ent grp6[8] = {
	E(sldt_str, 0, 0), E(sldt_str, 0, 1), E(lldt_ltr, 0, 0), E(lldt_ltr, 0, 1),
	E(verr_verw, 0, 0), E(verr_verw, 0, 1), [6 ... 7] = E(unimpl, 0, 0)};
static const struct op_ent grp7[8] = {
	E(sgdt_sidt, 0, 0), E(sgdt_sidt, 0, 1), E(lgdt_lidt, 0, 0), E(lgdt_lidt, 0, 1),
	E(smsw, 0, 0), E(unimpl, 0, 0), E(lmsw, 0, 0), E(invlpg, 0, 0)};
static const struct op_ent grp8[8] = {
	[0 ... 3] = E(ud, 0, 0), E(bt_rm_imm, F_IMM8, 0), E(bt_rm_imm, F_IMM8 | L, 1),
	E(bt_rm_imm, F_IMM8 | L, 2), E(bt_rm_imm, F_IMM8 | L, 3)};
static const struct op_ent grp9[8] = {
	E(ud, 0, 0), E(cmpxchg8b, L, 0), [2 ... 5] = E(ud, 0, 0), [6 ... 7] = E(unimpl, 0, 0),
	[3] = E(xsave, 0, 5), [4] = E(xsave, 0, 3), [5] = E(xsave, 0, 4)};
static const struct op_ent grp15[8] = {[0 ... 6] = E(unimpl, 0, 0), [7] = E(clflush, 0, 0),
	[0] = E(fxsave, 0, 0), [1] = E(fxsave, 0, 1),
	[4] = E(xsave, 0, 0), [5] = E(xsave, 0, 1), [6] = E(xsave, 0, 2)};

static const struct op_ent map1[256] = {
	[0 ... 255] = E(unimpl, 0, 0),
	ALU_ROW(0), ALU_ROW(1), ALU_ROW(2), ALU_ROW(3),
	ALU_ROW(4), ALU_ROW(5), ALU_ROW(6), ALU_ROW(7),
	[0x06] = E(push_seg, F_NO64, S_ES), [0x07] = E(pop_seg, F_NO64, S_ES),
	[0x0e] = E(push_seg, F_NO64, S_CS), [0x16] = E(push_seg, F_NO64, S_SS),
	[0x17] = E(pop_seg, F_NO64, S_SS), [0x1e] = E(push_seg, F_NO64, S_DS),
	[0x1f] = E(pop_seg, F_NO64, S_DS),
	[0x27] = E(bcd, F_NO64, 0), [0x2f] = E(bcd, F_NO64, 1),
	[0x37] = E(bcd, F_NO64, 2), [0x3f] = E(bcd, F_NO64, 3),
	[0xd4] = E(aam_aad, F_NO64 | F_IMM8, 0), [0xd5] = E(aam_aad, F_NO64 | F_IMM8, 1),
	[0x40 ... 0x47] = E(inc_dec_r, F_REG | F_NO64, 0),
	[0x48 ... 0x4f] = E(inc_dec_r, F_REG | F_NO64, 1),
	[0x50 ... 0x57] = E(push_r, F_REG | F_DEF64, 0),
	[0x58 ... 0x5f] = E(pop_r, F_REG | F_DEF64, 0),
	[0x60] = E(pusha, F_NO64, 0), [0x61] = E(popa, F_NO64, 0),
	[0x62] = E(bound, M | F_NO64, 0), /* EVEX in 64-bit mode: not ours */
	[0x63] = E(movsxd, M, 0), /* ARPL outside 64-bit mode: see decode() */
	[0x68] = E(push_imm, F_IMMZ | F_DEF64, 0), [0x69] = E(imul_r_rm_imm, M | F_IMMZ, 0),
	[0x6a] = E(push_imm, F_IMM8 | F_DEF64, 0), [0x6b] = E(imul_r_rm_imm, M | F_IMM8, 0),
	[0x6c] = E(string_op, B, 6), [0x6d] = E(string_op, 0, 6),
	[0x6e] = E(string_op, B, 7), [0x6f] = E(string_op, 0, 7),
	[0x70 ... 0x7f] = E(jcc, F_IMM8 | F_F64, 0),
	[0x80] = G(grp1_b, 0), [0x81] = G(grp1_z, 0), [0x82] = G(grp1_b, F_NO64),
	[0x83] = G(grp1_8, 0),
	[0x84] = E(test_rm_r, M | B, 0), [0x85] = E(test_rm_r, M, 0),
	[0x86] = E(xchg_rm_r, M | B | L, 0), [0x87] = E(xchg_rm_r, M | L, 0),
	[0x88] = E(mov_rm_r, M | B, 0), [0x89] = E(mov_rm_r, M, 0),
	[0x8a] = E(mov_r_rm, M | B, 0), [0x8b] = E(mov_r_rm, M, 0),
	[0x8c] = E(mov_rm_seg, M, 0), [0x8d] = E(lea, M, 0), [0x8e] = E(mov_seg_rm, M, 0),
	[0x8f] = G(grp1a, F_DEF64),
	[0x90 ... 0x97] = E(xchg_a_r, F_REG, 0),
	[0x98] = E(cbw, 0, 0), [0x99] = E(cwd, 0, 0), [0x9a] = E(call_far, F_FAR | F_NO64, 0),
	[0x9b] = E(fwait, 0, 0), [0x9c] = E(pushf, F_DEF64, 0), [0x9d] = E(popf, F_DEF64, 0),
	[0x9e] = E(sahf, 0, 0), [0x9f] = E(lahf, 0, 0),
	[0xa0] = E(mov_a_moffs, B | F_MOFFS, 0), [0xa1] = E(mov_a_moffs, F_MOFFS, 0),
	[0xa2] = E(mov_moffs_a, B | F_MOFFS, 0), [0xa3] = E(mov_moffs_a, F_MOFFS, 0),
	[0xa4] = E(string_op, B, 0), [0xa5] = E(string_op, 0, 0),
	[0xa6] = E(string_op, B, 1), [0xa7] = E(string_op, 0, 1),
	[0xa8] = E(test_a_imm, B | F_IMM8, 0), [0xa9] = E(test_a_imm, F_IMMZ, 0),
	[0xaa] = E(string_op, B, 2), [0xab] = E(string_op, 0, 2),
	[0xac] = E(string_op, B, 3), [0xad] = E(string_op, 0, 3),
	[0xae] = E(string_op, B, 4), [0xaf] = E(string_op, 0, 4),
	[0xb0 ... 0xb7] = E(mov_r_imm, F_REG | B | F_IMM8, 0),
	[0xb8 ... 0xbf] = E(mov_r_imm, F_REG | F_IMMV, 0),
	[0xc0] = G(grp2_ib, 0), [0xc1] = G(grp2_i, 0),
	[0xc2] = E(ret_near, F_IMM16 | F_F64, 0), [0xc3] = E(ret_near, F_F64, 0),
	[0xc4] = E(lds_les, M | F_NO64, S_ES), [0xc5] = E(lds_les, M | F_NO64, S_DS),
	[0xc6] = G(grp11_b, 0), [0xc7] = G(grp11_z, 0),
	[0xc8] = E(enter, F_ENTER | F_DEF64, 0), [0xc9] = E(leave, F_DEF64, 0),
	[0xca] = E(ret_far, F_IMM16, 0), [0xcb] = E(ret_far, 0, 0),
	[0xcc] = E(int3, 0, 0), [0xcd] = E(int_n, F_IMM8, 0), [0xce] = E(into, F_NO64, 0),
	[0xcf] = E(iret, 0, 0),
	[0xd0] = G(grp2_1b, 0), [0xd1] = G(grp2_1, 0), [0xd2] = G(grp2_clb, 0),
	[0xd3] = G(grp2_cl, 0),
	[0xd6] = E(salc, F_NO64, 0), [0xd7] = E(xlat, 0, 0),
	[0xd8 ... 0xdf] = E(x87, M, 0),
	[0xe0] = E(loop, F_IMM8 | F_F64, 0), [0xe1] = E(loop, F_IMM8 | F_F64, 1),
	[0xe2] = E(loop, F_IMM8 | F_F64, 2), [0xe3] = E(jcxz, F_IMM8 | F_F64, 0),
	[0xe4] = E(in_op, B | F_IMM8, 0), [0xe5] = E(in_op, F_IMM8, 0),
	[0xe6] = E(out_op, B | F_IMM8, 0), [0xe7] = E(out_op, F_IMM8, 0),
	[0xe8] = E(call_rel, F_IMMZ | F_F64, 0), [0xe9] = E(jmp_rel, F_IMMZ | F_F64, 0),
	[0xea] = E(jmp_far, F_FAR | F_NO64, 0), [0xeb] = E(jmp_rel, F_IMM8 | F_F64, 0),
	[0xec] = E(in_op, B, 1), [0xed] = E(in_op, 0, 1),
	[0xee] = E(out_op, B, 1), [0xef] = E(out_op, 0, 1),
	[0xf1] = E(unimpl, 0, 0), [0xf4] = E(hlt, 0, 0), [0xf5] = E(flag_op, 0, 0),
	[0xf6] = G(grp3_b, 0), [0xf7] = G(grp3_v, 0),
	[0xf8] = E(flag_op, 0, 1), [0xf9] = E(flag_op, 0, 2), [0xfa] = E(flag_op, 0, 3),
	[0xfb] = E(flag_op, 0, 4), [0xfc] = E(flag_op, 0, 5), [0xfd] = E(flag_op, 0, 6),
	[0xfe] = G(grp4, 0), [0xff] = G(grp5, 0),
};

static const struct op_ent map2[256] = {
	[0 ... 255] = E(unimpl, 0, 0),
	[0x00] = G(grp6, 0), [0x01] = G(grp7, 0),
	[0x05] = E(syscall, 0, 0), [0x06] = E(clts, 0, 0), [0x07] = E(sysret, 0, 0),
	[0x08] = E(wbinvd, 0, 0), [0x09] = E(wbinvd, 0, 0), [0x0b] = E(ud, 0, 0),
	[0x0d] = E(nop, M, 0),
	[0x18 ... 0x1f] = E(nop, M, 0),
	[0x20] = E(mov_cr, M | F_CR, 0), [0x21] = E(mov_dr, M | F_CR, 0),
	[0x22] = E(mov_cr, M | F_CR, 1), [0x23] = E(mov_dr, M | F_CR, 1),
	[0x30] = E(wrmsr, 0, 0), [0x31] = E(rdtsc, 0, 0), [0x32] = E(rdmsr, 0, 0),
	[0x34] = E(sysenter, 0, 0), [0x35] = E(sysexit, 0, 0),
	[0x40 ... 0x4f] = E(cmovcc, M, 0),
	[0x80 ... 0x8f] = E(jcc, F_IMMZ | F_F64, 0),
	[0x90 ... 0x9f] = E(setcc, M | F_RM8, 0),
	[0xa0] = E(push_seg, F_DEF64, S_FS), [0xa1] = E(pop_seg, F_DEF64, S_FS),
	[0xa2] = E(cpuid, 0, 0), [0xa3] = E(bt_rm_r, M, 0),
	[0xa4] = E(shld_shrd, M | F_IMM8, 0), [0xa5] = E(shld_shrd, M, 1),
	[0xa8] = E(push_seg, F_DEF64, S_GS), [0xa9] = E(pop_seg, F_DEF64, S_GS),
	[0xab] = E(bt_rm_r, M | L, 1),
	[0xac] = E(shld_shrd, M | F_IMM8, 2), [0xad] = E(shld_shrd, M, 3),
	[0xae] = G(grp15, 0), [0xaf] = E(imul_r_rm, M, 0),
	[0xb0] = E(cmpxchg, M | B | L, 0), [0xb1] = E(cmpxchg, M | L, 0),
	[0xb2] = E(lds_les, M, S_SS), [0xb3] = E(bt_rm_r, M | L, 2),
	[0xb4] = E(lds_les, M, S_FS), [0xb5] = E(lds_les, M, S_GS),
	[0xb6] = E(movzx, M | F_RM8, 1), [0xb7] = E(movzx, M, 2),
	[0xba] = G(grp8, 0), [0xbb] = E(bt_rm_r, M | L, 3),
	[0xbc] = E(bsf_bsr, M, 0), [0xbd] = E(bsf_bsr, M, 1),
	[0xbe] = E(movsx, M | F_RM8, 1), [0xbf] = E(movsx, M, 2),
	[0xc0] = E(xadd, M | B | L, 0), [0xc1] = E(xadd, M | L, 0),
	[0xc7] = G(grp9, 0),
	[0xc8 ... 0xcf] = E(bswap, F_REG, 0),
};

struct fetch {
	struct engine *e;
	struct insn *i;
	int pos, avail;
};

int code_fetch(struct engine *e, u64 rip, u8 *buf, int n);

static u8 fb(struct fetch *f)
{
	if (f->pos >= 15)
		raise_exc(f->e, EXC_GP, 0); /* SDM: instructions are at most 15 bytes */
	if (f->pos == f->avail) {
		u64 rip = f->e->cpu->rip + f->avail;
		if (!f->e->code64)
			rip &= f->e->def32 ? 0xffffffffULL : 0xffff;
		f->avail += code_fetch(f->e, rip, f->i->bytes + f->avail, 15 - f->avail);
	}
	f->i->len = (u8)(f->pos + 1);
	return f->i->bytes[f->pos++];
}

static u64 fimm(struct fetch *f, int n)
{
	u64 v = 0;
	for (int k = 0; k < n; k++)
		v |= (u64)fb(f) << (8 * k);
	return v;
}

static u8 byte_reg(u8 r, bool rex)
{
	return !rex && r >= 4 && r < 8 ? (u8)(r + 12) : r;
}

void decode(struct engine *e, struct insn *i)
{
	struct fetch f = {.e = e, .i = i};
	int seg = -1;
	bool o16 = false, a16 = false;
	u8 rex = 0, b;

	memset(i, 0, offsetof(struct insn, bytes));
	for (;;) {
		b = fb(&f);
		switch (b) {
		case 0x26: seg = S_ES; rex = 0; continue;
		case 0x2e: seg = S_CS; rex = 0; continue;
		case 0x36: seg = S_SS; rex = 0; continue;
		case 0x3e: seg = S_DS; rex = 0; continue;
		case 0x64: seg = S_FS; rex = 0; continue;
		case 0x65: seg = S_GS; rex = 0; continue;
		case 0x66: o16 = true; rex = 0; continue;
		case 0x67: a16 = true; rex = 0; continue;
		case 0xf0: i->lock = 1; rex = 0; continue;
		case 0xf2: case 0xf3: i->rep = b; rex = 0; continue;
		}
		if (e->code64 && (b & 0xf0) == 0x40) {
			rex = b;
			continue;
		}
		break;
	}
	/* In 64-bit mode only FS and GS overrides have an effect. */
	if (e->code64 && seg != S_FS && seg != S_GS)
		seg = -1;

	const struct op_ent *ent;
	bool two = b == 0x0f;
	int sx = -1; /* a SIMD form (x86/native.c) */
	int vx = -1; /* a VEX form */
	bool vex_w = false, vex_l = false;
	u8 vvvv = 0;
	static const struct op_ent simd_ent[4] = {
		E(simd, M, 0), E(simd, M | F_IMM8, 0), E(simd, M | F_RM8, 0), E(simd, 0, 0)};
	/* VEX (C4 / C5, SDM Vol. 2 2.3): always in 64-bit mode; elsewhere
	 * only where LES / LDS would have a register operand (mod = 3).
	 * Real mode has no VEX (and LES / LDS with mod = 3 are #UD too). */
	if ((b == 0xc4 || b == 0xc5) && (e->code64 || (fb(&f), f.pos--, i->bytes[f.pos] >= 0xc0))) {
		u8 p1 = fb(&f), p2 = p1, map = 1;
		u8 vr = !(p1 & 0x80), vxx = 0, vb = 0;
		if (b == 0xc4) {
			p2 = fb(&f);
			vxx = !(p1 & 0x40);
			vb = !(p1 & 0x20);
			map = p1 & 0x1f;
			vex_w = p2 & 0x80;
		}
		vvvv = (u8)(~p2 >> 3) & 15;
		vex_l = p2 & 4;
		static const u8 pp_pfx[4] = {0, 0x66, 0xf3, 0xf2};
		u8 pfx = pp_pfx[p2 & 3];
		b = fb(&f);
		/* Outside 64-bit mode VEX.B is ignored (R and X are 1 there by
		 * the mod = 3 rule); vvvv[3] is for vex_decode. */
		if (!e->code64)
			vb = 0;
		u32 dec = 0;
		if (o16 || i->rep || rex || i->lock || e->mode == M_REAL || e->vm86 ||
		    (vx = vex_find(map, b, pfx, &dec)) < 0) {
			i->fn = op_ud;
			return;
		}
		if (dec & SIMD_DEC_GROUP) {
			u8 m = fb(&f); /* peek ModRM.reg */
			f.pos--;
			if ((vx = vex_find_ext(vx, (m >> 3) & 7)) < 0) {
				i->fn = op_ud;
				return;
			}
		}
		rex = (u8)(0x40 | vr << 2 | vxx << 1 | vb);
		two = true;
		ent = &simd_ent[dec & SIMD_DEC_NOMODRM ? 3 : dec & SIMD_DEC_IMM8 ? 1 : 0];
	} else if (two) {
		b = fb(&f);
		int map = 1;
		if (b == 0x38 || b == 0x3a) {
			map = b == 0x38 ? 2 : 3;
			b = fb(&f);
		}
		u32 dec = 0;
		sx = simd_find(map, b, i->rep ? i->rep : o16 ? 0x66 : 0, &dec);
		if (sx >= 0 && simd_legacy(e, sx))
			sx = -1;
		if (sx >= 0 && (dec & SIMD_DEC_GROUP)) {
			u8 m = fb(&f); /* peek ModRM.reg */
			f.pos--;
			sx = simd_find_ext(sx, (m >> 3) & 7);
		}
		if (sx >= 0)
			ent = &simd_ent[dec & SIMD_DEC_NOMODRM ? 3 : dec & SIMD_DEC_IMM8 ? 1
					: dec & SIMD_DEC_RM8 ? 2 : 0];
		else if (map == 2 && b == 0x82 && o16 && !i->rep) {
			static const struct op_ent invpcid = E(invpcid, M, 0);
			ent = &invpcid; /* 66 0F 38 82 /r */
		} else if (map != 1) {
			i->fn = op_unimpl;
			return;
		} else
			ent = &map2[b];
	} else {
		ent = &map1[b];
	}
	i->b1 = b;
	u32 fl = ent->flags;

	/* 63 is ARPL outside 64-bit mode (MOVSXD in it). */
	static const struct op_ent arpl = E(arpl, M, 0);
	if (!two && b == 0x63 && !e->code64)
		ent = &arpl, fl = ent->flags;
	/* LES/LDS become VEX prefixes in 64-bit mode or with mod = 3. */

	bool w = rex & 8;
	u8 rexr = (rex & 4) << 1, rexx = (rex & 2) << 2, rexb = (rex & 1) << 3;

	u8 modrm = 0, mod = 0, vsib = 0xff;
	bool grp = ent->grp;
	if (fl & F_MODRM) {
		modrm = fb(&f);
		mod = modrm >> 6;
		if (grp) {
			ent = &ent->grp[(modrm >> 3) & 7];
			fl |= ent->flags;
		}
	}
	if ((fl & F_NO64) && e->code64) {
		i->fn = op_ud;
		goto done_ud;
	}

	/* operand and address size */
	if (fl & F_BYTE)
		i->osz = 1;
	else if (e->code64)
		i->osz = w ? 8 : (fl & F_F64) ? 8 : (fl & F_DEF64) ? (o16 ? 2 : 8) : o16 ? 2 : 4;
	else
		i->osz = (e->def32 ^ o16) ? 4 : 2;
	if (e->code64)
		i->asz = a16 ? 4 : 8;
	else
		i->asz = (e->def32 ^ a16) ? 4 : 2;

	i->op = ent->op;
	if (fl & F_REG) {
		i->reg = (b & 7) | rexb;
		if (fl & F_BYTE)
			i->reg = byte_reg(i->reg, rex);
	}
	if ((!two && (b >= 0x70 && b <= 0x7f)) || (two && b >= 0x40 && b <= 0x9f))
		i->op = b & 15;

	/* ModRM operand */
	if (fl & F_MODRM) {
		u8 rm = modrm & 7;
		i->reg = ((modrm >> 3) & 7) | rexr;
		/* in a group, reg is an opcode extension, not a register */
		if ((fl & F_BYTE) && !(fl & F_CR) && !grp)
			i->reg = byte_reg(i->reg, rex);
		if (mod == 3 || (fl & F_CR)) {
			i->rm = rm | rexb;
			if (fl & (F_BYTE | F_RM8))
				i->rm = byte_reg(i->rm, rex);
		} else {
			int dseg = S_DS;
			i->mem = 1;
			i->base = i->index = REG_NONE;
			if (i->asz == 2) {
				static const u8 b16[8] = {R_RBX, R_RBX, R_RBP, R_RBP, R_RSI, R_RDI, R_RBP, R_RBX};
				static const u8 x16[8] = {R_RSI, R_RDI, R_RSI, R_RDI, REG_NONE, REG_NONE, REG_NONE, REG_NONE};
				if (mod == 0 && rm == 6) {
					i->disp = (s16)fimm(&f, 2);
				} else {
					i->base = b16[rm];
					i->index = x16[rm];
					if (i->base == R_RBP)
						dseg = S_SS;
					if (mod == 1)
						i->disp = (s8)fb(&f);
					else if (mod == 2)
						i->disp = (s16)fimm(&f, 2);
				}
			} else {
				if (rm == 4) {
					u8 sib = fb(&f);
					i->scale = sib >> 6;
					u8 idx = ((sib >> 3) & 7) | rexx;
					vsib = idx;
					if (idx != 4)
						i->index = idx;
					if ((sib & 7) == 5 && mod == 0) {
						i->disp = (s32)fimm(&f, 4);
					} else {
						i->base = (sib & 7) | rexb;
					}
				} else if (rm == 5 && mod == 0) {
					i->disp = (s32)fimm(&f, 4);
					if (e->code64)
						i->base = REG_RIP;
				} else {
					i->base = rm | rexb;
				}
				if (i->base == R_RSP || i->base == R_RBP)
					dseg = S_SS;
				if (mod == 1)
					i->disp = (s8)fb(&f);
				else if (mod == 2)
					i->disp = (s32)fimm(&f, 4);
			}
			i->seg = seg >= 0 ? seg : dseg;
		}
	} else {
		i->seg = seg >= 0 ? seg : S_DS;
	}

	/* immediates */
	if (fl & F_IMM8)
		i->imm = (u64)(s64)(s8)fb(&f);
	else if (fl & F_IMMZ)
		i->imm = i->osz == 2 ? (u64)(s64)(s16)fimm(&f, 2) : (u64)(s64)(s32)fimm(&f, 4);
	else if (fl & F_IMMV)
		i->imm = fimm(&f, i->osz);
	else if (fl & F_IMM16)
		i->imm = fimm(&f, 2);
	else if (fl & F_MOFFS)
		i->imm = fimm(&f, i->asz);
	else if (fl & F_FAR) {
		i->imm = fimm(&f, i->osz);
		i->imm2 = (u16)fimm(&f, 2);
	} else if (fl & F_ENTER) {
		i->imm = fimm(&f, 2);
		i->imm2 = fb(&f);
	}

	i->fn = ent->fn;
	if (i->fn == op_x87)
		i->imm = modrm; /* x87.c dispatches on the whole ModRM byte */
	if (vx >= 0) {
		vex_decode(e, i, vx, vsib, vex_w, vex_l, vvvv, seg);
		return;
	}
	if (sx >= 0) {
		simd_decode(e, i, sx, modrm, w, o16, seg);
		if (i->lock)
			i->fn = op_ud;
		return;
	}
	/* PAUSE, and NOP unless REX.B makes 90 an XCHG with R8 */
	if (!two && b == 0x90 && !rexb)
		i->fn = op_nop;
	/* 0F 01 with mod = 3 encodes SWAPGS, RDTSCP, and others by rm */
	if (two && b == 0x01 && mod == 3) {
		switch (modrm) {
		case 0xf8: i->fn = e->code64 ? op_swapgs : op_ud; break;
		case 0xf9: i->fn = op_rdtscp; break;
		case 0xca: case 0xcb: i->fn = op_stac_clac; i->op = modrm & 1; break;
		case 0xc8: case 0xc9: i->fn = op_monitor_mwait; break;
		case 0xd0: case 0xd1: i->fn = op_xsetbv; i->op = modrm & 1; break;
		case 0xc1: case 0xd9: i->fn = op_vmcall; break; /* VMCALL, VMMCALL */
		default: i->fn = op_unimpl; break;
		}
	}
	if (two && b == 0xae && mod == 3 && ((modrm >> 3) & 7) >= 5)
		i->fn = op_fence;
	if (two && b == 0xae && mod == 3 && i->rep == 0xf3 && ((modrm >> 3) & 7) < 4) {
		i->fn = op_fsgsbase; /* RD/WR FS/GS BASE */
		i->op = (modrm >> 3) & 7;
	}
	if (i->fn == op_clflush && i->rep)
		i->fn = op_unimpl; /* F2/F3 0F AE /7: not ours */
	/* LGDT and friends need memory; SLDT etc. accept registers. */
	if (two && b == 0x01 && mod == 3 && i->fn == op_lgdt_lidt)
		i->fn = op_ud;
	if (two && b == 0xc7 && ((modrm >> 3) & 7) == 1 && (mod == 3))
		i->fn = op_ud;
	if (two && b == 0xc7 && ((modrm >> 3) & 7) == 7 && mod == 3 && i->rep == 0xf3)
		i->fn = op_rdpid;
	if (!two && (b == 0xc4 || b == 0xc5 || b == 0x8d) && mod == 3)
		i->fn = b == 0x8d ? op_ud : op_unimpl;
	/* mandatory-prefix SSE forms and F3 0F B8 (POPCNT) are not ours */
	if (two && b == 0xb8)
		i->fn = op_unimpl;
	/* F3 0F BD / BC without ABM / BMI1 in the guest's CPUID are BSR / BSF
	 * with an ignored prefix, as on processors without LZCNT / TZCNT
	 * (Linux's __ffs uses "rep bsf" for either); with them, x86/native.c */

	/* register forms get their own handlers */
	if ((fl & F_MODRM) && !i->mem && !(fl & F_CR)) {
		if (i->fn == op_alu_rm_r)
			i->fn = op_alu_rr;
		else if (i->fn == op_alu_rm_imm)
			i->fn = op_alu_ri;
		else if (i->fn == op_mov_rm_r)
			i->fn = op_mov_rr;
	}
	if (i->lock && (!(fl & F_LOCK) || !i->mem))
		i->fn = op_ud;
	if (fl & F_ONLY64 && !e->code64)
		i->fn = op_ud;
	return;
done_ud:
	return;
}
