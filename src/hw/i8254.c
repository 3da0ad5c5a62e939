/*
 * Intel 8254 PIT (datasheet 231164).  A channel keeps its initial count
 * and the virtual time it started counting; the counter and OUT are
 * computed from the clocks elapsed since then, so nothing ticks.
 */
#include <errno.h>
#include <string.h>

#include "hw/i8254.h"

#define NS_PER_SEC 1000000000ULL
/* Port 0x61 bit 4 toggles with each DRAM refresh request, every 15.085 us. */
#define REFRESH_NS 15085

enum { RW_LATCH, RW_LSB, RW_MSB, RW_WORD0, RW_WORD1 };

static u64 clocks_since(s64 start, u64 now)
{
	if ((s64)now <= start)
		return 0;
	return (u64)((unsigned __int128)((u64)((s64)now - start)) * I8254_HZ / NS_PER_SEC);
}

/* First virtual ns at which `clocks` clocks have elapsed since start. */
static u64 ns_at_clock(s64 start, u64 clocks)
{
	unsigned __int128 ns = (unsigned __int128)clocks * NS_PER_SEC;
	return (u64)start + (u64)((ns + I8254_HZ - 1) / I8254_HZ);
}

static u32 initial_count(const struct i8254_channel *c)
{
	return c->s.count ? c->s.count : 0x10000;
}

/*
 * Clocks counted since the start; a low gate freezes the count in modes
 * 0, 2, 3 and 4 ("GATE = 0 disables counting", datasheet mode list).
 */
static u64 elapsed(const struct i8254_channel *c, u64 now)
{
	if (c->paused && (s64)now > c->paused_at)
		now = (u64)c->paused_at;
	return clocks_since(c->s.count_load_time, now);
}

static bool gate_stops_count(u8 mode)
{
	return mode == 0 || mode == 2 || mode == 3 || mode == 4;
}

/* Whether the counting element runs: a count was loaded and, in the
 * gate-triggered modes 1 and 5, the gate has fired since. */
static bool counting(const struct i8254_channel *c)
{
	if (c->wait_count)
		return false;
	return (c->s.mode != 1 && c->s.mode != 5) || c->triggered;
}

static u32 counter_at(const struct i8254_channel *c, u64 now)
{
	u32 n = initial_count(c);
	if (!counting(c))
		return n & 0xffff;
	u64 d = elapsed(c, now);
	switch (c->s.mode) {
	case 2:
		return n - (u32)(d % n);
	case 3: /* decrements by two per clock */
		return n - (u32)((2 * d) % n);
	default: { /* 0, 1, 4, 5: past terminal count it wraps and goes on */
		u64 mod = c->s.bcd ? 10000 : 0x10000;
		return (u32)((n + mod - d % mod) % mod);
	}
	}
}

static bool out_at(const struct i8254_channel *c, u64 now)
{
	/* A control word sets OUT low in mode 0, high in every other mode. */
	if (!counting(c))
		return c->s.mode != 0;
	/* Modes 2 and 3: gate low forces OUT high (datasheet, Figure "Gate
	 * pin operations summary"). */
	if ((c->s.mode == 2 || c->s.mode == 3) && !c->s.gate)
		return true;
	u32 n = initial_count(c);
	u64 d = elapsed(c, now);
	switch (c->s.mode) {
	case 0: /* interrupt on terminal count */
	case 1: /* one-shot: low from the trigger to terminal count */
		return d >= n;
	case 2: /* rate generator: low for the one clock when the count is 1 */
		return d % n != n - 1;
	case 3: /* square wave: high for ceil(n/2), low for floor(n/2) */
		return d % n < (n + 1) / 2;
	default: /* 4, 5: strobe, low for the one clock at count 0 */
		return d != n;
	}
}

/* Clock counts (since the start) at which OUT rises: the next one after
 * clock d, or 0 for none. */
static u64 next_rise(const struct i8254_channel *c, u64 d)
{
	if (!counting(c) || c->paused)
		return 0;
	u64 n = initial_count(c);
	switch (c->s.mode) {
	case 0:
	case 1:
		return d < n ? n : 0;
	case 2:
	case 3:
		return c->s.gate ? (d / n + 1) * n : 0;
	default:
		return d < n + 1 ? n + 1 : 0;
	}
}

