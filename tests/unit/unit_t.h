/*
 * Shared by the unit tests in tests/unit: TAP, one line a check, the
 * plan at the end.
 */
#ifndef SOFTKVM_TESTS_UNIT_UNIT_T_H
#define SOFTKVM_TESTS_UNIT_UNIT_T_H

#include <stdio.h>

static int n_tests, n_failed;

static __attribute__((unused)) void ok(int cond, const char *what, int line)
{
	n_tests++;
	if (!cond) {
		n_failed++;
		printf("not ok %d - %s (line %d)\n", n_tests, what, line);
	} else {
		printf("ok %d - %s\n", n_tests, what);
	}
}
#define OK(cond, what) ok(!!(cond), what, __LINE__)
#define EQ(a, b, what)                                                                   \
	do {                                                                             \
		unsigned long long a_ = (a), b_ = (b);                                   \
		if (a_ != b_)                                                            \
			printf("# %s: got 0x%llx, want 0x%llx\n", what, a_, b_);         \
		ok(a_ == b_, what, __LINE__);                                            \
	} while (0)

static __attribute__((unused)) int done(void)
{
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}

/* Whether two structs agree on one field's offset and size. */
#define SAME_FIELD(ours, theirs, f)                                                      \
	(offsetof(ours, f) == offsetof(theirs, f) &&                                     \
	 sizeof(((ours *)0)->f) == sizeof(((theirs *)0)->f))

#endif
