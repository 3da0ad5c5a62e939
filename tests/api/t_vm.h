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

#endif
