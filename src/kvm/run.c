/*
 * KVM_RUN: the seam between the API personality and the execution engine.
 *
 * Until the engine lands, no guest instruction is executed and KVM_RUN says
 * so the way real KVM does for code it cannot emulate: exit_reason
 * KVM_EXIT_INTERNAL_ERROR with suberror KVM_INTERNAL_ERROR_EMULATION.  The
 * capabilities that depend on running (IMMEDIATE_EXIT, SYNC_REGS, ...) read 0.
 */
#include <errno.h>
#include <string.h>

#include "kvm/kvm.h"
#include "kvm/stats.h"

long skvm_vcpu_run(struct skvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	skvm_stat_inc(vcpu->stats, VCPU_STAT_EXITS);
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	memset(&run->internal, 0, sizeof(run->internal));
	run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	run->internal.ndata = 0;
	run->apic_base = vcpu->cpu.apic_base;
	run->cr8 = vcpu->cpu.cr8;
	run->if_flag = !!(x86_get_rflags(&vcpu->cpu) & X86_FL_IF);
	run->ready_for_interrupt_injection = 0;
	return 0;
}
