/* KVM_CAP_MAX_VCPUS vCPUs in one VM, with ids from 0 and ending at
 * KVM_CAP_MAX_VCPU_ID - 1, as the kernel's kvm_create_max_vcpus selftest
 * does (KVM API 4.7).  Each vCPU costs the client one fd and a mapping. */
#include <sys/resource.h>
#include <time.h>
#include "t.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void create_all(int kvm, long first, long n, long mmap_size)
{
	int vm = t_create_vm(kvm);
	int *fds = calloc(n, sizeof(int));
	long made = 0, mapped = 0;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		fds[i] = ioctl(vm, KVM_CREATE_VCPU, first + i);
		if (fds[i] < 0) {
			printf("#   KVM_CREATE_VCPU %ld: %s\n", first + i, strerror(errno));
			break;
		}
		made++;
		void *run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (run != MAP_FAILED) {
			mapped++;
			munmap(run, mmap_size);
		}
	}
	double dt = now() - t0;
	T_EQ(made, n, "ids %ld..%ld: all %ld vCPUs created", first, first + n - 1, n);
	T_EQ(mapped, made, "ids from %ld: every kvm_run maps", first);
	T_OK(dt < 10.0, "ids from %ld: created in %.2f s", first, dt);
	T_ERR(ioctl(vm, KVM_CREATE_VCPU, first ? 0 : n), EINVAL,
	      "ids from %ld: one vCPU more than KVM_CAP_MAX_VCPUS", first);
	T_ERR(ioctl(vm, KVM_CREATE_VCPU, first), EINVAL,
	      "ids from %ld: a full VM answers EINVAL before EEXIST", first);
	for (long i = 0; i < made; i++)
		close(fds[i]);
	T_ERR(ioctl(vm, KVM_CREATE_VCPU, first ? 0 : n), EINVAL,
	      "ids from %ld: closed vCPU fds still count", first);
	free(fds);
	close(vm);
}

int main(void)
{
	int kvm = t_open_kvm();
	long max = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	long maxid = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	long mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	T_OK(max > 0 && maxid >= max, "MAX_VCPUS %ld, MAX_VCPU_ID %ld", max, maxid);

	/* The selftest's fd budget: MAX_VCPUS + 100. */
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t want = (rlim_t)max + 100;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (rl.rlim_max < want)
			rl.rlim_max = want;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			T_BAIL("setrlimit(RLIMIT_NOFILE, %lu)", (unsigned long)want);
	}
	/* Exactly that budget, as on a machine whose default limit is lower. */
	rl.rlim_cur = want;
	setrlimit(RLIMIT_NOFILE, &rl);

	create_all(kvm, 0, max, mmap_size);
	if (maxid > max)
		create_all(kvm, maxid - max, max, mmap_size);
	close(kvm);
	return t_done();
}
