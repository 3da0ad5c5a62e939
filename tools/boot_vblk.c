/*
 * A virtio block device on the virtio-mmio transport, version 2 (VIRTIO
 * 1.1: 4.2.2 "MMIO Device Register Layout", 2.6 "Split Virtqueues", 5.2
 * "Block Device"), backed by a raw image file.  One request queue;
 * features VERSION_1 and BLK_F_FLUSH; IN, OUT, FLUSH and GET_ID requests.
 * Requests run synchronously when the driver writes QueueNotify.  Every
 * guest address is checked against guest RAM (the gpa callback) and every
 * chain is bounded by the queue size, so a hostile driver gets an error
 * status or a device in NEEDS_RESET, never an access outside its memory.
 * The caller serialises access.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"

#define VIRTIO_MAGIC 0x74726976		/* "virt" */
#define VIRTIO_VENDOR 0x4d564b53	/* "SKVM" */
#define VIRTIO_ID_BLOCK 2

#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_VENDOR_ID 0x00c
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_QUEUE_DESC_LO 0x080
#define R_QUEUE_DESC_HI 0x084
#define R_QUEUE_AVAIL_LO 0x090
#define R_QUEUE_AVAIL_HI 0x094
#define R_QUEUE_USED_LO 0x0a0
#define R_QUEUE_USED_HI 0x0a4
#define R_CONFIG_GEN 0x0fc
#define R_CONFIG 0x100

#define F_BLK_FLUSH (1ull << 9)
#define F_VERSION_1 (1ull << 32)
#define DEV_FEATURES (F_VERSION_1 | F_BLK_FLUSH)

#define S_FEATURES_OK 0x08
#define S_NEEDS_RESET 0x40

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define DESC_F_INDIRECT 4

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2
#define SECTOR 512

void boot_vblk_init(struct boot_vblk *b, int fd, u64 size, boot_gpa_fn gpa, void *ctx)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->size = size;
	b->gpa = gpa;
	b->ctx = ctx;
}

static void vblk_reset(struct boot_vblk *b)
{
	b->status = 0;
	b->isr = 0;
	b->drv_features = 0;
	b->dev_sel = b->drv_sel = 0;
	b->queue_sel = 0;
	memset(&b->q, 0, sizeof(b->q));
}

static void config_bytes(const struct boot_vblk *b, u8 cfg[8])
{
	put64(cfg, b->size / SECTOR);	/* capacity, in 512-byte sectors */
}

u32 boot_vblk_read(struct boot_vblk *b, u64 off, unsigned len)
{
	if (off >= R_CONFIG) {
		u8 cfg[8];
		config_bytes(b, cfg);
		u32 x = 0;
		for (unsigned i = 0; i < len; i++) {
			u64 o = off - R_CONFIG + i;
			x |= (u32)(o < sizeof(cfg) ? cfg[o] : 0) << (8 * i);
		}
		return x;
	}
	if (len != 4 || (off & 3))
		return 0;	/* 4.2.2: registers take 32-bit aligned accesses only */
	switch (off) {
	case R_MAGIC: return VIRTIO_MAGIC;
	case R_VERSION: return 2;
	case R_DEVICE_ID: return VIRTIO_ID_BLOCK;
	case R_VENDOR_ID: return VIRTIO_VENDOR;
	case R_DEV_FEATURES: return b->dev_sel < 2 ? (u32)(DEV_FEATURES >> (32 * b->dev_sel)) : 0;
	case R_QUEUE_NUM_MAX: return b->queue_sel == 0 ? BOOT_VBLK_QUEUE_MAX : 0;
	case R_QUEUE_READY: return b->queue_sel == 0 ? b->q.ready : 0;
	case R_INT_STATUS: return b->isr;
	case R_STATUS: return b->status;
	case R_CONFIG_GEN: return 0;
	default: return 0;
	}
}

/* A descriptor's buffer in guest RAM, or NULL. */
static u8 *buf_at(struct boot_vblk *b, u64 addr, u32 len)
{
	return b->gpa(b->ctx, addr, len ? len : 1);
}

