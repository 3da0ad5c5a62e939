/*
 * libc interposition for `softkvm run`: open of the KVM device path, ioctl,
 * close (one fd, close_range, closefrom), the dup family, mmap, and write
 * and eventfd_write (an irqfd's eventfd injects in the writer's thread,
 * kvm/irqfd.c).  Every
 * call that is not about a softkvm handle goes straight to the next
 * definition (libc).
 *
 * Interposition is active only when SOFTKVM_DEVICE names the path to answer
 * for (`softkvm run` sets it to /dev/kvm); a program that merely links the
 * library sees plain libc behaviour.  No constructor: everything is lazy.
 */
/* Define open and open64 (etc.) as separate symbols, as libc does. */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm/kvm.h"

/* Fortify entry points glibc exports without a public prototype. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

#define NEXT(name, type)                                                        \
	static __typeof__(type) next_##name;                                              \
	if (unlikely(!next_##name))                                             \
		next_##name = (type)dlsym(RTLD_NEXT, #name)

static const char *device_path(void)
{
	static const char *path;
	static bool done;
	if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		/* an answer from before the environment was set up (a
		 * sanitizer runtime initialising) is not kept */
		const char *p = getenv("SOFTKVM_DEVICE");
		path = p && *p ? p : NULL;
		if (path || environ)
			__atomic_store_n(&done, true, __ATOMIC_RELEASE);
	}
	return path;
}

static const char *last_component(const char *p)
{
	const char *slash = strrchr(p, '/');
	return slash ? slash + 1 : p;
}

/* The directory part of p (up to its last component), as a path. */
static bool dir_of(const char *p, const char *last, char *out, size_t n)
{
	size_t len = (size_t)(last - p);
	if (len == 0)
		return snprintf(out, n, ".") < (int)n;
	if (len >= n)
		return false;
	memcpy(out, p, len);
	out[len] = 0;
	return true;
}

/*
 * path (relative to dirfd) names the device: the same string, or the same
 * last component in the same directory ("kvm" under a dirfd of /dev,
 * "/dev/./kvm").  The string test keeps the common case free of syscalls.
 */
static bool is_device(int dirfd, const char *path)
{
	const char *dev = device_path();
	if (!dev || !path)
		return false;
	if (strcmp(path, dev) == 0)
		return true;
	const char *dlast = last_component(dev), *plast = last_component(path);
	if (strcmp(dlast, plast) != 0 || !*plast)
		return false;
	char ddir[PATH_MAX], pdir[PATH_MAX];
	struct stat ds, ps;
	if (!dir_of(dev, dlast, ddir, sizeof(ddir)) || !dir_of(path, plast, pdir, sizeof(pdir)))
		return false;
	if (fstatat(AT_FDCWD, ddir, &ds, 0) || fstatat(dirfd, pdir, &ps, 0))
		return false;
	return ds.st_dev == ps.st_dev && ds.st_ino == ps.st_ino;
}

static int ret_errno(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

static mode_t va_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE
		       ? (mode_t)va_arg(ap, int)
		       : 0;
}

#define OPEN_LIKE(name)                                                         \
	SKVM_EXPORT int name(const char *path, int flags, ...)                  \
	{                                                                       \
		va_list ap;                                                     \
		va_start(ap, flags);                                            \
		mode_t mode = va_mode(flags, ap);                               \
		va_end(ap);                                                     \
		if (is_device(AT_FDCWD, path))                                  \
			return ret_errno(skvm_sys_open(flags));                 \
		NEXT(name, int (*)(const char *, int, ...));                    \
		return next_##name(path, flags, mode);                          \
	}

#define OPENAT_LIKE(name)                                                       \
	SKVM_EXPORT int name(int dirfd, const char *path, int flags, ...)       \
	{                                                                       \
		va_list ap;                                                     \
		va_start(ap, flags);                                            \
		mode_t mode = va_mode(flags, ap);                               \
		va_end(ap);                                                     \
		if (is_device(dirfd, path))                                     \
			return ret_errno(skvm_sys_open(flags));                 \
		NEXT(name, int (*)(int, const char *, int, ...));               \
		return next_##name(dirfd, path, flags, mode);                   \
	}

/* The _FORTIFY_SOURCE entry points: open(path, flags) without a mode. */
#define OPEN2_LIKE(name)                                                        \
	SKVM_EXPORT int name(const char *path, int flags)                       \
	{                                                                       \
		if (is_device(AT_FDCWD, path))                                  \
			return ret_errno(skvm_sys_open(flags));                 \
		NEXT(name, int (*)(const char *, int));                         \
		return next_##name(path, flags);                                \
	}

#define OPENAT2_LIKE(name)                                                      \
	SKVM_EXPORT int name(int dirfd, const char *path, int flags)            \
	{                                                                       \
		if (is_device(dirfd, path))                                     \
			return ret_errno(skvm_sys_open(flags));                 \
		NEXT(name, int (*)(int, const char *, int));                    \
		return next_##name(dirfd, path, flags);                         \
	}

