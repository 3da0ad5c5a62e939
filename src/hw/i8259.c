/*
 * Intel 8259A programmable interrupt controller pair with the PIIX ELCR.
 * Behaviour follows the 8259A datasheet (Intel 231468); the register
 * image is KVM's struct kvm_pic_state so KVM_GET/SET_IRQCHIP can copy it.
 */
#include <errno.h>
#include <string.h>

#include "hw/i8259.h"

/*
 * Bits of the ELCR that may be set: IRQ 0, 1, 2 (timer, keyboard, cascade)
 * and 8, 13 (RTC, FPU) are edge-only on the PIIX, as KVM masks them too.
 */
static const u8 elcr_mask[2] = {0xf8, 0xde};

/* Priority (0 highest) of the best bit in mask, 8 if none. */
static int priority_of(const struct i8259_chip_state *s, u8 mask)
{
	if (!mask)
		return 8;
	int p = 0;
	while (!(mask & (1u << ((p + s->priority_add) & 7))))
		p++;
	return p;
}

/* The IR the chip would signal now, or -1. */
static int pending_irq(const struct i8259_chip_state *s, bool master)
{
	int p = priority_of(s, s->irr & ~s->imr);
	if (p == 8)
		return -1;
	u8 in_service = s->isr;
	/* Special mask mode: masked IS bits no longer inhibit lower levels. */
	if (s->special_mask)
		in_service &= ~s->imr;
	/* Special fully nested mode: a slave in service does not block more
	 * requests from the same slave (datasheet, "Special Fully Nest Mode"). */
	if (s->special_fully_nested_mode && master)
		in_service &= ~(1u << 2);
	if (p < priority_of(s, in_service))
		return (p + s->priority_add) & 7;
	return -1;
}

/* An input changed: ELCR picks level or edge sensing. */
static void chip_input(struct i8259_chip_state *s, int irq, int level)
{
	u8 m = 1u << irq;
	if (s->elcr & m) {
		if (level) {
			s->irr |= m;
			s->last_irr |= m;
		} else {
			s->irr &= ~m;
			s->last_irr &= ~m;
		}
	} else if (level) {
		if (!(s->last_irr & m))
			s->irr |= m;
		s->last_irr |= m;
	} else {
		s->last_irr &= ~m;
	}
}

/* Propagate the slave's INT to master IR2 and the master's to INTR. */
static void update(struct i8259 *pic)
{
	chip_input(&pic->chip[0], 2, pending_irq(&pic->chip[1], false) >= 0);
	bool out = pending_irq(&pic->chip[0], true) >= 0;
	if (out != pic->output) {
		pic->output = out;
		if (pic->raise)
			pic->raise(pic->opaque, out);
	}
}

/* IS bits `bits` of one chip ended; the master's cascade input is not
 * reported (pic_clear_isr's irq != 2). */
static void note_eoi(struct i8259 *pic, bool slave, u8 bits)
{
	if (!slave)
		bits &= (u8)~BIT(2);
	pic->eoi_pending |= (u16)(bits << (slave ? 8 : 0));
}

/* The EOIs noted so far (lock held); report_eoi() them after the unlock. */
static u16 take_eoi(struct i8259 *pic)
{
	u16 irqs = pic->eoi_pending;
	pic->eoi_pending = 0;
	return irqs;
}

static void report_eoi(struct i8259 *pic, u16 irqs)
{
	for (unsigned irq = 0; irqs && pic->eoi; irq++, irqs >>= 1)
		if (irqs & 1)
			pic->eoi(pic->opaque, irq);
}

/* The INTA pulses for IR irq of one chip. */
static void chip_ack(struct i8259_chip_state *s, int irq)
{
	if (s->auto_eoi) {
		if (s->rotate_on_auto_eoi)
			s->priority_add = (irq + 1) & 7;
	} else {
		s->isr |= 1u << irq;
	}
	/* A level-sensitive request stays in IRR while the input is high. */
	if (!(s->elcr & (1u << irq)))
		s->irr &= ~(1u << irq);
}

int i8259_ack(struct i8259 *pic)
{
	int irq;
	return i8259_inta(pic, &irq);
}

int i8259_inta(struct i8259 *pic, int *acked)
{
	pthread_mutex_lock(&pic->lock);
	struct i8259_chip_state *m = &pic->chip[0], *sl = &pic->chip[1];
	int irq = pending_irq(m, true), vector;
	*acked = irq == 2 ? -1 : irq;
	if (irq < 0) {
		/* The request went away before INTA: IR7's vector, no IS bit
		 * (datasheet, "Interrupt Sequence"). */
		vector = m->irq_base + 7;
	} else {
		chip_ack(m, irq);
		if (m->auto_eoi)
			note_eoi(pic, false, (u8)BIT(irq));
		if (irq == 2) {
			int irq2 = pending_irq(sl, false);
			if (irq2 >= 0) {
				chip_ack(sl, irq2);
				if (sl->auto_eoi)
					note_eoi(pic, true, (u8)BIT(irq2));
				vector = sl->irq_base + irq2;
				*acked = 8 + irq2;
			} else {
				vector = sl->irq_base + 7; /* slave spurious */
			}
		} else {
			vector = m->irq_base + irq;
		}
	}
	update(pic);
	u16 eoi = take_eoi(pic);
	pthread_mutex_unlock(&pic->lock);
	report_eoi(pic, eoi);
	return vector;
}

