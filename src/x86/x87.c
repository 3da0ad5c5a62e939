/*
 * The x87 FPU (escape opcodes D8-DF and FWAIT).
 *
 * The guest's registers live in the FXSAVE image at the start of
 * cpu->xsave (ST(i) in stack order, abridged tag word), which is what the
 * state ioctls read and write.  Every computing instruction runs on the
 * host's own x87: the guest's FCW, FSW (TOP, condition codes), tags and
 * stack are loaded with FRSTOR, the same instruction runs from a fixed
 * table of stubs (the guest's opcode and ModRM.reg, its memory operand
 * renamed to [rdi], a host scratch buffer), and FNSAVE reads everything
 * back.  Results, condition codes, stack faults, tags and the masked and
 * unmasked exception responses are therefore the hardware's own.  The
 * environment instructions (FLDENV, FNSTENV, FRSTOR, FNSAVE) whose image
 * depends on the guest's mode, FNSTSW AX and the last-instruction pointers
 * are done here.
 */
#include "x86/exec.h"
#include "x86/cpuid.h"
#include "x86/fpu.h"

/* FSW */
#define FSW_IE BIT(0)
#define FSW_SF BIT(6)
#define FSW_ES BIT(7)
#define FSW_EXC 0x3fU /* IE DE ZE OE UE PE */
#define FSW_B BIT(15)
#define FSW_TOP(s) (((s) >> 11) & 7)

/*
 * The host stubs: for each escape byte D8-DF, eight memory forms (ModRM
 * mod=00 rm=111: [rdi], reg = the guest's ModRM.reg) and the 64 register
 * forms C0-FF, each "opcode modrm ret int3".  Only encodings the decoder
 * accepted are ever called (x87_valid below).
 */
#define STUBS_PER_ESC 72
__asm__(".pushsection .text\n"
	".balign 16\n"
	".globl skvm_x87_stubs\n"
	".hidden skvm_x87_stubs\n"
	"skvm_x87_stubs:\n"
	".irp o,0xd8,0xd9,0xda,0xdb,0xdc,0xdd,0xde,0xdf\n"
	".irp r,0,1,2,3,4,5,6,7\n"
	".byte \\o, (\\r << 3) | 7, 0xc3, 0xcc\n"
	".endr\n"
	".set skvm_x87_m, 0xc0\n"
	".rept 64\n"
	".byte \\o, skvm_x87_m, 0xc3, 0xcc\n"
	".set skvm_x87_m, skvm_x87_m + 1\n"
	".endr\n"
	".endr\n"
	".popsection\n");
extern const u8 skvm_x87_stubs[] __attribute__((visibility("hidden")));

/* The FNSAVE image in the 32-bit protected-mode format (SDM Vol. 1 8.1.10). */
struct fsave32 {
	u32 fcw, fsw, ftw, fip, fcs_fop, fdp, fds;
	u8 st[8][10];
};
_Static_assert(sizeof(struct fsave32) == 108, "FNSAVE image");

/* ---- tags ---- */

/* The full 2-bit tag of a non-empty register (SDM Vol. 1 8.1.7). */
static unsigned tag_of(const u8 *r)
{
	u16 exp;
	u64 sig;
	memcpy(&sig, r, 8);
	memcpy(&exp, r + 8, 2);
	exp &= 0x7fff;
	if (exp == 0x7fff)
		return 2;
	if (exp == 0)
		return sig ? 2 : 1;
	return (sig >> 63) ? 0 : 2; /* unnormal: special */
}

u16 x87_full_tag(const struct x86_fxsave *fx)
{
	unsigned top = FSW_TOP(fx->fsw);
	u16 t = 0;
	for (unsigned p = 0; p < 8; p++) {
		unsigned v = 3;
		if (fx->ftw & BIT(p))
			v = tag_of(fx->st[(p - top) & 7]);
		t |= (u16)(v << (2 * p));
	}
	return t;
}

