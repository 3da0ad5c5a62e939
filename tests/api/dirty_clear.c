/*
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and KVM_CLEAR_DIRTY_LOG (KVM API 4.117,
 * 7.18): the enable rules, every errno of the clear ioctl, the log kept by
 * KVM_GET_DIRTY_LOG in manual mode and re-armed page by page by the clear,
 * KVM_DIRTY_LOG_INITIALLY_SET, and logging toggled on a live slot.
 */
#include "t_vm.h"

#define PG 4096ULL
#define NPAGES 128 /* slot 0: [0, 512 KiB), logged */

static int vm, vcpu;
static struct kvm_run *run;
static unsigned long long bm[4];

static long enable(unsigned long long flags, unsigned cflags)
{
	struct kvm_enable_cap c = {.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, .flags = cflags};
	c.args[0] = flags;
	return ioctl(vm, KVM_ENABLE_CAP, &c);
}

static long get(unsigned slot)
{
	memset(bm, 0, sizeof(bm));
	struct kvm_dirty_log l = {.slot = slot, .dirty_bitmap = bm};
	return ioctl(vm, KVM_GET_DIRTY_LOG, &l);
}

static long clear(unsigned slot, unsigned long long first, unsigned num, void *mask)
{
	struct kvm_clear_dirty_log l = {.slot = slot, .num_pages = num, .first_page = first,
					.dirty_bitmap = mask};
	return ioctl(vm, KVM_CLEAR_DIRTY_LOG, &l);
}

/* Real mode at 0:ip until an exit; the exit reason or -1. */
static int run_from(unsigned ip)
{
	if (t_real_mode(vcpu, ip, 0) || ioctl(vcpu, KVM_RUN, 0))
		return -1;
	return run->exit_reason;
}

