/* KVM_SET_USER_MEMORY_REGION (KVM API 4.35): create, move, flags change,
 * delete, and every rule kvm_set_memory_region() enforces. */
#include "t_vm.h"

static int vm;

static long set(unsigned int slot, unsigned int flags, unsigned long long gpa,
		unsigned long long size, unsigned long long hva)
{
	return t_set_region(vm, slot, flags, gpa, size, hva);
}

int main(void)
{
	int kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	const long pg = 4096;
	unsigned char *mem = mmap(NULL, 64 * pg, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		T_BAIL("mmap");
	unsigned long long hva = (unsigned long)mem;

	long nslots = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	T_OBS("nr_memslots", "%ld", nslots);
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS), nslots,
	     "NR_MEMSLOTS is the same on the VM fd");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM), 1, "KVM_CAP_READONLY_MEM");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_MMU), 1, "KVM_CAP_SYNC_MMU");

	/* Create */
	T_EQ(set(0, 0, 0, 16 * pg, hva), 0, "create slot 0");
	T_EQ(set(0, 0, 0, 16 * pg, hva), 0, "setting the same slot again is a no-op");
	T_EQ(set(1, 0, 0x100000, 4 * pg, hva + 16 * pg), 0, "create slot 1");

	/* Overlap within an address space */
	T_ERR(set(2, 0, 15 * pg, 2 * pg, hva + 20 * pg), EEXIST, "overlap at the end of slot 0");
	T_ERR(set(2, 0, 0x100000 - pg, 2 * pg, hva + 20 * pg), EEXIST,
	      "overlap at the start of slot 1");
	T_ERR(set(2, 0, 4 * pg, pg, hva + 20 * pg), EEXIST, "slot inside slot 0");
	T_ERR(set(2, 0, 0, 0x200000, hva + 20 * pg), EEXIST, "slot covering slots 0 and 1");
	T_EQ(set(2, 0, 16 * pg, pg, hva + 20 * pg), 0, "adjacent slot is fine");
	T_EQ(set(3, 0, 0x200000, pg, hva), 0, "two slots may share host memory");

	/* Move */
	T_EQ(set(2, 0, 32 * pg, pg, hva + 20 * pg), 0, "move slot 2");
	T_ERR(set(2, 0, 0x100000, pg, hva + 20 * pg), EEXIST, "move onto slot 1");
	T_EQ(set(2, 0, 16 * pg, pg, hva + 20 * pg), 0, "move slot 2 back");

	/* No resize, no re-backing */
	T_ERR(set(1, 0, 0x100000, 8 * pg, hva + 16 * pg), EINVAL, "grow a slot");
	T_ERR(set(1, 0, 0x100000, 2 * pg, hva + 16 * pg), EINVAL, "shrink a slot");
	T_ERR(set(1, 0, 0x100000, 4 * pg, hva + 32 * pg), EINVAL, "re-back a slot");
	T_ERR(set(1, 0, 0x200000, 4 * pg, hva + 32 * pg), EINVAL, "move and re-back a slot");

	/* Flags: dirty logging toggles, READONLY does not. */
	T_EQ(set(1, KVM_MEM_LOG_DIRTY_PAGES, 0x100000, 4 * pg, hva + 16 * pg), 0,
	     "turn dirty logging on");
	T_EQ(set(1, 0, 0x100000, 4 * pg, hva + 16 * pg), 0, "turn dirty logging off");
	T_ERR(set(1, KVM_MEM_READONLY, 0x100000, 4 * pg, hva + 16 * pg), EINVAL,
	      "make a live slot read-only");
	T_EQ(set(4, KVM_MEM_READONLY, 0x300000, 2 * pg, hva), 0, "create a read-only slot");
	T_ERR(set(4, 0, 0x300000, 2 * pg, hva), EINVAL, "make a read-only slot writable");
	T_EQ(set(4, KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES, 0x300000, 2 * pg, hva), 0,
	     "dirty logging on a read-only slot");
	T_EQ(set(4, KVM_MEM_READONLY, 0x400000, 2 * pg, hva), 0,
	     "move a read-only slot and drop logging");
	for (unsigned bit = 2; bit < 32; bit++) {
		T_ERR(set(5, 1u << bit, 0x500000, pg, hva), EINVAL, "unknown flag bit %u", bit);
		T_ERR(set(4, KVM_MEM_READONLY | (1u << bit), 0x400000, 2 * pg, hva), EINVAL,
		      "unknown flag bit %u on a live slot", bit);
	}

	/* Delete */
	T_EQ(set(2, 0, 0, 0, 0), 0, "delete slot 2 (size 0, other fields ignored)");
	T_ERR(set(2, 0, 16 * pg, 0, hva + 20 * pg), EINVAL, "delete slot 2 again");
	T_ERR(set(100, 0, 0, 0, 0), EINVAL, "delete a slot that never existed");
	T_EQ(set(2, 0, 0x100000 - pg, pg, hva), 0, "space of a deleted slot is free");
	T_EQ(set(4, KVM_MEM_READONLY, 0, 0, 0), 0, "delete the read-only slot");
	T_EQ(set(4, 0, 0x400000, pg, hva), 0, "re-create a deleted id with new flags");

	/* Alignment */
	T_ERR(set(6, 0, 0x600000 + 0x800, pg, hva), EINVAL, "unaligned guest_phys_addr");
	T_ERR(set(6, 0, 0x600000, pg + 1, hva), EINVAL, "unaligned memory_size");
	T_ERR(set(6, 0, 0x600000, pg, hva + 8), EINVAL, "unaligned userspace_addr");
	T_ERR(set(6, 0, 0x600000, 0x800, hva), EINVAL, "memory_size below a page");

	/* Ranges */
	T_ERR(set(6, 0, 0xfffffffffffff000ULL, 2 * pg, hva), EINVAL, "guest range wraps");
	T_ERR(set(6, 0, 0x600000, pg, 0xffff800000000000ULL), EINVAL,
	      "userspace_addr in the kernel half");
	T_ERR(set(6, 0, 0x600000, 2 * pg, 0x7ffffffff000ULL), EINVAL,
	      "host range crosses the top of user space");
	T_ERR(set(6, 0, 0x600000, pg, 0xfffffffffffff000ULL), EINVAL, "host range wraps");
	T_EQ(set(6, 0, 0x600000, pg, 0x7fffffffe000ULL), 0,
	     "host range ending at the top of user space (unmapped is fine)");
	T_EQ(set(6, 0, 0, 0, 0), 0, "delete it");
	T_EQ(set(6, 0, 0xffffffffff000ULL, pg, hva), 0, "last page below 2^52");
	T_ERR(set(7, 0, 0x10000000000000ULL, pg, hva), EINVAL, "gpa beyond 52 bits");
	T_ERR(set(6, 0, 0x10000000000000ULL, pg, hva), EINVAL, "move beyond 52 bits");
	T_ERR(set(7, 0, 0x1000000000000ULL, 1ULL << 43, hva), EINVAL,
	      "more than KVM_MEM_MAX_NR_PAGES pages");

	/* Slot ids */
	T_EQ(set((unsigned)nslots - 1, 0, 0x700000, pg, hva), 0, "highest slot id");
	T_ERR(set((unsigned)nslots, 0, 0x800000, pg, hva), EINVAL, "slot id NR_MEMSLOTS");
	T_ERR(set(0xffff, 0, 0x800000, pg, hva), EINVAL, "slot id 0xffff");
	T_ERR(set((unsigned)nslots, 0, 0, 0, 0), EINVAL, "delete slot id NR_MEMSLOTS");

	/* Address spaces: bits 16-31 select one, below MULTI_ADDRESS_SPACE. */
	long nas = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE);
	T_EQ(nas, 2, "KVM_CAP_MULTI_ADDRESS_SPACE is 2 on x86 (normal and SMM)");
	T_EQ(set(1u << 16, 0, 0, 16 * pg, hva), 0, "address space 1 may overlap address space 0");
	T_ERR(set(1u << 16 | 1, 0, 4 * pg, pg, hva), EEXIST, "overlap within address space 1");
	T_EQ(set(1u << 16 | 1, 0, 16 * pg, pg, hva), 0, "second slot in address space 1");
	T_EQ(set(1u << 16 | 1, 0, 0, 0, 0), 0, "delete in address space 1");
	T_ERR(set(1u << 16 | 1, 0, 0, 0, 0), EINVAL, "delete a missing slot in address space 1");
	T_EQ(set(1u << 16, 0, 0, 0, 0), 0, "delete slot 0 of address space 1");
	T_EQ(set(0, 0, 0, 16 * pg, hva), 0, "slot 0 of address space 0 is untouched");
	T_ERR(set(2u << 16, 0, 0x900000, pg, hva), EINVAL, "address space 2");
	T_ERR(set(0xffffu << 16, 0, 0x900000, pg, hva), EINVAL, "address space 0xffff");

	/* Pointers */
	T_ERR(ioctl(vm, KVM_SET_USER_MEMORY_REGION, T_BADPTR), EFAULT, "bad pointer");
	T_ERR(ioctl(vm, KVM_SET_USER_MEMORY_REGION, NULL), EFAULT, "NULL pointer");
	unsigned char *none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_ERR(ioctl(vm, KVM_SET_USER_MEMORY_REGION, none), EFAULT, "PROT_NONE pointer");
	/* The struct straddles into an unmapped page. */
	unsigned char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* A guard page, not a hole: a later mapping could fill a hole. */
	mprotect(two + pg, pg, PROT_NONE);
	T_ERR(ioctl(vm, KVM_SET_USER_MEMORY_REGION, two + pg - 8), EFAULT,
	      "struct straddling an unmapped page");

	/* Wrong fd types */
	struct kvm_userspace_memory_region r = {.slot = 9, .guest_phys_addr = 0xa00000,
						 .memory_size = pg, .userspace_addr = hva};
	T_ERR(ioctl(kvm, KVM_SET_USER_MEMORY_REGION, &r), EINVAL, "on the system fd");
	int vcpu = t_create_vcpu(vm, 0);
	T_ERR(ioctl(vcpu, KVM_SET_USER_MEMORY_REGION, &r), EINVAL, "on a vCPU fd");

	/* Slots can still change after a vCPU exists. */
	T_EQ(set(9, 0, 0xa00000, pg, hva), 0, "create a slot with a vCPU present");
	T_EQ(set(9, 0, 0xb00000, pg, hva), 0, "move a slot with a vCPU present");
	T_EQ(set(9, 0, 0, 0, 0), 0, "delete a slot with a vCPU present");

	/* Many slots */
	int ok = 1;
	for (unsigned i = 0; i < 512 && ok; i++)
		ok = set(1000 + i, 0, 0x40000000ULL + i * pg, pg, hva) == 0;
	T_OK(ok, "512 more slots");
	ok = 1;
	for (unsigned i = 0; i < 512 && ok; i++)
		ok = set(1000 + i, 0, 0, 0, 0) == 0;
	T_OK(ok, "delete them");

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