static void set_out0(struct i8254 *pit, bool level)
{
	if (level != pit->out0) {
		pit->out0 = level;
		if (pit->irq)
			pit->irq(pit->opaque, level);
	}
}

/* Report OUT0 up to now: a coalesced rising edge if one or more passed,
 * then the current level. */
static void advance_to(struct i8254 *pit, u64 now)
{
	const struct i8254_channel *c = &pit->ch[0];
	if ((s64)now < pit->synced_ns)
		return;
	/* HPET legacy replacement: the HPET drives IRQ 0, OUT0 goes nowhere
	 * (KVM_PIT_FLAGS_HPET_LEGACY). */
	if (pit->flags & I8254_FLAG_HPET_LEGACY) {
		pit->synced_ns = (s64)now;
		return;
	}
	s64 from = pit->synced_ns > c->s.count_load_time ? pit->synced_ns : c->s.count_load_time;
	u64 rise = next_rise(c, elapsed(c, (u64)from));
	if (rise && rise <= elapsed(c, now)) {
		set_out0(pit, false);
		set_out0(pit, true);
	}
	set_out0(pit, out_at(c, now));
	pit->synced_ns = (s64)now;
}

/*
 * A count waiting for the end of a period or half-cycle takes over once
 * its time has come.  In mode 3 a count loaded at the end of a high
 * half-cycle starts in its own low half: the start is set back by the
 * high half's length.
 */
static void settle(struct i8254_channel *c, u64 now)
{
	if (!c->next_count || (s64)now < c->next_at)
		return;
	c->s.count = c->next_count;
	c->s.count_load_time = c->next_at;
	if (c->s.mode == 3 && c->next_in_low)
		c->s.count_load_time -= (s64)ns_at_clock(0, (c->next_count + 1) / 2);
	c->next_count = 0;
}

/* Bring every channel to now, channel 0's edges reported on the way. */
static void advance(struct i8254 *pit, u64 now)
{
	struct i8254_channel *c0 = &pit->ch[0];
	if (c0->next_count && (s64)now >= c0->next_at) {
		/* The old count's last edge (the reload) first. */
		advance_to(pit, (u64)c0->next_at);
		settle(c0, now);
	}
	settle(&pit->ch[1], now);
	settle(&pit->ch[2], now);
	advance_to(pit, now);
}

void i8254_advance(struct i8254 *pit, u64 now_ns)
{
	pthread_mutex_lock(&pit->lock);
	advance(pit, now_ns);
	pthread_mutex_unlock(&pit->lock);
}

u64 i8254_next_event(struct i8254 *pit)
{
	pthread_mutex_lock(&pit->lock);
	struct i8254_channel c = pit->ch[0];
	s64 from = pit->synced_ns > c.s.count_load_time ? pit->synced_ns : c.s.count_load_time;
	u64 rise = next_rise(&c, elapsed(&c, (u64)from));
	u64 t = rise ? ns_at_clock(c.s.count_load_time, rise) : UINT64_MAX;
	if (c.next_count && c.next_at != INT64_MAX && t > (u64)c.next_at) {
		/* The waiting count takes over first: its first edge. */
		from = c.next_at;
		settle(&c, (u64)from);
		rise = next_rise(&c, elapsed(&c, (u64)from));
		t = rise ? ns_at_clock(c.s.count_load_time, rise) : UINT64_MAX;
	}
	if (pit->flags & I8254_FLAG_HPET_LEGACY)
		t = UINT64_MAX;
	pthread_mutex_unlock(&pit->lock);
	return t;
}

static u32 bcd_to_bin(u32 v)
{
	return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
}

static u16 bin_to_bcd(u32 v)
{
	return (u16)((v % 10) | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 | (v / 1000 % 10) << 12);
}

/*
 * Modes 2 and 3 while counting: the new count waits for the end of the
 * current period (mode 2) or half-cycle (mode 3); modes 1 and 5 after a
 * trigger: for the next trigger (the datasheet's mode descriptions).
 * Returns false when the count loads now.
 */
