/*
 * KVM_IRQFD (KVM API 4.75): an eventfd that, when signalled, injects an
 * interrupt on a GSI.
 *
 * One poller thread per VM, started with the first irqfd, waits on all of
 * the VM's irqfds with epoll, takes each signalled count and injects as
 * KVM's irqfd_inject does: through an MSI route an edge; through irqchip
 * routes a pulse (level 1 then 0), or, for a resampling irqfd, level 1 that
 * stays until the guest's EOI of that pin (skvm_irq_ack_notify), which
 * de-asserts it and signals the irqfd's resamplefd so the VMM can re-check
 * its device.  The route is looked up at each injection, so a
 * KVM_SET_GSI_ROUTING change applies at once.
 *
 * Injection happens under the irqfds' lock, and KVM_IRQFD deassign takes it
 * too: once deassign returns, that irqfd injects no more (KVM flushes its
 * workqueue for the same promise).  A deassigned irqfd may still be named
 * by an event batch the poller has in hand, so it is only marked dead and
 * freed by the poller after that batch.
 *
 * The writer's own thread: KVM injects in the context of the eventfd
 * write (irqfd_wakeup), so a halted vCPU is one wake-up away from the
 * writer.  Under `softkvm run` the client's write() and eventfd_write() of
 * an irqfd's eventfd (preload.c) come here first: the write's count and
 * any count pending are taken, the interrupt injected, and nothing
 * reaches the eventfd, as if the poller had taken it at once (other
 * waiters on the eventfd see no count either way).  The poller, and a
 * second wake-up, are left for writers softkvm does not see (raw system
 * calls, other processes, softkvm's own ioeventfds).  Only where the fd
 * number still names that eventfd (an epoll item keyed by the number and
 * the file, in an epoll fd of the irqfd's own, checked at each write for
 * each irqfd on the number: a close, dup2 or reuse of the number by any
 * means, raw system calls included, is seen), for a non-semaphore
 * eventfd (a semaphore read takes 1, not the count), in the VM's own
 * process (the pid cached, refreshed by pthread_atfork), and never from
 * inside a softkvm call (a signal handler may run there with chip locks
 * held): else the write goes to the eventfd.  Its cost: two system calls
 * (the value's fault check, read_u64, and the number's) and the
 * injection, ~1.7-3 us (bench/irqfd_latency's write() mean, vCPU
 * running), plus the vCPU's wake-up when it sleeps.  Not covered: another
 * thread unmapping the written buffer during the write (read_u64); a
 * child forked by a raw system call (no atfork: it keeps the parent's
 * pid), whose writes would inject into its copy of the VM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kvm/eventfd.h"
#include "kvm/irqchip.h"
#include "kvm/irqroute.h"
#include "kvm/sys.h"

struct irqfd {
	struct irqfd *next;
	u32 gsi;
	int fd;		/* our dup of the eventfd */
	int resamplefd; /* our dup, or -1 */
	bool dead;
	/* the client's fd number for the writer's-thread injection, or -1;
	 * on fast_list (under fast_lock) while >= 0 */
	int client_fd;
	int check_ep;	/* while on fast_list: its number check (fast_add) */
	struct skvm_irqfds *owner;
	struct irqfd *fast_next;
	/* The count pending at assign, which fired then without being read
	 * (kvm_irqfd_assign's poll); the edge epoll reports for it is not a
	 * new signal. */
	long long initial;
	/* a count is in the eventfd that no injection took (the one pending
	 * at assign); the writer's-thread injection takes it with its own,
	 * as irqfd_wakeup reads the whole count */
	bool leftover;
};

struct skvm_irqfds {
	struct skvm_vm *vm;
	pthread_mutex_t lock;
	struct irqfd *list;	/* assigned */
	struct irqfd *zombies;	/* deassigned, freed by the poller */
	_Atomic u32 nr_resample; /* resampling irqfds in list */
	int epfd;
	int wakefd;		/* eventfd: stop, or free zombies */
	bool stop;
	pthread_t thread;
};

