/*
 * vCPU state ioctls: SREGS, FPU, XSAVE, XCRS, DEBUGREGS, events, MP state,
 * TSC frequency, guest debug (KVM API 4.13-4.14, 4.22-4.23, 4.31-4.32,
 * 4.38-4.39, 4.42-4.44, 4.55-4.56, 4.57).  Validation and conversions follow
 * arch/x86/kvm/x86.c; the MSR ioctls are in vcpu_msr.c.
 */
#include <errno.h>
#include <string.h>

#include "kvm/kvm.h"
#include "kvm/irqchip_vm.h"
#include "kvm/pvclock.h"
#include "kvm/vcpu_msr.h"
#include "kvm/x86_ioctl.h"
#include "x86/engine.h"
#include "x86/msr.h"

/* Called with vm->lock held, before the vCPU joins vm->vcpus. */
int skvm_x86_vcpu_init(struct skvm_vcpu *vcpu)
{
	struct skvm_vm *vm = vcpu->vm;
	int r = x86_tsc_sync_get(&vcpu->cpu, vm->nr_vcpus ? &vm->vcpus[0]->cpu : NULL);
	if (r)
		return r;
	vcpu->cpu.bsp = vm->boot_cpu_id == vcpu->id;
	x86_cpu_reset(&vcpu->cpu, false);
	r = skvm_irqchip_vcpu_init(vcpu);
	if (r) {
		x86_tsc_sync_put(&vcpu->cpu);
		return r;
	}
	x86_tsc_vcpu_created(&vcpu->cpu);
	return 0;
}

void skvm_x86_vcpu_destroy(struct skvm_vcpu *vcpu)
{
	skvm_irqchip_vcpu_destroy(vcpu);
	skvm_vcpu_cpuid_free(vcpu);
	skvm_pv_vcpu_destroy(vcpu);
	x86_tsc_sync_put(&vcpu->cpu);
	x86_engine_destroy(&vcpu->cpu);
}

/* Copy the ioctl argument in, run `body`, copy it back out for GET. */
#define ARG_IN(var)                                                     \
	do {                                                            \
		if (skvm_copy_from_user(&(var), arg, sizeof(var)))      \
			return -EFAULT;                                 \
	} while (0)
#define ARG_OUT(var) (skvm_copy_to_user(arg, &(var), sizeof(var)) ? -EFAULT : 0)

/* --- segments and SREGS ---------------------------------------------------- */

static void seg_to_kvm(const struct x86_seg *s, struct kvm_segment *k)
{
	*k = (struct kvm_segment){
		.base = s->base, .limit = s->limit, .selector = s->sel,
		.type = s->type, .present = s->present, .dpl = s->dpl,
		.db = s->db, .s = s->s, .l = s->l, .g = s->g, .avl = s->avl,
		.unusable = s->unusable,
	};
}

static void seg_from_kvm(struct x86_seg *s, const struct kvm_segment *k)
{
	*s = (struct x86_seg){
		.base = k->base, .limit = k->limit, .sel = k->selector,
		.type = k->type, .present = k->present, .dpl = k->dpl,
		.db = k->db, .s = k->s, .l = k->l, .g = k->g, .avl = k->avl,
		.unusable = k->unusable,
	};
}

/* struct kvm_sregs and kvm_sregs2 share everything up to apic_base. */
#define SREGS_SEGS(X) X(cs, S_CS) X(ds, S_DS) X(es, S_ES) X(fs, S_FS) X(gs, S_GS) X(ss, S_SS)

void skvm_sregs_get(const struct x86_cpu *c, struct kvm_sregs *s)
{
	memset(s, 0, sizeof(*s));
#define GET_SEG(f, i) seg_to_kvm(&c->seg[i], &s->f);
	SREGS_SEGS(GET_SEG)
#undef GET_SEG
	seg_to_kvm(&c->tr, &s->tr);
	seg_to_kvm(&c->ldt, &s->ldt);
	s->gdt = (struct kvm_dtable){.base = c->gdt.base, .limit = c->gdt.limit};
	s->idt = (struct kvm_dtable){.base = c->idt.base, .limit = c->idt.limit};
	s->cr0 = c->cr0;
	s->cr2 = c->cr2;
	s->cr3 = c->cr3;
	s->cr4 = c->cr4;
	s->cr8 = x86_get_cr8(c);
	s->efer = c->efer;
	s->apic_base = c->apic_base;
	/* A hardware interrupt being injected shows in the bitmap (KVM
	 * reports one vector at most; soft interrupts are not reported). */
	if (c->ev.interrupt.injected && !c->ev.interrupt.soft)
		s->interrupt_bitmap[c->ev.interrupt.nr / 64] |= BIT(c->ev.interrupt.nr % 64);
}

