/* Handles are fds: lifetime of a VM across its fds (KVM API 4.7: "the VM
 * is destroyed when its last reference is gone"), the dup family, bulk
 * closes, poll, mmap of each handle type, and fd numbering. */
#include "t.h"
#include <poll.h>

static long pg;

static int regs_ok(int vcpu)
{
	struct kvm_regs regs;
	return ioctl(vcpu, KVM_GET_REGS, &regs) == 0;
}

/* A handle of each type still answers through fd. */
static void check_dup(const char *how, int kvm, int vm, int vcpu, int (*dupper)(int))
{
	int k = dupper(kvm), v = dupper(vm), c = dupper(vcpu);
	T_OK(k >= 0 && v >= 0 && c >= 0, "%s of each handle type", how);
	T_EQ(ioctl(k, KVM_GET_API_VERSION, 0), 12, "%s: system fd answers", how);
	T_EQ(ioctl(v, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1, "%s: VM fd answers", how);
	T_OK(regs_ok(c), "%s: vCPU fd answers", how);
	T_ERR(ioctl(v, KVM_GET_API_VERSION, 0), ENOTTY, "%s: VM fd is still a VM fd", how);
	close(k);
	close(v);
	close(c);
	T_ERR(ioctl(k, KVM_GET_API_VERSION, 0), EBADF, "%s: closed dup of the system fd", how);
	T_ERR(ioctl(v, KVM_CHECK_EXTENSION, 0), EBADF, "%s: closed dup of the VM fd", how);
	T_ERR(ioctl(c, KVM_GET_REGS, 0), EBADF, "%s: closed dup of the vCPU fd", how);
	T_EQ(ioctl(kvm, KVM_GET_API_VERSION, 0), 12, "%s: original system fd survives", how);
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1,
	     "%s: original VM fd survives", how);
	T_OK(regs_ok(vcpu), "%s: original vCPU fd survives", how);
}

static int by_dup(int fd) { return dup(fd); }
static int by_dupfd(int fd) { return fcntl(fd, F_DUPFD, 100); }
static int by_dupfd_cloexec(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }
static int by_dup2(int fd) { int n = fcntl(fd, F_DUPFD, 200); close(n); return dup2(fd, n); }
static int by_dup3(int fd) { int n = fcntl(fd, F_DUPFD, 300); close(n); return dup3(fd, n, O_CLOEXEC); }

