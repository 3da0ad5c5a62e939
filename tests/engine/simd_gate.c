/*
 * SIMD exception gating, against hand-written SDM expectations (Vol. 3A
 * 2.5 and 13.1, Vol. 1 11.5 and 11.6.6, Vol. 2 per instruction): CR0.EM and
 * CR4.OSFXSR give #UD, CR0.TS #NM (MMX: EM and TS only; POPCNT: neither),
 * a misaligned 16-byte operand #GP(0), a reserved MXCSR bit in LDMXCSR
 * #GP(0), an unmasked SIMD exception #XM (CR4.OSXMMEXCPT) or #UD with the
 * destination untouched and the flag set, and a feature the guest CPUID
 * hides #UD.  Ring-0 guest code, so this runs under softkvm only (the host's
 * ring-0 emulator has no SSE).
 */
#include "tvm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "gate.h"

static struct kvm_xsave xs;

static void set_mxcsr_xmm(struct tvm *t, uint32_t mxcsr, float x0, float x1)
{
	ioctl(t->vcpu, KVM_GET_XSAVE, &xs);
	memcpy((uint8_t *)xs.region + 24, &mxcsr, 4);
	memcpy((uint8_t *)xs.region + 160, &x0, 4);
	memcpy((uint8_t *)xs.region + 176, &x1, 4);
	xs.region[128] |= 2; /* XSTATE_BV: SSE */
	ioctl(t->vcpu, KVM_SET_XSAVE, &xs);
}

