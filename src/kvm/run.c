/*
 * KVM_RUN: the contract between the client and the execution engine
 * (KVM API 4.10 and 5, "The kvm_run structure").
 *
 * Signals: KVM ends KVM_RUN with EINTR / KVM_EXIT_INTR when a signal the
 * effective mask lets through arrives, and the handler runs once the
 * ioctl has returned.  Two ways to get that here, where guest code runs
 * in the calling thread:
 *  - the fast one, with no system call: under `softkvm run` every handler
 *    the client installs is wrapped (preload.c); the wrapper, run during
 *    KVM_RUN, re-queues the signal blocked in the interrupted context and
 *    sets a per-thread flag (skvm_signal_defer), the engine's poll and
 *    the halt sleep see the flag and end the run, and the thread's mask
 *    comes back (delivering the signal) in skvm_signals_restore.
 *  - with KVM_SET_SIGNAL_MASK, asynchronous cancellation, or the library
 *    linked directly: every asynchronous signal is blocked while guest
 *    code runs and the engine polls sigpending() every few thousand
 *    instructions; two sigprocmask calls per KVM_RUN.
 * A pending signal that the mask lets through ends the run; restoring the
 * thread's mask then delivers it to the client's handler exactly as the
 * kernel would on return from the ioctl.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "kvm/coalesced_mmio.h"
#include "kvm/irqchip.h"
#include "kvm/irqchip_vm.h"
#include "kvm/halt_poll.h"
#include "kvm/stats.h"
#include "kvm/pvclock.h"
#include "kvm/vcpu_msr.h"
#include "kvm/x86_ioctl.h"
#include "x86/engine.h"

struct run_ctx {
	bool fast;   /* the wrapped handlers' flag, no mask change */
	u64 allowed; /* !fast: signals the effective KVM_RUN mask does not block */
};

/* The fast way (see the top): the vCPU in KVM_RUN on this thread, a
 * handler deferred since, and the thread's mask before the first one. */
static SKVM_TLS struct skvm_vcpu *t_run;
static SKVM_TLS volatile sig_atomic_t t_deferred;
static __thread sigset_t t_deferred_mask;
static SKVM_TLS bool t_async_cancel;

/* Signals 1-64 as a bit mask (bit n - 1 for signal n): the first word
 * of glibc's sigset_t is the kernel's, in that layout; 64 sigismember
 * calls cost more than the rest of a PIO exit. */
static u64 sigset_word(const sigset_t *s)
{
	_Static_assert(sizeof(sigset_t) >= sizeof(u64), "sigset_t");
	u64 w;
	memcpy(&w, s, sizeof(w));
	return w;
}

/* A pending signal counts unless it would just be discarded (ignored, or
 * default action "ignore"), which the kernel never queues. */
static bool signal_interrupts(int n)
{
	struct sigaction sa;
	if (sigaction(n, NULL, &sa))
		return true;
	if (sa.sa_handler == SIG_IGN)
		return false;
	if (sa.sa_handler == SIG_DFL &&
	    (n == SIGCHLD || n == SIGURG || n == SIGWINCH || n == SIGCONT))
		return false;
	return true;
}

static bool signal_poll(void *opaque)
{
	const struct run_ctx *ctx = opaque;
	if (ctx->fast)
		return t_deferred;
	sigset_t p;
	if (sigpending(&p))
		return false;
	u64 w = sigset_word(&p) & ctx->allowed;
	for (int n = 1; w && n <= 64; n++)
		if ((w & BIT(n - 1)) && signal_interrupts(n))
			return true;
	return false;
}

static bool coalesce(void *opaque, u64 addr, u32 len, const void *data, bool pio)
{
	return skvm_cmmio_write(opaque, addr, len, data, pio);
}

/* The PIC is the VMM's: KVM_INTERRUPT and the interrupt window serve it
 * (no irqchip, or a split one; KVM's !pic_in_kernel). */
