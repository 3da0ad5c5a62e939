/*
 * A signal that ends a KVM_RUN waiting in HLT (in-kernel LAPIC) runs its
 * handler after the ioctl returned, as the kernel delivers signals on the
 * way out of a system call: a handler that leaves with siglongjmp (as a
 * thread cancellation unwinds) leaves nothing of the vCPU half-done, so the
 * VMM can change memslots and run the vCPU again at once.  The kernel's
 * xapic_ipi_test hung in kvm_vm_free when the handler ran inside softkvm's
 * halt wait with a memslot-map reference held.  Also: a process-directed
 * signal (setitimer's SIGALRM) reaches the halted vCPU's thread, not a
 * thread of the KVM implementation.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/time.h>

#include "t_vm.h"

__asm__(".pushsection .rodata\n"
	".code16\n"
	"halt_guest:\n"
	"cli\n"
	"1: hlt\n"
	"jmp 1b\n"
	"halt_end:\n"
	".code64\n"
	".popsection\n");
extern const unsigned char halt_guest[], halt_end[];

static sigjmp_buf jb;
static volatile sig_atomic_t hits;

static void on_usr1(int sig)
{
	(void)sig;
	hits++;
	siglongjmp(jb, 1);
}

static void on_alrm(int sig)
{
	(void)sig;
	hits++;
}

/* a hang must fail, not stall the suite */
static void *watchdog(void *arg)
{
	(void)arg;
	sleep(20);
	printf("not ok - hung: KVM_RUN or a memslot change never returned\n");
	fflush(stdout);
	_exit(1);
}

static void *kick_later(void *arg)
{
	usleep(50000);
	pthread_kill(*(pthread_t *)arg, SIGUSR1);
	return NULL;
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		T_BAIL("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	t_guest_ram64k(vm, halt_guest, (size_t)(halt_end - halt_guest), 0x1000);
	struct kvm_run *run;
	int vcpu = t_real_mode_flat_es(vm, 0x1000, &run);
	/* a second slot to delete afterwards */
	void *extra = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {.slot = 7, .guest_phys_addr = 0x100000,
						.memory_size = 0x10000,
						.userspace_addr = (unsigned long)extra};
	T_EQ(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r), 0, "a second slot");

	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	pthread_t self = pthread_self(), th;
	/* the watchdog takes no signal: SIGALRM below is process-directed
	 * and must find the vCPU thread the only one to take it */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t wd;
	pthread_create(&wd, NULL, watchdog, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!sigsetjmp(jb, 1)) {
		pthread_create(&th, NULL, kick_later, &self);
		ioctl(vcpu, KVM_RUN, 0);
		T_OK(0, "KVM_RUN in HLT returned without the handler leaving it");
	}
	pthread_join(th, NULL);
	T_EQ(hits, 1, "the handler ran once and left with siglongjmp");
	r.memory_size = 0;
	T_EQ(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r), 0,
	     "the slot deleted right after (no vCPU holds the old map)");

	/* setitimer's SIGALRM is process-directed: it must end the halt */
	struct sigaction sb = {.sa_handler = on_alrm};
	sigaction(SIGALRM, &sb, NULL);
	hits = 0;
	struct itimerval it = {.it_value = {.tv_usec = 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	int rc = (int)ioctl(vcpu, KVM_RUN, 0);
	int e = errno;
	T_EQ(rc, -1, "KVM_RUN in HLT ended by SIGALRM");
	T_EQ(e, EINTR, "... with EINTR");
	T_EQ(run->exit_reason, KVM_EXIT_INTR, "... and KVM_EXIT_INTR");
	T_EQ(hits, 1, "SIGALRM's handler ran");
	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
