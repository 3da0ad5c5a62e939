/*
 * `softkvm boot` snapshots, fast in-memory reset and live migration
 * (docs/migration.md), through the documented KVM ioctls only, so the same
 * code runs on softkvm and on the host's /dev/kvm (--hw):
 *
 *  - the state of a stopped VM: guest memory (the VMM's own mapping),
 *    every vCPU's KVM_GET_REGS / XSAVE (or FPU) / XCRS / SREGS / MSRS (the
 *    KVM_GET_MSR_INDEX_LIST set) / MP_STATE / LAPIC / VCPU_EVENTS /
 *    DEBUGREGS, the VM's IRQCHIP (both PICs, IOAPIC), PIT2 and CLOCK, and
 *    the VMM's devices (16550, CMOS, virtio-blk, ACPI PM1);
 *  - vCPUs are stopped by immediate_exit plus a signal: KVM_RUN finishes
 *    any pending I/O or MMIO exit and returns EINTR (api.rst), and the vCPU
 *    thread parks there, so the state read afterwards is consistent;
 *  - one stream format for a file (--save/--restore) and a socket
 *    (--migrate-to/--incoming); pre-copy rounds read KVM_GET_DIRTY_LOG on
 *    every slot (logging switched on live with KVM_MEM_LOG_DIRTY_PAGES),
 *    plus the pages the VMM itself wrote (virtio-blk DMA), which KVM cannot
 *    see;
 *  - the in-memory snapshot (guest port 0x502) keeps a copy of memory and
 *    the state; a reset copies back only the pages the dirty log reports.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "boot.h"

#define fail boot_fail

#define MIG_MAGIC "SKVMMIG1"
#define PAGE ((u64)4096)
#define RUN_MAX 256		/* pages per memory record */
#define MSR_TSC_DEADLINE 0x6e0

enum { T_HDR = 1, T_MEM, T_ZERO, T_CPU, T_VM, T_DEV, T_END };
enum { C_REGS = 1, C_XSAVE, C_FPU, C_XCRS, C_SREGS, C_MSRS, C_MP, C_LAPIC, C_EVENTS, C_DEBUG };
enum { V_PIC0 = 1, V_PIC1, V_IOAPIC, V_PIT2, V_CLOCK };

struct rec {
	u32 tag, a;
	u64 b, c, len;		/* len: payload bytes that follow */
};

struct hdr {
	char magic[8];
	u64 mem_size, disk_size;
	u32 ncpus, irqchip;
};

/* The VMM's devices, field by field. */
struct dev_state {
	u8 rx[BOOT_UART_FIFO];
	u8 rx_head, rx_count, dll, dlm, ier, lcr, mcr, scr, fcr, lsr_err, thr_int;
	u8 pm1_cnt_hi;
	u16 pm1_en;
	u8 cmos_index, cmos_ram[128];
	u32 uart_irq, vblk_irq, vcon_irq;
	u64 vb_size;
	struct virtio_state {
		u32 status, isr, dev_sel, drv_sel, queue_sel;
		u64 drv_features;
		struct vq q[BOOT_VIRTIO_QUEUES];
	} vb, vc;
};

static void virtio_save(struct virtio_state *s, const struct boot_virtio *d)
{
	s->status = d->status, s->isr = d->isr, s->dev_sel = d->dev_sel;
	s->drv_sel = d->drv_sel, s->queue_sel = d->queue_sel;
	s->drv_features = d->drv_features;
	memcpy(s->q, d->q, sizeof(s->q));
}

static void virtio_load(struct boot_virtio *d, const struct virtio_state *s)
{
	d->status = s->status, d->isr = s->isr, d->dev_sel = s->dev_sel;
	d->drv_sel = s->drv_sel, d->queue_sel = s->queue_sel;
	d->drv_features = s->drv_features;
	memcpy(d->q, s->q, sizeof(d->q));
}

/* A buffered stream over an fd, or (fd < 0) a growing memory buffer. */
struct stream {
	int fd;
	u8 *buf;
	size_t cap, pos, end;
	u64 bytes;
};

