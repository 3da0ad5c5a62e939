/* KVM_GET_SUPPORTED_CPUID (API 4.46) and KVM_GET_EMULATED_CPUID (4.88) on the
 * system fd: the nent protocol, errors, and the rules a CPU model must keep
 * (the tables themselves legitimately differ between backends). */
#include <cpuid.h>

#include "cpuid_t.h"

static void check_supported(int kvm)
{
	struct kvm_cpuid2 *c = alloc_cpuid();
	c->nent = 0;
	T_ERR(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c), E2BIG, "supported: nent 0 is E2BIG");
	c->nent = 1;
	T_ERR(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c), E2BIG, "supported: nent 1 is E2BIG");
	T_EQ(c->nent, 1, "supported: E2BIG leaves nent alone");

	c->nent = 256;
	T_EQ(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c), 0, "supported: nent 256 (KVM_MAX_CPUID_ENTRIES)");
	uint32_t n = c->nent;
	T_OK(n >= 1 && n < 256, "supported: fewer entries than the buffer holds (%u)", n);
	T_OK(n <= 80, "supported: fits in 80 entries (Firecracker) (%u)", n);

	c->nent = n - 1;
	T_ERR(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c), E2BIG, "supported: one entry short is E2BIG");
	c->nent = n;
	T_EQ(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c), 0, "supported: exactly enough room");
	T_EQ(c->nent, n, "supported: exact buffer gives the same count");
	/* Above KVM_MAX_CPUID_ENTRIES the count is clamped, not refused. */
	c->nent = 100000;
	T_EQ(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c), 0, "supported: huge nent is clamped");
	T_EQ(c->nent, n, "supported: huge nent gives the same count");
	/* Dirty padding is accepted here (only the emulated list checks it). */
	c->entries[0].padding[0] = 7;
	c->nent = MAXN;
	T_EQ(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c), 0, "supported: dirty padding is accepted");

	T_ERR(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, T_BADPTR), EFAULT, "supported: bad pointer");
	struct kvm_cpuid2 *h = cpuid_at_hole(1);
	h->nent = 256;
	T_ERR(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, h), EFAULT, "supported: unwritable entries");
	T_EQ(h->nent, 256, "supported: EFAULT leaves nent alone");

	/* The rules a model must keep. */
	c->nent = MAXN;
	ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c);
	int dup = 0, pad = 0, flags_ok = 1;
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		for (uint32_t j = 0; j < i; j++)
			dup += c->entries[j].function == e->function &&
			       c->entries[j].index == e->index;
		pad += e->padding[0] || e->padding[1] || e->padding[2];
		uint32_t f = e->function;
		/* Leaves with subleaves (SDM Vol. 2A, CPUID) and plain ones. */
		static const uint32_t sig[] = {4, 7, 0xb, 0xd, 0xf, 0x10, 0x12, 0x14, 0x17,
					       0x18, 0x1d, 0x1e, 0x1f, 0x20, 0x23, 0x24,
					       0x8000001d};
		static const uint32_t plain[] = {0, 1, 0x80000000, 0x80000001, 0x80000008,
						 0x40000000, 0x40000001};
		for (size_t k = 0; k < sizeof(sig) / sizeof(sig[0]); k++)
			if (f == sig[k] && !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))
				flags_ok = 0;
		for (size_t k = 0; k < sizeof(plain) / sizeof(plain[0]); k++)
			if (f == plain[k] && e->flags)
				flags_ok = 0;
	}
	T_EQ(dup, 0, "supported: no duplicate function/index");
	T_EQ(pad, 0, "supported: padding is zero");
	T_OK(flags_ok, "supported: subleaf-indexed leaves carry SIGNIFCANT_INDEX");

	struct kvm_cpuid_entry2 *l0 = find(c, 0, 0);
	unsigned a, b, cc, d;
	__cpuid(0, a, b, cc, d);
	(void)a;
	T_OK(l0 && l0->ebx == b && l0->ecx == cc && l0->edx == d, "supported: host vendor in leaf 0");
	T_OBS("vendor", "%.4s%.4s%.4s", (char *)&b, (char *)&d, (char *)&cc);
	int missing = 0;
	for (uint32_t f = 0; l0 && f <= l0->eax; f++)
		missing += !find(c, f, 0);
	T_EQ(missing, 0, "supported: every basic leaf up to the maximum");

	struct kvm_cpuid_entry2 *l1 = find(c, 1, 0);
	/* The integer and system baseline of x86-64: TSC MSR PAE CX8 APIC SEP
	 * PGE CMOV PAT.  (x87/MMX/FXSR/SSE/SSE2 are offered only by a backend
	 * that executes them: softkvm withholds them until its floating-point
	 * work lands, so they are not part of this rule.) */
	uint32_t edx_base = 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 9 |
			    1u << 11 | 1u << 13 | 1u << 15 | 1u << 16;
	T_OK(l1 && (l1->edx & edx_base) == edx_base, "supported: leaf 1 EDX baseline");
	T_OK(l1 && (l1->ecx & (1u << 13)), "supported: CX16");
	T_OK(l1 && !(l1->ecx & (1u << 27)), "supported: OSXSAVE is not offered (dynamic)");

	struct kvm_cpuid_entry2 *x0 = find(c, 0x80000000, 0);
	T_OK(x0 && x0->eax >= 0x80000008, "supported: extended leaves reach 0x80000008");
	int xmissing = 0;
	for (uint32_t f = 0x80000000; x0 && f <= x0->eax; f++)
		xmissing += !find(c, f, 0);
	T_EQ(xmissing, 0, "supported: every extended leaf up to the maximum");
	struct kvm_cpuid_entry2 *x1 = find(c, 0x80000001, 0);
	uint32_t x1_base = 1u << 11 | 1u << 20 | 1u << 29; /* SYSCALL NX LM */
	T_OK(x1 && (x1->edx & x1_base) == x1_base, "supported: SYSCALL, NX, LM");
	T_OK(x1 && (x1->ecx & 1), "supported: LAHF_LM");

	struct kvm_cpuid_entry2 *x8 = find(c, 0x80000008, 0);
	__cpuid(0x80000008, a, b, cc, d);
	T_OK(x8 && (x8->eax & 0xff) == (a & 0xff), "supported: host physical address width");
	uint32_t va = x8 ? (x8->eax >> 8) & 0xff : 0;
	T_OK(va == 48 || va == 57, "supported: linear address width 48 or 57 (%u)", va);

	/* Leaf 0xD: sizes consistent with the advertised components. */
	struct kvm_cpuid_entry2 *d0 = find(c, 0xd, 0);
	T_OK(d0 != NULL, "supported: leaf 0xD present");
	if (d0) {
		uint64_t x = d0->eax | (uint64_t)d0->edx << 32;
		uint32_t size = 576;
		int comps = 1;
		for (int i = 2; i < 64; i++) {
			if (!(x & (1ULL << i)))
				continue;
			struct kvm_cpuid_entry2 *di = find(c, 0xd, i);
			if (!di) {
				comps = 0;
				continue;
			}
			if (di->ebx + di->eax > size)
				size = di->ebx + di->eax;
		}
		T_OK(comps, "supported: a subleaf for each XSAVE component");
		T_EQ(d0->ecx, size, "supported: 0xD.0 ECX is the size for all components");
		T_EQ(d0->ebx, d0->ecx, "supported: 0xD.0 EBX is the size for all components");
		T_OK(!x || (x & 3) == 3, "supported: XCR0 components include x87 and SSE");
	}

	struct kvm_cpuid_entry2 *k0 = find(c, 0x40000000, 0);
	T_OK(k0 && !memcmp(&k0->ebx, "KVMKVMKVM\0\0\0", 12), "supported: KVM signature leaf");
	T_OK(k0 && k0->eax >= 0x40000001, "supported: KVM leaf maximum covers the features leaf");
	T_OK(find(c, 0x40000001, 0) != NULL, "supported: KVM features leaf present");
	free(c);
}

