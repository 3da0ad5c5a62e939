/*
 * The legacy devices wired as on a PC: PIT OUT0 to PIC IRQ 0 and IOAPIC
 * pin 2 (the ISA override every MP/ACPI table declares), the PIC's INTR
 * watched as the CPU would.  Checks the timer tick of a Linux guest at
 * HZ=250 end to end on the virtual clock, and that the device locks nest
 * (PIT -> PIC, PIT -> IOAPIC) without deadlock from two threads.
 */
#include <pthread.h>

#include "hw/i8254.h"
#include "hw/i8259.h"
#include "hw/ioapic.h"
#include "unit_t.h"

static struct hw_bus pio, mmio;
static struct i8259 pic;
static struct i8254 pit;
static struct ioapic io;
static _Atomic u64 clk;
static _Atomic int intr, apic_msgs;

static u64 now_cb(void *c) { (void)c; return atomic_load(&clk); }
static void intr_cb(void *o, bool level) { (void)o; atomic_store(&intr, level); }
static int deliver_cb(void *o, const struct ioapic_irq *m)
{
	(void)o;
	if (m->vector == 0x30)
		atomic_fetch_add(&apic_msgs, 1);
	return 1;
}
static void timer_irq(void *o, int level)
{
	(void)o;
	i8259_set_irq(&pic, 0, level);
	ioapic_set_irq(&io, 2, level);
}

static void out8(u16 port, u8 v) { hw_bus_write(&pio, port, 1, &v); }

/* The CPU side: take every interrupt INTR offers, EOI it. */
static int take_ticks(void)
{
	int n = 0;
	while (atomic_load(&intr)) {
		if (i8259_ack(&pic) == 0x20)
			n++;
		out8(0x20, 0x20);
	}
	return n;
}

static void *ticker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		u64 t = i8254_next_event(&pit);
		atomic_store(&clk, t);
		i8254_advance(&pit, t);
	}
	return NULL;
}

int main(void)
{
	hw_bus_init(&pio);
	hw_bus_init(&mmio);
	i8259_init(&pic, intr_cb, NULL);
	i8254_init(&pit, timer_irq, NULL, now_cb, NULL);
	ioapic_init(&io, deliver_cb, NULL);
	OK(!i8259_register(&pic, &pio) && !i8254_register(&pit, &pio) &&
	   !ioapic_register(&io, &mmio), "PIC, PIT and IOAPIC share the buses");

	/* Linux: init_8259A, then the PIT at HZ=250. */
	static const u8 icw[] = {0x11, 0x20, 0x04, 0x01};
	for (int i = 0; i < 4; i++)
		out8(i ? 0x21 : 0x20, icw[i]);
	out8(0x21, 0xfe); /* only the timer */
	u16 latch = (u16)((I8254_HZ + 125) / 250);
	out8(0x43, 0x34);
	out8(0x40, latch & 0xff);
	out8(0x40, latch >> 8);
	/* IOAPIC pin 2: edge, vector 0x30, CPU 0. */
	u32 sel = 0x14, lo = 0x30, hi = 0;
	hw_bus_write(&mmio, IOAPIC_BASE, 4, &sel);
	hw_bus_write(&mmio, IOAPIC_BASE + 0x10, 4, &lo);
	sel = 0x15;
	hw_bus_write(&mmio, IOAPIC_BASE, 4, &sel);
	hw_bus_write(&mmio, IOAPIC_BASE + 0x10, 4, &hi);

	int ticks = 0;
	for (int i = 0; i < 250; i++) {
		u64 t = i8254_next_event(&pit);
		atomic_store(&clk, t);
		i8254_advance(&pit, t);
		ticks += take_ticks();
	}
	EQ(ticks, 250, "one IRQ 0 a period, vector 0x20, for 250 periods");
	EQ(atomic_load(&apic_msgs), 250, "and one IOAPIC message on pin 2 each");
	u64 second = atomic_load(&clk);
	OK(second > 999000000ULL && second < 1001000000ULL, "250 ticks take one virtual second");

	/* Missed ticks: one interrupt for a long sleep, as edges coalesce. */
	atomic_store(&clk, second + 100000000ULL);
	i8254_advance(&pit, atomic_load(&clk));
	EQ(take_ticks(), 1, "100 ms without advance: one coalesced tick");

	/* Locks nest without deadlock: a ticker thread against the CPU. */
	pthread_t t;
	pthread_create(&t, NULL, ticker, NULL);
	for (int i = 0; i < 20000; i++) {
		take_ticks();
		i8259_set_irq(&pic, 1, i & 1);
		ioapic_eoi(&io, 0x30);
	}
	pthread_join(t, NULL);
	OK(1, "PIT ticker and CPU side ran concurrently to the end");

	ioapic_destroy(&io);
	i8254_destroy(&pit);
	i8259_destroy(&pic);
	hw_bus_destroy(&mmio);
	hw_bus_destroy(&pio);
	return done();
}
