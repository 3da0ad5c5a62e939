/*
 * A virtio console device (VIRTIO 1.1 5.3 "Console Device") on the
 * virtio-mmio transport (boot_virtio.c): one port, no optional features
 * (no size, no multiport, no emergency write), so Linux's virtio_console
 * makes it hvc0.  transmitq (queue 1): each chain's device-readable bytes
 * go to `out` when the driver notifies.  receiveq (queue 0): the driver
 * posts device-writable buffers; terminal input fills them as it arrives
 * (boot_vcon_receive).  The caller serialises access.
 */
#include <string.h>

#include "boot.h"

#define VIRTIO_ID_CONSOLE 3
#define Q_RX 0
#define Q_TX 1

static void vcon_notify(struct boot_virtio *d, unsigned qi)
{
	struct boot_vcon *c = (struct boot_vcon *)d;
	static __thread struct boot_vchain ch;
	if (qi != Q_TX)
		return;		/* new receive buffers: used as input comes */
	for (unsigned budget = d->q[qi].num; budget; budget--) {
		if (boot_virtio_pop(d, qi, &ch) <= 0)
			break;
		for (unsigned k = 0; k < ch.n; k++) {
			if (ch.flags[k] & BOOT_VDESC_F_WRITE)
				continue;	/* 5.3.6.1: the device ignores them */
			u8 *p = d->gpa(d->ctx, ch.addr[k], ch.len[k] ? ch.len[k] : 1);
			if (!p) {
				boot_virtio_chain_fail(d);
				return;
			}
			fwrite(p, 1, ch.len[k], c->out);
		}
		boot_virtio_push(d, qi, ch.head, 0);
	}
	if (c->flush_each)
		fflush(c->out);
}

void boot_vcon_init(struct boot_vcon *c, FILE *out, boot_gpa_fn gpa, void *ctx)
{
	boot_virtio_init(&c->vio, VIRTIO_ID_CONSOLE, 0, 2, gpa, ctx);
	c->vio.notify = vcon_notify;
	c->out = out;
	c->flush_each = 0;
}

unsigned boot_vcon_rx_room(struct boot_vcon *c)
{
	const struct boot_virtio *d = &c->vio;
	if (!boot_virtio_live(d, Q_RX))
		return 0;
	const struct vq *q = &d->q[Q_RX];
	u8 *avail = d->gpa(d->ctx, q->avail, 4);
	if (!avail)
		return 0;
	u16 idx = __atomic_load_n((u16 *)(avail + 2), __ATOMIC_ACQUIRE);
	/* Linux posts page-sized receive buffers: one posted buffer takes a
	 * terminal read (BOOT_UART_FIFO bytes); a driver whose buffers are
	 * smaller may lose the end of one. */
	return idx != q->last_avail ? BOOT_UART_FIFO : 0;
}

unsigned boot_vcon_receive(struct boot_vcon *c, const u8 *buf, unsigned n)
{
	struct boot_virtio *d = &c->vio;
	static __thread struct boot_vchain ch;
	unsigned done = 0;
	while (done < n && boot_virtio_pop(d, Q_RX, &ch) > 0) {
		u32 w = 0;
		for (unsigned k = 0; k < ch.n && done < n; k++) {
			if (!(ch.flags[k] & BOOT_VDESC_F_WRITE))
				continue;
			u32 l = ch.len[k] < n - done ? ch.len[k] : n - done;
			u8 *p = d->gpa(d->ctx, ch.addr[k], l ? l : 1);
			if (!p) {
				boot_virtio_chain_fail(d);
				return done;
			}
			memcpy(p, buf + done, l);
			done += l;
			w += l;
		}
		boot_virtio_push(d, Q_RX, ch.head, w);
	}
	return done;
}
