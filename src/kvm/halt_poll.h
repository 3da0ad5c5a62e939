/* Halt polling (kvm/halt_poll.c): KVM's kvm_vcpu_halt for the in-kernel LAPIC. */
#ifndef SOFTKVM_KVM_HALT_POLL_H
#define SOFTKVM_KVM_HALT_POLL_H

#include "kvm/kvm.h"

struct skvm_halt {
	u64 start, poll_end; /* CLOCK_MONOTONIC ns */
	bool polled;
};

/* The vCPU halted and has nothing to run: poll for up to its window.
 * true: it was kicked or can run (no sleep); false: sleep, then
 * skvm_halt_poll_done.  signal(opaque): a signal ends KVM_RUN. */
bool skvm_halt_poll(struct skvm_vcpu *vcpu, struct skvm_halt *h, bool (*signal)(void *),
		    void *opaque);
/* After the halt ended; waited: the thread slept.  Statistics, and the
 * window grows or shrinks. */
void skvm_halt_poll_done(struct skvm_vcpu *vcpu, struct skvm_halt *h, bool waited);
/* KVM_ENABLE_CAP(KVM_CAP_HALT_POLL) on the VM */
long skvm_halt_poll_enable_cap(struct skvm_vm *vm, u64 arg);

#endif
