/*
 * softkvm does not implement breakpoints armed in the guest's own DR7: a
 * vCPU whose DR7 enables one (here restored through KVM_SET_DEBUGREGS) must
 * end KVM_RUN with an emulation failure rather than run and miss it.  With
 * DR7 clear the same guest runs to its HLT.
 */
#include "tvm.h"
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define LOAD 0x10000

static int n, fails;

static void ok(int c, const char *what)
{
	printf("%sok %d - %s\n", c ? "" : "not ", ++n, what);
	fails += !c;
}

int main(void)
{
	struct tvm t;
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t) || tvm_setup_mode(&t, 64, LOAD, 0)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	*(unsigned char *)tvm_ptr(&t, LOAD) = 0xf4; /* hlt */

	struct kvm_debugregs d;
	memset(&d, 0, sizeof(d));
	ioctl(t.vcpu, KVM_GET_DEBUGREGS, &d);
	d.db[0] = 0x200000;
	d.dr7 = 0x401; /* L0: execution breakpoint at 0x200000 */
	ok(ioctl(t.vcpu, KVM_SET_DEBUGREGS, &d) == 0, "KVM_SET_DEBUGREGS arms DR0");
	int r = ioctl(t.vcpu, KVM_RUN, 0);
	ok(r == 0 && t.run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
		   t.run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION,
	   "an armed guest DR7 ends KVM_RUN with an emulation failure");

	d.dr7 = 0x400;
	ok(ioctl(t.vcpu, KVM_SET_DEBUGREGS, &d) == 0, "KVM_SET_DEBUGREGS disarms DR7");
	r = ioctl(t.vcpu, KVM_RUN, 0);
	ok(r == 0 && t.run->exit_reason == KVM_EXIT_HLT, "with DR7 clear the guest runs to HLT");

	printf("1..%d\n", n);
	fflush(stdout);
	tvm_destroy(&t);
	return fails != 0;
}