u8 x87_abridged_tag(u16 full)
{
	u8 t = 0;
	for (unsigned p = 0; p < 8; p++)
		if (((full >> (2 * p)) & 3) != 3)
			t |= (u8)BIT(p);
	return t;
}

/* ES and B follow the unmasked exception flags (SDM Vol. 1 8.1.3). */
static u16 fsw_summary(u16 fsw, u16 fcw)
{
	fsw &= (u16)~(FSW_ES | FSW_B);
	if (fsw & ~fcw & FSW_EXC)
		fsw |= FSW_ES | FSW_B;
	return fsw;
}

/* ---- the host run ---- */

/* Run stub k of escape byte b on the guest state fx (updated in place),
 * with mem as its memory operand and *rflags's arithmetic flags as its
 * EFLAGS (FCMOVcc); *rflags gets the host's EFLAGS afterwards (FCOMI).
 * The exception flags raised are returned; sticky: the earlier ones stay
 * (all but FNCLEX and FNINIT). */
static u16 host_run(struct x86_fxsave *fx, u8 b, unsigned k, void *mem, u64 *rflags,
		    bool sticky)
{
	struct fsave32 img;
	memset(&img, 0, sizeof(img));
	img.fcw = fx->fcw;
	/* pending exception flags start clear so that the new ones show;
	 * the caller merges the sticky ones back */
	img.fsw = fx->fsw & (u16)~(FSW_EXC | FSW_SF | FSW_ES | FSW_B);
	img.ftw = x87_full_tag(fx);
	for (int r = 0; r < 8; r++)
		memcpy(img.st[r], fx->st[r], 10);
	const u8 *stub = skvm_x87_stubs + ((b - 0xd8) * STUBS_PER_ESC + k) * 4;
	u64 fl = (*rflags & 0x8d5) | 0x202; /* arithmetic flags only */
	u16 cw;
	__asm__ volatile("fnstcw %[cw]\n\t"
			 "frstor (%[img])\n\t"
			 "lea -128(%%rsp), %%rsp\n\t" /* the red zone */
			 "push %[fl]\n\t"
			 "popfq\n\t"
			 "call *%[stub]\n\t"
			 "pushfq\n\t"
			 "pop %[fl]\n\t"
			 "lea 128(%%rsp), %%rsp\n\t"
			 "fnsave (%[img])\n\t" /* also re-initialises the host FPU */
			 "fldcw %[cw]\n\t"
			 : [fl] "+r"(fl), [cw] "+m"(cw)
			 : [img] "r"(&img), [stub] "r"(stub), "D"(mem)
			 : "memory", "cc");
	*rflags = fl;
	u16 old = sticky ? fx->fsw & (FSW_EXC | FSW_SF) : 0;
	fx->fcw = (u16)img.fcw;
	fx->fsw = fsw_summary((u16)img.fsw | old, fx->fcw);
	fx->ftw = x87_abridged_tag((u16)img.ftw);
	for (int r = 0; r < 8; r++) {
		memcpy(fx->st[r], img.st[r], 10);
		memset(fx->st[r] + 10, 0, 6);
	}
	return (u16)img.fsw & FSW_EXC;
}

/* ---- decoding the escape space ---- */

enum { X_UD, X_HOST, X_CTL, X_ENV, X_SAVE, X_FSTSW_AX, X_FSTSW_M, X_SSE3 };

/* Memory forms: operand size and direction by escape byte and ModRM.reg
 * (SDM Vol. 2, A.5.1).  size 0: #UD; dir 1 reads, 2 writes; ctl: a control
 * instruction (no FOP/FIP/FDP update, SDM Vol. 1 8.1.8). */