OPEN_LIKE(open)
OPEN_LIKE(open64)
OPENAT_LIKE(openat)
OPENAT_LIKE(openat64)
OPEN2_LIKE(__open_2)
OPEN2_LIKE(__open64_2)
OPENAT2_LIKE(__openat_2)
OPENAT2_LIKE(__openat64_2)

SKVM_EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	long r = skvm_ioctl(fd, request, arg);
	if (likely(r != SKVM_NOT_OURS))
		return ret_errno(r);
	NEXT(ioctl, int (*)(int, unsigned long, ...));
	return next_ioctl(fd, request, arg);
}

SKVM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (unlikely(skvm_irqfd_write(fd, buf, n)))
		return sizeof(u64);
	NEXT(write, ssize_t (*)(int, const void *, size_t));
	return next_write(fd, buf, n);
}

SKVM_EXPORT int eventfd_write(int fd, eventfd_t value)
{
	if (unlikely(skvm_irqfd_write(fd, &value, sizeof(value))))
		return 0;
	NEXT(eventfd_write, int (*)(int, eventfd_t));
	return next_eventfd_write(fd, value);
}

SKVM_EXPORT int close(int fd)
{
	if (fd >= 0)
		skvm_irqfd_fds_closed((unsigned int)fd, (unsigned int)fd);
	long r = skvm_file_close(fd);
	if (r != -EBADF)
		return ret_errno(r);
	NEXT(close, int (*)(int));
	return next_close(fd);
}

SKVM_EXPORT int dup(int fd)
{
	NEXT(dup, int (*)(int));
	int r = next_dup(fd);
	return r < 0 ? r : ret_errno(skvm_file_dup(fd, r, 0));
}

SKVM_EXPORT int dup2(int oldfd, int newfd)
{
	NEXT(dup2, int (*)(int, int));
	int r = next_dup2(oldfd, newfd);
	if (r >= 0 && oldfd != newfd)
		skvm_irqfd_fds_closed((unsigned int)r, (unsigned int)r);
	return r < 0 ? r : ret_errno(skvm_file_dup(oldfd, r, 0));
}

SKVM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	NEXT(dup3, int (*)(int, int, int));
	int r = next_dup3(oldfd, newfd, flags);
	if (r >= 0)
		skvm_irqfd_fds_closed((unsigned int)r, (unsigned int)r);
	return r < 0 ? r : ret_errno(skvm_file_dup(oldfd, r, flags));
}

static int fcntl_common(int fd, int cmd, unsigned long arg,
			int (*next)(int, int, ...))
{
	int r = next(fd, cmd, arg);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		return ret_errno(skvm_file_dup(fd, r, cmd == F_DUPFD_CLOEXEC ? O_CLOEXEC : 0));
	return r;
}

SKVM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	NEXT(fcntl, int (*)(int, int, ...));
	return fcntl_common(fd, cmd, arg, next_fcntl);
}

SKVM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	NEXT(fcntl64, int (*)(int, int, ...));
	return fcntl_common(fd, cmd, arg, next_fcntl64);
}

/* close_range and closefrom close fds without going through close(). */
SKVM_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	NEXT(close_range, int (*)(unsigned int, unsigned int, int));
	int r = next_close_range(first, last, flags);
	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC)) {
		skvm_file_forget_range(first, last);
		skvm_irqfd_fds_closed(first, last);
	}
	return r;
}

SKVM_EXPORT void closefrom(int lowfd)
{
	NEXT(closefrom, void (*)(int));
	next_closefrom(lowfd);
	if (lowfd >= 0) {
		skvm_file_forget_range((unsigned int)lowfd, ~0u);
		skvm_irqfd_fds_closed((unsigned int)lowfd, ~0u);
	}
}

#define MMAP_LIKE(name)                                                         \
	SKVM_EXPORT void *name(void *addr, size_t len, int prot, int flags, int fd, \
			       off_t off)                                       \
	{                                                                       \
		int r = fd >= 0 ? skvm_mmap_check(fd, prot, flags, off, len) : 0; \
		if (r) {                                                        \
			errno = -r;                                             \
			return MAP_FAILED;                                      \
		}                                                               \
		NEXT(name, void *(*)(void *, size_t, int, int, int, off_t));    \
		void *m = next_##name(addr, len, prot, flags, fd, off);         \
		if (m != MAP_FAILED && fd >= 0 &&                               \
		    (r = skvm_mmap_fixup(fd, m, len, prot, flags, off))) {      \
			munmap(m, len);                                         \
			errno = -r;                                             \
			return MAP_FAILED;                                      \
		}                                                               \
		return m;                                                       \
	}

MMAP_LIKE(mmap)
MMAP_LIKE(mmap64)

/*
 * Signal handlers: with KVM a signal that arrives during KVM_RUN ends the
 * ioctl (EINTR, KVM_EXIT_INTR) and its handler runs after it returned.
 * softkvm runs guest code in the calling thread, so every handler the
 * client installs is wrapped: during KVM_RUN (skvm_signal_defer) the
 * wrapper only re-queues the signal, blocked until KVM_RUN has returned;
 * otherwise it calls the client's handler at once.  This keeps KVM_RUN
 * free of mask-changing system calls (kvm/run.c).  The synchronous fault
 * signals are never wrapped: they are softkvm's own faults (the engine's
 * host fault handler chains to the client's).  sigaction and signal
 * report the client's handler, never the wrapper.
 */
