/*
 * KVM_CAP_HALT_POLL (KVM API 7.x) and halt polling's statistics: a guest
 * that halts 300 times for 30 us (one-shot x2APIC timer) is polled once
 * the window has grown (KVM's kvm_vcpu_halt; on a quiet machine most polls
 * see the timer: 298 of 300 polled, 270-296 caught, here and on the host's
 * KVM); with the VM's maximum set to 0 it never polls.  The
 * counters are KVM's halt_attempted_poll, halt_successful_poll,
 * halt_poll_success_ns, halt_poll_fail_ns and halt_wait_ns.
 */
#include "t_irq.h"

extern const unsigned char g_start[], g_end[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	T_IRQ_HANDLER
	"g_start:\n"
	"	cli\n"
	"	movw $(h40 - g_start + 0x1000), 0x100\n"
	"	movw $0, 0x102\n"
	T_IRQ_X2APIC_ON
	/* timer: divide by 1, one-shot, vector 0x40 */
	"	mov $0x83e, %ecx\n"
	"	mov $0xb, %eax\n"
	"	wrmsr\n"
	"	mov $0x832, %ecx\n"
	"	mov $0x40, %eax\n"
	"	wrmsr\n"
	"	mov $300, %si\n"
	"1:	cli\n"
	"	mov $0x838, %ecx\n"
	"	mov $30000, %eax\n" /* 30 us at the 1 GHz APIC bus */
	"	xor %edx, %edx\n"
	"	wrmsr\n"
	"	sti\n"
	"	hlt\n"
	"	dec %si\n"
	"	jnz 1b\n"
	"	mov 0x500, %al\n"
	"	out %al, $0x10\n"
	"h40:	t_handler 0x500\n"
	"g_end:\n"
	".code64\n"
	".popsection\n");

struct halt_stats {
	unsigned long long attempted, successful, success_ns, fail_ns, wait_ns;
	int ns_units; /* the _ns ones in seconds, exponent -9 */
	int found;
};

static void read_stats(int vcpu, struct halt_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->ns_units = 1;
	int fd = ioctl(vcpu, KVM_GET_STATS_FD, 0);
	if (fd < 0)
		return;
	struct kvm_stats_header h;
	if (pread(fd, &h, sizeof(h), 0) != sizeof(h)) {
		close(fd);
		return;
	}
	size_t dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	unsigned char *d = calloc(h.num_desc, dsz);
	if (pread(fd, d, h.num_desc * dsz, h.desc_offset) != (ssize_t)(h.num_desc * dsz)) {
		free(d);
		close(fd);
		return;
	}
	for (unsigned i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *e = (void *)(d + i * dsz);
		unsigned long long v = 0;
		if (pread(fd, &v, sizeof(v), h.data_offset + e->offset) != sizeof(v))
			continue;
		unsigned long long *to = NULL;
		int ns = 0;
		if (!strcmp(e->name, "halt_attempted_poll"))
			to = &st->attempted;
		else if (!strcmp(e->name, "halt_successful_poll"))
			to = &st->successful;
		else if (!strcmp(e->name, "halt_poll_success_ns"))
			to = &st->success_ns, ns = 1;
		else if (!strcmp(e->name, "halt_poll_fail_ns"))
			to = &st->fail_ns, ns = 1;
		else if (!strcmp(e->name, "halt_wait_ns"))
			to = &st->wait_ns, ns = 1;
		if (!to)
			continue;
		*to = v;
		st->found++;
		if (ns && ((e->flags & KVM_STATS_UNIT_MASK) != KVM_STATS_UNIT_SECONDS ||
			   e->exponent != -9))
			st->ns_units = 0;
	}
	free(d);
	close(fd);
}

/* The guest's 300 halts in a fresh VM; max < 0: the VM's default. */
static void run_guest(int kvm, long long max, struct halt_stats *st, const char *what)
{
	struct t_irq_vm v = t_irq_vm(kvm);
	if (max >= 0) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_HALT_POLL, .args = {(__u64)max}};
		T_EQ(ioctl(v.vm, KVM_ENABLE_CAP, &cap), 0, "%s: KVM_CAP_HALT_POLL %lld", what, max);
	}
	int vcpu = t_irq_vcpu(kvm, &v, 0, g_start, (size_t)(g_end - g_start));
	if (!t_irq_x2apic(kvm, vcpu))
		T_BAIL("%s: no x2APIC in the supported CPUID", what);
	int r = ioctl(vcpu, KVM_RUN, 0);
	T_OK(!r && v.run->exit_reason == KVM_EXIT_IO && v.run->io.port == 0x10,
	     "%s: the guest ran its 300 halts (r %d exit %u)", what, r, v.run->exit_reason);
	unsigned char count = *((unsigned char *)v.run + v.run->io.data_offset);
	T_EQ(count, 300 % 256, "%s: 300 timer interrupts taken", what);
	read_stats(vcpu, st);
	T_EQ(st->found, 5, "%s: the five halt-polling statistics are there", what);
	T_OK(st->ns_units, "%s: their _ns ones count nanoseconds (seconds, exponent -9)", what);
	close(vcpu);
	t_irq_close(&v);
}

int main(void)
{
	int kvm = t_open_kvm();
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_HALT_POLL), 1,
	     "KVM_CAP_HALT_POLL on /dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_HALT_POLL), 1, "KVM_CAP_HALT_POLL on a VM");
	struct kvm_enable_cap cap = {.cap = KVM_CAP_HALT_POLL, .flags = 1};
	T_ERR(ioctl(vm, KVM_ENABLE_CAP, &cap), EINVAL, "flags must be 0");
	cap.flags = 0;
	cap.args[0] = 1ULL << 32;
	T_ERR(ioctl(vm, KVM_ENABLE_CAP, &cap), EINVAL, "args[0] must fit 32 bits");
	cap.args[0] = 0xffffffffULL;
	T_EQ(ioctl(vm, KVM_ENABLE_CAP, &cap), 0, "args[0] 0xffffffff is taken");
	close(vm);

	struct halt_stats on, off;
	/* a maximum far above 30 us, so a loaded machine still lets the
	 * window grow past it */
	run_guest(kvm, 1000000, &on, "1 ms");
	/* how many polls see the wake-up depends on the machine's load (KVM
	 * gives up polling as soon as another task is runnable, softkvm
	 * after a long yield), so only that polling happened is checked */
	T_OK(on.attempted >= 1 && on.attempted >= on.successful,
	     "1 ms: halts were polled (%llu, %llu of them caught)", on.attempted, on.successful);
	T_OK(on.success_ns + on.fail_ns > 0, "1 ms: the polls took time");
	run_guest(kvm, 0, &off, "0");
	T_EQ(off.attempted, 0, "0: no halt polled");
	T_EQ(off.successful, 0, "0: no successful poll");
	T_EQ(off.success_ns + off.fail_ns, 0, "0: no time spent polling");
	T_OK(off.wait_ns > 0, "0: the halts slept");
	close(kvm);
	return t_done();
}
