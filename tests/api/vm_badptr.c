/* Bad pointers in system and VM ioctl arguments give EFAULT, never a crash:
 * an unmapped address, NULL, a PROT_NONE page, a read-only page for output,
 * and a struct whose tail crosses into a PROT_NONE guard page.  An ioctl that does
 * not work with a good pointer either is skipped (its own test covers it). */
#include "t.h"

static long pg;
static unsigned char *none, *ro, *edge; /* edge: the last bytes of a mapped page */

static int works(long r)
{
	return r >= 0 || errno == E2BIG;
}

static void bad_in(int fd, unsigned long cmd, const char *name)
{
	T_ERR(ioctl(fd, cmd, T_BADPTR), EFAULT, "%s: unmapped pointer", name);
	T_ERR(ioctl(fd, cmd, NULL), EFAULT, "%s: NULL", name);
	T_ERR(ioctl(fd, cmd, none), EFAULT, "%s: PROT_NONE page", name);
}

/* A list ioctl: header readable and writable, entries run into the void. */
static void list_ioctl(int kvm, unsigned long cmd, const char *name, size_t hdr, int tail_err)
{
	unsigned char buf[8 + 4096 * 8] __attribute__((aligned(8)));
	memset(buf, 0, sizeof(buf));
	*(unsigned *)buf = 4096;
	errno = 0;
	if (!works(ioctl(kvm, cmd, buf))) {
		printf("# %s does not work here: skipped\n", name);
		return;
	}
	unsigned n = *(unsigned *)buf;
	T_OK(n > 0, "%s: returns entries", name);
	bad_in(kvm, cmd, name);
	T_ERR(ioctl(kvm, cmd, ro), tail_err, "%s: read-only page, count beyond it", name);
	/* Only the count fits in the mapped page; the entries do not. */
	unsigned char *p = edge + 4096 - hdr;
	memset(p, 0, hdr);
	*(unsigned *)p = n;
	T_ERR(ioctl(kvm, cmd, p), tail_err, "%s: entries beyond the mapping", name);
}

int main(void)
{
	pg = sysconf(_SC_PAGESIZE);
	none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Read-only, holding a large count for the list ioctls, with a guard
	 * page after it: what the allocator maps next to a lone page varies
	 * (under ASan a readable page there now and then let a struct that
	 * crosses the end be read whole, EINVAL for EFAULT). */
	ro = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ro != MAP_FAILED) {
		*(unsigned *)ro = 4096;
		mprotect(ro, pg, PROT_READ);
		mprotect(ro + pg, pg, PROT_NONE);
	}
	edge = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (none == MAP_FAILED || ro == MAP_FAILED || edge == MAP_FAILED)
		T_BAIL("mmap");
	/* A guard page, not a hole: a later mapping could fill a hole. */
	mprotect(edge + pg, pg, PROT_NONE);

	int kvm = t_open_kvm();
	int vm = t_create_vm(kvm);

	/* System ioctls */
	list_ioctl(kvm, KVM_GET_MSR_INDEX_LIST, "KVM_GET_MSR_INDEX_LIST",
		   sizeof(struct kvm_msr_list), EFAULT);
	list_ioctl(kvm, KVM_GET_MSR_FEATURE_INDEX_LIST, "KVM_GET_MSR_FEATURE_INDEX_LIST",
		   sizeof(struct kvm_msr_list), EFAULT);
	list_ioctl(kvm, KVM_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID",
		   sizeof(struct kvm_cpuid2), EFAULT);
	/* KVM reads the entries' padding of the emulated list first
	 * (sanity_check_entries), and an unreadable entry is EINVAL there. */
	list_ioctl(kvm, KVM_GET_EMULATED_CPUID, "KVM_GET_EMULATED_CPUID",
		   sizeof(struct kvm_cpuid2), EINVAL);

	/* VM ioctls */
	bad_in(vm, KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION");
	bad_in(vm, KVM_ENABLE_CAP, "KVM_ENABLE_CAP");
	bad_in(vm, KVM_SET_IDENTITY_MAP_ADDR, "KVM_SET_IDENTITY_MAP_ADDR");
	unsigned char *p = edge + pg - 8;
	memset(p, 0, 8);
	T_ERR(ioctl(vm, KVM_ENABLE_CAP, p), EFAULT, "KVM_ENABLE_CAP: struct crossing the mapping");
	T_ERR(ioctl(vm, KVM_SET_USER_MEMORY_REGION, ro + pg - 8), EFAULT,
	      "KVM_SET_USER_MEMORY_REGION: struct crossing a read-only page's end");
	T_EQ(ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, ro), 0,
	     "KVM_SET_IDENTITY_MAP_ADDR reads from a read-only page");
	T_ERR(ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, edge + pg - 4), EFAULT,
	      "KVM_SET_IDENTITY_MAP_ADDR: u64 crossing the mapping");

	/* Still alive and answering. */
	T_EQ(ioctl(kvm, KVM_GET_API_VERSION, 0), 12, "the system fd still answers");
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1, "the VM fd still answers");
	close(vm);
	close(kvm);
	return t_done();
}
