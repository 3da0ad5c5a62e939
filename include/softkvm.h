/*
 * softkvm: the Linux KVM API served in user space.
 *
 * The direct C API, for programs that link libsoftkvm (static binaries,
 * tests).  Each call behaves as the libc call it is named after would on a
 * real /dev/kvm: handles are real fds, errors come back as -1 with errno.
 * Programs that cannot be relinked use `softkvm run -- CMD` instead.
 */
#ifndef SOFTKVM_H
#define SOFTKVM_H

#ifdef __cplusplus
extern "C" {
#endif

/* Open a system handle, as open("/dev/kvm", flags) would. */
int softkvm_open(int flags);

/* ioctl(2) on any softkvm handle (system, VM, vCPU, device). */
int softkvm_ioctl(int fd, unsigned long request, ...);

/* close(2) / dup(2) / dup3(2) for softkvm handles (plain fds pass through). */
int softkvm_close(int fd);
int softkvm_dup(int fd);
int softkvm_dup3(int oldfd, int newfd, int flags);

/* Non-zero if fd is a softkvm handle. */
int softkvm_is_handle(int fd);

#ifdef __cplusplus
}
#endif

#endif