static const struct {
	u8 size, dir, kind;
} mem_forms[8][8] = {
	[0] = {[0 ... 7] = {4, 1, X_HOST}},
	[1] = {{4, 1, X_HOST}, {0, 0, X_UD}, {4, 2, X_HOST}, {4, 2, X_HOST},
	       {0, 0, X_ENV}, {2, 1, X_CTL}, {0, 0, X_ENV}, {2, 2, X_CTL}},
	[2] = {[0 ... 7] = {4, 1, X_HOST}},
	[3] = {{4, 1, X_HOST}, {4, 2, X_SSE3}, {4, 2, X_HOST}, {4, 2, X_HOST},
	       {0, 0, X_UD}, {10, 1, X_HOST}, {0, 0, X_UD}, {10, 2, X_HOST}},
	[4] = {[0 ... 7] = {8, 1, X_HOST}},
	[5] = {{8, 1, X_HOST}, {8, 2, X_SSE3}, {8, 2, X_HOST}, {8, 2, X_HOST},
	       {0, 0, X_SAVE}, {0, 0, X_UD}, {0, 0, X_SAVE}, {2, 2, X_FSTSW_M}},
	[6] = {[0 ... 7] = {2, 1, X_HOST}},
	[7] = {{2, 1, X_HOST}, {2, 2, X_SSE3}, {2, 2, X_HOST}, {2, 2, X_HOST},
	       {10, 1, X_HOST}, {8, 1, X_HOST}, {10, 2, X_HOST}, {8, 2, X_HOST}},
};

/* Register forms that #UD (SDM Vol. 2 A.5.2's blanks that real processors
 * do not run as aliases of documented forms: FSTP1, FCOM2, FCOMP3, FXCH4,
 * FCOMP5, FFREEP, FXCH7, FSTP8/9 and the 287 FNENI/FNDISI/FNSETPM no-ops
 * do run). */
static bool reg_form_ud(u8 b, u8 m)
{
	switch (b) {
	case 0xd9:
		return (m >= 0xd1 && m <= 0xd7) || m == 0xe2 || m == 0xe3 || m == 0xe6 ||
		       m == 0xe7 || m == 0xef;
	case 0xda:
		return m >= 0xe0 && m != 0xe9;
	case 0xdb:
		return (m >= 0xe5 && m <= 0xe7) || m >= 0xf8;
	case 0xdd:
		return m >= 0xf0;
	case 0xde:
		return m >= 0xd8 && m <= 0xdf && m != 0xd9;
	case 0xdf:
		return (m >= 0xe1 && m <= 0xe7) || m >= 0xf8;
	}
	return false;
}

/* Register-form control instructions: FNCLEX, FNINIT, FNSTSW AX, and the
 * 287 no-ops FNENI/FNDISI/FNSETPM. */
static bool reg_form_ctl(u8 b, u8 m)
{
	return (b == 0xdb && m >= 0xe0 && m <= 0xe4) || (b == 0xdf && m == 0xe0);
}

/* ---- exceptions ---- */

/* CR0.EM or CR0.TS: #NM (SDM Vol. 3A 2.5, Table 12-1 for x87). */
static void x87_avail(struct engine *e)
{
	if (e->cpu->cr0 & (X86_CR0_EM | X86_CR0_TS))
		raise_exc(e, EXC_NM, NO_ERR);
}

/* A waiting instruction with an unmasked exception pending: #MF with
 * CR0.NE=1; with NE=0 a PC signals FERR# to the PIC as IRQ 13, which is
 * not modelled: fail rather than lose the exception. */
static void x87_pending(struct engine *e)
{
	if (!(e->cpu->xsave.fx.fsw & FSW_ES))
		return;
	if (!(e->cpu->cr0 & X86_CR0_NE))
		raise_internal(e);
	raise_exc(e, EXC_MF, NO_ERR);
}

/* FWAIT: #NM only with MP and TS both set. */
void op_fwait(struct engine *e, const struct insn *i)
{
	(void)i;
	if ((e->cpu->cr0 & (X86_CR0_MP | X86_CR0_TS)) == (X86_CR0_MP | X86_CR0_TS))
		raise_exc(e, EXC_NM, NO_ERR);
	if (e->cpu->xsave.fx.fsw & FSW_ES) {
		fpu_use(e->cpu, X86_XFEATURE_FP);
		x87_pending(e);
	}
}

