/* `softkvm boot` internals shared between its files (tools/boot*.c). */
#ifndef SOFTKVM_TOOLS_BOOT_H
#define SOFTKVM_TOOLS_BOOT_H

#include <pthread.h>
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
/* vblk_base, vcon_base: the virtio devices the DSDT lists (0: none). */
u64 boot_acpi_build(u8 *buf, u64 size, u64 base, unsigned ncpus, u64 vblk_base,
		    u64 vcon_base);

/* The virtio-mmio transport (boot_virtio.c), version 2: registers,
 * features, split queues; a device supplies its ID, features, queue count,
 * configuration bytes and what a queue notification does. */
#define BOOT_VIRTIO_SIZE 0x200		/* register window of one device */
#define BOOT_VIRTIO_QUEUE_MAX 128
#define BOOT_VIRTIO_QUEUES 2
#define BOOT_VIRTIO_F_VERSION_1 (1ull << 32)
typedef u8 *(*boot_gpa_fn)(void *ctx, u64 gpa, u64 len);
struct vq {
	u64 desc, avail, used;
	u16 num, last_avail;
	u8 ready;
};
struct boot_virtio {
	u32 device_id;
	u64 features;		/* offered */
	unsigned nq;
	boot_gpa_fn gpa;
	void *ctx;
	u8 (*config)(struct boot_virtio *d, u64 off);	/* a config byte */
	void (*notify)(struct boot_virtio *d, unsigned q);
	u32 status, isr, dev_sel, drv_sel, queue_sel;
	u64 drv_features;
	struct vq q[BOOT_VIRTIO_QUEUES];
};
/* A descriptor chain taken from a queue's available ring. */
struct boot_vchain {
	u16 head;
	unsigned n;
	u64 addr[BOOT_VIRTIO_QUEUE_MAX];
	u32 len[BOOT_VIRTIO_QUEUE_MAX];
	u16 flags[BOOT_VIRTIO_QUEUE_MAX];
};
#define BOOT_VDESC_F_WRITE 2
void boot_virtio_init(struct boot_virtio *d, u32 device_id, u64 features, unsigned nq,
		      boot_gpa_fn gpa, void *ctx);
u32 boot_virtio_read(struct boot_virtio *d, u64 off, unsigned len);
void boot_virtio_write(struct boot_virtio *d, u64 off, unsigned len, u32 val);
int boot_virtio_irq(const struct boot_virtio *d);
/* Queue qi is set up and the device not broken. */
int boot_virtio_live(const struct boot_virtio *d, unsigned qi);
/* The next available chain of queue qi: 1, 0 if none, -1 if the driver
 * broke the rules (the device then needs a reset). */
int boot_virtio_pop(struct boot_virtio *d, unsigned qi, struct boot_vchain *c);
/* The chain just popped is used, `written` bytes into it; interrupt. */
void boot_virtio_push(struct boot_virtio *d, unsigned qi, u16 head, u32 written);
/* A malformed chain: the device needs a reset. */
void boot_virtio_chain_fail(struct boot_virtio *d);

/* virtio-blk (boot_vblk.c): registers at BOOT_VBLK_BASE, level-triggered
 * GSI BOOT_VBLK_IRQ, both announced by the DSDT. */
#define BOOT_VBLK_BASE 0xd0000000ull
#define BOOT_VBLK_SIZE BOOT_VIRTIO_SIZE
#define BOOT_VBLK_IRQ 5
struct boot_vblk {
	struct boot_virtio vio;	/* first: the transport's callbacks get it */
	int fd;
	u64 size;		/* bytes, a multiple of 512 */
};
void boot_vblk_init(struct boot_vblk *b, int fd, u64 size, boot_gpa_fn gpa, void *ctx);
int boot_vblk_flush(struct boot_vblk *b);

/* virtio-console (boot_vcon.c), one port, hvc0 in Linux: receiveq 0 takes
 * terminal input, transmitq 1 goes to out.  Registers at BOOT_VCON_BASE,
 * GSI BOOT_VCON_IRQ, in the DSDT. */
#define BOOT_VCON_BASE (BOOT_VBLK_BASE + BOOT_VIRTIO_SIZE)
#define BOOT_VCON_IRQ 6
struct boot_vcon {
	struct boot_virtio vio;	/* first */
	FILE *out;
	int flush_each;
};
void boot_vcon_init(struct boot_vcon *c, FILE *out, boot_gpa_fn gpa, void *ctx);
/* Terminal input: how many bytes the driver's receive buffers take now
 * (0 while it has posted none), and n of them delivered. */
unsigned boot_vcon_rx_room(struct boot_vcon *c);
unsigned boot_vcon_receive(struct boot_vcon *c, const u8 *buf, unsigned n);

