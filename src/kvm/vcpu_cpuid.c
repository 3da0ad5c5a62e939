/*
 * CPUID ioctls (KVM API 4.46 KVM_GET_SUPPORTED_CPUID, 4.20 KVM_SET_CPUID,
 * 4.73 KVM_SET_CPUID2, 4.88 KVM_GET_EMULATED_CPUID, KVM_GET_CPUID2) and
 * KVM_TRANSLATE (4.38), with the rules of arch/x86/kvm/cpuid.c and x86.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/irqchip_vm.h"
#include "kvm/kvm.h"
#include "kvm/x86_ioctl.h"
#include "x86/cpuid.h"
#include "x86/mmu.h"

#define MAX_CPUID_ENTRIES 256 /* KVM_MAX_CPUID_ENTRIES */

static void to_kvm(const struct x86_cpuid_entry *e, struct kvm_cpuid_entry2 *k)
{
	*k = (struct kvm_cpuid_entry2){.function = e->function, .index = e->index,
				       .flags = e->flags, .eax = e->eax, .ebx = e->ebx,
				       .ecx = e->ecx, .edx = e->edx};
}

/* Copy a table out to a kvm_cpuid2 at arg whose header was already read. */
static long put_table(unsigned long arg, struct kvm_cpuid2 *hdr,
		      const struct x86_cpuid_entry *tbl, u32 n)
{
	struct kvm_cpuid_entry2 out[MAX_CPUID_ENTRIES];
	for (u32 i = 0; i < n; i++)
		to_kvm(&tbl[i], &out[i]);
	if (skvm_copy_to_user(arg + offsetof(struct kvm_cpuid2, entries), out,
			      n * sizeof(out[0])))
		return -EFAULT;
	hdr->nent = n;
	if (skvm_copy_to_user(arg, hdr, sizeof(*hdr)))
		return -EFAULT;
	return 0;
}

/*
 * KVM_GET_EMULATED_CPUID wants the padding of the caller's buffer clean (so
 * it can be given a meaning later); an unreadable buffer counts as dirty.
 */
static bool padding_dirty(unsigned long entries, u32 n)
{
	for (u32 i = 0; i < n; i++) {
		u32 pad[3];
		if (skvm_copy_from_user(pad, entries + i * sizeof(struct kvm_cpuid_entry2) +
					offsetof(struct kvm_cpuid_entry2, padding),
					sizeof(pad)))
			return true;
		if (pad[0] | pad[1] | pad[2])
			return true;
	}
	return false;
}

static long get_system_cpuid(unsigned int cmd, unsigned long arg)
{
	struct kvm_cpuid2 hdr;
	u32 n;
	const struct x86_cpuid_entry *tbl;

	if (skvm_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nent < 1)
		return -E2BIG;
	if (hdr.nent > MAX_CPUID_ENTRIES)
		hdr.nent = MAX_CPUID_ENTRIES;
	if (cmd == KVM_GET_EMULATED_CPUID) {
		if (padding_dirty(arg + offsetof(struct kvm_cpuid2, entries), hdr.nent))
			return -EINVAL;
		tbl = x86_cpuid_emulated(&n);
		/* KVM probes every leaf class with the buffer's room, so the
		 * emulated list needs one entry to spare. */
		if (n >= hdr.nent)
			return -E2BIG;
	} else {
		tbl = x86_cpuid_supported(&n);
		if (n > hdr.nent)
			return -E2BIG;
	}
	return put_table(arg, &hdr, tbl, n);
}

long skvm_cpuid_sys_ioctl(unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case KVM_GET_SUPPORTED_CPUID:
	case KVM_GET_EMULATED_CPUID:
		return get_system_cpuid(cmd, arg);
	}
	return SKVM_NOIOCTL;
}

void skvm_vcpu_cpuid_free(struct skvm_vcpu *vcpu)
{
	free(vcpu->cpu.cpuid);
	vcpu->cpu.cpuid = NULL;
	vcpu->cpu.cpuid_nent = 0;
}

static bool same_entries(const struct x86_cpuid_entry *a, const struct x86_cpuid_entry *b,
			 u32 n)
{
	for (u32 i = 0; i < n; i++)
		if (a[i].function != b[i].function || a[i].index != b[i].index ||
		    a[i].flags != b[i].flags || a[i].eax != b[i].eax ||
		    a[i].ebx != b[i].ebx || a[i].ecx != b[i].ecx || a[i].edx != b[i].edx)
			return false;
	return true;
}

/* KVM's kvm_check_cpuid(): what KVM refuses in a new guest table. */
static long check_table(const struct x86_cpuid_entry *tbl, u32 n)
{
	const struct x86_cpuid_entry *e = x86_cpuid_find_in(tbl, n, 0x80000008, 0);
	if (e) {
		/* Only the linear-address widths paging can have (or 0). */
		u32 va = (e->eax >> 8) & 0xff;
		if (va != 0 && va != 48 && va != 57)
			return -EINVAL;
	}
	e = x86_cpuid_find_in(tbl, n, 0xd, 0);
	/* Dynamically enabled XSAVE components (AMX tile data, XCR0 bit 18)
	 * need a permission softkvm never grants: KVM answers EPERM. */
	if (e && (e->eax & BIT(18)))
		return -EPERM;
	return 0;
}