#include <signal.h>

struct client_action {
	_Atomic(void *) fn; /* sa_handler or sa_sigaction */
	_Atomic int flags;
};
static struct client_action actions[_NSIG];

static bool wrappable(int sig)
{
	return sig > 0 && sig < _NSIG && sig != SIGSEGV && sig != SIGBUS && sig != SIGFPE &&
	       sig != SIGILL && sig != SIGTRAP && sig != SIGSYS && sig != SIGKILL &&
	       sig != SIGSTOP;
}

static int real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	NEXT(sigaction, int (*)(int, const struct sigaction *, struct sigaction *));
	if (unlikely(!next_sigaction))
		/* libc is ahead of this library (LD_PRELOAD=libc.so.6 in a
		 * process linked with it, as `softkvm run` itself): nothing
		 * comes next, take libc's own name for it */
		next_sigaction = (int (*)(int, const struct sigaction *,
					  struct sigaction *))dlsym(RTLD_DEFAULT, "__sigaction");
	return next_sigaction(sig, act, old);
}

static void wrapper(int sig, siginfo_t *info, void *uc)
{
	if (skvm_signal_defer(sig, info, uc))
		return;
	void *fn = atomic_load(&actions[sig].fn);
	int flags = atomic_load(&actions[sig].flags);
	if (flags & SA_RESETHAND) {
		/* the kernel's one-shot reset, done here since the wrapper
		 * stays installed while a deferred signal waits */
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		atomic_store(&actions[sig].fn, NULL);
		real_sigaction(sig, &dfl, NULL);
	}
	if (!fn)
		return; /* a race with the client resetting it: nothing to call */
	if (flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))fn)(sig, info, uc);
	else
		((void (*)(int))fn)(sig);
}

SKVM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	/* a sanitizer runtime's own handlers, installed while it
	 * initialises, are not wrapped (no environment yet) */
	if (!device_path() || !wrappable(sig))
		return real_sigaction(sig, act, old);
	struct sigaction w;
	const struct sigaction *use = act;
	void *prev_fn = atomic_load(&actions[sig].fn);
	int prev_flags = atomic_load(&actions[sig].flags);
	if (act) {
		void *fn = (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction
							 : (void *)act->sa_handler;
		if (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN) {
			w = *act;
			w.sa_sigaction = wrapper;
			w.sa_flags = (act->sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
			use = &w;
			atomic_store(&actions[sig].flags, act->sa_flags);
			atomic_store(&actions[sig].fn, fn);
		}
	}
	int r = real_sigaction(sig, use, old);
	if (r) {
		atomic_store(&actions[sig].fn, prev_fn);
		atomic_store(&actions[sig].flags, prev_flags);
		return r;
	}
	if (act && use == act)
		atomic_store(&actions[sig].fn, NULL); /* SIG_DFL or SIG_IGN */
	if (old && old->sa_sigaction == wrapper) {
		/* the client's view: its own handler and flags */
		old->sa_flags = prev_flags;
		if (prev_flags & SA_SIGINFO)
			old->sa_sigaction = (void (*)(int, siginfo_t *, void *))prev_fn;
		else
			old->sa_handler = (void (*)(int))prev_fn;
	}
	return 0;
}

/* glibc's signal() and its aliases go to sigaction inside libc: the BSD
 * semantics (SA_RESTART, the signal blocked in its handler) or System V's
 * one-shot ones, through the interposed sigaction above. */
/* glibc's, without a prototype under _GNU_SOURCE */
__sighandler_t bsd_signal(int sig, __sighandler_t h);

static __sighandler_t signal_as(int sig, __sighandler_t h, int flags)
{
	struct sigaction sa = {.sa_handler = h, .sa_flags = flags}, old;
	sigemptyset(&sa.sa_mask);
	if (!(flags & SA_NODEFER) && sig > 0 && sig < _NSIG)
		sigaddset(&sa.sa_mask, sig);
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

SKVM_EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
	return signal_as(sig, h, SA_RESTART);
}

SKVM_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
	return signal_as(sig, h, SA_RESTART);
}

SKVM_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	return signal_as(sig, h, SA_RESETHAND | SA_NODEFER);
}

SKVM_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t h)
{
	return signal_as(sig, h, SA_RESETHAND | SA_NODEFER);
}

/* Asynchronous cancellation would unwind the thread from inside softkvm:
 * KVM_RUN masks the cancellation signal for threads that asked for it. */
SKVM_EXPORT int pthread_setcanceltype(int type, int *oldtype)
{
	NEXT(pthread_setcanceltype, int (*)(int, int *));
	int r = next_pthread_setcanceltype(type, oldtype);
	if (!r)
		skvm_signal_async_cancel(type == PTHREAD_CANCEL_ASYNCHRONOUS);
	return r;
}

/* True when every handler the client installs goes through the wrapper. */
bool skvm_signals_wrapped(void)
{
	return device_path() != NULL;
}
