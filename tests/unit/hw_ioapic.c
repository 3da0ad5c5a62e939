/*
 * Unit tests of the I/O APIC (src/hw/ioapic.c) through the MMIO bus, the
 * way Linux's io_apic.c and SeaBIOS's ioapic_setup() program it.
 * Expectations come from the 82093AA datasheet (290566), section 3.
 */
#include <linux/kvm.h>
#include <string.h>

#include "hw/ioapic.h"
#include "unit_t.h"

static struct hw_bus mmio;
static struct ioapic io;
static struct ioapic_irq last;
static int sent, accept = 1;

static int deliver_cb(void *opaque, const struct ioapic_irq *irq)
{
	(void)opaque;
	last = *irq;
	sent++;
	return accept;
}

static void wr(u32 reg, u32 v)
{
	hw_bus_write(&mmio, IOAPIC_BASE, 4, &reg);
	hw_bus_write(&mmio, IOAPIC_BASE + 0x10, 4, &v);
}

static u32 rd(u32 reg)
{
	u32 v = 0;
	hw_bus_write(&mmio, IOAPIC_BASE, 4, &reg);
	hw_bus_read(&mmio, IOAPIC_BASE + 0x10, 4, &v);
	return v;
}

static void set_rte(unsigned pin, u64 e)
{
	/* Linux ioapic_write_entry: high dword first, then low. */
	wr(0x11 + 2 * pin, (u32)(e >> 32));
	wr(0x10 + 2 * pin, (u32)e);
}

static void test_registers(void)
{
	EQ(rd(0x01), 0x00170011, "version: 24 entries (max index 0x17), version 0x11");
	EQ(rd(0x00), 0, "ID 0 after reset");
	wr(0x00, 0x0a000000);
	EQ(rd(0x00), 0x0a000000, "ID bits 27:24 written");
	wr(0x00, 0xf5ffffff);
	EQ(rd(0x00), 0x05000000, "only bits 27:24 of the ID are kept");
	EQ(rd(0x02), 0x05000000, "arbitration ID follows the ID");
	wr(0x01, 0);
	EQ(rd(0x01), 0x00170011, "version is read-only");
	unsigned bad = 0;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		bad += rd(0x10 + 2 * pin) != 0x00010000 || rd(0x11 + 2 * pin) != 0;
	EQ(bad, 0, "reset masks all 24 entries, all else zero");
	EQ(rd(0x40), 0xffffffff, "past the last entry (0x3f) reads all ones");
	EQ(rd(0x05), 0xffffffff, "unknown register reads all ones");
	u32 sel = 0x1234;
	hw_bus_write(&mmio, IOAPIC_BASE, 4, &sel);
	u32 back = 0;
	hw_bus_read(&mmio, IOAPIC_BASE, 4, &back);
	EQ(back, 0x34, "IOREGSEL keeps 8 bits");
	OK(!hw_bus_read(&mmio, IOAPIC_BASE + IOAPIC_SIZE, 4, &back), "past the window is an exit");
	set_rte(3, 0x5a00000000000234ULL | IOAPIC_RTE_MASK | IOAPIC_RTE_DELIVS | IOAPIC_RTE_REMOTE_IRR);
	EQ(rd(0x16), 0x00010234, "delivery status and Remote IRR ignore writes");
	EQ(rd(0x17), 0x5a000000, "destination in the high dword");
}

static void test_edge(void)
{
	/* ISA IRQ 4 as SeaBIOS/Linux set it: edge, fixed, physical, CPU 1. */
	set_rte(4, 0x0100000000000031ULL);
	sent = 0;
	ioapic_set_irq(&io, 4, 1);
	EQ(sent, 1, "edge: one message on the rising input");
	OK(last.vector == 0x31 && last.delivery_mode == 0 && last.dest_mode == 0 &&
	   last.dest == 1 && !last.level, "message fields from the entry");
	ioapic_set_irq(&io, 4, 1);
	EQ(sent, 1, "held high: no second message");
	ioapic_set_irq(&io, 4, 0);
	ioapic_set_irq(&io, 4, 1);
	EQ(sent, 2, "a new edge, a new message");
	ioapic_set_irq(&io, 4, 0);
	EQ(rd(0x18) & IOAPIC_RTE_REMOTE_IRR, 0, "edge entries never set Remote IRR");

	set_rte(4, 0x0100000000000031ULL | IOAPIC_RTE_MASK);
	ioapic_set_irq(&io, 4, 1);
	ioapic_set_irq(&io, 4, 0);
	EQ(sent, 2, "masked edge: no message");
	set_rte(4, 0x0100000000000031ULL);
	EQ(sent, 2, "an edge seen while masked is dropped, not held");

	set_rte(5, 0xff00000000000000ULL | IOAPIC_RTE_DESTMODE | (1u << 8) | 0x40);
	ioapic_set_irq(&io, 5, 1);
	OK(last.delivery_mode == 1 && last.dest_mode == 1 && last.dest == 0xff,
	   "lowest priority, logical, broadcast destination");
	ioapic_set_irq(&io, 5, 0);
}

