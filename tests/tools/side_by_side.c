/* Run as `softkvm run --device /dev/softkvm -- side_by_side`: one process
 * holds softkvm (through /dev/softkvm) and, when the machine has one, the
 * host's /dev/kvm, and each answers its own fds.  Prints TAP. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

static int n, failed;

static void ok(int cond, const char *what)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, what);
	failed += !cond;
}

static int is_memfd(int fd)
{
	char path[64], target[256];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t len = readlink(path, target, sizeof(target) - 1);
	if (len <= 0)
		return 0;
	target[len] = 0;
	return !strncmp(target, "/memfd:", 7);
}

/* A VM with a vCPU whose kvm_run maps, through kvm. */
static int vm_works(int kvm)
{
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return 0;
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	long sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	void *run = vcpu >= 0 && sz > 0 ? mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0)
				      : MAP_FAILED;
	struct kvm_regs regs;
	int r = run != MAP_FAILED && ioctl(vcpu, KVM_GET_REGS, &regs) == 0 &&
		regs.rflags == 2;
	if (run != MAP_FAILED)
		munmap(run, sz);
	close(vcpu);
	close(vm);
	return r;
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/softkvm";
	int soft = open(dev, O_RDWR | O_CLOEXEC);
	ok(soft >= 0, "the softkvm device path opens");
	ok(ioctl(soft, KVM_GET_API_VERSION, 0) == 12, "softkvm answers KVM_GET_API_VERSION");
	ok(is_memfd(soft), "it is a softkvm handle");
	ok(vm_works(soft), "softkvm runs a VM and a vCPU");

	int host = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (host < 0) {
		ok(errno == ENOENT || errno == EACCES || errno == ENXIO,
		   "no usable /dev/kvm: its open fails as the kernel says");
	} else {
		ok(!is_memfd(host), "/dev/kvm is the host's device, not softkvm");
		ok(ioctl(host, KVM_GET_API_VERSION, 0) == 12, "the host answers KVM_GET_API_VERSION");
		ok(vm_works(host), "the host runs a VM and a vCPU");
		ok(vm_works(soft), "softkvm still works beside it");
		close(host);
	}
	close(soft);
	printf("1..%d\n", n);
	return failed != 0;
}
