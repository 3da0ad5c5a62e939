/*
 * Unit tests of the CPUID instruction model (src/x86/cpuid.c): KVM's run-time
 * bits, out-of-range leaves per vendor, leaves 0xB/0x1F past their last level,
 * and the supported table's shape.  Expectations from the SDM (CPUID) and
 * KVM's kvm_cpuid()/kvm_update_cpuid_runtime().  Build and run:
 *
 *   gcc -std=gnu11 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined \
 *       -Isrc tests/unit/cpuid.c src/x86/cpuid.c -lpthread \
 *       -o build/unit-cpuid && build/unit-cpuid
 */
#include <stdio.h>
#include <string.h>
#include <linux/kvm.h>

#include "x86/cpuid.h"
#include "unit_t.h"


const struct x86_cpuid_entry *x86_cpuid_find(const struct x86_cpu *c, u32 fn, u32 idx)
{
	return x86_cpuid_find_in(c->cpuid, c->cpuid_nent, fn, idx);
}


#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

static struct x86_cpu cpu;
static struct x86_cpuid_entry tbl[16];
static u32 r[4];

static void q(u32 fn, u32 idx)
{
	x86_cpuid_query(&cpu, fn, idx, r);
}

static void set_vendor(const char *v)
{
	memcpy(&tbl[0].ebx, v, 4);
	memcpy(&tbl[0].edx, v + 4, 4);
	memcpy(&tbl[0].ecx, v + 8, 4);
}

static void build(void)
{
	u32 n = 0;
	memset(&cpu, 0, sizeof(cpu));
	tbl[n++] = (struct x86_cpuid_entry){.function = 0, .eax = 0xd};
	tbl[n++] = (struct x86_cpuid_entry){.function = 1, .eax = 0x806e9,
					    .ecx = BIT(27) | BIT(26) | BIT(13), .edx = 0x07808001};
	tbl[n++] = (struct x86_cpuid_entry){.function = 0xb, .index = 0, .flags = SIG,
					    .eax = 1, .ebx = 1, .ecx = 0x100, .edx = 3};
	tbl[n++] = (struct x86_cpuid_entry){.function = 0xb, .index = 1, .flags = SIG,
					    .eax = 4, .ebx = 2, .ecx = 0x201, .edx = 3};
	tbl[n++] = (struct x86_cpuid_entry){.function = 0xd, .index = 0, .flags = SIG,
					    .eax = 7, .ebx = 0x1234, .ecx = 832};
	tbl[n++] = (struct x86_cpuid_entry){.function = 0xd, .index = 1, .flags = SIG,
					    .eax = BIT(1), .ebx = 0x5678};
	tbl[n++] = (struct x86_cpuid_entry){.function = 0xd, .index = 2, .flags = SIG,
					    .eax = 256, .ebx = 576};
	tbl[n++] = (struct x86_cpuid_entry){.function = 0x80000000, .eax = 0x80000008};
	tbl[n++] = (struct x86_cpuid_entry){.function = 0x80000008, .eax = 0x3027};
	cpu.cpuid = tbl;
	cpu.cpuid_nent = n;
	cpu.xcr0 = 1;
	set_vendor("GenuineIntel");
}