/* ---- guest memory in bulk ---- */

/* seg:off for n bytes, with every page checked before anything changes. */
u64 fpu_mem_check(struct engine *e, int seg, u64 off, u32 n, bool write)
{
	u64 la = seg_linear(e, seg, off, (int)n, write);
	u32 acc = write ? ACC_W : 0;
	mem_probe(e, la, acc);
	u64 last = la + n - 1;
	if (e->mode != M_LONG)
		last = (u32)last;
	if ((last ^ la) >> 12)
		mem_probe(e, last, acc);
	return la;
}

void fpu_mem_read(struct engine *e, int seg, u64 off, void *buf, u32 n)
{
	u64 la = fpu_mem_check(e, seg, off, n, false);
	u8 *p = buf;
	for (u32 k = 0; k < n;) {
		int c = n - k >= 8 ? 8 : n - k >= 4 ? 4 : n - k >= 2 ? 2 : 1;
		u64 a = la + k;
		u64 v = mem_read_la(e, e->mode == M_LONG ? a : (u32)a, c, 0);
		memcpy(p + k, &v, (size_t)c);
		k += (u32)c;
	}
}

void fpu_mem_write(struct engine *e, int seg, u64 off, const void *buf, u32 n)
{
	u64 la = fpu_mem_check(e, seg, off, n, true);
	const u8 *p = buf;
	for (u32 k = 0; k < n;) {
		int c = n - k >= 8 ? 8 : n - k >= 4 ? 4 : n - k >= 2 ? 2 : 1;
		u64 v = 0, a = la + k;
		memcpy(&v, p + k, (size_t)c);
		mem_write_la(e, e->mode == M_LONG ? a : (u32)a, c, v);
		k += (u32)c;
	}
}

/* ---- environment images (SDM Vol. 1 8.1.10, Figures 8-9 to 8-12) ---- */

/* Write the 14- or 28-byte environment for operand size osz. */
static u32 env_store(struct engine *e, const struct x86_fxsave *fx, int osz, u8 *out)
{
	bool real = e->mode == M_REAL || (e->cpu->rflags & X86_FL_VM);
	u16 ftw = x87_full_tag(fx);
	/* FCS/FDS are not kept: stored as 0, as processors that deprecate
	 * them (CPUID.7.0:EBX[13]) do */
	if (osz == 2) {
		u16 w[7] = {fx->fcw, fx->fsw, ftw, (u16)fx->fip, 0, (u16)fx->fdp, 0};
		if (real) {
			w[4] = (u16)(((fx->fip >> 16) & 0xf) << 12 | (fx->fop & 0x7ff));
			w[6] = (u16)(((fx->fdp >> 16) & 0xf) << 12);
		}
		memcpy(out, w, 14);
		return 14;
	}
	u32 d[7] = {0xffff0000U | fx->fcw, 0xffff0000U | fx->fsw, 0xffff0000U | ftw,
		    (u32)fx->fip, (u32)fx->fop << 16, (u32)fx->fdp, 0xffff0000U};
	if (real) {
		d[3] = 0xffff0000U | (u16)fx->fip;
		d[4] = (u32)((fx->fip >> 16) & 0xffff) << 12 | (fx->fop & 0x7ff);
		d[5] = 0xffff0000U | (u16)fx->fdp;
		d[6] = (u32)((fx->fdp >> 16) & 0xffff) << 12;
	}
	memcpy(out, d, 28);
	return 28;
}

