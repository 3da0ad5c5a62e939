/*
 * The ACPI tables `softkvm boot` gives the kernel (ACPI 6.x specification,
 * chapter 5): an RSDP pointing at an XSDT that lists a FADT and, with an
 * in-kernel irqchip, a MADT.  The FADT describes a plain PC-style fixed
 * hardware block -- PM1a event/control and a PM timer at I/O ports the VMM
 * serves (boot.c), no SMI command port (so the system is always in ACPI
 * mode), C2/C3 off, a reset register at port 0xcf9 -- and points at a FACS
 * and a DSDT whose only object is \_S5, the soft-off sleep type that
 * PM1a_CNT takes for "power off".  The kernel's CONFIG_X86_MPPARSE is off
 * in Debian's cloud kernel, so the MADT is how it learns about more CPUs.
 */
#include <string.h>

#include "boot.h"

#define HDR_LEN 36

static u8 checksum(const u8 *p, u64 len)
{
	u8 sum = 0;
	for (u64 i = 0; i < len; i++)
		sum += p[i];
	return -sum;
}

/* The common description header (ACPI 5.2.6); the checksum is filled last. */
static void header(u8 *t, const char *sig, u32 len, u8 rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "SOFTKV", 6);		/* OEM ID */
	memcpy(t + 16, "SOFTKVM ", 8);		/* OEM table ID */
	put32(t + 24, 1);			/* OEM revision */
	memcpy(t + 28, "SKVM", 4);		/* creator ID */
	put32(t + 32, 1);
}

static void seal(u8 *t)
{
	t[9] = 0;
	t[9] = checksum(t, t[4] | t[5] << 8 | t[6] << 16 | (u32)t[7] << 24);
}

/* DSDT body, AML (ACPI 20.2): Name (_S5, Package (4) { 5, 5, 0, 0 }) --
 * SLP_TYPa, SLP_TYPb, reserved. */
static const u8 dsdt_aml[] = {
	0x08, '_', 'S', '5', '_',		/* NameOp, NameSeg */
	0x12, 0x08, 0x04,			/* PackageOp, PkgLength 8, 4 elements */
	0x0a, BOOT_ACPI_S5_TYP, 0x0a, BOOT_ACPI_S5_TYP,	/* BytePrefix 5, twice */
	0x00, 0x00,				/* ZeroOp, ZeroOp */
};

/*
 * Scope (\_SB) { Device (VR00) { Name (_HID, "LNRO0005"), Name (_UID, 0),
 *   Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, BASE, 0x200),
 *   Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { IRQ } }) } }
 * -- a virtio-mmio device as Linux's virtio_mmio driver matches it by ACPI
 * ("LNRO0005"): the cloud kernel has VIRTIO_MMIO_CMDLINE_DEVICES off.
 * Resource descriptors: ACPI 6.4.3.4 (Memory32Fixed), 6.4.3.6 (Extended
 * Interrupt), 6.4.2.9 (End Tag).  Returns the bytes written to p.
 */
static u64 aml_virtio_mmio(u8 *p, u64 base, u32 irq, unsigned uid)
{
	const u8 head[] = {
		0x10, 0x42, 0x04, '_', 'S', 'B', '_',		/* ScopeOp, PkgLength 66 */
		0x5b, 0x82, 0x3a, 'V', 'R', '0', (u8)('0' + uid),	/* DeviceOp, PkgLength 58 */
		0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00,
		0x08, '_', 'U', 'I', 'D', (u8)uid,		/* ZeroOp / OneOp */
		0x08, '_', 'C', 'R', 'S', 0x11, 0x1a, 0x0a, 0x17,	/* BufferOp, 23 bytes */
		0x86, 0x09, 0x00, 0x01,				/* Memory32Fixed, read-write */
	};
	u8 *q = p;
	memcpy(q, head, sizeof(head));
	q += sizeof(head);
	put32(q, base);
	put32(q + 4, BOOT_VIRTIO_SIZE);
	q += 8;
	q[0] = 0x89;		/* Extended Interrupt */
	q[1] = 0x06;
	q[2] = 0x00;
	q[3] = 0x01;		/* consumer, level, active high, exclusive */
	q[4] = 1;		/* one interrupt */
	put32(q + 5, irq);
	q += 9;
	q[0] = 0x79;		/* End Tag, checksum 0 ("valid") */
	q[1] = 0x00;
	q += 2;
	return q - p;
}

/* Offsets inside the 64 KiB-or-so buffer. */
#define OFF_RSDP 0x000
#define OFF_FACS 0x040
#define OFF_XSDT 0x080
#define OFF_FADT 0x100
#define OFF_DSDT 0x200
#define OFF_MADT 0x400
#define FADT_LEN 244
#define FACS_LEN 64

/* FADT fields (ACPI 5.2.9, table "FADT Format"). */
#define FADT_DSDT 40
#define FADT_SCI_INT 46
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_P_LVL2_LAT 96
#define FADT_P_LVL3_LAT 98
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT 140

