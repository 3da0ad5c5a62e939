/* KVM_GET/SET_VCPU_EVENTS, KVM_GET/SET_DEBUGREGS, KVM_GET/SET_MP_STATE,
 * KVM_SET_GUEST_DEBUG, KVM_GET/SET_TSC_KHZ (KVM API 4.31-4.32, 4.38-4.39,
 * 4.55-4.56, 4.59), without an in-kernel irqchip. */
#include "t.h"

static int vcpu;

static struct kvm_vcpu_events ev_set(struct kvm_vcpu_events e, int err, const char *what)
{
	if (err)
		T_ERR(ioctl(vcpu, KVM_SET_VCPU_EVENTS, &e), err, "SET_VCPU_EVENTS refuses %s", what);
	else
		T_EQ(ioctl(vcpu, KVM_SET_VCPU_EVENTS, &e), 0, "SET_VCPU_EVENTS accepts %s", what);
	struct kvm_vcpu_events g;
	memset(&g, 0xaa, sizeof(g));
	ioctl(vcpu, KVM_GET_VCPU_EVENTS, &g);
	struct kvm_vcpu_events z;
	memset(&z, 0, sizeof(z));
	z.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
	ioctl(vcpu, KVM_SET_VCPU_EVENTS, &z);
	return g;
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	vcpu = t_create_vcpu(vm, 0);
	int vcpu1 = t_create_vcpu(vm, 1);

	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_VCPU_EVENTS), 1, "KVM_CAP_VCPU_EVENTS");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_DEBUGREGS), 1, "KVM_CAP_DEBUGREGS");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MP_STATE), 1, "KVM_CAP_MP_STATE");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_GET_TSC_KHZ), 1, "KVM_CAP_GET_TSC_KHZ");

	/* Events: a new vCPU has none; every field but flags is 0. */
	struct kvm_vcpu_events e, g;
	memset(&g, 0xaa, sizeof(g));
	T_EQ(ioctl(vcpu, KVM_GET_VCPU_EVENTS, &g), 0, "GET_VCPU_EVENTS");
	T_EQ(g.flags, KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
		      KVM_VCPUEVENT_VALID_SMM, "GET flags: NMI_PENDING, SHADOW, SMM");
	struct kvm_vcpu_events z;
	memset(&z, 0, sizeof(z));
	z.flags = g.flags;
	T_OK(!memcmp(&g, &z, sizeof(g)), "reset events are all zero, reserved bytes too");

	memset(&e, 0, sizeof(e));
	e.exception.injected = 1;
	e.exception.nr = 13;
	e.exception.has_error_code = 1;
	e.exception.error_code = 0x18;
	g = ev_set(e, 0, "an injected #GP");
	T_OK(g.exception.injected && g.exception.nr == 13 && g.exception.has_error_code &&
	     g.exception.error_code == 0x18, "injected #GP reads back");
	e.exception.nr = 0;
	g = ev_set(e, 0, "#DE with an error code");
	T_OK(g.exception.injected && g.exception.nr == 0 && g.exception.has_error_code,
	     "KVM does not check which vectors have error codes");
	memset(&e, 0, sizeof(e));
	e.exception.pending = 1;
	e.exception.nr = 13;
	g = ev_set(e, 0, "a pending exception without EXCEPTION_PAYLOAD");
	T_OK(!g.exception.injected && !g.exception.pending && g.exception.nr == 13,
	     "'pending' is not ABI without EXCEPTION_PAYLOAD: dropped");
	memset(&e, 0, sizeof(e));
	e.exception.injected = 1;
	e.exception.nr = 32;
	ev_set(e, EINVAL, "exception vector 32");
	e.exception.nr = 2;
	ev_set(e, EINVAL, "NMI as an exception");
	e.exception.injected = 0;
	e.exception.nr = 32;
	g = ev_set(e, 0, "vector 32 when nothing is injected");
	T_EQ(g.exception.nr, 32, "vector kept");

	memset(&e, 0, sizeof(e));
	e.flags = 0x100;
	ev_set(e, EINVAL, "unknown flags");
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	ev_set(e, EINVAL, "VALID_PAYLOAD without KVM_CAP_EXCEPTION_PAYLOAD");
	e.flags = KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
	ev_set(e, EINVAL, "VALID_TRIPLE_FAULT without the capability");

	memset(&e, 0, sizeof(e));
	e.interrupt.injected = 1;
	e.interrupt.nr = 0x30;
	g = ev_set(e, 0, "an injected interrupt");
	T_OK(g.interrupt.injected && g.interrupt.nr == 0x30 && !g.interrupt.soft,
	     "interrupt reads back");
	e.interrupt.soft = 1;
	g = ev_set(e, 0, "a soft interrupt");
	T_OK(!g.interrupt.injected && g.interrupt.nr == 0x30 && !g.interrupt.soft,
	     "soft interrupts are not reported");

	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_SHADOW;
	e.interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI;
	g = ev_set(e, 0, "an interrupt shadow");
	T_EQ(g.interrupt.shadow, 3, "shadow reads back");
	e.flags = 0;
	g = ev_set(e, 0, "a shadow without VALID_SHADOW");
	T_EQ(g.interrupt.shadow, 0, "shadow without VALID_SHADOW ignored");

	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	e.nmi.pending = 1;
	g = ev_set(e, 0, "one pending NMI");
	T_EQ(g.nmi.pending, 1, "one NMI pending");
	e.nmi.pending = 3;
	g = ev_set(e, 0, "three pending NMIs");
	T_EQ(g.nmi.pending, 2, "at most two NMIs pending");
	e.nmi.masked = 1;
	g = ev_set(e, 0, "pending NMIs while masked");
	T_OK(g.nmi.pending == 1 && g.nmi.masked == 1, "one NMI pending while masked");
	e.flags = 0;
	e.nmi.masked = 0;
	g = ev_set(e, 0, "NMI pending without VALID_NMI_PENDING");
	T_EQ(g.nmi.pending, 0, "pending NMIs ignored without the flag");
	memset(&e, 0, sizeof(e));
	e.nmi.injected = 1;
	e.nmi.masked = 2;
	g = ev_set(e, 0, "an injected, masked NMI");
	T_OK(g.nmi.injected == 1 && g.nmi.masked == 1, "NMI injected and masked read back");

	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	e.sipi_vector = 0x12;
	g = ev_set(e, 0, "a SIPI vector");
	T_EQ(g.sipi_vector, 0, "the SIPI vector is never reported");
	e.flags = KVM_VCPUEVENT_VALID_SMM;
	e.smi.smm = 1;
	ev_set(e, EINVAL, "entering SMM without SMM support");
	e.smi.smm = 0;
	e.smi.pending = 1;
	ev_set(e, EINVAL, "a pending SMI without SMM support");
	e.smi.pending = 0;
	e.smi.latched_init = 1;
	g = ev_set(e, 0, "a latched INIT without an in-kernel LAPIC");
	T_EQ(g.smi.latched_init, 0, "latched INIT not kept without a LAPIC");
	e.flags = 0;
	e.smi.smm = 1;
	g = ev_set(e, 0, "SMM fields without VALID_SMM");
	T_EQ(g.smi.smm, 0, "SMM fields ignored without the flag");
	T_ERR(ioctl(vcpu, KVM_GET_VCPU_EVENTS, T_BADPTR), EFAULT, "GET_VCPU_EVENTS bad pointer");
	T_ERR(ioctl(vcpu, KVM_SET_VCPU_EVENTS, T_BADPTR), EFAULT, "SET_VCPU_EVENTS bad pointer");

	/* Debug registers. */
	struct kvm_debugregs d, dg;
	memset(&dg, 0xaa, sizeof(dg));
	T_EQ(ioctl(vcpu, KVM_GET_DEBUGREGS, &dg), 0, "GET_DEBUGREGS");
	T_OK(!dg.db[0] && !dg.db[1] && !dg.db[2] && !dg.db[3] && dg.dr6 == 0xffff0ff0 &&
	     dg.dr7 == 0x400 && !dg.flags && !dg.reserved[0], "reset DR0-3, DR6, DR7");
	memset(&d, 0, sizeof(d));
	d.db[0] = 0x1234;
	d.db[3] = 0xffffffff12345678ULL;
	d.dr6 = 0xffff4ff0;
	d.dr7 = 0x403;
	T_EQ(ioctl(vcpu, KVM_SET_DEBUGREGS, &d), 0, "SET_DEBUGREGS");
	ioctl(vcpu, KVM_GET_DEBUGREGS, &dg);
	T_OK(dg.db[0] == 0x1234 && dg.db[3] == d.db[3] && dg.dr6 == 0xffff4ff0 && dg.dr7 == 0x403,
	     "debug registers round trip");
	d.flags = 1;
	T_ERR(ioctl(vcpu, KVM_SET_DEBUGREGS, &d), EINVAL, "SET_DEBUGREGS flags");
	d.flags = 0;
	d.dr6 = 0x1ffff0ff0ULL;
	T_ERR(ioctl(vcpu, KVM_SET_DEBUGREGS, &d), EINVAL, "DR6 bits 63:32");
	d.dr6 = 0xffff0ff0;
	d.dr7 = 0x100000400ULL;
	T_ERR(ioctl(vcpu, KVM_SET_DEBUGREGS, &d), EINVAL, "DR7 bits 63:32");
	T_ERR(ioctl(vcpu, KVM_GET_DEBUGREGS, T_BADPTR), EFAULT, "GET_DEBUGREGS bad pointer");
	T_ERR(ioctl(vcpu, KVM_SET_DEBUGREGS, T_BADPTR), EFAULT, "SET_DEBUGREGS bad pointer");

	/* MP state without an in-kernel LAPIC: RUNNABLE only. */
	struct kvm_mp_state m;
	T_EQ(ioctl(vcpu, KVM_GET_MP_STATE, &m), 0, "GET_MP_STATE");
	T_EQ(m.mp_state, KVM_MP_STATE_RUNNABLE, "BSP starts runnable");
	ioctl(vcpu1, KVM_GET_MP_STATE, &m);
	T_EQ(m.mp_state, KVM_MP_STATE_RUNNABLE, "AP starts runnable without an irqchip");
	m.mp_state = KVM_MP_STATE_RUNNABLE;
	T_EQ(ioctl(vcpu, KVM_SET_MP_STATE, &m), 0, "SET_MP_STATE RUNNABLE");
	static const unsigned int bad[] = {KVM_MP_STATE_UNINITIALIZED, KVM_MP_STATE_INIT_RECEIVED,
					   KVM_MP_STATE_HALTED, KVM_MP_STATE_SIPI_RECEIVED,
					   KVM_MP_STATE_STOPPED, KVM_MP_STATE_AP_RESET_HOLD, 100};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.mp_state = bad[i];
		T_ERR(ioctl(vcpu, KVM_SET_MP_STATE, &m), EINVAL, "SET_MP_STATE %u without a LAPIC",
		      bad[i]);
	}
	T_ERR(ioctl(vcpu, KVM_GET_MP_STATE, T_BADPTR), EFAULT, "GET_MP_STATE bad pointer");
	T_ERR(ioctl(vcpu, KVM_SET_MP_STATE, T_BADPTR), EFAULT, "SET_MP_STATE bad pointer");

	/* Guest debug: x86 accepts any control bits. */
	struct kvm_guest_debug gd;
	memset(&gd, 0, sizeof(gd));
	gd.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP;
	gd.arch.debugreg[0] = 0x1000;
	gd.arch.debugreg[7] = 0x401;
	T_EQ(ioctl(vcpu, KVM_SET_GUEST_DEBUG, &gd), 0, "SET_GUEST_DEBUG");
	gd.control = KVM_GUESTDBG_ENABLE | (1u << 30);
	T_EQ(ioctl(vcpu, KVM_SET_GUEST_DEBUG, &gd), 0, "SET_GUEST_DEBUG ignores unknown bits");
	gd.control = 0;
	T_EQ(ioctl(vcpu, KVM_SET_GUEST_DEBUG, &gd), 0, "SET_GUEST_DEBUG off");
	T_ERR(ioctl(vcpu, KVM_SET_GUEST_DEBUG, T_BADPTR), EFAULT, "SET_GUEST_DEBUG bad pointer");
	gd.control = KVM_GUESTDBG_INJECT_DB;
	T_EQ(ioctl(vcpu, KVM_SET_GUEST_DEBUG, &gd), 0, "INJECT_DB queues #DB");
	ioctl(vcpu, KVM_GET_VCPU_EVENTS, &g);
	T_OK(g.exception.injected && g.exception.nr == 1, "the #DB shows as an exception");
	T_ERR(ioctl(vcpu, KVM_SET_GUEST_DEBUG, &gd), EBUSY, "INJECT_DB with an exception queued");
	/* KVM_SET_REGS drops a pending exception with its context. */
	struct kvm_regs regs;
	ioctl(vcpu, KVM_GET_REGS, &regs);
	T_EQ(ioctl(vcpu, KVM_SET_REGS, &regs), 0, "SET_REGS");
	ioctl(vcpu, KVM_GET_VCPU_EVENTS, &g);
	T_OK(!g.exception.injected && !g.exception.pending, "SET_REGS dropped the pending #DB");
	/* #BP and #OF are software exceptions: never reported. */
	memset(&e, 0, sizeof(e));
	e.exception.injected = 1;
	e.exception.nr = 3;
	g = ev_set(e, 0, "an injected #BP");
	T_OK(!g.exception.injected && g.exception.nr == 3, "#BP is not reported as injected");

	/* Wrong fd types. */
	T_ERR(ioctl(vm, KVM_GET_VCPU_EVENTS, &g), ENOTTY, "GET_VCPU_EVENTS on the VM fd");
	T_ERR(ioctl(kvm, KVM_GET_VCPU_EVENTS, &g), EINVAL, "GET_VCPU_EVENTS on the system fd");
	T_ERR(ioctl(vm, KVM_SET_DEBUGREGS, &d), ENOTTY, "SET_DEBUGREGS on the VM fd");
	T_ERR(ioctl(vm, KVM_GET_MP_STATE, &m), ENOTTY, "GET_MP_STATE on the VM fd");
	T_ERR(ioctl(kvm, KVM_SET_GUEST_DEBUG, &gd), EINVAL, "SET_GUEST_DEBUG on the system fd");
	T_ERR(ioctl(kvm, KVM_GET_TSC_KHZ, 0), EINVAL, "GET_TSC_KHZ on the system fd");

	/* TSC frequency. */
	long khz = ioctl(vcpu, KVM_GET_TSC_KHZ, 0);
	T_OK(khz > 0, "GET_TSC_KHZ is positive (%ld)", khz);
	T_EQ(ioctl(vcpu, KVM_SET_TSC_KHZ, 0), 0, "SET_TSC_KHZ 0 (the host rate)");
	T_EQ(ioctl(vcpu, KVM_GET_TSC_KHZ, 0), khz, "rate 0 means the host's rate");
	T_EQ(ioctl(vcpu, KVM_SET_TSC_KHZ, khz + khz / 2), 0, "SET_TSC_KHZ above the host rate");
	T_EQ(ioctl(vcpu, KVM_GET_TSC_KHZ, 0), khz + khz / 2, "new rate reads back");
	T_EQ(ioctl(vcpu1, KVM_GET_TSC_KHZ, 0), khz, "other vCPUs keep their rate");
	T_EQ(ioctl(vcpu, KVM_SET_TSC_KHZ, 1000000), 0, "SET_TSC_KHZ below the host rate (scaling)");
	T_EQ(ioctl(vcpu, KVM_GET_TSC_KHZ, 0), 1000000, "scaled rate reads back");
	T_EQ(ioctl(vcpu, KVM_SET_TSC_KHZ, (1UL << 32) | (unsigned long)khz), 0,
	     "SET_TSC_KHZ takes the low 32 bits");
	T_EQ(ioctl(vcpu, KVM_GET_TSC_KHZ, 0), khz, "low 32 bits used");

	close(vcpu1);
	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
