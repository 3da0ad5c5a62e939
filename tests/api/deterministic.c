/*
 * softkvm's deterministic mode (SOFTKVM_DETERMINISTIC=1, docs/design.md):
 * guest time advances with retired instructions, so two runs of the same
 * timer-driven guest are identical.  The test runs itself twice in that
 * mode (children, SKVM_DET_CHILD=1): a real-mode guest takes 30 ticks of
 * the in-kernel PIT (4 kHz, through the PIC), spinning between even ticks
 * and halting between odd ones; at each tick it reports its TSC and a
 * counter its busy loop increments.  The traces must be identical and
 * sensible (TSC and counter grow, halts take the tick period).  A softkvm
 * mode: skipped on the host's /dev/kvm.
 */
#include <sys/wait.h>

#include "t_irq.h"

extern const unsigned char d_start[], d_end[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	"d_start:\n"
	"	cli\n"
	"	movw $(dh - d_start + 0x1000), 0x80\n" /* vector 0x20 */
	"	movw $0, 0x82\n"
	T_IRQ_PIC_IRQ0
	/* PIT channel 0, mode 2, count 298: about 4 kHz */
	"	mov $0x34, %al\n"
	"	out %al, $0x43\n"
	"	mov $0x2a, %al\n"
	"	out %al, $0x40\n"
	"	mov $0x01, %al\n"
	"	out %al, $0x40\n"
	"	sti\n"
	"1:	incl 0x504\n"
	"	testb $1, 0x502\n"
	"	jz 1b\n"
	"	hlt\n"
	"	jmp 1b\n"
	"dh:	push %ax\n"
	"	push %dx\n"
	"	incb 0x502\n"
	"	rdtsc\n"
	"	out %eax, $0x12\n"
	"	mov 0x504, %eax\n"
	"	out %eax, $0x13\n"
	"	cmpb $30, 0x502\n"
	"	jae 2f\n"
	"	mov $0x20, %al\n"
	"	out %al, $0x20\n"
	"	pop %dx\n"
	"	pop %ax\n"
	"	iret\n"
	"2:	out %al, $0x14\n"
	"	cli\n"
	"	hlt\n"
	"d_end:\n"
	".code64\n"
	".popsection\n");

#define TICKS 30

/* The child: run the guest, print "port value" per report. */
static int child(void)
{
	int kvm = t_open_kvm();
	struct t_irq_vm v = t_irq_vm(kvm);
	struct kvm_pit_config cfg = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(v.vm, KVM_CREATE_PIT2, &cfg))
		return 2;
	int vcpu = t_irq_vcpu(kvm, &v, 0, d_start, (size_t)(d_end - d_start));
	struct kvm_run *run = v.run;
	for (int n = 0; n < 10 * TICKS; n++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO)
			return 3;
		unsigned val = 0;
		memcpy(&val, (unsigned char *)run + run->io.data_offset, run->io.size);
		printf("%x %u\n", run->io.port, val);
		if (run->io.port == 0x14)
			return 0;
	}
	return 4;
}

/* Run the child in deterministic mode; its output, or NULL. */
static char *trace(const char *self)
{
	int p[2];
	if (pipe(p))
		return NULL;
	pid_t pid = fork();
	if (!pid) {
		dup2(p[1], 1);
		close(p[0]);
		setenv("SOFTKVM_DETERMINISTIC", "1", 1);
		setenv("SKVM_DET_CHILD", "1", 1);
		execl(self, self, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	while (buf && (n = read(p[0], buf + len, cap - len - 1)) > 0)
		len += (size_t)n;
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	if (!buf || !WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("# child status %d\n", st);
		free(buf);
		return NULL;
	}
	buf[len] = 0;
	return buf;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (getenv("SKVM_DET_CHILD"))
		return child();
	if (!getenv("SOFTKVM_DEVICE")) { /* the host's /dev/kvm: not softkvm */
		printf("ok 1 # SKIP deterministic mode is softkvm's\n1..1\n");
		return 0;
	}
	char *a = trace(argv[0]), *b = trace(argv[0]);
	T_OK(a && b, "two deterministic runs of the timer guest completed");
	if (a && b) {
		T_OK(!strcmp(a, b), "the two runs are identical");
		unsigned long long tsc[TICKS + 1] = {0}, cnt[TICKS + 1] = {0};
		int nt = 0, nc = 0;
		for (char *l = a; *l; l = strchr(l, '\n') + 1) {
			unsigned port;
			unsigned long long val;
			if (sscanf(l, "%x %llu", &port, &val) == 2) {
				if (port == 0x12 && nt < TICKS)
					tsc[nt++] = val;
				if (port == 0x13 && nc < TICKS)
					cnt[nc++] = val;
			}
			if (!strchr(l, '\n'))
				break;
		}
		T_EQ(nt, TICKS, "the guest took %d ticks", TICKS);
		int grows = 1, spins = 1;
		for (int i = 1; i < nt; i++) {
			grows &= (unsigned)(tsc[i] - tsc[i - 1]) > 0 && (unsigned)(tsc[i] - tsc[i - 1]) < 1u << 30;
			/* after an even tick count the guest spins, after an
			 * odd one it halts (one INC after the wake-up) */
			spins &= (i % 2) ? cnt[i] - cnt[i - 1] <= 1 : cnt[i] - cnt[i - 1] > 1000;
		}
		T_OK(grows, "the TSC grows from tick to tick");
		T_OK(spins, "the busy loop runs between even ticks only");
		/* a halted stretch is the tick period: the clock jumps to it */
		printf("# TSC per halted tick: %llu\n", tsc[2] - tsc[1]);
		if (a && b && strcmp(a, b))
			printf("# run 1:\n%s# run 2:\n%s", a, b);
	}
	free(a);
	free(b);
	return t_done();
}
