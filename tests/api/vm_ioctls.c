/* VM ioctls other than memory slots (KVM API 4.7, 4.40, 4.42, 4.53, 4.37):
 * KVM_CREATE_VCPU id rules, KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR,
 * KVM_SET_BOOT_CPU_ID, KVM_ENABLE_CAP, KVM_CHECK_EXTENSION on a VM fd, and
 * which fd answers what. */
#include <sys/wait.h>
#include "t.h"

static int enable(int fd, unsigned cap, unsigned flags, unsigned long long arg0)
{
	struct kvm_enable_cap c = {.cap = cap, .flags = flags, .args = {arg0}};
	return ioctl(fd, KVM_ENABLE_CAP, &c);
}

/* Run fn in a forked child; its status tells what the child saw. */
static int in_child(int (*fn)(int), int fd)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn(fd));
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static int child_vm_ioctl(int vm)
{
	errno = 0;
	int r = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY);
	return r == -1 ? errno : 200;
}

static int child_create_vcpu(int vm)
{
	errno = 0;
	int r = ioctl(vm, KVM_CREATE_VCPU, 7);
	return r == -1 ? errno : 200;
}

static int child_vcpu_ioctl(int vcpu)
{
	struct kvm_regs regs;
	errno = 0;
	int r = ioctl(vcpu, KVM_GET_REGS, &regs);
	return r == -1 ? errno : 200;
}

static int child_sys_ioctl(int kvm)
{
	return ioctl(kvm, KVM_GET_API_VERSION, 0) == 12 ? 0 : 1;
}

