/* KVM_GET_STATS_FD (KVM API 4.133): the binary stats format of VM and vCPU
 * fds, checked by the rules of the kernel's kvm_binary_stats_test and the
 * document: header, id string, descriptors, data, and file behaviour. */
#include "t.h"

struct stats {
	struct kvm_stats_header h;
	char id[256];
	unsigned char *desc;
	size_t desc_size;
	unsigned long long *data;
	size_t data_size;
};

static struct kvm_stats_desc *desc_at(struct stats *s, unsigned i)
{
	return (void *)(s->desc + i * s->desc_size);
}

static void check_stats(int fd, const char *what, const char *want_id)
{
	struct stats s = {0};
	/* Header and id string read sequentially from offset 0. */
	T_EQ(read(fd, &s.h, sizeof(s.h)), sizeof(s.h), "%s: read the header", what);
	T_EQ(s.h.flags, 0, "%s: header flags 0", what);
	T_OK(s.h.name_size > 0 && s.h.name_size <= sizeof(s.id), "%s: name_size %u", what,
	     s.h.name_size);
	if (!strcmp(what, "VM 0"))
		T_OBS("stats_name_size", "%u", s.h.name_size);
	if (s.h.name_size == 0 || s.h.name_size > sizeof(s.id))
		return;
	T_EQ(s.h.id_offset, sizeof(s.h), "%s: id string right after the header", what);
	T_EQ(read(fd, s.id, s.h.name_size), s.h.name_size, "%s: read the id string", what);
	T_OK(strnlen(s.id, s.h.name_size) < s.h.name_size, "%s: id string terminated", what);
	T_OK(!strcmp(s.id, want_id), "%s: id is \"%s\" (got \"%s\")", what, want_id, s.id);
	T_OK(s.h.num_desc > 0, "%s: has descriptors", what);

	s.desc_size = sizeof(struct kvm_stats_desc) + s.h.name_size;
	T_OK(s.h.desc_offset >= sizeof(s.h) && s.h.data_offset >= sizeof(s.h),
	     "%s: offsets past the header", what);
	T_OK(s.h.desc_offset + s.h.num_desc * s.desc_size <= s.h.data_offset ||
		     s.h.desc_offset > s.h.data_offset,
	     "%s: descriptors do not overlap data", what);
	s.desc = calloc(s.h.num_desc, s.desc_size);
	T_EQ(pread(fd, s.desc, s.h.num_desc * s.desc_size, s.h.desc_offset),
	     (long)(s.h.num_desc * s.desc_size), "%s: read the descriptors", what);

	int bounds = 1, expo = 1, sizes = 1, buckets = 1, names = 1, unique = 1;
	for (unsigned i = 0; i < s.h.num_desc; i++) {
		struct kvm_stats_desc *d = desc_at(&s, i);
		unsigned type = d->flags & KVM_STATS_TYPE_MASK;
		unsigned unit = d->flags & KVM_STATS_UNIT_MASK;
		unsigned base = d->flags & KVM_STATS_BASE_MASK;
		if (type > KVM_STATS_TYPE_MAX || unit > KVM_STATS_UNIT_MAX ||
		    base > KVM_STATS_BASE_MAX ||
		    (d->flags & ~(KVM_STATS_TYPE_MASK | KVM_STATS_UNIT_MASK | KVM_STATS_BASE_MASK)))
			bounds = 0;
		if ((unit == KVM_STATS_UNIT_SECONDS && d->exponent > 0) ||
		    (unit != KVM_STATS_UNIT_SECONDS && d->exponent < 0))
			expo = 0;
		if (!d->size)
			sizes = 0;
		if ((type == KVM_STATS_TYPE_LINEAR_HIST) != (d->bucket_size != 0))
			buckets = 0;
		if (!d->name[0] || strnlen(d->name, s.h.name_size) >= s.h.name_size)
			names = 0;
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(desc_at(&s, j)->name, d->name))
				unique = 0;
		s.data_size += d->size * sizeof(unsigned long long);
	}
	T_OK(bounds, "%s: type, unit and base within bounds", what);
	T_OK(expo, "%s: exponents fit their units", what);
	T_OK(sizes, "%s: no descriptor of size 0", what);
	T_OK(buckets, "%s: bucket_size only for linear histograms", what);
	T_OK(names, "%s: names non-empty and terminated", what);
	T_OK(unique, "%s: names unique", what);
	int offs = 1;
	for (unsigned i = 0; i < s.h.num_desc; i++) {
		struct kvm_stats_desc *d = desc_at(&s, i);
		if (d->offset % 8 || d->offset + d->size * 8 > s.data_size)
			offs = 0;
	}
	T_OK(offs, "%s: data offsets inside the data block", what);
	T_OK(s.h.data_offset >= s.h.desc_offset || s.h.data_offset + s.data_size <= s.h.desc_offset,
	     "%s: data does not overlap descriptors", what);

	s.data = calloc(1, s.data_size);
	T_EQ(pread(fd, s.data, s.data_size, s.h.data_offset), (long)s.data_size,
	     "%s: read all data at once", what);
	int each = 1;
	for (unsigned i = 0; i < s.h.num_desc; i++) {
		struct kvm_stats_desc *d = desc_at(&s, i);
		unsigned long long v[64];
		size_t n = d->size < 64 ? d->size : 64;
		if (pread(fd, v, n * 8, s.h.data_offset + d->offset) != (ssize_t)(n * 8))
			each = 0;
	}
	T_OK(each, "%s: read each value at its offset", what);
	char c[64];
	T_EQ(pread(fd, c, sizeof(c), s.h.data_offset + s.data_size), 0, "%s: read at the end", what);
	T_EQ(pread(fd, c, 16, s.h.data_offset + s.data_size - 8), 8,
	     "%s: read across the end is short", what);
	T_EQ(pread(fd, c, 8, 1LL << 40), 0, "%s: read far past the end", what);
	T_EQ(pread(fd, c, 3, 1), 3, "%s: read at an odd offset", what);
	T_ERR(pread(fd, c, 8, -1), EINVAL, "%s: negative offset", what);
	void *volatile bad = T_BADPTR;
	T_ERR(pread(fd, bad, 8, 0), EFAULT, "%s: read into a bad pointer", what);
	T_ERR(write(fd, c, 1), EBADF, "%s: not writable", what);
	T_OK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "%s: close-on-exec", what);
	T_ERR(ioctl(fd, KVM_GET_API_VERSION, 0), ENOTTY, "%s: no ioctls", what);
	T_ERR(ioctl(fd, KVM_GET_STATS_FD, 0), ENOTTY, "%s: no KVM_GET_STATS_FD either", what);
	void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	T_OK(m == MAP_FAILED && errno == ENODEV, "%s: no mmap (ENODEV)", what);
	for (unsigned i = 0; i < s.h.num_desc; i++) {
		struct kvm_stats_desc *d = desc_at(&s, i);
		if (!strcmp(d->name, "exits"))
			T_EQ(s.data[d->offset / 8], 0, "%s: no exits before KVM_RUN", what);
	}
	free(s.data);
	free(s.desc);
}

