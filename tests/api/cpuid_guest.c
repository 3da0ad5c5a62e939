/* The CPUID instruction as a guest sees it: answered from the table set
 * with KVM_SET_CPUID2, with KVM's run-time bits, and out-of-range leaves
 * per the vendor in that table (KVM's kvm_cpuid()).  The guest is
 * "CPUID; HLT" at the reset vector, run once per question. */
#include "cpuid_t.h"

static int kvm, vm, next_id;
static long run_size;

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

static uint32_t make_table(struct kvm_cpuid2 *c, const char *vendor)
{
	struct kvm_cpuid_entry2 *e = c->entries;
	uint32_t n = 0;
	/* Highest basic leaf 0xB: out-of-range questions read leaf 0xB. */
	e[n] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0xb};
	memcpy(&e[n].ebx, vendor, 4);
	memcpy(&e[n].edx, vendor + 4, 4);
	memcpy(&e[n++].ecx, vendor + 8, 4);
	e[n++] = (struct kvm_cpuid_entry2){.function = 1, .eax = 0x806e9, .ebx = 0x00010800,
					   .ecx = 1u << 13 | 1u << 27, .edx = 0x078bf9ff};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0xb, .index = 0, .flags = SIG,
					   .eax = 1, .ebx = 1, .ecx = 0x100, .edx = 7};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0xb, .index = 1, .flags = SIG,
					   .eax = 4, .ebx = 2, .ecx = 0x201, .edx = 7};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0xd, .index = 0, .flags = SIG,
					   .eax = 3, .ebx = 0x1234, .ecx = 576};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0xd, .index = 1, .flags = SIG,
					   .eax = 0, .ebx = 0x99};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x80000000, .eax = 0x80000008};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x80000008, .eax = 0x3024};
	c->nent = n;
	return n;
}

struct answer {
	int ok;
	uint32_t r[4];
};

/* A new vCPU with table c runs CPUID(fn, idx); apic_off clears
 * APIC_BASE.EN first. */
static struct answer ask(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, int apic_off)
{
	struct answer a = {0};
	int vcpu = t_create_vcpu(vm, next_id++);
	if (ioctl(vcpu, KVM_SET_CPUID2, c))
		T_BAIL("KVM_SET_CPUID2");
	if (apic_off) {
		struct {
			struct kvm_msrs h;
			struct kvm_msr_entry e;
		} m = {.h = {.nmsrs = 1}, .e = {.index = 0x1b, .data = 0xfee00000}};
		if (ioctl(vcpu, KVM_SET_MSRS, &m) != 1)
			T_BAIL("KVM_SET_MSRS APIC_BASE");
	}
	struct kvm_regs regs;
	if (ioctl(vcpu, KVM_GET_REGS, &regs))
		T_BAIL("KVM_GET_REGS");
	regs.rax = fn;
	regs.rcx = idx;
	if (ioctl(vcpu, KVM_SET_REGS, &regs))
		T_BAIL("KVM_SET_REGS");
	struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
	if (ioctl(vcpu, KVM_RUN, 0) == 0 && run->exit_reason == KVM_EXIT_HLT &&
	    ioctl(vcpu, KVM_GET_REGS, &regs) == 0) {
		a.ok = 1;
		a.r[0] = regs.rax;
		a.r[1] = regs.rbx;
		a.r[2] = regs.rcx;
		a.r[3] = regs.rdx;
	} else {
		printf("# CPUID(%#x, %u): run ended with exit %u\n", fn, idx, run->exit_reason);
	}
	munmap(run, run_size);
	close(vcpu);
	return a;
}

#define T_ANS(a, ea, eb, ec, ed, ...)                                                  \
	do {                                                                           \
		if (!T_OK((a).ok && (a).r[0] == (ea) && (a).r[1] == (eb) &&            \
			  (a).r[2] == (ec) && (a).r[3] == (ed), __VA_ARGS__))          \
			printf("#   got %08x %08x %08x %08x\n", (a).r[0], (a).r[1],       \
			       (a).r[2], (a).r[3]);                                    \
	} while (0)

