/*
 * Copies between softkvm and the client's memory that fail with EFAULT
 * instead of faulting: the client passes raw pointers in ioctl arguments,
 * and a bad one must give the errno real KVM gives, never a crash.
 * process_vm_readv/writev on our own pid checks the range in the kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kvm/kvm.h"

static int xfer(void *local, unsigned long remote, size_t n, bool write)
{
	if (!n)
		return 0;
	if (remote + n < remote)
		return -EFAULT;
	struct iovec l = {.iov_base = local, .iov_len = n};
	struct iovec r = {.iov_base = (void *)remote, .iov_len = n};
	ssize_t done = write ? process_vm_writev(getpid(), &l, 1, &r, 1, 0)
			     : process_vm_readv(getpid(), &l, 1, &r, 1, 0);
	if (done == (ssize_t)n)
		return 0;
	if (done < 0 && errno != EFAULT && errno != ENOMEM)
		return -errno;
	return -EFAULT;
}

int skvm_copy_from_user(void *dst, unsigned long src, size_t n)
{
	return xfer(dst, src, n, false);
}

int skvm_copy_to_user(unsigned long dst, const void *src, size_t n)
{
	return xfer((void *)src, dst, n, true);
}