int main(void)
{
	int kvm = t_open_kvm();
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD), 1, "KVM_CAP_BINARY_STATS_FD");
	T_ERR(ioctl(kvm, KVM_GET_STATS_FD, 0), EINVAL, "KVM_GET_STATS_FD on the system fd");

	/* As kvm_binary_stats_test: several VMs of several vCPUs. */
	enum { NVM = 4, NVCPU = 4 };
	int vms[NVM], vcpus[NVM][NVCPU];
	for (int i = 0; i < NVM; i++) {
		vms[i] = t_create_vm(kvm);
		for (int j = 0; j < NVCPU; j++)
			vcpus[i][j] = t_create_vcpu(vms[i], j * 3);
	}
	char what[64], id[64];
	for (int i = 0; i < NVM; i++) {
		int fd = ioctl(vms[i], KVM_GET_STATS_FD, 0);
		T_OK(fd >= 0, "VM %d: KVM_GET_STATS_FD", i);
		snprintf(what, sizeof(what), "VM %d", i);
		snprintf(id, sizeof(id), "kvm-%d", (int)getpid());
		check_stats(fd, what, id);
		close(fd);
		T_ERR(fcntl(fd, F_GETFD), EBADF, "VM %d: stats fd freed by close", i);
		for (int j = 0; j < NVCPU; j++) {
			fd = ioctl(vcpus[i][j], KVM_GET_STATS_FD, 0);
			snprintf(what, sizeof(what), "VM %d vCPU %d", i, j * 3);
			snprintf(id, sizeof(id), "kvm-%d/vcpu-%d", (int)getpid(), j * 3);
			check_stats(fd, what, id);
			close(fd);
		}
	}

	/* Each stats fd has its own file position. */
	int a = ioctl(vcpus[0][0], KVM_GET_STATS_FD, 0);
	int b = ioctl(vcpus[0][0], KVM_GET_STATS_FD, 0);
	T_OK(a >= 0 && b >= 0 && a != b, "two stats fds of one vCPU");
	struct kvm_stats_header ha, hb;
	T_EQ(read(a, &ha, sizeof(ha)), sizeof(ha), "read the first");
	T_EQ(read(b, &hb, sizeof(hb)), sizeof(hb), "the second still starts at offset 0");
	T_OK(!memcmp(&ha, &hb, sizeof(ha)), "both show the same header");
	int ad = dup(a);
	T_OK(ad >= 0, "dup of a stats fd");
	close(a);
	T_EQ(pread(ad, &ha, sizeof(ha), 0), sizeof(ha), "the dup reads after the original closes");
	close(ad);
	close(b);
	int ign = ioctl(vms[0], KVM_GET_STATS_FD, 12345);
	T_OK(ign >= 0, "the argument is ignored");
	close(ign);

	/* A stats fd outlives its VM's other fds. */
	int s = ioctl(vcpus[1][1], KVM_GET_STATS_FD, 0);
	for (int j = 0; j < NVCPU; j++)
		close(vcpus[1][j]);
	close(vms[1]);
	T_EQ(pread(s, &ha, sizeof(ha), 0), sizeof(ha), "stats fd readable after its VM is gone");
	close(s);

	close(kvm);
	return t_done();
}
