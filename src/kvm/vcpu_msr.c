/*
 * MSR ioctls (KVM API 4.18-4.19, 4.3 for the lists, 4.106-4.107 for MCE):
 * the system-fd lists and feature MSRs, vCPU KVM_GET/SET_MSRS.  The rules
 * for each MSR live in x86/msr.c, shared with the guest's RDMSR/WRMSR.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/kvm.h"
#include "kvm/vcpu_msr.h"
#include "kvm/x86_ioctl.h"
#include "x86/msr.h"

/* KVM's MAX_IO_MSRS: a larger nmsrs is E2BIG. */
#define MSR_IO_MAX 256

/* KVM_GET_MSR_INDEX_LIST / KVM_GET_MSR_FEATURE_INDEX_LIST: the count is
 * written back even when the buffer is too small (E2BIG). */
static long msr_list(unsigned long arg, const u32 *list, u32 n)
{
	struct kvm_msr_list hdr;
	if (skvm_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	u32 room = hdr.nmsrs;
	hdr.nmsrs = n;
	if (skvm_copy_to_user(arg, &hdr, sizeof(hdr)))
		return -EFAULT;
	if (room < n)
		return -E2BIG;
	if (skvm_copy_to_user(arg + sizeof(hdr), list, n * sizeof(u32)))
		return -EFAULT;
	return 0;
}

/*
 * KVM's msr_io(): read the header and entries, do each MSR in turn and stop
 * at the first that fails; the result is the number done.  A GET writes the
 * entries back.
 */
static long msr_io(struct skvm_vcpu *vcpu, unsigned long arg, bool set)
{
	struct kvm_msrs hdr;
	if (skvm_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nmsrs >= MSR_IO_MAX)
		return -E2BIG;
	size_t size = hdr.nmsrs * sizeof(struct kvm_msr_entry);
	struct kvm_msr_entry *e = malloc(size ? size : 1);
	if (!e)
		return -ENOMEM;
	long r = -EFAULT;
	if (skvm_copy_from_user(e, arg + sizeof(hdr), size))
		goto out;
	u32 i;
	for (i = 0; i < hdr.nmsrs; i++) {
		int fail;
		u64 v = e[i].data;
		if (!vcpu)
			fail = x86_msr_feature_get(e[i].index, &v);
		else if (set)
			fail = x86_msr_set(&vcpu->cpu, e[i].index, v, true);
		else
			fail = x86_msr_get(&vcpu->cpu, e[i].index, &v, true);
		if (!set)
			e[i].data = fail ? 0 : v;
		if (fail)
			break;
	}
	r = i;
	if (!set && skvm_copy_to_user(arg + sizeof(hdr), e, size))
		r = -EFAULT;
out:
	free(e);
	return r;
}

long skvm_msr_sys_ioctl(unsigned int cmd, unsigned long arg)
{
	const u32 *list;
	u32 n;
	switch (cmd) {
	case KVM_GET_MSR_INDEX_LIST:
		list = x86_msr_index_list(&n);
		return msr_list(arg, list, n);
	case KVM_GET_MSR_FEATURE_INDEX_LIST:
		list = x86_msr_feature_list(&n);
		return msr_list(arg, list, n);
	case KVM_GET_MSRS:
		return msr_io(NULL, arg, false);
	case KVM_X86_GET_MCE_CAP_SUPPORTED: {
		u64 cap = X86_MCG_CAP_SUPPORTED;
		return skvm_copy_to_user(arg, &cap, sizeof(cap)) ? -EFAULT : 0;
	}
	default:
		return SKVM_NOIOCTL;
	}
}

/*
 * KVM_X86_SETUP_MCE: 1-32 banks, capability bits from the supported set
 * plus the bank count (7:0) and extended-register count (23:16).  MCG_CTL
 * and every MCi_CTL start all ones, MCi_CTL2 at zero, as KVM sets them.
 */
static long setup_mce(struct x86_cpu *c, unsigned long arg)
{
	u64 cap;
	if (skvm_copy_from_user(&cap, arg, sizeof(cap)))
		return -EFAULT;
	u32 banks = cap & 0xff;
	if (!banks || banks > X86_MCE_MAX_BANKS)
		return -EINVAL;
	if (cap & ~(X86_MCG_CAP_SUPPORTED | 0xffULL | 0xff0000ULL))
		return -EINVAL;
	c->msr.mcg_cap = cap;
	if (cap & BIT(8)) /* MCG_CTL_P */
		c->msr.mcg_ctl = ~0ULL;
	for (u32 b = 0; b < banks; b++) {
		c->msr.mce_banks[b * 4] = ~0ULL;
		c->msr.mce_ctl2[b] = 0;
	}
	return 0;
}

/* IA32_MCi_STATUS bits (SDM 15.3.2.2) and MCG_STATUS.MCIP. */
#define MCI_VAL BIT(63)
#define MCI_OVER BIT(62)
#define MCI_UC BIT(61)
#define MCI_PCC BIT(57)
#define MCI_S BIT(56)
#define MCI_AR BIT(55)
#define MCG_MCIP BIT(2)

/*
 * KVM_X86_SET_MCE: log an error in a bank as the hardware would, and raise
 * #MC for an uncorrected one (KVM's kvm_vcpu_ioctl_x86_set_mce).  Without
 * CMCI an uncorrected-no-action error (UCNA) is only logged.
 */
static long set_mce(struct x86_cpu *c, unsigned long arg)
{
	struct kvm_x86_mce mce;
	if (skvm_copy_from_user(&mce, arg, sizeof(mce)))
		return -EFAULT;
	u32 nbanks = c->msr.mcg_cap & 0xff;
	if (mce.bank >= nbanks || !(mce.status & MCI_VAL))
		return -EINVAL;
	u64 *b = &c->msr.mce_banks[mce.bank * 4];
	bool ucna = !mce.mcg_status && !(mce.status & (MCI_PCC | MCI_S | MCI_AR)) &&
		    (mce.status & MCI_UC);
	if (ucna) {
		b[1] = mce.status;
		b[2] = mce.addr;
		b[3] = mce.misc;
		c->msr.mcg_status = mce.mcg_status;
		return 0;
	}
	if (mce.status & MCI_UC) {
		/* Reporting disabled by MCG_CTL or MCi_CTL: dropped. */
		if (((c->msr.mcg_cap & BIT(8)) && c->msr.mcg_ctl != ~0ULL) || b[0] != ~0ULL)
			return 0;
		/* A second #MC while one is in progress, or #MC disabled by
		 * CR4.MCE, shuts the processor down (SDM 15.10.1). */
		if ((c->msr.mcg_status & MCG_MCIP) || !(c->cr4 & X86_CR4_MCE)) {
			c->ev.triple_fault_pending = 1;
			return 0;
		}
		if (b[1] & MCI_VAL)
			mce.status |= MCI_OVER;
		b[1] = mce.status;
		b[2] = mce.addr;
		b[3] = mce.misc;
		c->msr.mcg_status = mce.mcg_status;
		c->ev.exception.pending = 1;
		c->ev.exception.nr = 18;
		c->ev.exception.has_error_code = 0;
		c->ev.exception.error_code = 0;
	} else if (!(b[1] & MCI_VAL) || !(b[1] & MCI_UC)) {
		/* A corrected error overwrites an earlier corrected one. */
		if (b[1] & MCI_VAL)
			mce.status |= MCI_OVER;
		b[1] = mce.status;
		b[2] = mce.addr;
		b[3] = mce.misc;
	} else {
		b[1] |= MCI_OVER; /* an uncorrected error stays logged */
	}
	return 0;
}

/*
 * KVM_X86_SET_MSR_FILTER (KVM API 4.126): up to 16 ranges, each a bitmap
 * for reads, writes or both (bit set = allowed), the first matching range
 * deciding, else the default.  KVM's checks: unknown flags, a default-deny
 * filter without ranges, a range without READ/WRITE or with a bitmap over
 * KVM_MSR_FILTER_MAX_BITMAP_SIZE are EINVAL; the bitmap is copied in whole
 * longs.  Only the guest's RDMSR/WRMSR are filtered, never KVM_GET/SET_MSRS,
 * and never the x2APIC range.  A new filter is published whole: vCPUs read
 * it under msr_srcu, so the old one is freed once none can hold it, and
 * running vCPUs see the new one from their next RDMSR/WRMSR.
 */
struct skvm_msr_filter {
	bool default_allow;
	u32 count;
	struct {
		u32 flags, base, nmsrs;
		u64 *bitmap;
	} ranges[KVM_MSR_FILTER_MAX_RANGES];
};

static void msr_filter_free(struct skvm_msr_filter *f)
{
	if (!f)
		return;
	for (u32 i = 0; i < f->count; i++)
		free(f->ranges[i].bitmap);
	free(f);
}

static long msr_filter_add(struct skvm_msr_filter *f, const struct kvm_msr_filter_range *r)
{
	if (!r->nmsrs)
		return 0;
	if ((r->flags & ~(u32)(KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE)) || !r->flags)
		return -EINVAL;
	size_t size = ((size_t)r->nmsrs + 63) / 64 * 8;
	if (size > KVM_MSR_FILTER_MAX_BITMAP_SIZE)
		return -EINVAL;
	u64 *bitmap = malloc(size);
	if (!bitmap)
		return -ENOMEM;
	if (skvm_copy_from_user(bitmap, (unsigned long)r->bitmap, size)) {
		free(bitmap);
		return -EFAULT;
	}
	f->ranges[f->count].flags = r->flags;
	f->ranges[f->count].base = r->base;
	f->ranges[f->count].nmsrs = r->nmsrs;
	f->ranges[f->count].bitmap = bitmap;
	f->count++;
	return 0;
}

long skvm_msr_filter_set(struct skvm_vm *vm, unsigned long arg)
{
	struct kvm_msr_filter uf;
	if (skvm_copy_from_user(&uf, arg, sizeof(uf)))
		return -EFAULT;
	if (uf.flags & ~(u32)KVM_MSR_FILTER_DEFAULT_DENY)
		return -EINVAL;
	bool empty = true;
	for (u32 i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++)
		empty &= !uf.ranges[i].nmsrs;
	bool default_allow = !(uf.flags & KVM_MSR_FILTER_DEFAULT_DENY);
	if (empty && !default_allow)
		return -EINVAL;
	struct skvm_msr_filter *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->default_allow = default_allow;
	for (u32 i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
		long r = msr_filter_add(f, &uf.ranges[i]);
		if (r) {
			msr_filter_free(f);
			return r;
		}
	}
	pthread_mutex_lock(&vm->lock);
	struct skvm_msr_filter *old = atomic_exchange(&vm->msr_filter, f);
	skvm_srcu_synchronize(&vm->msr_srcu);
	pthread_mutex_unlock(&vm->lock);
	msr_filter_free(old);
	return 0;
}

void skvm_msr_filter_destroy(struct skvm_vm *vm)
{
	msr_filter_free(atomic_exchange(&vm->msr_filter, NULL));
}

/* KVM's kvm_msr_allowed, negated. */
bool skvm_msr_denied(void *opaque, u32 index, bool write)
{
	struct skvm_vm *vm = opaque;
	if (index >= 0x800 && index <= 0x8ff)
		return false;
	u32 type = write ? KVM_MSR_FILTER_WRITE : KVM_MSR_FILTER_READ;
	u32 idx = skvm_srcu_read_lock(&vm->msr_srcu);
	const struct skvm_msr_filter *f = atomic_load(&vm->msr_filter);
	bool allowed = true;
	if (f) {
		allowed = f->default_allow;
		for (u32 i = 0; i < f->count; i++) {
			u32 off = index - f->ranges[i].base; /* wraps below base */
			if (off < f->ranges[i].nmsrs && (f->ranges[i].flags & type)) {
				allowed = (f->ranges[i].bitmap[off / 64] >> (off % 64)) & 1;
				break;
			}
		}
	}
	skvm_srcu_read_unlock(&vm->msr_srcu, idx);
	return !allowed;
}

/* KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR): the exit reasons wanted. */
long skvm_user_space_msr_enable(struct skvm_vm *vm, u64 reasons)
{
	if (reasons & ~(u64)(KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN |
			     KVM_MSR_EXIT_REASON_FILTER))
		return -EINVAL;
	atomic_store(&vm->user_space_msr, (u32)reasons);
	return 0;
}

long skvm_vcpu_msr_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case KVM_GET_MSRS:
		return msr_io(vcpu, arg, false);
	case KVM_SET_MSRS:
		return msr_io(vcpu, arg, true);
	case KVM_X86_SETUP_MCE:
		return setup_mce(&vcpu->cpu, arg);
	case KVM_X86_SET_MCE:
		return set_mce(&vcpu->cpu, arg);
	default:
		return SKVM_NOIOCTL;
	}
}
