/* The direct API (include/softkvm.h) and the ioctl entry every way in uses. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "softkvm.h"
#include "kvm/kvm.h"
#include "kvm/sys.h"

/*
 * A handle inherited across exec is a memfd the new image's table does not
 * know.  The system fd is stateless and may be left open across exec on
 * purpose: adopt it.  A VM or vCPU fd belongs to the old address space;
 * KVM answers EIO there (kvm->mm != current->mm).  Only KVM requests are
 * looked at, so other ioctls never pay for the readlink.
 */
static long adopt_inherited(int fd, unsigned int cmd)
{
	if (_IOC_TYPE(cmd) != KVMIO)
		return SKVM_NOT_OURS;
	char path[64], target[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return SKVM_NOT_OURS;
	target[n] = 0;
	if (!strcmp(target, "/memfd:kvm (deleted)"))
		return skvm_file_install(SKVM_SYS, fd, NULL) < 0 ? -ENOMEM : 0;
	if (!strcmp(target, "/memfd:kvm-vm (deleted)") ||
	    !strncmp(target, "/memfd:kvm-vcpu:", 16))
		return -EIO;
	return SKVM_NOT_OURS;
}

long skvm_ioctl(int fd, unsigned long request, unsigned long arg)
{
	/* The request may arrive sign-extended to 64 bits: KVM reads 32. */
	unsigned int cmd = (unsigned int)request;
	struct skvm_file *f = skvm_file_get(fd);
	if (!f) {
		long r = adopt_inherited(fd, cmd);
		if (r)
			return r;
		f = skvm_file_get(fd);
		if (!f)
			return SKVM_NOT_OURS;
	}
	long r;
	switch (f->kind) {
	case SKVM_SYS:
		r = skvm_sys_ioctl(cmd, arg);
		break;
	case SKVM_VM: {
		struct skvm_vm *vm = f->obj;
		r = vm->pid != getpid() ? -EIO : skvm_vm_ioctl(vm, cmd, arg);
		break;
	}
	case SKVM_VCPU: {
		struct skvm_vcpu *vcpu = f->obj;
		r = vcpu->vm->pid != getpid() ? -EIO : skvm_vcpu_ioctl(vcpu, cmd, arg);
		break;
	}
	default:
		r = -ENOTTY;
		break;
	}
	skvm_file_put(f);
	return r;
}

/*
 * The system and VM fds have no mmap in KVM (ENODEV); a vCPU fd lives on
 * KVM's noexec anon-inode mount, so PROT_EXEC is EPERM.  Our memfds would
 * allow both.
 */
int skvm_mmap_check(int fd, int prot)
{
	switch (skvm_file_kind(fd)) {
	case SKVM_SYS:
	case SKVM_VM:
	case SKVM_DEVICE:
		return -ENODEV;
	case SKVM_VCPU:
		return (prot & PROT_EXEC) ? -EPERM : 0;
	default:
		return 0;
	}
}

static int ret_errno(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

SKVM_EXPORT int softkvm_open(int flags)
{
	return ret_errno(skvm_sys_open(flags));
}

SKVM_EXPORT int softkvm_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	long r = skvm_ioctl(fd, request, arg);
	if (r == SKVM_NOT_OURS)
		return ioctl(fd, request, arg);
	return ret_errno(r);
}

SKVM_EXPORT int softkvm_close(int fd)
{
	long r = skvm_file_close(fd);
	if (r == -EBADF)
		return sys_close(fd);
	return ret_errno(r);
}

SKVM_EXPORT int softkvm_dup3(int oldfd, int newfd, int flags)
{
	int r = sys_dup3(oldfd, newfd, flags);
	if (r < 0)
		return r;
	return ret_errno(skvm_file_dup(oldfd, r, flags));
}

SKVM_EXPORT int softkvm_dup(int fd)
{
	int r = sys_dupfd(fd, F_DUPFD);
	if (r < 0)
		return r;
	return ret_errno(skvm_file_dup(fd, r, 0));
}

SKVM_EXPORT int softkvm_is_handle(int fd)
{
	return skvm_file_is_ours(fd);
}
