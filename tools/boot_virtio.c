/*
 * The virtio-mmio transport, version 2 (VIRTIO 1.1: 4.2.2 "MMIO Device
 * Register Layout", 2.6 "Split Virtqueues"), shared by softkvm boot's
 * virtio devices (boot_vblk.c, boot_vcon.c): the registers, feature
 * negotiation, the queues' setup and the ring helpers the devices build on.
 * Every guest address is checked against guest RAM (the gpa callback) and
 * every chain is bounded by the queue size, so a hostile driver gets a
 * device in NEEDS_RESET, never an access outside its memory.  The caller
 * serialises access.
 */
#include <string.h>

#include "boot.h"

#define VIRTIO_MAGIC 0x74726976		/* "virt" */
#define VIRTIO_VENDOR 0x4d564b53	/* "SKVM" */

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

#define S_DRIVER_OK 0x04
#define S_FEATURES_OK 0x08
#define S_NEEDS_RESET 0x40

#define DESC_F_NEXT 1
#define DESC_F_INDIRECT 4

void boot_virtio_init(struct boot_virtio *d, u32 device_id, u64 features, unsigned nq,
		      boot_gpa_fn gpa, void *ctx)
{
	memset(d, 0, sizeof(*d));
	d->device_id = device_id;
	d->features = features | BOOT_VIRTIO_F_VERSION_1;
	d->nq = nq;
	d->gpa = gpa;
	d->ctx = ctx;
}

static void virtio_reset(struct boot_virtio *d)
{
	d->status = 0;
	d->isr = 0;
	d->drv_features = 0;
	d->dev_sel = d->drv_sel = 0;
	d->queue_sel = 0;
	memset(d->q, 0, sizeof(d->q));
}

u32 boot_virtio_read(struct boot_virtio *d, u64 off, unsigned len)
{
	if (off >= R_CONFIG) {
		u32 x = 0;
		for (unsigned i = 0; i < len; i++)
			x |= (u32)(d->config ? d->config(d, off - R_CONFIG + i) : 0) << (8 * i);
		return x;
	}
	if (len != 4 || (off & 3))
		return 0;	/* 4.2.2: registers take 32-bit aligned accesses only */
	const struct vq *q = d->queue_sel < d->nq ? &d->q[d->queue_sel] : NULL;
	switch (off) {
	case R_MAGIC: return VIRTIO_MAGIC;
	case R_VERSION: return 2;
	case R_DEVICE_ID: return d->device_id;
	case R_VENDOR_ID: return VIRTIO_VENDOR;
	case R_DEV_FEATURES: return d->dev_sel < 2 ? (u32)(d->features >> (32 * d->dev_sel)) : 0;
	case R_QUEUE_NUM_MAX: return q ? BOOT_VIRTIO_QUEUE_MAX : 0;
	case R_QUEUE_READY: return q ? q->ready : 0;
	case R_INT_STATUS: return d->isr;
	case R_STATUS: return d->status;
	case R_CONFIG_GEN: return 0;
	default: return 0;
	}
}