/*
 * The writer's-thread injection (see the top).  fast_lock is taken before
 * any irqfds' lock, and guards every change of the irqfd lists too, so a
 * writer never meets an irqfd that deassign has killed.  fast_fd counts
 * the irqfds on fast_list per client fd number: a write to any other fd
 * costs one load.
 */
#define FAST_FDS 1024
static pthread_mutex_t fast_lock = PTHREAD_MUTEX_INITIALIZER;
static struct irqfd *fast_list;
static _Atomic u16 fast_fd[FAST_FDS];
static SKVM_TLS bool t_fast;

/*
 * Under fast_lock.  An epoll instance of f's own gets the client's number
 * as its one item, with no events, keyed (file, client_fd): from then on
 * EPOLL_CTL_MOD of client_fd succeeds only while that number names the
 * same file (epoll looks the pair up), the check each write makes, as
 * exact as a kcmp for a third of its cost.  One instance per irqfd: in a
 * shared one the item of another file on the same number would pass.
 * The pair is checked once here (skvm_eventfd_same: kcmp) for a number
 * replaced since KVM_IRQFD took its dup; left out, the number replaced
 * twice by another thread meanwhile, during the KVM_IRQFD call.
 */
static void fast_add(struct irqfd *f, int client_fd)
{
	if (client_fd < 0 || client_fd >= FAST_FDS || skvm_eventfd_semaphore(f->fd) != 0)
		return;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return;
	struct epoll_event ev = {.events = 0};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, client_fd, &ev) || !skvm_eventfd_same(f->fd, client_fd)) {
		sys_close(ep);
		return;
	}
	f->check_ep = ep;
	f->client_fd = client_fd;
	f->fast_next = fast_list;
	fast_list = f;
	atomic_fetch_add(&fast_fd[client_fd], 1);
}

/* Under fast_lock. */
static void fast_del(struct irqfd *f)
{
	if (f->client_fd < 0)
		return;
	for (struct irqfd **p = &fast_list; *p; p = &(*p)->fast_next)
		if (*p == f) {
			*p = f->fast_next;
			break;
		}
	atomic_fetch_sub(&fast_fd[f->client_fd], 1);
	f->client_fd = -1;
	sys_close(f->check_ep);
	f->check_ep = -1;
}

/* The client's fds first..last were closed or replaced (preload.c). */
void skvm_irqfd_fds_closed(unsigned int first, unsigned int last)
{
	bool any = false;
	for (unsigned int fd = first; fd <= last && fd < FAST_FDS && !any; fd++)
		any = atomic_load_explicit(&fast_fd[fd], memory_order_relaxed);
	if (!any)
		return;
	pthread_mutex_lock(&fast_lock);
	for (struct irqfd *f = fast_list, *next; f; f = next) {
		next = f->fast_next;
		if ((unsigned int)f->client_fd >= first && (unsigned int)f->client_fd <= last)
			fast_del(f);
	}
	pthread_mutex_unlock(&fast_lock);
}

static void inject(struct skvm_vm *vm, const struct irqfd *f);

/*
 * The 8 bytes at buf, or -EFAULT where write(2) would fail so.  No copy
 * through the kernel (process_vm_readv pins the page: ~1.6 us here): an
 * rt_sigprocmask with no such `how' reads its 8-byte set before looking at
 * `how' (-EFAULT), else fails EINVAL having changed nothing, then a plain
 * load (one system call, ~0.2 us).  A NULL set is no set to the kernel,
 * and EFAULT to write.  Unguarded: another thread unmapping the buffer
 * between the check and the load, a SIGSEGV where the write would have
 * been EFAULT or done: a client racing munmap against its own write.
 */