static bool pic_in_user(struct skvm_vcpu *vcpu)
{
	return !skvm_irqchip_in_kernel(vcpu->vm) || skvm_irqchip_split(vcpu->vm);
}

/* kvm_cpu_accept_dm_intr: KVM_INTERRUPT has room (no irqchip: no vector
 * queued; split: none waiting, and LINT0 takes ExtINT). */
static bool accept_dm_intr(struct skvm_vcpu *vcpu)
{
	return vcpu->apic ? skvm_apic_accept_dm_intr(vcpu) : !vcpu->cpu.ev.interrupt.injected;
}

/* kvm_vcpu_ready_for_interrupt_injection: IF set without an STI/MOV SS
 * shadow, room for the vector, and no event half delivered or pending. */
static bool ready_for_injection(struct skvm_vcpu *vcpu)
{
	const struct x86_cpu *c = &vcpu->cpu;
	const struct x86_events *ev = &c->ev;
	return x86_interrupt_window(c) && accept_dm_intr(vcpu) && !ev->interrupt.injected &&
	       !ev->exception.injected && !ev->nmi.injected && !ev->exception.pending;
}

static void exit_common(struct skvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct x86_cpu *c = &vcpu->cpu;
	run->apic_base = c->apic_base;
	run->cr8 = x86_get_cr8(c); /* the TPR class with an in-kernel LAPIC */
	run->if_flag = !!(x86_get_rflags(c) & X86_FL_IF);
	run->flags = 0;
	/* with the PIC in the kernel KVM always says 1 (post_kvm_run_save) */
	run->ready_for_interrupt_injection = !pic_in_user(vcpu) || ready_for_injection(vcpu);
}

/* KVM_CAP_SYNC_REGS: the sets asked for in kvm_valid_regs go out (KVM's
 * store_regs, also after a failed run). */
static void sync_regs_out(struct skvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	if (run->kvm_valid_regs & KVM_SYNC_X86_REGS)
		skvm_regs_get(&vcpu->cpu, &run->s.regs.regs);
	if (run->kvm_valid_regs & KVM_SYNC_X86_SREGS)
		skvm_sregs_get(&vcpu->cpu, &run->s.regs.sregs);
	if (run->kvm_valid_regs & KVM_SYNC_X86_EVENTS)
		skvm_events_get(vcpu, &run->s.regs.events);
}

/* ... and the sets marked in kvm_dirty_regs come in, in KVM's order
 * (sync_regs): each is fetched once (the client may be writing it), its
 * dirty bit cleared once applied; an invalid set fails KVM_RUN with EINVAL
 * and stays dirty. */
static long sync_regs_in(struct skvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct x86_cpu *cpu = &vcpu->cpu;
	if (run->kvm_dirty_regs & KVM_SYNC_X86_VALID_FIELDS)
		cpu->state_gen++; /* as a state ioctl (x86_run's TLB) */
	if (run->kvm_dirty_regs & KVM_SYNC_X86_REGS) {
		struct kvm_regs regs = run->s.regs.regs;
		skvm_regs_set(cpu, &regs);
		cpu->ev.exception.pending = 0;
		run->kvm_dirty_regs &= ~KVM_SYNC_X86_REGS;
	}
	if (run->kvm_dirty_regs & KVM_SYNC_X86_SREGS) {
		struct kvm_sregs sregs = run->s.regs.sregs;
		if (skvm_sregs_set(vcpu, &sregs))
			return -EINVAL;
		run->kvm_dirty_regs &= ~KVM_SYNC_X86_SREGS;
	}
	if (run->kvm_dirty_regs & KVM_SYNC_X86_EVENTS) {
		if (skvm_events_set(vcpu, run->s.regs.events))
			return -EINVAL;
		run->kvm_dirty_regs &= ~KVM_SYNC_X86_EVENTS;
	}
	return 0;
}

