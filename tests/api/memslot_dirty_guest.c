/* KVM_GET_DIRTY_LOG with a guest: pages the guest writes are logged once
 * each, the log is cleared as it is read, reads and code fetches log
 * nothing, a slot without logging logs nothing, and a write to a read-only
 * slot exits as MMIO instead of being logged (KVM API 4.8, 4.35). */
#include "t_vm.h"

static int vm, vcpu;
static struct kvm_run *run;

static long set(unsigned slot, unsigned flags, unsigned long long gpa, unsigned long long size,
		void *hva)
{
	return t_set_region(vm, slot, flags, gpa, size, (unsigned long)hva);
}

static unsigned long long get(unsigned slot)
{
	unsigned long long bm[2] = {0, 0};
	struct kvm_dirty_log l = {.slot = slot, .dirty_bitmap = bm};
	if (ioctl(vm, KVM_GET_DIRTY_LOG, &l))
		return ~0ULL;
	return bm[0];
}

/* Real mode at 0:ip, run until an exit; returns the exit reason. */
static int run_from(unsigned ip)
{
	if (t_real_mode(vcpu, ip, 0) || ioctl(vcpu, KVM_RUN, 0))
		return -1;
	return run->exit_reason;
}

int main(void)
{
	const long pg = 4096;
	int kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	unsigned char *mem = mmap(NULL, 16 * pg, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *ro = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *plain = mmap(NULL, pg, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || ro == MAP_FAILED || plain == MAP_FAILED)
		T_BAIL("mmap");
	/* 0x000: mov byte [0x1000],1; mov byte [0x3000],2; mov al,[0x5000]; hlt */
	static const unsigned char writes[] = {0xc6, 0x06, 0x00, 0x10, 0x01, 0xc6, 0x06, 0x00,
					       0x30, 0x02, 0xa0, 0x00, 0x50, 0xf4};
	/* 0x100: mov byte [0x3001],3; mov byte [0x3002],4; hlt */
	static const unsigned char again[] = {0xc6, 0x06, 0x01, 0x30, 0x03,
					      0xc6, 0x06, 0x02, 0x30, 0x04, 0xf4};
	/* 0x200: mov byte [0x10000],5 via ES=0x1000; hlt  (slot without a log) */
	static const unsigned char other[] = {0xb8, 0x00, 0x10, 0x8e, 0xc0, 0x26, 0xc6,
					      0x06, 0x00, 0x00, 0x05, 0xf4};
	/* 0x300: mov byte [0x20000],6 via ES=0x2000; hlt  (read-only slot) */
	static const unsigned char rdonly[] = {0xb8, 0x00, 0x20, 0x8e, 0xc0, 0x26, 0xc6,
					       0x06, 0x00, 0x00, 0x06, 0xf4};
	memcpy(mem, writes, sizeof(writes));
	memcpy(mem + 0x100, again, sizeof(again));
	memcpy(mem + 0x200, other, sizeof(other));
	memcpy(mem + 0x300, rdonly, sizeof(rdonly));

	T_EQ(set(0, KVM_MEM_LOG_DIRTY_PAGES, 0, 16 * pg, mem), 0, "16 logged pages at 0");
	T_EQ(set(1, 0, 0x10000, pg, plain), 0, "an unlogged page at 0x10000");
	T_EQ(set(2, KVM_MEM_READONLY | KVM_MEM_LOG_DIRTY_PAGES, 0x20000, pg, ro), 0,
	     "a logged read-only page at 0x20000");
	vcpu = t_create_vcpu(vm, 0);
	run = t_map_run(kvm, vcpu);

	T_EQ(get(0), 0, "clean before the guest runs");
	T_EQ(run_from(0), KVM_EXIT_HLT, "guest writes pages 1 and 3, reads page 5");
	T_OK(mem[0x1000] == 1 && mem[0x3000] == 2, "the writes reached memory");
	T_EQ(get(0), (1ULL << 1) | (1ULL << 3), "pages 1 and 3 are dirty, code and read pages not");
	T_EQ(get(0), 0, "reading the log cleared it");
	T_EQ(run_from(0x100), KVM_EXIT_HLT, "guest writes page 3 twice more");
	T_EQ(get(0), 1ULL << 3, "page 3 is dirty again, once");
	T_EQ(run_from(0x200), KVM_EXIT_HLT, "guest writes the unlogged slot");
	T_EQ(plain[0], 5, "the write reached it");
	T_EQ(get(0), 0, "nothing logged in slot 0");
	T_EQ(run_from(0x300), KVM_EXIT_MMIO, "a write to the read-only slot exits as MMIO");
	T_OK(run->mmio.is_write && run->mmio.phys_addr == 0x20000 && run->mmio.len == 1 &&
		     run->mmio.data[0] == 6,
	     "write of 1 byte, 6, at 0x20000");
	T_EQ(ro[0], 0, "the read-only page is unchanged");
	T_EQ(get(2), 0, "and not logged");

	/* Turning logging off and on again starts a clean log. */
	T_EQ(run_from(0), KVM_EXIT_HLT, "guest writes pages 1 and 3 again");
	T_EQ(set(0, 0, 0, 16 * pg, mem), 0, "logging off");
	T_EQ(set(0, KVM_MEM_LOG_DIRTY_PAGES, 0, 16 * pg, mem), 0, "logging on");
	T_EQ(get(0), 0, "the new log is clean");

	/* The vCPU's binary stats counted those exits (KVM API 4.133). */
	int st = ioctl(vcpu, KVM_GET_STATS_FD, 0);
	struct kvm_stats_header h;
	if (st >= 0 && pread(st, &h, sizeof(h), 0) == sizeof(h)) {
		size_t dsz = sizeof(struct kvm_stats_desc) + h.name_size;
		unsigned char *d = calloc(h.num_desc, dsz);
		pread(st, d, dsz * h.num_desc, h.desc_offset);
		for (unsigned i = 0; i < h.num_desc; i++) {
			struct kvm_stats_desc *e = (void *)(d + i * dsz);
			unsigned long long v = 0;
			pread(st, &v, 8, h.data_offset + e->offset);
			if (!strcmp(e->name, "halt_exits"))
				T_EQ(v, 4, "stats: halt_exits counts the four HLT exits");
			else if (!strcmp(e->name, "mmio_exits"))
				T_EQ(v, 1, "stats: mmio_exits counts the one MMIO exit");
			else if (!strcmp(e->name, "io_exits"))
				T_EQ(v, 0, "stats: no io_exits");
			else if (!strcmp(e->name, "exits"))
				T_OK(v >= 5, "stats: exits (%llu) covers all five", v);
		}
		free(d);
	}
	T_OK(st >= 0, "vCPU stats fd");
	close(st);

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