/* KVM's kvm_is_valid_sregs(): the mode bits must describe a real mode. */
static bool sregs_valid(const struct x86_cpu *c, const struct kvm_sregs *s)
{
	if ((s->efer & X86_EFER_LME) && (s->cr0 & X86_CR0_PG)) {
		/* IA-32e mode (SDM 9.8.5) needs PAE and LMA, and CR3 within
		 * the physical address width. */
		if (!(s->cr4 & X86_CR4_PAE) || !(s->efer & X86_EFER_LMA))
			return false;
		u32 w = x86_maxphyaddr(c); /* CPUID may claim up to 255 bits */
		if (w < 64 && (s->cr3 >> w))
			return false;
	} else if ((s->efer & X86_EFER_LMA) || s->cs.l) {
		return false;
	}
	return x86_cr4_valid(c, s->cr4) && x86_cr0_valid(c, s->cr0);
}

static long sregs_set(struct x86_cpu *c, const struct kvm_sregs *s)
{
	if (!sregs_valid(c, s))
		return -EINVAL;
	if (x86_set_apic_base(c, s->apic_base, true))
		return -EINVAL;
#define SET_SEG(f, i) seg_from_kvm(&c->seg[i], &s->f);
	SREGS_SEGS(SET_SEG)
#undef SET_SEG
	seg_from_kvm(&c->tr, &s->tr);
	seg_from_kvm(&c->ldt, &s->ldt);
	c->gdt = (struct x86_dtable){.base = s->gdt.base, .limit = s->gdt.limit};
	c->idt = (struct x86_dtable){.base = s->idt.base, .limit = s->idt.limit};
	c->cr2 = s->cr2;
	c->cr3 = s->cr3;
	/* KVM's kvm_set_cr8() ignores a value with reserved bits (SDM 10.8.6.1:
	 * CR8 is the 4-bit TPR class) and the ioctl still succeeds. */
	if (!(s->cr8 & ~0xfULL))
		x86_set_cr8(c, s->cr8);
	/* The VMM may restore any EFER: KVM passes it to the vendor code
	 * without the reserved-bit check a guest WRMSR gets. */
	c->efer = s->efer;
	c->cr0 = s->cr0;
	c->cr4 = s->cr4;
	return 0;
}

/* KVM_SET_SREGS and KVM_SYNC_X86_SREGS (KVM's __set_sregs). */
long skvm_sregs_set(struct skvm_vcpu *vcpu, const struct kvm_sregs *s)
{
	long r = sregs_set(&vcpu->cpu, s);
	if (r)
		return r;
	/* A set bit queues that external interrupt for injection (KVM API
	 * 4.14); KVM takes the lowest one. */
	for (unsigned int v = 0; v < KVM_NR_INTERRUPTS; v++)
		if (s->interrupt_bitmap[v / 64] & BIT(v % 64)) {
			vcpu->cpu.ev.interrupt.injected = 1;
			vcpu->cpu.ev.interrupt.nr = (u8)v;
			vcpu->cpu.ev.interrupt.soft = 0;
			break;
		}
	return 0;
}

static long ioctl_set_sregs(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_sregs s;
	ARG_IN(s);
	return skvm_sregs_set(vcpu, &s);
}

/* --- FPU, XSAVE, XCRs ------------------------------------------------------ */

static u64 xstate_bv(const u8 *area)
{
	u64 v;
	memcpy(&v, area + X86_XSAVE_HDR, sizeof(v));
	return v;
}

static long ioctl_get_fpu(struct skvm_vcpu *vcpu, unsigned long arg)
{
	const struct x86_fxsave *fx = &vcpu->cpu.xsave.fx;
	struct kvm_fpu f;
	memset(&f, 0, sizeof(f));
	memcpy(f.fpr, fx->st, sizeof(f.fpr));
	f.fcw = fx->fcw;
	f.fsw = fx->fsw;
	f.ftwx = fx->ftw;
	f.last_opcode = fx->fop;
	f.last_ip = fx->fip;
	f.last_dp = fx->fdp;
	memcpy(f.xmm, fx->xmm, sizeof(f.xmm));
	f.mxcsr = fx->mxcsr;
	return ARG_OUT(f);
}

