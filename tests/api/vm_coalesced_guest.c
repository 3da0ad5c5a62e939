/* Coalesced MMIO/PIO with a guest: writes into a registered zone either
 * wait in the ring or exit as usual (KVM exits when its ring is full, so a
 * VMM handles both); drained before each exit is handled, they come out in
 * program order.  Reads and writes outside the zones always exit. */
#include "t_vm.h"

static int vm, vcpu;
static struct kvm_run *run;
static struct kvm_coalesced_mmio_ring *ring;
static unsigned ring_max;

struct access {
	unsigned long long addr;
	unsigned len, pio, write;
	unsigned long long data;
};
static struct access seen[64];
static int nseen, via_ring;

static void note(unsigned long long addr, unsigned len, unsigned pio, unsigned write,
		 const void *data)
{
	if (nseen >= 64)
		return;
	struct access *a = &seen[nseen++];
	a->addr = addr;
	a->len = len;
	a->pio = pio;
	a->write = write;
	a->data = 0;
	memcpy(&a->data, data, len < 8 ? len : 8);
}

static void drain(void)
{
	while (ring->first != ring->last) {
		struct kvm_coalesced_mmio *e = &ring->coalesced_mmio[ring->first];
		note(e->phys_addr, e->len, e->pio, 1, e->data);
		via_ring++;
		__atomic_store_n(&ring->first, (ring->first + 1) % ring_max, __ATOMIC_RELEASE);
	}
}

/* Run real-mode code at 0:ip until HLT, recording every write. */
static int run_guest(unsigned ip)
{
	if (t_real_mode(vcpu, ip, 0))
		return -1;
	for (int n = 0; n < 100; n++) {
		if (ioctl(vcpu, KVM_RUN, 0))
			return -1;
		drain();
		switch (run->exit_reason) {
		case KVM_EXIT_HLT:
			return 0;
		case KVM_EXIT_MMIO:
			note(run->mmio.phys_addr, run->mmio.len, 0, run->mmio.is_write,
			     run->mmio.data);
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0x5a, sizeof(run->mmio.data));
			break;
		case KVM_EXIT_IO:
			note(run->io.port, run->io.size, 1, run->io.direction == KVM_EXIT_IO_OUT,
			     (unsigned char *)run + run->io.data_offset);
			break;
		default:
			printf("# exit reason %u\n", run->exit_reason);
			return -1;
		}
	}
	return -1;
}

static long zone(unsigned long long addr, unsigned size, unsigned pio)
{
	struct kvm_coalesced_mmio_zone z = {.addr = addr, .size = size, .pio = pio};
	return ioctl(vm, KVM_REGISTER_COALESCED_MMIO, &z);
}

int main(void)
{
	const long pg = 4096;
	int kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	unsigned char *mem = mmap(NULL, 16 * pg, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		T_BAIL("mmap");
	/* mov ax,0xa000; mov es,ax; mov byte [es:0],1; mov byte [es:1],2;
	 * mov word [es:2],0x0403; mov dx,0x3f8; mov al,7; out dx,al;
	 * mov al,[es:4]; mov ax,0xb000; mov es,ax; mov byte [es:0],9; hlt */
	static const unsigned char code[] = {
		0xb8, 0x00, 0xa0, 0x8e, 0xc0,		/* mov ax,0xa000; mov es,ax */
		0x26, 0xc6, 0x06, 0x00, 0x00, 0x01,	/* mov byte [es:0],1 */
		0x26, 0xc6, 0x06, 0x01, 0x00, 0x02,	/* mov byte [es:1],2 */
		0x26, 0xc7, 0x06, 0x02, 0x00, 0x03, 0x04, /* mov word [es:2],0x0403 */
		0xba, 0xf8, 0x03, 0xb0, 0x07, 0xee,	/* mov dx,0x3f8; mov al,7; out dx,al */
		0x26, 0xa0, 0x04, 0x00,			/* mov al,[es:4] */
		0xb8, 0x00, 0xb0, 0x8e, 0xc0,		/* mov ax,0xb000; mov es,ax */
		0x26, 0xc6, 0x06, 0x00, 0x00, 0x09,	/* mov byte [es:0],9 */
		0xf4,					/* hlt */
	};
	memcpy(mem, code, sizeof(code));
	if (t_set_region(vm, 0, 0, 0, 16 * pg, (unsigned long)mem))
		T_BAIL("memslot");
	T_EQ(zone(0xa0000, 0x10000, 0), 0, "MMIO zone 0xa0000-0xaffff");
	T_EQ(zone(0x3f8, 8, 1), 0, "PIO zone 0x3f8-0x3ff");
	vcpu = t_create_vcpu(vm, 0);
	long sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
	ring = (void *)((unsigned char *)run + KVM_COALESCED_MMIO_PAGE_OFFSET * pg);
	ring_max = (pg - sizeof(*ring)) / sizeof(struct kvm_coalesced_mmio);

	T_EQ(run_guest(0), 0, "the guest runs to HLT");
	static const struct access want[] = {
		{0xa0000, 1, 0, 1, 1},	   {0xa0001, 1, 0, 1, 2}, {0xa0002, 2, 0, 1, 0x0403},
		{0x3f8, 1, 1, 1, 7},	   {0xa0004, 1, 0, 0, 0}, {0xb0000, 1, 0, 1, 9},
	};
	int n = sizeof(want) / sizeof(want[0]);
	T_EQ(nseen, n, "six accesses seen");
	for (int i = 0; i < n && i < nseen; i++) {
		const struct access *w = &want[i], *g = &seen[i];
		T_OK(g->addr == w->addr && g->len == w->len && g->pio == w->pio &&
			     g->write == w->write && (!w->write || g->data == w->data),
		     "access %d: %s %s %#llx len %u", i, w->write ? "write" : "read",
		     w->pio ? "port" : "MMIO", w->addr, w->len);
	}
	/* Which writes took the ring is up to the implementation. */
	printf("# %d of the writes came through the ring\n", via_ring);
	T_OK(ring->first == ring->last, "the ring is empty at the end");

	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
