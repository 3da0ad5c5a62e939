/* Toggling KVM_MEM_LOG_DIRTY_PAGES on a live slot many times must not keep
 * old dirty bitmaps around: the process's address space stays put. */
#include "t.h"

/* In the sanitizer build freed memory would sit in ASan's quarantine and
 * count as address space; without a quarantine the measure holds there too. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=0";
}

static long vm_size_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

int main(void)
{
	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);
	/* 64 GiB of guest physical space: a 2 MiB bitmap while logging. */
	const uint64_t size = 64ULL << 30;
	void *hva = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);
	if (hva == MAP_FAILED)
		T_BAIL("mmap 64 GiB reservation");
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = size,
		.userspace_addr = (uintptr_t)hva};
	T_EQ(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r), 0, "a 64 GiB slot");

	int fails = 0;
	long before = -1;
	for (int i = 0; i < 400; i++) {
		r.flags = i & 1 ? 0 : KVM_MEM_LOG_DIRTY_PAGES;
		fails += ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) != 0;
		if (i == 1)
			before = vm_size_kib(); /* after one bitmap came and went */
	}
	long after = vm_size_kib();
	T_EQ(fails, 0, "400 logging toggles accepted");
	T_OK(before > 0 && after - before < 64 * 1024,
	     "address space after 400 toggles grew by less than 64 MiB");
	printf("# VmSize before %ld kB, after %ld kB\n", before, after);

	close(vm);
	close(kvm);
	return t_done();
}