/* KVM writes the FXSAVE image as given: no MXCSR check.  The x87 and SSE
 * components become live, so the guest runs with what was written (api.rst
 * 4.22); the host's KVM leaves XSTATE_BV alone, and with XSTATE_BV 0 after
 * vCPU creation its guest starts from the init state instead (recorded in
 * tests/api/host-deviations.txt). */
static long ioctl_set_fpu(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct x86_fxsave *fx = &vcpu->cpu.xsave.fx;
	struct kvm_fpu f;
	ARG_IN(f);
	memcpy(fx->st, f.fpr, sizeof(fx->st));
	fx->fcw = f.fcw;
	fx->fsw = f.fsw;
	fx->ftw = f.ftwx;
	fx->fop = f.last_opcode;
	fx->fip = f.last_ip;
	fx->fdp = f.last_dp;
	memcpy(fx->xmm, f.xmm, sizeof(fx->xmm));
	fx->mxcsr = f.mxcsr;
	if (x86_xsave_supported()) {
		u64 bv = xstate_bv(vcpu->cpu.xsave.bytes) |
			 ((X86_XFEATURE_FP | X86_XFEATURE_SSE) & x86_xcr0_supported());
		memcpy(vcpu->cpu.xsave.bytes + X86_XSAVE_HDR, &bv, sizeof(bv));
	}
	return 0;
}

/* Offsets inside the legacy region (SDM Vol. 1, Table 10-2). */
#define FX_MXCSR offsetof(struct x86_fxsave, mxcsr)
#define FX_ST offsetof(struct x86_fxsave, st)
#define FX_XMM offsetof(struct x86_fxsave, xmm)
#define FX_XMM_END offsetof(struct x86_fxsave, rsvd2)


/*
 * The standard-format image KVM_GET_XSAVE returns: components whose
 * XSTATE_BV bit is clear read as their init state (SDM Vol. 1, 13.6), MXCSR
 * is live with SSE or AVX, and XCOMP_BV and the header's reserved bytes are 0.
 */
static void xsave_export(const struct x86_cpu *c, u8 *out)
{
	const u8 *raw = c->xsave.bytes;
	u64 bv = xstate_bv(raw) & x86_xcr0_supported();
	memset(out, 0, X86_XSAVE_AREA);
	/* Without XSAVE KVM hands out the FXSAVE image, marked x87+SSE so an
	 * XSAVE host can load it (fpu_copy_guest_fpstate_to_uabi). */
	if (!x86_xsave_supported()) {
		bv = X86_XFEATURE_FP | X86_XFEATURE_SSE;
		memcpy(out, raw, sizeof(struct x86_fxsave));
		memcpy(out + X86_XSAVE_HDR, &bv, sizeof(bv));
		return;
	}
	if (bv & X86_XFEATURE_FP) {
		memcpy(out, raw, FX_MXCSR);
		memcpy(out + FX_ST, raw + FX_ST, FX_XMM - FX_ST);
	} else {
		u16 fcw = 0x37f;
		memcpy(out, &fcw, sizeof(fcw));
	}
	if (bv & (X86_XFEATURE_SSE | X86_XFEATURE_YMM)) {
		memcpy(out + FX_MXCSR, raw + FX_MXCSR, 8);
	} else {
		u32 m[2] = {0x1f80, X86_MXCSR_MASK};
		memcpy(out + FX_MXCSR, m, sizeof(m));
	}
	if (bv & X86_XFEATURE_SSE)
		memcpy(out + FX_XMM, raw + FX_XMM, FX_XMM_END - FX_XMM);
	if (bv & X86_XFEATURE_YMM)
		memcpy(out + X86_XSAVE_YMM, raw + X86_XSAVE_YMM, 256);
	memcpy(out + X86_XSAVE_HDR, &bv, sizeof(bv));
}

/* KVM (fpu_copy_uabi_to_guest_fpstate) refuses components it does not
 * support, the compacted format, non-zero reserved header bytes and
 * reserved MXCSR bits, then copies the components the header names. */
