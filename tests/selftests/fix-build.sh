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

# dirty_log_test.c: upstream's fix for a race in the test itself, backported
# (kvm-x86 commit 67428ee7b746, "KVM: selftests: Sync dirty_log_test
# iteration to guest *before* resuming", in Linux 6.14).  6.1 resumes the vCPU
# (sem_post) before it stores the new iteration in the guest, so the guest can
# load the old number; a vCPU thread preempted between that load and its store
# for longer than the interval stores it after the next harvest, and the
# harvest after that reports a page whose value is two iterations old ("Set
# page N value V incorrect (iteration=V+2)").  Real KVM shares the window
# (docs/selftests.md); on this loaded 2-core machine it hit about one run in 14.
if ! grep -q 'softkvm: 67428ee7b746' "$f"; then
	perl -0pi -e 's|\n(\t\tsem_post\(&sem_vcpu_cont\);)\n(\t\tsync_global_to_guest\(vm, iteration\);)\n|\n\t\t/* softkvm: 67428ee7b746, the iteration before resuming */\n$2\n$1\n|' "$f"
	grep -q 'softkvm: 67428ee7b746' "$f" || { echo "fix-build: $f: no sem_post/sync_global_to_guest pair to reorder" >&2; exit 1; }
fi