bool i8259_output(struct i8259 *pic)
{
	pthread_mutex_lock(&pic->lock);
	bool out = pic->output;
	pthread_mutex_unlock(&pic->lock);
	return out;
}

int i8259_set_irq(struct i8259 *pic, unsigned pin, int level)
{
	if (pin >= 16)
		return -1;
	pthread_mutex_lock(&pic->lock);
	struct i8259_chip_state *s = &pic->chip[pin >> 3];
	u8 m = 1u << (pin & 7);
	/* KVM_IRQ_LINE_STATUS: a request that finds its IRR bit already set
	 * coalesces (level input, or a new edge), a masked one says so (KVM's
	 * pic_set_irq1). */
	bool sensed = level && ((s->elcr & m) || !(s->last_irr & m));
	int r = sensed && (s->irr & m) ? 0 : 1;
	chip_input(s, pin & 7, !!level);
	if (s->imr & m)
		r = -1;
	update(pic);
	pthread_mutex_unlock(&pic->lock);
	return r;
}

/*
 * ICW1 resets exactly what the datasheet lists ("Initialization Command
 * Word 1", a-f): the edge sense latches, the IMR, the priority rotation,
 * special mask mode and the read register (IRR); ICW4's functions only if
 * no ICW4 follows.  IRR, ISR and the vector base are left alone, as KVM
 * leaves them.
 */
static void chip_icw1(struct i8259_chip_state *s, u8 val)
{
	s->init4 = val & 1;
	s->last_irr = 0;
	s->imr = 0;
	s->priority_add = 0;
	s->special_mask = 0;
	s->read_reg_select = 0;
	if (!s->init4) {
		s->special_fully_nested_mode = 0;
		s->auto_eoi = 0;
	}
	s->init_state = 1;
}

static void ocw2(struct i8259_chip_state *s, u8 val)
{
	int irq;
	switch (val >> 5) {
	case 0: /* rotate in automatic EOI mode: clear */
	case 4: /* ... set */
		s->rotate_on_auto_eoi = val >> 7;
		break;
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI */
		irq = priority_of(s, s->isr);
		if (irq == 8)
			break;
		irq = (irq + s->priority_add) & 7;
		s->isr &= ~(1u << irq);
		if (val >> 5 == 5)
			s->priority_add = (irq + 1) & 7;
		break;
	case 3: /* specific EOI */
		s->isr &= ~(1u << (val & 7));
		break;
	case 6: /* set priority: IR L2-L0 becomes the lowest */
		s->priority_add = (val + 1) & 7;
		break;
	case 7: /* rotate on specific EOI */
		s->isr &= ~(1u << (val & 7));
		s->priority_add = (val + 1) & 7;
		break;
	default: /* 2: no operation */
		break;
	}
}

static void chip_write(struct i8259_chip_state *s, bool a0, u8 val)
{
	if (!a0) {
		if (val & 0x10) {
			/*
			 * ICW1.  Single mode (SNGL) and level-triggered mode
			 * (LTIM) are not kept, as in KVM: PCs cascade and use
			 * the ELCR for level sensing.
			 */
			chip_icw1(s, val);
		} else if (val & 0x08) {
			/* OCW3 */
			if (val & 0x04)
				s->poll = 1;
			if (val & 0x02)
				s->read_reg_select = val & 1;
			if (val & 0x40)
				s->special_mask = (val >> 5) & 1;
		} else {
			ocw2(s, val);
		}
		return;
	}
	switch (s->init_state) {
	case 0: /* OCW1 */
		s->imr = val;
		break;
	case 1: /* ICW2: the low three vector bits come from the IR number */
		s->irq_base = val & 0xf8;
		s->init_state = 2;
		break;
	case 2: /* ICW3: cascade wiring, fixed on a PC */
		s->init_state = s->init4 ? 3 : 0;
		break;
	case 3: /* ICW4 */
		s->special_fully_nested_mode = (val >> 4) & 1;
		s->auto_eoi = (val >> 1) & 1;
		s->init_state = 0;
		break;
	}
}

/*
 * Poll command: the read is an interrupt acknowledge that sets the IS bit
 * and returns 0x80 | level, or 0 with no request (datasheet, "Poll
 * Command").
 */
