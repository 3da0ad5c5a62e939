/*
 * The KVM API personality: system, VM, vCPU and device objects behind real
 * kernel fds.  See docs/design.md for lifetimes.
 */
#ifndef SOFTKVM_KVM_KVM_H
#define SOFTKVM_KVM_KVM_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <linux/kvm.h>

#include "common.h"
#include "kvm/srcu.h"

#define SKVM_EXPORT __attribute__((visibility("default")))
#include "mem/memslot.h"
#include "x86/cpu.h"

#define SKVM_MAX_VCPUS 1024	/* KVM_CAP_MAX_VCPUS on x86 */
#define SKVM_MAX_VCPU_ID 4096	/* KVM_CAP_MAX_VCPU_ID */
#define SKVM_API_VERSION 12
#define SKVM_VCPU_MMAP_PAGES 3	/* kvm_run page, pio data page, coalesced ring */
#define SKVM_DIRTY_RING_PAGE KVM_DIRTY_LOG_PAGE_OFFSET

/* skvm_ioctl's answer for an fd that is not a softkvm handle. */
#define SKVM_NOT_OURS (-100000L)

/* SKVM_STATS: a binary stats fd (KVM_GET_STATS_FD); it names no object. */
enum skvm_kind { SKVM_SYS, SKVM_VM, SKVM_VCPU, SKVM_DEVICE, SKVM_STATS };

/* An fd-table entry: what the fd is and which object it names. */
struct skvm_file {
	enum skvm_kind kind;
	_Atomic int refs; /* the fd itself plus ioctls in flight; 0: free */
	int fd;
	void *obj;	  /* struct skvm_vm, or struct skvm_vcpu */
	struct skvm_file *next_free; /* fdtable.c's free list */
};

struct skvm_vm;
struct skvm_cmmio;
struct skvm_ioeventfds;
struct skvm_irqroute;

struct skvm_vcpu {
	struct skvm_vm *vm;
	u32 id;
	size_t map_size;
	struct kvm_run *run;	/* our mapping of the vCPU fd's memfd */
	pthread_mutex_t lock;	/* state ioctls vs. KVM_RUN */
	bool ran;		/* the guest has been entered once (KVM_SET_CPUID2 freezes) */
	bool sigmask_set;
	sigset_t sigmask;
	struct kvm_guest_debug guest_debug;
	struct x86_cpu cpu;
	struct mem_dirty_ring ring;	/* KVM_CAP_DIRTY_LOG_RING (kvm/dirty.c) */
	/* Live binary stats (KVM_GET_STATS_FD) */
	struct skvm_stats *stats;
	/* In-kernel irqchip (irqchip.c): the LAPIC; kick stops the engine at
	 * a block boundary; sleeping + wake_fd wake a halted vCPU. */
	struct skvm_apic *apic;
	_Atomic int kick;
	_Atomic int sleeping;
	int wake_fd;
	u32 halt_poll_ns; /* this vCPU's halt-polling window (kvm/halt_poll.c) */
	/* kvm/pvclock.c: the pvclock record is to be rewritten before the
	 * guest runs; KVM_KVMCLOCK_CTRL asked for PVCLOCK_GUEST_STOPPED */
	_Atomic int pvclock_req;
	bool pvclock_stopped;
	/* kvm/pvclock.c, steal time: the run delay (ns) already reported,
	 * and the schedstat file of the thread that last ran the vCPU */
	u64 steal_last;
	int steal_fd;
	pid_t steal_tid;
};

struct skvm_vm {
	_Atomic int refs;	/* fds naming this VM or its vCPUs/devices */
	pid_t pid;		/* VM ioctls from another process get EIO */
	pthread_mutex_t lock;
	struct mem mem;
	u32 nr_vcpus;
	struct skvm_vcpu *vcpus[SKVM_MAX_VCPUS];
	u32 max_vcpus;
	u32 max_vcpu_ids;	/* KVM_CAP_MAX_VCPU_ID; 0 until set or first vCPU */
	u32 boot_cpu_id;
	u64 tss_addr;
	bool tss_addr_set;
	u64 identity_map_addr;
	bool identity_map_set;
	struct skvm_stats *stats;
	struct skvm_cmmio *cmmio;	/* coalesced MMIO zones and ring */
	struct skvm_ioeventfds *ioeventfds; /* kvm/ioeventfd.c */
	struct skvm_irqchip *_Atomic irqchip; /* KVM_CREATE_IRQCHIP (irqchip.c) */
	u32 x2apic_api;			/* KVM_CAP_X2APIC_API flags */
	struct skvm_irqroute *irqroute;	/* kvm/irqroute.c, irqfd.c */
	u64 mmu_pages_requested; /* KVM_SET_NR_MMU_PAGES (vm.c), 0 if never */
	bool platform_info_hidden; /* KVM_CAP_MSR_PLATFORM_INFO disabled (vm.c) */
	/* KVM_CAP_X86_USER_SPACE_MSR reasons and KVM_X86_SET_MSR_FILTER's
	 * filter, read by the vCPUs under msr_srcu (kvm/vcpu_msr.c) */
	_Atomic u32 user_space_msr;
	struct skvm_msr_filter *_Atomic msr_filter;
	struct skvm_srcu msr_srcu;
	/* kvmclock = x86_clock_ns() + kvmclock_offset; MSR_KVM_WALL_CLOCK's
	 * address (kvm/pvclock.c) */
	_Atomic s64 kvmclock_offset;
	_Atomic u64 wall_clock;
	/* deterministic mode: the VM's time, ns, advanced per retired
	 * instruction (x86/tsc.c); the vCPUs' cpu.vclock points here */
	_Atomic u64 vclock;
	/* KVM_CAP_HALT_POLL's maximum, ns; -1 until set (kvm/halt_poll.c) */
	_Atomic s64 max_halt_poll_ns;
};

