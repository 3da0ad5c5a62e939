/*
 * No dirty page is ever missed: four vCPUs write pseudo-random pages
 * (plain stores, REP STOSW, LOCK XADD, XCHG) while the host harvests, once
 * through KVM_GET_DIRTY_LOG, once through KVM_GET_DIRTY_LOG plus
 * KVM_CLEAR_DIRTY_LOG (manual protection, as QEMU uses it) and once through
 * the dirty ring, copying every reported page into a shadow as a migration
 * would.  After the vCPUs stop
 * and a last harvest, shadow and guest memory must be equal: a page that
 * differs changed after its last report without being reported again.
 *
 * SKVM_DIRTY_WRITES sets the total number of guest writes: by default
 * 10^6 under softkvm and 10^5 on the host /dev/kvm, whose PVM back end
 * emulates real mode about ten times slower; 10^7 for the long run.
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#include "t_vm.h"

#define PG 4096
#define NPAGES 256 /* one logged slot, [0, 1 MiB) */
#define NCPU 4
#define RING_BYTES 4096 /* 256 entries: the vCPUs do hit the soft limit */
#define RING_N (RING_BYTES / sizeof(struct kvm_dirty_gfn))

/*
 * Real mode, per vCPU: SI = seed, BP = vCPU tag, EBX = writes.  Each
 * iteration steps a 16-bit LCG; its high byte picks a page 0x10-0xff (the
 * code page is never written), its low byte a 16-byte slot in it, and EBX's
 * low two bits the kind of write.  With DX set, every 32 writes an OUT
 * exits to the VMM: the PVM host emulates real mode and checks for a full
 * dirty ring only on guest entry, so without exits it would run past the
 * ring's end.  Under softkvm DX is 0: the vCPUs run on between harvests
 * (guest entry would drop their TLBs and hide a missed re-arm).
 */
extern const unsigned char w_start[], w_end[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	"w_start:\n"
	"1:	imul $25173, %si, %si\n"
	"	add $13849, %si\n"
	"	mov %si, %ax\n"
	"	shr $8, %ax\n"
	"	cmp $0x10, %ax\n"
	"	jae 2f\n"
	"	add $0x10, %ax\n"
	"2:	shl $8, %ax\n"
	"	mov %ax, %es\n"
	"	mov %si, %di\n"
	"	and $0xff, %di\n"
	"	shl $4, %di\n"
	"	mov %si, %ax\n"
	"	xor %bp, %ax\n"
	"	mov %bl, %cl\n"
	"	and $3, %cl\n"
	"	jz 3f\n"
	"	dec %cl\n"
	"	jz 4f\n"
	"	dec %cl\n"
	"	jz 5f\n"
	"	xchg %ax, %es:(%di)\n"
	"	jmp 6f\n"
	"3:	mov %ax, %es:(%di)\n"
	"	jmp 6f\n"
	"4:	mov $4, %cx\n"
	"	cld\n"
	"	rep stosw\n"
	"	jmp 6f\n"
	"5:	lock xadd %ax, %es:(%di)\n"
	"6:	test %dx, %dx\n"
	"	jz 7f\n"
	"	test $31, %bl\n"
	"	jnz 7f\n"
	"	out %al, $0x80\n"
	"7:	dec %ebx\n"
	"	jnz 1b\n"
	"	hlt\n"
	"w_end:\n"
	".code64\n"
	".popsection\n");

struct cpu {
	int fd;
	struct kvm_run *run;
	struct kvm_dirty_gfn *ring;
	unsigned fetch; /* next ring entry to harvest */
	int ok, full_exits;
};

static int kvm;
static unsigned char *mem, *shadow;
static struct cpu cpus[NCPU];
static _Atomic int running;

static void *vcpu_thread(void *arg)
{
	struct cpu *c = arg;
	for (;;) {
		if (ioctl(c->fd, KVM_RUN, 0))
			break;
		if (c->run->exit_reason == KVM_EXIT_IO)
			continue;
		if (c->run->exit_reason == KVM_EXIT_DIRTY_RING_FULL) {
			c->full_exits++;
			sched_yield(); /* the harvester resets the ring */
			continue;
		}
		c->ok = c->run->exit_reason == KVM_EXIT_HLT;
		break;
	}
	running--;
	return NULL;
}

static void copy_page(unsigned p)
{
	memcpy(shadow + (size_t)p * PG, mem + (size_t)p * PG, PG);
}

/* Bitmap harvest: get (and so clear) the log, then copy what it names. */
static unsigned harvest_bitmap(int vm)
{
	unsigned long long bm[NPAGES / 64];
	struct kvm_dirty_log l = {.slot = 0, .dirty_bitmap = bm};
	if (ioctl(vm, KVM_GET_DIRTY_LOG, &l))
		return 0;
	unsigned n = 0;
	for (unsigned p = 0; p < NPAGES; p++)
		if (bm[p / 64] >> (p % 64) & 1) {
			copy_page(p);
			n++;
		}
	return n;
}

/* Manual protection: get (the log stays), clear exactly the reported
 * bits, then copy: a write after the get either lands before the clear
 * returns (so in the copy) or marks its page again. */
static unsigned harvest_ring(int vm);

static unsigned harvest_clear(int vm)
{
	unsigned long long bm[NPAGES / 64];
	struct kvm_dirty_log l = {.slot = 0, .dirty_bitmap = bm};
	if (ioctl(vm, KVM_GET_DIRTY_LOG, &l))
		return 0;
	struct kvm_clear_dirty_log c = {.slot = 0, .num_pages = NPAGES, .dirty_bitmap = bm};
	if (ioctl(vm, KVM_CLEAR_DIRTY_LOG, &c))
		return 0;
	unsigned n = 0;
	for (unsigned p = 0; p < NPAGES; p++)
		if (bm[p / 64] >> (p % 64) & 1) {
			copy_page(p);
			n++;
		}
	return n;
}