int main(void)
{
	pg = sysconf(_SC_PAGESIZE);
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	int vcpu = t_create_vcpu(vm, 0);
	long sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);

	check_dup("dup", kvm, vm, vcpu, by_dup);
	check_dup("F_DUPFD", kvm, vm, vcpu, by_dupfd);
	check_dup("F_DUPFD_CLOEXEC", kvm, vm, vcpu, by_dupfd_cloexec);
	check_dup("dup2", kvm, vm, vcpu, by_dup2);
	check_dup("dup3", kvm, vm, vcpu, by_dup3);

	int d = fcntl(vm, F_DUPFD_CLOEXEC, 0);
	T_OK(fcntl(d, F_GETFD) & FD_CLOEXEC, "F_DUPFD_CLOEXEC sets close-on-exec");
	close(d);
	d = dup(vm);
	T_OK(!(fcntl(d, F_GETFD) & FD_CLOEXEC), "dup clears close-on-exec");
	close(d);
	T_EQ(dup2(vm, vm), vm, "dup2 of a handle onto itself");
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1, "handle survives dup2 onto itself");
	T_ERR(dup3(vm, vm, 0), EINVAL, "dup3 onto itself");

	/* dup2 onto a live handle replaces it. */
	int vm2 = t_create_vm(kvm);
	int spare = dup(kvm);
	T_EQ(dup2(vm2, spare), spare, "dup2 a VM fd onto a system fd");
	T_EQ(ioctl(spare, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1, "the target is now a VM fd");
	T_ERR(ioctl(spare, KVM_GET_API_VERSION, 0), ENOTTY, "and no longer a system fd");
	int null = open("/dev/null", O_RDWR);
	T_EQ(dup2(null, spare), spare, "dup2 /dev/null onto a VM handle");
	T_ERR(ioctl(spare, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), ENOTTY,
	      "the target is now /dev/null");
	T_EQ(ioctl(vm2, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1, "the VM itself lives on");
	close(spare);
	T_EQ(dup2(kvm, null), null, "dup2 a system fd onto /dev/null's fd");
	T_EQ(ioctl(null, KVM_GET_API_VERSION, 0), 12, "the target is now a system fd");
	close(null);

	/* The VM lives while a vCPU fd does. */
	int v2c = t_create_vcpu(vm2, 5);
	struct kvm_run *run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, v2c, 0);
	T_OK(run != MAP_FAILED, "map the vCPU before closing its VM");
	close(vm2);
	T_OK(regs_ok(v2c), "vCPU works after its VM fd is closed");
	struct kvm_run *run2 = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, v2c, 0);
	T_OK(run2 != MAP_FAILED, "vCPU maps after its VM fd is closed");
	if (run != MAP_FAILED && run2 != MAP_FAILED) {
		run->request_interrupt_window = 1;
		T_EQ(run2->request_interrupt_window, 1, "both mappings show one kvm_run");
		run->request_interrupt_window = 0;
	}
	int stats = ioctl(v2c, KVM_GET_STATS_FD, 0);
	T_OK(stats >= 0, "vCPU stats fd after its VM fd is closed");
	close(stats);
	close(v2c);
	T_ERR(ioctl(v2c, KVM_GET_REGS, 0), EBADF, "ioctl on the closed vCPU fd");
	if (run != MAP_FAILED)
		T_EQ(run->request_interrupt_window, 0, "mapping outlives the VM");

	/* A closed vCPU fd does not free its id: vCPUs live as long as the VM. */
	int v1 = t_create_vcpu(vm, 1);
	close(v1);
	T_ERR(ioctl(vm, KVM_CREATE_VCPU, 1), EEXIST, "closing a vCPU fd keeps its id taken");

	/* mmap of each handle type */
	void *m = mmap(NULL, pg, PROT_READ, MAP_SHARED, kvm, 0);
	T_OK(m == MAP_FAILED && errno == ENODEV, "mmap of the system fd: ENODEV");
	m = mmap(NULL, pg, PROT_READ, MAP_SHARED, vm, 0);
	T_OK(m == MAP_FAILED && errno == ENODEV, "mmap of a VM fd: ENODEV");
	m = mmap(NULL, pg, PROT_READ | PROT_EXEC, MAP_SHARED, vcpu, 0);
	T_OK(m == MAP_FAILED && errno == EPERM, "mmap of a vCPU fd with PROT_EXEC: EPERM");
	m = mmap(NULL, sz, PROT_READ, MAP_PRIVATE, vcpu, 0);
	T_OK(m != MAP_FAILED, "MAP_PRIVATE mmap of a vCPU fd");
	munmap(m, sz);
	unsigned char *pio = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, pg);
	T_OK(pio != MAP_FAILED, "the PIO data page (offset 1 page)");
	if (pio != MAP_FAILED) {
		unsigned char *all = mmap(NULL, sz, PROT_READ, MAP_SHARED, vcpu, 0);
		pio[0] = 0x5a;
		T_EQ(all[pg], 0x5a, "PIO page is page 1 of the whole mapping");
		pio[0] = 0;
		munmap(all, sz);
		munmap(pio, pg);
	}
	m = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu,
		 KVM_COALESCED_MMIO_PAGE_OFFSET * pg);
	T_OK(m != MAP_FAILED, "the coalesced MMIO page (KVM_COALESCED_MMIO_PAGE_OFFSET)");
	munmap(m, pg);

	/* poll: none of the handles has a poll method, so all are ready. */
	struct pollfd p[3] = {{.fd = kvm, .events = POLLIN | POLLOUT},
			      {.fd = vm, .events = POLLIN | POLLOUT},
			      {.fd = vcpu, .events = POLLIN | POLLOUT}};
	T_EQ(poll(p, 3, 0), 3, "poll on system, VM and vCPU fds");
	T_OBS("poll_revents", "%#x %#x %#x", p[0].revents, p[1].revents, p[2].revents);

	/* fd numbers are the kernel's: no collision with the client's files. */
	int f1 = open("/dev/null", O_RDONLY);
	int k2 = open("/dev/kvm", O_RDWR);
	int f2 = open("/dev/null", O_RDONLY);
	T_OK(f1 >= 0 && k2 >= 0 && f2 >= 0 && f1 != k2 && f2 != k2 && f1 != f2,
	     "handles and files get distinct fds");
	T_OK(k2 == f1 + 1 && f2 == k2 + 1, "handles take the lowest free fd");
	close(f1);
	close(f2);

	/* Bulk closes: close_range, closefrom */
	int hi = fcntl(k2, F_DUPFD, 500);
	int hvm = fcntl(vm, F_DUPFD, 501);
	T_OK(hi == 500 && hvm == 501, "handles at fds 500 and 501");
	T_EQ(close_range(500, 501, 0), 0, "close_range over handles");
	T_ERR(ioctl(hi, KVM_GET_API_VERSION, 0), EBADF, "close_range closed the system fd");
	T_ERR(ioctl(hvm, KVM_CHECK_EXTENSION, 0), EBADF, "close_range closed the VM fd");
	int reuse = open("/dev/null", O_RDWR);
	T_EQ(fcntl(reuse, F_DUPFD, 500), 500, "fd 500 reused for /dev/null");
	T_ERR(ioctl(500, KVM_GET_API_VERSION, 0), ENOTTY, "the reused fd is /dev/null, not a handle");
	close(500);
	close(reuse);
	hi = fcntl(k2, F_DUPFD, 600);
	T_EQ(close_range(600, 600, CLOSE_RANGE_CLOEXEC), 0, "close_range CLOSE_RANGE_CLOEXEC");
	T_EQ(ioctl(hi, KVM_GET_API_VERSION, 0), 12, "CLOSE_RANGE_CLOEXEC closes nothing");
	T_OK(fcntl(hi, F_GETFD) & FD_CLOEXEC, "CLOSE_RANGE_CLOEXEC sets close-on-exec");
	hvm = fcntl(vm, F_DUPFD, 700);
	closefrom(650);
	T_EQ(ioctl(hi, KVM_GET_API_VERSION, 0), 12, "closefrom leaves lower fds");
	T_ERR(ioctl(hvm, KVM_CHECK_EXTENSION, 0), EBADF, "closefrom closed the VM fd");
	T_EQ(fcntl(vm, F_DUPFD, 700), 700, "fd 700 free again");
	close(700);
	close(hi);

	/* Closed handles */
	close(k2);
	T_ERR(ioctl(k2, KVM_GET_API_VERSION, 0), EBADF, "ioctl on a closed system fd");
	T_ERR(close(k2), EBADF, "close of a closed handle");
	T_ERR(ioctl(-1, KVM_GET_API_VERSION, 0), EBADF, "ioctl on fd -1");

	/* The VM outlives its fd only while something references it. */
	int vm3 = t_create_vm(kvm);
	int vm3d = dup(vm3);
	close(vm3);
	T_EQ(ioctl(vm3d, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1, "VM lives on through a dup");
	int v3 = ioctl(vm3d, KVM_CREATE_VCPU, 0);
	T_OK(v3 >= 0, "vCPU created through the dup");
	close(vm3d);
	T_OK(regs_ok(v3), "vCPU of a VM whose fds are all closed");
	close(v3);

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