static long exit_to_run(struct skvm_vcpu *vcpu, const struct x86_exit *x)
{
	struct kvm_run *run = vcpu->run;
	struct skvm_stats *st = vcpu->stats;
	long r = 0;
	switch (x->reason) {
	case X86_EXIT_IO:
		run->exit_reason = KVM_EXIT_IO;
		run->io.direction = x->io.in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
		run->io.size = x->io.size;
		run->io.port = x->io.port;
		run->io.count = x->io.count;
		run->io.data_offset = PAGE_SIZE;
		skvm_stat_inc_own(st, VCPU_STAT_IO_EXITS);
		break;
	case X86_EXIT_MMIO:
		run->exit_reason = KVM_EXIT_MMIO;
		run->mmio.phys_addr = x->mmio.gpa;
		run->mmio.len = x->mmio.len;
		run->mmio.is_write = x->mmio.write;
		memcpy(run->mmio.data, x->mmio.data, sizeof(run->mmio.data));
		skvm_stat_inc_own(st, VCPU_STAT_MMIO_EXITS);
		break;
	case X86_EXIT_HLT:
		run->exit_reason = KVM_EXIT_HLT;
		skvm_stat_inc_own(st, VCPU_STAT_HALT_EXITS);
		break;
	case X86_EXIT_SHUTDOWN:
		run->exit_reason = KVM_EXIT_SHUTDOWN;
		break;
	case X86_EXIT_DIRTY_RING_FULL:
		run->exit_reason = KVM_EXIT_DIRTY_RING_FULL;
		break;
	case X86_EXIT_IRQ_WINDOW:
		run->exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
		skvm_stat_inc_own(st, VCPU_STAT_IRQ_WINDOW_EXITS);
		break;
	case X86_EXIT_IOAPIC_EOI:
		run->exit_reason = KVM_EXIT_IOAPIC_EOI;
		run->eoi.vector = x->eoi.vector;
		break;
	case X86_EXIT_DEBUG:
		run->exit_reason = KVM_EXIT_DEBUG;
		run->debug.arch.exception = x->debug.exception;
		run->debug.arch.pc = x->debug.pc;
		if (x->debug.has_dr) {
			run->debug.arch.dr6 = x->debug.dr6;
			run->debug.arch.dr7 = x->debug.dr7;
		}
		break;
	case X86_EXIT_INTERNAL:
		/* As prepare_emulation_failure_exit(): flags, then the
		 * instruction bytes in the ABI part of emulation_failure. */
		run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
		memset(&run->emulation_failure, 0, sizeof(run->emulation_failure));
		run->emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
		run->emulation_failure.ndata = 3;
		run->emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
		run->emulation_failure.insn_size = x->insn.len;
		memcpy(run->emulation_failure.insn_bytes, x->insn.bytes,
		       sizeof(run->emulation_failure.insn_bytes));
		break;
	case X86_EXIT_MSR:
		/* kvm_msr_user_space(): error 0, the VMM sets it to refuse */
		run->exit_reason = x->msr.write ? KVM_EXIT_X86_WRMSR : KVM_EXIT_X86_RDMSR;
		run->msr.error = 0;
		memset(run->msr.pad, 0, sizeof(run->msr.pad));
		run->msr.reason = x->msr.reason;
		run->msr.index = x->msr.index;
		run->msr.data = x->msr.data;
		break;
	case X86_EXIT_FAULT:
		/* a slot's host memory could not be accessed: KVM's
		 * kvm_handle_error_pfn fails the run with EFAULT */
		r = -EFAULT;
		break;
	default: /* X86_EXIT_KICK */
		run->exit_reason = KVM_EXIT_INTR;
		skvm_stat_inc_own(st, VCPU_STAT_SIGNAL_EXITS);
		r = -EINTR;
		break;
	}
	return r;
}