int main(void)
{
	kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);

	/* CPUID (0F A2); HLT at the reset vector 0xfffffff0. */
	uint8_t *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		T_BAIL("mmap");
	memcpy(mem + 0xfff0, "\x0f\xa2\xf4", 3);
	struct kvm_userspace_memory_region m = {.slot = 0, .guest_phys_addr = 0xffff0000,
						 .memory_size = 0x10000,
						 .userspace_addr = (uintptr_t)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &m))
		T_BAIL("KVM_SET_USER_MEMORY_REGION");

	struct kvm_cpuid2 *c = alloc_cpuid();
	make_table(c, "GenuineIntel");
	struct answer a;

	a = ask(c, 0, 0, 0);
	T_ANS(a, 0xb, 0x756e6547, 0x6c65746e, 0x49656e69, "leaf 0 as set");
	a = ask(c, 1, 0, 0);
	T_ANS(a, 0x806e9, 0x00010800, 1u << 13, 0x078bf9ff | 1u << 9, "leaf 1 as set, with run-time bits");
	T_OK(a.ok && !(a.r[2] & 1u << 27), "leaf 1: OSXSAVE clear while CR4.OSXSAVE = 0");
	T_OK(a.ok && (a.r[3] & 1u << 9), "leaf 1: APIC set while APIC_BASE is enabled");
	a = ask(c, 1, 0, 1);
	T_OK(a.ok && !(a.r[3] & 1u << 9), "leaf 1: APIC clear once APIC_BASE is disabled");
	a = ask(c, 0xd, 0, 0);
	T_OK(a.ok && a.r[1] == 576, "0xD.0 EBX is the XSAVE size for XCR0 = x87");

	/* Whole answers: vendor of the table, question, expected registers. */
	static const struct {
		const char *vendor;
		uint32_t fn, idx, want[4];
		const char *desc;
	} qs[] = {
		{"GenuineIntel", 2, 0, {0, 0, 0, 0}, "in-range leaf without an entry reads zeros"},
		{"GenuineIntel", 0xd, 0, {3, 576, 576, 0}, "0xD.0 as set, with the XSAVE size for XCR0"},
		{"GenuineIntel", 0xb, 1, {4, 2, 0x201, 7}, "0xB subleaf 1 as set"},
		{"GenuineIntel", 0xb, 5, {0, 0, 5, 7},
		 "0xB past the last level: ECX echoes the subleaf, EDX the x2APIC id"},
		{"GenuineIntel", 0x20, 0, {1, 1, 0x100, 7},
		 "Intel: leaf above the range reads the highest basic leaf"},
		{"GenuineIntel", 0x20, 1, {4, 2, 0x201, 7}, "Intel: ...with the original subleaf"},
		{"GenuineIntel", 0x20, 3, {0, 0, 3, 7},
		 "Intel: ...and that leaf's rules past its last level"},
		{"GenuineIntel", 0x80000009, 0, {1, 1, 0x100, 7}, "Intel: extended leaf above the range"},
		{"GenuineIntel", 0x40000000, 0, {1, 1, 0x100, 7},
		 "Intel: hypervisor leaf without its class"},
		{"GenuineIntel", 0x80000008, 0, {0x3024, 0, 0, 0}, "extended leaf as set"},
		{"AuthenticAMD", 0x20, 0, {0, 0, 0, 0}, "AMD: leaf above the range reads zeros"},
		{"AuthenticAMD", 0x80000009, 0, {0, 0, 0, 0},
		 "AMD: extended leaf above the range reads zeros"},
	};
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		make_table(c, qs[i].vendor);
		a = ask(c, qs[i].fn, qs[i].idx, 0);
		T_ANS(a, qs[i].want[0], qs[i].want[1], qs[i].want[2], qs[i].want[3], "%s", qs[i].desc);
	}

	/* No table at all: every leaf reads zeros. */
	c->nent = 0;
	a = ask(c, 0, 0, 0);
	T_ANS(a, 0, 0, 0, 0, "empty table: leaf 0 reads zeros");

	free(c);
	close(vm);
	close(kvm);
	return t_done();
}