/* Runs one chain from head; returns the bytes written into the chain
 * (for the used ring) or -1 when the chain itself is malformed. */
static long vblk_request(struct boot_vblk *b, u16 head)
{
	struct vq *q = &b->q;
	u8 *descs = buf_at(b, q->desc, 16 * q->num);
	if (!descs)
		return -1;
	/* Gather the chain: at most num descriptors (a loop is malformed). */
	u64 addr[BOOT_VBLK_QUEUE_MAX];
	u32 len[BOOT_VBLK_QUEUE_MAX];
	u16 flags[BOOT_VBLK_QUEUE_MAX];
	unsigned n = 0;
	u16 i = head;
	for (;;) {
		if (i >= q->num || n >= q->num)
			return -1;
		u8 *d = descs + 16 * i;
		addr[n] = get64(d);
		len[n] = get32(d + 8);
		flags[n] = get16(d + 12);
		if (flags[n] & DESC_F_INDIRECT)
			return -1;	/* not offered (VIRTIO_F_INDIRECT_DESC) */
		n++;
		if (!(flags[n - 1] & DESC_F_NEXT))
			break;
		i = get16(d + 14);
	}
	/* 5.2.6: a 16-byte header (type, reserved, sector) the device reads,
	 * data, and a last one-byte status the device writes. */
	if (n < 2 || len[0] < 16 || (flags[0] & DESC_F_WRITE) || len[n - 1] < 1 ||
	    !(flags[n - 1] & DESC_F_WRITE))
		return -1;
	u8 *hdr = buf_at(b, addr[0], 16);
	u8 *st = buf_at(b, addr[n - 1] + len[n - 1] - 1, 1);
	if (!hdr || !st || addr[n - 1] + len[n - 1] < addr[n - 1])
		return -1;
	u32 type = get32(hdr);
	u64 pos = get64(hdr + 8) * SECTOR;
	if (get64(hdr + 8) > b->size / SECTOR)
		pos = b->size + 1;	/* out of range, without overflow */
	u8 status = BLK_S_OK;
	long written = 1;
	if (type == BLK_T_IN || type == BLK_T_OUT) {
		for (unsigned k = 1; k + 1 < n && status == BLK_S_OK; k++) {
			int is_in = type == BLK_T_IN;
			u8 *p = buf_at(b, addr[k], len[k]);
			if (!p || !(flags[k] & DESC_F_WRITE) != !is_in || len[k] > b->size ||
			    pos > b->size - len[k]) {
				status = BLK_S_IOERR;
				break;
			}
			ssize_t r = is_in ? pread(b->fd, p, len[k], pos) : pwrite(b->fd, p, len[k], pos);
			if (r != (ssize_t)len[k])
				status = BLK_S_IOERR;
			pos += len[k];
			if (is_in && r > 0)
				written += r;
		}
	} else if (type == BLK_T_FLUSH) {
		if (fdatasync(b->fd) < 0)
			status = BLK_S_IOERR;
	} else if (type == BLK_T_GET_ID) {
		/* 20 bytes of serial number, NUL-padded. */
		u8 *p = n > 2 ? buf_at(b, addr[1], len[1]) : NULL;
		if (!p || !(flags[1] & DESC_F_WRITE)) {
			status = BLK_S_IOERR;
		} else {
			static const char id[20] = "softkvm-disk";
			u32 l = len[1] < sizeof(id) ? len[1] : sizeof(id);
			memcpy(p, id, l);
			written += l;
		}
	} else {
		status = BLK_S_UNSUPP;
	}
	*st = status;
	return written;
}

