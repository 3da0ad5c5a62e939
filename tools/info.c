/* `softkvm info`: what this softkvm offers, read through its own KVM API. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "softkvm.h"
#include "tools.h"
#include "capnames.h" /* generated from <linux/kvm.h> */

static bool json;

static struct kvm_cpuid2 *get_cpuid(int sys, unsigned long req)
{
	for (int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = (u_int32_t)n;
		if (softkvm_ioctl(sys, req, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

static struct kvm_msr_list *get_msrs(int sys, unsigned long req)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	if (softkvm_ioctl(sys, req, &probe) < 0 && errno != E2BIG)
		return NULL;
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(u_int32_t));
	if (!l)
		return NULL;
	l->nmsrs = probe.nmsrs;
	if (softkvm_ioctl(sys, req, l) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

static void print_cpuid(const char *title, struct kvm_cpuid2 *c, bool last)
{
	if (json) {
		printf("  \"%s\": [", title);
		for (unsigned i = 0; c && i < c->nent; i++) {
			struct kvm_cpuid_entry2 *e = &c->entries[i];
			printf("%s\n    {\"function\": %u, \"index\": %u, \"flags\": %u, "
			       "\"eax\": %u, \"ebx\": %u, \"ecx\": %u, \"edx\": %u}",
			       i ? "," : "", e->function, e->index, e->flags, e->eax, e->ebx,
			       e->ecx, e->edx);
		}
		printf("\n  ]%s\n", last ? "" : ",");
		return;
	}
	printf("\n%s:%s\n", title, c && c->nent ? "" : " (none)");
	for (unsigned i = 0; c && i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		printf("  %08x.%02x  eax=%08x ebx=%08x ecx=%08x edx=%08x%s\n", e->function,
		       e->index, e->eax, e->ebx, e->ecx, e->edx,
		       (e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ? "  (indexed)" : "");
	}
}

static void print_msrs(const char *title, struct kvm_msr_list *l, bool last)
{
	if (json) {
		printf("  \"%s\": [", title);
		for (unsigned i = 0; l && i < l->nmsrs; i++)
			printf("%s%u", i ? ", " : "", l->indices[i]);
		printf("]%s\n", last ? "" : ",");
		return;
	}
	printf("\n%s:%s", title, l && l->nmsrs ? "" : " (none)");
	for (unsigned i = 0; l && i < l->nmsrs; i++)
		printf("%s%#x", i % 8 ? " " : "\n  ", l->indices[i]);
	printf("\n");
}

int cmd_info(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else {
			fprintf(stderr, "usage: softkvm info [--json]\n");
			return 2;
		}
	}
	int sys = softkvm_open(O_RDWR | O_CLOEXEC);
	if (sys < 0) {
		fprintf(stderr, "softkvm: cannot open the system handle: %s\n", strerror(errno));
		return 1;
	}
	int api = softkvm_ioctl(sys, KVM_GET_API_VERSION, 0);
	int mmap_size = softkvm_ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (json)
		printf("{\n  \"api_version\": %d,\n  \"vcpu_mmap_size\": %d,\n  \"capabilities\": {",
		       api, mmap_size);
	else
		printf("softkvm: KVM API version %d, vCPU mmap size %d\n\ncapabilities:\n", api,
		       mmap_size);
	bool first = true;
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		int v = softkvm_ioctl(sys, KVM_CHECK_EXTENSION, cap_names[i].cap);
		if (json) {
			printf("%s\n    \"%s\": %d", first ? "" : ",", cap_names[i].name, v);
		} else {
			printf("  %-36s %d\n", cap_names[i].name, v);
		}
		first = false;
	}
	if (json)
		printf("\n  },\n");

	struct kvm_cpuid2 *sup = get_cpuid(sys, KVM_GET_SUPPORTED_CPUID);
	struct kvm_cpuid2 *emu = get_cpuid(sys, KVM_GET_EMULATED_CPUID);
	struct kvm_msr_list *msrs = get_msrs(sys, KVM_GET_MSR_INDEX_LIST);
	struct kvm_msr_list *feat = get_msrs(sys, KVM_GET_MSR_FEATURE_INDEX_LIST);
	print_cpuid("supported_cpuid", sup, false);
	print_cpuid("emulated_cpuid", emu, false);
	print_msrs("msr_index_list", msrs, false);
	print_msrs("msr_feature_index_list", feat, true);
	if (json)
		printf("}\n");
	free(sup);
	free(emu);
	free(msrs);
	free(feat);
	softkvm_close(sys);
	return 0;
}
