/*
 * Signals and a running guest (no irqchip, a spin loop): as with KVM, a
 * handled signal that arrives during KVM_RUN ends it (EINTR,
 * KVM_EXIT_INTR) and its handler runs after the ioctl, with the siginfo
 * it was sent with; the handler can use the vCPU (KVM_GET_REGS: softkvm
 * must hold nothing of it by then).  A signal the thread blocks does not
 * end KVM_RUN.  sigaction and signal() report the handler the program
 * installed, also after SA_RESETHAND fired.  softkvm gets this without a
 * mask change per KVM_RUN by wrapping handlers (src/kvm/run.c).
 */
#include "t_vm.h"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

/* 0x1000: out to 0x10, then spin; BX=1 skips the OUT */
__asm__(".pushsection .rodata\n"
	".code16\n"
	"sig_guest:\n"
	"test %bx, %bx\n"
	"jnz 1f\n"
	"out %al, $0x10\n"
	"1: jmp 1b\n"
	"sig_end:\n"
	".code64\n"
	".popsection\n");
extern const unsigned char sig_guest[], sig_end[];

static int vcpu;
static volatile sig_atomic_t hits, regs_ok, last_code, last_value, last_signo;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	struct kvm_regs r;
	hits++;
	last_signo = sig;
	last_code = si->si_code;
	last_value = si->si_value.sival_int;
	regs_ok = ioctl(vcpu, KVM_GET_REGS, &r) == 0 && r.rip >= 0x1000 && r.rip < 0x1010;
}

static void on_plain(int sig)
{
	(void)sig;
	hits++;
}

static void *watchdog(void *arg)
{
	(void)arg;
	sleep(30);
	printf("not ok - hung: a signal did not end KVM_RUN\n");
	fflush(stdout);
	_exit(1);
}

static void *queue_later(void *arg)
{
	usleep(30000);
	union sigval v = {.sival_int = 42};
	pthread_sigqueue(*(pthread_t *)arg, SIGUSR1, v);
	return NULL;
}

static void spin_from_start(int spin)
{
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	r.rip = 0x1000;
	r.rbx = (unsigned)spin;
	ioctl(vcpu, KVM_SET_REGS, &r);
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	t_guest_ram64k(vm, sig_guest, (size_t)(sig_end - sig_guest), 0x1000);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0 || t_real_mode(vcpu, 0x1000, 0))
		T_BAIL("vCPU");
	struct kvm_run *run = t_map_run(kvm, vcpu);
	/* the watchdog takes no signal: SIGALRM must find this thread */
	sigset_t all;
	sigfillset(&all);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setsigmask_np(&at, &all);
	pthread_t wd;
	pthread_create(&wd, &at, watchdog, NULL);
	pthread_attr_destroy(&at);

	/* sigaction reports what the program installed */
	struct sigaction sa = {.sa_sigaction = on_sig, .sa_flags = SA_SIGINFO | SA_RESTART}, q;
	T_EQ(sigaction(SIGUSR1, &sa, NULL), 0, "sigaction SIGUSR1");
	T_EQ(sigaction(SIGALRM, &sa, NULL), 0, "sigaction SIGALRM");
	T_EQ(sigaction(SIGUSR1, NULL, &q), 0, "sigaction query");
	T_OK(q.sa_sigaction == on_sig, "the query gives the program's handler");
	T_EQ(q.sa_flags & (SA_SIGINFO | SA_RESTART | SA_RESETHAND), SA_SIGINFO | SA_RESTART,
	     "... and its flags");

	/* a timer signal ends a spinning guest's KVM_RUN */
	spin_from_start(1);
	struct itimerval it = {.it_value = {.tv_usec = 30000}};
	setitimer(ITIMER_REAL, &it, NULL);
	int rc = (int)ioctl(vcpu, KVM_RUN, 0), e = errno;
	T_EQ(rc, -1, "SIGALRM ends KVM_RUN in a spinning guest");
	T_EQ(e, EINTR, "... with EINTR");
	T_EQ(run->exit_reason, KVM_EXIT_INTR, "... and KVM_EXIT_INTR");
	T_EQ(hits, 1, "the handler ran once");
	T_EQ(last_signo, SIGALRM, "... for SIGALRM");
	T_EQ(regs_ok, 1, "... after the ioctl: KVM_GET_REGS works in it");

	/* a queued signal keeps its siginfo */
	hits = 0;
	pthread_t self = pthread_self(), th;
	pthread_create(&th, NULL, queue_later, &self);
	rc = (int)ioctl(vcpu, KVM_RUN, 0);
	e = errno;
	pthread_join(th, NULL);
	T_EQ(rc, -1, "pthread_sigqueue ends KVM_RUN");
	T_EQ(e, EINTR, "... with EINTR");
	T_EQ(hits, 1, "the handler ran once");
	T_EQ(last_code, SI_QUEUE, "si_code SI_QUEUE");
	T_EQ(last_value, 42, "si_value as sent");

	/* a signal the thread blocks does not end KVM_RUN */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	hits = 0;
	raise(SIGUSR1);
	spin_from_start(0);
	rc = (int)ioctl(vcpu, KVM_RUN, 0);
	T_EQ(rc, 0, "a blocked pending signal: KVM_RUN runs");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "... to the guest's OUT");
	T_EQ(hits, 0, "... and no handler ran");
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	T_EQ(hits, 1, "unblocked, the handler runs");

	/* signal() and SA_RESETHAND report the program's view */
	T_OK(signal(SIGUSR2, on_plain) == SIG_DFL, "signal() returns the old SIG_DFL");
	T_OK(signal(SIGUSR2, on_plain) == on_plain, "signal() returns the installed handler");
	struct sigaction once = {.sa_handler = on_plain, .sa_flags = SA_RESETHAND};
	sigaction(SIGUSR2, &once, NULL);
	hits = 0;
	raise(SIGUSR2);
	T_EQ(hits, 1, "SA_RESETHAND handler ran");
	sigaction(SIGUSR2, NULL, &q);
	T_OK(q.sa_handler == SIG_DFL, "... and the action is SIG_DFL after it");

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