struct boot_mig {
	struct boot_mig_opts o;
	struct stream in;	/* --restore / --incoming, until loaded */
	int in_sock;
	struct timespec t_open;
	pthread_t thr;
	int thr_started;
	unsigned long *bm;	/* scratch: one bit per page (boot_npages) */
	u32 *msrs;		/* KVM_GET_MSR_INDEX_LIST */
	u32 nmsrs;
	int logging;
	double first_park;	/* when the first vCPU of this pause parked */
	int src_irqchip;	/* the stream's header */
	/* The in-memory snapshot. */
	int snap_req, reset_req;
	u8 *snap_mem;
	struct stream snap_state;
	long resets_left;
	u64 nresets, reset_pages;
	double reset_total, reset_max;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- streams ---- */

static int s_flush(struct stream *s)
{
	for (size_t o = 0; s->fd >= 0 && o < s->pos;) {
		ssize_t r = write(s->fd, s->buf + o, s->pos - o);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return fail("migration stream: write: %s", r ? strerror(errno) : "closed");
		o += r;
	}
	if (s->fd >= 0)
		s->pos = 0;
	return 0;
}

static int s_write(struct stream *s, const void *p, size_t n)
{
	s->bytes += n;
	if (s->fd < 0 && s->pos + n > s->cap) {
		size_t cap = s->cap ? s->cap : 1 << 16;
		while (cap < s->pos + n)
			cap *= 2;
		u8 *b = realloc(s->buf, cap);
		if (!b)
			return fail("out of memory");
		s->buf = b;
		s->cap = cap;
	}
	if (s->fd >= 0 && s->pos + n > s->cap) {
		if (s_flush(s))
			return -1;
		if (n >= s->cap) {
			struct stream d = { .fd = s->fd, .buf = (u8 *)p, .pos = n };
			return s_flush(&d);
		}
	}
	memcpy(s->buf + s->pos, p, n);
	s->pos += n;
	return 0;
}

static int s_read(struct stream *s, void *p, size_t n)
{
	u8 *d = p;
	while (n) {
		if (s->pos == s->end) {
			if (s->fd < 0)
				return fail("migration stream: truncated");
			if (n >= s->cap) {	/* large: straight into place */
				ssize_t r = read(s->fd, d, n);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					return fail("migration stream: %s", r ? strerror(errno) :
						    "truncated (the sender went away)");
				d += r, n -= r, s->bytes += r;
				continue;
			}
			ssize_t r = read(s->fd, s->buf, s->cap);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return fail("migration stream: %s", r ? strerror(errno) :
					    "truncated (the sender went away)");
			s->pos = 0;
			s->end = r;
		}
		size_t k = s->end - s->pos < n ? s->end - s->pos : n;
		memcpy(d, s->buf + s->pos, k);
		s->pos += k, d += k, n -= k, s->bytes += k;
	}
	return 0;
}

static int s_rec(struct stream *s, u32 tag, u32 a, u64 b, u64 c, const void *p, u64 len)
{
	struct rec r = { tag, a, b, c, len };
	return s_write(s, &r, sizeof(r)) || (len && s_write(s, p, len)) ? -1 : 0;
}

static int s_fd_init(struct stream *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->cap = 1 << 20;
	s->buf = malloc(s->cap);
	return s->buf ? 0 : fail("out of memory");
}

static void s_free(struct stream *s)
{
	free(s->buf);
	s->buf = NULL;
	s->cap = s->pos = s->end = 0;
}

/* ---- addresses: unix:PATH, tcp:HOST:PORT ---- */

static int addr_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (!strncmp(addr, "unix:", 5)) {
		struct sockaddr_un *u = (struct sockaddr_un *)ss;
		if (strlen(addr + 5) >= sizeof(u->sun_path) || !addr[5])
			return fail("bad unix address '%s'", addr);
		u->sun_family = AF_UNIX;
		strcpy(u->sun_path, addr + 5);
		*len = sizeof(*u);
		return 0;
	}
	if (!strncmp(addr, "tcp:", 4)) {
		char host[256];
		const char *colon = strrchr(addr + 4, ':');
		if (!colon || colon - (addr + 4) >= (long)sizeof(host) || !colon[1])
			return fail("bad tcp address '%s' (tcp:HOST:PORT)", addr);
		memcpy(host, addr + 4, colon - (addr + 4));
		host[colon - (addr + 4)] = 0;
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
		int e = getaddrinfo(host, colon + 1, &hints, &ai);
		if (e)
			return fail("tcp address '%s': %s", addr, gai_strerror(e));
		memcpy(ss, ai->ai_addr, ai->ai_addrlen);
		*len = ai->ai_addrlen;
		freeaddrinfo(ai);
		return 0;
	}
	return fail("bad address '%s': unix:PATH or tcp:HOST:PORT", addr);
}

static int addr_listen(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (addr_parse(addr, &ss, &len))
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0)
		return fail("socket: %s", strerror(errno));
	if (ss.ss_family == AF_UNIX)
		unlink(((struct sockaddr_un *)&ss)->sun_path);
	else
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1) < 0) {
		close(fd);
		return fail("cannot listen on '%s': %s", addr, strerror(errno));
	}
	fprintf(stderr, "softkvm boot: waiting for a migration on %s\n", addr);
	int c;
	do
		c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	while (c < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (ss.ss_family == AF_UNIX)
		unlink(((struct sockaddr_un *)&ss)->sun_path);
	if (c < 0)
		return fail("accept on '%s': %s", addr, strerror(e));
	return c;
}

/* The destination may still be starting: try for 10 s. */
static int addr_connect(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (addr_parse(addr, &ss, &len))
		return -1;
	for (int tries = 0;; tries++) {
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return fail("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&ss, len) == 0)
			return fd;
		int e = errno;
		close(fd);
		if ((e != ECONNREFUSED && e != ENOENT && e != EINTR) || tries >= 200)
			return fail("cannot connect to '%s': %s", addr, strerror(e));
		usleep(50000);
	}
}

/* ---- stopping the vCPUs ---- */

static void kick(struct vcpu *c)
{
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(c->thread, SIGUSR1);
}

void boot_vcpu_park(struct vm *v, struct vcpu *c)
{
	pthread_mutex_lock(&v->lock);
	while (v->pause_req && !v->done) {
		if (!c->parked) {
			c->parked = 1;
			if (!v->nparked++ && v->mig)
				v->mig->first_park = now();
			pthread_cond_broadcast(&v->cond);
		}
		pthread_cond_wait(&v->cond, &v->lock);
	}
	if (c->parked) {
		c->parked = 0;
		v->nparked--;
	}
	if (!v->done && v->imm_exit)
		__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&v->lock);
}

/* Every started vCPU parked; returns -1 if the VM ended meanwhile.  Under
 * v->lock. */
static int pause_all_locked(struct vm *v)
{
	v->pause_req = 1;
	for (;;) {
		int started = 0;
		for (int i = 0; i < v->ncpus; i++) {
			struct vcpu *c = &v->cpu[i];
			started += c->started;
			if (c->started && !c->parked)
				kick(c);
		}
		if (v->done)
			return -1;
		if (v->nparked == started)
			return 0;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5000000;
		if (ts.tv_nsec >= 1000000000)
			ts.tv_sec++, ts.tv_nsec -= 1000000000;
		pthread_cond_timedwait(&v->cond, &v->lock, &ts);
	}
}

static void resume_all_locked(struct vm *v)
{
	v->pause_req = 0;
	pthread_cond_broadcast(&v->cond);
}

/* ---- dirty pages ---- */

struct slot {
	u32 id;
	u64 gpa, size, page;	/* page: index of its first page in boot_page() */
	u8 *host;
};

/* The memory slots boot.c made (boot_vm_create). */
static int slots(struct vm *v, struct slot *s)
{
	int n = 0;
	s[n++] = (struct slot){ 0, 0, 0xA0000, 0, v->mem };
	s[n++] = (struct slot){ 1, 0x100000, v->low_top - 0x100000, 0x100, v->mem + 0x100000 };
	if (v->mem_size > v->low_top)
		s[n++] = (struct slot){ 2, 0x100000000ull, v->mem_size - v->low_top,
					v->low_top >> 12, v->mem + v->low_top };
	s[n++] = (struct slot){ 3, BIOS_BASE, BIOS_SIZE, v->mem_size >> 12, v->bios };
	return n;
}