/* The terminal (boot_term.c): raw mode if stdin is one (returns 1), and
 * its restoration, which also runs at exit and on fatal signals. */
int boot_term_raw(void);
void boot_term_restore(void);

/* The VM: back end, memory, vCPUs and devices (boot.c). */
struct kvm_shim {
	const char *name;
	int (*open)(void);
	int (*ioctl)(int fd, unsigned long req, void *arg);
	int (*close)(int fd);
};

#define MAX_CPUS 64
#define BIOS_BASE 0xE0000	/* ACPI tables, e820 "reserved", up to 1 MiB */
#define BIOS_SIZE 0x20000

struct vcpu {
	struct vm *vm;
	int id, fd;
	struct kvm_run *run;
	pthread_t thread;
	int started;
	int parked;		/* stopped by boot_vm_pause, under vm->lock */
};

struct boot_mig;		/* snapshot / migration state (boot_migrate.c) */

struct vm {
	const struct kvm_shim *k;
	int kvm, vm;
	size_t run_size;
	u8 *mem;		/* host copy: [0, low_top) then [4G, ...) */
	u8 *bios;		/* [BIOS_BASE, 1 MiB) */
	u64 mem_size;		/* --mem */
	u64 low_top;		/* end of RAM below 4 GiB */
	int irqchip;		/* in-kernel PIC/IOAPIC/LAPIC and PIT */
	int imm_exit;		/* KVM_CAP_IMMEDIATE_EXIT */
	int ncpus;
	struct vcpu cpu[MAX_CPUS];

	/* Devices and the end of the VM, under lock. */
	pthread_mutex_t lock;
	struct boot_uart uart;
	int uart_irq;		/* level last sent with KVM_IRQ_LINE */
	struct boot_cmos cmos;
	struct boot_vblk vblk;	/* --disk, when fd >= 0 */
	int vblk_irq;
	struct boot_vcon vcon;	/* always there: hvc0 */
	int vcon_irq;
	int vcon_input;		/* terminal input goes to hvc0, not ttyS0 */
	u16 pm1_en;
	u8 pm1_cnt_hi;
	int done, status;
	int wake[2];		/* a pipe: written once the VM has ended */

	/* Stopping the vCPUs (boot_migrate.c): pause_req asks every vCPU to
	 * park after its next KVM_RUN returns EINTR; cond is broadcast when
	 * one parks, when the pause ends and when the VM ends. */
	pthread_cond_t cond;
	int pause_req, nparked;
	/* Guest pages the VMM itself wrote (virtio-blk DMA): KVM's dirty log
	 * cannot see them; one bit per page of mem, then of bios. */
	unsigned long *vmm_dirty;
	struct boot_mig *mig;
};

/* The guest pages of the host copy: mem, then bios, as one page index. */
static inline u64 boot_npages(const struct vm *v) { return (v->mem_size + BIOS_SIZE) >> 12; }
static inline u8 *boot_page(struct vm *v, u64 i)
{
	u64 mp = v->mem_size >> 12;
	return i < mp ? v->mem + (i << 12) : v->bios + ((i - mp) << 12);
}

/* boot.c, for boot_migrate.c. */
__attribute__((format(printf, 1, 2))) int boot_fail(const char *fmt, ...);
int boot_vm_create(struct vm *v);
void boot_vm_end(struct vm *v, struct vcpu *self, int status, const char *why);

/* Snapshots, fast reset and live migration (boot_migrate.c, docs/migration.md). */
struct boot_mig_opts {
	const char *save, *restore, *migrate_to, *incoming;
	double after;		/* seconds of run time before --save / --migrate-to */
	long resets;		/* --snapshot-resets: ends of the guest turned into resets */
	u64 disk_size;
};
/* Before the VM exists: --restore / --incoming read the stream header
 * (memory size, vCPUs) into v; returns 1 if the VM comes from a stream. */
int boot_mig_open(struct vm *v, const struct boot_mig_opts *o);
/* After boot_vm_create: the rest of the stream (memory, vCPU, VM and
 * device state). */
int boot_mig_load(struct vm *v);
/* The controller thread (--save, --migrate-to, snapshot requests). */
int boot_mig_start(struct vm *v, const struct boot_mig_opts *o);
void boot_mig_stop(struct vm *v);
/* A vCPU's KVM_RUN returned EINTR: park while a pause is asked for. */
void boot_vcpu_park(struct vm *v, struct vcpu *c);
/* Port BOOT_SNAP_PORT: 1 takes the in-memory snapshot.  At the guest's
 * end (status), returns 1 if the VM was reset to the snapshot instead. */
#define BOOT_SNAP_PORT 0x502
void boot_mig_snap_request(struct vm *v, struct vcpu *c, u8 val);
int boot_mig_end_request(struct vm *v, struct vcpu *c, int status);
void boot_mig_free(struct vm *v);


#endif
