/* Handles used by one thread while another closes, dups over and re-creates
 * them: every call answers as for a live or a closed fd, nothing crashes
 * (the sanitizer build watches for use after free). */
#include <pthread.h>
#include "t.h"

enum { ROUNDS = 3000 };

static int kvm, slot_fd;
static volatile int stop;
static long bad_answers;

/* Hammer whatever fd slot_fd names right now. */
static void *user(void *arg)
{
	(void)arg;
	struct kvm_regs regs;
	while (!stop) {
		int fd = __atomic_load_n(&slot_fd, __ATOMIC_RELAXED);
		errno = 0;
		long r = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY);
		/* a VM fd: 1; a vCPU or system fd: EINVAL/1; closed: EBADF */
		if (!(r == 1 || (r == -1 && (errno == EBADF || errno == EINVAL || errno == ENOTTY))))
			__atomic_fetch_add(&bad_answers, 1, __ATOMIC_RELAXED);
		errno = 0;
		r = ioctl(fd, KVM_GET_REGS, &regs);
		if (!(r == 0 || (r == -1 && (errno == EBADF || errno == ENOTTY || errno == EINVAL))))
			__atomic_fetch_add(&bad_answers, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(void)
{
	kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	slot_fd = fcntl(vm, F_DUPFD, 900);
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, user, NULL);
	int fails = 0;
	for (int i = 0; i < ROUNDS; i++) {
		switch (i % 4) {
		case 0: /* close the slot and reuse its number for a new VM's fd */
			close(900);
			{
				int v = ioctl(kvm, KVM_CREATE_VM, 0);
				if (v < 0 || dup2(v, 900) != 900)
					fails++;
				close(v);
			}
			break;
		case 1: /* dup a vCPU fd over it */
			{
				int v = ioctl(900, KVM_CREATE_VCPU, 0);
				if (v >= 0) {
					if (dup2(v, 900) != 900)
						fails++;
					close(v);
				}
			}
			break;
		case 2: /* the system fd */
			if (dup2(kvm, 900) != 900)
				fails++;
			break;
		case 3: /* back to the first VM */
			if (dup2(vm, 900) != 900)
				fails++;
			break;
		}
	}
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	T_EQ(fails, 0, "%d rounds of close/dup2/create under concurrent ioctls", ROUNDS);
	T_EQ(bad_answers, 0, "every concurrent ioctl answered as for a live or closed fd");
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1, "the first VM still works");
	close(900);
	close(vm);
	close(kvm);
	return t_done();
}
