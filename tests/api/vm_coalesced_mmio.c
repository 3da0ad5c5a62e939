/* KVM_REGISTER_COALESCED_MMIO / KVM_UNREGISTER_COALESCED_MMIO (KVM API
 * 4.116) and the ring page: one page per VM, shown at page
 * KVM_COALESCED_MMIO_PAGE_OFFSET of every vCPU's mapping. */
#include "t.h"

static int vm;

static long zone(unsigned long cmd, unsigned long long addr, unsigned size, unsigned pio)
{
	struct kvm_coalesced_mmio_zone z = {.addr = addr, .size = size, .pio = pio};
	return ioctl(vm, cmd, &z);
}

#define REG KVM_REGISTER_COALESCED_MMIO
#define UNREG KVM_UNREGISTER_COALESCED_MMIO

int main(void)
{
	const long pg = 4096;
	int kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO), KVM_COALESCED_MMIO_PAGE_OFFSET,
	     "KVM_CAP_COALESCED_MMIO is the ring's page offset");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO), 1, "KVM_CAP_COALESCED_PIO");

	T_EQ(zone(REG, 0xd0000000, 0x1000, 0), 0, "register an MMIO zone");
	T_EQ(zone(REG, 0xd0000000, 0x1000, 0), 0, "register the same zone again");
	T_EQ(zone(REG, 0x3f8, 8, 1), 0, "register a PIO zone");
	T_EQ(zone(REG, 0xe0000000, 0, 0), 0, "an empty zone is accepted");
	T_EQ(zone(REG, ~0ULL - 10, 100, 0), 0, "a zone wrapping the address space is accepted");
	T_ERR(zone(REG, 0x1000, 0x100, 2), EINVAL, "register with pio 2");
	T_ERR(zone(UNREG, 0x1000, 0x100, 2), EINVAL, "unregister with pio 2");
	T_ERR(zone(REG, 0x1000, 0x100, ~0u), EINVAL, "register with pio ~0");
	T_EQ(zone(UNREG, 0x5000, 0x10, 0), 0, "unregister a range no zone holds");
	T_EQ(zone(UNREG, 0xd0000100, 0x10, 0), 0, "unregister a range inside the zones");
	T_EQ(zone(UNREG, 0xd0000000, 0x1000, 1), 0, "unregister on the other bus");
	T_ERR(ioctl(vm, REG, T_BADPTR), EFAULT, "register: bad pointer");
	T_ERR(ioctl(vm, UNREG, T_BADPTR), EFAULT, "unregister: bad pointer");
	T_ERR(ioctl(vm, REG, NULL), EFAULT, "register: NULL");
	struct kvm_coalesced_mmio_zone z = {0x1000, 0x10, {0}};
	T_ERR(ioctl(kvm, REG, &z), EINVAL, "register on the system fd");

	/* Each bus holds at most NR_IOBUS_DEVS (1000) devices. */
	int vm2 = t_create_vm(kvm);
	int made = 0;
	for (int i = 0; i < 1000; i++) {
		struct kvm_coalesced_mmio_zone y = {0x100000 + i * 0x100ULL, 0x100, {0}};
		if (ioctl(vm2, REG, &y))
			break;
		made++;
	}
	T_EQ(made, 1000, "1000 MMIO zones");
	struct kvm_coalesced_mmio_zone y = {0x200000, 0x100, {0}};
	T_ERR(ioctl(vm2, REG, &y), ENOSPC, "the 1001st MMIO zone: ENOSPC");
	y.pio = 1;
	T_EQ(ioctl(vm2, REG, &y), 0, "the PIO bus has its own room");
	y = (struct kvm_coalesced_mmio_zone){0x100000, 0x100000, {0}};
	T_EQ(ioctl(vm2, UNREG, &y), 0, "unregister a range holding none of them");
	y = (struct kvm_coalesced_mmio_zone){0x100000, 0x100, {0}};
	T_EQ(ioctl(vm2, UNREG, &y), 0, "unregister one zone");
	y.addr = 0x200000;
	T_EQ(ioctl(vm2, REG, &y), 0, "its room is free again");
	T_ERR(ioctl(vm2, REG, &y), ENOSPC, "and then full again");
	close(vm2);

	/* The ring: empty, and one page for all vCPUs of a VM */
	int v0 = t_create_vcpu(vm, 0), v1 = t_create_vcpu(vm, 1);
	long off = KVM_COALESCED_MMIO_PAGE_OFFSET * pg;
	struct kvm_coalesced_mmio_ring *r0 =
		mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, v0, off);
	struct kvm_coalesced_mmio_ring *r1 =
		mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, v1, off);
	if (r0 == MAP_FAILED || r1 == MAP_FAILED)
		T_BAIL("mmap the ring");
	T_OK(r0->first == 0 && r0->last == 0, "the ring starts empty");
	r0->first = 7;
	T_EQ(r1->first, 7, "vCPU 1's ring page is vCPU 0's");
	long sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	unsigned char *all = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, v1, 0);
	T_EQ(((struct kvm_coalesced_mmio_ring *)(all + off))->first, 7,
	     "a whole-vCPU mapping shows the same ring");
	struct kvm_run *run0 = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, v0, 0);
	run0->request_interrupt_window = 1;
	T_EQ(((struct kvm_run *)all)->request_interrupt_window, 0,
	     "while page 0 stays each vCPU's own kvm_run");
	run0->request_interrupt_window = 0;
	unsigned char *priv = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE, v1, 0);
	struct kvm_coalesced_mmio_ring *rp = (void *)(priv + off);
	T_EQ(rp->first, 7, "a private mapping reads the ring");
	rp->first = 9;
	T_EQ(r0->first, 7, "and its writes stay private");
	r0->first = 0;
	int v2 = t_create_vcpu(vm, 2);
	struct kvm_coalesced_mmio_ring *r2 =
		mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, v2, off);
	r0->last = 3;
	T_EQ(r2->last, 3, "a vCPU created later shares it too");
	r0->last = 0;
	int vm3 = t_create_vm(kvm);
	int w0 = t_create_vcpu(vm3, 0);
	struct kvm_coalesced_mmio_ring *q =
		mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, w0, off);
	r0->first = 5;
	T_EQ(q->first, 0, "another VM has its own ring");
	r0->first = 0;

	close(w0);
	close(vm3);
	close(v2);
	close(v1);
	close(v0);
	close(vm);
	close(kvm);
	return t_done();
}
