/*
 * The 16550A UART behind ttyS0, at register level (National Semiconductor
 * PC16550D data sheet, "Register Description"): a 16-byte receive FIFO fed
 * from the terminal, instant transmission to a FILE, and the interrupt
 * output (INTR) the VMM wires to IRQ 4.  The caller serialises access.
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

#define IER_ERBFI 0x01		/* received data available */
#define IER_ETBEI 0x02		/* transmitter holding register empty */
#define IER_ELSI 0x04		/* receiver line status */
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RCVR 0x02

void boot_uart_init(struct boot_uart *u, FILE *out)
{
	memset(u, 0, sizeof(*u));
	u->out = out;
	u->mcr = MCR_OUT2;
}

static unsigned fifo_size(const struct boot_uart *u)
{
	return u->fcr & FCR_ENABLE ? BOOT_UART_FIFO : 1;
}

/* The highest-priority pending source as IIR reports it (data sheet table
 * "Interrupt Control Functions"); the modem-status source never fires here
 * (the modem lines do not change outside loopback). */
static u8 pending(const struct boot_uart *u)
{
	if ((u->ier & IER_ELSI) && (u->lsr_err & LSR_OE))
		return IIR_RLSI;
	if ((u->ier & IER_ERBFI) && u->rx_count)
		return IIR_RDI;
	if ((u->ier & IER_ETBEI) && u->thr_int)
		return IIR_THRI;
	return IIR_NO_INT;
}

/* The IRQ line as a PC wires it: INTR gated by OUT2, and nothing in
 * loopback mode, where the data sheet disconnects the outputs. */
int boot_uart_irq(const struct boot_uart *u)
{
	return pending(u) != IIR_NO_INT && (u->mcr & (MCR_LOOP | MCR_OUT2)) == MCR_OUT2;
}

static void rx_push(struct boot_uart *u, u8 c)
{
	if (u->rx_count >= fifo_size(u)) {
		u->lsr_err |= LSR_OE;	/* the byte is lost, as on the chip */
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % BOOT_UART_FIFO] = c;
	u->rx_count++;
}

unsigned boot_uart_rx_room(const struct boot_uart *u)
{
	if (u->mcr & MCR_LOOP)
		return 0;
	return fifo_size(u) - u->rx_count;
}

void boot_uart_receive(struct boot_uart *u, u8 c)
{
	if (!(u->mcr & MCR_LOOP))
		rx_push(u, c);
}

u8 boot_uart_read(struct boot_uart *u, u8 reg)
{
	switch (reg) {
	case UART_RBR_THR: {
		if (u->lcr & LCR_DLAB)
			return u->dll;
		if (!u->rx_count)
			return u->rx[u->rx_head];	/* the last byte, again */
		u8 c = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % BOOT_UART_FIFO;
		u->rx_count--;
		return c;
	}
	case UART_IER:
		return u->lcr & LCR_DLAB ? u->dlm : u->ier;
	case UART_IIR_FCR: {
		u8 iir = pending(u);
		/* Reading IIR while it shows THRE clears that source. */
		if (iir == IIR_THRI)
			u->thr_int = 0;
		return iir | (u->fcr & FCR_ENABLE ? IIR_FIFO : 0);
	}
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR: {
		/* Transmission is instant: the holding register is always empty.
		 * Reading LSR clears the error bits. */
		u8 lsr = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) | u->lsr_err;
		u->lsr_err = 0;
		return lsr;
	}
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
			break;
		}
		if (u->mcr & MCR_LOOP) {
			rx_push(u, val);
		} else {
			fputc(val, u->out);
			if (val == '\n' || u->flush_each)
				fflush(u->out);
		}
		/* Sent at once: the holding register is empty again. */
		u->thr_int = 1;
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = val;
			break;
		}
		/* Enabling ETBEI with the holding register empty raises THRE
		 * (the data sheet; Linux's 8250 driver relies on it). */
		if ((val & IER_ETBEI) && !(u->ier & IER_ETBEI))
			u->thr_int = 1;
		u->ier = val & 0x0f;
		break;
	case UART_IIR_FCR:
		/* Bits 1-2 reset the FIFOs and clear themselves; changing the
		 * FIFO enable empties them too. */
		if ((val & FCR_CLEAR_RCVR) || ((val ^ u->fcr) & FCR_ENABLE)) {
			u->rx_count = 0;
			u->lsr_err &= ~LSR_OE;
		}
		u->fcr = val & ~0x06;
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
