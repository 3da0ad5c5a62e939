/*
 * A guest moved between VMs mid-interrupt, the way QEMU migrates: at each
 * exit the vCPU and VM state is saved with the documented KVM_GET_* ioctls
 * in QEMU's order (kvm_arch_get_registers: regs, sregs, MSRs, MP state,
 * LAPIC, vCPU events, debug registers; the irqchip and KVM_GET_CLOCK), the
 * memory copied, and everything loaded into a fresh VM with the KVM_SET_*
 * ones in QEMU's order (kvm_arch_put_registers: regs, sregs, MSRs, MP
 * state, LAPIC, then the TSC deadline, vCPU events, debug registers), which
 * runs on.  The old VM is closed.  Each move must keep the LAPIC timer's
 * interrupt coming:
 *
 *  A  a one-shot timer armed and counting (50 ms);
 *  B  a one-shot whose count has just reached 0 while IF=0, saved as the
 *     instant before its interrupt reached IRR (the vector taken out of the
 *     saved IRR): KVM_SET_LAPIC of a one-shot with TMCCT 0 and TMICT set
 *     fires it at once (lapic.c set_target_expiration), so the interrupt
 *     still comes.  softkvm used to leave that timer stopped, and QEMU's
 *     guest, whose clockevent it was, never woke from its next sleep
 *     (issue 7, make check-qemu-migrate);
 *  C  the timer vector in service with PV EOI on (the handler exits before
 *     its EOI): the exit leaves the PV EOI flag clear, so the moved guest
 *     ends the interrupt with a real EOI and the next one comes.
 *
 * A move that loses the interrupt leaves the guest halted: KVM_RUN is cut
 * by an alarm after 5 s.
 */
#include <signal.h>
#include <stdbool.h>
#include <linux/kvm_para.h>

#include "t_vm.h"

#define FLAG 0x5000   /* PV EOI flag */
#define CNT 0x5100    /* interrupts taken */
#define COUNT1 0x5104 /* phase A's initial count: 50 ms at divide 1 */
#define COUNT2 0x5108 /* phase B's: 1 us */
#define VEC 0x50
#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0

/*
 * 0x1000 (GNU as, .code16; ES flat 4 GiB, EBX = the LAPIC page):
 *   wrmsr MSR_KVM_PV_EOI_EN = FLAG | 1
 *   SVR = 0x1ff, TDCR = 0xb (divide 1), LVTT = VEC (one-shot)
 *   TMICT = [COUNT1]; out 0x10 (A); sti; 1: hlt; until [CNT] >= 1
 *   cli; TMICT = [COUNT2]; 2: until TMCCT == 0; out 0x12 (B)
 *   sti; 3: hlt; until [CNT] >= 2; out 0x13; 4: hlt; jmp 4b
 */
static const unsigned char code_main[] = {
	0x66, 0xb9, 0x04, 0x4d, 0x56, 0x4b, 0x66, 0xb8, 0x01, 0x50, 0x00, 0x00,
	0x66, 0x31, 0xd2, 0x0f, 0x30, 0x66, 0xbb, 0x00, 0x00, 0xe0, 0xfe, 0x26,
	0x67, 0x66, 0xc7, 0x83, 0xf0, 0x00, 0x00, 0x00, 0xff, 0x01, 0x00, 0x00,
	0x26, 0x67, 0x66, 0xc7, 0x83, 0xe0, 0x03, 0x00, 0x00, 0x0b, 0x00, 0x00,
	0x00, 0x26, 0x67, 0x66, 0xc7, 0x83, 0x20, 0x03, 0x00, 0x00, 0x50, 0x00,
	0x00, 0x00, 0x66, 0xa1, 0x04, 0x51, 0x26, 0x67, 0x66, 0x89, 0x83, 0x80,
	0x03, 0x00, 0x00, 0xe6, 0x10, 0xfb, 0xf4, 0x80, 0x3e, 0x00, 0x51, 0x01,
	0x72, 0xf8, 0xfa, 0x66, 0xa1, 0x08, 0x51, 0x26, 0x67, 0x66, 0x89, 0x83,
	0x80, 0x03, 0x00, 0x00, 0x26, 0x67, 0x66, 0x8b, 0x83, 0x90, 0x03, 0x00,
	0x00, 0x66, 0x85, 0xc0, 0x75, 0xf2, 0xe6, 0x12, 0xfb, 0xf4, 0x80, 0x3e,
	0x00, 0x51, 0x02, 0x72, 0xf8, 0xe6, 0x13, 0xf4, 0xeb, 0xfd,
};

