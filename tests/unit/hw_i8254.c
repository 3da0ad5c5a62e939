/*
 * Unit tests of the 8254 PIT (src/hw/i8254.c) on a virtual clock, driven
 * through the PIO bus the way Linux (i8253 clockevent, pit_calibrate_tsc)
 * and SeaBIOS program it.  Expectations come from the Intel 8254
 * datasheet (231164): one clock is 1/1193182 s.
 */
#include <linux/kvm.h>
#include <string.h>

#include "hw/i8254.h"
#include "unit_t.h"

static struct hw_bus pio;
static struct i8254 pit;
static u64 clk;
static int irq_level, rises, falls;

static u64 now_cb(void *c) { (void)c; return clk; }

static void irq_cb(void *opaque, int level)
{
	(void)opaque;
	if (level && !irq_level)
		rises++;
	if (!level && irq_level)
		falls++;
	irq_level = level;
}

/* Virtual ns after which n clocks have elapsed. */
static u64 ns(u64 n) { return (n * 1000000000ULL + I8254_HZ - 1) / I8254_HZ; }

static void out8(u16 port, u8 v) { hw_bus_write(&pio, port, 1, &v); }
static u8 in8(u16 port)
{
	u8 v = 0;
	hw_bus_read(&pio, port, 1, &v);
	return v;
}
static u16 in16_pair(u16 port) { u8 lo = in8(port); return (u16)(lo | in8(port) << 8); }
static u16 latch_read(int ch)
{
	out8(0x43, (u8)(ch << 6));
	return in16_pair((u16)(0x40 + ch));
}
static void at(u64 t) { clk = t; i8254_advance(&pit, t); }
/* A rising edge on gate 2 through port 0x61; returns its time. */
static u64 trigger2(void)
{
	out8(0x61, 0x00);
	out8(0x61, 0x01);
	return clk;
}

static void test_periodic(void)
{
	/* Linux pit_set_periodic: mode 2, LATCH = (1193182 + HZ/2) / HZ. */
	u64 t0 = 1000000;
	clk = t0;
	out8(0x43, 0x34);
	out8(0x40, 1193 & 0xff);
	out8(0x40, 1193 >> 8);
	OK(irq_level, "mode 2: OUT0 high after the count is written");
	EQ(i8254_next_event(&pit), t0 + ns(1193), "first IRQ 0 due one period later");
	int r0 = rises;
	at(t0 + ns(1193) - 1);
	EQ(rises, r0, "no edge before the period ends");
	EQ(latch_read(0), 1, "counter reads 1 in the last clock");
	OK(!i8254_out(&pit, 0, clk), "OUT low while the count is 1");
	at(t0 + ns(1193));
	EQ(rises, r0 + 1, "rising edge at the reload");
	EQ(latch_read(0), 1193, "counter reloaded");
	EQ(i8254_next_event(&pit), t0 + ns(2 * 1193), "next deadline one period on");
	at(t0 + ns(10 * 1193) + 5);
	EQ(rises, r0 + 2, "nine periods missed: one coalesced edge");
	OK(i8254_next_event(&pit) > clk, "deadline in the future after advance");
	EQ(i8254_next_event(&pit), t0 + ns(11 * 1193), "and on the period grid");

	/* SeaBIOS timer_setup: mode 2 with count 0, i.e. 65536. */
	clk = t0 = 5000000000ULL;
	out8(0x43, 0x34);
	out8(0x40, 0);
	out8(0x40, 0);
	EQ(i8254_next_event(&pit), t0 + ns(65536), "count 0 is 65536 (18.2 Hz)");
	at(t0 + ns(100));
	EQ(latch_read(0), 65436, "counter after 100 clocks");
}

/* Datasheet modes 2 and 3: a count written without a control word waits
 * for the end of the period (mode 2) or of the half-cycle (mode 3). */