static long xsave_import(struct x86_cpu *c, const u8 *in)
{
	u64 bv = xstate_bv(in), xcomp;
	u32 mxcsr;
	memcpy(&xcomp, in + X86_XSAVE_HDR + 8, sizeof(xcomp));
	memcpy(&mxcsr, in + FX_MXCSR, sizeof(mxcsr));
	if (bv & ~x86_xcr0_supported())
		return -EINVAL;
	/* Without XSAVE: the FXSAVE image, MXCSR checked, no header rules. */
	if (!x86_xsave_supported()) {
		if (mxcsr & ~X86_MXCSR_MASK)
			return -EINVAL;
		memcpy(c->xsave.bytes, in, sizeof(struct x86_fxsave));
		return 0;
	}
	if (xcomp)
		return -EINVAL;
	for (int i = 16; i < 64; i++)
		if (in[X86_XSAVE_HDR + i])
			return -EINVAL;
	if ((bv & x86_xcr0_supported()) && (mxcsr & ~X86_MXCSR_MASK))
		return -EINVAL;

	u8 *raw = c->xsave.bytes;
	if (bv & X86_XFEATURE_FP) {
		memcpy(raw, in, FX_XMM); /* x87 state, MXCSR included */
	} else if (bv & (X86_XFEATURE_SSE | X86_XFEATURE_YMM)) {
		memcpy(raw + FX_MXCSR, in + FX_MXCSR, 8);
	}
	if (bv & X86_XFEATURE_SSE)
		memcpy(raw + FX_XMM, in + FX_XMM, FX_XMM_END - FX_XMM);
	if (bv & X86_XFEATURE_YMM)
		memcpy(raw + X86_XSAVE_YMM, in + X86_XSAVE_YMM, 256);
	memcpy(raw + X86_XSAVE_HDR, &bv, sizeof(bv));
	return 0;
}

static long ioctl_get_xsave(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_xsave x;
	xsave_export(&vcpu->cpu, (u8 *)x.region);
	return ARG_OUT(x);
}

static long ioctl_set_xsave(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_xsave x;
	ARG_IN(x);
	return xsave_import(&vcpu->cpu, (const u8 *)x.region);
}

static long ioctl_get_xcrs(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_xcrs x;
	memset(&x, 0, sizeof(x));
	/* Without XSAVE there is no XCR0 to report. */
	if (x86_xsave_supported()) {
		x.nr_xcrs = 1;
		x.xcrs[0].xcr = 0;
		x.xcrs[0].value = vcpu->cpu.xcr0;
	}
	return ARG_OUT(x);
}

static long ioctl_set_xcrs(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_xcrs x;
	ARG_IN(x);
	if (!x86_xsave_supported())
		return -EINVAL;
	if (x.nr_xcrs > KVM_MAX_XCRS || x.flags)
		return -EINVAL;
	/* Only XCR0 exists; KVM skips other entries and stops at XCR0. */
	for (u32 i = 0; i < x.nr_xcrs; i++) {
		if (x.xcrs[i].xcr != 0)
			continue;
		if (!x86_xcr0_valid(&vcpu->cpu, x.xcrs[i].value))
			return -EINVAL;
		vcpu->cpu.xcr0 = x.xcrs[i].value;
		break;
	}
	return 0;
}

/* --- debug registers and guest debug ------------------------------------ */

static long ioctl_get_debugregs(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_debugregs d;
	memset(&d, 0, sizeof(d));
	memcpy(d.db, vcpu->cpu.dr, sizeof(d.db));
	d.dr6 = vcpu->cpu.dr6;
	d.dr7 = vcpu->cpu.dr7;
	return ARG_OUT(d);
}

/* DR6/DR7 bits 63:32 are reserved (SDM 17.2.3-4): KVM refuses them. */
static long ioctl_set_debugregs(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_debugregs d;
	ARG_IN(d);
	if (d.flags || (d.dr6 >> 32) || (d.dr7 >> 32))
		return -EINVAL;
	memcpy(vcpu->cpu.dr, d.db, sizeof(d.db));
	vcpu->cpu.dr6 = d.dr6;
	vcpu->cpu.dr7 = d.dr7;
	return 0;
}

/*
 * KVM_SET_GUEST_DEBUG: x86 KVM accepts any control bits.  INJECT_DB/BP queue
 * the exception unless one is already pending or injected (EBUSY).  The
 * engine acts on the recorded flags; KVM_CAP_SET_GUEST_DEBUG says when.
 */