static int set_logging(struct vm *v, int on)
{
	struct slot s[4];
	int n = slots(v, s);
	for (int i = 0; i < n; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = s[i].id, .flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = s[i].gpa, .memory_size = s[i].size,
			.userspace_addr = (uintptr_t)s[i].host,
		};
		if (v->k->ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return fail("dirty logging %s on slot %u: %s", on ? "on" : "off", s[i].id,
				    strerror(errno));
	}
	v->mig->logging = on;
	return 0;
}

/* KVM_GET_DIRTY_LOG (get and clear) on every slot and the VMM's own
 * writes, added to bm (cleared first unless keep: pages harvested but not
 * sent yet); returns the number of pages set in bm, or -1. */
static s64 harvest(struct vm *v, unsigned long *bm, int keep)
{
	struct slot s[4];
	int n = slots(v, s);
	u64 words = (boot_npages(v) + 63) / 64;
	s64 count = 0;
	for (u64 w = 0; w < words; w++) {
		unsigned long x = __atomic_exchange_n(&v->vmm_dirty[w], 0, __ATOMIC_RELAXED);
		bm[w] = keep ? bm[w] | x : x;
		count += __builtin_popcountl(bm[w]);
	}
	for (int i = 0; i < n; i++) {
		u64 np = s[i].size >> 12, nw = (np + 63) / 64;
		unsigned long *tmp = calloc(nw, 8);
		if (!tmp)
			return fail("out of memory");
		struct kvm_dirty_log d = { .slot = s[i].id, .dirty_bitmap = tmp };
		if (v->k->ioctl(v->vm, KVM_GET_DIRTY_LOG, &d) < 0) {
			free(tmp);
			return fail("KVM_GET_DIRTY_LOG slot %u: %s", s[i].id, strerror(errno));
		}
		for (u64 w = 0; w < nw; w++)
			for (unsigned long x = tmp[w]; x; x &= x - 1) {
				u64 p = s[i].page + w * 64 + __builtin_ctzl(x);
				if (!(bm[p / 64] & 1ul << (p % 64))) {
					bm[p / 64] |= 1ul << (p % 64);
					count++;
				}
			}
		free(tmp);
	}
	return count;
}

static int page_zero(const u8 *p)
{
	const u64 *q = (const u64 *)p;
	for (unsigned i = 0; i < PAGE / 8; i++)
		if (q[i])
			return 0;
	return 1;
}

/* Pages (all, or those set in bm) as runs of data and, unless skip_zero
 * (a fresh destination), of zeroes.  A run never crosses from mem into
 * bios (they are separate host mappings). */
static int send_pages(struct vm *v, struct stream *s, const unsigned long *bm, int skip_zero)
{
	u64 np = boot_npages(v), mp = v->mem_size >> 12;
	u64 run = 0, rn = 0;
	int rzero = 0;
	for (u64 i = 0; i <= np; i++) {
		int take = i < np && (!bm || (bm[i / 64] >> (i % 64) & 1));
		int z = take && page_zero(boot_page(v, i));
		if (take && z && skip_zero)
			take = 0;
		/* Close the open run if this page does not extend it. */
		if (rn && (!take || z != rzero || i == mp || rn == RUN_MAX)) {
			int r = rzero ? s_rec(s, T_ZERO, 0, run, rn, NULL, 0)
				      : s_rec(s, T_MEM, 0, run, rn, boot_page(v, run), rn * PAGE);
			if (r)
				return -1;
			rn = 0;
		}
		if (!take)
			continue;
		if (!rn) {
			run = i;
			rzero = z;
		}
		rn++;
	}
	return 0;
}

/* ---- vCPU, VM and device state ---- */

