/*
 * Unit tests of the 8259A pair (src/hw/i8259.c), programmed through the
 * PIO bus the way Linux's init_8259A() and SeaBIOS's pic_setup() do.
 * Expectations come from the Intel 8259A datasheet (231468) and the PIIX
 * ELCR description, not from the model.
 */
#include <linux/kvm.h>
#include <string.h>

#include "hw/i8259.h"
#include "unit_t.h"

static struct hw_bus pio;
static struct i8259 pic;
static int intr, raises;

static void raise_cb(void *opaque, bool level)
{
	(void)opaque;
	intr = level;
	raises++;
}

static void out8(u16 port, u8 v) { hw_bus_write(&pio, port, 1, &v); }
static u8 in8(u16 port)
{
	u8 v = 0;
	hw_bus_read(&pio, port, 1, &v);
	return v;
}

/* Linux arch/x86/kernel/i8259.c init_8259A(auto_eoi): the ICW order. */
static void linux_init(int auto_eoi)
{
	out8(0x21, 0xff);
	out8(0xa1, 0xff);
	out8(0x20, 0x11);		  /* ICW1: edge, cascade, ICW4 */
	out8(0x21, 0x20);		  /* ICW2: vectors 0x20-0x27 */
	out8(0x21, 1u << 2);		  /* ICW3: slave on IR2 */
	out8(0x21, auto_eoi ? 0x03 : 0x01); /* ICW4: 8086 mode */
	out8(0xa0, 0x11);
	out8(0xa1, 0x28);
	out8(0xa1, 2);
	out8(0xa1, 0x01);
	out8(0x21, 0);
	out8(0xa1, 0);
}

static u8 read_isr(u16 cmd) { out8(cmd, 0x0b); return in8(cmd); }
static u8 read_irr(u16 cmd) { out8(cmd, 0x0a); return in8(cmd); }

static void pulse(unsigned pin)
{
	i8259_set_irq(&pic, pin, 1);
	i8259_set_irq(&pic, pin, 0);
}

static void test_init(void)
{
	linux_init(0);
	struct i8259_state st;
	i8259_ops.save(&pic.dev, &st);
	EQ(st.chip[0].irq_base, 0x20, "ICW2 sets the master vector base");
	EQ(st.chip[1].irq_base, 0x28, "ICW2 sets the slave vector base");
	OK(st.chip[0].init_state == 0 && st.chip[1].init_state == 0, "ICW4 ends initialisation");
	EQ(in8(0x21), 0, "OCW1 reads back from the odd port");
	out8(0x21, 0xfb);
	EQ(in8(0x21), 0xfb, "IMR write and read");
	out8(0x21, 0);
	OK(!intr, "no request, INTR low");
	out8(0x20, 0x10); /* ICW1 with IC4 clear: three words only */
	out8(0x21, 0x40);
	out8(0x21, 0x04);
	i8259_ops.save(&pic.dev, &st);
	OK(st.chip[0].init_state == 0 && st.chip[0].irq_base == 0x40,
	   "without IC4 the sequence ends after ICW3");
	out8(0x20, 0x11);
	out8(0x21, 0x25);
	i8259_ops.save(&pic.dev, &st);
	EQ(st.chip[0].irq_base, 0x20, "ICW2 bits 2-0 are ignored in 8086 mode");
	OK(st.chip[0].imr == 0 && st.chip[0].init_state == 2, "ICW1 clears the IMR");
	out8(0x21, 4);
	out8(0x21, 1);
}

