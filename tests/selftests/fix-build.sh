#!/bin/sh
# The minimal build fixes for Debian's linux-source-6.1 KVM selftests, applied
# to the extracted tree in build/ (never to anything in the repository).
# Usage: fix-build.sh KVM_SELFTESTS_DIR
# Each fix is checked: a source that changed upstream fails loudly instead of
# building something else.
set -eu
d=$1

# steal_time.c includes <asm/kvm.h> before anything that defines
# __DECLARE_FLEX_ARRAY (the uapi <linux/stddef.h> is not reached through
# tools/include's <linux/types.h>): include it first.
f=$d/steal_time.c
if ! grep -q '^#include <linux/stddef.h>' "$f"; then
	sed -i 's|^#include <asm/kvm.h>$|#include <linux/stddef.h>\n&|' "$f"
	grep -q '^#include <linux/stddef.h>' "$f" || { echo "fix-build: $f: no '#include <asm/kvm.h>' line" >&2; exit 1; }
fi

# dirty_log_test.c (a 6.1 stable backport) uses TEST_ASSERT_EQ, which
# test_util.h only gains in 6.6: define it after test_util.h with the same
# meaning (assert a == b, print both).
f=$d/dirty_log_test.c
if ! grep -q '^#define TEST_ASSERT_EQ' "$f" && ! grep -q 'define TEST_ASSERT_EQ' "$d/include/test_util.h"; then
	sed -i 's|^#include "test_util.h"$|&\n#define TEST_ASSERT_EQ(a, b) TEST_ASSERT((a) == (b), "%#lx != %#lx (%s != %s)", (unsigned long)(a), (unsigned long)(b), #a, #b)|' "$f"
	grep -q '^#define TEST_ASSERT_EQ' "$f" || { echo "fix-build: $f: no '#include \"test_util.h\"' line" >&2; exit 1; }
fi
