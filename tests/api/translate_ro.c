/* Page tables in a KVM_MEM_READONLY slot whose host mapping is read-only:
 * the walker (KVM_TRANSLATE here) must not write accessed bits into them,
 * as KVM's walker skips read-only slots; and a walk through tables in a
 * logging slot marks the table pages dirty. */
#include "t.h"

#define P 1ULL
#define RW 2ULL
#define A (1ULL << 5)
#define PS (1ULL << 7)

static int set_long(int vcpu, uint64_t cr3)
{
	struct kvm_sregs s;
	if (ioctl(vcpu, KVM_GET_SREGS, &s))
		T_BAIL("KVM_GET_SREGS");
	s.cr0 = 1 | (1ULL << 4) | (1ULL << 31);
	s.cr4 = 1 << 5;
	s.efer = (1 << 8) | (1 << 10);
	s.cr3 = cr3;
	s.cs.l = 1;
	s.cs.db = 0;
	return ioctl(vcpu, KVM_SET_SREGS, &s);
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	const size_t pt_size = 3 * 4096, ram_size = 4 << 20;

	uint8_t *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *pt = mmap(NULL, pt_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED || pt == MAP_FAILED)
		T_BAIL("mmap");
	/* PML4 at 0x400000, PDPT at +0x1000, PD at +0x2000 mapping 2 MiB pages. */
	const uint64_t base = 4 << 20;
	pt[0] = (base + 0x1000) | P | RW;
	pt[512] = (base + 0x2000) | P | RW;
	pt[1024] = 0x000000 | P | RW | PS;
	pt[1025] = 0x200000 | P | RW | PS;
	if (mprotect(pt, pt_size, PROT_READ))
		T_BAIL("mprotect");

	struct kvm_userspace_memory_region r0 = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = ram_size,
		.userspace_addr = (uintptr_t)ram};
	struct kvm_userspace_memory_region r1 = {
		.slot = 1, .flags = KVM_MEM_READONLY, .guest_phys_addr = base,
		.memory_size = pt_size, .userspace_addr = (uintptr_t)pt};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r0) ||
	    ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r1))
		T_BAIL("KVM_SET_USER_MEMORY_REGION");
	int vcpu = t_create_vcpu(vm, 0);
	T_EQ(set_long(vcpu, base), 0, "4-level paging with tables in a read-only slot");

	struct kvm_translation tr = {.linear_address = 0x201234};
	T_EQ(ioctl(vcpu, KVM_TRANSLATE, &tr), 0, "KVM_TRANSLATE through read-only tables");
	T_EQ(tr.valid, 1, "the translation is valid");
	T_EQ(tr.physical_address, 0x201234, "and lands on the 2 MiB page");
	T_EQ(pt[0] & A, 0, "no accessed bit written into the read-only PML4");
	T_EQ(pt[1025] & A, 0, "no accessed bit written into the read-only PD");

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
