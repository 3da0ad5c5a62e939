/* vCPU ioctl dispatch and the generic vCPU ioctls. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "kvm/kvm.h"
#include "kvm/pvclock.h"
#include "kvm/irqchip_vm.h"
#include "kvm/x86_ioctl.h"

static void regs_get(const struct x86_cpu *c, struct kvm_regs *r)
{
	r->rax = c->gpr[R_RAX];
	r->rbx = c->gpr[R_RBX];
	r->rcx = c->gpr[R_RCX];
	r->rdx = c->gpr[R_RDX];
	r->rsi = c->gpr[R_RSI];
	r->rdi = c->gpr[R_RDI];
	r->rsp = c->gpr[R_RSP];
	r->rbp = c->gpr[R_RBP];
	r->r8 = c->gpr[R_R8];
	r->r9 = c->gpr[R_R9];
	r->r10 = c->gpr[R_R10];
	r->r11 = c->gpr[R_R11];
	r->r12 = c->gpr[R_R12];
	r->r13 = c->gpr[R_R13];
	r->r14 = c->gpr[R_R14];
	r->r15 = c->gpr[R_R15];
	r->rip = c->rip;
	r->rflags = x86_get_rflags(c);
}

static void regs_set(struct x86_cpu *c, const struct kvm_regs *r)
{
	c->gpr[R_RAX] = r->rax;
	c->gpr[R_RBX] = r->rbx;
	c->gpr[R_RCX] = r->rcx;
	c->gpr[R_RDX] = r->rdx;
	c->gpr[R_RSI] = r->rsi;
	c->gpr[R_RDI] = r->rdi;
	c->gpr[R_RSP] = r->rsp;
	c->gpr[R_RBP] = r->rbp;
	c->gpr[R_R8] = r->r8;
	c->gpr[R_R9] = r->r9;
	c->gpr[R_R10] = r->r10;
	c->gpr[R_R11] = r->r11;
	c->gpr[R_R12] = r->r12;
	c->gpr[R_R13] = r->r13;
	c->gpr[R_R14] = r->r14;
	c->gpr[R_R15] = r->r15;
	c->rip = r->rip;
	x86_set_rflags(c, r->rflags);
}

void skvm_regs_get(const struct x86_cpu *c, struct kvm_regs *r)
{
	regs_get(c, r);
}

void skvm_regs_set(struct x86_cpu *c, const struct kvm_regs *r)
{
	regs_set(c, r);
}

static long set_signal_mask(struct skvm_vcpu *vcpu, unsigned long arg)
{
	if (!arg) {
		vcpu->sigmask_set = false;
		return 0;
	}
	struct kvm_signal_mask hdr;
	if (skvm_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	/* The kernel's sigset is 8 bytes on x86-64. */
	if (hdr.len != 8)
		return -EINVAL;
	u64 bits;
	if (skvm_copy_from_user(&bits, arg + sizeof(hdr), sizeof(bits)))
		return -EFAULT;
	/* SIGKILL and SIGSTOP cannot be blocked (kvm_vcpu_ioctl_set_sigmask). */
	bits &= ~(BIT(SIGKILL - 1) | BIT(SIGSTOP - 1));
	sigemptyset(&vcpu->sigmask);
	for (int s = 1; s <= 64; s++)
		if (bits & BIT(s - 1))
			sigaddset(&vcpu->sigmask, s);
	vcpu->sigmask_set = true;
	return 0;
}

long skvm_vcpu_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg)
{
	long r;
	if (cmd == KVM_RUN) {
		if (arg)
			return -EINVAL;
		pthread_mutex_lock(&vcpu->lock);
		r = skvm_vcpu_run(vcpu); /* sets vcpu->ran on guest entry */
		pthread_mutex_unlock(&vcpu->lock);
		return r;
	}

	pthread_mutex_lock(&vcpu->lock);
	/* anything but a pure read may change what the soft TLB was filled
	 * under (x86_run keeps it across KVM_RUN otherwise) */
	if (_IOC_DIR(cmd) != _IOC_READ)
		vcpu->cpu.state_gen++;
	switch (cmd) {
	case KVM_GET_REGS: {
		struct kvm_regs regs;
		memset(&regs, 0, sizeof(regs));
		regs_get(&vcpu->cpu, &regs);
		r = skvm_copy_to_user(arg, &regs, sizeof(regs)) ? -EFAULT : 0;
		break;
	}
	case KVM_SET_REGS: {
		struct kvm_regs regs;
		r = -EFAULT;
		if (skvm_copy_from_user(&regs, arg, sizeof(regs)))
			break;
		regs_set(&vcpu->cpu, &regs);
		/* As __set_regs(): a pending (not yet injected) exception is
		 * dropped with the context it was raised in. */
		vcpu->cpu.ev.exception.pending = 0;
		r = 0;
		break;
	}
	case KVM_SET_SIGNAL_MASK:
		r = set_signal_mask(vcpu, arg);
		break;
	case KVM_GET_STATS_FD:
		r = skvm_stats_fd(vcpu->stats);
		break;
	default:
		r = skvm_vcpu_state_ioctl(vcpu, cmd, arg);
		if (r == SKVM_NOIOCTL)
			r = skvm_vcpu_cpuid_ioctl(vcpu, cmd, arg);
		if (r == SKVM_NOIOCTL)
			r = skvm_irqchip_vcpu_ioctl(vcpu, cmd, arg);
		if (r == SKVM_NOIOCTL)
			r = skvm_vcpu_run_ioctl(vcpu, cmd, arg);
		if (r == SKVM_NOIOCTL)
			r = skvm_pv_vcpu_ioctl(vcpu, cmd, arg);
		if (r == SKVM_NOIOCTL)
			r = -EINVAL; /* kvm_arch_vcpu_ioctl's default */
		break;
	}
	pthread_mutex_unlock(&vcpu->lock);
	return r;
}
