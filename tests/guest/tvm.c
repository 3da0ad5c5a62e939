/*
 * A minimal VMM for test guests; see tvm.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tvm.h"

/* TVM_DIRECT: talk to a linked-in softkvm through its direct API (the fuzz
 * target) instead of open("/dev/kvm") and ioctl(2). */
#ifdef TVM_DIRECT
#include "softkvm.h"
#define open_kvm() softkvm_open(O_RDWR | O_CLOEXEC)
#define ioctl softkvm_ioctl
#define close softkvm_close
#else
#define open_kvm() open("/dev/kvm", O_RDWR | O_CLOEXEC)
#endif

__attribute__((format(printf, 2, 3))) static int tvm_fail(struct tvm *t, const char *fmt, ...)
{
	va_list ap;
	t->err_errno = errno;
	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	return -1;
}

static int tvm_slot(struct tvm *t, uint32_t slot, uint64_t gpa, uint64_t size, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)(t->mem + gpa),
	};
	if (ioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return tvm_fail(t, "KVM_SET_USER_MEMORY_REGION slot %u", slot);
	return 0;
}

int tvm_create(struct tvm *t, size_t mem_size)
{
	return tvm_create_logged(t, mem_size, 0, 0);
}

int tvm_create_logged(struct tvm *t, size_t mem_size, uint32_t slot_flags, uint32_t ring_bytes)
{
	memset(t, 0, sizeof(*t));
	t->kvm = t->vm = t->vcpu = -1;
	t->kvm = open_kvm();
	if (t->kvm < 0)
		return tvm_fail(t, "open /dev/kvm");
	t->vm = ioctl(t->kvm, KVM_CREATE_VM, 0);
	if (t->vm < 0)
		return tvm_fail(t, "KVM_CREATE_VM");
	if (ring_bytes) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_DIRTY_LOG_RING};
		cap.args[0] = ring_bytes;
		if (ioctl(t->vm, KVM_ENABLE_CAP, &cap) < 0)
			return tvm_fail(t, "KVM_ENABLE_CAP DIRTY_LOG_RING %u", ring_bytes);
	}
	/* Guest memory with inaccessible pages around it and over the MMIO
	 * hole: a backend touching anything but guest RAM crashes here. */
	t->mem_size = mem_size;
	uint8_t *m = mmap(NULL, mem_size + 2 * TVM_GUARD, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return tvm_fail(t, "mmap guest memory");
	t->mem = m + TVM_GUARD;
	if (mprotect(t->mem, TVM_HOLE, PROT_READ | PROT_WRITE) ||
	    mprotect(t->mem + TVM_HIGH, mem_size - TVM_HIGH, PROT_READ | PROT_WRITE))
		return tvm_fail(t, "mprotect guest memory");
	if (tvm_slot(t, 0, 0, TVM_HOLE, slot_flags) ||
	    tvm_slot(t, 1, TVM_HIGH, mem_size - TVM_HIGH, slot_flags))
		return -1;
	t->vcpu = ioctl(t->vm, KVM_CREATE_VCPU, 0);
	if (t->vcpu < 0)
		return tvm_fail(t, "KVM_CREATE_VCPU");
	int sz = ioctl(t->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run))
		return tvm_fail(t, "KVM_GET_VCPU_MMAP_SIZE");
	t->run_size = sz;
	t->run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, t->vcpu, 0);
	if (t->run == MAP_FAILED) {
		t->run = NULL;
		return tvm_fail(t, "mmap kvm_run");
	}
	return 0;
}

void tvm_destroy(struct tvm *t)
{
	if (t->run)
		munmap(t->run, t->run_size);
	if (t->vcpu >= 0)
		close(t->vcpu);
	if (t->vm >= 0)
		close(t->vm);
	if (t->kvm >= 0)
		close(t->kvm);
	if (t->mem)
		munmap(t->mem - TVM_GUARD, t->mem_size + 2 * TVM_GUARD);
	free(t->cpuid);
	memset(t, 0, sizeof(*t));
	t->kvm = t->vm = t->vcpu = -1;
}

int tvm_set_cpuid(struct tvm *t)
{
	int n = 256;
	t->cpuid = calloc(1, sizeof(*t->cpuid) + n * sizeof(t->cpuid->entries[0]));
	if (!t->cpuid)
		return tvm_fail(t, "calloc");
	t->cpuid->nent = n;
	if (ioctl(t->kvm, KVM_GET_SUPPORTED_CPUID, t->cpuid) < 0)
		return tvm_fail(t, "KVM_GET_SUPPORTED_CPUID");
	if (ioctl(t->vcpu, KVM_SET_CPUID2, t->cpuid) < 0)
		return tvm_fail(t, "KVM_SET_CPUID2");
	return 0;
}

const struct kvm_cpuid_entry2 *tvm_cpuid(const struct tvm *t, uint32_t fn, uint32_t idx)
{
	if (!t->cpuid)
		return NULL;
	for (uint32_t i = 0; i < t->cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &t->cpuid->entries[i];
		if (e->function == fn &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == idx))
			return e;
	}
	return NULL;
}

/* A segment register as KVM_SET_SREGS takes it, and its GDT descriptor. */
static struct kvm_segment seg(uint16_t sel, uint8_t type, int s, int dpl, int db, int l, int g,
			      uint32_t limit)
{
	struct kvm_segment k = {
		.base = 0, .limit = limit, .selector = sel, .type = type, .present = 1,
		.dpl = dpl, .db = db, .s = s, .l = l, .g = g,
	};
	return k;
}

