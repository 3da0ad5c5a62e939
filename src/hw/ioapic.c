/*
 * 82093AA I/O APIC (Intel datasheet 290566).  The register image is KVM's
 * struct kvm_ioapic_state; irr carries the level of each input pin.
 */
#include <errno.h>
#include <string.h>

#include "hw/ioapic.h"

#define REG_SELECT 0x00
#define REG_WINDOW 0x10
#define IDX_ID 0x00
#define IDX_VERSION 0x01
#define IDX_ARB 0x02
#define IDX_REDTBL 0x10

/* Bits software can write: the delivery status and Remote IRR are read-only. */
#define RTE_RO (IOAPIC_RTE_DELIVS | IOAPIC_RTE_REMOTE_IRR)

/* Send pin's interrupt if its entry lets it through now: what deliver()
 * said, 0 if Remote IRR holds it back, -1 if masked (KVM_IRQ_LINE_STATUS). */
static int service(struct ioapic *io, unsigned pin)
{
	u64 *e = &io->s.redirtbl[pin];
	if (*e & IOAPIC_RTE_MASK)
		return -1;
	bool level = *e & IOAPIC_RTE_LEVEL;
	/* A level interrupt is not sent again until the EOI (3.2.4, Remote IRR). */
	if (level && (*e & IOAPIC_RTE_REMOTE_IRR))
		return 0;
	struct ioapic_irq irq = {
		.vector = *e & IOAPIC_RTE_VECTOR,
		.delivery_mode = (*e >> IOAPIC_RTE_DELMODE_SHIFT) & 7,
		.dest_mode = !!(*e & IOAPIC_RTE_DESTMODE),
		.dest = (u8)(*e >> IOAPIC_RTE_DEST_SHIFT),
		.level = level,
	};
	if (!level)
		io->irr_delivered |= 1u << pin;
	int accepted = io->deliver ? io->deliver(io->opaque, &irq) : 0;
	if (level && accepted > 0)
		*e |= IOAPIC_RTE_REMOTE_IRR;
	return accepted;
}

int ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	if (pin >= IOAPIC_PINS)
		return -1;
	pthread_mutex_lock(&io->lock);
	u32 m = 1u << pin, old = io->s.irr;
	int r = 1; /* a de-assert "is delivered", as KVM counts it */
	if (!level) {
		io->s.irr &= ~m;
	} else {
		io->s.irr |= m;
		/*
		 * Edge: only a rising input sends, and a masked pin drops it
		 * ("Edge-sensitive interrupts signaled on a masked interrupt
		 * pin are ignored").  Level: sent while asserted and unmasked.
		 */
		bool edge = !(io->s.redirtbl[pin] & IOAPIC_RTE_LEVEL);
		if (!edge) {
			r = service(io, pin);
		} else if (!(old & m)) {
			io->irr_delivered &= ~m;
			r = service(io, pin);
		} else {
			r = 0; /* coalesced with the edge already seen */
		}
	}
	pthread_mutex_unlock(&io->lock);
	return r;
}

u32 ioapic_level_pins(struct ioapic *io, u8 vector)
{
	u32 pins = 0;
	pthread_mutex_lock(&io->lock);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		u64 e = io->s.redirtbl[pin];
		if ((e & IOAPIC_RTE_VECTOR) == vector && (e & IOAPIC_RTE_LEVEL))
			pins |= 1u << pin;
	}
	pthread_mutex_unlock(&io->lock);
	return pins;
}

u8 ioapic_pin_vector(struct ioapic *io, unsigned pin)
{
	pthread_mutex_lock(&io->lock);
	u8 v = pin < IOAPIC_PINS ? (u8)(io->s.redirtbl[pin] & IOAPIC_RTE_VECTOR) : 0;
	pthread_mutex_unlock(&io->lock);
	return v;
}

void ioapic_eoi(struct ioapic *io, u8 vector)
{
	pthread_mutex_lock(&io->lock);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		u64 *e = &io->s.redirtbl[pin];
		if ((*e & IOAPIC_RTE_VECTOR) != vector || !(*e & IOAPIC_RTE_LEVEL))
			continue;
		*e &= ~IOAPIC_RTE_REMOTE_IRR;
		/* Still asserted: the device wants service again. */
		if (io->s.irr & (1u << pin))
			service(io, pin);
	}
	pthread_mutex_unlock(&io->lock);
}

static u32 read_indirect(struct ioapic *io)
{
	u32 sel = io->s.ioregsel;
	switch (sel) {
	case IDX_ID:
	case IDX_ARB: /* arbitration ID loads from the APIC ID */
		return (io->s.id & 0xf) << 24;
	case IDX_VERSION:
		return (IOAPIC_PINS - 1) << 16 | IOAPIC_VERSION;
	default:
		if (sel >= IDX_REDTBL && (sel - IDX_REDTBL) / 2 < IOAPIC_PINS) {
			u64 e = io->s.redirtbl[(sel - IDX_REDTBL) / 2];
			return (sel & 1) ? (u32)(e >> 32) : (u32)e;
		}
		return 0xffffffff;
	}
}