/* fd table (fdtable.c) */
int skvm_file_install(enum skvm_kind kind, int fd, void *obj);
struct skvm_file *skvm_file_get(int fd);	/* NULL if not ours; takes a ref */
/* getpid() without a system call (kept by a fork handler), valid once a
 * file was installed: every VM and vCPU ioctl compares it with the VM's
 * creator, and a system call costs 0.5 us on this kind of host. */
pid_t skvm_self_pid(void);
void skvm_file_put(struct skvm_file *f);
bool skvm_file_is_ours(int fd);
int skvm_file_close(int fd);		/* -EBADF if not ours */
int skvm_file_dup(int oldfd, int newfd, int flags); /* see fdtable.c */
void skvm_file_forget(int fd);		/* fd was replaced by a dup2 onto it */
void skvm_file_forget_range(unsigned int first, unsigned int last);
int skvm_file_kind(int fd);		/* enum skvm_kind, or -1 if not ours */

/* A softkvm-internal thread, all signals blocked (thread.c). */
int skvm_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

/* Objects */
int skvm_sys_open(int flags);
void skvm_vm_get(struct skvm_vm *vm);
void skvm_vm_put(struct skvm_vm *vm);
int skvm_anon_fd(const char *name, size_t size, int flags);

/* ioctl entry points: return >= 0 or -errno */
long skvm_sys_ioctl(unsigned int cmd, unsigned long arg);
long skvm_vm_ioctl(struct skvm_vm *vm, unsigned int cmd, unsigned long arg);
long skvm_vcpu_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg);
long skvm_check_extension(struct skvm_vm *vm, long cap);

/* The engine seam: run the vCPU until an exit; returns 0 or -errno.  It
 * leaves the thread's signals blocked: skvm_signals_restore, called by
 * skvm_ioctl once the call holds nothing, gives the mask back. */
long skvm_vcpu_run(struct skvm_vcpu *vcpu);
void skvm_signals_restore(void);
/* The preloaded library's signal wrappers (preload.c, run.c): a handled
 * signal arriving during KVM_RUN is re-queued blocked and ends the run
 * (true), else its handler is to run now (false).  skvm_signals_wrapped
 * is defined only where the wrappers are (not in libsoftkvm-core.a). */
bool skvm_signal_defer(int sig, siginfo_t *info, void *uc);
void skvm_signal_async_cancel(bool on);
bool skvm_signals_wrapped(void) __attribute__((weak));

/* sigaddset for any signal: glibc's refuses its internal ones (SIGCANCEL
 * 32, SIGSETXID 33), which softkvm must block and watch like the others.
 * Linux x86-64 keeps signal n in bit n - 1 of the set's first word. */
static inline void skvm_sigset_add(sigset_t *s, int n)
{
	unsigned long w;
	__builtin_memcpy(&w, s, sizeof(w));
	w |= 1UL << (n - 1);
	__builtin_memcpy(s, &w, sizeof(w));
}

/* mmap of [off, off + len) of fd: 0 to go ahead, or KVM's -errno (api.c). */
int skvm_mmap_check(int fd, int prot, int flags, off_t off, size_t len);
/* After the kernel mapped [off, off + len) of fd at addr: 0, or -errno and
 * the caller unmaps (api.c). */
int skvm_mmap_fixup(int fd, void *addr, size_t len, int prot, int flags, off_t off);

/* Dispatch an ioctl on any fd: SKVM_NOT_OURS, or >= 0, or -errno (api.c). */
long skvm_ioctl(int fd, unsigned long request, unsigned long arg);
/* Nonzero while this thread is inside skvm_ioctl (a signal handler run
 * there must not take softkvm's locks: skvm_irqfd_write). */
extern SKVM_TLS int skvm_in_call;
/* The client's write of n bytes at buf to fd, seen first by softkvm: true
 * if an irqfd took it (irqfd.c); the client's fds first..last closed. */
bool skvm_irqfd_write(int fd, const void *buf, size_t n);
void skvm_irqfd_fds_closed(unsigned int first, unsigned int last);

/* kvm_regs <-> CPU (vcpu.c), shared with KVM_CAP_SYNC_REGS */
void skvm_regs_get(const struct x86_cpu *c, struct kvm_regs *r);
void skvm_regs_set(struct x86_cpu *c, const struct kvm_regs *r);
/* kvm_sregs and kvm_vcpu_events <-> vCPU (vcpu_state.c), likewise */
void skvm_sregs_get(const struct x86_cpu *c, struct kvm_sregs *s);
long skvm_sregs_set(struct skvm_vcpu *vcpu, const struct kvm_sregs *s);
void skvm_events_get(struct skvm_vcpu *vcpu, struct kvm_vcpu_events *e);
long skvm_events_set(struct skvm_vcpu *vcpu, struct kvm_vcpu_events e);

/* Binary stats (stats.c) */
int skvm_stats_fd(struct skvm_stats *st);

/* uaccess.c: copy from/to the client's memory, EFAULT on bad pointers. */
int skvm_copy_from_user(void *dst, unsigned long src, size_t n);
int skvm_copy_to_user(unsigned long dst, const void *src, size_t n);

#endif