static void test_priority(void)
{
	linux_init(0);
	pulse(1);
	OK(intr, "edge on IR1 raises INTR");
	EQ(read_irr(0x20), 0x02, "IRR bit 1");
	EQ(i8259_ack(&pic), 0x21, "INTA returns base + 1");
	EQ(read_isr(0x20), 0x02, "ISR bit 1 set by INTA");
	EQ(read_irr(0x20), 0, "edge request leaves IRR at INTA");
	OK(!intr, "INTR drops");
	pulse(3);
	OK(!intr, "IR3 waits while higher-priority IR1 is in service");
	pulse(0);
	OK(intr, "IR0 preempts IR1");
	EQ(i8259_ack(&pic), 0x20, "vector 0x20");
	EQ(read_isr(0x20), 0x03, "two levels in service");
	out8(0x20, 0x20); /* non-specific EOI */
	EQ(read_isr(0x20), 0x02, "non-specific EOI ends the highest level (IR0)");
	OK(!intr, "IR3 still blocked by IR1");
	out8(0x20, 0x61); /* specific EOI for IR1 */
	EQ(read_isr(0x20), 0, "specific EOI for IR1");
	OK(intr, "IR3 now signalled");
	EQ(i8259_ack(&pic), 0x23, "vector 0x23");
	out8(0x20, 0x20);

	/* Edge sensing: a held-high input requests once. */
	i8259_set_irq(&pic, 4, 1);
	EQ(i8259_ack(&pic), 0x24, "edge IR4");
	out8(0x20, 0x20);
	i8259_set_irq(&pic, 4, 1);
	OK(!intr, "input still high: no new edge");
	i8259_set_irq(&pic, 4, 0);
	i8259_set_irq(&pic, 4, 1);
	OK(intr, "low then high: new request");
	EQ(i8259_ack(&pic), 0x24, "vector again");
	out8(0x20, 0x20);
	i8259_set_irq(&pic, 4, 0);

	/* Masking. */
	out8(0x21, 0x02);
	pulse(1);
	OK(!intr, "masked IR1 does not raise INTR");
	EQ(read_irr(0x20), 0x02, "but sits in the IRR");
	out8(0x21, 0);
	OK(intr, "unmasking delivers it");
	EQ(i8259_ack(&pic), 0x21, "vector 0x21");
	out8(0x20, 0x20);

	pulse(6);
	EQ(i8259_ack(&pic), 0x26, "IR6 in service");
	linux_init(0);
	EQ(read_isr(0x20), 0x40, "ICW1 leaves the ISR alone (not in its reset list)");
	out8(0x20, 0x20);
	EQ(read_isr(0x20), 0, "EOI after re-initialisation");
}

static void test_cascade_level(void)
{
	linux_init(0);
	out8(0x4d0, 0xff);
	EQ(in8(0x4d0), 0xf8, "ELCR1: IRQ 0-2 are edge only");
	out8(0x4d1, 0xff);
	EQ(in8(0x4d1), 0xde, "ELCR2: IRQ 8 and 13 are edge only");
	out8(0x4d0, 0);
	out8(0x4d1, 0x04); /* IRQ 10 level */

	i8259_set_irq(&pic, 10, 1);
	OK(intr, "slave IR2 (IRQ 10) cascades to master IR2");
	EQ(i8259_ack(&pic), 0x2a, "INTA returns the slave's vector");
	EQ(read_isr(0x20), 0x04, "master IS bit 2");
	EQ(read_isr(0xa0), 0x04, "slave IS bit 2");
	EQ(read_irr(0xa0), 0x04, "level request stays in the IRR after INTA");
	OK(!intr, "in service: no INTR");
	out8(0xa0, 0x20);
	out8(0x20, 0x20);
	OK(intr, "EOI while the level input is still high: requested again");
	EQ(i8259_ack(&pic), 0x2a, "same vector");
	i8259_set_irq(&pic, 10, 0);
	EQ(read_irr(0xa0), 0, "level input low clears the IRR");
	out8(0xa0, 0x20);
	out8(0x20, 0x20);
	OK(!intr, "nothing pending");

	/* Spurious: a level request that goes away before INTA. */
	out8(0x4d0, 0x08);
	i8259_set_irq(&pic, 3, 1);
	OK(intr, "level IR3 raises INTR");
	i8259_set_irq(&pic, 3, 0);
	OK(!intr, "and drops it when removed");
	EQ(i8259_ack(&pic), 0x27, "INTA without a request: IR7's vector (spurious)");
	EQ(read_isr(0x20), 0, "spurious IR7 sets no IS bit");

	/* The same on the slave: the master's edge-latched IR2 stays. */
	i8259_set_irq(&pic, 10, 1);
	i8259_set_irq(&pic, 10, 0);
	OK(intr, "master still holds the cascade edge");
	EQ(i8259_ack(&pic), 0x2f, "slave spurious: slave IR7 vector");
	EQ(read_isr(0xa0), 0, "no slave IS bit");
	EQ(read_isr(0x20), 0x04, "master IS bit 2 set by its own INTA");
	out8(0x20, 0x20);
	out8(0x4d0, 0);
	out8(0x4d1, 0);
}