static void test_runtime_bits(void)
{
	build();
	q(1, 0);
	OK(!(r[2] & BIT(27)), "OSXSAVE clear while CR4.OSXSAVE = 0");
	OK(!(r[3] & BIT(9)), "APIC clear while APIC_BASE.EN = 0");
	OK(r[2] & BIT(26), "other leaf 1 bits as set");
	cpu.cr4 = X86_CR4_OSXSAVE;
	cpu.apic_base = X86_APIC_BASE_DEFAULT | X86_APIC_BASE_EN;
	q(1, 0);
	OK(r[2] & BIT(27), "OSXSAVE follows CR4.OSXSAVE");
	OK(r[3] & BIT(9), "APIC follows APIC_BASE.EN");
	q(1, 5);
	OK(r[2] & BIT(27), "leaf 1 ignores the subleaf");
	q(0xd, 0);
	OK(r[1] == 576 && r[0] == 7 && r[2] == 832, "0xD.0 EBX: XSAVE size for XCR0 = x87");
	cpu.xcr0 = 7;
	q(0xd, 0);
	OK(r[1] == 832, "0xD.0 EBX: XSAVE size for XCR0 = x87|SSE|AVX");
	q(0xd, 1);
	OK(r[1] == 832, "0xD.1 EBX: compacted size with XSAVEC");
	tbl[5].eax = 0;
	q(0xd, 1);
	OK(r[1] == 0x5678, "0xD.1 EBX untouched without XSAVEC/XSAVES");

	struct x86_cpuid_entry out[16];
	x86_cpuid_runtime_table(&cpu, tbl, cpu.cpuid_nent, out);
	OK(out[1].ecx & BIT(27) && out[4].ebx == 832 && out[0].eax == 0xd,
	   "runtime table carries the same bits");
	OK(tbl[4].ebx == 0x1234, "runtime table leaves the stored table alone");
	OK(x86_cpuid_has(&cpu, 1, 0, 2, 13) && !x86_cpuid_has(&cpu, 1, 0, 2, 12),
	   "x86_cpuid_has reads the stored table");
	OK(!x86_cpuid_has(&cpu, 7, 0, 1, 7), "x86_cpuid_has: absent leaf");
}

static void test_out_of_range(void)
{
	build();
	q(0x20, 0);
	OK(r[0] == 7 && r[2] == 832, "Intel: leaf above the basic range reads the highest basic leaf");
	q(0x20, 2);
	OK(r[0] == 256 && r[1] == 576, "Intel: ...with the original subleaf");
	q(0x80000009, 0);
	OK(r[0] == 7, "Intel: extended leaf above its range reads the highest basic leaf");
	q(0x40000003, 0);
	OK(r[0] == 7, "Intel: hypervisor leaf without its class reads the highest basic leaf");
	q(0x5, 0);
	OK(!r[0] && !r[1] && !r[2] && !r[3], "in-range missing leaf reads zeros");
	q(0x80000005, 0);
	OK(!r[0] && !r[1] && !r[2] && !r[3], "in-range missing extended leaf reads zeros");

	q(0xb, 1);
	OK(r[0] == 4 && r[2] == 0x201, "0xB subleaf 1");
	q(0xb, 7);
	OK(r[0] == 0 && r[1] == 0 && r[2] == 7 && r[3] == 3,
	   "0xB past the last level: ECX echoes the subleaf, EDX the x2APIC id");

	set_vendor("AuthenticAMD");
	q(0x20, 0);
	OK(!r[0] && !r[1] && !r[2] && !r[3], "AMD: leaf above the range reads zeros");
	q(0x80000009, 0);
	OK(!r[0] && !r[1] && !r[2] && !r[3], "AMD: extended leaf above the range reads zeros");
	set_vendor("HygonGenuine");
	q(0x20, 0);
	OK(!r[0], "Hygon: leaf above the range reads zeros");

	cpu.cpuid_nent = 0;
	q(0, 0);
	OK(!r[0] && !r[1] && !r[2] && !r[3], "empty table reads zeros");
}

static void test_supported(void)
{
	u32 n, ne;
	const struct x86_cpuid_entry *s = x86_cpuid_supported(&n);
	const struct x86_cpuid_entry *em = x86_cpuid_emulated(&ne);
	OK(n > 0 && n <= 80, "supported table fits 80 entries");
	OK(ne == 3 && em[0].eax == 7, "emulated table has KVM's shape");
	const struct x86_cpuid_entry *l1 = x86_cpuid_find_in(s, n, 1, 0);
	OK(l1 && !(l1->ecx & BIT(27)), "supported: no OSXSAVE");
	const struct x86_cpuid_entry *d0 = x86_cpuid_find_in(s, n, 0xd, 0);
	bool xsave = l1 && (l1->ecx & BIT(26));
	OK(d0 && (xsave ? (d0->eax & 3) == 3 : d0->eax == 0), "supported: 0xD.0 EAX agrees with XSAVE");
	OK(d0 && d0->ebx == d0->ecx && d0->ecx >= 576, "supported: 0xD.0 sizes");
	OK(x86_cpuid_find_in(s, n, 0x40000000, 0) && x86_cpuid_find_in(s, n, 0x40000001, 0),
	   "supported: KVM leaves");
}

int main(void)
{
	test_runtime_bits();
	test_out_of_range();
	test_supported();
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
