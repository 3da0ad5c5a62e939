/*
 * Asynchronous pthread_cancel of a thread inside KVM_RUN, as the kernel's
 * xapic_ipi_test ends its vCPU threads: on KVM the cancellation signal ends
 * the ioctl and the thread unwinds in user space, so pthread_join returns
 * and the VMM can delete memslots at once.  glibc never lets pthread_sigmask
 * block its cancellation signal, so softkvm must block it with the system
 * call while it runs guest code or waits in HLT; the thread used to unwind
 * inside softkvm with its memslot-map reference, and the next memslot change
 * waited forever.  Two cases: a vCPU halted (in-kernel LAPIC) and a vCPU
 * spinning in guest code.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "t_vm.h"

__asm__(".pushsection .rodata\n"
	".code16\n"
	"cancel_guest:\n"
	"cli\n"
	"cmpb $0, %es:0x2000\n"
	"jne 2f\n"
	"1: hlt\n"
	"jmp 1b\n"
	"2: jmp 2b\n"
	"cancel_end:\n"
	".code64\n"
	".popsection\n");
extern const unsigned char cancel_guest[], cancel_end[];

/* a hang must fail, not stall the suite */
static void *watchdog(void *arg)
{
	(void)arg;
	sleep(30);
	printf("not ok - hung: a cancelled vCPU thread or a memslot change never returned\n");
	fflush(stdout);
	_exit(1);
}

static atomic_int started; /* a plain volatile is a data race (check-tsan) */

static void *vcpu_thread(void *arg)
{
	int fd = *(int *)arg;
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
	started = 1;
	for (;;)
		ioctl(fd, KVM_RUN, 0);
	return NULL;
}

static void one(bool spin)
{
	const char *what = spin ? "spinning" : "halted";
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		T_BAIL("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	unsigned char *ram = t_guest_ram64k(vm, cancel_guest,
					    (size_t)(cancel_end - cancel_guest), 0x1000);
	ram[0x2000] = spin;
	struct kvm_run *run;
	int vcpu = t_real_mode_flat_es(vm, 0x1000, &run);
	void *extra = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {.slot = 7, .guest_phys_addr = 0x100000,
						.memory_size = 0x10000,
						.userspace_addr = (unsigned long)extra};
	T_EQ(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r), 0, "%s: a second slot", what);

	pthread_t th;
	started = 0;
	pthread_create(&th, NULL, vcpu_thread, &vcpu);
	while (!started)
		usleep(1000);
	usleep(100000); /* well inside KVM_RUN */
	T_EQ(pthread_cancel(th), 0, "%s: pthread_cancel", what);
	void *ret = NULL;
	T_EQ(pthread_join(th, &ret), 0, "%s: pthread_join", what);
	T_OK(ret == PTHREAD_CANCELED, "%s: the thread ended cancelled", what);
	r.memory_size = 0;
	T_EQ(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r), 0,
	     "%s: a slot deleted right after (the thread left no map behind)", what);
	close(vcpu);
	close(vm);
	close(kvm);
	munmap(extra, 0x10000);
}

int main(void)
{
	pthread_t wd;
	pthread_create(&wd, NULL, watchdog, NULL);
	one(false);
	one(true);
	return t_done();
}