static int read_u64(const void *buf, u64 *v)
{
	if (!buf)
		return -EFAULT;
	int saved = errno;
	long r = syscall(SYS_rt_sigprocmask, -1, buf, NULL, sizeof(u64));
	int e = errno;
	errno = saved;
	if (r < 0 && e == EINVAL) {
		memcpy(v, buf, sizeof(*v));
		return 0;
	}
	if (r < 0 && e == EFAULT)
		return -EFAULT;
	return skvm_copy_from_user(v, (unsigned long)buf, sizeof(*v)); /* filtered */
}

/* fd still names f's eventfd (fast_add). */
static bool number_same(const struct irqfd *f, int fd)
{
	int saved = errno;
	struct epoll_event ev = {.events = 0};
	bool same = epoll_ctl(f->check_ep, EPOLL_CTL_MOD, fd, &ev) == 0;
	errno = saved;
	return same;
}

/*
 * A write of n bytes at buf to the client's fd: true if it was an irqfd's
 * and is done (eventfd_write's result: 8 bytes taken), false to make the
 * real write.  A bad buffer, a short write or the value eventfd_write
 * refuses go to the eventfd, which fails them.  One value read, the pid
 * cached (skvm_self_pid), one number check (number_same, ~0.4 us, where
 * kcmp took ~1.3 us).
 */
bool skvm_irqfd_write(int fd, const void *buf, size_t n)
{
	if ((unsigned int)fd >= FAST_FDS ||
	    !atomic_load_explicit(&fast_fd[fd], memory_order_relaxed) || n < sizeof(u64) ||
	    t_fast || skvm_in_call)
		return false;
	u64 v;
	if (read_u64(buf, &v) || v == ~0ULL)
		return false;
	t_fast = true;
	pid_t pid = skvm_self_pid();
	bool done = false;
	pthread_mutex_lock(&fast_lock);
	for (struct irqfd *f = fast_list, *next; f; f = next) {
		next = f->fast_next;
		if (f->client_fd != fd)
			continue;
		struct skvm_irqfds *s = f->owner;
		/* a forked child's write is its parent's VM's business */
		if (s->vm->pid != pid)
			continue;
		/* the number names another file now (closed and reused, or
		 * replaced, by any means): each irqfd on it is checked, as
		 * the number may have been another eventfd's when assigned */
		if (!number_same(f, fd)) {
			fast_del(f);
			continue;
		}
		done = true;
		pthread_mutex_lock(&s->lock);
		if (f->leftover) {
			skvm_eventfd_take(f->fd);
			f->leftover = false;
		}
		inject(s->vm, f);
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&fast_lock);
	t_fast = false;
	return done;
}

static void irqfd_free(struct irqfd *f)
{
	skvm_eventfd_put(f->fd);
	skvm_eventfd_put(f->resamplefd);
	free(f);
}

static void inject(struct skvm_vm *vm, const struct irqfd *f)
{
	if (f->resamplefd >= 0) {
		skvm_route_set_gsi(vm, SKVM_IRQ_SRC_RESAMPLE, f->gsi, 1);
	} else {
		skvm_route_set_gsi(vm, SKVM_IRQ_SRC_USER, f->gsi, 1);
		skvm_route_set_gsi(vm, SKVM_IRQ_SRC_USER, f->gsi, 0);
	}
}

static void free_zombies(struct skvm_irqfds *s)
{
	while (s->zombies) {
		struct irqfd *f = s->zombies;
		s->zombies = f->next;
		irqfd_free(f);
	}
}

static void *poller(void *arg)
{
	struct skvm_irqfds *s = arg;
	struct skvm_vm *vm = s->vm;
	struct epoll_event ev[32];
	for (;;) {
		int n = epoll_wait(s->epfd, ev, ARRAY_SIZE(ev), -1);
		pthread_mutex_lock(&s->lock);
		if (s->stop) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct irqfd *f = ev[i].data.ptr;
			if (!f) {
				skvm_eventfd_take(s->wakefd);
				continue;
			}
			if (f->dead)
				continue;
			if (f->initial) {
				bool same = skvm_eventfd_peek(f->fd) == f->initial;
				f->initial = 0;
				if (same)
					continue;
			}
			/* irqfd_wakeup: every signal reads the count and
			 * injects; none left: a writer's thread took it */
			if (skvm_eventfd_take(f->fd)) {
				f->leftover = false;
				inject(vm, f);
			}
		}
		free_zombies(s);
		pthread_mutex_unlock(&s->lock);
	}
}

