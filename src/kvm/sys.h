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

static inline int sys_dupfd(int fd, int cmd)
{
	return (int)syscall(SYS_fcntl, fd, cmd, 0);
}

static inline int sys_dup3(int oldfd, int newfd, int flags)
{
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}

#endif
