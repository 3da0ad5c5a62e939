/* Raw system calls for the library's own use, so its internal fd work never
 * re-enters its own libc interposers (src/preload/preload.c). */
#ifndef SOFTKVM_KVM_SYS_H
#define SOFTKVM_KVM_SYS_H

#include <sys/syscall.h>
#include <unistd.h>

static inline int sys_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

/* softkvm's own eventfd signals: never the client's write() hook, whose
 * irqfd injection takes locks a softkvm thread may hold (kvm/irqfd.c). */
static inline long sys_write(int fd, const void *buf, size_t n)
{
	return syscall(SYS_write, fd, buf, n);
}

static inline int sys_dupfd(int fd, int cmd)
{
	return (int)syscall(SYS_fcntl, fd, cmd, 0);
}

static inline int sys_dup3(int oldfd, int newfd, int flags)
{
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}

#endif