static struct skvm_irqfds *irqfds_get(struct skvm_vm *vm)
{
	struct skvm_irqroute *r = vm->irqroute;
	pthread_mutex_lock(&r->lock);
	struct skvm_irqfds *s = r->irqfds;
	if (s)
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->vm = vm;
	pthread_mutex_init(&s->lock, NULL);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (s->epfd < 0 || s->wakefd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev))
		goto fail;
	/* the poller takes none of the client's signals (thread.c) */
	int e = skvm_thread_create(&s->thread, poller, s);
	if (e)
		goto fail;
	pthread_setname_np(s->thread, "softkvm-irqfd");
	r->irqfds = s;
	goto out;
fail:
	if (s->epfd >= 0)
		sys_close(s->epfd);
	if (s->wakefd >= 0)
		sys_close(s->wakefd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	s = NULL;
out:
	pthread_mutex_unlock(&r->lock);
	return s;
}

static bool has_resampler(const struct skvm_irqfds *s, u32 gsi)
{
	for (const struct irqfd *f = s->list; f; f = f->next)
		if (f->resamplefd >= 0 && f->gsi == gsi)
			return true;
	return false;
}

/* Unlink f (under s->lock): no more injections, freed after the poller's
 * current batch.  The last resampler of a GSI takes its level down, as
 * irqfd_resampler_shutdown. */
static void irqfd_kill(struct skvm_vm *vm, struct skvm_irqfds *s, struct irqfd **link)
{
	struct irqfd *f = *link;
	*link = f->next;
	f->dead = true;
	fast_del(f);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, f->fd, NULL);
	if (f->resamplefd >= 0) {
		atomic_fetch_sub(&s->nr_resample, 1);
		if (!has_resampler(s, f->gsi))
			skvm_route_set_gsi(vm, SKVM_IRQ_SRC_RESAMPLE, f->gsi, 0);
	}
	f->next = s->zombies;
	s->zombies = f;
}

static long irqfd_deassign(struct skvm_vm *vm, const struct kvm_irqfd *a)
{
	int r = skvm_eventfd_check((int)a->fd);
	if (r)
		return r;
	struct skvm_irqfds *s = vm->irqroute->irqfds;
	if (!s)
		return 0;
	pthread_mutex_lock(&fast_lock);
	pthread_mutex_lock(&s->lock);
	for (struct irqfd **p = &s->list; *p;) {
		if ((*p)->gsi == a->gsi && skvm_eventfd_same((*p)->fd, (int)a->fd))
			irqfd_kill(vm, s, p);
		else
			p = &(*p)->next;
	}
	bool wake = s->zombies != NULL;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&fast_lock);
	if (wake)
		skvm_eventfd_signal(s->wakefd);
	return 0;
}

