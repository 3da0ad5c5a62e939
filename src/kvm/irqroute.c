/*
 * The GSI routing table (KVM API 4.52 KVM_SET_GSI_ROUTING) and the ways an
 * interrupt enters through it: KVM_IRQ_LINE(_STATUS), KVM_SIGNAL_MSI, and
 * irqfds (irqfd.c).
 *
 * A table is immutable once published; KVM_SET_GSI_ROUTING builds a new one
 * and swaps it in (kvm/srcu.h), so injection never waits for a route change
 * and a route change never sees a half-used table.  Until the VMM sets one,
 * the table is the one KVM_CREATE_IRQCHIP installs (GSI 0-15 to both the
 * IOAPIC pin and the PIC pin of that number, 16-23 to the IOAPIC;
 * kvm_setup_default_irq_routing) or, with a split irqchip, an empty one.
 *
 * Like KVM, an input pin sees the OR of its sources: KVM_IRQ_LINE and plain
 * irqfds drive the "user space" level, resampling irqfds their own, so a
 * resampler's de-assert on EOI does not drop a level the VMM holds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/irqchip.h"
#include "kvm/irqroute.h"

#define PIC_PINS 8

static const struct route_table empty_table = {.nr_gsi = 0, .nr = 0, .is_static = true};
static struct route_table *default_table;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

/* Allocate a table for nr entries and GSIs 0..nr_gsi-1. */
static struct route_table *table_alloc(u32 nr, u32 nr_gsi)
{
	struct route_table *t = calloc(1, sizeof(*t) + nr * sizeof(t->e[0]));
	if (!t)
		return NULL;
	t->start = calloc(nr_gsi + 1, sizeof(u32));
	if (!t->start) {
		free(t);
		return NULL;
	}
	t->nr_gsi = nr_gsi;
	memset(t->chip_gsi, 0xff, sizeof(t->chip_gsi));
	return t;
}

static void table_free(const struct route_table *t)
{
	if (t && !t->is_static) {
		free(t->start);
		free((void *)t);
	}
}

/* kvm_msi_route_invalid: with KVM_X2APIC_API_USE_32BIT_IDS, address_hi
 * bits 31:8 carry destination bits 31:8 and bits 7:0 must be 0. */
static bool msi_invalid(bool x2apic_ids, u32 address_hi)
{
	return x2apic_ids && (address_hi & 0xff);
}

/*
 * kvm_set_routing_entry and setup_routing_entry for entry `ue`, added to
 * the table under construction whose entries [0, t->nr) are sorted by GSI
 * (entries come in any GSI order: they are sorted after the last one).
 */