static bool defer_count(struct i8254_channel *c, u32 n, u64 now)
{
	if ((c->s.mode == 1 || c->s.mode == 5) && c->triggered) {
		/* A one-shot under way runs out; the count waits for the
		 * next trigger. */
		c->next_count = n;
		c->next_at = INT64_MAX;
		c->next_in_low = false;
		return true;
	}
	if ((c->s.mode != 2 && c->s.mode != 3) || !counting(c) || c->paused)
		return false;
	u64 old = initial_count(c), d = elapsed(c, now);
	u64 end = (d / old + 1) * old;
	c->next_in_low = false;
	if (c->s.mode == 3 && d % old < (old + 1) / 2) {
		end = d / old * old + (old + 1) / 2;
		c->next_in_low = true;
	}
	c->next_count = n;
	c->next_at = (s64)ns_at_clock(c->s.count_load_time, end);
	return true;
}

static void load_count(struct i8254_channel *c, u32 v, u64 now)
{
	u32 n = c->s.bcd ? bcd_to_bin(v) : v;
	if (!n)
		n = c->s.bcd ? 10000 : 0x10000;
	if (defer_count(c, n, now))
		return;
	c->s.count = n;
	c->s.count_load_time = (s64)now;
	c->wait_count = false;
	c->triggered = false;
	/* With the gate low the count waits for it (modes 0, 2, 3, 4). */
	c->paused = !c->s.gate && gate_stops_count(c->s.mode);
	c->paused_at = (s64)now;
}

static void latch_count(struct i8254_channel *c, u64 now)
{
	if (c->s.count_latched)
		return; /* a second latch before the read is ignored */
	u32 v = counter_at(c, now) & 0xffff;
	c->s.latched_count = c->s.bcd ? bin_to_bcd(v) : (u16)v;
	c->s.count_latched = c->s.rw_mode;
}

static void latch_status(struct i8254_channel *c, u64 now)
{
	if (c->s.status_latched)
		return;
	/* NULL COUNT: the count written has not reached the counting
	 * element yet (read-back status byte, bit 6). */
	bool null = !counting(c) || elapsed(c, now) == 0;
	c->s.status = (u8)(out_at(c, now) << 7 | null << 6 | c->s.rw_mode << 4 |
			   c->s.mode << 1 | c->s.bcd);
	c->s.status_latched = 1;
}

static void control_word(struct i8254 *pit, u8 val, u64 now)
{
	int sel = val >> 6;
	if (sel == 3) {
		/* Read-back: bits 3-1 select counters, COUNT# and STATUS#
		 * are active low. */
		for (int i = 0; i < 3; i++) {
			if (!(val & (2u << i)))
				continue;
			if (!(val & 0x20))
				latch_count(&pit->ch[i], now);
			if (!(val & 0x10))
				latch_status(&pit->ch[i], now);
		}
		return;
	}
	struct i8254_channel *c = &pit->ch[sel];
	int access = (val >> 4) & 3;
	if (access == RW_LATCH) {
		latch_count(c, now);
		return;
	}
	c->s.rw_mode = access;
	c->s.read_state = access;
	c->s.write_state = access;
	c->s.mode = (val >> 1) & 7;
	if (c->s.mode > 5)
		c->s.mode -= 4; /* X10 and X11 are modes 2 and 3 */
	c->s.bcd = val & 1;
	c->wait_count = true;
	c->triggered = false;
	c->paused = false;
	c->next_count = 0;
}

static u8 data_read(struct i8254_channel *c, u64 now)
{
	if (c->s.status_latched) {
		c->s.status_latched = 0;
		return c->s.status;
	}
	if (c->s.count_latched) {
		u16 l = c->s.latched_count;
		switch (c->s.count_latched) {
		case RW_MSB:
			c->s.count_latched = 0;
			return l >> 8;
		case RW_WORD0:
			c->s.count_latched = RW_MSB;
			return l & 0xff;
		default:
			c->s.count_latched = 0;
			return l & 0xff;
		}
	}
	u32 v = counter_at(c, now) & 0xffff;
	if (c->s.bcd)
		v = bin_to_bcd(v);
	switch (c->s.read_state) {
	case RW_MSB:
		return v >> 8;
	case RW_WORD0:
		c->s.read_state = RW_WORD1;
		return v & 0xff;
	case RW_WORD1:
		c->s.read_state = RW_WORD0;
		return v >> 8;
	default:
		return v & 0xff;
	}
}

