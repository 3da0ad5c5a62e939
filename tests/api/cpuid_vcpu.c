/* vCPU CPUID: KVM_SET_CPUID (API 4.20), KVM_SET_CPUID2 (4.73) and
 * KVM_GET_CPUID2: round trip with KVM's run-time bits, the nent rules, the
 * table checks, and the freeze after the first KVM_RUN. */
#include <cpuid.h>

#include "cpuid_t.h"

static int vcpu;

static struct kvm_cpuid2 *get(void)
{
	struct kvm_cpuid2 *g = alloc_cpuid();
	g->nent = MAXN;
	if (ioctl(vcpu, KVM_GET_CPUID2, g))
		T_BAIL("KVM_GET_CPUID2");
	return g;
}

#define OSXSAVE (1u << 27)
#define APIC (1u << 9)

/* A small table with the host's vendor; n entries. */
static uint32_t model(struct kvm_cpuid2 *c)
{
	unsigned a, b, cc, d;
	__cpuid(0, a, b, cc, d);
	(void)a;
	struct kvm_cpuid_entry2 *e = c->entries;
	uint32_t n = 0;
	e[n++] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0xd, .ebx = b, .ecx = cc, .edx = d};
	/* OSXSAVE set, APIC clear: KVM rewrites both from CR4 and APIC_BASE. */
	e[n++] = (struct kvm_cpuid_entry2){.function = 1, .eax = 0x806e9, .ebx = 0x00010800,
					   .ecx = (1u << 13) | (1u << 26) | OSXSAVE,
					   .edx = 0x078bf9ff & ~APIC};
	e[n++] = (struct kvm_cpuid_entry2){.function = 2, .eax = 0x00000001};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0xd, .index = 0,
					   .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					   .eax = 3, .ebx = 0x1234, .ecx = 576};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x80000000, .eax = 0x80000008};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x80000008, .eax = 0x3024};
	c->nent = n;
	return n;
}

static void check_set_get(void)
{
	struct kvm_cpuid2 *c = alloc_cpuid();
	struct kvm_cpuid2 *g = alloc_cpuid();

	g->nent = 0;
	T_EQ(ioctl(vcpu, KVM_GET_CPUID2, g), 0, "GET_CPUID2 on a new vCPU");
	T_EQ(g->nent, 0, "a new vCPU has no CPUID entries");
	free(g);

	uint32_t n = model(c);
	T_EQ(ioctl(vcpu, KVM_SET_CPUID2, c), 0, "SET_CPUID2");
	g = get();
	T_EQ(g->nent, n, "GET_CPUID2 returns as many entries as were set");
	struct kvm_cpuid_entry2 *e;
	e = find(g, 0, 0);
	T_OK(e && !memcmp(e, &c->entries[0], sizeof(*e)), "leaf 0 comes back unchanged");
	e = find(g, 2, 0);
	T_OK(e && e->eax == 1 && !e->ebx && !e->ecx && !e->edx, "leaf 2 comes back unchanged");
	e = find(g, 1, 0);
	T_OK(e && e->eax == c->entries[1].eax && e->ebx == c->entries[1].ebx,
	     "leaf 1 EAX/EBX come back unchanged");
	T_OK(e && e->ecx == (c->entries[1].ecx & ~OSXSAVE), "leaf 1 OSXSAVE follows CR4 (clear)");
	T_OK(e && e->edx == (c->entries[1].edx | APIC), "leaf 1 APIC follows APIC_BASE (enabled)");
	e = find(g, 0xd, 0);
	T_OK(e && e->flags == KVM_CPUID_FLAG_SIGNIFCANT_INDEX, "leaf 0xD keeps its flags");
	T_OK(e && e->ebx == 576, "leaf 0xD.0 EBX is the XSAVE size for XCR0 = x87");
	T_OK(e && e->eax == 3 && e->ecx == 576, "leaf 0xD.0 EAX/ECX unchanged");
	free(g);

	/* nent too small: E2BIG, nent left for the caller to grow. */
	g = alloc_cpuid();
	g->nent = n - 1;
	T_ERR(ioctl(vcpu, KVM_GET_CPUID2, g), E2BIG, "GET_CPUID2 one entry short");
	T_EQ(g->nent, n - 1, "GET_CPUID2 E2BIG leaves nent alone");
	g->nent = 0;
	T_ERR(ioctl(vcpu, KVM_GET_CPUID2, g), E2BIG, "GET_CPUID2 with nent 0");
	T_ERR(ioctl(vcpu, KVM_GET_CPUID2, T_BADPTR), EFAULT, "GET_CPUID2 bad pointer");
	struct kvm_cpuid2 *h = cpuid_at_hole(0);
	h->nent = n;
	T_ERR(ioctl(vcpu, KVM_GET_CPUID2, h), EFAULT, "GET_CPUID2 unwritable entries");
	free(g);

	/* SET errors leave the table alone. */
	c->nent = 257;
	T_ERR(ioctl(vcpu, KVM_SET_CPUID2, c), E2BIG, "SET_CPUID2 with 257 entries");
	T_ERR(ioctl(vcpu, KVM_SET_CPUID2, T_BADPTR), EFAULT, "SET_CPUID2 bad pointer");
	h->nent = 1;
	T_ERR(ioctl(vcpu, KVM_SET_CPUID2, h), EFAULT, "SET_CPUID2 unreadable entries");
	h->nent = 300;
	T_ERR(ioctl(vcpu, KVM_SET_CPUID2, h), E2BIG, "SET_CPUID2 nent checked before entries");

	model(c);
	c->entries[5].eax = 0x2a24; /* 42-bit linear addresses */
	T_ERR(ioctl(vcpu, KVM_SET_CPUID2, c), EINVAL, "SET_CPUID2 linear address width 42");
	c->entries[5].eax = 0x3924;
	T_EQ(ioctl(vcpu, KVM_SET_CPUID2, c), 0, "SET_CPUID2 linear address width 57");
	c->entries[5].eax = 0x0024;
	T_EQ(ioctl(vcpu, KVM_SET_CPUID2, c), 0, "SET_CPUID2 linear address width 0");
	c->entries[5].eax = 0x3024;
	c->entries[3].eax = 3 | 1u << 17 | 1u << 18; /* AMX tile config + data */
	T_ERR(ioctl(vcpu, KVM_SET_CPUID2, c), EPERM, "SET_CPUID2 with AMX without permission");
	c->entries[3].eax = 3;
	g = get();
	e = find(g, 0x80000008, 0);
	T_OK(e && e->eax == 0x0024, "a refused SET_CPUID2 leaves the table alone");
	free(g);

	/* nent 0 clears the table. */
	c->nent = 0;
	T_EQ(ioctl(vcpu, KVM_SET_CPUID2, c), 0, "SET_CPUID2 with no entries");
	g = get();
	T_EQ(g->nent, 0, "the table is empty again");
	free(g);
	free(c);
}

