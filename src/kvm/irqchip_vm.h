/*
 * irqchip.c's entry points for the rest of kvm/ (vm.c, vcpu.c, run.c,
 * vcpu_state.c): the ioctls it serves, vCPU set-up, and the halt/event
 * side of KVM_RUN.  The routing half uses kvm/irqchip.h only.
 */
#ifndef SOFTKVM_KVM_IRQCHIP_VM_H
#define SOFTKVM_KVM_IRQCHIP_VM_H

#include <signal.h>

#include "kvm/kvm.h"

/* VM ioctls: KVM_CREATE_IRQCHIP, KVM_GET/SET_IRQCHIP; SKVM_NOIOCTL if not one. */
long skvm_irqchip_vm_ioctl(struct skvm_vm *vm, unsigned int cmd, unsigned long arg);
/* Linux 6.19's directed-EOI switches (older uapi headers lack them):
 * the LAPIC advertises and honours Suppress EOI Broadcast (split irqchip
 * only), or never offers it; neither keeps the quirk (offered with a split
 * irqchip but ignored: every level EOI exits). */
#ifndef KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST
#define KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST (1ULL << 2)
#define KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST (1ULL << 3)
#endif
/* The KVM_CAP_X2APIC_API flags softkvm implements. */
#define SKVM_X2APIC_API_FLAGS                                                       \
	(KVM_X2APIC_API_USE_32BIT_IDS | KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK |    \
	 KVM_X2APIC_ENABLE_SUPPRESS_EOI_BROADCAST | KVM_X2APIC_DISABLE_SUPPRESS_EOI_BROADCAST)
/* KVM_ENABLE_CAP for KVM_CAP_X2APIC_API and KVM_CAP_SPLIT_IRQCHIP;
 * SKVM_NOIOCTL for other caps. */
long skvm_irqchip_enable_cap(struct skvm_vm *vm, const struct kvm_enable_cap *cap);
/* vCPU ioctls: KVM_GET/SET_LAPIC, and KVM_INTERRUPT with an irqchip; SKVM_NOIOCTL. */
long skvm_irqchip_vcpu_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg);

/* A new vCPU (vm->lock held): its LAPIC when the VM has an irqchip; 0 or -errno.
 * publish makes it reachable by interrupts once the vCPU is fully created. */
int skvm_irqchip_vcpu_init(struct skvm_vcpu *vcpu);
void skvm_irqchip_vcpu_publish(struct skvm_vcpu *vcpu);
void skvm_irqchip_vcpu_destroy(struct skvm_vcpu *vcpu);
/* KVM_SET_CPUID2 changed what the LAPIC offers (TSC-deadline, EOI suppression). */
void skvm_irqchip_cpuid_changed(struct skvm_vcpu *vcpu);
/* VM teardown (no vCPU runs any more). */
void skvm_irqchip_destroy(struct skvm_vm *vm);

/*
 * KVM_RUN with an in-kernel LAPIC: take its INIT/SIPI/NMI events and say
 * whether the vCPU may run guest code now (a halted vCPU with an interrupt
 * it can take becomes RUNNABLE); block sleeps until that may have changed
 * (0) or a signal the mask lets through arrives (-EINTR).
 */
bool skvm_apic_runnable(struct skvm_vcpu *vcpu);
/* Deterministic mode: fire the VM's due timers (x86_env.timers, opaque =
 * the vCPU); with nothing to run, move the VM clock to the next timer
 * deadline and fire it (false: no deadline, or not deterministic). */
void skvm_irqchip_timers(void *vcpu);
bool skvm_irqchip_warp(struct skvm_vcpu *vcpu);
/* KVM_SET_VAPIC_ADDR's TPR mirror: LAPIC -> guest page before guest code
 * runs (to_guest), guest page -> TPR after. */
void skvm_apic_vapic_sync(struct skvm_vcpu *vcpu, bool to_guest);
/* PV EOI around a guest entry (to_guest) and after an exit (kvm/irqchip.c);
 * nothing without an in-kernel LAPIC. */
void skvm_apic_pv_eoi_sync(struct skvm_vcpu *vcpu, bool to_guest);
/* Take pending INIT / SIPI / NMI (KVM_GET_MP_STATE does it too). */
void skvm_apic_accept_events(struct skvm_vcpu *vcpu);
/* KVM_SET_MP_STATE for a vCPU with a LAPIC: 0 or -EINVAL. */
long skvm_apic_set_mp_state(struct skvm_vcpu *vcpu, u32 state);
/* Sleep until the vCPU can run, is kicked or (mask) a signal it lets
 * through is pending (-EINTR); *waited: the thread slept. */
int skvm_apic_block(struct skvm_vcpu *vcpu, const sigset_t *mask, bool *waited);
/* Split irqchip: the vector of a KVM_EXIT_IOAPIC_EOI the guest's last EOI
 * asked for (taken: -1 next time), or -1. */
int skvm_apic_take_eoi_exit(struct skvm_vcpu *vcpu);
/* kvm_cpu_accept_dm_intr for a vCPU with a LAPIC and a split irqchip:
 * no KVM_INTERRUPT vector waits and LINT0 takes ExtINT. */
bool skvm_apic_accept_dm_intr(struct skvm_vcpu *vcpu);

#endif