/* kvm_arch_vcpu_ioctl_run's checks before guest entry, in its order:
 * sync-regs masks, registers the VMM marked dirty, then the TPR the VMM
 * may have changed in kvm_run->cr8 (no in-kernel LAPIC: the CR8 write
 * rules apply). */
static long run_prepare(struct skvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct x86_cpu *cpu = &vcpu->cpu;
	if (!cpu->engine && x86_engine_init(cpu))
		return -ENOMEM;
	const u64 sync_valid = KVM_SYNC_X86_VALID_FIELDS;
	if ((run->kvm_valid_regs & ~sync_valid) || (run->kvm_dirty_regs & ~sync_valid))
		return -EINVAL;
	long r = sync_regs_in(vcpu);
	if (r)
		return r;
	if (vcpu->apic) /* KVM syncs kvm_run->cr8 only without a LAPIC */
		return 0;
	if (run->cr8 > 15)
		return -EINVAL;
	cpu->cr8 = run->cr8;
	return 0;
}

/* KVM_RUN's common way out (KVM's post_kvm_run_save and store_regs), taken
 * by failed checks too. */
static long run_finish(struct skvm_vcpu *vcpu, long r)
{
	exit_common(vcpu);
	sync_regs_out(vcpu);
	return r;
}

/*
 * Sleep in the LAPIC (skvm_apic_block) without the memslot map: a blocked
 * vCPU holds no reference, as KVM's vcpu_block leaves its SRCU read side,
 * so a memslot change on another thread (QEMU's BSP remapping PAM or
 * PCI BARs while an AP waits for SIPI) never waits for a sleeper.  A
 * halted vCPU polls first (kvm/halt_poll.c), also without the map, as
 * KVM's kvm_vcpu_halt; one waiting for INIT or SIPI does not.
 */
static int block_unmapped(struct skvm_vcpu *vcpu, struct x86_env *env, const sigset_t *mask,
			  struct run_ctx *ctx)
{
	/* the fast way: a handler deferred before the caller cleared the
	 * kick would not wake the sleep (after that, its kick does) */
	if (!mask && t_deferred)
		return -EINTR;
	mem_map_put(env->map);
	env->map = NULL;
	bool halted = vcpu->cpu.mp_state == KVM_MP_STATE_HALTED, waited = false;
	struct skvm_halt h;
	int r = 0;
	if (!halted || !skvm_halt_poll(vcpu, &h, signal_poll, ctx))
		r = skvm_apic_block(vcpu, mask, &waited);
	if (halted)
		skvm_halt_poll_done(vcpu, &h, waited);
	env->map = mem_map_get(&vcpu->vm->mem);
	return r ? r : !mask && t_deferred ? -EINTR : 0;
}

/*
 * Guest entry with an in-kernel LAPIC: HLT, INIT and wait-for-SIPI do not
 * exit; the thread sleeps until the vCPU can run again, a kick or a signal
 * (KVM's vcpu_run / vcpu_block).  A kick that only brought events runs on.
 * An AP that has not seen INIT yet waits for an event and then fails with
 * EAGAIN, as kvm_arch_vcpu_ioctl_run does for UNINITIALIZED.
 */
