/* `softkvm boot` internals shared between its files (tools/boot*.c). */
#ifndef SOFTKVM_TOOLS_BOOT_H
#define SOFTKVM_TOOLS_BOOT_H

#include <stdio.h>

#include "common.h"

/* ttyS0: a 16550A at the legacy COM1 ports and ISA IRQ 4 (docs/boot.md). */
#define BOOT_UART_BASE 0x3f8
#define BOOT_UART_IRQ 4
#define BOOT_UART_FIFO 16

struct boot_uart {
	FILE *out;
	int flush_each;		/* flush every byte (an interactive terminal) */
	u8 rx[BOOT_UART_FIFO];	/* receive FIFO (one byte deep with FIFOs off) */
	u8 rx_head, rx_count;
	u8 dll, dlm;		/* divisor latch */
	u8 ier, lcr, mcr, scr;
	u8 fcr;			/* FIFO enable (bit 0) as last written */
	u8 lsr_err;		/* overrun, until LSR is read */
	u8 thr_int;		/* THRE interrupt pending */
};

void boot_uart_init(struct boot_uart *u, FILE *out);
u8 boot_uart_read(struct boot_uart *u, u8 reg);
void boot_uart_write(struct boot_uart *u, u8 reg, u8 val);
/* Terminal input: how many bytes fit now, and one received byte. */
unsigned boot_uart_rx_room(const struct boot_uart *u);
void boot_uart_receive(struct boot_uart *u, u8 c);
/* The level of the IRQ 4 line. */
int boot_uart_irq(const struct boot_uart *u);

/* The CMOS RTC (boot_cmos.c) at ports 0x70-0x71. */
#define BOOT_CMOS_PORT 0x70
struct boot_cmos {
	u8 index;
	u8 ram[128];
};
void boot_cmos_init(struct boot_cmos *c);
u8 boot_cmos_read(struct boot_cmos *c, u16 port);
void boot_cmos_write(struct boot_cmos *c, u16 port, u8 val);

/* Little-endian fields of boot_params and the ACPI tables. */
static inline u16 get16(const u8 *p) { return p[0] | p[1] << 8; }
static inline u32 get32(const u8 *p) { return get16(p) | (u32)get16(p + 2) << 16; }
static inline u64 get64(const u8 *p) { return get32(p) | (u64)get32(p + 4) << 32; }
static inline void put16(u8 *p, u16 x) { p[0] = x; p[1] = x >> 8; }
static inline void put32(u8 *p, u32 x) { put16(p, x); put16(p + 2, x >> 16); }
static inline void put64(u8 *p, u64 x) { put32(p, x); put32(p + 4, x >> 32); }

/* ACPI tables (boot_acpi.c): RSDP, XSDT, FADT (PM1 ports below, reset
 * register), FACS, DSDT (\_S5) and, when ncpus > 0, a MADT with that many
 * local APICs and the IOAPIC.  Built into buf, which sits at guest-physical
 * base; returns the RSDP's address, 0 when buf is too small. */
#define BOOT_ACPI_PM1_EVT 0x600		/* PM1a_EVT_BLK: status, enable (2+2) */
#define BOOT_ACPI_PM1_CNT 0x604		/* PM1a_CNT_BLK (2) */
#define BOOT_ACPI_PM_TMR 0x608		/* PM_TMR_BLK (4) */
#define BOOT_ACPI_S5_TYP 5		/* SLP_TYP for \_S5 */
#define BOOT_RESET_PORT 0xcf9		/* the FADT's reset register */
#define BOOT_RESET_VALUE 0x06
u64 boot_acpi_build(u8 *buf, u64 size, u64 base, unsigned ncpus, u64 vblk_base);

/* virtio-blk on virtio-mmio (boot_vblk.c): registers at BOOT_VBLK_BASE,
 * level-triggered GSI BOOT_VBLK_IRQ, both announced by the DSDT. */
#define BOOT_VBLK_BASE 0xd0000000ull
#define BOOT_VBLK_SIZE 0x200
#define BOOT_VBLK_IRQ 5
#define BOOT_VBLK_QUEUE_MAX 128
typedef u8 *(*boot_gpa_fn)(void *ctx, u64 gpa, u64 len);
struct vq {
	u64 desc, avail, used;
	u16 num, last_avail;
	u8 ready;
};
struct boot_vblk {
	int fd;
	u64 size;		/* bytes, a multiple of 512 */
	boot_gpa_fn gpa;
	void *ctx;
	u32 status, isr, dev_sel, drv_sel, queue_sel;
	u64 drv_features;
	struct vq q;
};
void boot_vblk_init(struct boot_vblk *b, int fd, u64 size, boot_gpa_fn gpa, void *ctx);
u32 boot_vblk_read(struct boot_vblk *b, u64 off, unsigned len);
void boot_vblk_write(struct boot_vblk *b, u64 off, unsigned len, u32 val);
int boot_vblk_irq(const struct boot_vblk *b);
int boot_vblk_flush(struct boot_vblk *b);

/* The terminal (boot_term.c): raw mode if stdin is one (returns 1), and
 * its restoration, which also runs at exit and on fatal signals. */
int boot_term_raw(void);
void boot_term_restore(void);

#endif