static void test_level(void)
{
	/* A PCI INTx line: level, active low, vector 0x41. */
	u64 e = 0x0000000000000041ULL | IOAPIC_RTE_LEVEL | IOAPIC_RTE_POLARITY;
	set_rte(9, e);
	sent = 0;
	ioapic_set_irq(&io, 9, 1);
	EQ(sent, 1, "level: message when asserted");
	OK(last.level && last.vector == 0x41, "level trigger in the message");
	OK(rd(0x22) & IOAPIC_RTE_REMOTE_IRR, "Remote IRR set on acceptance");
	ioapic_set_irq(&io, 9, 1);
	EQ(sent, 1, "Remote IRR holds off a second message");
	ioapic_eoi(&io, 0x40);
	EQ(sent, 1, "EOI for another vector does nothing");
	ioapic_eoi(&io, 0x41);
	EQ(sent, 2, "EOI with the line still asserted: sent again");
	OK(rd(0x22) & IOAPIC_RTE_REMOTE_IRR, "Remote IRR set again");
	ioapic_set_irq(&io, 9, 0);
	ioapic_eoi(&io, 0x41);
	EQ(sent, 2, "EOI after deassert: nothing more");
	EQ(rd(0x22) & IOAPIC_RTE_REMOTE_IRR, 0, "Remote IRR clear");

	set_rte(9, e | IOAPIC_RTE_MASK);
	ioapic_set_irq(&io, 9, 1);
	EQ(sent, 2, "masked level pin: held");
	set_rte(9, e);
	EQ(sent, 3, "unmasking an asserted level pin sends it");
	ioapic_set_irq(&io, 9, 0);

	/* Linux's clear_IO_APIC_pin/eoi dance: edge then back to level. */
	OK(rd(0x22) & IOAPIC_RTE_REMOTE_IRR, "Remote IRR stuck without an EOI");
	set_rte(9, 0x41 | IOAPIC_RTE_MASK);
	EQ(rd(0x22) & IOAPIC_RTE_REMOTE_IRR, 0, "switching to edge clears Remote IRR");
	set_rte(9, e);

	accept = 0;
	ioapic_set_irq(&io, 9, 1);
	EQ(sent, 4, "message sent");
	EQ(rd(0x22) & IOAPIC_RTE_REMOTE_IRR, 0, "no APIC accepted: Remote IRR stays clear");
	accept = 1;
	ioapic_set_irq(&io, 9, 0);

	/* Two level pins sharing a vector are both released by one EOI. */
	set_rte(10, e);
	set_rte(11, e);
	ioapic_set_irq(&io, 10, 1);
	ioapic_set_irq(&io, 11, 1);
	ioapic_set_irq(&io, 10, 0);
	ioapic_set_irq(&io, 11, 0);
	ioapic_eoi(&io, 0x41);
	OK(!(rd(0x24) & IOAPIC_RTE_REMOTE_IRR) && !(rd(0x26) & IOAPIC_RTE_REMOTE_IRR),
	   "one EOI clears Remote IRR on every pin with that vector");
	ioapic_set_irq(&io, 23, 1);
	ioapic_set_irq(&io, 24, 1); /* no such pin: ignored */
	ioapic_set_irq(&io, 23, 0);
}

static void test_edge_state(void)
{
	struct ioapic_state st;
	set_rte(6, 0x36);
	set_rte(7, 0x37 | IOAPIC_RTE_MASK);
	ioapic_set_irq(&io, 6, 1);
	ioapic_set_irq(&io, 7, 1);
	ioapic_ops.save(&io.dev, &st);
	EQ(st.irr & 0xc0, 0x80, "saved irr leaves out the edge already sent, keeps the masked one");
	sent = 0;
	st.redirtbl[7] &= ~IOAPIC_RTE_MASK;
	ioapic_ops.restore(&io.dev, &st);
	OK(sent == 1 && last.vector == 0x37, "restore sends only the edge never sent");
	ioapic_set_irq(&io, 6, 0);
	ioapic_set_irq(&io, 7, 0);
}