static u32 env_load(struct engine *e, struct x86_fxsave *fx, int osz, const u8 *in)
{
	bool real = e->mode == M_REAL || (e->cpu->rflags & X86_FL_VM);
	u16 ftw;
	if (osz == 2) {
		u16 w[7];
		memcpy(w, in, 14);
		fx->fcw = w[0];
		fx->fsw = w[1];
		ftw = w[2];
		if (real) {
			fx->fip = w[3] | (u32)(w[4] >> 12) << 16;
			fx->fop = w[4] & 0x7ff;
			fx->fdp = w[5] | (u32)(w[6] >> 12) << 16;
		} else {
			fx->fip = w[3];
			fx->fdp = w[5];
		}
		fx->ftw = x87_abridged_tag(ftw);
		return 14;
	}
	u32 d[7];
	memcpy(d, in, 28);
	fx->fcw = (u16)d[0];
	fx->fsw = (u16)d[1];
	ftw = (u16)d[2];
	if (real) {
		fx->fip = (u16)d[3] | ((d[4] >> 12) & 0xffff) << 16;
		fx->fop = d[4] & 0x7ff;
		fx->fdp = (u16)d[5] | ((d[6] >> 12) & 0xffff) << 16;
	} else {
		fx->fip = d[3];
		fx->fop = (d[4] >> 16) & 0x7ff;
		fx->fdp = d[5];
	}
	fx->ftw = x87_abridged_tag(ftw);
	return 28;
}

/* FLDENV, FNSTENV (D9 /4, /6); FRSTOR, FNSAVE (DD /4, /6). */
static void x87_env(struct engine *e, const struct insn *i, u8 b, unsigned reg)
{
	struct x86_fxsave *fx = &e->cpu->xsave.fx;
	int osz = i->osz == 2 ? 2 : 4;
	bool save = b == 0xdd;
	u64 off = ea_offset(e, i);
	u8 buf[108];
	u32 n = (osz == 2 ? 14 : 28) + (save ? 80 : 0);
	if (reg == 4) { /* load */
		fpu_mem_read(e, i->seg, off, buf, n);
		struct x86_fxsave t = *fx;
		u32 k = env_load(e, &t, osz, buf);
		if (save)
			for (int r = 0; r < 8; r++) {
				memcpy(t.st[r], buf + k + 10 * r, 10);
				memset(t.st[r] + 10, 0, 6);
			}
		t.fsw = fsw_summary(t.fsw, t.fcw);
		*fx = t;
		return;
	}
	u32 k = env_store(e, fx, osz, buf);
	if (save)
		for (int r = 0; r < 8; r++)
			memcpy(buf + k + 10 * r, fx->st[r], 10);
	fpu_mem_write(e, i->seg, off, buf, n);
	/* FNSTENV masks all exceptions afterwards; FNSAVE initialises */
	if (save) {
		fx->fcw = 0x37f;
		fx->fsw = 0;
		fx->ftw = 0;
		fx->fop = 0;
		fx->fip = fx->fdp = 0;
	} else {
		fx->fcw |= FSW_EXC;
		fx->fsw = fsw_summary(fx->fsw, fx->fcw);
	}
}

/* The last non-control instruction (SDM Vol. 1 8.1.8, 8.1.9). */
static void x87_last(struct engine *e, const struct insn *i, u8 b, u8 modrm)
{
	struct x86_fxsave *fx = &e->cpu->xsave.fx;
	struct x86_cpu *c = e->cpu;
	bool real = e->mode == M_REAL || (c->rflags & X86_FL_VM);
	fx->fop = (u16)((b & 7) << 8 | modrm);
	fx->fip = real ? (u32)(c->seg[S_CS].base + c->rip) : c->rip;
	if (i->mem) {
		u64 off = ea_offset(e, i);
		fx->fdp = real ? (u32)(c->seg[i->seg].base + off) : off;
	}
}

