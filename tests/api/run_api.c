/* vCPU ioctls around KVM_RUN that need no guest code: KVM_SET_SIGNAL_MASK
 * (KVM API 4.43), KVM_RUN's argument, and the kvm_run mapping. */
#include "t.h"

struct sigmask8 {
	struct kvm_signal_mask hdr;
	unsigned char bits[8];
};

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	int vcpu = t_create_vcpu(vm, 0);

	struct sigmask8 m = {.hdr.len = 8};
	m.bits[0] = 0x02; /* SIGINT */
	T_EQ(ioctl(vcpu, KVM_SET_SIGNAL_MASK, &m), 0, "KVM_SET_SIGNAL_MASK len 8");
	T_EQ(ioctl(vcpu, KVM_SET_SIGNAL_MASK, NULL), 0, "KVM_SET_SIGNAL_MASK NULL clears it");
	m.hdr.len = 4;
	T_ERR(ioctl(vcpu, KVM_SET_SIGNAL_MASK, &m), EINVAL, "KVM_SET_SIGNAL_MASK len 4");
	m.hdr.len = 16;
	T_ERR(ioctl(vcpu, KVM_SET_SIGNAL_MASK, &m), EINVAL, "KVM_SET_SIGNAL_MASK len 16");
	T_ERR(ioctl(vcpu, KVM_SET_SIGNAL_MASK, T_BADPTR), EFAULT, "KVM_SET_SIGNAL_MASK bad pointer");

	/* The header is readable but the set behind it is not. */
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (two == MAP_FAILED)
		T_BAIL("mmap");
	/* A guard page, not a hole: nothing else can be mapped there. */
	if (mprotect(two + pg, pg, PROT_NONE))
		T_BAIL("mprotect");
	struct kvm_signal_mask *edge = (void *)(two + pg - sizeof(*edge));
	edge->len = 8;
	T_ERR(ioctl(vcpu, KVM_SET_SIGNAL_MASK, edge), EFAULT,
	      "KVM_SET_SIGNAL_MASK set beyond a readable header");
	munmap(two, 2 * pg);

	T_ERR(ioctl(vcpu, KVM_RUN, 1), EINVAL, "KVM_RUN with a non-zero argument");
	T_ERR(ioctl(vm, KVM_RUN, 0), ENOTTY, "KVM_RUN on the VM fd");
	T_ERR(ioctl(kvm, KVM_RUN, 0), EINVAL, "KVM_RUN on the system fd");

	long sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *a = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	struct kvm_run *b = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	T_OK(a != MAP_FAILED && b != MAP_FAILED, "kvm_run maps twice");
	if (a != MAP_FAILED && b != MAP_FAILED) {
		a->request_interrupt_window = 1;
		T_EQ(b->request_interrupt_window, 1, "both mappings show one kvm_run");
		a->request_interrupt_window = 0;
		T_EQ(a->immediate_exit, 0, "immediate_exit starts clear");
		/* The errno differs (KVM: EINVAL; a sealed memfd: EPERM): the
		 * point is that kvm_run stays whole. */
		T_OK(ftruncate(vcpu, 0) == -1, "a vCPU fd cannot be truncated");
		T_OK(ftruncate(vcpu, 1 << 20) == -1, "a vCPU fd cannot be grown");
		T_EQ(a->immediate_exit, 0, "kvm_run still mapped after ftruncate attempts");
		struct kvm_regs regs;
		T_EQ(ioctl(vcpu, KVM_GET_REGS, &regs), 0, "the vCPU still answers");
	}

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
