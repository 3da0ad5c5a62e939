/*
 * The dirty ring (KVM API 8.29 KVM_CAP_DIRTY_LOG_RING, 4.129
 * KVM_RESET_DIRTY_RINGS): enable rules and errnos, the ring pages of the
 * vCPU fd (shared only, never executable), the 00 -> 01 -> 1X -> 00 state
 * machine harvested in order, re-arming by reset, the bitmap ioctls refused
 * while the ring is in use, and KVM_EXIT_DIRTY_RING_FULL before overflow.
 */
#include "t_vm.h"

#define PG 4096ULL
#define NPAGES 256 /* slot 0: [0, 1 MiB), logged */
#define RING_BYTES 4096
#define RING_N (RING_BYTES / sizeof(struct kvm_dirty_gfn))

static int vm, vcpu;
static struct kvm_run *run;
static struct kvm_dirty_gfn *ring;

static long enable_ring(int fd, unsigned cap, unsigned long long size)
{
	struct kvm_enable_cap c = {.cap = cap};
	c.args[0] = size;
	return ioctl(fd, KVM_ENABLE_CAP, &c);
}

static int run_from(unsigned ip)
{
	if (t_real_mode(vcpu, ip, 0) || ioctl(vcpu, KVM_RUN, 0))
		return -1;
	return run->exit_reason;
}

static unsigned flags(unsigned i)
{
	return __atomic_load_n(&ring[i % RING_N].flags, __ATOMIC_ACQUIRE);
}