/*
 * 0x1100, vector VEC: incb [CNT]; TMICT = 0 (no timer left to re-fire);
 * out 0x11 (C); btrw $0, [FLAG]; jc 1f (Linux's PV EOI); EOI = 0; 1: iret
 */
static const unsigned char code_handler[] = {
	0xfe, 0x06, 0x00, 0x51, 0x26, 0x67, 0x66, 0xc7, 0x83, 0x80, 0x03, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0xe6, 0x11, 0x0f, 0xba, 0x36, 0x00, 0x50,
	0x00, 0x72, 0x0d, 0x26, 0x67, 0x66, 0xc7, 0x83, 0xb0, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xcf,
};

struct vm {
	int vm, vcpu;
	unsigned char *ram;
	struct kvm_run *run;
};

/* What QEMU carries across (target/i386/kvm/kvm.c, hw/i386/kvm/). */
struct saved {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	unsigned long long tsc, pv_eoi, deadline;
	struct kvm_mp_state mp;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs dregs;
	struct kvm_irqchip chip[3];
	struct kvm_clock_data clock;
	bool has_clock;
	unsigned char ram[0x10000];
};

static int kvm;
static struct kvm_cpuid2 *cpuid;

static void on_alarm(int sig) { (void)sig; }

static struct vm vm_new(void)
{
	struct vm v;
	v.vm = t_create_vm(kvm);
	if (ioctl(v.vm, KVM_CREATE_IRQCHIP, 0))
		T_BAIL("KVM_CREATE_IRQCHIP");
	v.ram = t_guest_ram64k(v.vm, code_main, sizeof(code_main), 0x1000);
	v.vcpu = t_real_mode_flat_es(v.vm, 0x1000, &v.run);
	if (ioctl(v.vcpu, KVM_SET_CPUID2, cpuid))
		T_BAIL("KVM_SET_CPUID2");
	return v;
}

static void vm_free(struct vm *v)
{
	munmap(v->run, 3 * 4096);
	munmap(v->ram, 0x10000);
	close(v->vcpu);
	close(v->vm);
}

static void save(struct vm *v, struct saved *s)
{
	if (ioctl(v->vcpu, KVM_GET_REGS, &s->regs) || ioctl(v->vcpu, KVM_GET_SREGS, &s->sregs) ||
	    t_msr_get(v->vcpu, MSR_IA32_TSC, &s->tsc) != 1 ||
	    t_msr_get(v->vcpu, MSR_KVM_PV_EOI_EN, &s->pv_eoi) != 1 ||
	    t_msr_get(v->vcpu, MSR_IA32_TSC_DEADLINE, &s->deadline) != 1 ||
	    ioctl(v->vcpu, KVM_GET_MP_STATE, &s->mp) || ioctl(v->vcpu, KVM_GET_LAPIC, &s->lapic) ||
	    ioctl(v->vcpu, KVM_GET_VCPU_EVENTS, &s->events) ||
	    ioctl(v->vcpu, KVM_GET_DEBUGREGS, &s->dregs))
		T_BAIL("saving the vCPU");
	for (unsigned i = 0; i < 3; i++) {
		s->chip[i].chip_id = i;
		if (ioctl(v->vm, KVM_GET_IRQCHIP, &s->chip[i]))
			T_BAIL("KVM_GET_IRQCHIP %u", i);
	}
	s->has_clock = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK) > 0;
	if (s->has_clock && ioctl(v->vm, KVM_GET_CLOCK, &s->clock))
		T_BAIL("KVM_GET_CLOCK");
	memcpy(s->ram, v->ram, sizeof(s->ram));
}

static void load(struct vm *v, const struct saved *s)
{
	struct kvm_clock_data c = {.clock = s->clock.clock};
	memcpy(v->ram, s->ram, sizeof(s->ram));
	for (unsigned i = 0; i < 3; i++)
		if (ioctl(v->vm, KVM_SET_IRQCHIP, &s->chip[i]))
			T_BAIL("KVM_SET_IRQCHIP %u", i);
	if (ioctl(v->vcpu, KVM_SET_REGS, &s->regs) || ioctl(v->vcpu, KVM_SET_SREGS, &s->sregs) ||
	    t_msr_set(v->vcpu, MSR_IA32_TSC, s->tsc) != 1 ||
	    t_msr_set(v->vcpu, MSR_KVM_PV_EOI_EN, s->pv_eoi) != 1 ||
	    ioctl(v->vcpu, KVM_SET_MP_STATE, &s->mp) || ioctl(v->vcpu, KVM_SET_LAPIC, &s->lapic) ||
	    t_msr_set(v->vcpu, MSR_IA32_TSC_DEADLINE, s->deadline) != 1 ||
	    ioctl(v->vcpu, KVM_SET_VCPU_EVENTS, &s->events) ||
	    ioctl(v->vcpu, KVM_SET_DEBUGREGS, &s->dregs))
		T_BAIL("loading the vCPU");
	if (s->has_clock && ioctl(v->vm, KVM_SET_CLOCK, &c))
		T_BAIL("KVM_SET_CLOCK");
}

