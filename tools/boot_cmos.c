/*
 * The CMOS RTC at ports 0x70 (index, bit 7 the NMI mask) and 0x71 (data),
 * enough for a kernel that reads the wall clock once (MC146818A data sheet,
 * "Address Map"): the time of day from the host clock in BCD, 24-hour mode,
 * register A with no update in progress, register D "valid RAM and time";
 * the other bytes are plain CMOS RAM.  No alarm, periodic or update
 * interrupts: nothing raises IRQ 8.  The caller serialises access.
 */
#include <string.h>
#include <time.h>

#include "boot.h"

#define CMOS_SEC 0x00
#define CMOS_MIN 0x02
#define CMOS_HOUR 0x04
#define CMOS_WDAY 0x06
#define CMOS_MDAY 0x07
#define CMOS_MON 0x08
#define CMOS_YEAR 0x09
#define CMOS_A 0x0a
#define CMOS_B 0x0b
#define CMOS_C 0x0c
#define CMOS_D 0x0d
#define CMOS_CENTURY 0x32

static u8 bcd(int x) { return (u8)((x / 10) << 4 | (x % 10)); }

void boot_cmos_init(struct boot_cmos *c)
{
	memset(c, 0, sizeof(*c));
	c->ram[CMOS_A] = 0x26;		/* 32.768 kHz time base, 1024 Hz rate, UIP clear */
	c->ram[CMOS_B] = 0x02;		/* 24-hour, BCD, no interrupts */
	c->ram[CMOS_D] = 0x80;		/* VRT: valid RAM and time */
}

u8 boot_cmos_read(struct boot_cmos *c, u16 port)
{
	if (port == BOOT_CMOS_PORT)
		return c->index;
	u8 i = c->index & 0x7f;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	switch (i) {
	case CMOS_SEC: return bcd(tm.tm_sec);
	case CMOS_MIN: return bcd(tm.tm_min);
	case CMOS_HOUR: return bcd(tm.tm_hour);
	case CMOS_WDAY: return bcd(tm.tm_wday + 1);
	case CMOS_MDAY: return bcd(tm.tm_mday);
	case CMOS_MON: return bcd(tm.tm_mon + 1);
	case CMOS_YEAR: return bcd(tm.tm_year % 100);
	case CMOS_CENTURY: return bcd((tm.tm_year + 1900) / 100);
	case CMOS_C: return 0;		/* no interrupt flags */
	default: return c->ram[i];
	}
}

void boot_cmos_write(struct boot_cmos *c, u16 port, u8 val)
{
	if (port == BOOT_CMOS_PORT) {
		c->index = val;
		return;
	}
	u8 i = c->index & 0x7f;
	/* The clock keeps the host's time; A, C, D keep their fixed values. */
	if (i <= CMOS_YEAR || i == CMOS_A || i == CMOS_C || i == CMOS_D || i == CMOS_CENTURY)
		return;
	c->ram[i] = i == CMOS_B ? (val & ~0x70) | 0x02 : val;	/* no IRQ enables */
}