int main(void)
{
	struct tvm t;
	if (gate_create(&t))
		return 1;
	static const uint8_t movaps[] = { 0x0f, 0x28, 0x00 };	/* movaps (%rax),%xmm0 */
	static const uint8_t movups[] = { 0x0f, 0x10, 0x00 };	/* movups (%rax),%xmm0 */
	static const uint8_t addps[] = { 0x0f, 0x58, 0xc1 };	/* addps %xmm1,%xmm0 */
	static const uint8_t paddb[] = { 0x0f, 0xfc, 0xc1 };	/* paddb %mm1,%mm0 */
	static const uint8_t emms[] = { 0x0f, 0x77 };
	static const uint8_t popcnt[] = { 0xf3, 0x48, 0x0f, 0xb8, 0xc3 };	/* popcnt %rbx,%rax */
	static const uint8_t ldmxcsr[] = { 0x0f, 0xae, 0x10 };	/* ldmxcsr (%rax) */
	static const uint8_t divss[] = { 0xf3, 0x0f, 0x5e, 0xc1 };	/* divss %xmm1,%xmm0 */
	static const uint8_t ptest[] = { 0x66, 0x0f, 0x38, 0x17, 0xc1 };	/* ptest %xmm1,%xmm0 */
	const uint64_t sse = CR4_OSFXSR | CR4_OSXMMEXCPT;
	uint32_t err = ~0u;
	int v;

	ok(run(&t, movaps, 3, 0, sse, 0, &err) == -1, "movaps from an aligned operand runs");
	v = run(&t, movaps, 3, 0, sse, 8, &err);
	ok(v == 13 && err == 0, "movaps from a misaligned operand: #GP(0)");
	ok(run(&t, movups, 3, 0, sse, 8, &err) == -1, "movups from a misaligned operand runs");
	ok(run(&t, addps, 3, 0, 0, 0, &err) == 6, "SSE with CR4.OSFXSR clear: #UD");
	ok(run(&t, addps, 3, CR0_EM, sse, 0, &err) == 6, "SSE with CR0.EM: #UD");
	ok(run(&t, addps, 3, CR0_EM | CR0_TS, sse, 0, &err) == 6, "SSE with CR0.EM and TS: #UD first");
	ok(run(&t, addps, 3, CR0_TS, sse, 0, &err) == 7, "SSE with CR0.TS: #NM");
	ok(run(&t, movaps, 3, CR0_TS, sse, 8, &err) == 7, "#NM before the alignment check");
	ok(run(&t, paddb, 3, 0, 0, 0, &err) == -1, "MMX needs no CR4.OSFXSR");
	ok(run(&t, paddb, 3, CR0_EM, sse, 0, &err) == 6, "MMX with CR0.EM: #UD");
	ok(run(&t, paddb, 3, CR0_TS, sse, 0, &err) == 7, "MMX with CR0.TS: #NM");
	ok(run(&t, emms, 2, CR0_TS, sse, 0, &err) == 7, "EMMS with CR0.TS: #NM");
	ok(run(&t, popcnt, 5, CR0_EM | CR0_TS, 0, 0, &err) == -1, "POPCNT ignores CR0.EM/TS");

	uint32_t *data = tvm_ptr(&t, DATA);
	data[0] = 0x11f80;
	v = run(&t, ldmxcsr, 3, 0, sse, 0, &err);
	ok(v == 13 && err == 0, "LDMXCSR with reserved bit 16: #GP(0)");
	data[0] = 0x1f80;
	ok(run(&t, ldmxcsr, 3, 0, sse, 0, &err) == -1, "LDMXCSR 0x1f80 runs");

	/* divide by zero with ZM clear */
	set_mxcsr_xmm(&t, 0x1f80 & ~0x200u, 1.0f, 0.0f);
	v = run(&t, divss, 4, 0, sse, 0, &err);
	ok(v == 19, "unmasked divide-by-zero with CR4.OSXMMEXCPT: #XM");
	ioctl(t.vcpu, KVM_GET_XSAVE, &xs);
	uint32_t mx;
	float x0;
	memcpy(&mx, (uint8_t *)xs.region + 24, 4);
	memcpy(&x0, (uint8_t *)xs.region + 160, 4);
	ok(mx & 4, "MXCSR.ZE is set");
	ok(x0 == 1.0f, "the destination is left alone");
	set_mxcsr_xmm(&t, 0x1f80 & ~0x200u, 1.0f, 0.0f);
	ok(run(&t, divss, 4, 0, CR4_OSFXSR, 0, &err) == 6,
	   "unmasked divide-by-zero without CR4.OSXMMEXCPT: #UD");
	set_mxcsr_xmm(&t, 0x1f80, 1.0f, 0.0f);
	ok(run(&t, divss, 4, 0, CR4_OSFXSR, 0, &err) == -1, "masked divide-by-zero runs");
	ok(run(&t, ptest, 5, 0, sse, 0, &err) == -1, "PTEST with SSE4.1 in CPUID runs");
	tvm_destroy(&t);

	/* the same guest with SSE4.1 hidden from its CPUID */
	struct tvm u;
	memset(&u, 0, sizeof(u));
	if (tvm_create(&u, 4 << 20) || tvm_set_cpuid(&u)) {
		printf("Bail out! %s\n", u.err);
		return 1;
	}
	struct {
		struct kvm_cpuid2 h;
		struct kvm_cpuid_entry2 e[256];
	} cp;
	cp.h.nent = 256;
	if (ioctl(u.kvm, KVM_GET_SUPPORTED_CPUID, &cp) < 0) {
		printf("Bail out! KVM_GET_SUPPORTED_CPUID\n");
		return 1;
	}
	for (unsigned k = 0; k < cp.h.nent; k++)
		if (cp.e[k].function == 1)
			cp.e[k].ecx &= ~(1u << 19);
	ok(ioctl(u.vcpu, KVM_SET_CPUID2, &cp) == 0, "KVM_SET_CPUID2 without SSE4.1");
	if (setup(&u)) {
		printf("Bail out! %s\n", u.err);
		return 1;
	}
	ok(run(&u, ptest, 5, 0, sse, 0, &err) == 6, "PTEST with SSE4.1 hidden: #UD");
	ok(run(&u, addps, 3, 0, sse, 0, &err) == -1, "SSE still runs");
	tvm_destroy(&u);

	printf("1..%d\n", n);
	return fails != 0;
}