static unsigned reg32(const struct kvm_lapic_state *l, unsigned off)
{
	unsigned v;
	memcpy(&v, l->regs + off, 4);
	return v;
}

static bool vec_bit(const struct kvm_lapic_state *l, unsigned base)
{
	return reg32(l, base + (VEC / 32) * 0x10) >> (VEC % 32) & 1;
}

/* Run to the next port exit: its port, or -1 (the alarm cut a wait). */
static int run_port(struct vm *v)
{
	alarm(5);
	int r = ioctl(v->vcpu, KVM_RUN, 0);
	alarm(0);
	if (r || v->run->exit_reason != KVM_EXIT_IO)
		return -1;
	return v->run->io.port;
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);
	kvm = t_open_kvm();
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0) {
		printf("1..0 # SKIP no in-kernel irqchip\n");
		return 0;
	}
	cpuid = calloc(1, sizeof(*cpuid) + 256 * sizeof(struct kvm_cpuid_entry2));
	cpuid->nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid))
		T_BAIL("KVM_GET_SUPPORTED_CPUID");

	struct saved *s = calloc(1, sizeof(*s));
	struct vm v = vm_new();
	memcpy(v.ram + 0x1100, code_handler, sizeof(code_handler));
	v.ram[VEC * 4] = 0x00, v.ram[VEC * 4 + 1] = 0x11;
	unsigned count1 = 50 * 1000 * 1000, count2 = 1000;
	memcpy(v.ram + COUNT1, &count1, 4);
	memcpy(v.ram + COUNT2, &count2, 4);

	int port = run_port(&v), moves = 0;
	T_EQ(port, 0x10, "the guest arms a 50 ms one-shot and exits");
	bool moved_a = false, moved_b = false, moved_c = false;
	while (port == 0x10 || port == 0x11 || port == 0x12) {
		save(&v, s);
		if (port == 0x10 && !moved_a) {
			moved_a = true;
			T_OK(reg32(&s->lapic, 0x390) > 0, "A: saved with the count running");
		} else if (port == 0x12 && !moved_b) {
			moved_b = true;
			T_EQ(reg32(&s->lapic, 0x390), 0, "B: saved with the one-shot at 0 (TMCCT)");
			T_EQ(reg32(&s->lapic, 0x380), count2, "B: TMICT kept");
			T_OK(!(s->events.interrupt.injected && s->events.interrupt.nr == VEC),
			     "B: IF=0, nothing injected");
			/* the instant before the timer reached IRR */
			unsigned off = 0x200 + (VEC / 32) * 0x10, w = reg32(&s->lapic, off);
			w &= ~(1u << (VEC % 32));
			memcpy(s->lapic.regs + off, &w, 4);
		} else if (port == 0x11 && !moved_c) {
			moved_c = true;
			T_OK(vec_bit(&s->lapic, 0x100), "C: the timer vector in service (ISR)");
			T_EQ(s->ram[FLAG], 0, "C: the exit left the PV EOI flag clear");
			T_EQ(s->pv_eoi, FLAG | 1, "C: MSR_KVM_PV_EOI_EN saved");
		}
		struct vm n = vm_new();
		vm_free(&v);
		v = n;
		load(&v, s);
		moves++;
		port = run_port(&v);
	}
	T_OK(moved_a && moved_b && moved_c, "moved at A, B and C (%d moves)", moves);
	T_EQ(port, 0x13, "every interrupt reached the moved guest (it finished)");
	T_EQ(v.ram[CNT], 2, "two timer interrupts: A's and B's re-fired one");
	struct kvm_lapic_state l;
	if (ioctl(v.vcpu, KVM_GET_LAPIC, &l))
		T_BAIL("KVM_GET_LAPIC");
	T_OK(!vec_bit(&l, 0x100) && !vec_bit(&l, 0x200), "nothing left in ISR or IRR");

	vm_free(&v);
	free(s);
	free(cpuid);
	close(kvm);
	return t_done();
}