static long ioctl_set_guest_debug(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct x86_cpu *c = &vcpu->cpu;
	struct kvm_guest_debug g;
	ARG_IN(g);
	if (g.control & (KVM_GUESTDBG_INJECT_DB | KVM_GUESTDBG_INJECT_BP)) {
		if (c->ev.exception.pending || c->ev.exception.injected)
			return -EBUSY;
		c->ev.exception.pending = 1;
		c->ev.exception.nr = g.control & KVM_GUESTDBG_INJECT_DB ? 1 : 3;
		c->ev.exception.has_error_code = 0;
		c->ev.exception.error_code = 0;
		c->ev.exception.has_payload = 0;
	}
	c->guest_debug = g.control & KVM_GUESTDBG_ENABLE ? g.control : 0;
	if (c->guest_debug & KVM_GUESTDBG_USE_HW_BP)
		memcpy(c->guest_debug_db, g.arch.debugreg, sizeof(c->guest_debug_db));
	return 0;
}

/* --- events and MP state ------------------------------------------------- */

/* At most one NMI can be pending behind one being handled (SDM 6.7.1). */
static void nmi_limit(struct x86_events *ev)
{
	u8 limit = ev->nmi.masked || ev->nmi.injected ? 1 : 2;
	if (ev->nmi.pending > limit)
		ev->nmi.pending = limit;
}

static bool exception_is_soft(u8 nr)
{
	return nr == 3 || nr == 4; /* #BP, #OF: raised by INT3 / INTO */
}

/* KVM_GET_VCPU_EVENTS and KVM_SYNC_X86_EVENTS. */
void skvm_events_get(struct skvm_vcpu *vcpu, struct kvm_vcpu_events *out)
{
	struct x86_events *ev = &vcpu->cpu.ev;
	struct kvm_vcpu_events e;
	memset(&e, 0, sizeof(e));
	nmi_limit(ev);
	/*
	 * Software exceptions are not reported: the API has no instruction
	 * length, and the guest re-executes the instruction.  Without
	 * KVM_CAP_EXCEPTION_PAYLOAD a pending exception reads as injected.
	 */
	if (!exception_is_soft(ev->exception.nr)) {
		e.exception.injected = ev->exception.injected || ev->exception.pending;
		e.exception.pending = ev->exception.pending;
	}
	e.exception.nr = ev->exception.nr;
	e.exception.has_error_code = ev->exception.has_error_code;
	e.exception.error_code = ev->exception.error_code;
	e.interrupt.injected = ev->interrupt.injected && !ev->interrupt.soft;
	e.interrupt.nr = ev->interrupt.nr;
	e.interrupt.shadow = vcpu->cpu.int_shadow;
	e.nmi.injected = ev->nmi.injected;
	e.nmi.pending = ev->nmi.pending;
	e.nmi.masked = ev->nmi.masked;
	/* sipi_vector is never reported; no SMM, no latched INIT. */
	e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
		  KVM_VCPUEVENT_VALID_SMM;
	*out = e;
}

static long ioctl_get_vcpu_events(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_vcpu_events e;
	skvm_events_get(vcpu, &e);
	return ARG_OUT(e);
}

#define EVENTS_FLAGS (KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | \
		      KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |         \
		      KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT)

/* KVM_SET_VCPU_EVENTS and KVM_SYNC_X86_EVENTS; e is the caller's copy. */
long skvm_events_set(struct skvm_vcpu *vcpu, struct kvm_vcpu_events e)
{
	struct x86_events *ev = &vcpu->cpu.ev;
	if (e.flags & ~EVENTS_FLAGS)
		return -EINVAL;
	/* Payloads need KVM_CAP_EXCEPTION_PAYLOAD, which we do not offer;
	 * without it "pending" is not part of the ABI and is dropped. */
	if (e.flags & KVM_VCPUEVENT_VALID_PAYLOAD)
		return -EINVAL;
	e.exception.pending = 0;
	/* Vectors 32-255 are not exceptions and #NMI (2) is not injected as
	 * one (SDM 6.3.1). */
	if ((e.exception.injected || e.exception.pending) &&
	    (e.exception.nr > 31 || e.exception.nr == 2))
		return -EINVAL;

	ev->exception.injected = e.exception.injected;
	ev->exception.pending = 0;
	ev->exception.nr = e.exception.nr;
	ev->exception.has_error_code = e.exception.has_error_code;
	ev->exception.error_code = e.exception.error_code;
	ev->exception.has_payload = 0;
	ev->exception.payload = 0;
	ev->interrupt.injected = e.interrupt.injected;
	ev->interrupt.nr = e.interrupt.nr;
	ev->interrupt.soft = e.interrupt.soft;
	if (e.flags & KVM_VCPUEVENT_VALID_SHADOW)
		vcpu->cpu.int_shadow = e.interrupt.shadow &
				       (KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI);
	ev->nmi.injected = e.nmi.injected;
	if (e.flags & KVM_VCPUEVENT_VALID_NMI_PENDING)
		ev->nmi.pending = e.nmi.pending;
	ev->nmi.masked = !!e.nmi.masked;
	/* SIPI vector: only an in-kernel LAPIC keeps it. */

	/* Without SMM support only "not in SMM, nothing pending" is valid; as
	 * in KVM, the fields above are already applied when this fails. */
	if ((e.flags & KVM_VCPUEVENT_VALID_SMM) &&
	    (e.smi.smm || e.smi.pending || e.smi.smm_inside_nmi))
		return -EINVAL;
	/* Needs KVM_CAP_X86_TRIPLE_FAULT_EVENT, not offered. */
	if (e.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT)
		return -EINVAL;
	return 0;
}

