/*
 * The 16550A UART behind ttyS0, at register level (National Semiconductor
 * PC16550D data sheet, "Register Description").  Output goes to a FILE;
 * input and interrupts wait for the irqchip (docs/boot.md), so IIR always
 * says "no interrupt pending" and only loopback mode ever receives.
 */
#include <string.h>

#include "boot.h"

#define UART_RBR_THR 0
#define UART_IER 1
#define UART_IIR_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define IIR_NO_INT 0x01
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01

void boot_uart_init(struct boot_uart *u, FILE *out)
{
	memset(u, 0, sizeof(*u));
	u->out = out;
	u->mcr = MCR_OUT2;
}

u8 boot_uart_read(struct boot_uart *u, u8 reg)
{
	switch (reg) {
	case UART_RBR_THR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		u->lsr_dr = 0;
		return u->rbr;
	case UART_IER:
		return u->lcr & LCR_DLAB ? u->dlm : u->ier;
	case UART_IIR_FCR:
		return IIR_NO_INT | (u->fcr & FCR_ENABLE ? IIR_FIFO : 0);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		/* Transmission is instant: the holding register is always empty. */
		return LSR_THRE | LSR_TEMT | (u->lsr_dr ? LSR_DR : 0);
	case UART_MSR:
		/* Loopback wires the modem outputs to the inputs (data sheet
		 * "MCR bit 4"); otherwise a terminal with carrier is attached. */
		if (u->mcr & MCR_LOOP)
			return (u->mcr & MCR_RTS ? MSR_CTS : 0) | (u->mcr & MCR_DTR ? MSR_DSR : 0) |
			       (u->mcr & MCR_OUT1 ? MSR_RI : 0) | (u->mcr & MCR_OUT2 ? MSR_DCD : 0);
		return MSR_DCD | MSR_DSR | MSR_CTS;
	default:
		return u->scr;
	}
}

void boot_uart_write(struct boot_uart *u, u8 reg, u8 val)
{
	switch (reg) {
	case UART_RBR_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = val;
		} else if (u->mcr & MCR_LOOP) {
			u->rbr = val;
			u->lsr_dr = 1;
		} else {
			fputc(val, u->out);
			if (val == '\n')
				fflush(u->out);
		}
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB)
			u->dlm = val;
		else
			u->ier = val & 0x0f;
		break;
	case UART_IIR_FCR:
		/* Bits 1-2 reset the FIFOs and clear themselves. */
		u->fcr = val & ~0x06;
		if (val & 0x02)
			u->lsr_dr = 0;
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		u->mcr = val & 0x1f;
		break;
	case UART_LSR:
	case UART_MSR:
		break;	/* read-only here (factory test writes are ignored) */
	default:
		u->scr = val;
		break;
	}
}
