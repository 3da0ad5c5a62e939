/* Memory slot changes as a guest sees them at its next KVM_RUN: a slot
 * replaced, moved, deleted (its range becomes MMIO), re-backed by a new
 * slot, and a read-only slot (KVM API 4.35). */
#include "t_vm.h"

static int vm, vcpu;
static struct kvm_run *run;

static long set(unsigned slot, unsigned flags, unsigned long long gpa, unsigned long long size,
		void *hva)
{
	return t_set_region(vm, slot, flags, gpa, size, (unsigned long)hva);
}

/*
 * Guest at 0:0 reads the byte at seg:0 into AL and halts.  An MMIO read on
 * the way is answered with 0x33.  Returns AL, or -1.
 */
static int guest_read(unsigned seg)
{
	struct kvm_regs r;
	if (t_real_mode(vcpu, 0, seg))
		return -1;
	for (int n = 0; n < 4; n++) {
		if (ioctl(vcpu, KVM_RUN, 0))
			return -1;
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		if (run->exit_reason != KVM_EXIT_MMIO || run->mmio.is_write)
			return -1;
		run->mmio.data[0] = 0x33;
	}
	if (ioctl(vcpu, KVM_GET_REGS, &r))
		return -1;
	return (int)(r.rax & 0xff);
}

int main(void)
{
	const long pg = 4096;
	int kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	unsigned char *code = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *a = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *b = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED || a == MAP_FAILED || b == MAP_FAILED)
		T_BAIL("mmap");
	static const unsigned char prog[] = {0x26, 0xa0, 0x00, 0x00, 0xf4}; /* mov al,[es:0]; hlt */
	memcpy(code, prog, sizeof(prog));
	a[0] = 0x11;
	b[0] = 0x22;
	if (set(0, 0, 0, pg, code))
		T_BAIL("code slot");
	vcpu = t_create_vcpu(vm, 0);
	run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");

	T_EQ(guest_read(0x1000), 0x33, "no slot at 0x10000: the read exits as MMIO");
	T_EQ(set(1, 0, 0x10000, pg, a), 0, "slot 1 at 0x10000 backed by A");
	T_EQ(guest_read(0x1000), 0x11, "the guest reads A");
	a[0] = 0x12;
	T_EQ(guest_read(0x1000), 0x12, "the VMM's write to A shows");
	T_EQ(set(1, 0, 0x20000, pg, a), 0, "move slot 1 to 0x20000");
	T_EQ(guest_read(0x1000), 0x33, "its old place is MMIO");
	T_EQ(guest_read(0x2000), 0x12, "its new place reads A");
	T_EQ(set(2, 0, 0x10000, pg, b), 0, "slot 2 at 0x10000 backed by B");
	T_EQ(guest_read(0x1000), 0x22, "the guest reads B there");
	T_EQ(set(1, 0, 0, 0, NULL), 0, "delete slot 1");
	T_EQ(guest_read(0x2000), 0x33, "its range is MMIO again");
	T_EQ(set(1, KVM_MEM_READONLY, 0x20000, pg, a), 0, "slot 1 back, read-only");
	T_EQ(guest_read(0x2000), 0x12, "a read-only slot reads like RAM");
	T_EQ(set(1, KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES, 0x20000, pg, a), 0,
	     "flags change on it");
	T_EQ(guest_read(0x2000), 0x12, "reads the same after a flags change");

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