static void test_new_count(void)
{
	u64 t0 = 7000000000ULL;
	clk = t0;
	out8(0x43, 0x34);
	out8(0x40, 1000 & 0xff);
	out8(0x40, 1000 >> 8);
	at(t0 + ns(300));
	out8(0x40, 500 & 0xff);
	out8(0x40, 500 >> 8);
	EQ(latch_read(0), 700, "mode 2: the running period goes on");
	EQ(i8254_next_event(&pit), t0 + ns(1000), "edge at the old period's end");
	int r0 = rises;
	at(t0 + ns(1000));
	EQ(rises, r0 + 1, "the reload edge");
	EQ(i8254_next_event(&pit), t0 + ns(1000) + ns(500), "then periods of the new count");
	at(t0 + ns(1000) + ns(500));
	EQ(rises, r0 + 2, "first edge of the new count");
	at(t0 + ns(1000) + ns(2 * 500) + 7);
	EQ(rises, r0 + 3, "second");
	EQ(latch_read(0), 500, "new count reloaded");

	/* Across the switch in one advance: the old count's reload edge,
	 * then the new count's edges coalesced into one. */
	clk = t0 = 8000000000ULL;
	out8(0x43, 0x34);
	out8(0x40, 1000 & 0xff);
	out8(0x40, 1000 >> 8);
	at(t0 + ns(100));
	out8(0x40, 200);
	out8(0x40, 0);
	r0 = rises;
	at(t0 + ns(1000) + ns(450));
	EQ(rises, r0 + 2, "a long step reports the reload edge and one more");
	EQ(i8254_next_event(&pit), t0 + ns(1000) + ns(600), "and the new grid continues");

	/* Mode 3 on channel 2: count 1000, a new count of 400 written in the
	 * high half takes over at its end and starts with its low half. */
	clk = t0 = 8500000000ULL;
	out8(0x61, 0x01);
	out8(0x43, 0xb6);
	out8(0x42, 1000 & 0xff);
	out8(0x42, 1000 >> 8);
	clk = t0 + ns(200);
	out8(0x42, 400 & 0xff);
	out8(0x42, 400 >> 8);
	OK(i8254_out(&pit, 2, t0 + ns(499)), "mode 3: the high half runs out");
	OK(!i8254_out(&pit, 2, t0 + ns(500)) && !i8254_out(&pit, 2, t0 + ns(699)),
	   "then the new count's low half, 200 clocks");
	OK(i8254_out(&pit, 2, t0 + ns(700)) && !i8254_out(&pit, 2, t0 + ns(900)),
	   "then its square wave");
	out8(0x61, 0x00);
}

static void test_oneshot(void)
{
	u64 t0 = 9000000000ULL;
	clk = t0;
	out8(0x43, 0x30); /* mode 0 */
	OK(!irq_level, "mode 0: the control word drops OUT0");
	out8(0x40, 100);
	out8(0x40, 0);
	EQ(i8254_next_event(&pit), t0 + ns(100), "terminal count after 100 clocks");
	int r0 = rises;
	at(t0 + ns(100) - 1);
	OK(!irq_level && rises == r0, "OUT low until terminal count");
	at(t0 + ns(100));
	OK(irq_level && rises == r0 + 1, "OUT rises at terminal count");
	EQ(i8254_next_event(&pit), UINT64_MAX, "mode 0 fires once");
	at(t0 + ns(110));
	EQ(latch_read(0), 0xfff6, "the counter wraps and keeps counting");
	OK(irq_level, "OUT stays high");
	out8(0x40, 50);
	OK(!irq_level, "first byte of a new count drops OUT");
	u16 held = latch_read(0);
	at(clk + ns(30));
	EQ(latch_read(0), held, "and stops the count");
	out8(0x40, 0);
	at(clk + ns(50));
	OK(irq_level, "second byte starts the new count");

	/* Linux pit_next_event in one-shot mode: mode 4, strobe. */
	t0 = clk = 10000000000ULL;
	out8(0x43, 0x38);
	OK(irq_level, "mode 4: OUT high after the control word");
	out8(0x40, 50);
	out8(0x40, 0);
	at(t0 + ns(50));
	OK(!irq_level, "mode 4: OUT low for the clock at count 0");
	r0 = rises;
	EQ(i8254_next_event(&pit), t0 + ns(51), "edge when OUT returns high");
	at(t0 + ns(51));
	OK(irq_level && rises == r0 + 1, "mode 4: one strobe");
	EQ(i8254_next_event(&pit), UINT64_MAX, "mode 4 fires once");
}