static long ioctl_set_vcpu_events(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_vcpu_events e;
	ARG_IN(e);
	return skvm_events_set(vcpu, e);
}

static long ioctl_get_mp_state(struct skvm_vcpu *vcpu, unsigned long arg)
{
	if (vcpu->apic)
		skvm_apic_accept_events(vcpu);
	struct kvm_mp_state m = {.mp_state = vcpu->cpu.mp_state};
	return ARG_OUT(m);
}

/* Without an in-kernel LAPIC there is no INIT/SIPI or halt state to hold:
 * KVM accepts RUNNABLE only (kvm_arch_vcpu_ioctl_set_mpstate). */
static long ioctl_set_mp_state(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_mp_state m;
	ARG_IN(m);
	if (vcpu->apic)
		return skvm_apic_set_mp_state(vcpu, m.mp_state);
	if (m.mp_state != KVM_MP_STATE_RUNNABLE)
		return -EINVAL;
	vcpu->cpu.mp_state = m.mp_state;
	return 0;
}

/* --- TSC frequency ------------------------------------------------------------ */

/*
 * Any rate from 1 kHz up to 256 times the host's, as AMD's TSC ratio
 * (8.32 fixed point) allows; 0 restores the host rate.  The guest TSC keeps
 * its offset, so its value jumps with the rate, as on KVM.
 */
static long set_tsc_khz(struct skvm_vcpu *vcpu, unsigned long arg)
{
	u32 khz = (u32)arg, host = x86_host_tsc_khz();
	if ((u64)khz >= (u64)host * 256)
		return -EINVAL;
	vcpu->cpu.tsc_khz = khz ? khz : host;
	x86_pvclock_changed(&vcpu->cpu, false);
	return 0;
}

long skvm_vcpu_state_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case KVM_GET_SREGS: {
		struct kvm_sregs s;
		skvm_sregs_get(&vcpu->cpu, &s);
		return ARG_OUT(s);
	}
	case KVM_SET_SREGS:
		return ioctl_set_sregs(vcpu, arg);
	case KVM_GET_FPU:
		return ioctl_get_fpu(vcpu, arg);
	case KVM_SET_FPU:
		return ioctl_set_fpu(vcpu, arg);
	case KVM_GET_XSAVE:
	case KVM_GET_XSAVE2: /* KVM_CAP_XSAVE2 is 4096: the same image */
		return ioctl_get_xsave(vcpu, arg);
	case KVM_SET_XSAVE:
		return ioctl_set_xsave(vcpu, arg);
	case KVM_GET_XCRS:
		return ioctl_get_xcrs(vcpu, arg);
	case KVM_SET_XCRS:
		return ioctl_set_xcrs(vcpu, arg);
	case KVM_GET_DEBUGREGS:
		return ioctl_get_debugregs(vcpu, arg);
	case KVM_SET_DEBUGREGS:
		return ioctl_set_debugregs(vcpu, arg);
	case KVM_SET_GUEST_DEBUG:
		return ioctl_set_guest_debug(vcpu, arg);
	case KVM_GET_VCPU_EVENTS:
		return ioctl_get_vcpu_events(vcpu, arg);
	case KVM_SET_VCPU_EVENTS:
		return ioctl_set_vcpu_events(vcpu, arg);
	case KVM_GET_MP_STATE:
		return ioctl_get_mp_state(vcpu, arg);
	case KVM_SET_MP_STATE:
		return ioctl_set_mp_state(vcpu, arg);
	case KVM_GET_TSC_KHZ:
		return (long)vcpu->cpu.tsc_khz;
	case KVM_SET_TSC_KHZ:
		return set_tsc_khz(vcpu, arg);
	default:
		return skvm_vcpu_msr_ioctl(vcpu, cmd, arg);
	}
}