#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_PWR_BUTTON (1u << 4)	/* no fixed-feature power button */
#define FADT_F_SLP_BUTTON (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define IAPC_VGA_NOT_PRESENT (1u << 2)
#define ACPI_SCI_IRQ 9

#define IOAPIC_ADDR 0xfec00000u
#define LAPIC_ADDR 0xfee00000u

u64 boot_acpi_build(u8 *buf, u64 size, u64 base, unsigned ncpus, u64 vblk_base,
		    u64 vcon_base)
{
	u64 madt_len = ncpus ? 44 + 8ull * ncpus + 12 : 0;
	if (size < OFF_MADT + madt_len || ncpus > 255)
		return 0;
	memset(buf, 0, OFF_MADT + madt_len);

	u8 *facs = buf + OFF_FACS;	/* 64-byte aligned, as 5.2.10 requires */
	memcpy(facs, "FACS", 4);
	put32(facs + 4, FACS_LEN);
	facs[32] = 2;			/* version */

	u8 *dsdt = buf + OFF_DSDT;
	u64 dlen = HDR_LEN + sizeof(dsdt_aml);
	memcpy(dsdt + HDR_LEN, dsdt_aml, sizeof(dsdt_aml));
	if (vblk_base)
		dlen += aml_virtio_mmio(dsdt + dlen, vblk_base, BOOT_VBLK_IRQ, 0);
	if (vcon_base)
		dlen += aml_virtio_mmio(dsdt + dlen, vcon_base, BOOT_VCON_IRQ, 1);
	header(dsdt, "DSDT", dlen, 2);
	seal(dsdt);

	u8 *f = buf + OFF_FADT;
	header(f, "FACP", FADT_LEN, 4);
	/* The 64-bit FACS pointer only: 5.2.9 says FIRMWARE_CTRL must be 0
	 * when X_FIRMWARE_CTRL is used (Linux listed the FACS twice). */
	put32(f + FADT_DSDT, base + OFF_DSDT);
	put16(f + FADT_SCI_INT, ACPI_SCI_IRQ);
	put32(f + FADT_PM1A_EVT_BLK, BOOT_ACPI_PM1_EVT);
	put32(f + FADT_PM1A_CNT_BLK, BOOT_ACPI_PM1_CNT);
	put32(f + FADT_PM_TMR_BLK, BOOT_ACPI_PM_TMR);
	f[FADT_PM1_EVT_LEN] = 4;
	f[FADT_PM1_CNT_LEN] = 2;
	f[FADT_PM_TMR_LEN] = 4;
	put16(f + FADT_P_LVL2_LAT, 101);	/* > 100: C2 not supported */
	put16(f + FADT_P_LVL3_LAT, 1001);	/* > 1000: C3 not supported */
	/* No 8042 (bit 1 clear): Linux then skips the keyboard controller. */
	put16(f + FADT_IAPC_BOOT_ARCH, IAPC_VGA_NOT_PRESENT);
	put32(f + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON |
		      FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP);
	/* Generic address structure: system I/O, 8 bits, byte access. */
	u8 *rr = f + FADT_RESET_REG;
	rr[0] = 1;
	rr[1] = 8;
	rr[3] = 1;
	put64(rr + 4, BOOT_RESET_PORT);
	f[FADT_RESET_VALUE] = BOOT_RESET_VALUE;
	put64(f + FADT_X_FIRMWARE_CTRL, base + OFF_FACS);
	put64(f + FADT_X_DSDT, base + OFF_DSDT);
	seal(f);

	unsigned n = 1;
	u8 *x = buf + OFF_XSDT;
	put64(x + HDR_LEN, base + OFF_FADT);
	if (ncpus) {
		u8 *m = buf + OFF_MADT;
		header(m, "APIC", madt_len, 3);
		put32(m + 36, LAPIC_ADDR);
		put32(m + 40, 1);		/* PCAT_COMPAT: 8259s present */
		u8 *e = m + 44;
		for (unsigned i = 0; i < ncpus; i++, e += 8) {
			e[0] = 0;		/* processor local APIC */
			e[1] = 8;
			e[2] = i;		/* processor UID */
			e[3] = i;		/* APIC ID = vCPU id */
			put32(e + 4, 1);	/* enabled */
		}
		e[0] = 1;			/* I/O APIC, ID 0, GSI base 0 */
		e[1] = 12;
		put32(e + 4, IOAPIC_ADDR);
		seal(m);
		put64(x + HDR_LEN + 8, base + OFF_MADT);
		n++;
	}
	header(x, "XSDT", HDR_LEN + 8 * n, 1);
	seal(x);

	u8 *r = buf + OFF_RSDP;		/* 5.2.5.3 */
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "SOFTKV", 6);
	r[15] = 2;			/* revision: ACPI 2.0+ (XSDT) */
	put32(r + 20, 36);
	put64(r + 24, base + OFF_XSDT);
	r[8] = checksum(r, 20);
	r[32] = checksum(r, 36);
	return base + OFF_RSDP;
}