static void test_latch(void)
{
	u64 t0 = 20000000000ULL;
	clk = t0;
	out8(0x43, 0x34);
	/* Read-back, count and status, counter 0, before any count. */
	out8(0x43, 0xc2);
	EQ(in8(0x40), 0xf4, "status: OUT high, NULL COUNT, word access, mode 2");
	(void)in16_pair(0x40);
	out8(0x40, 0x10);
	out8(0x40, 0x27); /* 10000 */
	clk = t0 + ns(10);
	out8(0x43, 0xc2);
	EQ(in8(0x40), 0xb4, "status once counting: NULL COUNT clear");
	EQ(in16_pair(0x40), 10000 - 10, "latched count follows the status");

	out8(0x43, 0x00);
	clk += ns(5);
	out8(0x43, 0x00); /* ignored: a latch is pending */
	EQ(in16_pair(0x40), 10000 - 10, "the first latch is held until read");
	EQ(in16_pair(0x40), 10000 - 15, "then reads follow the counter");

	out8(0x43, 0xe2); /* status only */
	EQ(in8(0x40), 0xb4, "status-only read-back");
	EQ(in16_pair(0x40), 10000 - 15, "then the live counter");
	out8(0x43, 0xd2); /* count only */
	clk += ns(5);
	EQ(in16_pair(0x40), 10000 - 15, "count-only read-back holds the count");

	/* LSB-only and MSB-only access, counter 1. */
	out8(0x43, 0x50);
	out8(0x41, 0x05);
	EQ(in8(0x41), 5, "LSB-only count");
	EQ(in8(0x41), 5, "LSB-only reads the low byte every time");
	out8(0x43, 0x60);
	out8(0x41, 0x02);
	EQ(in8(0x41), 0x02, "MSB-only count reads back its high byte");
	out8(0x43, 0xe4);
	/* No clock since the count: NULL COUNT, MSB only, mode 0, OUT low. */
	EQ(in8(0x41), 0x60, "status of counter 1");

	/* BCD. */
	out8(0x43, 0x75); /* counter 1, word, mode 2, BCD */
	out8(0x41, 0x00);
	out8(0x41, 0x10); /* 1000 decimal */
	clk += ns(1);
	EQ(latch_read(1), 0x0999, "BCD counter reads 999 after one clock");
	out8(0x43, 0x71); /* mode 0, BCD */
	out8(0x41, 0);
	out8(0x41, 0);
	clk += ns(1);
	EQ(latch_read(1), 0x9999, "BCD count 0 is 10000");
	OK(in8(0x43) == 0xff, "the control word register reads as nothing");
}

