/* Client eventfds (see eventfd.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "kvm/eventfd.h"
#include "kvm/sys.h"

int skvm_eventfd_check(int fd)
{
	if (fd < 0 || syscall(SYS_fcntl, fd, F_GETFD) < 0)
		return -EBADF;
	char path[64], link[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n >= 0) {
		link[n] = 0;
		return strcmp(link, "anon_inode:[eventfd]") ? -EINVAL : 0;
	}
	/* No /proc: an eventfd is at least an anonymous inode (no file type). */
	struct stat st;
	if (fstat(fd, &st))
		return -EBADF;
	return (st.st_mode & S_IFMT) ? -EINVAL : 0;
}

int skvm_eventfd_get(int fd)
{
	int r = skvm_eventfd_check(fd);
	if (r)
		return r;
	r = sys_dupfd(fd, F_DUPFD_CLOEXEC);
	return r < 0 ? -errno : r;
}

void skvm_eventfd_put(int fd)
{
	if (fd >= 0)
		sys_close(fd);
}

/* A hexadecimal ("eventfd-count:") or decimal field of fd's fdinfo, or -1. */
static long long fdinfo_field(int fd, const char *field, int base)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	int f = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -1;
	ssize_t n = read(f, buf, sizeof(buf) - 1);
	sys_close(f);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	const char *p = strstr(buf, field);
	return p ? strtoll(p + strlen(field), NULL, base) : -1;
}

long long skvm_eventfd_peek(int fd)
{
	return fdinfo_field(fd, "eventfd-count:", 16);
}

int skvm_eventfd_semaphore(int fd)
{
	return (int)fdinfo_field(fd, "eventfd-semaphore:", 10);
}

bool skvm_eventfd_same(int a, int b)
{
	pid_t pid = getpid();
	long r = syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b);
	if (r >= 0)
		return r == 0;
	/* kcmp missing or filtered: the eventfd's id from fdinfo. */
	long long x = fdinfo_field(a, "eventfd-id:", 10);
	return x >= 0 && x == fdinfo_field(b, "eventfd-id:", 10);
}

void skvm_eventfd_signal(int fd)
{
	/* A count of 2^64 - 2 would make this wait: no guest gets there. */
	u64 one = 1;
	long r = sys_write(fd, &one, sizeof(one));
	(void)r;
}

u64 skvm_eventfd_take(int fd)
{
	u64 v = 0;
	struct iovec io = {&v, sizeof(v)};
	ssize_t r = preadv2(fd, &io, 1, -1, RWF_NOWAIT);
	if (r < 0 && errno == EOPNOTSUPP) {
		/* Kernels before eventfd's read_iter: poll first.  The client
		 * reading the same eventfd in between would make this wait. */
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
			r = read(fd, &v, sizeof(v));
	}
	return r == sizeof(v) ? v : 0;
}
