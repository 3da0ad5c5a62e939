/*
 * VEX (AVX, AVX2, FMA, F16C) exception gating and YMM state, against
 * hand-written SDM expectations (Vol. 2 2.3 and 2.8, Vol. 1 13, Vol. 2 per
 * instruction):
 *  - #UD without CR4.OSXSAVE, with XCR0 lacking SSE or AVX state, with a
 *    66 / F2 / F3 / REX / LOCK prefix before VEX, with a feature the guest
 *    CPUID hides, with a VEX.L / VEX.vvvv the form does not allow, for a
 *    gather whose registers are not distinct; CR0.EM and CR4.OSFXSR do not
 *    matter; #NM for CR0.TS before the alignment check;
 *  - VEX forms take unaligned operands except VMOVAPS/VMOVDQA/VMOVNTx,
 *    which raise #GP(0);
 *  - an unmasked SIMD exception: #XM, destination untouched, flag set;
 *  - VEX.128 clears bits 255:128 of its destination, legacy SSE keeps them;
 *    VZEROUPPER / VZEROALL;
 *  - the YMM upper halves live in the vCPU state: KVM_SET_XSAVE, guest
 *    stores, guest loads and KVM_GET_XSAVE / KVM_GET_XSAVE2 agree, with
 *    XSTATE_BV bit 2.
 * BMI1/BMI2 (VEX GPR forms) and TZCNT need none of the AVX rules; TZCNT
 * without BMI1 in the CPUID is BSF.
 * Ring-0 guest code: softkvm only (the host's ring-0 emulator has no AVX).
 */
#include "tvm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "gate.h"

#define CR4_OSXSAVE 0x40000
#define SSE (CR4_OSFXSR | CR4_OSXMMEXCPT)
#define AVX (SSE | CR4_OSXSAVE)
#define YMM_OFF 576 /* XSAVE standard offset of YMM_Hi128 */

static int set_xcr0(struct tvm *t, uint64_t v)
{
	struct kvm_xcrs x;
	memset(&x, 0, sizeof(x));
	x.nr_xcrs = 1;
	x.xcrs[0].xcr = 0;
	x.xcrs[0].value = v;
	return ioctl(t->vcpu, KVM_SET_XCRS, &x);
}

#define RUN(t, code, cr0, cr4, off) run(t, code, sizeof(code), cr0, cr4, off, &err)

static struct kvm_xsave xs;

static uint8_t *xsb(void)
{
	return (uint8_t *)xs.region;
}

/* ymm r: 32 bytes, low half in the legacy area, high half in YMM_Hi128 */
static void ymm_put(int r, const uint8_t *v)
{
	memcpy(xsb() + 160 + 16 * r, v, 16);
	memcpy(xsb() + YMM_OFF + 16 * r, v + 16, 16);
}

static void ymm_take(int r, uint8_t *v)
{
	memcpy(v, xsb() + 160 + 16 * r, 16);
	memcpy(v + 16, xsb() + YMM_OFF + 16 * r, 16);
}

static void pattern(uint8_t *v, uint8_t seed)
{
	for (int k = 0; k < 32; k++)
		v[k] = (uint8_t)(seed + 7 * k);
}

static int set_cpuid_without(struct tvm *t, unsigned fn, int reg, uint32_t bits)
{
	struct {
		struct kvm_cpuid2 h;
		struct kvm_cpuid_entry2 e[256];
	} cp;
	cp.h.nent = 256;
	if (ioctl(t->kvm, KVM_GET_SUPPORTED_CPUID, &cp) < 0)
		return -1;
	for (unsigned k = 0; k < cp.h.nent; k++)
		if (cp.e[k].function == fn && cp.e[k].index == 0) {
			uint32_t *r[4] = { &cp.e[k].eax, &cp.e[k].ebx, &cp.e[k].ecx, &cp.e[k].edx };
			*r[reg] &= ~bits;
		}
	return ioctl(t->vcpu, KVM_SET_CPUID2, &cp);
}