static void test_channel2(void)
{
	u64 t0 = 30000000000ULL;
	clk = t0;
	/* Linux pit_calibrate_tsc: gate on, speaker off, mode 0, CAL_MS 50. */
	out8(0x61, (in8(0x61) & ~0x02) | 0x01);
	out8(0x43, 0xb0);
	out8(0x42, 59659 & 0xff);
	out8(0x42, 59659 >> 8);
	EQ(in8(0x61) & 0x23, 0x01, "0x61: gate 1, speaker 0, OUT2 low");
	clk = t0 + ns(59659) - 1;
	OK(!(in8(0x61) & 0x20), "OUT2 still low before terminal count");
	clk = t0 + ns(59659);
	OK(in8(0x61) & 0x20, "OUT2 high at terminal count");
	out8(0x61, 0x03);
	EQ(in8(0x61) & 0x03, 0x03, "speaker data bit reads back");
	struct i8254_state st;
	i8254_ops.save(&pit.dev, &st);
	EQ(st.flags, KVM_PIT_FLAGS_SPEAKER_DATA_ON, "speaker data saved as KVM_PIT_FLAGS_SPEAKER_DATA_ON");
	clk = 0;
	u8 a = in8(0x61) & 0x10;
	clk = 15085;
	OK((in8(0x61) & 0x10) != a, "refresh bit toggles every 15.085 us");

	/* Mode 3 square wave (the PC speaker), even count. */
	t0 = clk = 40000000000ULL;
	out8(0x43, 0xb6);
	out8(0x42, 1000 & 0xff);
	out8(0x42, 1000 >> 8);
	OK(i8254_out(&pit, 2, t0 + ns(499)), "mode 3: high for the first half");
	OK(!i8254_out(&pit, 2, t0 + ns(500)), "low for the second half");
	OK(i8254_out(&pit, 2, t0 + ns(1000)), "high again at the reload");
	EQ(i8254_counter(&pit, 2, t0 + ns(100)), 800, "counts down by two");
	clk = t0 + ns(600);
	out8(0x61, 0x00);
	OK(in8(0x61) & 0x20, "gate low forces OUT high");
	clk = t0 + ns(700);
	out8(0x61, 0x01);
	OK(i8254_out(&pit, 2, clk + ns(499)) && !i8254_out(&pit, 2, clk + ns(500)),
	   "gate rising edge restarts the period");

	/* A low gate holds the count in mode 0 (Linux clears it before
	 * programming channel 2 and sets it to start). */
	t0 = clk = 45000000000ULL;
	out8(0x61, 0x00);
	out8(0x43, 0xb0);
	out8(0x42, 100);
	out8(0x42, 0);
	clk = t0 + ns(500);
	EQ(latch_read(2), 100, "mode 0 with gate low: the count waits");
	out8(0x61, 0x01);
	t0 = clk;
	clk = t0 + ns(40);
	EQ(latch_read(2), 60, "gate high: counting starts");
	out8(0x61, 0x00);
	clk = t0 + ns(1000);
	EQ(latch_read(2), 60, "gate low again: the count holds");
	OK(!(in8(0x61) & 0x20), "OUT2 still low");
	out8(0x61, 0x01);
	t0 = clk;
	OK(!i8254_out(&pit, 2, t0 + ns(59)) && i8254_out(&pit, 2, t0 + ns(60)),
	   "terminal count 60 clocks after the gate came back");

	/* Mode 1, hardware one-shot, and mode 5, hardware strobe. */
	t0 = clk = 50000000000ULL;
	out8(0x43, 0xb2);
	out8(0x42, 100);
	out8(0x42, 0);
	clk += ns(200);
	OK(in8(0x61) & 0x20, "mode 1: OUT stays high until triggered");
	t0 = trigger2();
	OK(!(in8(0x61) & 0x20), "the gate's rising edge starts the one-shot: OUT low");
	clk = t0 + ns(100);
	OK(in8(0x61) & 0x20, "OUT high at terminal count");
	t0 = trigger2();
	clk = t0 + ns(10);
	out8(0x42, 50);
	out8(0x42, 0);
	OK(!(in8(0x61) & 0x20), "mode 1: a new count leaves the one-shot running");
	clk = t0 + ns(100);
	OK(in8(0x61) & 0x20, "which ends after the old count");
	t0 = trigger2();
	OK(!i8254_out(&pit, 2, t0 + ns(49)) && i8254_out(&pit, 2, t0 + ns(50)),
	   "the next trigger uses the new count");
	out8(0x43, 0xba);
	out8(0x42, 20);
	out8(0x42, 0);
	OK(i8254_out(&pit, 2, clk + ns(20)), "mode 5: no strobe before the trigger");
	trigger2();
	OK(!i8254_out(&pit, 2, clk + ns(20)) && i8254_out(&pit, 2, clk + ns(21)),
	   "mode 5: strobe at count 0 after the trigger");
}