static void check_emulated(int kvm)
{
	struct kvm_cpuid2 *c = alloc_cpuid();
	c->nent = 0;
	T_ERR(ioctl(kvm, KVM_GET_EMULATED_CPUID, c), E2BIG, "emulated: nent 0 is E2BIG");
	c->nent = 256;
	T_EQ(ioctl(kvm, KVM_GET_EMULATED_CPUID, c), 0, "emulated: nent 256");
	uint32_t n = c->nent;
	T_OBS("emulated_nent", "%u", n);
	T_OK(find(c, 0, 0) != NULL, "emulated: leaf 0 present");
	if (find(c, 0, 0))
		T_OBS("emulated_max_leaf", "%u", find(c, 0, 0)->eax);
	struct kvm_cpuid_entry2 *e7 = find(c, 7, 0);
	T_OK(!e7 || (e7->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX), "emulated: leaf 7 is indexed");
	/* KVM probes each leaf class with the room left: the count itself
	 * is one short. */
	c->nent = n;
	memset(c->entries, 0, MAXN * sizeof(c->entries[0]));
	T_ERR(ioctl(kvm, KVM_GET_EMULATED_CPUID, c), E2BIG, "emulated: nent equal to the count");
	c->nent = n + 1;
	T_EQ(ioctl(kvm, KVM_GET_EMULATED_CPUID, c), 0, "emulated: one spare entry");
	T_EQ(c->nent, n, "emulated: count with one spare entry");

	/* The caller's padding must be clean (within the first 256 entries). */
	memset(c->entries, 0, MAXN * sizeof(c->entries[0]));
	c->entries[1].padding[2] = 1;
	c->nent = 10;
	T_ERR(ioctl(kvm, KVM_GET_EMULATED_CPUID, c), EINVAL, "emulated: dirty padding");
	T_EQ(c->nent, 10, "emulated: EINVAL leaves nent alone");
	c->entries[1].padding[2] = 0;
	c->entries[290].padding[0] = 1;
	c->nent = MAXN;
	T_EQ(ioctl(kvm, KVM_GET_EMULATED_CPUID, c), 0, "emulated: padding past 256 entries is not read");
	c->entries[290].padding[0] = 0;

	T_ERR(ioctl(kvm, KVM_GET_EMULATED_CPUID, T_BADPTR), EFAULT, "emulated: bad pointer");
	struct kvm_cpuid2 *h = cpuid_at_hole(1);
	h->nent = 256;
	memset(h->entries, 0, sizeof(h->entries[0]));
	T_ERR(ioctl(kvm, KVM_GET_EMULATED_CPUID, h), EINVAL,
	      "emulated: unreadable entries count as dirty padding");
	free(c);
}

int main(void)
{
	int kvm = t_open_kvm();

	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_EXT_CPUID), 1, "KVM_CAP_EXT_CPUID");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_EXT_EMUL_CPUID), 1, "KVM_CAP_EXT_EMUL_CPUID");
	check_supported(kvm);
	check_emulated(kvm);

	/* System ioctls on other fds. */
	int vm = t_create_vm(kvm);
	int vcpu = t_create_vcpu(vm, 0);
	struct kvm_cpuid2 *c = alloc_cpuid();
	c->nent = MAXN;
	T_ERR(ioctl(vm, KVM_GET_SUPPORTED_CPUID, c), ENOTTY, "supported on a VM fd");
	T_ERR(ioctl(vcpu, KVM_GET_SUPPORTED_CPUID, c), EINVAL, "supported on a vCPU fd");
	T_ERR(ioctl(vm, KVM_GET_EMULATED_CPUID, c), ENOTTY, "emulated on a VM fd");
	free(c);
	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