static void test_modes(void)
{
	struct i8259_state st;

	linux_init(1);
	pulse(5);
	EQ(i8259_ack(&pic), 0x25, "AEOI: vector");
	EQ(read_isr(0x20), 0, "AEOI: no IS bit is left set");
	OK(!intr, "AEOI: nothing pending");

	linux_init(0);
	out8(0x20, 0xc3); /* set priority: IR3 lowest, IR4 highest */
	pulse(1);
	pulse(5);
	EQ(i8259_ack(&pic), 0x25, "after set priority IR5 beats IR1");
	out8(0x20, 0xa0); /* rotate on non-specific EOI */
	i8259_ops.save(&pic.dev, &st);
	EQ(st.chip[0].priority_add, 6, "rotation: IR5 becomes the lowest");
	EQ(read_isr(0x20), 0, "rotate EOI ended IR5");
	EQ(i8259_ack(&pic), 0x21, "then IR1");
	out8(0x20, 0xe1); /* rotate on specific EOI, IR1 */
	i8259_ops.save(&pic.dev, &st);
	OK(st.chip[0].priority_add == 2 && st.chip[0].isr == 0,
	   "rotate on specific EOI: IR1 lowest, IS cleared");
	out8(0x20, 0xc7); /* back to IR0 highest */

	/* Rotate in AEOI mode. */
	linux_init(1);
	out8(0x20, 0x80);
	pulse(2 + 1);
	EQ(i8259_ack(&pic), 0x23, "AEOI rotate: vector");
	i8259_ops.save(&pic.dev, &st);
	OK(st.chip[0].rotate_on_auto_eoi && st.chip[0].priority_add == 4,
	   "AEOI rotate: IR3 becomes the lowest at INTA");
	out8(0x20, 0x00);
	out8(0x20, 0xc7);

	/* Special mask mode: lower levels get through a masked IS level. */
	linux_init(0);
	pulse(3);
	EQ(i8259_ack(&pic), 0x23, "IR3 in service");
	pulse(5);
	OK(!intr, "IR5 blocked by IR3");
	out8(0x21, 0x08);
	out8(0x20, 0x68); /* OCW3: set special mask */
	OK(intr, "SMM with IR3 masked lets IR5 through");
	EQ(i8259_ack(&pic), 0x25, "vector 0x25");
	out8(0x20, 0x65);
	out8(0x20, 0x48); /* reset special mask */
	out8(0x21, 0);
	out8(0x20, 0x63);
	EQ(read_isr(0x20), 0, "both ended");

	/* Poll command. */
	out8(0x20, 0x0c);
	EQ(in8(0x20), 0, "poll with no request: 0");
	pulse(6);
	out8(0x20, 0x0c);
	EQ(in8(0x20), 0x86, "poll: 0x80 | level 6");
	EQ(read_isr(0x20), 0x40, "poll read acknowledges (IS bit 6)");
	OK(!intr, "and INTR drops");
	EQ(in8(0x20), 0x40, "one poll read only, then OCW3's register again");
	out8(0x20, 0x20);

	/* Special fully nested mode: a second slave request gets through. */
	out8(0x20, 0x11);
	out8(0x21, 0x20);
	out8(0x21, 0x04);
	out8(0x21, 0x11); /* SFNM */
	out8(0x21, 0);
	pulse(12);
	EQ(i8259_ack(&pic), 0x2c, "slave IR4");
	pulse(9);
	OK(intr, "SFNM: higher slave request passes the master's IS bit 2");
	EQ(i8259_ack(&pic), 0x29, "slave IR1");
	out8(0xa0, 0x20);
	out8(0xa0, 0x20);
	out8(0x20, 0x20);
}

