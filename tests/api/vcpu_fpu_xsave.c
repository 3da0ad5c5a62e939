/* KVM_GET/SET_FPU, KVM_GET/SET_XSAVE, KVM_GET_XSAVE2, KVM_GET/SET_XCRS
 * (KVM API 4.22-4.23, 4.42-4.45): the FXSAVE image, the standard XSAVE
 * format and KVM's checks on it, XCR0 rules. */
#include "t.h"

#define HDR 512

static u_int64_t bv_of(const struct kvm_xsave *x)
{
	u_int64_t v;
	memcpy(&v, (const char *)x->region + HDR, 8);
	return v;
}

static void set_bv(struct kvm_xsave *x, u_int64_t v)
{
	memcpy((char *)x->region + HDR, &v, 8);
}

static u_int32_t mxcsr_of(const struct kvm_xsave *x)
{
	return x->region[6];
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	int vcpu = t_create_vcpu(vm, 0);
	/* Without XSAVE, KVM hands out the FXSAVE image marked x87+SSE and
	 * loads it without the XSAVE header rules. */
	int xs = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;

	/* Reset: FCW 0x37f.  With XSAVE, KVM's zeroed buffer shows MXCSR 0
	 * through KVM_GET_FPU while XSAVE (XSTATE_BV 0) reports the init
	 * state; without it the image holds MXCSR 0x1f80. */
	struct kvm_fpu f;
	T_EQ(ioctl(vcpu, KVM_GET_FPU, &f), 0, "GET_FPU");
	T_EQ(f.fcw, 0x37f, "reset FCW");
	T_OBS("reset_fpu", "fsw=%x ftwx=%x op=%x ip=%llx dp=%llx", f.fsw, f.ftwx,
	      f.last_opcode, (unsigned long long)f.last_ip, (unsigned long long)f.last_dp);
	T_EQ(f.mxcsr, xs ? 0 : 0x1f80, "reset MXCSR in KVM_GET_FPU");
	struct kvm_xsave x;
	T_EQ(ioctl(vcpu, KVM_GET_XSAVE, &x), 0, "GET_XSAVE");
	T_EQ(bv_of(&x), xs ? 0 : 3, "reset XSTATE_BV: 0, or x87+SSE without XSAVE");
	T_EQ(x.region[0] & 0xffff, 0x37f, "XSAVE FCW is the init value");
	T_EQ(mxcsr_of(&x), 0x1f80, "XSAVE MXCSR is the init value");
	T_OK((x.region[7] & 0xffff) == 0xffff, "MXCSR_MASK covers bits 15:0");

	/* KVM_SET_FPU writes the image as given, even reserved MXCSR bits,
	 * and leaves XSTATE_BV alone. */
	f.fcw = 0x27f;
	f.ftwx = 0x81;
	f.mxcsr = 0x1f00;
	f.xmm[0][0] = 0x55;
	f.fpr[0][0] = 0x66;
	f.last_ip = 0x1234;
	T_EQ(ioctl(vcpu, KVM_SET_FPU, &f), 0, "SET_FPU");
	struct kvm_fpu g;
	ioctl(vcpu, KVM_GET_FPU, &g);
	T_OK(g.fcw == 0x27f && g.ftwx == 0x81 && g.mxcsr == 0x1f00 && g.xmm[0][0] == 0x55 &&
	     g.fpr[0][0] == 0x66 && g.last_ip == 0x1234, "FPU round trip");
	f.mxcsr = 0xffffffff;
	T_EQ(ioctl(vcpu, KVM_SET_FPU, &f), 0, "SET_FPU takes reserved MXCSR bits");
	ioctl(vcpu, KVM_GET_XSAVE, &x);
	/* api.rst 4.22: SET_FPU writes the vCPU's state, so it is live */
	if (xs)
		T_OK(bv_of(&x) & 1, "SET_FPU makes the x87 state live (XSTATE_BV[0])");
	T_ERR(ioctl(vcpu, KVM_GET_FPU, T_BADPTR), EFAULT, "GET_FPU bad pointer");
	T_ERR(ioctl(vcpu, KVM_SET_FPU, T_BADPTR), EFAULT, "SET_FPU bad pointer");

	/* SET_XSAVE with x87 and SSE state. */
	memset(&x, 0, sizeof(x));
	set_bv(&x, 3);
	x.region[0] = 0x123;		/* FCW */
	x.region[6] = 0x1f80;		/* MXCSR */
	((unsigned char *)x.region)[32] = 0x11;	/* ST0 */
	((unsigned char *)x.region)[160] = 0x22;	/* XMM0 */
	T_EQ(ioctl(vcpu, KVM_SET_XSAVE, &x), 0, "SET_XSAVE x87+SSE");
	struct kvm_xsave y;
	ioctl(vcpu, KVM_GET_XSAVE, &y);
	T_EQ(bv_of(&y), 3, "XSTATE_BV 3 reads back");
	T_OK((y.region[0] & 0xffff) == 0x123 && ((unsigned char *)y.region)[32] == 0x11 &&
	     ((unsigned char *)y.region)[160] == 0x22, "x87 and SSE state round trip");
	ioctl(vcpu, KVM_GET_FPU, &g);
	T_OK(g.fcw == 0x123 && g.xmm[0][0] == 0x22 && g.fpr[0][0] == 0x11,
	     "GET_FPU shows what SET_XSAVE loaded");

	/* A component outside XSTATE_BV is not loaded and reads as init. */
	if (xs) {
		memset(&x, 0, sizeof(x));
		set_bv(&x, 1);
		x.region[0] = 0x37f;
		x.region[6] = 0x1f80;
		((unsigned char *)x.region)[160] = 0x44;
		T_EQ(ioctl(vcpu, KVM_SET_XSAVE, &x), 0, "SET_XSAVE x87 only");
		ioctl(vcpu, KVM_GET_XSAVE, &y);
		T_EQ(bv_of(&y), 1, "XSTATE_BV 1 reads back");
		T_EQ(((unsigned char *)y.region)[160], 0, "SSE outside XSTATE_BV reads as init");
		T_EQ(mxcsr_of(&y), 0x1f80, "MXCSR without SSE reads as init");
	}

	/* KVM's refusals (fpu_copy_uabi_to_guest_fpstate). */
	memset(&x, 0, sizeof(x));
	x.region[0] = 0x37f;
	x.region[6] = 0x1f80;
	set_bv(&x, 1ULL << 62);
	T_ERR(ioctl(vcpu, KVM_SET_XSAVE, &x), EINVAL, "XSTATE_BV with an unsupported component");
	set_bv(&x, 3);
	if (xs) {
		u_int64_t xcomp = 1ULL << 63 | 3;
		memcpy((char *)x.region + HDR + 8, &xcomp, 8);
		T_ERR(ioctl(vcpu, KVM_SET_XSAVE, &x), EINVAL, "compacted format (XCOMP_BV set)");
		memset((char *)x.region + HDR + 8, 0, 8);
		((unsigned char *)x.region)[HDR + 28] = 1;
		T_ERR(ioctl(vcpu, KVM_SET_XSAVE, &x), EINVAL, "reserved header bytes");
		((unsigned char *)x.region)[HDR + 28] = 0;
	}
	x.region[6] = 0xffffffff;
	T_ERR(ioctl(vcpu, KVM_SET_XSAVE, &x), EINVAL, "reserved MXCSR bits with SSE");
	set_bv(&x, 1);
	T_ERR(ioctl(vcpu, KVM_SET_XSAVE, &x), EINVAL, "reserved MXCSR bits with x87 only");
	set_bv(&x, 0);
	if (xs) {
		T_EQ(ioctl(vcpu, KVM_SET_XSAVE, &x), 0, "XSTATE_BV 0 ignores MXCSR");
		ioctl(vcpu, KVM_GET_XSAVE, &y);
		T_EQ(bv_of(&y), 0, "XSTATE_BV 0 reads back");
	} else {
		T_ERR(ioctl(vcpu, KVM_SET_XSAVE, &x), EINVAL, "MXCSR checked whatever XSTATE_BV");
	}
	T_ERR(ioctl(vcpu, KVM_GET_XSAVE, T_BADPTR), EFAULT, "GET_XSAVE bad pointer");
	T_ERR(ioctl(vcpu, KVM_SET_XSAVE, T_BADPTR), EFAULT, "SET_XSAVE bad pointer");

	T_ERR(ioctl(vm, KVM_GET_XSAVE, &y), ENOTTY, "GET_XSAVE on the VM fd");
	T_ERR(ioctl(kvm, KVM_GET_FPU, &g), EINVAL, "GET_FPU on the system fd");

	/* KVM_GET_XSAVE2 returns KVM_CAP_XSAVE2 bytes (at least 4096). */
	long sz = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	T_OK(sz == 0 || sz >= 4096, "KVM_CAP_XSAVE2 is 0 or at least 4096 (%ld)", sz);
	if (sz >= 4096) {
		void *buf = calloc(1, sz);
		T_EQ(ioctl(vcpu, KVM_GET_XSAVE2, buf), 0, "GET_XSAVE2");
		free(buf);
	}

	/* XCRs: only with XSAVE (KVM_CAP_XCRS). */
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XCRS),
	     ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE), "KVM_CAP_XCRS follows KVM_CAP_XSAVE");
	struct kvm_xcrs xc, xg;
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
		memset(&xg, 0xaa, sizeof(xg));
		T_EQ(ioctl(vcpu, KVM_GET_XCRS, &xg), 0, "GET_XCRS");
		T_OK(xg.nr_xcrs == 1 && xg.flags == 0 && xg.xcrs[0].xcr == 0 &&
		     xg.xcrs[0].value == 1, "reset XCR0 is 1, the only XCR");
		memset(&xc, 0, sizeof(xc));
		xc.nr_xcrs = 1;
		xc.xcrs[0].value = 1;
		T_EQ(ioctl(vcpu, KVM_SET_XCRS, &xc), 0, "SET_XCRS XCR0=1");
		xc.xcrs[0].value = 0;
		T_ERR(ioctl(vcpu, KVM_SET_XCRS, &xc), EINVAL, "XCR0 without x87");
		xc.xcrs[0].value = 3;
		T_ERR(ioctl(vcpu, KVM_SET_XCRS, &xc), EINVAL, "XCR0 SSE without CPUID leaf 0xD");
		xc.xcrs[0].value = 1;
		xc.flags = 1;
		T_ERR(ioctl(vcpu, KVM_SET_XCRS, &xc), EINVAL, "SET_XCRS flags");
		xc.flags = 0;
		xc.nr_xcrs = KVM_MAX_XCRS + 1;
		T_ERR(ioctl(vcpu, KVM_SET_XCRS, &xc), EINVAL, "nr_xcrs above KVM_MAX_XCRS");
		xc.nr_xcrs = KVM_MAX_XCRS;
		T_EQ(ioctl(vcpu, KVM_SET_XCRS, &xc), 0, "nr_xcrs = KVM_MAX_XCRS");
		xc.nr_xcrs = 2;
		xc.xcrs[0] = (struct kvm_xcr){.xcr = 1, .value = 0};
		xc.xcrs[1] = (struct kvm_xcr){.xcr = 0, .value = 0};
		T_ERR(ioctl(vcpu, KVM_SET_XCRS, &xc), EINVAL, "other XCRs skipped, bad XCR0 found");
		xc.nr_xcrs = 1;
		T_EQ(ioctl(vcpu, KVM_SET_XCRS, &xc), 0, "an XCR other than 0 is ignored");
		T_ERR(ioctl(vcpu, KVM_GET_XCRS, T_BADPTR), EFAULT, "GET_XCRS bad pointer");
		T_ERR(ioctl(vcpu, KVM_SET_XCRS, T_BADPTR), EFAULT, "SET_XCRS bad pointer");
	} else {
		memset(&xg, 0xaa, sizeof(xg));
		T_EQ(ioctl(vcpu, KVM_GET_XCRS, &xg), 0, "GET_XCRS without XSAVE");
		T_EQ(xg.nr_xcrs, 0, "no XCRs without XSAVE");
		memset(&xc, 0, sizeof(xc));
		xc.nr_xcrs = 1;
		xc.xcrs[0].value = 1;
		T_ERR(ioctl(vcpu, KVM_SET_XCRS, &xc), EINVAL, "SET_XCRS without XSAVE");
	}

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
