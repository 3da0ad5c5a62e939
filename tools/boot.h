/* `softkvm boot` internals shared between its files (tools/boot*.c). */
#ifndef SOFTKVM_TOOLS_BOOT_H
#define SOFTKVM_TOOLS_BOOT_H

#include <stdio.h>

#include "common.h"

/* ttyS0: a 16550A at the legacy COM1 ports (docs/boot.md). */
#define BOOT_UART_BASE 0x3f8

struct boot_uart {
	FILE *out;
	u8 rbr;		/* receive buffer (only loopback fills it yet) */
	u8 dll, dlm;	/* divisor latch */
	u8 ier, lcr, mcr, scr;
	u8 fcr;		/* FIFO enable (bit 0) as last written */
	u8 lsr_dr;	/* data ready */
};

void boot_uart_init(struct boot_uart *u, FILE *out);
u8 boot_uart_read(struct boot_uart *u, u8 reg);
void boot_uart_write(struct boot_uart *u, u8 reg, u8 val);

#endif
