/*
 * Intel 8254 programmable interval timer: three channels at ports
 * 0x40-0x42, the control word at 0x43, and the PC's port 0x61 bits for
 * channel 2 (gate, speaker data, OUT2).  Time is a virtual clock in
 * nanoseconds that the caller provides (the `now` callback, or `now_ns`
 * arguments); the PIT arms no host timer.  OUT0 drives IRQ 0 through the
 * irq() callback; i8254_next_event() says when the next rising edge of
 * OUT0 is due, so a run loop can sleep until then and call
 * i8254_advance().  See docs/devices.md.
 */
#ifndef SOFTKVM_HW_I8254_H
#define SOFTKVM_HW_I8254_H

#include <pthread.h>

#include "hw/bus.h"

#define I8254_HZ 1193182ULL /* 14.31818 MHz / 12 */
#define I8254_BASE 0x40
#define I8254_SPEAKER_PORT 0x61
/* KVM_PIT_FLAGS_*: the speaker data bit of port 0x61 lives in the flags,
 * so KVM_GET_PIT2 carries it. */
#define I8254_FLAG_HPET_LEGACY 0x1
#define I8254_FLAG_SPEAKER_DATA_ON 0x2

/* Field for field `struct kvm_pit_channel_state` (KVM_GET_PIT2). */
struct i8254_channel_state {
	u32 count; /* initial count in clocks; 0 was written as 0x10000 */
	u16 latched_count;
	u8 count_latched; /* byte sequence left to read of the latch (RW_*) */
	u8 status_latched;
	u8 status;
	u8 read_state;
	u8 write_state;
	u8 write_latch;
	u8 rw_mode;
	u8 mode;
	u8 bcd;
	u8 gate;
	s64 count_load_time; /* virtual ns when count was loaded or triggered */
};

/* `struct kvm_pit_state2`. */
struct i8254_state {
	struct i8254_channel_state channels[3];
	u32 flags; /* KVM_PIT_FLAGS_* */
	u32 reserved[9];
};

struct i8254_channel {
	struct i8254_channel_state s;
	/* Not in KVM's image: after a control word, until the count comes. */
	bool wait_count;
	/* Modes 1 and 5: the gate has triggered since the count was written. */
	bool triggered;
	/* Modes 0, 2, 3, 4: gate low stops the count at paused_at (ns). */
	bool paused;
	s64 paused_at;
	/* Modes 2 and 3: a count written while counting waits for the end
	 * of the period (mode 2) or half-cycle (mode 3): next_count clocks,
	 * taking over at next_at ns (next_count 0: none pending).  Modes 1
	 * and 5: it waits for the next trigger (next_at INT64_MAX). */
	u32 next_count;
	s64 next_at;
	bool next_in_low; /* mode 3: it takes over at the end of a high half */
};

struct i8254 {
	struct hw_dev dev;
	pthread_mutex_t lock;
	struct i8254_channel ch[3];
	u32 flags; /* I8254_FLAG_* */
	bool out0;	/* level of IRQ 0 last reported */
	s64 synced_ns;	/* OUT0 edges up to here have been reported */
	/* Called with the PIT's lock held. */
	void (*irq)(void *opaque, int level);
	void *opaque;
	u64 (*now)(void *clock); /* virtual ns, for the bus ops */
	void *clock;
};

void i8254_init(struct i8254 *pit, void (*irq)(void *opaque, int level), void *opaque,
		u64 (*now)(void *clock), void *clock);
void i8254_destroy(struct i8254 *pit);
/* Claim 0x40-0x43 and 0x61 on a PIO bus. */
int i8254_register(struct i8254 *pit, struct hw_bus *pio);

/* Port access at virtual time now_ns (the bus ops call these with now()). */
u8 i8254_port_read(struct i8254 *pit, u16 port, u64 now_ns);
void i8254_port_write(struct i8254 *pit, u16 port, u8 val, u64 now_ns);

/* Gate input of channel ch (channel 2's comes from port 0x61 bit 0). */
void i8254_set_gate(struct i8254 *pit, int ch, bool level, u64 now_ns);

/* Report OUT0 edges that happened up to now_ns through irq(). */
void i8254_advance(struct i8254 *pit, u64 now_ns);
/*
 * Virtual ns of the next rising edge of OUT0 not yet reported (it may lie
 * in the past if advance has not been called), or UINT64_MAX for none.
 */
u64 i8254_next_event(struct i8254 *pit);

/* Counter value (binary) and OUT level of a channel at now_ns. */
u32 i8254_counter(struct i8254 *pit, int ch, u64 now_ns);
bool i8254_out(struct i8254 *pit, int ch, u64 now_ns);

extern const struct hw_dev_ops i8254_ops;

#endif