static void check_old_set(void)
{
	struct {
		struct kvm_cpuid h;
		struct kvm_cpuid_entry e[2];
	} o;
	memset(&o, 0, sizeof(o));
	o.h.nent = 2;
	o.e[0] = (struct kvm_cpuid_entry){.function = 0, .eax = 2, .ebx = 0x11, .ecx = 0x22, .edx = 0x33};
	o.e[1] = (struct kvm_cpuid_entry){.function = 2, .eax = 0x1, .ebx = 0x44, .ecx = 0x55,
					  .edx = 0x66, .padding = 7};
	T_EQ(ioctl(vcpu, KVM_SET_CPUID, &o), 0, "SET_CPUID (old ABI)");
	struct kvm_cpuid2 *g = get();
	T_EQ(g->nent, 2, "SET_CPUID entries come back in GET_CPUID2");
	struct kvm_cpuid_entry2 *e = find(g, 2, 0);
	T_OK(e && e->eax == 1 && e->ebx == 0x44 && e->ecx == 0x55 && e->edx == 0x66,
	     "SET_CPUID registers preserved");
	T_OK(e && e->index == 0 && e->flags == 0, "SET_CPUID entries have index 0 and no flags");
	free(g);
	o.h.nent = 257;
	T_ERR(ioctl(vcpu, KVM_SET_CPUID, &o), E2BIG, "SET_CPUID with 257 entries");
	T_ERR(ioctl(vcpu, KVM_SET_CPUID, T_BADPTR), EFAULT, "SET_CPUID bad pointer");
}

/* After the first KVM_RUN only the current table is accepted again. */
static void check_after_run(int kvm, int vm)
{
	struct kvm_cpuid2 *c = alloc_cpuid();
	uint32_t n = model(c);
	T_EQ(ioctl(vcpu, KVM_SET_CPUID2, c), 0, "SET_CPUID2 before KVM_RUN");

	/* One HLT at the reset vector. */
	uint8_t *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		T_BAIL("mmap");
	memset(mem, 0xf4, 0x10000);
	struct kvm_userspace_memory_region m = {.slot = 0, .guest_phys_addr = 0xffff0000,
						 .memory_size = 0x10000,
						 .userspace_addr = (uintptr_t)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &m))
		T_BAIL("KVM_SET_USER_MEMORY_REGION");
	long sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
	long r = ioctl(vcpu, KVM_RUN, 0);
	T_OBS("run_result", "%ld", r);

	T_EQ(ioctl(vcpu, KVM_SET_CPUID2, c), 0, "after KVM_RUN: the same table is accepted");
	c->entries[2].eax = 2;
	T_ERR(ioctl(vcpu, KVM_SET_CPUID2, c), EINVAL, "after KVM_RUN: a changed value is refused");
	c->entries[2].eax = 1;
	c->entries[3].flags = 0;
	T_ERR(ioctl(vcpu, KVM_SET_CPUID2, c), EINVAL, "after KVM_RUN: changed flags are refused");
	c->entries[3].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	c->nent = n - 1;
	T_ERR(ioctl(vcpu, KVM_SET_CPUID2, c), EINVAL, "after KVM_RUN: fewer entries are refused");
	/* The run-time bits are compared as KVM keeps them: OSXSAVE clear
	 * in the stored table still matches a table that sets it. */
	c->nent = n;
	c->entries[1].ecx &= ~OSXSAVE;
	T_EQ(ioctl(vcpu, KVM_SET_CPUID2, c), 0, "after KVM_RUN: run-time bits do not count");
	struct kvm_cpuid2 *g = get();
	T_EQ(g->nent, n, "after KVM_RUN: the table is unchanged");
	free(g);
	munmap(run, sz);
	free(c);
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	vcpu = t_create_vcpu(vm, 0);

	check_set_get();
	check_old_set();

	struct kvm_cpuid2 *c = alloc_cpuid();
	model(c);
	T_ERR(ioctl(vm, KVM_SET_CPUID2, c), ENOTTY, "SET_CPUID2 on a VM fd");
	T_ERR(ioctl(kvm, KVM_SET_CPUID2, c), EINVAL, "SET_CPUID2 on the system fd");
	c->nent = MAXN;
	T_ERR(ioctl(vm, KVM_GET_CPUID2, c), ENOTTY, "GET_CPUID2 on a VM fd");
	free(c);

	check_after_run(kvm, vm);

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