/*
 * Install a new guest table (ownership of tbl passes here).  After the
 * first KVM_RUN KVM accepts only the table it already has (QEMU re-sets it
 * on vCPU hot-plug), comparing with the run-time bits applied to both.
 */
static long set_table(struct skvm_vcpu *vcpu, struct x86_cpuid_entry *tbl, u32 n)
{
	struct x86_cpu *cpu = &vcpu->cpu;
	long r;

	if (vcpu->ran) {
		r = -EINVAL;
		if (n == cpu->cpuid_nent) {
			struct x86_cpuid_entry a[MAX_CPUID_ENTRIES], b[MAX_CPUID_ENTRIES];
			x86_cpuid_runtime_table(cpu, tbl, n, a);
			x86_cpuid_runtime_table(cpu, cpu->cpuid, n, b);
			if (same_entries(a, b, n))
				r = 0;
		}
		free(tbl);
		return r;
	}
	r = check_table(tbl, n);
	if (r) {
		free(tbl);
		return r;
	}
	free(cpu->cpuid);
	cpu->cpuid = tbl;
	cpu->cpuid_nent = n;
	skvm_irqchip_cpuid_changed(vcpu);
	return 0;
}

/*
 * Read the caller's entries (of either ABI) into a new table.  The old
 * kvm_cpuid_entry has no index or flags: they read as 0.
 */
static long read_table(unsigned long entries, u32 n, bool v2, struct x86_cpuid_entry **out)
{
	*out = NULL;
	if (n > MAX_CPUID_ENTRIES)
		return -E2BIG;
	if (!n)
		return 0;
	struct x86_cpuid_entry *tbl = calloc(n, sizeof(*tbl));
	if (!tbl)
		return -ENOMEM;
	for (u32 i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 k2;
		struct kvm_cpuid_entry k;
		int err;
		if (v2) {
			err = skvm_copy_from_user(&k2, entries + i * sizeof(k2), sizeof(k2));
		} else {
			err = skvm_copy_from_user(&k, entries + i * sizeof(k), sizeof(k));
			k2 = (struct kvm_cpuid_entry2){.function = k.function, .eax = k.eax,
						       .ebx = k.ebx, .ecx = k.ecx, .edx = k.edx};
		}
		if (err) {
			free(tbl);
			return -EFAULT;
		}
		tbl[i] = (struct x86_cpuid_entry){k2.function, k2.index, k2.flags,
						  k2.eax, k2.ebx, k2.ecx, k2.edx};
	}
	*out = tbl;
	return 0;
}

static long set_cpuid(struct skvm_vcpu *vcpu, unsigned long arg, bool v2)
{
	/* kvm_cpuid and kvm_cpuid2 share the header: nent and padding. */
	struct kvm_cpuid2 hdr;
	struct x86_cpuid_entry *tbl;
	if (skvm_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	long r = read_table(arg + sizeof(hdr), hdr.nent, v2, &tbl);
	if (r)
		return r;
	return set_table(vcpu, tbl, hdr.nent);
}

static long get_cpuid2(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_cpuid2 hdr;
	struct x86_cpuid_entry tbl[MAX_CPUID_ENTRIES];
	if (skvm_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	/* KVM leaves nent alone on E2BIG: the caller grows its buffer. */
	if (hdr.nent < vcpu->cpu.cpuid_nent)
		return -E2BIG;
	x86_cpuid_runtime_table(&vcpu->cpu, vcpu->cpu.cpuid, vcpu->cpu.cpuid_nent, tbl);
	return put_table(arg, &hdr, tbl, vcpu->cpu.cpuid_nent);
}

/*
 * KVM_TRANSLATE: a supervisor read in the vCPU's current paging mode, as
 * kvm_arch_vcpu_ioctl_translate() does it: like KVM's walker it sets the
 * accessed bits of the entries it uses; `writeable` and `usermode` are fixed
 * (1 and 0) there too, and an untranslatable address gives valid = 0 with
 * physical_address = ~0.  With paging off the address is not truncated.
 */
static long translate(struct skvm_vcpu *vcpu, unsigned long arg)
{
	struct kvm_translation tr;
	struct x86_walk w;
	if (skvm_copy_from_user(&tr, arg, sizeof(tr)))
		return -EFAULT;
	struct mem_map *map = mem_map_get(&vcpu->vm->mem);
	bool ok = x86_walk(&vcpu->cpu, map, vcpu->cpu.ev.smi.smm ? 1 : 0,
			   tr.linear_address, 0, 0, &w);
	mem_map_put(map);
	tr.physical_address = ok ? w.gpa : ~0ULL;
	tr.valid = ok;
	tr.writeable = 1;
	tr.usermode = 0;
	return skvm_copy_to_user(arg, &tr, sizeof(tr)) ? -EFAULT : 0;
}

long skvm_vcpu_cpuid_ioctl(struct skvm_vcpu *vcpu, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case KVM_SET_CPUID:
		return set_cpuid(vcpu, arg, false);
	case KVM_SET_CPUID2:
		return set_cpuid(vcpu, arg, true);
	case KVM_GET_CPUID2:
		return get_cpuid2(vcpu, arg);
	case KVM_TRANSLATE:
		return translate(vcpu, arg);
	}
	return SKVM_NOIOCTL;
}