static void test_hpet_legacy(void)
{
	struct i8254_state st;
	u64 t0 = 70000000000ULL;
	clk = t0;
	out8(0x43, 0x34);
	out8(0x40, 100);
	out8(0x40, 0);
	i8254_ops.save(&pit.dev, &st);
	st.flags = KVM_PIT_FLAGS_HPET_LEGACY;
	i8254_ops.restore(&pit.dev, &st);
	int r0 = rises;
	EQ(i8254_next_event(&pit), UINT64_MAX, "HPET legacy: no PIT deadline");
	at(t0 + ns(1000));
	EQ(rises, r0, "HPET legacy: OUT0 does not reach IRQ 0");
	EQ(latch_read(0), 100, "but channel 0 still counts");
	st.flags = 0;
	i8254_ops.restore(&pit.dev, &st);
	EQ(i8254_next_event(&pit), t0 + ns(1100), "legacy mode off: deadlines again");
}

static void test_state(void)
{
	u64 t0 = 60000000000ULL;
	clk = t0;
	out8(0x43, 0x34);
	out8(0x40, 0xe8);
	out8(0x40, 0x03);
	clk = t0 + ns(100);
	struct i8254_state st, st2;
	i8254_ops.save(&pit.dev, &st);
	EQ(st.channels[0].count, 1000, "saved count");
	EQ(st.channels[0].mode, 2, "saved mode");
	EQ((u64)st.channels[0].count_load_time, t0, "saved load time (virtual ns)");
	i8254_ops.reset(&pit.dev);
	OK(!irq_level, "reset: OUT0 low (mode 0, no count)");
	EQ(i8254_ops.restore(&pit.dev, &st), 0, "restore");
	OK(irq_level, "restored mode 2 drives OUT0 high");
	i8254_ops.save(&pit.dev, &st2);
	OK(!memcmp(&st, &st2, sizeof(st)), "save after restore is identical");
	EQ(latch_read(0), 900, "counter continues from the saved load time");

	OK(sizeof(struct i8254_channel_state) == sizeof(struct kvm_pit_channel_state) &&
	   SAME_FIELD(struct i8254_channel_state, struct kvm_pit_channel_state, count) &&
	   SAME_FIELD(struct i8254_channel_state, struct kvm_pit_channel_state, latched_count) &&
	   SAME_FIELD(struct i8254_channel_state, struct kvm_pit_channel_state, status) &&
	   SAME_FIELD(struct i8254_channel_state, struct kvm_pit_channel_state, write_latch) &&
	   SAME_FIELD(struct i8254_channel_state, struct kvm_pit_channel_state, gate) &&
	   SAME_FIELD(struct i8254_channel_state, struct kvm_pit_channel_state, count_load_time),
	   "channel state is struct kvm_pit_channel_state field for field");
	OK(sizeof(struct i8254_state) == sizeof(struct kvm_pit_state2) &&
	   SAME_FIELD(struct i8254_state, struct kvm_pit_state2, flags),
	   "state is struct kvm_pit_state2");
}

int main(void)
{
	hw_bus_init(&pio);
	i8254_init(&pit, irq_cb, NULL, now_cb, NULL);
	EQ(i8254_register(&pit, &pio), 0, "register on the PIO bus");
	OK(!hw_bus_read(&pio, 0x44, 1, &(u8){0}), "port 0x44 is not the PIT's");
	test_periodic();
	test_new_count();
	test_oneshot();
	test_latch();
	test_channel2();
	test_hpet_legacy();
	test_state();
	i8254_destroy(&pit);
	hw_bus_destroy(&pio);
	return done();
}