static void harvest(unsigned i)
{
	__atomic_store_n(&ring[i % RING_N].flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
}

int main(void)
{
	int kvm = t_open_kvm();
	long max = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	long max2 = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	T_OK(max >= 4096 && !(max & (max - 1)), "DIRTY_LOG_RING reports a power-of-two maximum");
	T_OK(max2 >= 4096 && !(max2 & (max2 - 1)), "DIRTY_LOG_RING_ACQ_REL likewise");
	T_OBS("ring_max", "%ld", max);
	T_OBS("ring_acq_rel_max", "%ld", max2);

	/* A VM with a vCPU can no longer take the ring. */
	int vm2 = t_create_vm(kvm);
	int vc2 = t_create_vcpu(vm2, 0);
	T_ERR(enable_ring(vm2, KVM_CAP_DIRTY_LOG_RING, 65536), EINVAL, "enable after a vCPU exists");
	T_ERR(ioctl(vm2, KVM_RESET_DIRTY_RINGS, 0), EINVAL, "reset without the ring");
	close(vc2);
	close(vm2);

	vm = t_create_vm(kvm);
	T_ERR(enable_ring(vm, KVM_CAP_DIRTY_LOG_RING, 0), EINVAL, "size 0");
	T_ERR(enable_ring(vm, KVM_CAP_DIRTY_LOG_RING, 12288), EINVAL, "size not a power of two");
	T_ERR(enable_ring(vm, KVM_CAP_DIRTY_LOG_RING, 512), EINVAL, "size below a page");
	T_ERR(enable_ring(vm, KVM_CAP_DIRTY_LOG_RING, max * 2), E2BIG, "size above the maximum");
	T_EQ(enable_ring(vm, KVM_CAP_DIRTY_LOG_RING, RING_BYTES), 0, "a one-page ring");
	T_ERR(enable_ring(vm, KVM_CAP_DIRTY_LOG_RING, RING_BYTES), EINVAL, "only once");
	T_ERR(enable_ring(vm, KVM_CAP_DIRTY_LOG_RING_ACQ_REL, RING_BYTES), EINVAL,
	      "not again as ACQ_REL");
	T_EQ(ioctl(vm, KVM_RESET_DIRTY_RINGS, 0), 0, "reset with no vCPU resets nothing");

	unsigned char *mem = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *plain = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				    -1, 0);
	if (mem == MAP_FAILED || plain == MAP_FAILED)
		T_BAIL("mmap");
	t_load_page_writers(mem);
	/* 0x200: es = 0x1000 (slot 1, unlogged); mov byte es:[0],5; hlt */
	static const unsigned char wp[] = {0xb8, 0x00, 0x10, 0x8e, 0xc0, 0x26,
					   0xc6, 0x06, 0x00, 0x00, 0x05, 0xf4};
	/* 0x300: pages 0x20..0xe7, one byte each, in order:
	 *   mov cx,200; mov ax,0x2000; l: mov es,ax; mov byte es:[0],7;
	 *   add ax,0x100; loop l; hlt */
	static const unsigned char w200[] = {0xb9, 0xc8, 0x00, 0xb8, 0x00, 0x20, 0x8e,
					     0xc0, 0x26, 0xc6, 0x06, 0x00, 0x00, 0x07,
					     0x05, 0x00, 0x01, 0xe2, 0xf3, 0xf4};
	memcpy(mem + 0x200, wp, sizeof(wp));
	memcpy(mem + 0x300, w200, sizeof(w200));
	/* 0x400: the same ending in OUT 0x80 (no HLT: an in-kernel LAPIC
	 * would wait in it) */
	memcpy(mem + 0x400, w200, sizeof(w200));
	mem[0x400 + sizeof(w200) - 1] = 0xe6;
	mem[0x400 + sizeof(w200)] = 0x80;
	T_EQ(t_set_region(vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, 0x10000, (unsigned long)mem), 0,
	     "slot 0: 16 logged pages");
	T_EQ(t_set_region(vm, 1, 0, 0x10000, PG, (unsigned long)plain), 0,
	     "slot 1: an unlogged page at 64 KiB");
	T_EQ(t_set_region(vm, 2, KVM_MEM_LOG_DIRTY_PAGES, 0x20000, (NPAGES - 32) * PG,
			  (unsigned long)mem + 0x20000), 0, "slot 2: 224 logged pages at 128 KiB");

	/* The bitmap interface is not there while the ring is. */
	unsigned long long bm[4];
	struct kvm_dirty_log gl = {.slot = 0, .dirty_bitmap = bm};
	T_ERR(ioctl(vm, KVM_GET_DIRTY_LOG, &gl), ENXIO, "KVM_GET_DIRTY_LOG: ENXIO with the ring");
	gl.slot = 7;
	T_ERR(ioctl(vm, KVM_GET_DIRTY_LOG, &gl), ENXIO, "ENXIO comes before the slot check");
	struct kvm_clear_dirty_log cl = {.slot = 0, .num_pages = 16, .dirty_bitmap = bm};
	T_ERR(ioctl(vm, KVM_CLEAR_DIRTY_LOG, &cl), ENXIO, "KVM_CLEAR_DIRTY_LOG: ENXIO with the ring");

	vcpu = t_create_vcpu(vm, 0);
	long sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	T_OK(sz > 0 && sz < KVM_DIRTY_LOG_PAGE_OFFSET * (long)PG,
	     "the kvm_run area does not count the ring");
	run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
	const off_t roff = KVM_DIRTY_LOG_PAGE_OFFSET * PG;
	T_OK(mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE, vcpu, roff) == MAP_FAILED &&
		     errno == EINVAL,
	     "ring mmap MAP_PRIVATE: EINVAL");
	T_OK(mmap(NULL, RING_BYTES, PROT_READ | PROT_EXEC, MAP_SHARED, vcpu, roff) == MAP_FAILED &&
		     errno == EPERM,
	     "ring mmap PROT_EXEC: EPERM");
	void *priv = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, vcpu, 0);
	T_OK(priv != MAP_FAILED, "the kvm_run page itself may be mapped private");
	if (priv != MAP_FAILED)
		munmap(priv, PG);
	ring = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, roff);
	T_OK(ring != MAP_FAILED, "ring mmap MAP_SHARED read/write");
	if (ring == MAP_FAILED)
		T_BAIL("mmap ring");
	T_EQ(flags(0), 0, "entries start free (00)");

	/* 00 -> 01 */
	T_EQ(run_from(0), KVM_EXIT_HLT, "guest writes pages 1, 3, 70");
	T_OK(flags(0) == KVM_DIRTY_GFN_F_DIRTY && flags(1) == KVM_DIRTY_GFN_F_DIRTY &&
		     flags(2) == KVM_DIRTY_GFN_F_DIRTY,
	     "three entries dirty (01)");
	T_OK(ring[0].slot == 0 && ring[0].offset == 1 && ring[1].slot == 0 && ring[1].offset == 3 &&
		     ring[2].slot == 2 && ring[2].offset == 70 - 32,
	     "slot 0 page 1, slot 0 page 3, slot 2 page 38, in write order");
	T_EQ(flags(3), 0, "the next entry is free");
	T_EQ(ioctl(vm, KVM_RESET_DIRTY_RINGS, 0), 0, "reset with nothing harvested: 0");
	T_EQ(flags(0), KVM_DIRTY_GFN_F_DIRTY, "entry 0 still dirty");

	/* 01 -> 1X -> 00, in order */
	harvest(0);
	harvest(2);
	T_EQ(ioctl(vm, KVM_RESET_DIRTY_RINGS, 0), 1, "harvested 0 and 2: only 0 is reset");
	T_OK(flags(0) == 0 && flags(1) == KVM_DIRTY_GFN_F_DIRTY && flags(2) == KVM_DIRTY_GFN_F_RESET,
	     "entry 0 free, 1 dirty, 2 waiting behind it");
	harvest(1);
	T_EQ(ioctl(vm, KVM_RESET_DIRTY_RINGS, 0), 2, "then 1 and 2");
	T_OK(flags(1) == 0 && flags(2) == 0, "both free");

	/* A reset page is pushed again on its next write. */
	T_EQ(run_from(0x100), KVM_EXIT_HLT, "guest writes page 1 after its reset");
	T_OK(flags(3) == KVM_DIRTY_GFN_F_DIRTY && ring[3].slot == 0 && ring[3].offset == 1,
	     "page 1 pushed again (entry 3)");
	T_EQ(run_from(0x200), KVM_EXIT_HLT, "guest writes the unlogged slot");
	T_EQ(flags(4), 0, "no entry for it");
	harvest(3);
	T_EQ(ioctl(vm, KVM_RESET_DIRTY_RINGS, 0), 1, "reset entry 3");

	/* Ring full: the vCPU exits before the ring overflows. */
	T_EQ(run_from(0x300), KVM_EXIT_DIRTY_RING_FULL, "200 pages into a 256-entry ring exits");
	unsigned n = 0;
	while (n < RING_N && flags(4 + n) == KVM_DIRTY_GFN_F_DIRTY)
		n++;
	T_OK(n > 0 && n < RING_N, "entries pushed before the exit (%u) leave room", n);
	T_OBS("entries_at_ring_full", "%u", n);
	int seq = 1;
	for (unsigned k = 0; k < n; k++)
		seq &= ring[(4 + k) % RING_N].slot == 2 && ring[(4 + k) % RING_N].offset == k;
	T_OK(seq, "in write order");
	struct kvm_regs regs;
	ioctl(vcpu, KVM_GET_REGS, &regs);
	T_OBS("cx_at_ring_full", "%llu", regs.rcx & 0xffff);
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "KVM_RUN again without a reset");
	T_EQ(run->exit_reason, KVM_EXIT_DIRTY_RING_FULL, "exits full again at once");
	T_EQ(flags(4 + n), 0, "having pushed nothing");
	for (unsigned k = 0; k < n; k++)
		harvest(4 + k);
	T_EQ(ioctl(vm, KVM_RESET_DIRTY_RINGS, 0), n, "reset them all");
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "KVM_RUN after the reset");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "runs to HLT");
	unsigned m = 0;
	while (m < RING_N && flags(4 + n + m) == KVM_DIRTY_GFN_F_DIRTY)
		m++;
	T_EQ(n + m, 200, "the rest were pushed: 200 in all");
	seq = 1;
	for (unsigned k = 0; k < m; k++)
		seq &= ring[(4 + n + k) % RING_N].offset == n + k;
	T_OK(seq, "continuing in order");

	close(vcpu);
	close(vm);

	/* The same with the in-kernel irqchip, whose vCPUs run on through
	 * kicks and HLT: a full ring still ends KVM_RUN. */
	vm = t_create_vm(kvm);
	T_EQ(enable_ring(vm, KVM_CAP_DIRTY_LOG_RING, RING_BYTES), 0, "irqchip VM: ring");
	T_EQ(ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0, "irqchip VM: KVM_CREATE_IRQCHIP");
	T_EQ(t_set_region(vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, NPAGES * PG, (unsigned long)mem), 0,
	     "irqchip VM: 256 logged pages");
	vcpu = t_create_vcpu(vm, 0);
	run = t_map_run(kvm, vcpu);
	ring = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, roff);
	if (ring == MAP_FAILED)
		T_BAIL("mmap ring");
	T_EQ(run_from(0x400), KVM_EXIT_DIRTY_RING_FULL, "irqchip VM: 200 pages exit ring-full");
	n = 0;
	while (n < RING_N && flags(n) == KVM_DIRTY_GFN_F_DIRTY)
		n++;
	T_OK(n > 0 && n < RING_N, "irqchip VM: entries before the exit (%u) leave room", n);
	for (unsigned k = 0; k < n; k++)
		harvest(k);
	T_EQ(ioctl(vm, KVM_RESET_DIRTY_RINGS, 0), n, "irqchip VM: reset them");
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "irqchip VM: KVM_RUN after the reset");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "irqchip VM: runs to the OUT");
	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
