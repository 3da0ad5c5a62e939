/*
 * A vCPU asleep inside KVM_RUN does not hold up memslot changes: KVM's
 * vcpu_block leaves the SRCU read side before it sleeps, so
 * KVM_SET_USER_MEMORY_REGION from another thread completes while an AP
 * waits for INIT/SIPI (KVM_MP_STATE_UNINITIALIZED) or a vCPU sits in HLT
 * with interrupts off.  QEMU -smp 2 hung in SeaBIOS: the BSP's thread
 * remaps the PAM regions while the AP's thread waits for SIPI in KVM_RUN.
 */
#include <pthread.h>
#include <signal.h>

#include "t_vm.h"

__asm__(".pushsection .rodata\n"
	".code16\n"
	"hlt_guest:\n"
	"cli\n"
	"1: hlt\n"
	"jmp 1b\n"
	"hlt_end:\n"
	".code64\n"
	".popsection\n");
extern const unsigned char hlt_guest[], hlt_end[];

static void *watchdog(void *arg)
{
	(void)arg;
	sleep(20);
	printf("not ok - hung: a memslot change waited for a sleeping vCPU\n");
	fflush(stdout);
	_exit(1);
}

static int run_fd;
static void *run_thread(void *arg)
{
	(void)arg;
	ioctl(run_fd, KVM_RUN, 0);	/* ends with the signal below */
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* The vCPU's thread is in KVM_RUN and asleep: add and delete a slot. */
static void slot_churn(int vm, void *extra, const char *what)
{
	T_EQ(t_set_region(vm, 7, 0, 0x100000, 0x10000, (unsigned long)extra), 0,
	     "%s: a slot added while it sleeps", what);
	T_EQ(t_set_region(vm, 7, 0, 0x100000, 0, (unsigned long)extra), 0,
	     "%s: and deleted", what);
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		T_BAIL("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	t_guest_ram64k(vm, hlt_guest, (size_t)(hlt_end - hlt_guest), 0x1000);
	void *extra = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	struct kvm_run *run0;
	int bsp = t_real_mode_flat_es(vm, 0x1000, &run0);
	int ap = t_create_vcpu(vm, 1);
	struct kvm_mp_state mp;
	T_EQ(ioctl(ap, KVM_GET_MP_STATE, &mp), 0, "KVM_GET_MP_STATE of vCPU 1");
	T_EQ(mp.mp_state, KVM_MP_STATE_UNINITIALIZED, "vCPU 1 is an AP waiting for INIT");

	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t wd, th;
	pthread_create(&wd, NULL, watchdog, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	/* the AP in KVM_RUN, waiting for INIT/SIPI */
	run_fd = ap;
	pthread_create(&th, NULL, run_thread, NULL);
	usleep(200000);
	slot_churn(vm, extra, "AP waiting for SIPI");
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);

	/* the BSP in KVM_RUN, halted with interrupts off */
	run_fd = bsp;
	pthread_create(&th, NULL, run_thread, NULL);
	usleep(200000);
	slot_churn(vm, extra, "BSP in HLT");
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);
	/* vCPU ioctls wait for KVM_RUN (vcpu->mutex): asked only now */
	T_EQ(ioctl(bsp, KVM_GET_MP_STATE, &mp), 0, "KVM_GET_MP_STATE of the BSP");
	T_EQ(mp.mp_state, KVM_MP_STATE_HALTED, "it was halted");
	close(ap);
	close(bsp);
	close(vm);
	close(kvm);
	return t_done();
}
