/*
 * The in-kernel PIT (KVM API 4.71 KVM_CREATE_PIT2, KVM_GET/SET_PIT2,
 * KVM_REINJECT_CONTROL): creation rules, state round trip, and a real-mode
 * guest whose PIT channel 0 (mode 2, 100 Hz) interrupts through the PIC
 * and the BSP's LINT0 (ExtINT), waking HLT; then ticks missed while IF=0
 * are queued in reinject mode and coalesced without it.
 */
#include "t_irq.h"

extern const unsigned char p_start[], p_end[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	"p_start:\n"
	"	cli\n"
	"	movw $(ph - p_start + 0x1000), 0x80\n" /* vector 0x20 */
	"	movw $0, 0x82\n"
	/* PIC: ICW1-4, vectors 0x20-0x27, only IRQ 0 unmasked */
	T_IRQ_PIC_IRQ0
	/* PIT channel 0, LSB/MSB, mode 2, count 11932: 100 Hz */
	"	mov $0x34, %al\n"
	"	out %al, $0x43\n"
	"	mov $0x9c, %al\n"
	"	out %al, $0x40\n"
	"	mov $0x2e, %al\n"
	"	out %al, $0x40\n"
	"	out %al, $0x10\n" /* VMM: start the clock */
	"	sti\n"
	"1:	hlt\n"
	"	cmpb $5, 0x502\n"
	"	jb 1b\n"
	"	cli\n"
	"	mov 0x502, %al\n"
	"	out %al, $0x11\n" /* VMM: >= 40 ms; then it waits 150 ms */
	"	movb $0, 0x502\n"
	"	sti\n"
	"2:	hlt\n"
	"	mov 0x502, %al\n"
	"	out %al, $0x12\n" /* VMM: count so far, after each wake-up */
	"	jmp 2b\n"
	"ph:	incb 0x502\n"
	"	push %ax\n"
	"	mov $0x20, %al\n"
	"	out %al, $0x20\n"
	"	pop %ax\n"
	"	iret\n"
	"p_end:\n"
	".code64\n"
	".popsection\n");

static int kvm;

static void test_rules(void)
{
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_PIT2), 1, "KVM_CAP_PIT2");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_PIT_STATE2), 1, "KVM_CAP_PIT_STATE2");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_REINJECT_CONTROL), 1, "KVM_CAP_REINJECT_CONTROL");
	int vm = t_create_vm(kvm);
	struct kvm_pit_config cfg = {.flags = KVM_PIT_SPEAKER_DUMMY};
	struct kvm_pit_state2 ps;
	struct kvm_reinject_control rc = {.pit_reinject = 0};
	T_ERR(ioctl(vm, KVM_CREATE_PIT2, &cfg), ENOENT, "CREATE_PIT2 without irqchip");
	T_ERR(ioctl(vm, KVM_GET_PIT2, &ps), ENXIO, "GET_PIT2 without a PIT");
	T_ERR(ioctl(vm, KVM_REINJECT_CONTROL, &rc), ENXIO, "REINJECT_CONTROL without a PIT");
	ioctl(vm, KVM_CREATE_IRQCHIP, 0);
	T_ERR(ioctl(vm, KVM_CREATE_PIT2, T_BADPTR), EFAULT, "CREATE_PIT2 bad pointer");
	T_EQ(ioctl(vm, KVM_CREATE_PIT2, &cfg), 0, "CREATE_PIT2");
	T_ERR(ioctl(vm, KVM_CREATE_PIT2, &cfg), EEXIST, "CREATE_PIT2 twice");
	T_EQ(ioctl(vm, KVM_GET_PIT2, &ps), 0, "GET_PIT2");
	ps.channels[1].count = 0x1234;
	ps.channels[1].mode = 3;
	ps.channels[1].rw_mode = 3;
	ps.flags = KVM_PIT_FLAGS_HPET_LEGACY;
	T_EQ(ioctl(vm, KVM_SET_PIT2, &ps), 0, "SET_PIT2");
	memset(&ps, 0, sizeof(ps));
	ioctl(vm, KVM_GET_PIT2, &ps);
	T_OK(ps.channels[1].count == 0x1234 && ps.channels[1].mode == 3,
	     "PIT2 channel 1 round trip");
	T_EQ(ps.flags, KVM_PIT_FLAGS_HPET_LEGACY, "PIT2 flags round trip");
	struct kvm_pit_state old;
	T_EQ(ioctl(vm, KVM_GET_PIT, &old), 0, "GET_PIT");
	T_EQ(old.channels[1].count, 0x1234, "GET_PIT sees the same channels");
	T_EQ(ioctl(vm, KVM_REINJECT_CONTROL, &rc), 0, "REINJECT_CONTROL");
	close(vm);
}

/* Run the guest with reinject on or off; returns the ticks taken in the
 * *window ms that follow a 150 ms stretch with IF clear. */
static int run_guest(int reinject, double *window)
{
	struct t_irq_vm v = t_irq_vm(kvm);
	struct kvm_pit_config cfg = {.flags = KVM_PIT_SPEAKER_DUMMY};
	struct kvm_reinject_control rc = {.pit_reinject = (unsigned char)reinject};
	if (ioctl(v.vm, KVM_CREATE_PIT2, &cfg) || ioctl(v.vm, KVM_REINJECT_CONTROL, &rc))
		T_BAIL("PIT setup");
	int vcpu = t_irq_vcpu(kvm, &v, 0, p_start, (size_t)(p_end - p_start));
	struct kvm_run *run = v.run;
	double t0 = 0;
	int late = -1;
	for (int steps = 0; steps < 1000; steps++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) {
			T_OK(0, "reinject %d: unexpected exit %u (errno %d)", reinject,
			     run->exit_reason, errno);
			break;
		}
		unsigned char al = *((unsigned char *)run + run->io.data_offset);
		if (run->io.port == 0x10) {
			t0 = t_now_ms();
		} else if (run->io.port == 0x11) {
			double dt = t_now_ms() - t0;
			T_OK(al >= 5 && dt >= 39, "reinject %d: 5 PIT ticks through the PIC woke HLT "
			     "after >= 40 ms (%u ticks, %.1f ms)", reinject, al, dt);
			struct timespec ts = {0, 150 * 1000000};
			nanosleep(&ts, NULL);
			t0 = t_now_ms();
		} else if (run->io.port == 0x12) {
			late = al;
			*window = t_now_ms() - t0;
			if (*window >= 200)
				break;
		}
	}
	t_irq_close(&v);
	return late;
}

int main(void)
{
	kvm = t_open_kvm();
	test_rules();
	/* ~15 ticks fall in the 150 ms with IF clear, then 200 ms of fresh
	 * ones: reinject delivers the missed ones too, else they coalesce */
	double w;
	int q = run_guest(1, &w);
	T_OK(q >= w / 10 + 6, "reinject: ticks missed with IF=0 are delivered one by one "
	     "(%d in %.1f ms)", q, w);
	int c = run_guest(0, &w);
	T_OK(c >= 1 && c <= w / 10 + 3, "no reinject: missed ticks coalesce "
	     "(%d in %.1f ms)", c, w);
	return t_done();
}
