/*
 * Copies between softkvm and the client's memory that fail with EFAULT
 * instead of faulting: the client passes raw pointers in ioctl arguments,
 * and a bad one must give the errno real KVM gives, never a crash.
 *
 * process_vm_readv/writev on our own pid checks the range in the kernel.
 * Where a seccomp policy forbids those calls (EPERM, ENOSYS: some container
 * profiles without CAP_SYS_PTRACE), the copy goes through a pipe instead:
 * write(2) reads the source and read(2) fills the destination with the
 * kernel's own user-copy checks, so a bad pointer is EFAULT there too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "kvm/sys.h"

static _Atomic bool use_pipe;
static pthread_mutex_t pipe_lock = PTHREAD_MUTEX_INITIALIZER;
static int pipe_fd[2] = {-1, -1};
static pid_t pipe_pid;

/*
 * A pipe of this process (a forked child must not share its parent's) that
 * is still open (the client may have closed it with close_range).  Called
 * with pipe_lock held.
 */
static int pipe_ready(void)
{
	pid_t pid = getpid();
	if (pipe_fd[0] >= 0 && pipe_pid == pid &&
	    syscall(SYS_fcntl, pipe_fd[0], F_GETFD) >= 0 &&
	    syscall(SYS_fcntl, pipe_fd[1], F_GETFD) >= 0)
		return 0;
	if (pipe_fd[0] >= 0 && pipe_pid != pid) {
		sys_close(pipe_fd[0]);
		sys_close(pipe_fd[1]);
	}
	if (syscall(SYS_pipe2, pipe_fd, O_CLOEXEC | O_NONBLOCK)) {
		pipe_fd[0] = pipe_fd[1] = -1;
		return -errno;
	}
	pipe_pid = pid;
	return 0;
}

static void pipe_fork_prepare(void)
{
	pthread_mutex_lock(&pipe_lock);
}

static void pipe_fork_done(void)
{
	pthread_mutex_unlock(&pipe_lock);
}

static void pipe_register_atfork(void)
{
	pthread_atfork(pipe_fork_prepare, pipe_fork_done, pipe_fork_done);
}

/* Copy n bytes src -> dst through the (empty) pipe, a pipe-full at a time. */
static int pipe_copy(void *dst, const void *src, size_t n)
{
	static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
	pthread_once(&atfork_once, pipe_register_atfork);
	pthread_mutex_lock(&pipe_lock);
	int r = pipe_ready();
	for (size_t off = 0; !r && off < n;) {
		size_t chunk = n - off < 65536 ? n - off : 65536;
		/* A fault part-way gives a short count; the next write faults. */
		long w = syscall(SYS_write, pipe_fd[1], (const char *)src + off, chunk);
		if (w <= 0) {
			r = -EFAULT;
			break;
		}
		long rd = syscall(SYS_read, pipe_fd[0], (char *)dst + off, (size_t)w);
		if (rd != w) {
			char junk[4096];
			while (syscall(SYS_read, pipe_fd[0], junk, sizeof(junk)) > 0)
				;
			r = -EFAULT;
			break;
		}
		off += (size_t)w;
	}
	pthread_mutex_unlock(&pipe_lock);
	return r;
}

static int xfer(void *local, unsigned long remote, size_t n, bool write)
{
	if (!n)
		return 0;
	if (remote + n < remote)
		return -EFAULT;
	if (!atomic_load_explicit(&use_pipe, memory_order_relaxed)) {
		struct iovec l = {.iov_base = local, .iov_len = n};
		struct iovec r = {.iov_base = (void *)remote, .iov_len = n};
		ssize_t done = write ? process_vm_writev(getpid(), &l, 1, &r, 1, 0)
				     : process_vm_readv(getpid(), &l, 1, &r, 1, 0);
		if (done == (ssize_t)n)
			return 0;
		if (done >= 0 || errno == EFAULT || errno == ENOMEM)
			return -EFAULT;
		if (errno != EPERM && errno != ENOSYS)
			return -errno;
		atomic_store(&use_pipe, true);
	}
	return write ? pipe_copy((void *)remote, local, n) : pipe_copy(local, (void *)remote, n);
}

int skvm_copy_from_user(void *dst, unsigned long src, size_t n)
{
	return xfer(dst, src, n, false);
}

int skvm_copy_to_user(unsigned long dst, const void *src, size_t n)
{
	return xfer((void *)src, dst, n, true);
}
