/* KVM_GET_DIRTY_LOG (KVM API 4.8) without running guest code: which slots
 * have a log, its size (one bit a page, in 64-bit words), the errors, and
 * that writes by the VMM itself are not logged. */
#include "t_vm.h"

static int vm;

static long set(unsigned slot, unsigned flags, unsigned long long gpa, unsigned long long size,
		void *hva)
{
	return t_set_region(vm, slot, flags, gpa, size, (unsigned long)hva);
}

static long get(unsigned slot, void *bitmap)
{
	struct kvm_dirty_log l = {.slot = slot, .dirty_bitmap = bitmap};
	return ioctl(vm, KVM_GET_DIRTY_LOG, &l);
}

int main(void)
{
	const long pg = 4096;
	int kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	unsigned char *mem = mmap(NULL, 128 * pg, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || two == MAP_FAILED)
		T_BAIL("mmap");
	/* A guard page, not a hole: a later mapping could fill a hole. */
	mprotect(two + pg, pg, PROT_NONE);
	unsigned char *end = two + pg; /* first byte of the guard page */

	T_EQ(set(0, KVM_MEM_LOG_DIRTY_PAGES, 0, 16 * pg, mem), 0, "16-page slot with a log");
	T_EQ(set(1, 0, 0x100000, 16 * pg, mem), 0, "slot without a log");
	T_EQ(set(2, KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY, 0x200000, 16 * pg, mem), 0,
	     "read-only slot with a log");
	T_EQ(set(3, KVM_MEM_LOG_DIRTY_PAGES, 0x300000, 65 * pg, mem), 0, "65-page slot with a log");

	unsigned long long bm[4] = {~0ULL, ~0ULL, ~0ULL, ~0ULL};
	T_EQ(get(0, bm), 0, "KVM_GET_DIRTY_LOG of a fresh slot");
	T_EQ(bm[0], 0, "a fresh log is clean");
	T_EQ(bm[1], ~0ULL, "16 pages fill one 64-bit word, no more");
	mem[0] = 1;
	mem[5 * pg] = 1;
	T_EQ(get(0, bm), 0, "KVM_GET_DIRTY_LOG after the VMM wrote to the memory");
	T_EQ(bm[0], 0, "writes through the VMM's own mapping are not logged");
	T_EQ(get(2, bm), 0, "KVM_GET_DIRTY_LOG of a read-only slot");
	T_EQ(get(3, end - 16), 0, "65 pages take two words");
	T_ERR(get(3, end - 8), EFAULT, "65 pages do not fit one word");
	T_EQ(get(0, end - 8), 0, "16 pages fit one word at a mapping's end");
	T_ERR(get(0, end - 4), EFAULT, "nor half a word");

	T_ERR(get(1, bm), ENOENT, "slot without a log: ENOENT");
	T_ERR(get(7, bm), ENOENT, "slot that does not exist: ENOENT");
	T_ERR(get(1, T_BADPTR), ENOENT, "ENOENT before the bitmap is touched");
	long nslots = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	T_ERR(get((unsigned)nslots, bm), EINVAL, "slot id NR_MEMSLOTS");
	T_ERR(get(0xffff, bm), EINVAL, "slot id 0xffff");
	T_ERR(get(0x20000, bm), EINVAL, "address space 2");
	T_ERR(get(0, T_BADPTR), EFAULT, "bad bitmap pointer");
	T_ERR(get(0, NULL), EFAULT, "NULL bitmap pointer");
	T_ERR(ioctl(vm, KVM_GET_DIRTY_LOG, T_BADPTR), EFAULT, "bad struct pointer");
	T_ERR(ioctl(vm, KVM_GET_DIRTY_LOG, end - 8), EFAULT, "struct crossing a mapping's end");
	struct kvm_dirty_log l = {.slot = 0, .padding1 = 0x1234, .dirty_bitmap = bm};
	T_EQ(ioctl(vm, KVM_GET_DIRTY_LOG, &l), 0, "padding is ignored");
	T_ERR(ioctl(kvm, KVM_GET_DIRTY_LOG, &l), EINVAL, "on the system fd");

	/* Logging follows the flags */
	T_EQ(set(1, KVM_MEM_LOG_DIRTY_PAGES, 0x100000, 16 * pg, mem), 0, "turn logging on");
	T_EQ(get(1, bm), 0, "the slot now has a log");
	T_EQ(bm[0], 0, "and it starts clean");
	T_EQ(set(1, 0, 0x100000, 16 * pg, mem), 0, "turn logging off");
	T_ERR(get(1, bm), ENOENT, "the log is gone");
	T_EQ(set(0, KVM_MEM_LOG_DIRTY_PAGES, 0x400000, 16 * pg, mem), 0, "move a logging slot");
	T_EQ(get(0, bm), 0, "a moved slot keeps logging");
	T_EQ(set(0, 0, 0, 0, NULL), 0, "delete it");
	T_ERR(get(0, bm), ENOENT, "a deleted slot has no log");

	close(vm);
	close(kvm);
	return t_done();
}
