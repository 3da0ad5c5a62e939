/* Eventfd helpers for the KVM_IRQFD / KVM_IOEVENTFD tests. */
#ifndef SKVM_TEST_T_EVENTFD_H
#define SKVM_TEST_T_EVENTFD_H

#include "t.h"

#include <poll.h>
#include <sys/eventfd.h>

/* A non-blocking eventfd, or bail out. */
__attribute__((unused)) static int t_efd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		T_BAIL("eventfd");
	return fd;
}

/* The count, which reading resets (0 if it was 0). */
__attribute__((unused)) static unsigned long long t_efd_count(int fd)
{
	unsigned long long v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* The count is not 0 (left in place). */
__attribute__((unused)) static int t_efd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

__attribute__((unused)) static void t_efd_signal(int fd)
{
	unsigned long long one = 1;
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		T_BAIL("eventfd write");
}

#endif
