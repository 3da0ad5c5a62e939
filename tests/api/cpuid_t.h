/* Helpers shared by the CPUID conformance tests. */
#ifndef SKVM_TEST_CPUID_T_H
#define SKVM_TEST_CPUID_T_H

#include "t.h"

#define MAXN 300

static struct kvm_cpuid2 *alloc_cpuid(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + MAXN * sizeof(c->entries[0]));
	if (!c)
		T_BAIL("calloc");
	return c;
}

__attribute__((unused)) static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn,
							   uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

/* A kvm_cpuid2 whose header (and `room` entries) are readable and whose
 * following entries run into a page that is not mapped. */
__attribute__((unused)) static struct kvm_cpuid2 *cpuid_at_hole(int room)
{
	uint8_t *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		T_BAIL("mmap");
	munmap(p + 4096, 4096);
	return (struct kvm_cpuid2 *)(p + 4096 - sizeof(struct kvm_cpuid2) -
				     room * sizeof(struct kvm_cpuid_entry2));
}

#endif