static void data_write(struct i8254_channel *c, u8 val, u64 now)
{
	switch (c->s.write_state) {
	case RW_MSB:
		load_count(c, (u32)val << 8, now);
		break;
	case RW_WORD0:
		c->s.write_latch = val;
		c->s.write_state = RW_WORD1;
		/* Mode 0: the first byte of a new count stops counting and
		 * drops OUT (datasheet, mode 0 description). */
		if (c->s.mode == 0)
			c->wait_count = true;
		break;
	case RW_WORD1:
		load_count(c, c->s.write_latch | (u32)val << 8, now);
		c->s.write_state = RW_WORD0;
		break;
	default:
		load_count(c, val, now);
		break;
	}
}

static void set_gate(struct i8254 *pit, int ch, bool level, u64 now)
{
	struct i8254_channel *c = &pit->ch[ch];
	bool rising = level && !c->s.gate, falling = !level && c->s.gate;
	c->s.gate = level;
	if (c->wait_count || !(rising || falling))
		return;
	if (falling) {
		if (gate_stops_count(c->s.mode) && !c->paused) {
			c->paused = true;
			c->paused_at = (s64)now;
		}
		return;
	}
	switch (c->s.mode) {
	case 1:
	case 5: /* the rising edge (re)triggers, with a waiting count */
		if (c->next_count)
			c->s.count = c->next_count;
		c->next_count = 0;
		c->triggered = true;
		c->s.count_load_time = (s64)now;
		break;
	case 2:
	case 3: /* the rising edge reloads the count, a waiting one too */
		if (c->next_count)
			c->s.count = c->next_count;
		c->next_count = 0;
		c->s.count_load_time = (s64)now;
		c->paused = false;
		break;
	default: /* 0, 4: counting resumes where it stopped */
		if (c->paused && (s64)now > c->paused_at)
			c->s.count_load_time += (s64)now - c->paused_at;
		c->paused = false;
		break;
	}
}

void i8254_set_gate(struct i8254 *pit, int ch, bool level, u64 now_ns)
{
	if (ch < 0 || ch > 2)
		return;
	pthread_mutex_lock(&pit->lock);
	advance(pit, now_ns);
	set_gate(pit, ch, level, now_ns);
	advance(pit, now_ns);
	pthread_mutex_unlock(&pit->lock);
}

u8 i8254_port_read(struct i8254 *pit, u16 port, u64 now_ns)
{
	u8 v = 0xff; /* the control word register cannot be read */
	pthread_mutex_lock(&pit->lock);
	advance(pit, now_ns);
	if (port == I8254_SPEAKER_PORT) {
		const struct i8254_channel *c = &pit->ch[2];
		v = (u8)(c->s.gate | !!(pit->flags & I8254_FLAG_SPEAKER_DATA_ON) << 1 |
			 ((now_ns / REFRESH_NS) & 1) << 4 | out_at(c, now_ns) << 5);
	} else if (port >= I8254_BASE && port < I8254_BASE + 3) {
		v = data_read(&pit->ch[port - I8254_BASE], now_ns);
	}
	pthread_mutex_unlock(&pit->lock);
	return v;
}

void i8254_port_write(struct i8254 *pit, u16 port, u8 val, u64 now_ns)
{
	pthread_mutex_lock(&pit->lock);
	advance(pit, now_ns);
	if (port == I8254_SPEAKER_PORT) {
		pit->flags &= ~I8254_FLAG_SPEAKER_DATA_ON;
		if (val & 2)
			pit->flags |= I8254_FLAG_SPEAKER_DATA_ON;
		set_gate(pit, 2, val & 1, now_ns);
	} else if (port == I8254_BASE + 3) {
		control_word(pit, val, now_ns);
	} else if (port >= I8254_BASE && port < I8254_BASE + 3) {
		data_write(&pit->ch[port - I8254_BASE], val, now_ns);
	}
	advance(pit, now_ns);
	pthread_mutex_unlock(&pit->lock);
}

/* Channel ch as it will be at now_ns, changing nothing. */
static struct i8254_channel channel_at(struct i8254 *pit, int ch, u64 now_ns)
{
	pthread_mutex_lock(&pit->lock);
	struct i8254_channel c = pit->ch[ch];
	pthread_mutex_unlock(&pit->lock);
	settle(&c, now_ns);
	return c;
}

u32 i8254_counter(struct i8254 *pit, int ch, u64 now_ns)
{
	struct i8254_channel c = channel_at(pit, ch, now_ns);
	return counter_at(&c, now_ns);
}

bool i8254_out(struct i8254 *pit, int ch, u64 now_ns)
{
	struct i8254_channel c = channel_at(pit, ch, now_ns);
	return out_at(&c, now_ns);
}