static long run_with_apic(struct skvm_vcpu *vcpu, struct x86_env *env, struct x86_exit *x,
			  struct run_ctx *ctx, const sigset_t *mask)
{
	if (vcpu->cpu.mp_state == KVM_MP_STATE_UNINITIALIZED) {
		atomic_store(&vcpu->kick, 0); /* (the loop clears it for itself) */
		skvm_apic_accept_events(vcpu);
		if (vcpu->cpu.mp_state == KVM_MP_STATE_UNINITIALIZED &&
		    block_unmapped(vcpu, env, mask, ctx)) {
			x->reason = X86_EXIT_KICK;
			return 0;
		}
		skvm_apic_accept_events(vcpu);
		return -EAGAIN;
	}
	for (;;) {
		atomic_store(&vcpu->kick, 0);
		/* split irqchip: the guest's last EOI is the VMM IOAPIC's
		 * (KVM_REQ_IOAPIC_EOI_EXIT) */
		int eoi = skvm_apic_take_eoi_exit(vcpu);
		if (eoi >= 0) {
			x->reason = X86_EXIT_IOAPIC_EOI;
			x->eoi.vector = (u8)eoi;
			return 0;
		}
		if (!skvm_apic_runnable(vcpu)) {
			/* deterministic mode: waiting takes no time; the
			 * next timer comes at once */
			if (vcpu->cpu.vclock && skvm_irqchip_warp(vcpu) &&
			    skvm_apic_runnable(vcpu))
				continue;
			if (block_unmapped(vcpu, env, mask, ctx)) {
				x->reason = X86_EXIT_KICK;
				return 0;
			}
			continue;
		}
		skvm_apic_pv_eoi_sync(vcpu, true);
		x86_run(&vcpu->cpu, env, x);
		skvm_apic_pv_eoi_sync(vcpu, false);
		if (x->reason == X86_EXIT_HLT) {
			vcpu->cpu.mp_state = KVM_MP_STATE_HALTED;
			/* vcpu_run's check after a handled exit: the VMM asked
			 * for the window and it is open (sti; hlt) */
			if (env->irq_window && ready_for_injection(vcpu)) {
				x->reason = X86_EXIT_IRQ_WINDOW;
				return 0;
			}
			continue;
		}
		/* env->stop: the engine stopped for the caller (a full
		 * dirty ring), not for a kick */
		if (x->reason == X86_EXIT_KICK && !env->stop && !signal_poll(ctx))
			continue;
		return 0;
	}
}

static __thread sigset_t t_restore_mask;
static SKVM_TLS bool t_restore_pending;

/* Called by the signal wrapper (preload.c) on the thread it interrupted. */
bool skvm_signal_defer(int sig, siginfo_t *info, void *ucv)
{
	struct skvm_vcpu *vcpu = t_run;
	if (!vcpu)
		return false;
	ucontext_t *uc = ucv;
	int e = errno;
	if (!t_deferred)
		t_deferred_mask = uc->uc_sigmask;
	/* blocked when the handler returns, pending again with its siginfo */
	sigaddset(&uc->uc_sigmask, sig);
	syscall(SYS_rt_tgsigqueueinfo, (pid_t)syscall(SYS_getpid), (pid_t)syscall(SYS_gettid), sig,
		info);
	t_deferred = 1;
	atomic_signal_fence(memory_order_seq_cst);
	/* the engine stops at its next block boundary, a halt sleep ends */
	if (vcpu->apic)
		skvm_vcpu_kick(vcpu);
	else
		atomic_store(&vcpu->kick, 1);
	errno = e;
	return true;
}

void skvm_signal_async_cancel(bool on)
{
	t_async_cancel = on;
}

