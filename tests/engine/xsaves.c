/*
 * XSAVES/XRSTORS and IA32_XSS at CPL 0 (SDM Vol. 1 13.11-13.12, Vol. 2
 * XSAVES/XRSTORS; KVM's IA32_XSS rules).  softkvm only: the host runs
 * ring-0 code in its instruction emulator, which has neither (the ring-3
 * #GP is in tests/guest/xsave.S).  A 64-bit ring-0 guest enables XSAVE and
 * XCR0 = x87|SSE, writes IA32_XSS (0 accepted, bit 8 #GP), then XSAVES
 * (compacted: XCOMP_BV = RFBM | bit 63), clobbers the x87 state, XRSTORS
 * it back, and tries XRSTORS of a standard-format image (#GP).
 */
#include "tvm.h"
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define LOAD 0x10000
#define AREA 0x20000
#define IDT 0x30000
#define RES 0x31000 /* u64: #GP count, FNSTCW, ST0 (2 words), XCOMP_BV */

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
	const struct kvm_cpuid_entry2 *d1 = tvm_cpuid(&t, 0xd, 1);
	if (!d1 || !(d1->eax & 8)) {
		printf("1..0 # SKIP no XSAVES in the supported CPUID\n");
		tvm_destroy(&t);
		return 0;
	}
	/* #GP handler at 0x11000: count in RES, resume at RBP */
	static const unsigned char gp[] = {
		0x48, 0xff, 0x04, 0x25, RES & 0xff, (RES >> 8) & 0xff, RES >> 16, 0, /* incq RES */
		0x48, 0x83, 0xc4, 0x08,						   /* add $8,%rsp */
		0x48, 0x89, 0x2c, 0x24,						   /* mov %rbp,(%rsp) */
		0x48, 0xcf};							   /* iretq */
	memcpy(tvm_ptr(&t, LOAD + 0x1000), gp, sizeof(gp));
	unsigned long long h = LOAD + 0x1000;
	unsigned long long *idt = tvm_ptr(&t, IDT);
	idt[2 * 13] = (h & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((h >> 16 & 0xffff) << 48);
	idt[2 * 13 + 1] = h >> 32;
	static const unsigned char prog[] = {
		0x0f, 0x20, 0xe0,			/* mov %cr4,%rax */
		0x48, 0x0d, 0x00, 0x06, 0x04, 0x00,	/* or $0x40600,%rax */
		0x0f, 0x22, 0xe0,			/* mov %rax,%cr4 */
		0x31, 0xc9, 0x31, 0xd2, 0xb8, 3, 0, 0, 0, /* xor ecx,edx; mov $3,%eax */
		0x0f, 0x01, 0xd1,			/* xsetbv */
		0xb9, 0xa0, 0x0d, 0, 0, 0x31, 0xc0, 0x31, 0xd2, /* ecx=XSS, eax=edx=0 */
		0x0f, 0x30,				/* wrmsr XSS = 0 */
		0x48, 0x8d, 0x2d, 0x07, 0, 0, 0,	/* lea 7(%rip),%rbp */
		0xb8, 0x00, 0x01, 0, 0,			/* mov $0x100,%eax */
		0x0f, 0x30,				/* wrmsr XSS = bit 8: #GP */
		0x90,					/* (resume) */
		0xdb, 0xe3, 0xd9, 0xeb,			/* fninit; fldpi */
		0xb8, 3, 0, 0, 0, 0x31, 0xd2,		/* eax = 3, edx = 0 */
		0x48, 0x0f, 0xc7, 0x2c, 0x25, AREA & 0xff, (AREA >> 8) & 0xff, AREA >> 16, 0, /* xsaves64 AREA */
		0xdb, 0xe3, 0xd9, 0xe8,			/* fninit; fld1 */
		0x48, 0x0f, 0xc7, 0x1c, 0x25, AREA & 0xff, (AREA >> 8) & 0xff, AREA >> 16, 0, /* xrstors64 AREA */
		0xd9, 0x3c, 0x25, (RES + 8) & 0xff, ((RES + 8) >> 8) & 0xff, (RES + 8) >> 16, 0, /* fnstcw RES+8 */
		0xdb, 0x3c, 0x25, (RES + 16) & 0xff, ((RES + 16) >> 8) & 0xff, (RES + 16) >> 16, 0, /* fstpt RES+16 */
		0x48, 0x8b, 0x04, 0x25, (AREA + 520) & 0xff, ((AREA + 520) >> 8) & 0xff, (AREA + 520) >> 16, 0, /* mov XCOMP_BV,%rax */
		0x48, 0x89, 0x04, 0x25, (RES + 32) & 0xff, ((RES + 32) >> 8) & 0xff, (RES + 32) >> 16, 0, /* mov %rax,RES+32 */
		0x48, 0xc7, 0x04, 0x25, (AREA + 520) & 0xff, ((AREA + 520) >> 8) & 0xff, (AREA + 520) >> 16, 0,
		0, 0, 0, 0,				/* movq $0, XCOMP_BV: standard form */
		0x48, 0x8d, 0x2d, 0x09, 0, 0, 0,	/* lea 9(%rip),%rbp */
		0x48, 0x0f, 0xc7, 0x1c, 0x25, AREA & 0xff, (AREA >> 8) & 0xff, AREA >> 16, 0, /* xrstors64: #GP */
		0xf4};					/* hlt */
	memcpy(tvm_ptr(&t, LOAD), prog, sizeof(prog));
	struct kvm_sregs sr;
	ioctl(t.vcpu, KVM_GET_SREGS, &sr);
	sr.idt.base = IDT;
	sr.idt.limit = 256 * 16 - 1;
	ioctl(t.vcpu, KVM_SET_SREGS, &sr);
	int r = ioctl(t.vcpu, KVM_RUN, 0);
	ok(r == 0 && t.run->exit_reason == KVM_EXIT_HLT, "the guest runs to HLT");
	const unsigned long long *res = tvm_ptr(&t, RES);
	const unsigned char *area = tvm_ptr(&t, AREA);
	unsigned long long bv, comp;
	memcpy(&bv, area + 512, 8);
	memcpy(&comp, area + 520, 8);
	ok(res[0] == 2, "#GP for IA32_XSS bit 8 and for XRSTORS of a standard-format image");
	ok(bv == 3 || bv == 1, "XSAVES: XSTATE_BV within RFBM, x87 in use");
	(void)comp;
	ok(res[4] == (1ull << 63 | 3), "XSAVES: XCOMP_BV = RFBM | bit 63 (compacted)");
	ok((res[1] & 0xffff) == 0x37f, "XRSTORS restored FCW");
	static const unsigned char pi80[10] = {0x35, 0xc2, 0x68, 0x21, 0xa2, 0xda, 0x0f, 0xc9, 0x00, 0x40};
	ok(!memcmp(&res[2], pi80, 10), "XRSTORS restored ST0 = pi (FLD1 undone)");
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e;
	} msr = {.m.nmsrs = 1, .e.index = 0xda0};
	ok(ioctl(t.vcpu, KVM_GET_MSRS, &msr) == 1 && msr.e.data == 0, "KVM_GET_MSRS IA32_XSS = 0");
	printf("1..%d\n", n);
	fflush(stdout);
	tvm_destroy(&t);
	return fails != 0;
}
