/* The direct API (include/softkvm.h) and the ioctl entry every way in uses. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "softkvm.h"
#include "kvm/coalesced_mmio.h"
#include "kvm/dirty.h"
#include "kvm/kvm.h"
#include "kvm/sys.h"

/* What a softkvm memfd at fd is called ("kvm", "kvm-vm", "kvm-vcpu:N"), or
 * NULL if fd is something else. */
static const char *memfd_name(int fd, char *buf, size_t n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t len = readlink(path, buf, n - 1);
	if (len <= 0)
		return NULL;
	buf[len] = 0;
	static const char pre[] = "/memfd:", post[] = " (deleted)";
	size_t lp = sizeof(pre) - 1, lq = sizeof(post) - 1;
	if ((size_t)len <= lp + lq || strncmp(buf, pre, lp) || strcmp(buf + len - lq, post))
		return NULL;
	buf[len - lq] = 0;
	const char *name = buf + lp;
	if (strcmp(name, "kvm") && strcmp(name, "kvm-vm") && strncmp(name, "kvm-vcpu:", 9))
		return NULL;
	return name;
}

/*
 * A KVM request on an fd the table does not know that is nevertheless one
 * of our memfds.  Either another thread is between the kernel's half and
 * the table's half of a close or dup2 on it (wait for the table to catch
 * up, or for the fd to stop being ours), or the fd came across exec:
 * the system fd is stateless and left open across exec on purpose, so it
 * is adopted; a VM or vCPU fd belongs to the old address space, where KVM
 * answers EIO (kvm->mm != current->mm).  Only KVM requests are looked at,
 * so other ioctls never pay for the readlink.
 */
static long settle_unknown(int fd, unsigned int cmd, struct skvm_file **fp)
{
	char buf[128], again[128];
	*fp = NULL;
	if (_IOC_TYPE(cmd) != KVMIO)
		return SKVM_NOT_OURS;
	const char *name = memfd_name(fd, buf, sizeof(buf));
	if (!name)
		return SKVM_NOT_OURS;
	for (int i = 0; i < 1000; i++) {
		sched_yield();
		*fp = skvm_file_get(fd);
		if (*fp)
			return 0;
		const char *now = memfd_name(fd, again, sizeof(again));
		if (!now)
			return SKVM_NOT_OURS; /* closed, or replaced by a foreign file */
	}
	if (strcmp(name, "kvm"))
		return -EIO;
	if (skvm_file_install(SKVM_SYS, fd, NULL) < 0)
		return -ENOMEM;
	*fp = skvm_file_get(fd);
	return *fp ? 0 : SKVM_NOT_OURS;
}

SKVM_TLS int skvm_in_call;

static long ioctl_in(int fd, unsigned long request, unsigned long arg)
{
	/* The request may arrive sign-extended to 64 bits: KVM reads 32. */
	unsigned int cmd = (unsigned int)request;
	struct skvm_file *f = skvm_file_get(fd);
	if (!f) {
		long unknown = settle_unknown(fd, cmd, &f);
		if (!f)
			return unknown;
	}
	long r;
	switch (f->kind) {
	case SKVM_SYS:
		r = skvm_sys_ioctl(cmd, arg);
		break;
	case SKVM_VM: {
		struct skvm_vm *vm = f->obj;
		r = vm->pid != skvm_self_pid() ? -EIO : skvm_vm_ioctl(vm, cmd, arg);
		break;
	}
	case SKVM_VCPU: {
		struct skvm_vcpu *vcpu = f->obj;
		r = vcpu->vm->pid != skvm_self_pid() ? -EIO : skvm_vcpu_ioctl(vcpu, cmd, arg);
		break;
	}
	default:
		r = -ENOTTY;
		break;
	}
	skvm_file_put(f);
	return r;
}

long skvm_ioctl(int fd, unsigned long request, unsigned long arg)
{
	skvm_in_call++;
	long r = ioctl_in(fd, request, arg);
	skvm_in_call--;
	skvm_signals_restore();
	return r;
}

/*
 * The system, VM and stats fds have no mmap in KVM (ENODEV); a vCPU fd lives on
 * KVM's noexec anon-inode mount, so PROT_EXEC is EPERM, and its dirty ring
 * pages map only shared (kvm_vcpu_mmap).  Our memfds would allow all that.
 */
int skvm_mmap_check(int fd, int prot, int flags, off_t off, size_t len)
{
	struct skvm_file *f = skvm_file_get(fd);
	if (!f)
		return 0;
	int r = -ENODEV;
	if (f->kind == SKVM_VCPU)
		r = (prot & PROT_EXEC) ? -EPERM : skvm_dirty_ring_mmap_check(f->obj, flags, off, len);
	skvm_file_put(f);
	return r;
}

/*
 * KVM shows one coalesced-MMIO ring page per VM at the same page of every
 * vCPU's mapping; ours lives in its own memfd, so it is laid over that page
 * of any vCPU mapping that covers it.
 */
int skvm_mmap_fixup(int fd, void *addr, size_t len, int prot, int flags, off_t off)
{
	struct skvm_file *f = skvm_file_get(fd);
	if (!f)
		return 0;
	int r = 0;
	const u64 ring = KVM_COALESCED_MMIO_PAGE_OFFSET * PAGE_SIZE;
	if (f->kind == SKVM_VCPU && off >= 0 && (u64)off <= ring && ring < (u64)off + len) {
		struct skvm_vcpu *vcpu = f->obj;
		long m = syscall(SYS_mmap, (u8 *)addr + (ring - (u64)off), PAGE_SIZE, prot,
				 (flags & MAP_TYPE) | MAP_FIXED, vcpu->vm->cmmio->memfd, 0);
		if (m == -1)
			r = -errno;
	}
	skvm_file_put(f);
	return r;
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