/* Everything the driver made available; true if the used ring moved. */
static int vblk_notify(struct boot_vblk *b)
{
	struct vq *q = &b->q;
	if (!q->ready || !(b->status & S_FEATURES_OK) || (b->status & S_NEEDS_RESET))
		return 0;
	u8 *avail = buf_at(b, q->avail, 4 + 2 * q->num);
	u8 *used = buf_at(b, q->used, 4 + 8 * q->num);
	if (!avail || !used) {
		b->status |= S_NEEDS_RESET;
		b->isr |= 2;	/* configuration change: tells the driver */
		return 1;
	}
	int moved = 0;
	u16 avail_idx = __atomic_load_n((u16 *)(avail + 2), __ATOMIC_ACQUIRE);
	/* More than num new entries cannot be right: stop at num. */
	for (unsigned budget = q->num; q->last_avail != avail_idx && budget; budget--) {
		u16 head = get16(avail + 4 + 2 * (q->last_avail % q->num));
		long w = vblk_request(b, head);
		if (w < 0) {
			b->status |= S_NEEDS_RESET;
			b->isr |= 2;
			return 1;
		}
		/* In order: the used index is the device's own count. */
		u8 *e = used + 4 + 8 * (q->last_avail % q->num);
		put32(e, head);
		put32(e + 4, (u32)w);
		q->last_avail++;
		__atomic_store_n((u16 *)(used + 2), q->last_avail, __ATOMIC_RELEASE);
		moved = 1;
	}
	if (moved)
		b->isr |= 1;	/* used buffer notification */
	return moved;
}

void boot_vblk_write(struct boot_vblk *b, u64 off, unsigned len, u32 val)
{
	if (off >= R_CONFIG || len != 4 || (off & 3))
		return;		/* capacity is read-only; bad widths ignored */
	struct vq *q = &b->q;
	/* 4.2.3.1: queue registers of a live queue are not the driver's. */
	int q_ok = b->queue_sel == 0 && !q->ready;
	switch (off) {
	case R_DEV_FEATURES_SEL: b->dev_sel = val; break;
	case R_DRV_FEATURES_SEL: b->drv_sel = val; break;
	case R_DRV_FEATURES:
		if (b->drv_sel < 2 && !(b->status & S_FEATURES_OK)) {
			u64 mask = 0xffffffffull << (32 * b->drv_sel);
			b->drv_features = (b->drv_features & ~mask) | ((u64)val << (32 * b->drv_sel));
		}
		break;
	case R_QUEUE_SEL: b->queue_sel = val; break;
	case R_QUEUE_NUM:
		if (q_ok && val && val <= BOOT_VBLK_QUEUE_MAX && !(val & (val - 1)))
			q->num = val;
		break;
	case R_QUEUE_READY:
		if (b->queue_sel == 0) {
			q->ready = val & 1 && q->num;
			if (!q->ready)
				q->last_avail = 0;
		}
		break;
	case R_QUEUE_DESC_LO: if (q_ok) q->desc = (q->desc & ~0xffffffffull) | val; break;
	case R_QUEUE_DESC_HI: if (q_ok) q->desc = (q->desc & 0xffffffffull) | (u64)val << 32; break;
	case R_QUEUE_AVAIL_LO: if (q_ok) q->avail = (q->avail & ~0xffffffffull) | val; break;
	case R_QUEUE_AVAIL_HI: if (q_ok) q->avail = (q->avail & 0xffffffffull) | (u64)val << 32; break;
	case R_QUEUE_USED_LO: if (q_ok) q->used = (q->used & ~0xffffffffull) | val; break;
	case R_QUEUE_USED_HI: if (q_ok) q->used = (q->used & 0xffffffffull) | (u64)val << 32; break;
	case R_QUEUE_NOTIFY:
		if (val == 0)
			vblk_notify(b);
		break;
	case R_INT_ACK: b->isr &= ~val; break;
	case R_STATUS:
		if (val == 0) {
			vblk_reset(b);
			break;
		}
		/* 3.1.1: FEATURES_OK sticks only for features we offered,
		 * VERSION_1 among them (a version 2 device needs it). */
		if ((val & S_FEATURES_OK) && !(b->status & S_FEATURES_OK) &&
		    ((b->drv_features & ~DEV_FEATURES) || !(b->drv_features & F_VERSION_1)))
			val &= ~S_FEATURES_OK;
		b->status = (val & 0xff) | (b->status & S_NEEDS_RESET);
		break;
	default:
		break;
	}
}

int boot_vblk_irq(const struct boot_vblk *b)
{
	return b->isr != 0;
}

int boot_vblk_flush(struct boot_vblk *b)
{
	return fsync(b->fd) < 0 ? -errno : 0;
}
