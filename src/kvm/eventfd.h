/*
 * Client eventfds used by KVM_IRQFD and KVM_IOEVENTFD.  KVM holds a
 * reference to the eventfd itself, not to the fd number, so the client may
 * close its fd; softkvm keeps a private close-on-exec dup.  An eventfd is
 * identified by its open file (a dup names the same one), as KVM compares
 * eventfd_ctx pointers.
 */
#ifndef SOFTKVM_KVM_EVENTFD_H
#define SOFTKVM_KVM_EVENTFD_H

#include "common.h"

/* eventfd_ctx_fdget's answer: 0 for an eventfd, -EBADF for an fd that is
 * not open, -EINVAL for any other file. */
int skvm_eventfd_check(int fd);

/* A private reference (a dup) to the eventfd fd: the new fd or -errno. */
int skvm_eventfd_get(int fd);
void skvm_eventfd_put(int fd);

/* 1 for an EFD_SEMAPHORE eventfd, 0 if not, -1 unknown (fdinfo). */
int skvm_eventfd_semaphore(int fd);

/* Both fds name the same eventfd. */
bool skvm_eventfd_same(int a, int b);

/* Add 1 to the count, as eventfd_signal. */
void skvm_eventfd_signal(int fd);

/* The count, left in place (from /proc/self/fdinfo), or -1 if unknown. */
long long skvm_eventfd_peek(int fd);

/* Take the count without blocking (0 if it was 0), as eventfd_ctx_do_read. */
u64 skvm_eventfd_take(int fd);

#endif