static int child_create_vm(int kvm)
{
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return 1;
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	return vcpu >= 0 ? 0 : 2;
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	long maxid = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);

	/* KVM_CHECK_EXTENSION on the VM fd answers as on the system fd. */
	static const int caps[] = {KVM_CAP_USER_MEMORY, KVM_CAP_SET_TSS_ADDR,
				   KVM_CAP_MAX_VCPUS, KVM_CAP_MAX_VCPU_ID, KVM_CAP_NR_VCPUS,
				   KVM_CAP_NR_MEMSLOTS, KVM_CAP_SET_BOOT_CPU_ID,
				   KVM_CAP_SET_IDENTITY_MAP_ADDR, KVM_CAP_CHECK_EXTENSION_VM,
				   KVM_CAP_ENABLE_CAP_VM, KVM_CAP_BINARY_STATS_FD};
	for (unsigned i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, caps[i]),
		     ioctl(kvm, KVM_CHECK_EXTENSION, caps[i]),
		     "capability %d reads the same on the VM fd", caps[i]);
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, 0x7fffffff), 0, "unknown capability on the VM fd");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ENABLE_CAP_VM), 1, "KVM_CAP_ENABLE_CAP_VM");

	/* KVM_CAP_VM_TYPES (235, newer than this header): a bitmask of the
	 * KVM_CREATE_VM types; x86's default VM is type 0. */
	long types = ioctl(kvm, KVM_CHECK_EXTENSION, 235);
	T_OK(types == 0 || (types & 1), "KVM_CAP_VM_TYPES, if offered, has the default VM type");
	T_OBS("vm_types", "%ld", types);
	for (long t = 1; t < 64; t++)
		if (!((unsigned long)types & (1UL << t)))
			T_ERR(ioctl(kvm, KVM_CREATE_VM, t), EINVAL, "KVM_CREATE_VM type %ld not offered", t);
	T_ERR(ioctl(kvm, KVM_CREATE_VM, 1L << 32), EINVAL, "KVM_CREATE_VM type 2^32");
	T_ERR(ioctl(kvm, KVM_CREATE_VM, -1L), EINVAL, "KVM_CREATE_VM type -1");

	/* KVM_SET_TSS_ADDR: three pages, all below 4 GiB. */
	T_EQ(ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL), 0, "KVM_SET_TSS_ADDR 0xfffbd000");
	T_EQ(ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd001UL), 0, "KVM_SET_TSS_ADDR unaligned");
	T_EQ(ioctl(vm, KVM_SET_TSS_ADDR, 0xffffd000UL), 0, "KVM_SET_TSS_ADDR last fitting address");
	T_ERR(ioctl(vm, KVM_SET_TSS_ADDR, 0xffffd001UL), EINVAL, "KVM_SET_TSS_ADDR crossing 4 GiB");
	T_ERR(ioctl(vm, KVM_SET_TSS_ADDR, 0x100000000UL), EINVAL, "KVM_SET_TSS_ADDR at 4 GiB");
	T_ERR(ioctl(vm, KVM_SET_TSS_ADDR, -1L), EINVAL, "KVM_SET_TSS_ADDR -1");

	/* KVM_SET_IDENTITY_MAP_ADDR: before any vCPU only. */
	unsigned long long ident = 0xfffbc000;
	T_EQ(ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &ident), 0, "KVM_SET_IDENTITY_MAP_ADDR");
	T_EQ(ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &ident), 0, "KVM_SET_IDENTITY_MAP_ADDR twice");
	T_ERR(ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, T_BADPTR), EFAULT,
	      "KVM_SET_IDENTITY_MAP_ADDR bad pointer");

	/* KVM_SET_BOOT_CPU_ID: any id up to KVM_MAX_VCPU_IDS before vCPUs exist. */
	T_EQ(ioctl(vm, KVM_SET_BOOT_CPU_ID, 3), 0, "KVM_SET_BOOT_CPU_ID 3");
	T_EQ(ioctl(vm, KVM_SET_BOOT_CPU_ID, maxid), 0, "KVM_SET_BOOT_CPU_ID MAX_VCPU_ID");
	T_ERR(ioctl(vm, KVM_SET_BOOT_CPU_ID, maxid + 1), EINVAL,
	      "KVM_SET_BOOT_CPU_ID beyond MAX_VCPU_ID");
	T_ERR(ioctl(vm, KVM_SET_BOOT_CPU_ID, -1L), EINVAL, "KVM_SET_BOOT_CPU_ID -1");

	/* KVM_ENABLE_CAP (4.37): flags must be 0; unknown capabilities fail. */
	T_ERR(enable(vm, 0, 0, 0), EINVAL, "KVM_ENABLE_CAP capability 0");
	T_ERR(enable(vm, 0x7fffffff, 0, 0), EINVAL, "KVM_ENABLE_CAP unknown capability");
	T_ERR(enable(vm, KVM_CAP_USER_MEMORY, 0, 0), EINVAL,
	      "KVM_ENABLE_CAP on a capability that is not enableable");
	T_ERR(enable(vm, KVM_CAP_MAX_VCPU_ID, 1, 8), EINVAL, "KVM_ENABLE_CAP flags 1");
	T_ERR(ioctl(vm, KVM_ENABLE_CAP, T_BADPTR), EFAULT, "KVM_ENABLE_CAP bad pointer");
	T_ERR(ioctl(kvm, KVM_ENABLE_CAP, T_BADPTR), EINVAL, "KVM_ENABLE_CAP on the system fd");

	/* KVM_CAP_MAX_VCPU_ID can lower the id limit once, not below the BSP. */
	T_ERR(enable(vm, KVM_CAP_MAX_VCPU_ID, 0, 2), EINVAL, "MAX_VCPU_ID below the boot CPU id");
	T_EQ(ioctl(vm, KVM_SET_BOOT_CPU_ID, 0), 0, "KVM_SET_BOOT_CPU_ID 0");
	T_ERR(enable(vm, KVM_CAP_MAX_VCPU_ID, 0, maxid + 1), EINVAL,
	      "MAX_VCPU_ID above KVM_MAX_VCPU_IDS");
	T_EQ(enable(vm, KVM_CAP_MAX_VCPU_ID, 0, 0), 0, "MAX_VCPU_ID 0 changes nothing");
	T_EQ(enable(vm, KVM_CAP_MAX_VCPU_ID, 0, 8), 0, "MAX_VCPU_ID 8");
	T_EQ(enable(vm, KVM_CAP_MAX_VCPU_ID, 0, 8), 0, "MAX_VCPU_ID 8 again");
	T_ERR(enable(vm, KVM_CAP_MAX_VCPU_ID, 0, 16), EINVAL, "MAX_VCPU_ID changed once set");
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID), maxid,
	     "KVM_CHECK_EXTENSION still reports KVM_MAX_VCPU_IDS");
	T_EQ(ioctl(vm, KVM_SET_BOOT_CPU_ID, 8), 0, "KVM_SET_BOOT_CPU_ID equal to the lowered limit");
	T_ERR(ioctl(vm, KVM_SET_BOOT_CPU_ID, 9), EINVAL,
	      "KVM_SET_BOOT_CPU_ID above the lowered limit");
	T_ERR(ioctl(vm, KVM_CREATE_VCPU, 8), EINVAL, "vCPU id equal to the lowered limit");

	/* KVM_CREATE_VCPU */
	T_ERR(ioctl(vm, KVM_CREATE_VCPU, -1L), EINVAL, "vCPU id -1");
	T_ERR(ioctl(vm, KVM_CREATE_VCPU, 1UL << 32), EINVAL, "vCPU id 2^32");
	T_ERR(ioctl(vm, KVM_CREATE_VCPU, maxid), EINVAL, "vCPU id MAX_VCPU_ID");
	int v7 = ioctl(vm, KVM_CREATE_VCPU, 7);
	T_OK(v7 >= 0, "vCPU id 7 (highest below the limit)");
	T_OK(fcntl(v7, F_GETFD) & FD_CLOEXEC, "vCPU fd is close-on-exec");
	T_ERR(ioctl(vm, KVM_CREATE_VCPU, 7), EEXIST, "vCPU id 7 again");
	int v0 = ioctl(vm, KVM_CREATE_VCPU, 0);
	T_OK(v0 >= 0 && v0 != v7, "vCPU id 0");
	T_ERR(enable(vm, KVM_CAP_MAX_VCPU_ID, 0, 16), EINVAL, "MAX_VCPU_ID after vCPUs exist");
	T_EQ(enable(vm, KVM_CAP_MAX_VCPU_ID, 0, 8), 0, "MAX_VCPU_ID unchanged after vCPUs exist");

	/* What vCPUs freeze */
	T_ERR(ioctl(vm, KVM_SET_BOOT_CPU_ID, 0), EBUSY, "KVM_SET_BOOT_CPU_ID with vCPUs");
	T_ERR(ioctl(vm, KVM_SET_BOOT_CPU_ID, 100000), EBUSY,
	      "KVM_SET_BOOT_CPU_ID with vCPUs, bad id: EBUSY first");
	T_ERR(ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &ident), EINVAL,
	      "KVM_SET_IDENTITY_MAP_ADDR with vCPUs");
	T_ERR(ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, T_BADPTR), EINVAL,
	      "KVM_SET_IDENTITY_MAP_ADDR with vCPUs, bad pointer: EINVAL first");
	T_EQ(ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL), 0, "KVM_SET_TSS_ADDR with vCPUs");

	/* A fresh VM: ids up to MAX_VCPU_ID - 1 */
	int vm2 = t_create_vm(kvm);
	int vlast = ioctl(vm2, KVM_CREATE_VCPU, maxid - 1);
	T_OK(vlast >= 0, "vCPU id MAX_VCPU_ID - 1");
	/* The first vCPU fixes the limit at KVM_MAX_VCPU_IDS if it was unset. */
	T_ERR(enable(vm2, KVM_CAP_MAX_VCPU_ID, 0, 0), EINVAL, "MAX_VCPU_ID 0 after a vCPU");
	T_EQ(enable(vm2, KVM_CAP_MAX_VCPU_ID, 0, maxid), 0,
	     "MAX_VCPU_ID at its fixed value after a vCPU");

	/* Which fd answers what */
	T_ERR(ioctl(vm, KVM_GET_API_VERSION, 0), ENOTTY, "system ioctl on a VM fd");
	T_ERR(ioctl(vm, KVM_CREATE_VM, 0), ENOTTY, "KVM_CREATE_VM on a VM fd");
	T_ERR(ioctl(vm, KVM_GET_VCPU_MMAP_SIZE, 0), ENOTTY, "KVM_GET_VCPU_MMAP_SIZE on a VM fd");
	T_ERR(ioctl(vm, _IO(KVMIO, 0xfe), 0), ENOTTY, "unknown KVM ioctl on a VM fd");
	T_ERR(ioctl(vm, _IO(0x12, 0x34), 0), ENOTTY, "foreign ioctl on a VM fd");
	T_ERR(ioctl(kvm, _IO(0x12, 0x34), 0), EINVAL, "foreign ioctl on the system fd");
	T_ERR(ioctl(kvm, KVM_CREATE_VCPU, 0), EINVAL, "KVM_CREATE_VCPU on the system fd");
	T_ERR(ioctl(kvm, KVM_SET_TSS_ADDR, 0), EINVAL, "KVM_SET_TSS_ADDR on the system fd");
	T_ERR(ioctl(v0, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), EINVAL,
	      "KVM_CHECK_EXTENSION on a vCPU fd");
	T_ERR(ioctl(v0, KVM_CREATE_VCPU, 2), EINVAL, "KVM_CREATE_VCPU on a vCPU fd");
	T_ERR(ioctl(v0, KVM_SET_TSS_ADDR, 0), EINVAL, "KVM_SET_TSS_ADDR on a vCPU fd");
	T_ERR(ioctl(v0, KVM_GET_API_VERSION, 0), EINVAL, "KVM_GET_API_VERSION on a vCPU fd");
	T_ERR(ioctl(v0, _IO(KVMIO, 0xfe), 0), EINVAL, "unknown KVM ioctl on a vCPU fd");
	T_ERR(ioctl(v0, _IO(0x12, 0x34), 0), EINVAL, "foreign ioctl on a vCPU fd");

	/* After fork: the system fd still works, the VM and its vCPUs do not. */
	T_EQ(in_child(child_vm_ioctl, vm), EIO, "VM ioctl from a forked child");
	T_EQ(in_child(child_create_vcpu, vm), EIO, "KVM_CREATE_VCPU from a forked child");
	T_EQ(in_child(child_vcpu_ioctl, v0), EIO, "vCPU ioctl from a forked child");
	T_EQ(in_child(child_sys_ioctl, kvm), 0, "system ioctl from a forked child");
	T_EQ(in_child(child_create_vm, kvm), 0, "a forked child creates its own VM");
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1,
	     "the parent's VM still works after the child exits");
	T_ERR(ioctl(vm, KVM_CREATE_VCPU, 7), EEXIST, "the child created no vCPU in our VM");

	close(vlast);
	close(vm2);
	close(v0);
	close(v7);
	close(vm);
	close(kvm);
	return t_done();
}