static int add_entry(struct route_table *t, const struct kvm_irq_routing_entry *ue, bool split,
		     bool x2apic_ids)
{
	/* Flags: only an MSI route may say KVM_MSI_VALID_DEVID (the device
	 * id is for ARM's ITS; x86 ignores it, as KVM does). */
	if (ue->flags & ~(ue->type == KVM_IRQ_ROUTING_MSI ? KVM_MSI_VALID_DEVID : 0))
		return -EINVAL;
	/* One route per chip and GSI, and an MSI route alone on its GSI. */
	for (u32 i = 0; i < t->nr; i++) {
		const struct route_entry *ei = &t->e[i];
		if (ei->gsi == ue->gsi &&
		    (ei->type != KVM_IRQ_ROUTING_IRQCHIP || ue->type != KVM_IRQ_ROUTING_IRQCHIP ||
		     ei->chip == ue->u.irqchip.irqchip))
			return -EINVAL;
	}
	struct route_entry *e = &t->e[t->nr];
	e->gsi = ue->gsi;
	e->type = ue->type;
	switch (ue->type) {
	case KVM_IRQ_ROUTING_IRQCHIP:
		if (split)
			return -EINVAL;
		e->chip = ue->u.irqchip.irqchip;
		e->pin = ue->u.irqchip.pin;
		switch (e->chip) {
		case KVM_IRQCHIP_PIC_MASTER:
		case KVM_IRQCHIP_PIC_SLAVE:
			if (e->pin >= PIC_PINS)
				return -EINVAL;
			break;
		case KVM_IRQCHIP_IOAPIC:
			if (e->pin >= SKVM_IOAPIC_PINS)
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
		break;
	case KVM_IRQ_ROUTING_MSI:
		e->msi_lo = ue->u.msi.address_lo;
		e->msi_hi = ue->u.msi.address_hi;
		e->msi_data = ue->u.msi.data;
		if (msi_invalid(x2apic_ids, e->msi_hi))
			return -EINVAL;
		break;
	default:
		/* S390 adapters, Hyper-V SynIC and Xen event channels do not
		 * exist here. */
		return -EINVAL;
	}
	t->nr++;
	return 0;
}

static bool x2apic_ids(const struct skvm_vm *vm)
{
	return vm->x2apic_api & KVM_X2APIC_API_USE_32BIT_IDS;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct route_entry *x = a, *y = b;
	return x->gsi < y->gsi ? -1 : x->gsi > y->gsi;
}

/* Sort by GSI and fill the per-GSI start index and the chip pin -> GSI map. */
static void table_finish(struct route_table *t)
{
	/* qsort is not stable, but entries of one GSI differ in chip or are
	 * alone, and their order does not change what a GSI does. */
	qsort(t->e, t->nr, sizeof(t->e[0]), entry_cmp);
	u32 i = 0;
	for (u32 gsi = 0; gsi <= t->nr_gsi; gsi++) {
		t->start[gsi] = i;
		while (i < t->nr && t->e[i].gsi == gsi)
			i++;
	}
	for (i = 0; i < t->nr; i++)
		if (t->e[i].type == KVM_IRQ_ROUTING_IRQCHIP)
			t->chip_gsi[t->e[i].chip][t->e[i].pin] = (s32)t->e[i].gsi;
}

static void build_default(void)
{
	struct kvm_irq_routing_entry ue[16 * 2 + 8];
	u32 n = 0;
	memset(ue, 0, sizeof(ue));
	for (u32 gsi = 0; gsi < SKVM_IOAPIC_PINS; gsi++) {
		ue[n].gsi = gsi;
		ue[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		ue[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		ue[n++].u.irqchip.pin = gsi;
		if (gsi < 2 * PIC_PINS) {
			ue[n].gsi = gsi;
			ue[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			ue[n].u.irqchip.irqchip = gsi < PIC_PINS ? KVM_IRQCHIP_PIC_MASTER
								 : KVM_IRQCHIP_PIC_SLAVE;
			ue[n++].u.irqchip.pin = gsi % PIC_PINS;
		}
	}
	struct route_table *t = table_alloc(n, SKVM_IOAPIC_PINS);
	if (!t)
		return;
	for (u32 i = 0; i < n; i++)
		add_entry(t, &ue[i], false, false);
	table_finish(t);
	t->is_static = true;
	default_table = t;
}

struct skvm_irqroute *skvm_irqroute_create(void)
{
	pthread_once(&default_once, build_default);
	if (!default_table)
		return NULL;
	struct skvm_irqroute *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->line_lock, NULL);
	return r;
}

void skvm_irqroute_destroy(struct skvm_irqroute *r)
{
	if (!r)
		return;
	table_free(atomic_load(&r->table));
	pthread_mutex_destroy(&r->line_lock);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

const struct route_table *skvm_route_table(struct skvm_vm *vm)
{
	const struct route_table *t = atomic_load(&vm->irqroute->table);
	if (t)
		return t;
	if (skvm_irqchip_in_kernel(vm) && !skvm_irqchip_split(vm))
		return default_table;
	return &empty_table;
}

/* kvm_set_pic_irq / kvm_set_ioapic_irq: the pin follows the OR of its
 * sources' levels. */
static int set_chip_pin(struct skvm_vm *vm, u32 src, u32 chip, u32 pin, int level)
{
	struct skvm_irqroute *r = vm->irqroute;
	pthread_mutex_lock(&r->line_lock);
	u8 *s = &r->line[chip][pin];
	if (level)
		*s |= (u8)(1u << src);
	else
		*s &= (u8)~(1u << src);
	int ret = skvm_irqchip_set_pin(vm, chip, pin, *s != 0);
	pthread_mutex_unlock(&r->line_lock);
	return ret;
}

/* kvm_set_msi: an MSI is an edge; level 0 does nothing. */
static int set_msi(struct skvm_vm *vm, u32 lo, u32 hi, u32 data, int level)
{
	if (msi_invalid(x2apic_ids(vm), hi))
		return -EINVAL;
	if (!level)
		return -1;
	return skvm_irqchip_deliver_msi(vm, (u64)hi << 32 | lo, data);
}

int skvm_route_set_gsi(struct skvm_vm *vm, u32 src, u32 gsi, int level)
{
	struct skvm_irqroute *r = vm->irqroute;
	/* kvm_set_irq: the merged status is -1 unless a route took it, then
	 * the sum of what the routes that took it reported. */
	int ret = -1;
	u32 idx = skvm_srcu_read_lock(&r->srcu);
	const struct route_table *t = skvm_route_table(vm);
	if (gsi < t->nr_gsi) {
		for (u32 i = t->start[gsi]; i < t->start[gsi + 1]; i++) {
			const struct route_entry *e = &t->e[i];
			int v = e->type == KVM_IRQ_ROUTING_MSI
					? set_msi(vm, e->msi_lo, e->msi_hi, e->msi_data, level)
					: set_chip_pin(vm, src, e->chip, e->pin, level);
			if (v >= 0)
				ret = v + (ret < 0 ? 0 : ret);
		}
	}
	skvm_srcu_read_unlock(&r->srcu, idx);
	return ret;
}

u32 skvm_route_ioapic_pins(struct skvm_vm *vm, u32 gsi)
{
	struct skvm_irqroute *r = vm->irqroute;
	u32 pins = 0;
	u32 idx = skvm_srcu_read_lock(&r->srcu);
	const struct route_table *t = skvm_route_table(vm);
	for (u32 i = gsi < t->nr_gsi ? t->start[gsi] : 0; gsi < t->nr_gsi && i < t->start[gsi + 1];
	     i++)
		if (t->e[i].type == KVM_IRQ_ROUTING_IRQCHIP && t->e[i].chip == KVM_IRQCHIP_IOAPIC)
			pins |= 1u << t->e[i].pin;
	skvm_srcu_read_unlock(&r->srcu, idx);
	return pins;
}

void skvm_route_each_msi(struct skvm_vm *vm, u32 nr_gsi,
			 void (*fn)(void *opaque, u64 address, u32 data), void *opaque)
{
	struct skvm_irqroute *r = vm->irqroute;
	u32 idx = skvm_srcu_read_lock(&r->srcu);
	const struct route_table *t = skvm_route_table(vm);
	u32 n = nr_gsi < t->nr_gsi ? nr_gsi : t->nr_gsi;
	for (u32 i = 0; n && i < t->start[n]; i++)
		if (t->e[i].type == KVM_IRQ_ROUTING_MSI)
			fn(opaque, (u64)t->e[i].msi_hi << 32 | t->e[i].msi_lo, t->e[i].msi_data);
	skvm_srcu_read_unlock(&r->srcu, idx);
}

long skvm_irq_line(struct skvm_vm *vm, unsigned int cmd, unsigned long arg)
{
	struct kvm_irq_level ev;
	if (skvm_copy_from_user(&ev, arg, sizeof(ev)))
		return -EFAULT;
	if (!skvm_irqchip_in_kernel(vm))
		return -ENXIO;
	ev.status = skvm_route_set_gsi(vm, SKVM_IRQ_SRC_USER, ev.irq, ev.level != 0);
	if (cmd == KVM_IRQ_LINE_STATUS && skvm_copy_to_user(arg, &ev, sizeof(ev)))
		return -EFAULT;
	return 0;
}

long skvm_signal_msi(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_msi msi;
	if (skvm_copy_from_user(&msi, arg, sizeof(msi)))
		return -EFAULT;
	if (!skvm_irqchip_in_kernel(vm) || (msi.flags & ~KVM_MSI_VALID_DEVID))
		return -EINVAL;
	/* The ioctl returns the delivery status itself, -1 included. */
	return set_msi(vm, msi.address_lo, msi.address_hi, msi.data, 1);
}

long skvm_set_gsi_routing(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_irq_routing hdr;
	if (skvm_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	/* kvm_arch_can_set_irq_routing: only with an in-kernel irqchip. */
	if (!skvm_irqchip_in_kernel(vm) || hdr.nr > SKVM_MAX_IRQ_ROUTES || hdr.flags)
		return -EINVAL;
	struct kvm_irq_routing_entry *ue = NULL;
	if (hdr.nr) {
		ue = malloc(hdr.nr * sizeof(*ue));
		if (!ue)
			return -ENOMEM;
		if (skvm_copy_from_user(ue, arg + sizeof(hdr), hdr.nr * sizeof(*ue))) {
			free(ue);
			return -EFAULT;
		}
	}
	u32 nr_gsi = 0;
	long ret = 0;
	for (u32 i = 0; i < hdr.nr && !ret; i++) {
		if (ue[i].gsi >= SKVM_MAX_IRQ_ROUTES)
			ret = -EINVAL;
		else if (ue[i].gsi + 1 > nr_gsi)
			nr_gsi = ue[i].gsi + 1;
	}
	struct route_table *t = NULL;
	if (!ret) {
		t = table_alloc(hdr.nr, nr_gsi);
		if (!t)
			ret = -ENOMEM;
	}
	bool split = skvm_irqchip_split(vm), ids = x2apic_ids(vm);
	for (u32 i = 0; i < hdr.nr && !ret; i++)
		ret = add_entry(t, &ue[i], split, ids);
	free(ue);
	if (ret) {
		table_free(t);
		return ret;
	}
	table_finish(t);

	struct skvm_irqroute *r = vm->irqroute;
	pthread_mutex_lock(&r->lock);
	struct route_table *old = atomic_exchange(&r->table, t);
	skvm_srcu_synchronize(&r->srcu);
	pthread_mutex_unlock(&r->lock);
	table_free(old);
	skvm_irqchip_routes_changed(vm);
	return 0;
}
