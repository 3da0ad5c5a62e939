/* System ioctls (KVM API 4.1-4.4, 4.41): version, extensions, VM creation,
 * mmap size, and what a bad request on the system fd gets. */
#include "t.h"

int main(void)
{
	int kvm = t_open_kvm();

	T_EQ(ioctl(kvm, KVM_GET_API_VERSION, 0), 12, "KVM_GET_API_VERSION is 12");
	T_ERR(ioctl(kvm, KVM_GET_API_VERSION, 1), EINVAL, "KVM_GET_API_VERSION with an argument");
	/* The request number may arrive sign-extended: only 32 bits count. */
	T_EQ(ioctl(kvm, (unsigned long)(long)(int)KVM_GET_API_VERSION, 0), 12,
	     "sign-extended request number");

	long sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	T_OK(sz >= 4096 && sz % 4096 == 0, "KVM_GET_VCPU_MMAP_SIZE is whole pages (%ld)", sz);
	T_OK(sz >= (KVM_COALESCED_MMIO_PAGE_OFFSET + 1) * 4096,
	     "mmap size covers the coalesced MMIO page");
	T_OBS("vcpu_mmap_size", "%ld", sz);
	T_ERR(ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 1), EINVAL, "KVM_GET_VCPU_MMAP_SIZE with an argument");

	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1, "KVM_CAP_USER_MEMORY");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR), 1, "KVM_CAP_SET_TSS_ADDR");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_DESTROY_MEMORY_REGION_WORKS), 1,
	     "KVM_CAP_DESTROY_MEMORY_REGION_WORKS");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_JOIN_MEMORY_REGIONS_WORKS), 1,
	     "KVM_CAP_JOIN_MEMORY_REGIONS_WORKS");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM), 1,
	     "KVM_CAP_CHECK_EXTENSION_VM");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, 0x7fffffff), 0, "unknown capability reads 0");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, -1L), 0, "negative capability reads 0");

	long nr = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	long max = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	long maxid = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	T_OK(nr >= 1 && nr <= max, "1 <= NR_VCPUS (%ld) <= MAX_VCPUS (%ld)", nr, max);
	T_OK(maxid >= max, "MAX_VCPU_ID (%ld) >= MAX_VCPUS", maxid);
	T_OBS("max_vcpus", "%ld", max);
	T_OBS("max_vcpu_id", "%ld", maxid);
	T_OBS("nr_vcpus", "%ld", nr);
	T_OK(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS) >= 32,
	     "KVM_CAP_NR_MEMSLOTS at least 32");

	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	T_OK(vm >= 0, "KVM_CREATE_VM type 0");
	T_OK(fcntl(vm, F_GETFD) & FD_CLOEXEC, "VM fd is close-on-exec");
	T_ERR(ioctl(kvm, KVM_CREATE_VM, 0x12345), EINVAL, "KVM_CREATE_VM with an unknown type");
	int vm2 = ioctl(kvm, KVM_CREATE_VM, 0);
	T_OK(vm2 >= 0 && vm2 != vm, "a second VM gets its own fd");

	T_ERR(ioctl(kvm, _IO(KVMIO, 0xfe), 0), EINVAL, "unknown system ioctl");
	T_ERR(ioctl(kvm, KVM_CREATE_VCPU, 0), EINVAL, "VM ioctl on the system fd");
	T_ERR(ioctl(vm, KVM_GET_API_VERSION, 0), ENOTTY, "system ioctl on a VM fd");
	T_ERR(ioctl(vm, _IO(KVMIO, 0xfe), 0), ENOTTY, "unknown VM ioctl");
	T_OK(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) == 1,
	     "KVM_CHECK_EXTENSION on a VM fd");

	/* Removed from KVM: current kernels answer like any unknown ioctl. */
	T_ERR(ioctl(kvm, KVM_TRACE_ENABLE, 0), EINVAL, "KVM_TRACE_ENABLE is gone");

	/* A closed handle is just a closed fd. */
	int k2 = open("/dev/kvm", O_RDWR);
	T_OK(k2 >= 0, "open /dev/kvm twice");
	close(k2);
	T_ERR(ioctl(k2, KVM_GET_API_VERSION, 0), EBADF, "ioctl on a closed system fd");
	int dupped = dup(kvm);
	T_EQ(ioctl(dupped, KVM_GET_API_VERSION, 0), 12, "ioctl on a dup of the system fd");
	close(dupped);
	T_ERR(ioctl(dupped, KVM_GET_API_VERSION, 0), EBADF, "ioctl on a closed dup");
	T_EQ(ioctl(kvm, KVM_GET_API_VERSION, 0), 12, "original survives closing its dup");

	/* A foreign fd gets the kernel's answer. */
	int null = open("/dev/null", O_RDWR);
	T_ERR(ioctl(null, KVM_GET_API_VERSION, 0), ENOTTY, "KVM ioctl on /dev/null");
	close(null);

	close(vm2);
	close(vm);
	close(kvm);
	return t_done();
}