static void write_indirect(struct ioapic *io, u32 val)
{
	u32 sel = io->s.ioregsel;
	if (sel == IDX_ID) {
		io->s.id = (val >> 24) & 0xf;
		return;
	}
	if (sel < IDX_REDTBL || (sel - IDX_REDTBL) / 2 >= IOAPIC_PINS)
		return; /* version, arbitration and the rest are read-only */
	unsigned pin = (sel - IDX_REDTBL) / 2;
	u64 *e = &io->s.redirtbl[pin];
	if (sel & 1) {
		*e = (*e & 0xffffffffULL) | (u64)val << 32;
		return;
	}
	*e = (*e & (~0xffffffffULL | RTE_RO)) | (val & ~RTE_RO);
	/*
	 * Remote IRR is undefined for edge entries; clear it when an entry
	 * turns edge so a later switch back to level does not start blocked
	 * (Linux does this dance to clear a stuck Remote IRR, as KVM notes).
	 */
	if (!(*e & IOAPIC_RTE_LEVEL))
		*e &= ~IOAPIC_RTE_REMOTE_IRR;
	/* Unmasking an asserted level pin sends it now. */
	if ((*e & IOAPIC_RTE_LEVEL) && (io->s.irr & (1u << pin)))
		service(io, pin);
}

/*
 * The bus range stays where ioapic_register put it, but a restored state
 * may carry another base_address; like KVM, the registers then answer only
 * inside [base_address, +0x100) and the rest of the range exits.
 */
static bool in_window(const struct ioapic *io, u64 addr)
{
	return addr >= io->s.base_address && addr - io->s.base_address < IOAPIC_SIZE;
}

/* One register access; other offsets in the window read 0, ignore writes. */
static bool mmio(struct hw_dev *dev, u64 addr, u64 *v, bool write)
{
	struct ioapic *io = hw_container_of(dev, struct ioapic, dev);
	pthread_mutex_lock(&io->lock);
	bool claimed = in_window(io, addr);
	u64 off = claimed ? addr - io->s.base_address : ~0ULL;
	if (off == REG_SELECT && write)
		io->s.ioregsel = (u8)*v;
	else if (off == REG_SELECT)
		*v = io->s.ioregsel;
	else if (off == REG_WINDOW && write)
		write_indirect(io, (u32)*v);
	else if (off == REG_WINDOW)
		*v = read_indirect(io);
	pthread_mutex_unlock(&io->lock);
	return claimed;
}

static bool ioapic_read(struct hw_dev *dev, u64 addr, u32 len, void *data)
{
	u64 v = 0;
	if (!mmio(dev, addr, &v, false))
		return false;
	memcpy(data, &v, len > 8 ? 8 : len);
	return true;
}

static bool ioapic_write(struct hw_dev *dev, u64 addr, u32 len, const void *data)
{
	u64 v = 0;
	memcpy(&v, data, len > 8 ? 8 : len);
	return mmio(dev, addr, &v, true);
}

/* RESET#: every entry masked, everything else zero (datasheet 3.2). */
static void ioapic_reset(struct hw_dev *dev)
{
	struct ioapic *io = hw_container_of(dev, struct ioapic, dev);
	pthread_mutex_lock(&io->lock);
	memset(&io->s, 0, sizeof(io->s));
	io->irr_delivered = 0;
	io->s.base_address = IOAPIC_BASE;
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		io->s.redirtbl[i] = IOAPIC_RTE_MASK;
	pthread_mutex_unlock(&io->lock);
}

static void ioapic_save(struct hw_dev *dev, void *state)
{
	struct ioapic *io = hw_container_of(dev, struct ioapic, dev);
	pthread_mutex_lock(&io->lock);
	struct ioapic_state *st = state;
	*st = io->s;
	st->irr &= ~io->irr_delivered;
	pthread_mutex_unlock(&io->lock);
}

static int ioapic_restore(struct hw_dev *dev, const void *state)
{
	struct ioapic *io = hw_container_of(dev, struct ioapic, dev);
	const struct ioapic_state *st = state;
	pthread_mutex_lock(&io->lock);
	io->s = *st;
	/* Inputs found asserted are presented again, as KVM's
	 * kvm_set_ioapic does, so a pending level pin gets its message. */
	io->s.irr = 0;
	io->irr_delivered = 0;
	pthread_mutex_unlock(&io->lock);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		if (st->irr & (1u << pin))
			ioapic_set_irq(io, pin, 1);
	return 0;
}

const struct hw_dev_ops ioapic_ops = {
	.name = "ioapic",
	.read = ioapic_read,
	.write = ioapic_write,
	.reset = ioapic_reset,
	.save = ioapic_save,
	.restore = ioapic_restore,
};

void ioapic_init(struct ioapic *io, int (*deliver)(void *opaque, const struct ioapic_irq *irq),
		 void *opaque)
{
	memset(io, 0, sizeof(*io));
	io->dev.ops = &ioapic_ops;
	pthread_mutex_init(&io->lock, NULL);
	io->deliver = deliver;
	io->opaque = opaque;
	ioapic_reset(&io->dev);
}

void ioapic_destroy(struct ioapic *io)
{
	pthread_mutex_destroy(&io->lock);
}

int ioapic_register(struct ioapic *io, struct hw_bus *mmio)
{
	return hw_bus_register(mmio, io->s.base_address, IOAPIC_SIZE, &io->dev);
}