int main(void)
{
	struct tvm t;
	if (gate_create(&t))
		return 1;
	const struct kvm_cpuid_entry2 *c1 = tvm_cpuid(&t, 1, 0), *c7 = tvm_cpuid(&t, 7, 0);
	if (!c1 || !(c1->ecx & (1u << 28)) || !c7 || !(c7->ebx & (1u << 5))) {
		printf("1..0 # SKIP AVX/AVX2 not in KVM_GET_SUPPORTED_CPUID (no host AVX)\n");
		return 0;
	}
	ok(set_xcr0(&t, 7) == 0, "KVM_SET_XCRS: XCR0 = x87 | SSE | AVX");

	static const uint8_t vaddps256[] = { 0xc5, 0xf4, 0x58, 0xc2 };	/* vaddps %ymm2,%ymm1,%ymm0 */
	static const uint8_t vaddps128[] = { 0xc5, 0xf0, 0x58, 0xc2 };	/* vaddps %xmm2,%xmm1,%xmm0 */
	static const uint8_t addps[] = { 0x0f, 0x58, 0xc2 };	/* addps %xmm2,%xmm0 */
	static const uint8_t vmovaps_ld[] = { 0xc5, 0xfc, 0x28, 0x00 };	/* vmovaps (%rax),%ymm0 */
	static const uint8_t vmovaps128_ld[] = { 0xc5, 0xf8, 0x28, 0x00 };	/* vmovaps (%rax),%xmm0 */
	static const uint8_t vmovups_ld[] = { 0xc5, 0xfc, 0x10, 0x00 };	/* vmovups (%rax),%ymm0 */
	static const uint8_t vmovdqa_st[] = { 0xc5, 0xfd, 0x7f, 0x08 };	/* vmovdqa %ymm1,(%rax) */
	static const uint8_t vmovdqu_st[] = { 0xc5, 0xfe, 0x7f, 0x08 };	/* vmovdqu %ymm1,(%rax) */
	static const uint8_t vmovdqu_ld2[] = { 0xc5, 0xfe, 0x6f, 0x10 };	/* vmovdqu (%rax),%ymm2 */
	static const uint8_t vmovntps[] = { 0xc5, 0xfc, 0x2b, 0x08 };	/* vmovntps %ymm1,(%rax) */
	static const uint8_t vaddps_m[] = { 0xc5, 0xf4, 0x58, 0x00 };	/* vaddps (%rax),%ymm1,%ymm0 */
	static const uint8_t vmovups_v[] = { 0xc5, 0xf4, 0x10, 0x00 };	/* vvvv = ymm1: reserved */
	static const uint8_t vmovd_l1[] = { 0xc5, 0xfd, 0x6e, 0xc3 };	/* vmovd %ebx,%xmm0 with L=1 */
	static const uint8_t vmovd[] = { 0xc5, 0xf9, 0x6e, 0xc3 };	/* vmovd %ebx,%xmm0 */
	static const uint8_t vbcastsd_l0[] = { 0xc4, 0xe2, 0x79, 0x19, 0x00 };	/* L=0: #UD */
	static const uint8_t vpaddd256[] = { 0xc5, 0xf5, 0xfe, 0xc2 };	/* vpaddd %ymm2,%ymm1,%ymm0 */
	static const uint8_t vpaddd128[] = { 0xc5, 0xf1, 0xfe, 0xc2 };	/* vpaddd %xmm2,%xmm1,%xmm0 */
	static const uint8_t vfmadd[] = { 0xc4, 0xe2, 0xf1, 0x98, 0xc2 };	/* vfmadd132pd %xmm2,%xmm1,%xmm0 */
	static const uint8_t vcvtph2ps[] = { 0xc4, 0xe2, 0x7d, 0x13, 0xc1 };	/* vcvtph2ps %xmm1,%ymm0 */
	static const uint8_t vzeroupper[] = { 0xc5, 0xf8, 0x77 };
	static const uint8_t vzeroall[] = { 0xc5, 0xfc, 0x77 };
	static const uint8_t vdivss[] = { 0xc5, 0xf2, 0x5e, 0xc2 };	/* vdivss %xmm2,%xmm1,%xmm0 */
	/* vpgatherdd %ymm1,(%rax,%ymm1,4),%ymm0: index = mask */
	static const uint8_t vgather_bad[] = { 0xc4, 0xe2, 0x75, 0x90, 0x04, 0x88 };
	/* vpgatherdd %ymm1,(%rax,%ymm2,4),%ymm0 */
	static const uint8_t vgather[] = { 0xc4, 0xe2, 0x75, 0x90, 0x04, 0x90 };
	/* andn %rbx,%rax,%rcx (rcx = ~rax & rbx); tzcnt %rbx,%rax; mulx %rbx,%rcx,%rax */
	static const uint8_t andn[] = { 0xc4, 0xe2, 0xf8, 0xf2, 0xcb };
	static const uint8_t tzcnt[] = { 0xf3, 0x48, 0x0f, 0xbc, 0xc3 };
	static const uint8_t mulx[] = { 0xc4, 0xe2, 0xf3, 0xf6, 0xc3 };
	static const uint8_t andn_l1[] = { 0xc4, 0xe2, 0xfc, 0xf2, 0xcb };
	uint32_t err = ~0u;
	int v;

	/* the gates */
	ok(RUN(&t, vaddps256, 0, AVX, 0) == -1, "vaddps ymm with CR4.OSXSAVE and XCR0 = 7 runs");
	ok(RUN(&t, vaddps256, 0, SSE, 0) == 6, "VEX with CR4.OSXSAVE clear: #UD");
	ok(RUN(&t, vaddps256, CR0_EM, AVX, 0) == -1, "VEX ignores CR0.EM");
	ok(RUN(&t, vaddps256, 0, CR4_OSXSAVE, 0) == -1, "VEX needs no CR4.OSFXSR");
	ok(RUN(&t, vaddps256, CR0_TS, AVX, 0) == 7, "VEX with CR0.TS: #NM");
	ok(RUN(&t, vmovaps_ld, CR0_TS, AVX, 8) == 7, "#NM before the alignment check");
	ok(set_xcr0(&t, 3) == 0 && RUN(&t, vaddps256, 0, AVX, 0) == 6,
	   "VEX with XCR0 = x87 | SSE: #UD");
	ok(RUN(&t, addps, 0, AVX, 0) == -1, "legacy SSE still runs with XCR0 = 3");
	set_xcr0(&t, 7);
	static const uint8_t pfx66[] = { 0x66, 0xc5, 0xf4, 0x58, 0xc2 };
	static const uint8_t pfxf3[] = { 0xf3, 0xc5, 0xf4, 0x58, 0xc2 };
	static const uint8_t pfxf2[] = { 0xf2, 0xc5, 0xf4, 0x58, 0xc2 };
	static const uint8_t pfxrex[] = { 0x40, 0xc5, 0xf4, 0x58, 0xc2 };
	static const uint8_t pfxlock[] = { 0xf0, 0xc5, 0xf4, 0x58, 0x00 };
	static const uint8_t pfxseg[] = { 0x3e, 0xc5, 0xf4, 0x58, 0x00 };
	ok(RUN(&t, pfx66, 0, AVX, 0) == 6, "66 before VEX: #UD");
	ok(RUN(&t, pfxf3, 0, AVX, 0) == 6, "F3 before VEX: #UD");
	ok(RUN(&t, pfxf2, 0, AVX, 0) == 6, "F2 before VEX: #UD");
	ok(RUN(&t, pfxrex, 0, AVX, 0) == 6, "REX before VEX: #UD");
	ok(RUN(&t, pfxlock, 0, AVX, 0) == 6, "LOCK before VEX: #UD");
	ok(RUN(&t, pfxseg, 0, AVX, 0) == -1, "a segment prefix before VEX is fine");
	ok(RUN(&t, vmovups_v, 0, AVX, 0) == 6, "VMOVUPS with VEX.vvvv != 1111b: #UD");
	ok(RUN(&t, vmovd_l1, 0, AVX, 0) == 6, "VMOVD with VEX.L = 1: #UD");
	ok(RUN(&t, vmovd, 0, AVX, 0) == -1, "VMOVD with VEX.L = 0 runs");
	ok(RUN(&t, vbcastsd_l0, 0, AVX, 0) == 6, "VBROADCASTSD with VEX.L = 0: #UD");
	ok(RUN(&t, vgather_bad, 0, AVX, 0) == 6, "VPGATHERDD with index = mask: #UD");

	/* alignment: only the explicitly aligned forms */
	ok(RUN(&t, vmovaps_ld, 0, AVX, 0) == -1, "vmovaps ymm from a 32-byte aligned operand runs");
	v = RUN(&t, vmovaps_ld, 0, AVX, 16);
	ok(v == 13 && err == 0, "vmovaps ymm from a 16-byte aligned operand: #GP(0)");
	ok(RUN(&t, vmovaps128_ld, 0, AVX, 16) == -1, "vmovaps xmm from a 16-byte aligned operand runs");
	v = RUN(&t, vmovdqa_st, 0, AVX, 8);
	ok(v == 13 && err == 0, "vmovdqa ymm store misaligned: #GP(0)");
	v = RUN(&t, vmovntps, 0, AVX, 4);
	ok(v == 13 && err == 0, "vmovntps ymm misaligned: #GP(0)");
	ok(RUN(&t, vmovups_ld, 0, AVX, 3) == -1, "vmovups ymm misaligned runs");
	ok(RUN(&t, vaddps_m, 0, AVX, 5) == -1, "vaddps ymm with a misaligned m256 runs");

	/* the YMM state through KVM_SET_XSAVE, the guest and KVM_GET_XSAVE */
	uint8_t y1[32], y2[32], got[32];
	pattern(y1, 0x11);
	pattern(y2, 0x80);
	ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
	ymm_put(1, y1);
	xs.region[128] |= 6; /* XSTATE_BV: SSE, AVX */
	ok(ioctl(t.vcpu, KVM_SET_XSAVE, &xs) == 0, "KVM_SET_XSAVE with ymm1 in YMM_Hi128");
	uint8_t *data = tvm_ptr(&t, DATA);
	memset(data, 0, 64);
	ok(RUN(&t, vmovdqu_st, 0, AVX, 0) == -1 && !memcmp(data, y1, 32),
	   "the guest stores all 256 bits of ymm1 set by KVM_SET_XSAVE");
	memcpy(data + 32, y2, 32);
	ok(RUN(&t, vmovdqu_ld2, 0, AVX, 32) == -1, "vmovdqu (%rax),%ymm2 runs");
	memset(&xs, 0, sizeof(xs));
	ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
	ymm_take(2, got);
	ok(!memcmp(got, y2, 32), "KVM_GET_XSAVE returns the loaded ymm2, upper half at offset 576");
	ok(xs.region[128] & 4, "XSTATE_BV has the AVX bit");
	{
		struct kvm_xsave x2;
		memset(&x2, 0, sizeof(x2));
		int sz = ioctl(t.kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
		ok(sz >= (int)sizeof(x2) && ioctl(t.vcpu, KVM_GET_XSAVE2, &x2) == 0 &&
			   !memcmp((uint8_t *)x2.region + YMM_OFF + 32, y2 + 16, 16),
		   "KVM_GET_XSAVE2 has the same upper half");
	}
	{
		struct kvm_cpuid_entry2 const *d = tvm_cpuid(&t, 0xd, 0), *d2 = tvm_cpuid(&t, 0xd, 2);
		ok(d && (d->eax & 7) == 7 && d->ecx >= 832 && d2 && d2->eax == 256 && d2->ebx == 576,
		   "CPUID 0xD: XCR0 bit 2, 832-byte area, YMM_Hi128 256 bytes at 576");
	}

	/* VEX.128 zeroes bits 255:128; legacy SSE keeps them */
	ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
	ymm_put(0, y1);
	ioctl(t.vcpu, KVM_SET_XSAVE, &xs);
	ok(RUN(&t, addps, 0, AVX, 0) == -1, "addps xmm runs");
	ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
	ymm_take(0, got);
	ok(!memcmp(got + 16, y1 + 16, 16), "legacy SSE keeps bits 255:128 of ymm0");
	ok(RUN(&t, vaddps128, 0, AVX, 0) == -1, "vaddps xmm runs");
	ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
	ymm_take(0, got);
	static const uint8_t zero[32];
	ok(!memcmp(got + 16, zero, 16), "VEX.128 clears bits 255:128 of ymm0");

	ymm_put(3, y1);
	ymm_put(9, y2);
	ioctl(t.vcpu, KVM_SET_XSAVE, &xs);
	ok(RUN(&t, vzeroupper, 0, AVX, 0) == -1, "vzeroupper runs");
	ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
	ymm_take(3, got);
	int zu = !memcmp(got, y1, 16) && !memcmp(got + 16, zero, 16);
	ymm_take(9, got);
	zu = zu && !memcmp(got, y2, 16) && !memcmp(got + 16, zero, 16);
	ok(zu, "vzeroupper clears bits 255:128 of ymm3 and ymm9, keeps 127:0");
	ok(RUN(&t, vzeroall, 0, AVX, 0) == -1, "vzeroall runs");
	ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
	ymm_take(3, got);
	ok(!memcmp(got, zero, 32), "vzeroall clears ymm3");

	/* a gather: 8 dwords from DATA + 4 * index */
	{
		uint32_t *d32 = tvm_ptr(&t, DATA);
		for (int k = 0; k < 64; k++)
			d32[k] = 0x1000 + (uint32_t)k;
		uint32_t idx[8] = { 7, 0, 3, 63, 1, 1, 40, 2 }, msk[8], out[8];
		for (int k = 0; k < 8; k++)
			msk[k] = k == 5 ? 0 : 0x80000000u;
		ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
		ymm_put(2, (uint8_t *)idx);
		ymm_put(1, (uint8_t *)msk);
		memset(out, 0xee, sizeof(out));
		ymm_put(0, (uint8_t *)out);
		ioctl(t.vcpu, KVM_SET_XSAVE, &xs);
		ok(RUN(&t, vgather, 0, AVX, 0) == -1, "vpgatherdd ymm runs");
		ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
		ymm_take(0, (uint8_t *)out);
		ymm_take(1, (uint8_t *)msk);
		int good = 1;
		for (int k = 0; k < 8; k++)
			good = good && out[k] == (k == 5 ? 0xeeeeeeeeu : 0x1000 + idx[k]) && msk[k] == 0;
		ok(good, "the gathered elements; the masked-off one kept; the mask cleared");
	}

	/* an unmasked divide-by-zero */
	{
		ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
		uint32_t mx = 0x1f80 & ~0x200u;
		float one = 1.0f, zf = 0.0f;
		memcpy(xsb() + 24, &mx, 4);
		memcpy(xsb() + 160 + 16, &one, 4);
		memcpy(xsb() + 160 + 32, &zf, 4);
		ymm_put(0, y1);
		ioctl(t.vcpu, KVM_SET_XSAVE, &xs);
		ok(RUN(&t, vdivss, 0, AVX, 0) == 19, "unmasked divide-by-zero in vdivss: #XM");
		ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
		memcpy(&mx, xsb() + 24, 4);
		ymm_take(0, got);
		ok((mx & 4) && !memcmp(got, y1, 32), "MXCSR.ZE set, ymm0 untouched");
		mx = 0x1f80;
		memcpy(xsb() + 24, &mx, 4);
		ioctl(t.vcpu, KVM_SET_XSAVE, &xs);
	}
	ok(RUN(&t, vpaddd256, 0, AVX, 0) == -1, "vpaddd ymm with AVX2 in CPUID runs");
	ok(RUN(&t, vfmadd, 0, AVX, 0) == -1 || !(c1->ecx & (1u << 12)), "vfmadd132pd with FMA runs");
	ok(RUN(&t, vcvtph2ps, 0, AVX, 0) == -1 || !(c1->ecx & (1u << 29)), "vcvtph2ps with F16C runs");
	/* BMI1 / BMI2: GPR instructions, no AVX rules */
	ok(RUN(&t, andn, CR0_TS, 0, 0) == -1, "ANDN needs no CR4.OSXSAVE and ignores CR0.TS");
	ok(RUN(&t, andn_l1, 0, AVX, 0) == 6, "ANDN with VEX.L = 1: #UD");
	ok(RUN(&t, mulx, CR0_TS | CR0_EM, 0, 0) == -1, "MULX needs no CR4.OSXSAVE and ignores CR0.TS");
	{
		struct kvm_regs r;
		ok(RUN(&t, tzcnt, 0, 0, 0) == -1 && ioctl(t.vcpu, KVM_GET_REGS, &r) == 0 &&
			   r.rax == 2 && (r.rflags & 0x41) == 0,
		   "TZCNT of 0x1234 is 2, CF and ZF clear");
	}
	tvm_destroy(&t);

	/* features the guest's CPUID hides */
	static const struct {
		unsigned fn;
		int reg;
		uint32_t bit;
		const uint8_t *code;
		size_t len;
		const char *what;
	} hide[] = {
		{ 1, 2, 1u << 28, vaddps256, sizeof(vaddps256), "vaddps with AVX hidden: #UD" },
		{ 7, 1, 1u << 5, vpaddd256, sizeof(vpaddd256), "vpaddd ymm with AVX2 hidden: #UD" },
		{ 7, 1, 1u << 5, vpaddd128, sizeof(vpaddd128), "vpaddd xmm with AVX2 hidden runs" },
		{ 7, 1, 1u << 5, vgather, sizeof(vgather), "vpgatherdd with AVX2 hidden: #UD" },
		{ 1, 2, 1u << 12, vfmadd, sizeof(vfmadd), "vfmadd132pd with FMA hidden: #UD" },
		{ 1, 2, 1u << 29, vcvtph2ps, sizeof(vcvtph2ps), "vcvtph2ps with F16C hidden: #UD" },
		{ 7, 1, 1u << 3, andn, sizeof(andn), "ANDN with BMI1 hidden: #UD" },
		{ 7, 1, 1u << 8, mulx, sizeof(mulx), "MULX with BMI2 hidden: #UD" },
		{ 7, 1, 1u << 3, tzcnt, sizeof(tzcnt), "F3 0F BC with BMI1 hidden runs (BSF)" },
	};
	for (size_t k = 0; k < sizeof(hide) / sizeof(hide[0]); k++) {
		struct tvm u;
		memset(&u, 0, sizeof(u));
		if (tvm_create(&u, 4 << 20) || set_cpuid_without(&u, hide[k].fn, hide[k].reg, hide[k].bit) ||
		    setup(&u)) {
			printf("Bail out! %s\n", u.err);
			return 1;
		}
		/* XCR0 bit 2 needs AVX in CPUID: without it, XCR0 = 3 */
		set_xcr0(&u, hide[k].fn == 1 && hide[k].bit == 1u << 28 ? 3 : 7);
		int want = strstr(hide[k].what, "runs") ? -1 : 6;
		struct kvm_regs r;
		ok(run(&u, hide[k].code, hide[k].len, 0, AVX, 0, &err) == want &&
			   (hide[k].code != tzcnt ||
			    (ioctl(u.vcpu, KVM_GET_REGS, &r) == 0 && r.rax == 2 && !(r.rflags & 0x40))),
		   hide[k].what);
		tvm_destroy(&u);
	}
	printf("1..%d\n", n);
	return fails != 0;
}