void op_x87(struct engine *e, const struct insn *i)
{
	struct x86_cpu *c = e->cpu;
	struct x86_fxsave *fx = &c->xsave.fx;
	u8 b = i->b1, modrm = (u8)i->imm;
	unsigned reg = (modrm >> 3) & 7;
	int kind;
	u8 size = 0, dir = 0;
	if (i->mem) {
		size = mem_forms[b & 7][reg].size;
		dir = mem_forms[b & 7][reg].dir;
		kind = mem_forms[b & 7][reg].kind;
	} else if (reg_form_ud(b, modrm)) {
		kind = X_UD;
	} else if (b == 0xdf && modrm == 0xe0) {
		kind = X_FSTSW_AX;
	} else {
		kind = reg_form_ctl(b, modrm) ? X_CTL : X_HOST;
	}
	/* FISTTP is SSE3's */
	if (kind == X_SSE3) {
		if (!x86_cpuid_has(c, 1, 0, 2, 0))
			kind = X_UD;
		else
			kind = X_HOST;
	}
	if (kind == X_UD)
		raise_exc(e, EXC_UD, NO_ERR);
	x87_avail(e);
	fpu_use(c, X86_XFEATURE_FP);

	/* The non-waiting forms: FNSTENV, FNSAVE, FNSTCW, FNSTSW, FNCLEX,
	 * FNINIT and the 287 no-ops; FLDCW, FLDENV and FRSTOR wait. */
	bool nowait = kind == X_FSTSW_AX || kind == X_FSTSW_M || (!i->mem && kind == X_CTL) ||
		      (i->mem && (kind == X_ENV || kind == X_SAVE) && reg == 6) ||
		      (i->mem && b == 0xd9 && reg == 7);
	if (!nowait)
		x87_pending(e);

	/* FNSTSW: the sticky flags are ours, not the host run's */
	if (kind == X_FSTSW_AX) {
		reg_set(e, R_RAX, 2, fx->fsw);
		return;
	}
	if (kind == X_FSTSW_M) {
		fpu_mem_write(e, i->seg, ea_offset(e, i), &fx->fsw, 2);
		return;
	}
	if (kind == X_ENV || kind == X_SAVE) {
		x87_env(e, i, b, reg);
		return;
	}

	u8 mem[16];
	memset(mem, 0, sizeof(mem));
	u64 off = 0;
	if (i->mem) {
		off = ea_offset(e, i);
		if (dir == 1)
			fpu_mem_read(e, i->seg, off, mem, size);
		else
			fpu_mem_check(e, i->seg, off, size, true);
	}
	/* the x87 part of the image: the header and ST0-7 */
	struct x86_fxsave t;
	memcpy(&t, fx, offsetof(struct x86_fxsave, xmm));
	/* FCMOVcc (DA/DB C0-DF) reads EFLAGS */
	bool fcmov = !i->mem && (b == 0xda || b == 0xdb) && modrm < 0xe0;
	u64 fl = fcmov ? flags_get(e) : 0;
	bool clear = !i->mem && b == 0xdb && (modrm == 0xe2 || modrm == 0xe3);
	u16 raised = host_run(&t, b, i->mem ? reg : 8u + (modrm - 0xc0u), mem, &fl, !clear);
	if (i->mem && dir == 2) {
		/* An unmasked invalid, denormal, zero-divide, overflow or
		 * underflow leaves a memory destination unwritten (SDM Vol. 1
		 * 4.9.2); precision alone does not. */
		if (!(raised & ~t.fcw & 0x1f))
			fpu_mem_write(e, i->seg, off, mem, size);
	}
	/* FCOMI, FUCOMI and their popping forms write ZF, PF, CF */
	if (!i->mem && (b == 0xdb || b == 0xdf) && modrm >= 0xe8 && modrm <= 0xf7)
		flags_arith(e, fl & (X86_FL_ZF | X86_FL_PF | X86_FL_CF));
	if (kind == X_CTL) {
		/* FNINIT also clears the pointers and opcode */
		if (b == 0xdb && modrm == 0xe3) {
			t.fop = 0;
			t.fip = t.fdp = 0;
		}
		memcpy(fx, &t, offsetof(struct x86_fxsave, xmm));
		return;
	}
	memcpy(fx, &t, offsetof(struct x86_fxsave, xmm));
	x87_last(e, i, b, modrm);
}