enum how { BITMAP, CLEAR, RING };

static unsigned harvest(int vm, enum how h)
{
	return h == RING ? harvest_ring(vm) : h == CLEAR ? harvest_clear(vm) : harvest_bitmap(vm);
}

/* Ring harvest: collect in order, mark harvested, reset, then copy. */
static unsigned harvest_ring(int vm)
{
	static unsigned char want[NPAGES];
	unsigned n = 0;
	memset(want, 0, sizeof(want));
	for (int k = 0; k < NCPU; k++) {
		struct cpu *c = &cpus[k];
		for (;;) {
			struct kvm_dirty_gfn *g = &c->ring[c->fetch % RING_N];
			if (!(__atomic_load_n(&g->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
				break;
			if (g->slot == 0 && g->offset < NPAGES)
				want[g->offset] = 1;
			__atomic_store_n(&g->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
			c->fetch++;
			n++;
		}
	}
	if (n)
		ioctl(vm, KVM_RESET_DIRTY_RINGS, 0);
	for (unsigned p = 0; p < NPAGES; p++)
		if (want[p])
			copy_page(p);
	return n;
}

static void one_run(const char *how, enum how h, unsigned long writes, bool exits)
{
	bool use_ring = h == RING;
	int vm = t_create_vm(kvm);
	if (h == CLEAR) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2};
		cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		if (ioctl(vm, KVM_ENABLE_CAP, &cap))
			T_BAIL("enable manual dirty log protection");
	}
	if (use_ring) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_DIRTY_LOG_RING};
		cap.args[0] = RING_BYTES;
		if (ioctl(vm, KVM_ENABLE_CAP, &cap))
			T_BAIL("enable the dirty ring");
	}
	memset(mem, 0, (size_t)NPAGES * PG);
	memcpy(mem, w_start, w_end - w_start);
	if (t_set_region(vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, (size_t)NPAGES * PG,
			 (unsigned long)mem))
		T_BAIL("memory slot");
	memcpy(shadow, mem, (size_t)NPAGES * PG); /* the "first copy" */
	for (int k = 0; k < NCPU; k++) {
		struct cpu *c = &cpus[k];
		memset(c, 0, sizeof(*c));
		c->fd = t_create_vcpu(vm, k);
		c->run = t_map_run(kvm, c->fd);
		if (use_ring) {
			c->ring = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd,
				       KVM_DIRTY_LOG_PAGE_OFFSET * PG);
			if (c->ring == MAP_FAILED)
				T_BAIL("mmap ring");
		}
		struct kvm_regs r;
		if (t_real_mode(c->fd, 0, 0) || ioctl(c->fd, KVM_GET_REGS, &r))
			T_BAIL("vCPU setup");
		r.rsi = 0x1234 + 0x1111 * k;
		r.rbp = 0x5a5a ^ k;
		r.rbx = writes / NCPU;
		r.rdx = exits;
		if (ioctl(c->fd, KVM_SET_REGS, &r))
			T_BAIL("KVM_SET_REGS");
	}
	pthread_t th[NCPU];
	running = NCPU;
	for (int k = 0; k < NCPU; k++)
		pthread_create(&th[k], NULL, vcpu_thread, &cpus[k]);
	unsigned long rounds = 0, reported = 0;
	while (running) {
		unsigned n = harvest(vm, h);
		reported += n;
		rounds += n != 0;
		sched_yield();
	}
	for (int k = 0; k < NCPU; k++)
		pthread_join(th[k], NULL);
	reported += harvest(vm, h); /* after stop */
	int ok = 1, full = 0;
	for (int k = 0; k < NCPU; k++) {
		ok &= cpus[k].ok;
		full += cpus[k].full_exits;
	}
	T_OK(ok, "%s: all four vCPUs ran %lu writes to HLT", how, writes);
	unsigned misses = 0, changed = 0;
	for (unsigned p = 0; p < NPAGES; p++) {
		misses += memcmp(shadow + (size_t)p * PG, mem + (size_t)p * PG, PG) != 0;
		changed += p >= 0x10;
	}
	T_OK(reported >= changed, "%s: reports (%lu) cover the %u written pages at least once",
	     how, reported, changed);
	T_EQ(misses, 0, "%s: no page changed after its last report", how);
	printf("# %s: %lu writes, %lu harvest rounds with reports, %lu pages reported, "
	       "%d ring-full exits\n",
	       how, writes, rounds, reported, full);
	for (int k = 0; k < NCPU; k++) {
		if (cpus[k].ring)
			munmap(cpus[k].ring, RING_BYTES);
		close(cpus[k].fd);
	}
	close(vm);
}

int main(void)
{
	const char *env = getenv("SKVM_DIRTY_WRITES");
	const char *pre = getenv("LD_PRELOAD");
	bool softkvm = pre && strstr(pre, "softkvm");
	unsigned long writes = env ? strtoul(env, NULL, 0) : softkvm ? 1000000 : 100000;
	kvm = t_open_kvm();
	mem = mmap(NULL, (size_t)NPAGES * PG, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	shadow = malloc((size_t)NPAGES * PG);
	if (mem == MAP_FAILED || !shadow)
		T_BAIL("memory");
	one_run("bitmap", BITMAP, writes, !softkvm);
	one_run("clear-log", CLEAR, writes, !softkvm);
	one_run("ring", RING, writes, !softkvm);
	close(kvm);
	return t_done();
}
