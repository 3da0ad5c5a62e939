/* KVM_SET_NR_MMU_PAGES (KVM API 4.x, obsolete but still served on x86,
 * KVM_CAP_MMU_SHADOW_CACHE_CONTROL): at least KVM_MIN_ALLOC_MMU_PAGES (64)
 * pages, on a VM fd, with or without slots; the getter is gone. */
#include "t_vm.h"

int main(void)
{
	int kvm = t_open_kvm();
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MMU_SHADOW_CACHE_CONTROL), 1,
	     "KVM_CAP_MMU_SHADOW_CACHE_CONTROL is 1 on x86");
	int vm = t_create_vm(kvm);
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MMU_SHADOW_CACHE_CONTROL), 1,
	     "and on the VM fd");
	T_ERR(ioctl(vm, KVM_SET_NR_MMU_PAGES, 63), EINVAL, "below 64 pages is EINVAL");
	T_ERR(ioctl(vm, KVM_SET_NR_MMU_PAGES, 0), EINVAL, "0 pages is EINVAL");
	T_EQ(ioctl(vm, KVM_SET_NR_MMU_PAGES, 64), 0, "64 pages accepted");
	T_EQ(ioctl(vm, KVM_SET_NR_MMU_PAGES, 100000), 0, "100000 pages accepted");
	T_ERR(ioctl(vm, KVM_GET_NR_MMU_PAGES, 0), ENOTTY, "KVM_GET_NR_MMU_PAGES is gone");
	T_ERR(ioctl(kvm, KVM_SET_NR_MMU_PAGES, 100), EINVAL, "not a system ioctl");

	void *a = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		T_BAIL("mmap");
	T_EQ(t_set_region(vm, 0, 0, 0, 1 << 20, (unsigned long)a), 0, "a slot");
	T_EQ(ioctl(vm, KVM_SET_NR_MMU_PAGES, 64), 0, "64 pages with a slot");
	int vcpu = t_create_vcpu(vm, 0);
	T_EQ(ioctl(vm, KVM_SET_NR_MMU_PAGES, 128), 0, "128 pages with a vCPU");
	T_ERR(ioctl(vcpu, KVM_SET_NR_MMU_PAGES, 128), EINVAL, "not a vCPU ioctl");
	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
