/*
 * Unit tests of the device buses (src/hw/bus.c): ranges, overlap rules,
 * dispatch with absolute addresses, unclaimed accesses, and lock-free
 * lookups racing registrations.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "hw/bus.h"
#include "unit_t.h"

struct probe {
	struct hw_dev dev;
	u64 last_addr;
	u32 last_len;
	u8 last_byte;
	int resets;
	u8 value;
};

static bool probe_read(struct hw_dev *dev, u64 addr, u32 len, void *data)
{
	struct probe *p = hw_container_of(dev, struct probe, dev);
	p->last_addr = addr;
	p->last_len = len;
	memset(data, p->value, len);
	return true;
}

static bool probe_write(struct hw_dev *dev, u64 addr, u32 len, const void *data)
{
	struct probe *p = hw_container_of(dev, struct probe, dev);
	p->last_addr = addr;
	p->last_len = len;
	p->last_byte = *(const u8 *)data;
	return true;
}

static void probe_reset(struct hw_dev *dev)
{
	hw_container_of(dev, struct probe, dev)->resets++;
}

static const struct hw_dev_ops probe_ops = {
	.name = "probe",
	.read = probe_read,
	.write = probe_write,
	.reset = probe_reset,
};

/* Declines everything: the access must become an exit. */
static bool refuse(struct hw_dev *dev, u64 addr, u32 len, void *data)
{
	(void)dev, (void)addr, (void)len, (void)data;
	return false;
}
static const struct hw_dev_ops refuse_ops = {.name = "refuse", .read = refuse};

static struct hw_bus race_bus;
static _Atomic int race_stop;
static _Atomic long race_misses;

static void *race_reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&race_stop)) {
		u8 v;
		/* Port 0x80 stays registered all along. */
		if (!hw_bus_read(&race_bus, 0x80, 1, &v) || v != 0x5a)
			atomic_fetch_add(&race_misses, 1);
	}
	return NULL;
}

static void test_race(void)
{
	static struct probe fixed = {.dev.ops = &probe_ops, .value = 0x5a};
	static struct probe churn[8];
	hw_bus_init(&race_bus);
	hw_bus_register(&race_bus, 0x80, 1, &fixed.dev);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, race_reader, NULL);
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 8; i++) {
			churn[i].dev.ops = &probe_ops;
			hw_bus_register(&race_bus, 0x100 + i * 4u, 4, &churn[i].dev);
		}
		for (int i = 0; i < 8; i++)
			hw_bus_unregister(&race_bus, &churn[i].dev);
	}
	atomic_store(&race_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	EQ(atomic_load(&race_misses), 0, "lookups racing 3200 registrations always find port 0x80");
	hw_bus_destroy(&race_bus);
}

int main(void)
{
	struct hw_bus bus;
	struct probe a = {.dev.ops = &probe_ops, .value = 0xaa};
	struct probe b = {.dev.ops = &probe_ops, .value = 0xbb};
	struct probe r = {.dev.ops = &refuse_ops};
	u8 buf[8];

	EQ(hw_bus_init(&bus), 0, "init");
	OK(!hw_bus_read(&bus, 0x20, 1, buf), "empty bus claims nothing");
	EQ(hw_bus_register(&bus, 0x20, 2, &a.dev), 0, "register 0x20-0x21");
	EQ(hw_bus_register(&bus, 0xa0, 2, &a.dev), 0, "same device, second range");
	EQ(hw_bus_register(&bus, 0x40, 4, &b.dev), 0, "register 0x40-0x43");
	EQ(hw_bus_register(&bus, 0x21, 1, &b.dev), -EEXIST, "overlap with the end of a range");
	EQ(hw_bus_register(&bus, 0x1f, 2, &b.dev), -EEXIST, "overlap with the start of a range");
	EQ(hw_bus_register(&bus, 0x10, 0x100, &b.dev), -EEXIST, "range covering others");
	EQ(hw_bus_register(&bus, 0x50, 0, &b.dev), -EINVAL, "empty range");
	EQ(hw_bus_register(&bus, ~0ULL, 2, &b.dev), -EINVAL, "wrapping range");
	EQ(hw_bus_register(&bus, 0x22, 2, &b.dev), 0, "adjacent range is fine");

	OK(hw_bus_read(&bus, 0x21, 1, buf) && buf[0] == 0xaa, "read dispatched to its device");
	EQ(a.last_addr, 0x21, "device sees the absolute address");
	OK(hw_bus_read(&bus, 0xa1, 1, buf) && a.last_addr == 0xa1, "second range, same device");
	OK(hw_bus_write(&bus, 0x43, 1, "\x34") && b.last_byte == 0x34 && b.last_addr == 0x43,
	   "write dispatched with its data");
	OK(hw_bus_read(&bus, 0x40, 4, buf) && b.last_len == 4, "dword inside a range");
	OK(!hw_bus_read(&bus, 0x42, 4, buf), "access running past the range end is an exit");
	OK(!hw_bus_read(&bus, 0x30, 1, buf), "unclaimed port is an exit");
	OK(!hw_bus_write(&bus, 0x1f, 1, buf), "port just below a range is an exit");
	OK(!hw_bus_read(&bus, 0x21, 0, buf), "zero-length access claims nothing");

	EQ(hw_bus_register(&bus, 0x3f8, 8, &r.dev), 0, "register a declining device");
	OK(!hw_bus_read(&bus, 0x3f8, 1, buf), "device declining makes an exit");
	OK(!hw_bus_write(&bus, 0x3f8, 1, buf), "device without write op makes an exit");

	hw_bus_reset_all(&bus);
	OK(a.resets == 1 && b.resets == 1, "reset_all resets each device once");

	EQ(hw_bus_unregister(&bus, &a.dev), 0, "unregister drops all ranges");
	OK(!hw_bus_read(&bus, 0x20, 1, buf) && !hw_bus_read(&bus, 0xa0, 1, buf),
	   "both ranges gone");
	OK(hw_bus_read(&bus, 0x40, 1, buf), "other device still there");
	EQ(hw_bus_unregister(&bus, &a.dev), -ENOENT, "second unregister");
	EQ(hw_bus_register(&bus, 0x20, 2, &b.dev), 0, "freed range can be taken again");

	/* MMIO addresses use the full 64 bits. */
	struct hw_bus mmio;
	hw_bus_init(&mmio);
	EQ(hw_bus_register(&mmio, 0xfec00000, 0x100, &a.dev), 0, "mmio range");
	OK(hw_bus_write(&mmio, 0xfec00010, 4, "\1\0\0\0") && a.last_addr == 0xfec00010,
	   "mmio dispatch");
	OK(!hw_bus_read(&mmio, 0xfec00100, 4, buf), "mmio past the range is an exit");
	EQ(hw_bus_register(&mmio, 0xfffffffffffff000ULL, 0x1000, &b.dev), 0,
	   "range ending at the top of the address space");
	OK(hw_bus_read(&mmio, 0xfffffffffffffff8ULL, 8, buf), "last qword of the address space");
	hw_bus_destroy(&mmio);
	hw_bus_destroy(&bus);

	test_race();
	return done();
}
