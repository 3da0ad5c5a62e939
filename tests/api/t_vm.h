/*
 * Helpers shared by the VM-level conformance tests (memory slots, dirty log,
 * coalesced MMIO): a memory slot in one call, and a vCPU put in real mode at
 * 0:ip with flat 64 KiB segments, ES chosen by the caller.
 */
#ifndef SKVM_TEST_T_VM_H
#define SKVM_TEST_T_VM_H

#include "t.h"

__attribute__((unused)) static long t_set_region(int vm, unsigned slot, unsigned flags,
						 unsigned long long gpa,
						 unsigned long long size, unsigned long long hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = hva,
	};
	return ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r);
}

/* Real mode, CS = DS = SS = 0, ES = es, IP = ip, SP = 0x800; 0 or -1. */
__attribute__((unused)) static int t_real_mode(int vcpu, unsigned ip, unsigned es)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	if (ioctl(vcpu, KVM_GET_SREGS, &s))
		return -1;
	s.cs.base = 0;
	s.cs.selector = 0;
	s.ds = s.ss = s.es = s.cs;
	s.ds.type = s.ss.type = s.es.type = 3;
	s.es.selector = (unsigned short)es;
	s.es.base = (unsigned long long)es << 4;
	memset(&r, 0, sizeof(r));
	r.rip = ip;
	r.rflags = 2;
	r.rsp = 0x800;
	if (ioctl(vcpu, KVM_SET_SREGS, &s) || ioctl(vcpu, KVM_SET_REGS, &r))
		return -1;
	return 0;
}

/* The vCPU's kvm_run, mapped shared; bails out on failure. */
__attribute__((unused)) static struct kvm_run *t_map_run(int kvm, int vcpu)
{
	long sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	void *run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
	return run;
}

/*
 * Real-mode writers the dirty-log tests share, put at 0 and 0x100 of mem:
 *   0x000: mov byte [0x1000],1; mov byte [0x3000],2;
 *          mov ax,0x4600; mov es,ax; mov byte es:[0],3; hlt   (pages 1, 3, 70)
 *   0x100: mov byte [0x1001],4; hlt                          (page 1)
 */
__attribute__((unused)) static void t_load_page_writers(unsigned char *mem)
{
	static const unsigned char w13[] = {0xc6, 0x06, 0x00, 0x10, 0x01, 0xc6, 0x06, 0x00,
					    0x30, 0x02, 0xb8, 0x00, 0x46, 0x8e, 0xc0, 0x26,
					    0xc6, 0x06, 0x00, 0x00, 0x03, 0xf4};
	static const unsigned char w1[] = {0xc6, 0x06, 0x01, 0x10, 0x04, 0xf4};
	memcpy(mem, w13, sizeof(w13));
	memcpy(mem + 0x100, w1, sizeof(w1));
}

/* 64 KiB of guest RAM at GPA 0 (slot 0) with code[0..n) copied to at;
 * bails out on failure. */
__attribute__((unused)) static unsigned char *t_guest_ram64k(int vm, const void *code, size_t n,
							 unsigned at)
{
	unsigned char *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		T_BAIL("mmap");
	memcpy(mem + at, code, n);
	if (t_set_region(vm, 0, 0, 0, 0x10000, (unsigned long)mem))
		T_BAIL("memslot");
	return mem;
}

/*
 * vCPU 0 of vm in real mode at 0:ip with ES based at 0 and a 4 GiB limit
 * (so 32-bit addresses reach the LAPIC and IOAPIC pages), its kvm_run
 * mapped.  Returns the vCPU fd; bails out on failure.
 */
__attribute__((unused)) static int t_real_mode_flat_es(int vm, unsigned ip, struct kvm_run **run)
{
	int vcpu = t_create_vcpu(vm, 0);
	*run = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (*run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
	struct kvm_sregs s;
	if (t_real_mode(vcpu, ip, 0) || ioctl(vcpu, KVM_GET_SREGS, &s))
		T_BAIL("real mode");
	s.es.limit = 0xffffffff;
	s.es.g = 1;
	if (ioctl(vcpu, KVM_SET_SREGS, &s))
		T_BAIL("ES limit");
	return vcpu;
}

/* Run vcpu in real mode from 0:ip to its next exit: the port of a port
 * access (KVM_EXIT_IO), or -1 for anything else. */
__attribute__((unused)) static int t_run_port(int vcpu, struct kvm_run *run, unsigned ip)
{
	t_real_mode(vcpu, ip, 0);
	if (ioctl(vcpu, KVM_RUN, 0) || run->exit_reason != KVM_EXIT_IO)
		return -1;
	return run->io.port;
}

/* KVM_GET_MSRS / KVM_SET_MSRS of one MSR on fd (a vCPU, or /dev/kvm for
 * feature MSRs): the ioctl's result, the number of MSRs done. */
__attribute__((unused)) static int t_msr_get(int fd, unsigned index, unsigned long long *v)
{
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e;
	} q = {{.nmsrs = 1}, {.index = index}};
	int r = ioctl(fd, KVM_GET_MSRS, &q);
	*v = q.e.data;
	return r;
}

__attribute__((unused)) static int t_msr_set(int fd, unsigned index, unsigned long long v)
{
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e;
	} q = {{.nmsrs = 1}, {.index = index, .data = v}};
	return ioctl(fd, KVM_SET_MSRS, &q);
}

#endif