long skvm_vcpu_run(struct skvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct x86_cpu *cpu = &vcpu->cpu;
	struct run_ctx ctx = {
		.fast = !vcpu->sigmask_set && !t_async_cancel && skvm_signals_wrapped &&
			skvm_signals_wrapped(),
	};
	/* from here a handled signal is deferred (skvm_signals_restore,
	 * which the failed checks below reach too, ends that) */
	if (ctx.fast) {
		t_run = vcpu;
		atomic_signal_fence(memory_order_seq_cst);
	}
	long r = run_prepare(vcpu);
	if (r)
		return run_finish(vcpu, r);

	sigset_t old;
	if (ctx.fast) {
		/* a kick left by a handler deferred after the last run ended
		 * (the irqchip's run loop clears its own) */
		if (!vcpu->apic)
			atomic_store(&vcpu->kick, 0);
	} else {
		sigset_t block;
		sigfillset(&block);
		/* synchronous signals stay deliverable: they are softkvm's own faults */
		sigdelset(&block, SIGSEGV);
		sigdelset(&block, SIGBUS);
		sigdelset(&block, SIGFPE);
		sigdelset(&block, SIGILL);
		sigdelset(&block, SIGTRAP);
		for (int n = 32; n < SIGRTMIN; n++)
			skvm_sigset_add(&block, n); /* glibc's internal signals */
		/*
		 * The system call itself, not pthread_sigmask: glibc never lets a
		 * thread block its cancellation signal (SIGCANCEL, 32), so an
		 * asynchronous pthread_cancel would unwind the thread inside softkvm,
		 * holding its memslot map and locks (xapic_ipi_test).  Blocked here,
		 * it is pending like any other signal, ends KVM_RUN with EINTR, and
		 * acts when skvm_signals_restore unblocks it, as after KVM's ioctl.
		 */
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &block, &old, _NSIG / 8);
		ctx.allowed = ~sigset_word(vcpu->sigmask_set ? &vcpu->sigmask : &old);
	}

	/* Field by field, every one of them: an initializer would zero the
	 * whole struct first (a rep stosq, a few percent of a PIO exit). */
	struct x86_env env;
	env.mem = &vcpu->vm->mem;
	env.map = mem_map_get(&vcpu->vm->mem);
	env.pio = (u8 *)run + PAGE_SIZE;
	env.kick = &vcpu->kick;
	env.stop = false;
	env.ring_stop = false;
	/* with the PIC in the kernel KVM ignores the request; with the
	 * VMM's PIC it asks for the window only while KVM_INTERRUPT could
	 * take a vector (dm_request_for_irq_injection and
	 * kvm_cpu_accept_dm_intr) */
	env.irq_window = run->request_interrupt_window && pic_in_user(vcpu) &&
			 (!vcpu->apic || skvm_apic_accept_dm_intr(vcpu));
	env.poll = signal_poll;
	env.opaque = &ctx;
	env.coalesce = vcpu->vm->cmmio ? coalesce : NULL;
	env.coalesce_opaque = vcpu->vm->cmmio;
	env.dev_io = skvm_dev_io;
	env.dev_opaque = vcpu;
	env.msr_denied = skvm_msr_denied;
	env.msr_opaque = vcpu->vm;
	env.msr_exits = atomic_load(&vcpu->vm->user_space_msr);
	env.timers = vcpu->cpu.vclock && vcpu->apic ? skvm_irqchip_timers : NULL;
	env.timers_opaque = vcpu;
	struct x86_exit x = {0};
	x86_complete_mmio_read(cpu, run->mmio.data);
	x86_complete_msr(cpu, run->msr.error, run->msr.data);
	skvm_pvclock_sync(vcpu);

	/* KVM completes a pending IN / MMIO read before it looks at
	 * immediate_exit or pending signals.  immediate_exit returns EINTR
	 * with exit_reason untouched; a signal reports KVM_EXIT_INTR. */
	bool imm = run->immediate_exit;
	/* kvm_dirty_ring_check_request: no guest entry while the vCPU's
	 * dirty ring is soft full (the engine stops when it gets there) */
	struct mem_dirty_ring *ring = cpu->dirty_ring;
	bool ring_full = ring && mem_dirty_ring_soft_full(ring);
	skvm_stat_inc_own(vcpu->stats, VCPU_STAT_EXITS);
	/* A signal the thread's own mask lets through was delivered before
	 * the ioctl, or came after the mask went up (as if during the guest
	 * code: the engine's poll or the way out finds it); only one the
	 * KVM_SET_SIGNAL_MASK mask unblocks may be waiting from before.  The
	 * sigpending call is most of a PIO exit's cost otherwise. */
	if (imm || ring_full || ((ctx.fast || vcpu->sigmask_set) && signal_poll(&ctx))) {
		x.reason = X86_EXIT_KICK;
		if (x86_completion_pending(cpu)) {
			env.stop = true;
			x86_run(cpu, &env, &x);
		}
		if (x.reason == X86_EXIT_NONE)
			x.reason = X86_EXIT_KICK;
	} else {
		/* a real guest entry: from now on KVM freezes KVM_SET_CPUID2
		 * (kvm_vcpu_has_run) */
		vcpu->ran = true;
		if (vcpu->apic) {
			skvm_apic_vapic_sync(vcpu, true);
			r = run_with_apic(vcpu, &env, &x, &ctx,
					  ctx.fast		? NULL
					  : vcpu->sigmask_set ? &vcpu->sigmask
							      : &old);
			skvm_apic_vapic_sync(vcpu, false);
		} else
			x86_run(cpu, &env, &x);
	}
	if (!imm && ring && x.reason == X86_EXIT_KICK) {
		if (atomic_load(&ring->overflow)) {
			/* cannot happen (see mem_dirty_ring_push); if it
			 * does, a dirty page may be missing: say so */
			x.reason = X86_EXIT_INTERNAL;
			x.insn.len = 0;
		} else if (ring_full || env.ring_stop || mem_dirty_ring_soft_full(ring)) {
			/* stopped for the ring: that is the exit even if the
			 * VMM's KVM_RESET_DIRTY_RINGS emptied it meanwhile (a
			 * KICK here would be an EINTR no signal caused) */
			x.reason = X86_EXIT_DIRTY_RING_FULL;
		}
	}
	if (!r)
		r = imm && x.reason == X86_EXIT_KICK ? -EINTR : exit_to_run(vcpu, &x);
	mem_map_put(env.map);
	r = run_finish(vcpu, r);
	/* The thread's mask comes back (and a pending signal's handler
	 * runs) only in skvm_ioctl, after every lock and reference of this
	 * call is dropped: a handler may leave with siglongjmp, as it may
	 * after a real system call. */
	if (!ctx.fast) {
		t_restore_mask = old;
		t_restore_pending = true;
	}
	return r;
}