static void test_state(void)
{
	linux_init(0);
	out8(0x4d1, 0x04);
	pulse(1);
	struct i8259_state st, st2;
	i8259_ops.save(&pic.dev, &st);
	int was = intr;
	i8259_ops.reset(&pic.dev);
	OK(!intr, "reset drops INTR");
	EQ(in8(0x4d1), 0, "reset clears the ELCR");
	EQ(i8259_ops.restore(&pic.dev, &st), 0, "restore");
	OK(intr == was && intr, "restore brings the pending request and INTR back");
	i8259_ops.save(&pic.dev, &st2);
	OK(!memcmp(&st, &st2, sizeof(st)), "save after restore is identical");
	EQ(i8259_ack(&pic), 0x21, "restored request acknowledges");

	OK(sizeof(struct i8259_chip_state) == sizeof(struct kvm_pic_state) &&
	   SAME_FIELD(struct i8259_chip_state, struct kvm_pic_state, last_irr) &&
	   SAME_FIELD(struct i8259_chip_state, struct kvm_pic_state, irq_base) &&
	   SAME_FIELD(struct i8259_chip_state, struct kvm_pic_state, init_state) &&
	   SAME_FIELD(struct i8259_chip_state, struct kvm_pic_state, init4) &&
	   SAME_FIELD(struct i8259_chip_state, struct kvm_pic_state, elcr_mask),
	   "chip state is struct kvm_pic_state field for field");
	OK(in8(0x22) == 0 && !hw_bus_read(&pio, 0x22, 1, &(u8){0}), "port 0x22 is not the PIC's");
}

/* KVM_IRQ_LINE_STATUS values, as KVM's pic_set_irq1 defines them: 1 for a
 * new request or a lowered line, 0 when the IRR bit was already set (the
 * edge or level coalesces), -1 when the IR is masked. */
static void test_line_status(void)
{
	linux_init(0);
	out8(0x21, 0x08); /* mask IR3 */
	EQ(i8259_set_irq(&pic, 4, 1), 1, "status: new edge 1");
	EQ(i8259_set_irq(&pic, 4, 0), 1, "status: line lowered 1");
	EQ(i8259_set_irq(&pic, 4, 1), 0, "status: second edge before INTA 0");
	i8259_set_irq(&pic, 4, 0);
	EQ(i8259_set_irq(&pic, 3, 1), -1, "status: masked IR -1");
	i8259_set_irq(&pic, 3, 0);
	out8(0x4d1, 0x04); /* slave IR2 (IRQ 10) level-sensitive */
	EQ(i8259_set_irq(&pic, 10, 1), 1, "status: level raised 1");
	EQ(i8259_set_irq(&pic, 10, 1), 0, "status: level still requested 0");
	i8259_set_irq(&pic, 10, 0);
	out8(0x4d1, 0);
}

int main(void)
{
	hw_bus_init(&pio);
	i8259_init(&pic, raise_cb, NULL);
	EQ(i8259_register(&pic, &pio), 0, "register on the PIO bus");
	test_init();
	test_priority();
	test_cascade_level();
	test_modes();
	test_state();
	test_line_status();
	i8259_destroy(&pic);
	hw_bus_destroy(&pio);
	return done();
}