static uint64_t gdt_desc(const struct kvm_segment *k)
{
	uint32_t lim = k->g ? k->limit >> 12 : k->limit;
	return (lim & 0xffffull) | ((k->base & 0xffffffull) << 16) |
	       ((uint64_t)k->type << 40) | ((uint64_t)k->s << 44) | ((uint64_t)k->dpl << 45) |
	       ((uint64_t)k->present << 47) | ((uint64_t)((lim >> 16) & 0xf) << 48) |
	       ((uint64_t)k->l << 53) | ((uint64_t)k->db << 54) | ((uint64_t)k->g << 55) |
	       ((uint64_t)(k->base >> 24 & 0xff) << 56);
}

int tvm_setup_mode(struct tvm *t, int bits, uint64_t entry, int user)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	if (ioctl(t->vcpu, KVM_GET_SREGS, &s) < 0)
		return tvm_fail(t, "KVM_GET_SREGS");
	memset(&r, 0, sizeof(r));
	r.rflags = 2;
	r.rip = entry;
	r.rsp = TVM_STACK;

	struct kvm_segment code64 = seg(TVM_SEL_CODE64, 0xb, 1, 0, 0, 1, 1, 0xfffff);
	struct kvm_segment data = seg(TVM_SEL_DATA, 0x3, 1, 0, 1, 0, 1, 0xfffff);
	struct kvm_segment code32 = seg(TVM_SEL_CODE32, 0xb, 1, 0, 1, 0, 1, 0xfffff);
	struct kvm_segment udata = seg(TVM_SEL_UDATA, 0x3, 1, 3, 1, 0, 1, 0xfffff);
	struct kvm_segment ucode = seg(TVM_SEL_UCODE64, 0xb, 1, 3, 0, 1, 1, 0xfffff);
	struct kvm_segment ucode32 = seg(TVM_SEL_UCODE32, 0xb, 1, 3, 1, 0, 1, 0xfffff);
	struct kvm_segment tss = seg(TVM_SEL_TSS, 0xb, 0, 0, 0, 0, 0, 0x67);
	tss.base = TVM_TSS;
	code64.limit = data.limit = code32.limit = udata.limit = ucode.limit = 0xffffffff;
	ucode32.limit = 0xffffffff;
	uint64_t *gdt = tvm_ptr(t, TVM_GDT);
	memset(gdt, 0, 0x100);
	gdt[1] = gdt_desc(&code64);
	gdt[2] = gdt_desc(&data);
	gdt[3] = gdt_desc(&code32);
	gdt[4] = gdt_desc(&udata);
	gdt[5] = gdt_desc(&ucode);
	gdt[6] = gdt_desc(&tss);
	gdt[7] = tss.base >> 32;
	gdt[8] = gdt_desc(&ucode32);
	/* TSS: RSP0 at offset 4, the I/O map base beyond the limit. */
	uint8_t *tssp = tvm_ptr(t, TVM_TSS);
	memset(tssp, 0, 0x68);
	uint64_t rsp0 = TVM_STACK;
	memcpy(tssp + 4, &rsp0, 8);
	tssp[0x66] = 0x68;

	switch (bits) {
	case 16:
		s.cs.selector = 0;
		s.cs.base = 0;
		s.ds.selector = s.es.selector = s.ss.selector = s.fs.selector = s.gs.selector = 0;
		s.ds.base = s.es.base = s.ss.base = s.fs.base = s.gs.base = 0;
		break;
	case 32:
		s.cs = code32;
		s.ds = s.es = s.ss = s.fs = s.gs = data;
		s.gdt.base = TVM_GDT;
		s.gdt.limit = 0x4f;
		s.cr0 = 0x11; /* PE, ET */
		s.tr = tss;
		break;
	case 64: {
		uint64_t *pml4 = tvm_ptr(t, TVM_PML4), *pdpt = tvm_ptr(t, TVM_PDPT);
		uint64_t *pd = tvm_ptr(t, TVM_PD);
		uint64_t u = user ? TVM_PTE_U : 0;
		memset(pml4, 0, 4096);
		memset(pdpt, 0, 4096);
		pml4[0] = TVM_PDPT | TVM_PTE_P | TVM_PTE_W | u;
		pdpt[0] = TVM_PD | TVM_PTE_P | TVM_PTE_W | u;
		for (int i = 0; i < 512; i++)
			pd[i] = ((uint64_t)i << 21) | TVM_PTE_P | TVM_PTE_W | TVM_PTE_PS | u;
		s.cs = code64;
		s.ds = s.es = s.ss = s.fs = s.gs = data;
		s.gdt.base = TVM_GDT;
		s.gdt.limit = 0x4f;
		s.tr = tss;
		s.cr3 = TVM_PML4;
		s.cr4 = 0x20;		/* PAE */
		s.cr0 = 0x80050033;	/* PG, AM, WP, NE, ET, MP, PE */
		s.efer = 0x500;		/* LMA, LME */
		break;
	}
	default:
		errno = EINVAL;
		return tvm_fail(t, "mode %d", bits);
	}
	if (ioctl(t->vcpu, KVM_SET_SREGS, &s) < 0)
		return tvm_fail(t, "KVM_SET_SREGS");
	if (ioctl(t->vcpu, KVM_SET_REGS, &r) < 0)
		return tvm_fail(t, "KVM_SET_REGS");
	return 0;
}
