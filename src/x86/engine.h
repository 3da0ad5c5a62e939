/*
 * The execution engine's interface to kvm/ (see docs/engine.md).
 *
 * x86_run() executes guest code until something only the caller can finish:
 * a port or MMIO access, HLT, shutdown, an instruction the engine does not
 * implement, or a kick.  The caller turns the exit into kvm_run fields and,
 * on the next call, the engine first completes the instruction that exited
 * (IN data in the PIO page, MMIO read data via x86_complete_mmio_read).
 */
#ifndef SOFTKVM_X86_ENGINE_H
#define SOFTKVM_X86_ENGINE_H

#include <stdatomic.h>

#include "mem/memslot.h"
#include "x86/cpu.h"

/* What the CPU sees of the world for one x86_run call (kvm/run.c sets
 * every field one by one: a new field needs a line there). */
struct x86_env {
	/* Guest memory: the caller holds a reference on map; the engine
	 * swaps it (dropping the old reference) when mem's map changes, so
	 * memslot changes and dirty logging take effect within a run. */
	struct mem *mem;
	struct mem_map *map;
	u8 *pio;		   /* the PIO data page (kvm_run io.data_offset) */
	_Atomic int *kick;	   /* non-zero: stop at the next block boundary */
	bool stop;		   /* stop once the pending instruction completed */
	bool ring_stop;		   /* set with stop: the dirty ring reached its soft limit */
	bool irq_window;	   /* exit when interrupts can be injected */
	/* Called at block boundaries every few thousand blocks; true = stop.
	 * kvm/ uses it to notice signals without a system call per block. */
	bool (*poll)(void *opaque);
	void *opaque;
	/* A guest MMIO (pio false) or port write the VMM asked to coalesce:
	 * true = queued, no exit.  NULL: every such write exits. */
	bool (*coalesce)(void *opaque, u64 addr, u32 len, const void *data, bool pio);
	void *coalesce_opaque;
	/* A port (pio true) or MMIO access that the VM serves itself (an
	 * in-kernel device or an ioeventfd): true = done (data filled in for a
	 * read), no exit.  Asked before coalescing and before exiting.  NULL:
	 * every such access exits. */
	bool (*dev_io)(void *opaque, bool pio, u64 addr, u32 len, void *data, bool write);
	void *dev_opaque;
	/* RDMSR/WRMSR (KVM_CAP_X86_USER_SPACE_MSR, KVM_X86_SET_MSR_FILTER):
	 * msr_denied says whether the VM's filter denies the guest this
	 * access (NULL: no filter); msr_exits holds the
	 * KVM_MSR_EXIT_REASON_* bits the VMM wants as X86_EXIT_MSR exits
	 * instead of a #GP. */
	bool (*msr_denied)(void *opaque, u32 index, bool write);
	void *msr_opaque;
	u32 msr_exits;
	/* Deterministic mode: fire the VM's due timers, called at every block
	 * boundary (timers then depend on instructions, not on host time). */
	void (*timers)(void *opaque);
	void *timers_opaque;
};

enum x86_exit_reason {
	X86_EXIT_NONE,
	X86_EXIT_IO,	   /* io: data in env->pio */
	X86_EXIT_MMIO,	   /* mmio */
	X86_EXIT_HLT,
	X86_EXIT_SHUTDOWN, /* triple fault */
	X86_EXIT_INTERNAL, /* emulation failure: insn holds the bytes */
	X86_EXIT_KICK,	   /* kick, poll or env->stop */
	X86_EXIT_IRQ_WINDOW, /* env->irq_window and the window is open */
	X86_EXIT_DEBUG,	   /* KVM_SET_GUEST_DEBUG single-step or breakpoint */
	X86_EXIT_FAULT,	   /* a slot's host memory faulted: KVM_RUN -EFAULT */
	X86_EXIT_DIRTY_RING_FULL, /* set by kvm/, never by the engine */
	X86_EXIT_MSR,	   /* msr: RDMSR/WRMSR for the VMM */
	X86_EXIT_IOAPIC_EOI,	  /* set by kvm/: eoi.vector */
};

struct x86_exit {
	u32 reason;
	union {
		struct {
			bool in;
			u8 size;
			u16 port;
			u32 count;
		} io;
		struct {
			u64 gpa;
			u32 len;
			bool write;
			u8 data[8];
		} mmio;
		struct {
			u8 len;
			u8 bytes[15];
		} insn;
		struct {
			bool write;
			u32 reason; /* KVM_MSR_EXIT_REASON_* */
			u32 index;
			u64 data;   /* WRMSR's value */
		} msr;
		struct {
			u8 vector;
		} eoi;
		struct {
			u32 exception;
			u64 pc; /* linear address */
			u64 dr6, dr7;
			bool has_dr;
		} debug;
	};
};

int x86_engine_init(struct x86_cpu *cpu);
void x86_engine_destroy(struct x86_cpu *cpu);

/* Run until an exit; `exit` is filled.  Flags, registers and all other
 * architectural state are exact in *cpu when it returns. */
void x86_run(struct x86_cpu *cpu, struct x86_env *env, struct x86_exit *exit);

/* An instruction is waiting for IN or MMIO read data from the VMM. */
bool x86_completion_pending(const struct x86_cpu *cpu);
/* The VMM's data for a pending MMIO read (kvm_run mmio.data). */
void x86_complete_mmio_read(struct x86_cpu *cpu, const u8 *data);

/* The VMM's answer to an X86_EXIT_MSR (kvm_run msr.error, msr.data): the
 * instruction completes on the next x86_run, with #GP when error != 0. */
void x86_complete_msr(struct x86_cpu *cpu, u8 error, u64 data);

/* Interrupt window: IF set and no STI / MOV SS shadow. */
bool x86_interrupt_window(const struct x86_cpu *cpu);

#endif