void skvm_signals_restore(void)
{
	if (t_run) {
		t_run = NULL;
		atomic_signal_fence(memory_order_seq_cst);
		if (t_deferred) {
			t_deferred = 0;
			/* the deferred signals are delivered here */
			pthread_sigmask(SIG_SETMASK, &t_deferred_mask, NULL);
		}
	}
	if (t_restore_pending) {
		t_restore_pending = false;
		pthread_sigmask(SIG_SETMASK, &t_restore_mask, NULL);
	}
}

/*
 * KVM_INTERRUPT and KVM_NMI (KVM API 4.16, 4.74): events the engine
 * delivers at the next KVM_RUN.  Without an in-kernel irqchip the VMM owns
 * the interrupt controller and checks ready_for_interrupt_injection first;
 * KVM injects a queued vector on entry whatever IF says.  With a LAPIC
 * irqchip.c answers first (ENXIO with the PIC in the kernel, the split
 * irqchip's ExtINT vector otherwise).
 */
long skvm_vcpu_run_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg)
{
	struct x86_events *ev = &vcpu->cpu.ev;
	switch (cmd) {
	case KVM_INTERRUPT: {
		struct kvm_interrupt irq;
		if (skvm_copy_from_user(&irq, arg, sizeof(irq)))
			return -EFAULT;
		if (irq.irq >= 256)
			return -EINVAL;
		/* no irqchip: a second vector replaces the first */
		ev->interrupt.injected = 1;
		ev->interrupt.nr = (u8)irq.irq;
		ev->interrupt.soft = 0;
		return 0;
	}
	case KVM_NMI:
		/* KVM queues NMIs and keeps at most two pending (one more
		 * behind one being handled, SDM Vol. 3A 6.7.1); the stricter
		 * limit while NMIs are blocked applies when events are read */
		if (ev->nmi.pending < 2)
			ev->nmi.pending++;
		return 0;
	}
	return SKVM_NOIOCTL;
}