static int msr_list(struct vm *v)
{
	struct boot_mig *m = v->mig;
	if (m->msrs)
		return 0;
	struct kvm_msr_list probe = { .nmsrs = 0 };
	if (v->k->ioctl(v->kvm, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return fail("KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(u32));
	if (!l)
		return fail("out of memory");
	l->nmsrs = probe.nmsrs;
	if (v->k->ioctl(v->kvm, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		return fail("KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
	}
	m->nmsrs = l->nmsrs;
	m->msrs = malloc((l->nmsrs + 1) * sizeof(u32));
	if (!m->msrs) {
		free(l);
		return fail("out of memory");
	}
	memcpy(m->msrs, l->indices, l->nmsrs * sizeof(u32));
	free(l);
	return 0;
}

static int xsave_size(struct vm *v)
{
	int n = v->k->ioctl(v->kvm, KVM_CHECK_EXTENSION, (void *)KVM_CAP_XSAVE2);
	return n > (int)sizeof(struct kvm_xsave) ? n : (int)sizeof(struct kvm_xsave);
}

static int cap(struct vm *v, long c)
{
	return v->k->ioctl(v->kvm, KVM_CHECK_EXTENSION, (void *)c) > 0;
}

#define GET(fd, req, p, what)                                                             \
	do {                                                                              \
		if (v->k->ioctl(fd, req, p) < 0) {                                        \
			fail("saving %s: %s", what, strerror(errno));                     \
			goto err;                                                         \
		}                                                                         \
	} while (0)

static int save_vcpu(struct vm *v, struct vcpu *c, struct stream *s)
{
	struct boot_mig *m = v->mig;
	int ok = -1;
	void *xs = NULL;
	struct kvm_msrs *msrs = NULL;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	GET(c->fd, KVM_GET_REGS, &regs, "KVM_GET_REGS");
	if (s_rec(s, T_CPU, c->id, C_REGS, 0, &regs, sizeof(regs)))
		goto err;
	if (cap(v, KVM_CAP_XSAVE)) {
		int n = xsave_size(v);
		xs = calloc(1, n);
		if (!xs)
			goto err;
		GET(c->fd, n > (int)sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, xs,
		    "XSAVE");
		if (s_rec(s, T_CPU, c->id, C_XSAVE, 0, xs, n))
			goto err;
	} else {
		struct kvm_fpu fpu;
		GET(c->fd, KVM_GET_FPU, &fpu, "KVM_GET_FPU");
		if (s_rec(s, T_CPU, c->id, C_FPU, 0, &fpu, sizeof(fpu)))
			goto err;
	}
	if (cap(v, KVM_CAP_XCRS)) {
		struct kvm_xcrs x;
		GET(c->fd, KVM_GET_XCRS, &x, "KVM_GET_XCRS");
		if (s_rec(s, T_CPU, c->id, C_XCRS, 0, &x, sizeof(x)))
			goto err;
	}
	GET(c->fd, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	if (s_rec(s, T_CPU, c->id, C_SREGS, 0, &sregs, sizeof(sregs)))
		goto err;
	/* Every MSR of the index list the vCPU reads; KVM_GET_MSRS stops at
	 * the first it cannot, which is left out. */
	if (msr_list(v))
		goto err;
	msrs = calloc(1, sizeof(*msrs) + m->nmsrs * sizeof(struct kvm_msr_entry));
	if (!msrs)
		goto err;
	u32 got = 0;
	for (u32 i = 0; i < m->nmsrs;) {
		u32 n = m->nmsrs - i;
		struct kvm_msrs *q = calloc(1, sizeof(*q) + n * sizeof(struct kvm_msr_entry));
		if (!q)
			goto err;
		q->nmsrs = n;
		for (u32 j = 0; j < n; j++)
			q->entries[j].index = m->msrs[i + j];
		int r = v->k->ioctl(c->fd, KVM_GET_MSRS, q);
		if (r < 0) {
			free(q);
			fail("KVM_GET_MSRS: %s", strerror(errno));
			goto err;
		}
		memcpy(&msrs->entries[got], q->entries, r * sizeof(struct kvm_msr_entry));
		got += r;
		i += r + (r < (int)n);	/* skip the one it refused */
		free(q);
	}
	/* IA32_TSC_DEADLINE goes after the LAPIC: KVM_SET_LAPIC stops the
	 * timer, so the deadline must be armed again after it (QEMU does the
	 * same, kvm_put_tscdeadline_msr). */
	struct kvm_msr_entry deadline = { .index = 0 };
	u32 keep = 0;
	for (u32 i = 0; i < got; i++) {
		if (msrs->entries[i].index == MSR_TSC_DEADLINE)
			deadline = msrs->entries[i];
		else
			msrs->entries[keep++] = msrs->entries[i];
	}
	if (s_rec(s, T_CPU, c->id, C_MSRS, keep, msrs->entries, keep * sizeof(struct kvm_msr_entry)))
		goto err;
	struct kvm_mp_state mp;
	GET(c->fd, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE");
	if (s_rec(s, T_CPU, c->id, C_MP, 0, &mp, sizeof(mp)))
		goto err;
	if (v->irqchip) {
		struct kvm_lapic_state la;
		GET(c->fd, KVM_GET_LAPIC, &la, "KVM_GET_LAPIC");
		if (s_rec(s, T_CPU, c->id, C_LAPIC, 0, &la, sizeof(la)))
			goto err;
	}
	if (deadline.index &&
	    s_rec(s, T_CPU, c->id, C_MSRS, 1, &deadline, sizeof(deadline)))
		goto err;
	struct kvm_vcpu_events ev;
	GET(c->fd, KVM_GET_VCPU_EVENTS, &ev, "KVM_GET_VCPU_EVENTS");
	if (s_rec(s, T_CPU, c->id, C_EVENTS, 0, &ev, sizeof(ev)))
		goto err;
	if (cap(v, KVM_CAP_DEBUGREGS)) {
		struct kvm_debugregs d;
		GET(c->fd, KVM_GET_DEBUGREGS, &d, "KVM_GET_DEBUGREGS");
		if (s_rec(s, T_CPU, c->id, C_DEBUG, 0, &d, sizeof(d)))
			goto err;
	}
	ok = 0;
err:
	free(xs);
	free(msrs);
	return ok;
}

/* vCPUs, VM-wide devices, then the VMM's; every vCPU parked. */
static int save_state(struct vm *v, struct stream *s)
{
	for (int i = 0; i < v->ncpus; i++)
		if (save_vcpu(v, &v->cpu[i], s))
			return -1;
	if (v->irqchip) {
		for (u32 chip = 0; chip < 3; chip++) {
			struct kvm_irqchip ic = { .chip_id = chip };
			GET(v->vm, KVM_GET_IRQCHIP, &ic, "KVM_GET_IRQCHIP");
			if (s_rec(s, T_VM, V_PIC0 + chip, 0, 0, &ic, sizeof(ic)))
				return -1;
		}
		struct kvm_pit_state2 pit;
		GET(v->vm, KVM_GET_PIT2, &pit, "KVM_GET_PIT2");
		if (s_rec(s, T_VM, V_PIT2, 0, 0, &pit, sizeof(pit)))
			return -1;
	}
	if (cap(v, KVM_CAP_ADJUST_CLOCK)) {
		struct kvm_clock_data cl = { 0 };
		GET(v->vm, KVM_GET_CLOCK, &cl, "KVM_GET_CLOCK");
		if (s_rec(s, T_VM, V_CLOCK, 0, 0, &cl, sizeof(cl)))
			return -1;
	}
	struct dev_state d;
	memset(&d, 0, sizeof(d));
	pthread_mutex_lock(&v->lock);
	const struct boot_uart *u = &v->uart;
	memcpy(d.rx, u->rx, sizeof(d.rx));
	d.rx_head = u->rx_head, d.rx_count = u->rx_count, d.dll = u->dll, d.dlm = u->dlm;
	d.ier = u->ier, d.lcr = u->lcr, d.mcr = u->mcr, d.scr = u->scr, d.fcr = u->fcr;
	d.lsr_err = u->lsr_err, d.thr_int = u->thr_int;
	d.pm1_cnt_hi = v->pm1_cnt_hi, d.pm1_en = v->pm1_en;
	d.cmos_index = v->cmos.index;
	memcpy(d.cmos_ram, v->cmos.ram, sizeof(d.cmos_ram));
	d.uart_irq = v->uart_irq, d.vblk_irq = v->vblk_irq, d.vcon_irq = v->vcon_irq;
	if (v->vblk.fd >= 0) {
		d.vb_size = v->vblk.size;
		virtio_save(&d.vb, &v->vblk.vio);
	}
	virtio_save(&d.vc, &v->vcon.vio);
	pthread_mutex_unlock(&v->lock);
	return s_rec(s, T_DEV, 0, 0, 0, &d, sizeof(d));
err:
	return -1;
}

#define SET(fd, req, p, what)                                                             \
	do {                                                                              \
		if (v->k->ioctl(fd, req, p) < 0)                                          \
			return fail("restoring %s: %s", what, strerror(errno));          \
	} while (0)

/* One state record (payload p, r->len bytes) into the VM. */
static int apply(struct vm *v, const struct rec *r, void *p)
{
	if (r->tag == T_DEV) {
		if (r->len != sizeof(struct dev_state))
			return fail("restoring devices: bad record");
		struct dev_state *d = p;
		if ((v->vblk.fd >= 0 ? v->vblk.size : 0) != d->vb_size)
			return fail("the stream's guest had a %" PRIu64 "-byte disk; --disk gives %"
				    PRIu64 " bytes", d->vb_size, v->vblk.fd >= 0 ? v->vblk.size : 0);
		pthread_mutex_lock(&v->lock);
		struct boot_uart *u = &v->uart;
		memcpy(u->rx, d->rx, sizeof(d->rx));
		u->rx_head = d->rx_head, u->rx_count = d->rx_count, u->dll = d->dll;
		u->dlm = d->dlm, u->ier = d->ier, u->lcr = d->lcr, u->mcr = d->mcr;
		u->scr = d->scr, u->fcr = d->fcr, u->lsr_err = d->lsr_err, u->thr_int = d->thr_int;
		v->pm1_cnt_hi = d->pm1_cnt_hi, v->pm1_en = d->pm1_en;
		v->cmos.index = d->cmos_index;
		memcpy(v->cmos.ram, d->cmos_ram, sizeof(d->cmos_ram));
		v->uart_irq = d->uart_irq, v->vblk_irq = d->vblk_irq, v->vcon_irq = d->vcon_irq;
		if (v->vblk.fd >= 0)
			virtio_load(&v->vblk.vio, &d->vb);
		virtio_load(&v->vcon.vio, &d->vc);
		pthread_mutex_unlock(&v->lock);
		return 0;
	}
	if (r->tag == T_VM) {
		switch (r->a) {
		case V_PIC0: case V_PIC1: case V_IOAPIC:
			if (r->len != sizeof(struct kvm_irqchip))
				break;
			SET(v->vm, KVM_SET_IRQCHIP, p, "KVM_SET_IRQCHIP");
			return 0;
		case V_PIT2:
			if (r->len != sizeof(struct kvm_pit_state2))
				break;
			SET(v->vm, KVM_SET_PIT2, p, "KVM_SET_PIT2");
			return 0;
		case V_CLOCK:
			if (r->len != sizeof(struct kvm_clock_data))
				break;
			/* Without KVM_CAP_ADJUST_CLOCK here the guest keeps this
			 * back end's clock (docs/migration.md). */
			if (cap(v, KVM_CAP_ADJUST_CLOCK)) {
				struct kvm_clock_data *cl = p;
				cl->flags = 0;
				SET(v->vm, KVM_SET_CLOCK, cl, "KVM_SET_CLOCK");
			}
			return 0;
		}
		return fail("restoring VM state: bad record %u", r->a);
	}
	if (r->a >= (u32)v->ncpus)
		return fail("restoring vCPU %u: the VM has %d", r->a, v->ncpus);
	int fd = v->cpu[r->a].fd;
	switch (r->b) {
	case C_REGS:
		if (r->len != sizeof(struct kvm_regs))
			break;
		SET(fd, KVM_SET_REGS, p, "KVM_SET_REGS");
		return 0;
	case C_XSAVE: {
		if (!cap(v, KVM_CAP_XSAVE))
			return fail("restoring XSAVE state: %s has no KVM_CAP_XSAVE", v->k->name);
		int n = xsave_size(v);
		u8 *x = calloc(1, n);
		if (!x)
			return fail("out of memory");
		memcpy(x, p, r->len < (u64)n ? r->len : (u64)n);
		int e = v->k->ioctl(fd, KVM_SET_XSAVE, x);
		free(x);
		if (e < 0)
			return fail("restoring KVM_SET_XSAVE: %s", strerror(errno));
		return 0;
	}
	case C_FPU:
		if (r->len != sizeof(struct kvm_fpu))
			break;
		SET(fd, KVM_SET_FPU, p, "KVM_SET_FPU");
		return 0;
	case C_XCRS:
		if (r->len != sizeof(struct kvm_xcrs))
			break;
		SET(fd, KVM_SET_XCRS, p, "KVM_SET_XCRS");
		return 0;
	case C_SREGS:
		if (r->len != sizeof(struct kvm_sregs))
			break;
		SET(fd, KVM_SET_SREGS, p, "KVM_SET_SREGS");
		return 0;
	case C_MSRS: {
		if (r->len != r->c * sizeof(struct kvm_msr_entry))
			break;
		/* KVM_SET_MSRS stops at the first MSR it refuses: that one
		 * (another back end's) is reported and skipped. */
		struct kvm_msr_entry *e = p;
		for (u64 i = 0; i < r->c;) {
			u64 n = r->c - i;
			struct kvm_msrs *q = calloc(1, sizeof(*q) + n * sizeof(*e));
			if (!q)
				return fail("out of memory");
			q->nmsrs = n;
			memcpy(q->entries, e + i, n * sizeof(*e));
			int k = v->k->ioctl(fd, KVM_SET_MSRS, q);
			free(q);
			if (k < 0)
				return fail("restoring KVM_SET_MSRS: %s", strerror(errno));
			if ((u64)k < n)
				fprintf(stderr, "softkvm boot: restore: %s refuses MSR %#x = %#llx; "
						"left out\n", v->k->name, e[i + k].index,
					(unsigned long long)e[i + k].data);
			i += k + ((u64)k < n);
		}
		return 0;
	}
	case C_MP:
		if (r->len != sizeof(struct kvm_mp_state))
			break;
		SET(fd, KVM_SET_MP_STATE, p, "KVM_SET_MP_STATE");
		return 0;
	case C_LAPIC:
		if (r->len != sizeof(struct kvm_lapic_state))
			break;
		if (!v->irqchip)
			return fail("the stream's guest had an in-kernel irqchip; %s has none",
				    v->k->name);
		SET(fd, KVM_SET_LAPIC, p, "KVM_SET_LAPIC");
		return 0;
	case C_EVENTS: {
		if (r->len != sizeof(struct kvm_vcpu_events))
			break;
		struct kvm_vcpu_events *ev = p;
		ev->flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
		SET(fd, KVM_SET_VCPU_EVENTS, ev, "KVM_SET_VCPU_EVENTS");
		return 0;
	}
	case C_DEBUG:
		if (r->len != sizeof(struct kvm_debugregs))
			break;
		if (cap(v, KVM_CAP_DEBUGREGS))
			SET(fd, KVM_SET_DEBUGREGS, p, "KVM_SET_DEBUGREGS");
		return 0;
	}
	return fail("restoring vCPU %u: bad record %" PRIu64, r->a, r->b);
}

/* Records from s into the VM until T_END. */
static int load_records(struct vm *v, struct stream *s)
{
	u64 np = boot_npages(v), mp = v->mem_size >> 12;
	u8 *buf = NULL;
	u64 cap_ = 0;
	int ok = -1;
	for (;;) {
		struct rec r;
		if (s_read(s, &r, sizeof(r)))
			goto out;
		if (r.tag == T_END) {
			ok = 0;
			goto out;
		}
		if (r.tag == T_MEM || r.tag == T_ZERO) {
			if (r.b >= np || r.c > RUN_MAX || !r.c || r.c > np - r.b ||
			    (r.b < mp && r.b + r.c > mp) ||
			    r.len != (r.tag == T_MEM ? r.c * PAGE : 0)) {
				fail("migration stream: bad memory record");
				goto out;
			}
			u8 *dst = boot_page(v, r.b);
			if (r.tag == T_ZERO)
				memset(dst, 0, r.c * PAGE);
			else if (s_read(s, dst, r.len))
				goto out;
			continue;
		}
		if ((r.tag != T_CPU && r.tag != T_VM && r.tag != T_DEV) || r.len > (64u << 20)) {
			fail("migration stream: bad record %u", r.tag);
			goto out;
		}
		if (r.len > cap_) {
			free(buf);
			cap_ = r.len;
			buf = malloc(cap_);
			if (!buf) {
				fail("out of memory");
				goto out;
			}
		}
		if (s_read(s, buf, r.len) || apply(v, &r, buf))
			goto out;
	}
out:
	free(buf);
	return ok;
}

/* ---- the stream's two ends ---- */

static struct boot_mig *mig_get(struct vm *v)
{
	if (!v->mig) {
		v->mig = calloc(1, sizeof(*v->mig));
		if (v->mig)
			v->mig->in_sock = -1;
	}
	return v->mig;
}

int boot_mig_open(struct vm *v, const struct boot_mig_opts *o)
{
	struct boot_mig *m = mig_get(v);
	if (!m)
		return fail("out of memory");
	m->o = *o;
	m->resets_left = o->resets;
	/* A bad --migrate-to fails before the guest runs. */
	struct sockaddr_storage ss;
	socklen_t len;
	if (o->migrate_to && addr_parse(o->migrate_to, &ss, &len))
		return -1;
	if (!o->restore && !o->incoming)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &m->t_open);
	int fd;
	if (o->restore) {
		fd = open(o->restore, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("cannot open snapshot '%s': %s", o->restore, strerror(errno));
	} else {
		fd = addr_listen(o->incoming);
		if (fd < 0)
			return -1;
		m->in_sock = fd;
		clock_gettime(CLOCK_MONOTONIC, &m->t_open);
	}
	if (s_fd_init(&m->in, fd))
		return -1;
	struct rec r;
	struct hdr h;
	if (s_read(&m->in, &r, sizeof(r)) || r.tag != T_HDR || r.len != sizeof(h) ||
	    s_read(&m->in, &h, sizeof(h)) || memcmp(h.magic, MIG_MAGIC, 8))
		return fail("%s: not a softkvm boot snapshot/migration stream",
			    o->restore ? o->restore : o->incoming);
	if (h.ncpus < 1 || h.ncpus > MAX_CPUS || h.mem_size < (4u << 20) || (h.mem_size & 0xfff))
		return fail("migration stream: bad header");
	if (h.disk_size != o->disk_size)
		return fail("the stream's guest had a %" PRIu64 "-byte disk; --disk gives %" PRIu64
			    " bytes", h.disk_size, o->disk_size);
	v->mem_size = h.mem_size;
	v->ncpus = h.ncpus;
	m->src_irqchip = h.irqchip;	/* checked in boot_mig_load */
	return 1;
}

static int alloc_bitmaps(struct vm *v)
{
	struct boot_mig *m = v->mig;
	u64 words = (boot_npages(v) + 63) / 64;
	if (!v->vmm_dirty)
		v->vmm_dirty = calloc(words, 8);
	if (!m->bm)
		m->bm = calloc(words, 8);
	return v->vmm_dirty && m->bm ? 0 : fail("out of memory");
}

int boot_mig_load(struct vm *v)
{
	struct boot_mig *m = v->mig;
	if (m->src_irqchip && !v->irqchip)
		return fail("the stream's guest had an in-kernel irqchip; %s has none", v->k->name);
	if (!m->src_irqchip && v->irqchip)
		return fail("the stream's guest had no in-kernel irqchip; %s has one", v->k->name);
	if (load_records(v, &m->in))
		return -1;
	if (m->in_sock >= 0) {
		/* The source counts its downtime to this byte. */
		if (write(m->in_sock, "K", 1) != 1)
			return fail("migration: acknowledging: %s", strerror(errno));
	}
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	double ms = (t.tv_sec - m->t_open.tv_sec) * 1e3 + (t.tv_nsec - m->t_open.tv_nsec) / 1e6;
	fprintf(stderr, "softkvm boot: %s %s: %.1f MiB in %.1f ms\n",
		m->o.restore ? "restored" : "incoming migration on",
		m->o.restore ? m->o.restore : m->o.incoming, m->in.bytes / 1048576.0, ms);
	close(m->in.fd);
	m->in_sock = -1;
	s_free(&m->in);
	return 0;
}

static int put_header(struct vm *v, struct stream *s)
{
	struct hdr h;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, MIG_MAGIC, 8);
	h.mem_size = v->mem_size;
	h.disk_size = v->vblk.fd >= 0 ? v->vblk.size : 0;
	h.ncpus = v->ncpus;
	h.irqchip = v->irqchip;
	return s_rec(s, T_HDR, 0, 0, 0, &h, sizeof(h));
}

/* The disk's writes reach the image before the other side opens it. */
static int flush_disk(struct vm *v)
{
	if (v->vblk.fd < 0)
		return 0;
	int e = boot_vblk_flush(&v->vblk);
	return e < 0 ? fail("flushing the disk: %s", strerror(-e)) : 0;
}

/* --save FILE: stop, write everything, end the VM (status 0). */
static int do_save(struct vm *v)
{
	struct boot_mig *m = v->mig;
	double t0 = now();
	pthread_mutex_lock(&v->lock);
	int r = pause_all_locked(v);
	pthread_mutex_unlock(&v->lock);
	if (r)
		return 0;	/* the VM ended first */
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", m->o.save);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("cannot create '%s': %s", tmp, strerror(errno));
	struct stream s;
	if (s_fd_init(&s, fd) || put_header(v, &s) || send_pages(v, &s, NULL, 1) ||
	    save_state(v, &s) || s_rec(&s, T_END, 0, 0, 0, NULL, 0) || s_flush(&s) ||
	    flush_disk(v) || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, m->o.save) < 0) {
		s_free(&s);
		unlink(tmp);
		return fail("saving to '%s' failed", m->o.save);
	}
	char why[4200];
	snprintf(why, sizeof(why), "saved to %s: %.1f MiB in %.1f ms", m->o.save,
		 s.bytes / 1048576.0, (now() - t0) * 1e3);
	s_free(&s);
	boot_vm_end(v, NULL, 0, why);
	return 0;
}

#define MAX_ROUNDS 30
#define DOWNTIME_GOAL 0.03	/* seconds of copying left for the stop */

/* --migrate-to ADDR: pre-copy rounds, stop-and-copy, the ack. */
static int do_migrate(struct vm *v)
{
	struct boot_mig *m = v->mig;
	double t0 = now();
	int fd = addr_connect(m->o.migrate_to);
	if (fd < 0)
		return -1;
	struct stream s;
	if (s_fd_init(&s, fd) || alloc_bitmaps(v) || set_logging(v, 1) || harvest(v, m->bm, 0) < 0 ||
	    put_header(v, &s))
		goto err;
	/* Round 0: all of memory (zero pages are already zero there). */
	double tr = now();
	if (send_pages(v, &s, NULL, 1) || s_flush(&s))
		goto err;
	double bw = s.bytes / (now() - tr + 1e-6);
	int rounds = 1;
	u64 last = 0;
	for (; rounds < MAX_ROUNDS; rounds++) {
		s64 n = harvest(v, m->bm, 0);
		if (n < 0)
			goto err;
		last = n;
		if (n * PAGE < bw * DOWNTIME_GOAL)
			break;	/* these go with the stop-and-copy */
		u64 b0 = s.bytes;
		tr = now();
		if (send_pages(v, &s, m->bm, 0) || s_flush(&s))
			goto err;
		bw = (s.bytes - b0) / (now() - tr + 1e-6);
	}
	/* Stop and copy. */
	double tp = now();
	pthread_mutex_lock(&v->lock);
	int r = pause_all_locked(v);
	pthread_mutex_unlock(&v->lock);
	if (r) {
		close(fd);
		s_free(&s);
		return 0;	/* the VM ended during the pre-copy: nothing to move */
	}
	double tstop = now(), tdown = m->first_park;
	s64 n = harvest(v, m->bm, rounds < MAX_ROUNDS);
	if (n < 0 || send_pages(v, &s, m->bm, 0) || flush_disk(v))
		goto err;
	double tmem = now();
	if (save_state(v, &s) || s_rec(&s, T_END, 0, 0, 0, NULL, 0) || s_flush(&s))
		goto err;
	double tsent = now();
	char ack;
	ssize_t k;
	do
		k = read(fd, &ack, 1);
	while (k < 0 && errno == EINTR);
	if (k != 1 || ack != 'K') {
		fail("migration to %s: the destination did not take the VM", m->o.migrate_to);
		goto err;
	}
	double te = now();
	char why[640];
	snprintf(why, sizeof(why), "migrated to %s: %d pre-copy rounds (last %" PRIu64 " pages), "
		 "%" PRId64 " pages stop-and-copy, %.1f MiB sent, total %.1f ms, downtime %.1f ms "
		 "(pages %.1f, state %.1f, the destination's load and ack %.1f; before it, "
		 "%.1f ms from the stop request to the first vCPU parked, %.1f to the last)",
		 m->o.migrate_to, rounds, last, n, s.bytes / 1048576.0, (te - t0) * 1e3,
		 (te - tdown) * 1e3, (tmem - tstop) * 1e3, (tsent - tmem) * 1e3, (te - tsent) * 1e3,
		 (tdown - tp) * 1e3, (tstop - tp) * 1e3);
	close(fd);
	s_free(&s);
	boot_vm_end(v, NULL, 0, why);
	return 0;
err:
	close(fd);
	s_free(&s);
	fail("migration to %s failed", m->o.migrate_to);
	/* The guest runs on here. */
	if (m->logging)
		set_logging(v, 0);
	pthread_mutex_lock(&v->lock);
	resume_all_locked(v);
	pthread_mutex_unlock(&v->lock);
	return -1;
}

/* ---- the in-memory snapshot (port 0x502) and fast reset ---- */

void boot_mig_snap_request(struct vm *v, struct vcpu *c, u8 val)
{
	struct boot_mig *m = v->mig;
	if (!m || !m->o.resets || val != 1)
		return;		/* without --snapshot-resets the port is unassigned */
	pthread_mutex_lock(&v->lock);
	m->snap_req = 1;
	v->pause_req = 1;
	/* Park right after this OUT completes (the next KVM_RUN). */
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

int boot_mig_end_request(struct vm *v, struct vcpu *c, int status)
{
	struct boot_mig *m = v->mig;
	(void)status;
	if (!m)
		return 0;
	pthread_mutex_lock(&v->lock);
	int reset = m->snap_mem && m->resets_left > 0 && !v->done;
	if (reset) {
		m->resets_left--;
		m->reset_req = 1;
		v->pause_req = 1;
		__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_cond_broadcast(&v->cond);
	}
	pthread_mutex_unlock(&v->lock);
	return reset;
}

static int snap_take(struct vm *v)
{
	struct boot_mig *m = v->mig;
	u64 np = boot_npages(v);
	if (alloc_bitmaps(v) || (!m->logging && set_logging(v, 1)) || harvest(v, m->bm, 0) < 0)
		return -1;
	if (!m->snap_mem) {
		m->snap_mem = mmap(NULL, np * PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m->snap_mem == MAP_FAILED) {
			m->snap_mem = NULL;
			return fail("snapshot: cannot map %" PRIu64 " bytes", np * PAGE);
		}
	}
	memcpy(m->snap_mem, v->mem, v->mem_size);
	memcpy(m->snap_mem + v->mem_size, v->bios, BIOS_SIZE);
	s_free(&m->snap_state);
	m->snap_state.fd = -1;
	if (save_state(v, &m->snap_state) || s_rec(&m->snap_state, T_END, 0, 0, 0, NULL, 0))
		return -1;
	fprintf(stderr, "softkvm boot: snapshot taken (%.1f KiB of state)\n",
		m->snap_state.pos / 1024.0);
	return 0;
}

/* Only the pages written since the snapshot (or the last reset) go back. */
static int snap_reset(struct vm *v)
{
	struct boot_mig *m = v->mig;
	double t0 = now();
	s64 n = harvest(v, m->bm, 0);
	if (n < 0)
		return -1;
	u64 words = (boot_npages(v) + 63) / 64;
	for (u64 w = 0; w < words; w++)
		for (unsigned long x = m->bm[w]; x; x &= x - 1) {
			u64 p = w * 64 + __builtin_ctzl(x);
			memcpy(boot_page(v, p), m->snap_mem + p * PAGE, PAGE);
		}
	struct stream r = { .fd = -1, .buf = m->snap_state.buf, .end = m->snap_state.pos };
	if (load_records(v, &r))
		return -1;
	double dt = now() - t0;
	m->nresets++;
	m->reset_pages += n;
	m->reset_total += dt;
	if (dt > m->reset_max)
		m->reset_max = dt;
	return 0;
}

/* ---- the controller thread ---- */

static void *controller(void *arg)
{
	struct vm *v = arg;
	struct boot_mig *m = v->mig;
	double deadline = now() + m->o.after;
	int pending = m->o.save || m->o.migrate_to;
	pthread_mutex_lock(&v->lock);
	while (!v->done) {
		if (m->snap_req || m->reset_req) {
			int take = m->snap_req;
			m->snap_req = m->reset_req = 0;
			if (pause_all_locked(v))
				break;
			pthread_mutex_unlock(&v->lock);
			int e = take ? snap_take(v) : snap_reset(v);
			pthread_mutex_lock(&v->lock);
			if (e) {
				pthread_mutex_unlock(&v->lock);
				boot_vm_end(v, NULL, 1, take ? "snapshot failed" : "reset failed");
				pthread_mutex_lock(&v->lock);
				break;
			}
			resume_all_locked(v);
			continue;
		}
		if (pending && now() >= deadline) {
			pending = 0;
			pthread_mutex_unlock(&v->lock);
			int e = m->o.save ? do_save(v) : do_migrate(v);
			if (e && m->o.save)
				boot_vm_end(v, NULL, 1, NULL);
			pthread_mutex_lock(&v->lock);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		double wait = pending ? deadline - now() : 3600;
		if (wait > 0.05)
			wait = 0.05;
		if (wait < 0)
			wait = 0;
		ts.tv_nsec += (long)(wait * 1e9);
		while (ts.tv_nsec >= 1000000000)
			ts.tv_sec++, ts.tv_nsec -= 1000000000;
		pthread_cond_timedwait(&v->cond, &v->lock, &ts);
	}
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

int boot_mig_start(struct vm *v, const struct boot_mig_opts *o)
{
	struct boot_mig *m = mig_get(v);
	if (!m)
		return fail("out of memory");
	m->o = *o;
	if (!o->save && !o->migrate_to && !o->resets)
		return 0;
	if (!v->imm_exit)
		return fail("%s has no KVM_CAP_IMMEDIATE_EXIT: cannot stop the vCPUs", v->k->name);
	if (alloc_bitmaps(v))
		return -1;
	/* Signals stay with the vCPU threads. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&m->thr, NULL, controller, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		return fail("cannot start the migration thread: %s", strerror(e));
	m->thr_started = 1;
	return 0;
}

void boot_mig_stop(struct vm *v)
{
	struct boot_mig *m = v->mig;
	if (!m || !m->thr_started)
		return;
	pthread_join(m->thr, NULL);
	m->thr_started = 0;
	if (m->nresets)
		fprintf(stderr, "softkvm boot: %" PRIu64 " resets to the snapshot: %.1f pages and "
				"%.1f us each on average, %.1f us at most\n", m->nresets,
			(double)m->reset_pages / m->nresets, m->reset_total / m->nresets * 1e6,
			m->reset_max * 1e6);
}

void boot_mig_free(struct vm *v)
{
	struct boot_mig *m = v->mig;
	free(v->vmm_dirty);
	v->vmm_dirty = NULL;
	if (!m)
		return;
	if (m->in.buf) {
		close(m->in.fd);
		s_free(&m->in);
	}
	if (m->snap_mem)
		munmap(m->snap_mem, boot_npages(v) * PAGE);
	s_free(&m->snap_state);
	free(m->bm);
	free(m->msrs);
	free(m);
	v->mig = NULL;
}