/* kvm_irqfd_assign's checks, in its order. */
static long irqfd_assign(struct skvm_vm *vm, const struct kvm_irqfd *a)
{
	bool resample = a->flags & KVM_IRQFD_FLAG_RESAMPLE;
	/* kvm_arch_irqfd_allowed: a resampler needs the full irqchip (its
	 * ack comes from the in-kernel IOAPIC or PIC). */
	if (!skvm_irqchip_in_kernel(vm) || (resample && skvm_irqchip_split(vm)))
		return -EINVAL;
	struct irqfd *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->gsi = a->gsi;
	f->resamplefd = -1;
	f->client_fd = -1;
	f->check_ep = -1;
	f->fd = skvm_eventfd_get((int)a->fd);
	long r = f->fd;
	if (f->fd < 0)
		goto fail;
	if (resample) {
		f->resamplefd = skvm_eventfd_get((int)a->resamplefd);
		r = f->resamplefd;
		if (r < 0)
			goto fail;
	}
	struct skvm_irqfds *s = irqfds_get(vm);
	r = -ENOMEM;
	if (!s)
		goto fail;
	f->owner = s;
	pthread_mutex_lock(&fast_lock);
	pthread_mutex_lock(&s->lock);
	r = 0;
	for (struct irqfd *g = s->list; g && !r; g = g->next)
		if (skvm_eventfd_same(g->fd, f->fd))
			r = -EBUSY; /* this eventfd already drives a GSI */
	/* Edge-triggered: one event per signal, as KVM's wait-queue callback
	 * runs once per eventfd write. */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = f};
	long long pending = 0;
	if (!r) {
		pending = skvm_eventfd_peek(f->fd);
		f->initial = pending > 0 ? pending : 0;
		f->leftover = pending > 0;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, f->fd, &ev))
			r = -errno;
	}
	if (!r) {
		/* A count already pending fires once now and stays unread. */
		if (pending > 0)
			inject(vm, f);
		f->next = s->list;
		s->list = f;
		if (resample)
			atomic_fetch_add(&s->nr_resample, 1);
		fast_add(f, (int)a->fd);
	}
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&fast_lock);
	if (!r)
		return 0;
fail:
	irqfd_free(f);
	return r;
}

long skvm_irqfd_ioctl(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_irqfd a;
	if (skvm_copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.flags & ~(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE))
		return -EINVAL;
	if (a.flags & KVM_IRQFD_FLAG_DEASSIGN)
		return irqfd_deassign(vm, &a);
	return irqfd_assign(vm, &a);
}

/*
 * irqfd_resampler_ack: the guest's EOI of a level interrupt on (chip, pin).
 * Each resampling irqfd on the GSI routed there has its level taken down
 * and its resamplefd signalled.
 */
void skvm_irq_ack_notify(struct skvm_vm *vm, u32 chip, u32 pin)
{
	struct skvm_irqfds *s = vm->irqroute->irqfds;
	if (!s || !atomic_load(&s->nr_resample) || chip >= SKVM_NR_IRQCHIPS ||
	    pin >= SKVM_IOAPIC_PINS)
		return;
	struct skvm_irqroute *r = vm->irqroute;
	u32 idx = skvm_srcu_read_lock(&r->srcu);
	s32 gsi = skvm_route_table(vm)->chip_gsi[chip][pin];
	skvm_srcu_read_unlock(&r->srcu, idx);
	if (gsi < 0)
		return;
	pthread_mutex_lock(&s->lock);
	if (has_resampler(s, (u32)gsi)) {
		skvm_route_set_gsi(vm, SKVM_IRQ_SRC_RESAMPLE, (u32)gsi, 0);
		for (const struct irqfd *f = s->list; f; f = f->next)
			if (f->resamplefd >= 0 && f->gsi == (u32)gsi)
				skvm_eventfd_signal(f->resamplefd);
	}
	pthread_mutex_unlock(&s->lock);
}

void skvm_irqfds_destroy(struct skvm_vm *vm)
{
	struct skvm_irqfds *s = vm->irqroute ? vm->irqroute->irqfds : NULL;
	if (!s)
		return;
	pthread_mutex_lock(&fast_lock);
	for (struct irqfd *f = s->list; f; f = f->next)
		fast_del(f);
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&fast_lock);
	skvm_eventfd_signal(s->wakefd);
	pthread_join(s->thread, NULL);
	while (s->list) {
		struct irqfd *f = s->list;
		s->list = f->next;
		irqfd_free(f);
	}
	free_zombies(s);
	sys_close(s->epfd);
	sys_close(s->wakefd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	vm->irqroute->irqfds = NULL;
}
