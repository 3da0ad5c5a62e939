/*
 * A virtio block device (VIRTIO 1.1 5.2 "Block Device") on the virtio-mmio
 * transport (boot_virtio.c), backed by a raw image file.  One request
 * queue; features VERSION_1 and BLK_F_FLUSH; IN, OUT, FLUSH and GET_ID
 * requests.  Requests run synchronously when the driver writes
 * QueueNotify.  Every buffer is checked against guest RAM, so a hostile
 * driver gets an error status or a device in NEEDS_RESET, never an access
 * outside its memory.  The caller serialises access.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"

#define VIRTIO_ID_BLOCK 2
#define F_BLK_FLUSH (1ull << 9)

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2
#define SECTOR 512

/* A descriptor's buffer in guest RAM, or NULL. */
static u8 *buf_at(struct boot_vblk *b, u64 addr, u32 len)
{
	return b->vio.gpa(b->vio.ctx, addr, len ? len : 1);
}

/* Runs one chain; returns the bytes written into it (for the used ring)
 * or -1 when the chain itself is malformed. */
static long vblk_request(struct boot_vblk *b, const struct boot_vchain *c)
{
	unsigned n = c->n;
	const u64 *addr = c->addr;
	const u32 *len = c->len;
	const u16 *flags = c->flags;
	/* 5.2.6: a 16-byte header (type, reserved, sector) the device reads,
	 * data, and a last one-byte status the device writes. */
	if (n < 2 || len[0] < 16 || (flags[0] & BOOT_VDESC_F_WRITE) || len[n - 1] < 1 ||
	    !(flags[n - 1] & BOOT_VDESC_F_WRITE))
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
			if (!p || !(flags[k] & BOOT_VDESC_F_WRITE) != !is_in || len[k] > b->size ||
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
		if (!p || !(flags[1] & BOOT_VDESC_F_WRITE)) {
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

/* Everything the driver made available (at most a queue's worth). */
static void vblk_notify(struct boot_virtio *d, unsigned qi)
{
	struct boot_vblk *b = (struct boot_vblk *)d;
	static __thread struct boot_vchain c;
	for (unsigned budget = d->q[qi].num; budget; budget--) {
		if (boot_virtio_pop(d, qi, &c) <= 0)
			return;
		long w = vblk_request(b, &c);
		if (w < 0) {
			boot_virtio_chain_fail(d);
			return;
		}
		boot_virtio_push(d, qi, c.head, (u32)w);
	}
}

/* Configuration: capacity, in 512-byte sectors (a 64-bit field). */
static u8 vblk_config(struct boot_virtio *d, u64 off)
{
	const struct boot_vblk *b = (const struct boot_vblk *)d;
	return off < 8 ? (u8)((b->size / SECTOR) >> (8 * off)) : 0;
}

void boot_vblk_init(struct boot_vblk *b, int fd, u64 size, boot_gpa_fn gpa, void *ctx)
{
	boot_virtio_init(&b->vio, VIRTIO_ID_BLOCK, F_BLK_FLUSH, 1, gpa, ctx);
	b->vio.config = vblk_config;
	b->vio.notify = vblk_notify;
	b->fd = fd;
	b->size = size;
}

int boot_vblk_flush(struct boot_vblk *b)
{
	return fsync(b->fd) < 0 ? -errno : 0;
}