static u8 chip_poll(struct i8259_chip_state *s, bool master)
{
	s->poll = 0;
	int irq = pending_irq(s, master);
	if (irq < 0)
		return 0;
	chip_ack(s, irq);
	return 0x80 | irq;
}

static u8 port_read(struct i8259 *pic, u16 port)
{
	if ((port & ~1) == I8259_ELCR_BASE)
		return pic->chip[port & 1].elcr;
	bool slave = (port & ~1) == I8259_SLAVE_BASE;
	struct i8259_chip_state *s = &pic->chip[slave];
	if (s->poll) {
		u8 v = chip_poll(s, !slave);
		update(pic);
		return v;
	}
	if (port & 1)
		return s->imr;
	return s->read_reg_select ? s->isr : s->irr;
}

static void port_write(struct i8259 *pic, u16 port, u8 val)
{
	if ((port & ~1) == I8259_ELCR_BASE) {
		struct i8259_chip_state *s = &pic->chip[port & 1];
		s->elcr = val & s->elcr_mask;
		return;
	}
	bool slave = (port & ~1) == I8259_SLAVE_BASE;
	struct i8259_chip_state *s = &pic->chip[slave];
	u8 isr = s->isr;
	chip_write(s, port & 1, val);
	/* OCW2 (A0 = 0, D4 = D3 = 0): the IS bits an EOI command cleared. */
	if (!(port & 1) && !(val & 0x18))
		note_eoi(pic, slave, isr & ~s->isr);
	update(pic);
}


/* Byte registers: a wider access is taken byte by byte, as on ISA. */
static bool pic_read(struct hw_dev *dev, u64 addr, u32 len, void *data)
{
	struct i8259 *pic = hw_container_of(dev, struct i8259, dev);
	u8 *out = data;
	pthread_mutex_lock(&pic->lock);
	for (u32 i = 0; i < len; i++)
		out[i] = port_read(pic, (u16)(addr + i));
	pthread_mutex_unlock(&pic->lock);
	return true;
}

static bool pic_write(struct hw_dev *dev, u64 addr, u32 len, const void *data)
{
	struct i8259 *pic = hw_container_of(dev, struct i8259, dev);
	const u8 *in = data;
	pthread_mutex_lock(&pic->lock);
	for (u32 i = 0; i < len; i++)
		port_write(pic, (u16)(addr + i), in[i]);
	u16 eoi = take_eoi(pic);
	pthread_mutex_unlock(&pic->lock);
	report_eoi(pic, eoi);
	return true;
}

static void pic_reset(struct hw_dev *dev)
{
	struct i8259 *pic = hw_container_of(dev, struct i8259, dev);
	pthread_mutex_lock(&pic->lock);
	for (int i = 0; i < 2; i++) {
		memset(&pic->chip[i], 0, sizeof(pic->chip[i]));
		pic->chip[i].elcr_mask = elcr_mask[i];
	}
	update(pic);
	pthread_mutex_unlock(&pic->lock);
}

static void pic_save(struct hw_dev *dev, void *state)
{
	struct i8259 *pic = hw_container_of(dev, struct i8259, dev);
	struct i8259_state *st = state;
	pthread_mutex_lock(&pic->lock);
	memcpy(st->chip, pic->chip, sizeof(st->chip));
	pthread_mutex_unlock(&pic->lock);
}

static int pic_restore(struct hw_dev *dev, const void *state)
{
	struct i8259 *pic = hw_container_of(dev, struct i8259, dev);
	const struct i8259_state *st = state;
	pthread_mutex_lock(&pic->lock);
	memcpy(pic->chip, st->chip, sizeof(pic->chip));
	update(pic);
	pthread_mutex_unlock(&pic->lock);
	return 0;
}

const struct hw_dev_ops i8259_ops = {
	.name = "i8259",
	.read = pic_read,
	.write = pic_write,
	.reset = pic_reset,
	.save = pic_save,
	.restore = pic_restore,
};

void i8259_init(struct i8259 *pic, void (*raise)(void *opaque, bool level), void *opaque)
{
	memset(pic, 0, sizeof(*pic));
	pic->dev.ops = &i8259_ops;
	pthread_mutex_init(&pic->lock, NULL);
	pic->raise = raise;
	pic->opaque = opaque;
	pic_reset(&pic->dev);
}

void i8259_set_eoi_cb(struct i8259 *pic, void (*eoi)(void *opaque, unsigned irq))
{
	pic->eoi = eoi;
}

void i8259_destroy(struct i8259 *pic)
{
	pthread_mutex_destroy(&pic->lock);
}

int i8259_register(struct i8259 *pic, struct hw_bus *pio)
{
	static const u16 bases[] = {I8259_MASTER_BASE, I8259_SLAVE_BASE, I8259_ELCR_BASE};
	for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
		int r = hw_bus_register(pio, bases[i], 2, &pic->dev);
		if (r) {
			hw_bus_unregister(pio, &pic->dev);
			return r;
		}
	}
	return 0;
}