int main(void)
{
	int kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	unsigned char *mem = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *m2 = mmap(NULL, 67 * PG, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || m2 == MAP_FAILED)
		T_BAIL("mmap");
	t_load_page_writers(mem);
	/* 0x200: mov ax,0x8200; mov es,ax; mov byte es:[0],5; hlt  (page 2 of slot 1) */
	static const unsigned char w2[] = {0xb8, 0x00, 0x82, 0x8e, 0xc0, 0x26,
					   0xc6, 0x06, 0x00, 0x00, 0x05, 0xf4};
	memcpy(mem + 0x200, w2, sizeof(w2));

	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2),
	     KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET,
	     "MANUAL_DIRTY_LOG_PROTECT2 reports ENABLE | INITIALLY_SET");
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2),
	     KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET,
	     "the same on the VM fd");

	/* Enable rules (kvm_vm_ioctl_enable_cap_generic). */
	T_ERR(enable(KVM_DIRTY_LOG_INITIALLY_SET, 0), EINVAL, "INITIALLY_SET alone is refused");
	T_ERR(enable(4, 0), EINVAL, "unknown flag 4 is refused");
	T_ERR(enable(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | 4, 0), EINVAL,
	      "ENABLE with an unknown flag is refused");
	T_ERR(enable(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, 1), EINVAL, "cap flags must be 0");
	T_EQ(enable(0, 0), 0, "0 (off) is accepted");

	T_EQ(t_set_region(vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, NPAGES * PG, (unsigned long)mem), 0,
	     "slot 0: 128 logged pages at 0");
	T_EQ(t_set_region(vm, 2, 0, 0x100000, PG, (unsigned long)m2 + 66 * PG), 0,
	     "slot 2: an unlogged page at 1 MiB");
	vcpu = t_create_vcpu(vm, 0);
	run = t_map_run(kvm, vcpu);

	/* Errors of KVM_CLEAR_DIRTY_LOG (kvm_clear_dirty_log_protect), in
	 * its order: slot number, first_page alignment, slot, range, mask. */
	unsigned long long ones[4] = {~0ULL, ~0ULL, ~0ULL, ~0ULL};
	T_ERR(ioctl(vm, KVM_CLEAR_DIRTY_LOG, T_BADPTR), EFAULT, "clear: bad argument pointer");
	T_ERR(clear(2 << 16, 0, 64, ones), EINVAL, "clear: address space 2");
	T_ERR(clear(32764, 0, 64, ones), EINVAL, "clear: slot id 32764");
	T_ERR(clear(0, 1, 64, ones), EINVAL, "clear: first_page not a multiple of 64");
	T_ERR(clear(5, 1, 64, ones), EINVAL, "clear: alignment is checked before the slot");
	T_ERR(clear(5, 0, 64, ones), ENOENT, "clear: no such slot");
	T_ERR(clear(2, 0, 1, ones), ENOENT, "clear: slot without logging");
	T_ERR(clear(0, 192, 0, ones), EINVAL, "clear: first_page beyond the slot");
	T_ERR(clear(0, 64, 65, ones), EINVAL, "clear: range beyond the slot");
	T_ERR(clear(0, 0, 65, ones), EINVAL, "clear: num_pages not a multiple of 64 short of the end");
	T_ERR(clear(0, 0, 64, T_BADPTR), EFAULT, "clear: bad bitmap pointer");
	T_EQ(clear(0, 128, 0, T_BADPTR), 0, "clear: nothing at the very end, mask unread");
	T_EQ(clear(0, 0, 128, ones), 0, "clear: the whole slot");
	T_EQ(clear(0, 64, 64, ones), 0, "clear: the second half");
	T_ERR(get(2), ENOENT, "get: slot without logging");

	/* Without manual protection KVM_GET_DIRTY_LOG clears, and
	 * KVM_CLEAR_DIRTY_LOG works as well. */
	T_EQ(run_from(0), KVM_EXIT_HLT, "guest writes pages 1, 3, 70");
	T_EQ(get(0), 0, "get (automatic mode)");
	T_OK(bm[0] == (1ULL << 1 | 1ULL << 3) && bm[1] == 1ULL << 6,
	     "pages 1, 3, 70 dirty (%#llx %#llx)", bm[0], bm[1]);
	get(0);
	T_OK(!bm[0] && !bm[1], "automatic mode: the log was cleared by the first get");
	T_EQ(run_from(0x100), KVM_EXIT_HLT, "guest writes page 1");
	T_EQ(clear(0, 0, 64, ones), 0, "automatic mode: clear is accepted too");
	get(0);
	T_OK(!bm[0] && !bm[1], "and it cleared page 1");

	/* Manual protection: get reports without clearing; clear re-arms
	 * exactly the pages of the mask. */
	T_EQ(enable(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, 0), 0, "enable manual protection");
	T_EQ(run_from(0), KVM_EXIT_HLT, "guest writes pages 1, 3, 70 again");
	get(0);
	T_OK(bm[0] == (1ULL << 1 | 1ULL << 3) && bm[1] == 1ULL << 6, "manual: pages 1, 3, 70");
	get(0);
	T_OK(bm[0] == (1ULL << 1 | 1ULL << 3) && bm[1] == 1ULL << 6,
	     "manual: get does not clear (%#llx %#llx)", bm[0], bm[1]);
	unsigned long long m[2] = {1ULL << 1, 0};
	T_EQ(clear(0, 0, 128, m), 0, "clear page 1 only");
	get(0);
	T_OK(bm[0] == 1ULL << 3 && bm[1] == 1ULL << 6, "pages 3 and 70 remain (%#llx %#llx)",
	     bm[0], bm[1]);
	T_EQ(run_from(0x100), KVM_EXIT_HLT, "guest writes page 1 after its clear");
	get(0);
	T_OK(bm[0] == (1ULL << 1 | 1ULL << 3) && bm[1] == 1ULL << 6,
	     "page 1 is dirty again (re-armed by the clear)");
	m[0] = 1ULL << 6;
	T_EQ(clear(0, 64, 64, m), 0, "clear page 70 through first_page 64");
	get(0);
	T_OK(bm[0] == (1ULL << 1 | 1ULL << 3) && !bm[1], "page 70 cleared, 1 and 3 not");
	T_EQ(clear(0, 0, 128, ones), 0, "clear all");
	get(0);
	T_OK(!bm[0] && !bm[1], "manual: log empty after clearing all");

	/* INITIALLY_SET: a slot that starts logging starts all dirty. */
	T_EQ(enable(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET, 0), 0,
	     "enable manual protection with INITIALLY_SET");
	T_EQ(t_set_region(vm, 1, KVM_MEM_LOG_DIRTY_PAGES, 0x80000, 64 * PG, (unsigned long)m2), 0,
	     "slot 1: 64 logged pages at 512 KiB");
	get(1);
	T_OK(bm[0] == ~0ULL && !bm[1], "INITIALLY_SET: all 64 pages start dirty");
	T_EQ(clear(1, 0, 64, ones), 0, "clear slot 1");
	get(1);
	T_EQ(bm[0], 0, "slot 1 clean after the clear");
	T_EQ(run_from(0x200), KVM_EXIT_HLT, "guest writes page 2 of slot 1");
	get(1);
	T_EQ(bm[0], 1ULL << 2, "slot 1: page 2 dirty");
	T_EQ(t_set_region(vm, 1, 0, 0x80000, 64 * PG, (unsigned long)m2), 0,
	     "slot 1: logging off (live toggle)");
	T_ERR(get(1), ENOENT, "no log while logging is off");
	T_EQ(run_from(0x200), KVM_EXIT_HLT, "guest writes page 2 unlogged");
	T_EQ(t_set_region(vm, 1, KVM_MEM_LOG_DIRTY_PAGES, 0x80000, 64 * PG, (unsigned long)m2),
	     0, "slot 1: logging on again");
	get(1);
	T_EQ(bm[0], ~0ULL, "INITIALLY_SET applies to logging turned on again");
	T_EQ(enable(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, 0), 0, "INITIALLY_SET off");
	T_EQ(t_set_region(vm, 1, 0, 0x80000, 64 * PG, (unsigned long)m2), 0, "slot 1: off");
	T_EQ(t_set_region(vm, 1, KVM_MEM_LOG_DIRTY_PAGES, 0x80000, 64 * PG, (unsigned long)m2),
	     0, "slot 1: on, without INITIALLY_SET");
	get(1);
	T_EQ(bm[0], 0, "the new log starts clean");
	T_EQ(run_from(0x200), KVM_EXIT_HLT, "guest writes page 2 of slot 1 again");
	get(1);
	T_EQ(bm[0], 1ULL << 2, "and it is logged");

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