void boot_virtio_write(struct boot_virtio *d, u64 off, unsigned len, u32 val)
{
	if (off >= R_CONFIG || len != 4 || (off & 3))
		return;		/* no writable configuration; bad widths ignored */
	struct vq *q = d->queue_sel < d->nq ? &d->q[d->queue_sel] : NULL;
	/* 4.2.3.1: queue registers of a live queue are not the driver's. */
	int q_ok = q && !q->ready;
	switch (off) {
	case R_DEV_FEATURES_SEL: d->dev_sel = val; break;
	case R_DRV_FEATURES_SEL: d->drv_sel = val; break;
	case R_DRV_FEATURES:
		if (d->drv_sel < 2 && !(d->status & S_FEATURES_OK)) {
			u64 mask = 0xffffffffull << (32 * d->drv_sel);
			d->drv_features = (d->drv_features & ~mask) | ((u64)val << (32 * d->drv_sel));
		}
		break;
	case R_QUEUE_SEL: d->queue_sel = val; break;
	case R_QUEUE_NUM:
		if (q_ok && val && val <= BOOT_VIRTIO_QUEUE_MAX && !(val & (val - 1)))
			q->num = val;
		break;
	case R_QUEUE_READY:
		if (q) {
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
		if (val < d->nq && d->notify && boot_virtio_live(d, val))
			d->notify(d, val);
		break;
	case R_INT_ACK: d->isr &= ~val; break;
	case R_STATUS:
		if (val == 0) {
			virtio_reset(d);
			break;
		}
		/* 3.1.1: FEATURES_OK sticks only for features we offered,
		 * VERSION_1 among them (a version 2 device needs it). */
		if ((val & S_FEATURES_OK) && !(d->status & S_FEATURES_OK) &&
		    ((d->drv_features & ~d->features) ||
		     !(d->drv_features & BOOT_VIRTIO_F_VERSION_1)))
			val &= ~S_FEATURES_OK;
		d->status = (val & 0xff) | (d->status & S_NEEDS_RESET);
		break;
	default:
		break;
	}
}

int boot_virtio_irq(const struct boot_virtio *d)
{
	return d->isr != 0;
}

int boot_virtio_live(const struct boot_virtio *d, unsigned qi)
{
	return qi < d->nq && d->q[qi].ready && (d->status & S_FEATURES_OK) &&
	       !(d->status & S_NEEDS_RESET);
}

/* A broken driver: NEEDS_RESET, and a configuration-change interrupt
 * that tells it. */
static void virtio_fail(struct boot_virtio *d)
{
	d->status |= S_NEEDS_RESET;
	d->isr |= 2;
}

int boot_virtio_pop(struct boot_virtio *d, unsigned qi, struct boot_vchain *c)
{
	struct vq *q = &d->q[qi];
	if (!boot_virtio_live(d, qi))
		return 0;
	u8 *avail = d->gpa(d->ctx, q->avail, 4 + 2 * q->num);
	u8 *descs = d->gpa(d->ctx, q->desc, 16 * q->num);
	if (!avail || !descs || !d->gpa(d->ctx, q->used, 4 + 8 * q->num)) {
		virtio_fail(d);
		return -1;
	}
	u16 avail_idx = __atomic_load_n((u16 *)(avail + 2), __ATOMIC_ACQUIRE);
	if (q->last_avail == avail_idx)
		return 0;
	/* More than num new entries cannot be right. */
	if ((u16)(avail_idx - q->last_avail) > q->num) {
		virtio_fail(d);
		return -1;
	}
	u16 head = get16(avail + 4 + 2 * (q->last_avail % q->num));
	/* Gather the chain: at most num descriptors (a loop is malformed). */
	unsigned n = 0;
	u16 i = head;
	c->head = head;
	for (;;) {
		if (i >= q->num || n >= q->num) {
			virtio_fail(d);
			return -1;
		}
		u8 *e = descs + 16 * i;
		c->addr[n] = get64(e);
		c->len[n] = get32(e + 8);
		c->flags[n] = get16(e + 12);
		if (c->flags[n] & DESC_F_INDIRECT) {
			virtio_fail(d);	/* not offered (VIRTIO_F_INDIRECT_DESC) */
			return -1;
		}
		n++;
		if (!(c->flags[n - 1] & DESC_F_NEXT))
			break;
		i = get16(e + 14);
	}
	c->n = n;
	q->last_avail++;
	return 1;
}

void boot_virtio_push(struct boot_virtio *d, unsigned qi, u16 head, u32 written)
{
	struct vq *q = &d->q[qi];
	u8 *used = d->gpa(d->ctx, q->used, 4 + 8 * q->num);
	if (!used) {
		virtio_fail(d);
		return;
	}
	/* Synchronous and in order: the chain just popped is the last one
	 * made available, and the used index is the device's own count. */
	u16 idx = (u16)(q->last_avail - 1);
	u8 *e = used + 4 + 8 * (idx % q->num);
	put32(e, head);
	put32(e + 4, written);
	__atomic_store_n((u16 *)(used + 2), q->last_avail, __ATOMIC_RELEASE);
	d->isr |= 1;	/* used buffer notification */
}

void boot_virtio_chain_fail(struct boot_virtio *d)
{
	virtio_fail(d);
}