static void test_state(void)
{
	struct ioapic_state st, st2;
	u64 e = 0x51 | IOAPIC_RTE_LEVEL;
	set_rte(12, e);
	ioapic_set_irq(&io, 12, 1);
	ioapic_ops.save(&io.dev, &st);
	OK(st.irr & (1u << 12), "irr holds the asserted input");
	EQ(st.base_address, IOAPIC_BASE, "base address");
	EQ(st.redirtbl[12], e | IOAPIC_RTE_REMOTE_IRR, "entry with Remote IRR");
	ioapic_ops.reset(&io.dev);
	EQ(rd(0x28), 0x00010000, "reset masks the entry again");
	sent = 0;
	EQ(ioapic_ops.restore(&io.dev, &st), 0, "restore");
	ioapic_ops.save(&io.dev, &st2);
	OK(!memcmp(&st, &st2, sizeof(st)), "save after restore is identical");
	EQ(sent, 0, "restored Remote IRR holds the asserted pin");
	ioapic_eoi(&io, 0x51);
	EQ(sent, 1, "EOI after restore re-sends the asserted pin");

	st.redirtbl[12] = e;
	sent = 0;
	ioapic_ops.restore(&io.dev, &st);
	EQ(sent, 1, "restoring an asserted, unblocked level pin sends it");
	st.base_address = IOAPIC_BASE + 0x1000;
	ioapic_ops.restore(&io.dev, &st);
	u32 v;
	OK(!hw_bus_read(&mmio, IOAPIC_BASE, 4, &v), "a moved base_address leaves the old window");

	OK(sizeof(struct ioapic_state) == sizeof(struct kvm_ioapic_state) &&
	   SAME_FIELD(struct ioapic_state, struct kvm_ioapic_state, base_address) &&
	   SAME_FIELD(struct ioapic_state, struct kvm_ioapic_state, ioregsel) &&
	   SAME_FIELD(struct ioapic_state, struct kvm_ioapic_state, id) &&
	   SAME_FIELD(struct ioapic_state, struct kvm_ioapic_state, irr) &&
	   SAME_FIELD(struct ioapic_state, struct kvm_ioapic_state, redirtbl),
	   "state is struct kvm_ioapic_state field for field");
}

/* KVM_IRQ_LINE_STATUS values (KVM's ioapic_set_irq): what delivery
 * reported, 0 for an edge already high or a level pin held by Remote IRR,
 * -1 for a masked pin, 1 for a de-assert. */
static void test_line_status(void)
{
	io.dev.ops->reset(&io.dev); /* the window back at its default base */
	accept = 1;
	set_rte(7, 0x37);			  /* edge, vector 0x37 */
	EQ(ioapic_set_irq(&io, 7, 1), 1, "status: edge delivered to one APIC");
	EQ(ioapic_set_irq(&io, 7, 1), 0, "status: edge already high 0");
	EQ(ioapic_set_irq(&io, 7, 0), 1, "status: de-assert 1");
	set_rte(7, 0x37 | IOAPIC_RTE_MASK);
	EQ(ioapic_set_irq(&io, 7, 1), -1, "status: masked -1");
	ioapic_set_irq(&io, 7, 0);
	set_rte(7, 0x37 | IOAPIC_RTE_LEVEL);
	EQ(ioapic_set_irq(&io, 7, 1), 1, "status: level delivered");
	EQ(ioapic_set_irq(&io, 7, 1), 0, "status: level held by Remote IRR 0");
	EQ(ioapic_level_pins(&io, 0x37), 1u << 7, "level pins of vector 0x37");
	EQ(ioapic_pin_vector(&io, 7), 0x37, "pin 7's vector");
	ioapic_set_irq(&io, 7, 0);
	ioapic_eoi(&io, 0x37);
	set_rte(7, IOAPIC_RTE_MASK);
}

int main(void)
{
	hw_bus_init(&mmio);
	ioapic_init(&io, deliver_cb, NULL);
	EQ(ioapic_register(&io, &mmio), 0, "register at 0xfec00000");
	test_registers();
	test_edge();
	test_level();
	test_edge_state();
	test_state();
	test_line_status();
	ioapic_destroy(&io);
	hw_bus_destroy(&mmio);
	return done();
}
