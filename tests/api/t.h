/*
 * Conformance test helpers.  A test is an ordinary KVM client: it opens
 * /dev/kvm and uses <linux/kvm.h> only.  It prints TAP; tests/api/tap-wrap.sh
 * runs it under softkvm and on the host's /dev/kvm and compares.
 *
 *   T_OK(cond, desc...)           an expectation from the KVM document
 *   T_EQ(got, want, desc...)      the same, printing both values
 *   T_ERR(expr, errno, desc...)   expr fails with -1 and that errno
 *   T_OBS(key, fmt, ...)          a value both backends must agree on, where
 *                                 the document does not pin it down
 *
 * Descriptions name a check across backends: keep them unique in a test.
 */
#ifndef SKVM_TEST_T_H
#define SKVM_TEST_T_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

static int t_n, t_failed;

__attribute__((format(printf, 4, 5), unused)) static int
t_ok(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	printf("%sok %d - ", ok ? "" : "not ", ++t_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok) {
		t_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return ok;
}

#define T_OK(cond, ...) t_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define T_EQ(got, want, ...)                                                    \
	do {                                                                    \
		long long _g = (long long)(got), _w = (long long)(want);        \
		if (!T_OK(_g == _w, __VA_ARGS__))                               \
			printf("#   got %lld (%#llx), want %lld (%#llx)\n", _g,     \
			       (unsigned long long)_g, _w, (unsigned long long)_w); \
	} while (0)

#define T_ERR(expr, err, ...)                                                   \
	do {                                                                    \
		errno = 0;                                                      \
		long _r = (long)(expr);                                         \
		int _e = errno;                                                 \
		if (!T_OK(_r == -1 && _e == (err), __VA_ARGS__))                \
			printf("#   got %ld errno %d (%s), want -1 errno %d (%s)\n", \
			       _r, _e, strerror(_e), (err), strerror(err));     \
	} while (0)

#define T_OBS(key, fmt, ...) printf("# obs %s=" fmt "\n", key, __VA_ARGS__)

/* Stop the test: something it needs did not work. */
#define T_BAIL(...)                                                             \
	do {                                                                    \
		printf("Bail out! ");                                           \
		printf(__VA_ARGS__);                                            \
		printf(" (errno %d %s)\n", errno, strerror(errno));            \
		exit(1);                                                        \
	} while (0)

__attribute__((unused)) static int t_done(void)
{
	printf("1..%d\n", t_n);
	return t_failed ? 1 : 0;
}

__attribute__((unused)) static int t_open_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		T_BAIL("open /dev/kvm");
	return fd;
}

__attribute__((unused)) static int t_create_vm(int kvm)
{
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		T_BAIL("KVM_CREATE_VM");
	return vm;
}

__attribute__((unused)) static int t_create_vcpu(int vm, int id)
{
	int fd = ioctl(vm, KVM_CREATE_VCPU, id);
	if (fd < 0)
		T_BAIL("KVM_CREATE_VCPU %d", id);
	return fd;
}

/* An address that no mapping covers, for EFAULT checks. */
#define T_BADPTR ((void *)0x10)

#endif