static u64 pit_now(struct i8254 *pit)
{
	return pit->now ? pit->now(pit->clock) : 0;
}

static bool pit_read(struct hw_dev *dev, u64 addr, u32 len, void *data)
{
	struct i8254 *pit = hw_container_of(dev, struct i8254, dev);
	u64 now = pit_now(pit);
	u8 *out = data;
	for (u32 i = 0; i < len; i++)
		out[i] = i8254_port_read(pit, (u16)(addr + i), now);
	return true;
}

static bool pit_write(struct hw_dev *dev, u64 addr, u32 len, const void *data)
{
	struct i8254 *pit = hw_container_of(dev, struct i8254, dev);
	u64 now = pit_now(pit);
	const u8 *in = data;
	for (u32 i = 0; i < len; i++)
		i8254_port_write(pit, (u16)(addr + i), in[i], now);
	return true;
}

/* Power-on: every channel in mode 0 waiting for a count, channels 0 and 1
 * gated on (tied high on a PC), channel 2 gated by port 0x61. */
static void pit_reset(struct hw_dev *dev)
{
	struct i8254 *pit = hw_container_of(dev, struct i8254, dev);
	pthread_mutex_lock(&pit->lock);
	u64 now = pit_now(pit);
	for (int i = 0; i < 3; i++) {
		memset(&pit->ch[i], 0, sizeof(pit->ch[i]));
		pit->ch[i].s.gate = i != 2;
		pit->ch[i].s.count_load_time = (s64)now;
		pit->ch[i].wait_count = true;
	}
	pit->flags = 0;
	pit->synced_ns = (s64)now;
	set_out0(pit, false);
	pthread_mutex_unlock(&pit->lock);
}

static void pit_save(struct hw_dev *dev, void *state)
{
	struct i8254 *pit = hw_container_of(dev, struct i8254, dev);
	struct i8254_state *st = state;
	pthread_mutex_lock(&pit->lock);
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < 3; i++)
		st->channels[i] = pit->ch[i].s;
	st->flags = pit->flags;
	pthread_mutex_unlock(&pit->lock);
}

static int pit_restore(struct hw_dev *dev, const void *state)
{
	struct i8254 *pit = hw_container_of(dev, struct i8254, dev);
	const struct i8254_state *st = state;
	pthread_mutex_lock(&pit->lock);
	u64 now = pit_now(pit);
	for (int i = 0; i < 3; i++) {
		pit->ch[i].s = st->channels[i];
		if (pit->ch[i].s.mode > 5)
			pit->ch[i].s.mode -= 4;
		/* KVM's image has no "waiting" flags: a restored channel
		 * counts from count_load_time. */
		pit->ch[i].wait_count = false;
		pit->ch[i].triggered = true;
		pit->ch[i].paused = !pit->ch[i].s.gate && gate_stops_count(pit->ch[i].s.mode);
		pit->ch[i].paused_at = (s64)now;
		pit->ch[i].next_count = 0;
	}
	pit->flags = st->flags;
	pit->synced_ns = (s64)now;
	set_out0(pit, out_at(&pit->ch[0], now));
	pthread_mutex_unlock(&pit->lock);
	return 0;
}

const struct hw_dev_ops i8254_ops = {
	.name = "i8254",
	.read = pit_read,
	.write = pit_write,
	.reset = pit_reset,
	.save = pit_save,
	.restore = pit_restore,
};

void i8254_init(struct i8254 *pit, void (*irq)(void *opaque, int level), void *opaque,
		u64 (*now)(void *clock), void *clock)
{
	memset(pit, 0, sizeof(*pit));
	pit->dev.ops = &i8254_ops;
	pthread_mutex_init(&pit->lock, NULL);
	pit->irq = irq;
	pit->opaque = opaque;
	pit->now = now;
	pit->clock = clock;
	pit_reset(&pit->dev);
}

void i8254_destroy(struct i8254 *pit)
{
	pthread_mutex_destroy(&pit->lock);
}

int i8254_register(struct i8254 *pit, struct hw_bus *pio)
{
	int r = hw_bus_register(pio, I8254_BASE, 4, &pit->dev);
	if (!r)
		r = hw_bus_register(pio, I8254_SPEAKER_PORT, 1, &pit->dev);
	if (r)
		hw_bus_unregister(pio, &pit->dev);
	return r;
}
