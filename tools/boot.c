/*
 * `softkvm boot`: a small VMM that boots a Linux bzImage through the KVM
 * API, served by softkvm's direct C API (default) or the host's /dev/kvm
 * (--hw).  The kernel is entered at its 64-bit entry point as
 * Documentation/arch/x86/boot.rst ("64-bit Boot Protocol") describes; the
 * devices: the in-kernel irqchip and PIT when the back end has them, a
 * 16550 on ttyS0 (boot_uart.c) wired to the terminal, ACPI tables
 * (boot_acpi.c) with their power-off and reset ports, a CMOS clock
 * (boot_cmos.c) and the debug-exit port.  docs/boot.md has the layout and
 * the exit statuses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "softkvm.h"
#include "boot.h"
#include "tools.h"

#define fail boot_fail
#define vm_end boot_vm_end

/* Guest-physical layout (docs/boot.md). */
#define BOOT_GDT 0x1000
#define BOOT_PML4 0x2000
#define BOOT_PDPT 0x3000
#define BOOT_PD 0x4000		/* four pages: 2 MiB pages over the first 4 GiB */
#define BOOT_ZERO_PAGE 0x10000
#define BOOT_CMDLINE 0x20000
#define BOOT_CMDLINE_MAX 0x10000
#define BOOT_STACK 0x90000
#define LOW_RAM_END 0xA0000	/* 640K: the legacy VGA/ROM hole follows */
#define HIGH_RAM 0x100000
#define HOLE_32 0xC0000000ull	/* RAM above this moves to 4 GiB (PCI hole) */
#define GIB4 0x100000000ull

/* boot.rst: the setup header inside struct boot_params (the zero page) and
 * the zero-page fields a loader fills (arch/x86/include/uapi/asm/bootparam.h). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_VID_MODE 0x1fa
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define E820_MAX 128
#define E820_RAM 1
#define E820_RESERVED 2

#define LOADED_HIGH 0x01	/* loadflags bit 0: protected-mode code at 1M+ */
#define XLF_KERNEL_64 0x01	/* xloadflags bit 0: 64-bit entry at +0x200 */
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x02

/* The boot GDT selectors boot.rst requires at the 64-bit entry. */
#define BOOT_CS 0x10
#define BOOT_DS 0x18

static int sk_open(void) { return softkvm_open(O_RDWR | O_CLOEXEC); }
static int sk_ioctl(int fd, unsigned long req, void *arg) { return softkvm_ioctl(fd, req, arg); }
static int hw_open(void) { return open("/dev/kvm", O_RDWR | O_CLOEXEC); }
static int hw_ioctl(int fd, unsigned long req, void *arg) { return ioctl(fd, req, arg); }

static const struct kvm_shim shim_softkvm = { "softkvm", sk_open, sk_ioctl, softkvm_close };
static const struct kvm_shim shim_hw = { "/dev/kvm", hw_open, hw_ioctl, close };


int boot_fail(const char *fmt, ...)
{
	va_list ap;
	fputs("softkvm boot: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* Host address of [gpa, gpa + len) if it is all RAM (or the BIOS area),
 * else NULL. */
static u8 *gpa_ptr(struct vm *v, u64 gpa, u64 len)
{
	if (gpa + len < gpa)
		return NULL;
	if (gpa + len <= LOW_RAM_END || (gpa >= HIGH_RAM && gpa + len <= v->low_top))
		return v->mem + gpa;
	if (gpa >= BIOS_BASE && gpa + len <= BIOS_BASE + BIOS_SIZE)
		return v->bios + (gpa - BIOS_BASE);
	if (gpa >= GIB4 && gpa + len - GIB4 <= v->mem_size - v->low_top)
		return v->mem + v->low_top + (gpa - GIB4);
	return NULL;
}

static int vm_slot(struct vm *v, u32 slot, u64 gpa, u64 size, u8 *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};
	if (v->k->ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION slot %u: %s", slot, strerror(errno));
	return 0;
}

static void *map_anon(u64 size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		       MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* The guest CPUID: everything the back end supports, with this vCPU's APIC
 * ID where CPUID reports it (leaf 1 EBX[31:24], leaves 0xB/0x1F EDX), as
 * the MADT lists it. */
static int vcpu_cpuid(struct vm *v, struct vcpu *c)
{
	int n = 256;
	struct kvm_cpuid2 *cp = calloc(1, sizeof(*cp) + n * sizeof(cp->entries[0]));
	if (!cp)
		return fail("out of memory");
	cp->nent = n;
	int r = v->k->ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, cp);
	for (u32 i = 0; r >= 0 && i < cp->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cp->entries[i];
		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffff) | (u32)c->id << 24;
		else if (e->function == 0xb || e->function == 0x1f)
			e->edx = c->id;
	}
	if (r >= 0)
		r = v->k->ioctl(c->fd, KVM_SET_CPUID2, cp);
	free(cp);
	if (r < 0)
		return fail("setting the guest CPUID: %s", strerror(errno));
	return 0;
}

int boot_vm_create(struct vm *v)
{
	v->kvm = v->k->open();
	if (v->kvm < 0)
		return fail("cannot open %s: %s", v->k->name, strerror(errno));
	int ver = v->k->ioctl(v->kvm, KVM_GET_API_VERSION, NULL);
	if (ver != KVM_API_VERSION)
		return fail("%s: KVM API version %d, need %d", v->k->name, ver, KVM_API_VERSION);
	v->irqchip = v->k->ioctl(v->kvm, KVM_CHECK_EXTENSION, (void *)KVM_CAP_IRQCHIP) > 0 &&
		     v->k->ioctl(v->kvm, KVM_CHECK_EXTENSION, (void *)KVM_CAP_PIT2) > 0;
	v->imm_exit = v->k->ioctl(v->kvm, KVM_CHECK_EXTENSION, (void *)KVM_CAP_IMMEDIATE_EXIT) > 0;
	if (v->ncpus > 1 && !v->irqchip)
		return fail("--cpus %d: more vCPUs need an in-kernel irqchip (INIT/SIPI through the "
			    "local APICs), and %s has no KVM_CAP_IRQCHIP/KVM_CAP_PIT2", v->ncpus,
			    v->k->name);
	int maxv = v->k->ioctl(v->kvm, KVM_CHECK_EXTENSION, (void *)KVM_CAP_MAX_VCPUS);
	if (maxv <= 0)
		maxv = v->k->ioctl(v->kvm, KVM_CHECK_EXTENSION, (void *)KVM_CAP_NR_VCPUS);
	if (maxv > 0 && v->ncpus > maxv)
		return fail("--cpus %d: %s allows at most %d vCPUs", v->ncpus, v->k->name, maxv);
	v->vm = v->k->ioctl(v->kvm, KVM_CREATE_VM, NULL);
	if (v->vm < 0)
		return fail("KVM_CREATE_VM: %s", strerror(errno));
	v->low_top = v->mem_size < HOLE_32 ? v->mem_size : HOLE_32;
	v->mem = map_anon(v->mem_size);
	v->bios = map_anon(BIOS_SIZE);
	if (!v->mem || !v->bios)
		return fail("cannot map %" PRIu64 " bytes of guest memory: %s", v->mem_size,
			    strerror(errno));
	if (vm_slot(v, 0, 0, LOW_RAM_END, v->mem) ||
	    vm_slot(v, 1, HIGH_RAM, v->low_top - HIGH_RAM, v->mem + HIGH_RAM) ||
	    vm_slot(v, 3, BIOS_BASE, BIOS_SIZE, v->bios))
		return -1;
	if (v->mem_size > v->low_top &&
	    vm_slot(v, 2, GIB4, v->mem_size - v->low_top, v->mem + v->low_top))
		return -1;
	/* api.rst: the irqchip before any vCPU; the PIT after it.  The PIT's
	 * dummy speaker serves port 0x61 in the kernel, which Linux's PIT
	 * calibration reads. */
	if (v->irqchip) {
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
		if (v->k->ioctl(v->kvm, KVM_CHECK_EXTENSION, (void *)KVM_CAP_SET_TSS_ADDR) > 0 &&
		    v->k->ioctl(v->vm, KVM_SET_TSS_ADDR, (void *)0xfeffd000ul) < 0)
			return fail("KVM_SET_TSS_ADDR: %s", strerror(errno));
		if (v->k->ioctl(v->vm, KVM_CREATE_IRQCHIP, NULL) < 0)
			return fail("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		if (v->k->ioctl(v->vm, KVM_CREATE_PIT2, &pit) < 0)
			return fail("KVM_CREATE_PIT2: %s", strerror(errno));
	}
	int sz = v->k->ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (sz < (int)sizeof(struct kvm_run))
		return fail("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	v->run_size = sz;
	for (int i = 0; i < v->ncpus; i++) {
		struct vcpu *c = &v->cpu[i];
		c->id = i;	/* the APIC ID in CPUID, the vCPU in messages and streams */
		c->fd = v->k->ioctl(v->vm, KVM_CREATE_VCPU, (void *)(uintptr_t)i);
		if (c->fd < 0)
			return fail("KVM_CREATE_VCPU %d: %s", i, strerror(errno));
		c->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (c->run == MAP_FAILED) {
			c->run = NULL;
			return fail("mmap kvm_run: %s", strerror(errno));
		}
		/* Long mode needs LM in the guest CPUID on real KVM. */
		if (vcpu_cpuid(v, c))
			return -1;
	}
	return 0;
}

static void vm_destroy(struct vm *v)
{
	for (int i = 0; i < v->ncpus; i++) {
		struct vcpu *c = &v->cpu[i];
		if (c->run)
			munmap(c->run, v->run_size);
		if (c->fd >= 0)
			v->k->close(c->fd);
	}
	if (v->vm >= 0)
		v->k->close(v->vm);
	if (v->kvm >= 0)
		v->k->close(v->kvm);
	if (v->mem)
		munmap(v->mem, v->mem_size);
	if (v->bios)
		munmap(v->bios, BIOS_SIZE);
	boot_mig_free(v);
}

/* A whole file in memory (the kernel and initrd are small beside guest RAM). */
static int read_file(const char *what, const char *path, u8 **data, u64 *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return fail("cannot open %s '%s': %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail("%s '%s' is not a regular file", what, path);
	}
	*size = st.st_size;
	*data = malloc(*size ? *size : 1);
	if (!*data) {
		close(fd);
		return fail("%s '%s': out of memory", what, path);
	}
	u64 got = 0;
	while (got < *size) {
		ssize_t r = read(fd, *data + got, *size - got);
		if (r <= 0) {
			close(fd);
			return fail("cannot read %s '%s': %s", what, path,
				    r ? strerror(errno) : "file shrank");
		}
		got += r;
	}
	close(fd);
	return 0;
}

struct kernel {
	const u8 *img;
	u64 size;
	u16 version;
	u64 setup_size;		/* the real-mode part: (setup_sects + 1) sectors */
	u64 hdr_end;		/* end of the setup header: 0x202 + jump offset */
	u64 load;		/* where the protected-mode part goes */
	u64 extent;		/* bytes it may occupy there (init_size) */
	u32 cmdline_size;
	u32 initrd_addr_max;
	u16 xloadflags;
};

/* Everything boot.rst lets a 64-bit loader rely on, checked before use. */
static int kernel_parse(struct kernel *k, const char *path, u64 ram_top)
{
	if (k->size < HDR_MAGIC + 6)
		return fail("kernel '%s' is truncated (%" PRIu64 " bytes): no setup header",
			    path, k->size);
	if (memcmp(k->img + HDR_MAGIC, "HdrS", 4) || get16(k->img + HDR_BOOT_FLAG) != 0xAA55)
		return fail("kernel '%s' is not a bzImage (no \"HdrS\" setup header magic)", path);
	k->version = get16(k->img + HDR_VERSION);
	/* 2.06 brought cmdline_size; everything older is also pre-64-bit. */
	if (k->version < 0x0206)
		return fail("kernel '%s' uses boot protocol %u.%02u; 2.06 or later is required",
			    path, k->version >> 8, k->version & 0xff);
	k->hdr_end = 0x202 + k->img[HDR_JUMP + 1];
	if (k->img[HDR_JUMP] != 0xEB || k->size < k->hdr_end || k->hdr_end < HDR_CMDLINE_SIZE + 4)
		return fail("kernel '%s' is truncated or corrupt: bad setup header length", path);
	u32 sects = k->img[HDR_SETUP_SECTS] ? k->img[HDR_SETUP_SECTS] : 4;
	k->setup_size = (u64)(sects + 1) * 512;
	if (k->setup_size >= k->size)
		return fail("kernel '%s' is truncated: setup_sects %u runs past the end of the file",
			    path, sects);
	u64 payload = k->size - k->setup_size;
	u64 syssize = (u64)get32(k->img + HDR_SYSSIZE) * 16;
	if (payload + 15 < syssize)
		return fail("kernel '%s' is truncated: syssize says %" PRIu64 " bytes, file has %"
			    PRIu64, path, syssize, payload);
	if (!(k->img[HDR_LOADFLAGS] & LOADED_HIGH))
		return fail("kernel '%s' is a zImage (loadflags LOADED_HIGH clear); only bzImage "
			    "is supported", path);
	k->xloadflags = k->version >= 0x020c ? get16(k->img + HDR_XLOADFLAGS) : 0;
	if (!(k->xloadflags & XLF_KERNEL_64))
		return fail("kernel '%s' has no 64-bit entry point (xloadflags bit 0 clear)", path);
	k->cmdline_size = get32(k->img + HDR_CMDLINE_SIZE);
	k->initrd_addr_max = get32(k->img + HDR_INITRD_ADDR_MAX);
	/* xloadflags means 2.12+, so pref_address and init_size exist. */
	if (k->hdr_end < HDR_INIT_SIZE + 4)
		return fail("kernel '%s' is corrupt: protocol %u.%02u header ends at %#" PRIx64,
			    path, k->version >> 8, k->version & 0xff, k->hdr_end);
	u64 align = get32(k->img + HDR_KERNEL_ALIGNMENT);
	u64 pref = get64(k->img + HDR_PREF_ADDRESS);
	k->extent = get32(k->img + HDR_INIT_SIZE);
	if (k->extent < payload)
		k->extent = payload;
	k->load = pref ? pref : HIGH_RAM;
	if (k->load + k->extent > ram_top && k->img[HDR_RELOCATABLE] && align &&
	    !(align & (align - 1))) {
		/* A relocatable kernel may go lower: the first aligned 1M+ spot. */
		k->load = (HIGH_RAM + align - 1) & ~(align - 1);
	}
	if (k->load < HIGH_RAM || k->load + k->extent > ram_top)
		return fail("kernel '%s' needs %#" PRIx64 "-%#" PRIx64 " but RAM below 4 GiB ends "
			    "at %#" PRIx64 " (raise --mem)", path, k->load, k->load + k->extent,
			    ram_top);
	return 0;
}

static void e820_add(u8 *zp, u64 addr, u64 size, u32 type)
{
	u8 n = zp[BP_E820_ENTRIES];
	u8 *e = zp + BP_E820_TABLE + 20 * n;
	put64(e, addr);
	put64(e + 8, size);
	put32(e + 16, type);
	zp[BP_E820_ENTRIES] = n + 1;
}

struct boot_opts {
	const char *kernel, *initrd, *append, *disk;
	u64 mem;
	long cpus;
	int hw;
	struct boot_mig_opts mig;
};

/* Kernel, zero page, command line and initrd into guest memory. */
static int load_guest(struct vm *v, const struct boot_opts *o, const struct kernel *kp,
		      const u8 *initrd, u64 initrd_size, u64 *entry)
{
	struct kernel k = *kp;
	const u8 *img = k.img;
	memcpy(gpa_ptr(v, k.load, k.size - k.setup_size), img + k.setup_size,
	       k.size - k.setup_size);

	u8 *zp = gpa_ptr(v, BOOT_ZERO_PAGE, 4096);
	memset(zp, 0, 4096);
	memcpy(zp + HDR_SETUP_SECTS, img + HDR_SETUP_SECTS, k.hdr_end - HDR_SETUP_SECTS);
	zp[HDR_TYPE_OF_LOADER] = 0xff;	/* boot.rst: "undefined" loader ID */
	put16(zp + HDR_VID_MODE, 0xffff);	/* "normal" */
	put32(zp + HDR_CODE32_START, k.load);

	const char *cmd = o->append ? o->append : "";
	size_t len = strlen(cmd);
	u64 max = k.cmdline_size < BOOT_CMDLINE_MAX - 1 ? k.cmdline_size : BOOT_CMDLINE_MAX - 1;
	if (len > max)
		return fail("--append is %zu bytes; this kernel takes at most %" PRIu64, len, max);
	memcpy(gpa_ptr(v, BOOT_CMDLINE, len + 1), cmd, len + 1);
	put32(zp + HDR_CMD_LINE_PTR, BOOT_CMDLINE);
	put32(zp + BP_EXT_CMD_LINE_PTR, 0);

	e820_add(zp, 0, LOW_RAM_END, E820_RAM);
	e820_add(zp, BIOS_BASE, BIOS_SIZE, E820_RESERVED);
	e820_add(zp, HIGH_RAM, v->low_top - HIGH_RAM, E820_RAM);
	if (v->mem_size > v->low_top)
		e820_add(zp, GIB4, v->mem_size - v->low_top, E820_RAM);

	if (initrd) {
		/* As high as initrd_addr_max and RAM allow, page aligned, and
		 * clear of the kernel's init_size extent. */
		u64 top = v->low_top - 1;
		if (k.initrd_addr_max && k.initrd_addr_max < top)
			top = k.initrd_addr_max;
		u64 at = top + 1 >= initrd_size ? (top + 1 - initrd_size) & ~0xfffull : 0;
		if (!initrd_size || initrd_size > top + 1 || at < k.load + k.extent)
			return fail("initrd '%s' (%" PRIu64 " bytes) does not fit between the kernel "
				    "(ends %#" PRIx64 ") and %#" PRIx64 " (raise --mem)", o->initrd,
				    initrd_size, k.load + k.extent, top + 1);
		memcpy(gpa_ptr(v, at, initrd_size), initrd, initrd_size);
		put32(zp + HDR_RAMDISK_IMAGE, at);
		put32(zp + HDR_RAMDISK_SIZE, initrd_size);
		put32(zp + BP_EXT_RAMDISK_IMAGE, at >> 32);
		put32(zp + BP_EXT_RAMDISK_SIZE, initrd_size >> 32);
	}
	/* ACPI: the MADT only with local APICs to describe. */
	u64 rsdp = boot_acpi_build(v->bios, BIOS_SIZE, BIOS_BASE, v->irqchip ? v->ncpus : 0,
				   v->vblk.fd >= 0 ? BOOT_VBLK_BASE : 0, BOOT_VCON_BASE);
	if (!rsdp)
		return fail("--cpus %d: too many for the ACPI tables", v->ncpus);
	put64(zp + BP_ACPI_RSDP_ADDR, rsdp);
	*entry = k.load + 0x200;	/* boot.rst: startup_64 */
	return 0;
}


/* boot.rst "64-bit Boot Protocol": long mode, identity paging over the
 * kernel, zero page and command line (we map the first 4 GiB), a flat GDT
 * with __BOOT_CS/__BOOT_DS, RSI = zero page, interrupts off. */
static int setup_cpu(struct vm *v, u64 entry)
{
	u64 *gdt = (u64 *)gpa_ptr(v, BOOT_GDT, 32);
	gdt[0] = gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffull;	/* code: P, DPL0, exec/read, L, G, 4G */
	gdt[3] = 0x00cf93000000ffffull;	/* data: P, DPL0, read/write, D/B, G, 4G */
	u64 *pml4 = (u64 *)gpa_ptr(v, BOOT_PML4, 4096);
	u64 *pdpt = (u64 *)gpa_ptr(v, BOOT_PDPT, 4096);
	u64 *pd = (u64 *)gpa_ptr(v, BOOT_PD, 4 * 4096);
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT | 0x3;	/* P, W */
	for (u64 i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD + i * 4096) | 0x3;
	for (u64 i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83;	/* P, W, PS (2 MiB) */

	struct kvm_sregs s;
	if (v->k->ioctl(v->cpu[0].fd, KVM_GET_SREGS, &s) < 0)
		return fail("KVM_GET_SREGS: %s", strerror(errno));
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = BOOT_CS, .type = 0xb,
		.present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = BOOT_DS, .type = 0x3,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	s.cs = code;
	s.ds = s.es = s.ss = s.fs = s.gs = data;
	s.gdt.base = BOOT_GDT;
	s.gdt.limit = 4 * 8 - 1;
	s.cr3 = BOOT_PML4;
	s.cr4 = 0x20;			/* PAE */
	s.cr0 = 0x80000011;		/* PG, ET, PE */
	s.efer = 0x500;			/* LMA, LME */
	if (v->k->ioctl(v->cpu[0].fd, KVM_SET_SREGS, &s) < 0)
		return fail("KVM_SET_SREGS: %s", strerror(errno));
	struct kvm_regs r = {
		.rflags = 2,		/* IF clear */
		.rip = entry,
		.rsi = BOOT_ZERO_PAGE,
		.rsp = BOOT_STACK,
	};
	if (v->k->ioctl(v->cpu[0].fd, KVM_SET_REGS, &r) < 0)
		return fail("KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

/* The ISA debug-exit port (docs/boot.md): a byte written here ends the VM
 * and becomes the exit status. */
#define DEBUG_EXIT_PORT 0x501
#define I8042_CMD_PORT 0x64
#define I8042_CMD_RESET 0xfe	/* pulse the CPU reset line */
#define RESET_CF9_RST_CPU 0x04	/* port 0xcf9 bit 2 starts the reset */
#define PM1_SLP_EN 0x2000
#define PM1_SLP_TYP(x) (((x) >> 10) & 7)
#define PM1_SCI_EN 0x0001
#define PM_TIMER_HZ 3579545ull

/* End the VM (the first ending wins), with a message for stderr if any,
 * and get every other vCPU and the terminal loop out of their waits. */
void boot_vm_end(struct vm *v, struct vcpu *self, int status, const char *why)
{
	pthread_mutex_lock(&v->lock);
	int first = !v->done;
	if (first) {
		v->done = 1;
		v->status = status;
		fflush(stdout);
		boot_term_restore();
		if (why)
			fprintf(stderr, "softkvm boot: %s\n", why);
	}
	pthread_cond_broadcast(&v->cond);	/* parked vCPUs, the controller */
	pthread_mutex_unlock(&v->lock);
	if (!first)
		return;
	for (int i = 0; i < v->ncpus; i++) {
		struct vcpu *c = &v->cpu[i];
		if (c == self || !c->started)
			continue;
		/* api.rst: immediate_exit makes a KVM_RUN about to start return
		 * EINTR; the signal gets one already running out. */
		if (v->imm_exit)
			__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(c->thread, SIGUSR1);
	}
	if (write(v->wake[1], "x", 1) < 0) {
		/* the terminal loop also polls v->done */
	}
}

/* A device's interrupt line into the in-kernel PIC and IOAPIC: the line
 * follows the device's output, KVM_IRQ_LINE sends each change (the UART's
 * ISA IRQ 4 is edge-triggered, the virtio one level).  Under lock. */
static void irq_line(struct vm *v, u32 gsi, int level, int *last)
{
	if (!v->irqchip || level == *last)
		return;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };
	if (v->k->ioctl(v->vm, KVM_IRQ_LINE, &irq) == 0)
		*last = level;
}

static void uart_irq_update(struct vm *v)
{
	irq_line(v, BOOT_UART_IRQ, boot_uart_irq(&v->uart), &v->uart_irq);
}

/* virtio-blk's view of guest memory: its writes (DMA) are invisible to
 * KVM's dirty log, so every page it may touch is marked for migration. */
static u8 *vblk_gpa(void *ctx, u64 gpa, u64 len)
{
	struct vm *v = ctx;
	u8 *p = gpa_ptr(v, gpa, len);
	if (p && len && v->vmm_dirty) {
		u64 first = p >= v->bios && p < v->bios + BIOS_SIZE ?
			    (v->mem_size + (u64)(p - v->bios)) >> 12 : (u64)(p - v->mem) >> 12;
		u64 last = first + (((uintptr_t)p & 0xfff) + len - 1) / 4096;
		for (u64 i = first; i <= last; i++)
			__atomic_fetch_or(&v->vmm_dirty[i / 64], 1ul << (i % 64), __ATOMIC_RELAXED);
	}
	return p;
}

/* One virtio-mmio device's register window: the access, then its line. */
static void virtio_mmio(struct vm *v, struct boot_virtio *d, u64 off, struct kvm_run *run,
			u32 gsi, int *last)
{
	unsigned len = run->mmio.len;
	pthread_mutex_lock(&v->lock);
	if (run->mmio.is_write) {
		u32 x = 0;
		memcpy(&x, run->mmio.data, len);
		boot_virtio_write(d, off, len, x);
	} else {
		u32 x = boot_virtio_read(d, off, len);
		memcpy(run->mmio.data, &x, len);
	}
	irq_line(v, gsi, boot_virtio_irq(d), last);
	pthread_mutex_unlock(&v->lock);
}

/* MMIO: the virtio registers, else unassigned (reads all-ones). */
static void handle_mmio(struct vm *v, struct kvm_run *run)
{
	u64 a = run->mmio.phys_addr;
	unsigned len = run->mmio.len;
	if (len <= 4 && v->vblk.fd >= 0 && a >= BOOT_VBLK_BASE &&
	    a + len <= BOOT_VBLK_BASE + BOOT_VIRTIO_SIZE) {
		virtio_mmio(v, &v->vblk.vio, a - BOOT_VBLK_BASE, run, BOOT_VBLK_IRQ, &v->vblk_irq);
		return;
	}
	if (len <= 4 && a >= BOOT_VCON_BASE && a + len <= BOOT_VCON_BASE + BOOT_VIRTIO_SIZE) {
		virtio_mmio(v, &v->vcon.vio, a - BOOT_VCON_BASE, run, BOOT_VCON_IRQ, &v->vcon_irq);
		return;
	}
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
}

/* ACPI fixed hardware (boot_acpi.c's FADT): PM1a status/enable, PM1a
 * control -- SLP_EN with \_S5's type powers off -- and the PM timer, a
 * 24-bit count at 3.579545 MHz from the host's monotonic clock. */
static u32 pm_read(struct vm *v, u16 port, int size)
{
	u64 x = 0;
	if (port == BOOT_ACPI_PM_TMR && size == 4) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		unsigned __int128 t = (unsigned __int128)((u64)ts.tv_sec * 1000000000ull +
							   ts.tv_nsec) * PM_TIMER_HZ;
		return (u32)(t / 1000000000ull) & 0xffffff;
	}
	/* Byte view of PM1_STS (0), PM1_EN (2), PM1_CNT (4): no status bit is
	 * ever set; SCI_EN reads 1 (no SMI command port: always ACPI mode). */
	u8 regs[6] = { 0, 0, (u8)v->pm1_en, (u8)(v->pm1_en >> 8), PM1_SCI_EN, v->pm1_cnt_hi };
	for (int i = size - 1; i >= 0; i--) {
		unsigned off = port - BOOT_ACPI_PM1_EVT + i;
		x = x << 8 | (off < sizeof(regs) ? regs[off] : 0xff);
	}
	return x;
}

/* Returns -1 to keep running, else the exit status (soft-off: 0). */
static int pm_write(struct vm *v, u16 port, int size, u32 val)
{
	for (int i = 0; i < size; i++, val >>= 8) {
		unsigned off = port - BOOT_ACPI_PM1_EVT + i;
		if (off == 2)
			v->pm1_en = (v->pm1_en & 0xff00) | (u8)val;
		else if (off == 3)
			v->pm1_en = (v->pm1_en & 0xff) | (u16)(u8)val << 8;
		else if (off == 5)
			v->pm1_cnt_hi = (u8)val & ~(PM1_SLP_EN >> 8);
		/* SLP_EN is in the high byte: act when it is written. */
		if (off == 5 && ((u8)val << 8 & PM1_SLP_EN)) {
			if (PM1_SLP_TYP((u32)(u8)val << 8) == BOOT_ACPI_S5_TYP)
				return 0;
			/* Other sleep states are not in the DSDT: ignore. */
		}
	}
	return -1;
}

static int handle_io(struct vm *v, struct vcpu *c)
{
	struct kvm_run *run = c->run;
	u8 *data = (u8 *)run + run->io.data_offset;
	int size = run->io.size;
	for (u32 i = 0; i < run->io.count; i++, data += size) {
		u16 port = run->io.port;
		int out = run->io.direction == KVM_EXIT_IO_OUT;
		u32 val = 0;
		memcpy(&val, data, size);
		if (port >= BOOT_UART_BASE && port < BOOT_UART_BASE + 8 && size == 1) {
			pthread_mutex_lock(&v->lock);
			if (out)
				boot_uart_write(&v->uart, port - BOOT_UART_BASE, *data);
			else
				*data = boot_uart_read(&v->uart, port - BOOT_UART_BASE);
			uart_irq_update(v);
			pthread_mutex_unlock(&v->lock);
		} else if (port == DEBUG_EXIT_PORT && out) {
			if (boot_mig_end_request(v, c, data[0]))
				continue;	/* reset to the snapshot instead */
			vm_end(v, c, data[0], NULL);
			return data[0];
		} else if (port == BOOT_SNAP_PORT && out && size == 1) {
			boot_mig_snap_request(v, c, data[0]);
		} else if ((port == BOOT_CMOS_PORT || port == BOOT_CMOS_PORT + 1) && size == 1) {
			pthread_mutex_lock(&v->lock);
			if (out)
				boot_cmos_write(&v->cmos, port, *data);
			else
				*data = boot_cmos_read(&v->cmos, port);
			pthread_mutex_unlock(&v->lock);
		} else if (port >= BOOT_ACPI_PM1_EVT && port + size <= BOOT_ACPI_PM_TMR + 4) {
			pthread_mutex_lock(&v->lock);
			int st = -1;
			if (out)
				st = pm_write(v, port, size, val);
			else
				val = pm_read(v, port, size);
			pthread_mutex_unlock(&v->lock);
			if (st >= 0) {
				vm_end(v, c, st, NULL);
				return st;
			}
			if (!out)
				memcpy(data, &val, size);
		} else if (out && size == 1 &&
			   ((port == I8042_CMD_PORT && val == I8042_CMD_RESET) ||
			    (port == BOOT_RESET_PORT && (val & RESET_CF9_RST_CPU)))) {
			char why[64];
			snprintf(why, sizeof(why), "guest reset through port %#x; not restarting", port);
			vm_end(v, c, 0, why);
			return 0;
		} else if (!out) {
			/* Nothing decodes the port: the ISA bus floats high.  (Port
			 * 0x64 thus reads "no keyboard controller".) */
			memset(data, 0xff, size);
		}
	}
	return -1;
}

static void report_internal(struct vm *v, struct vcpu *c)
{
	struct kvm_run *run = c->run;
	struct kvm_regs r;
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "KVM_EXIT_INTERNAL_ERROR suberror %u",
			 run->internal.suberror);
	if (v->ncpus > 1)
		n += snprintf(msg + n, sizeof(msg) - n, " on vCPU %d", c->id);
	if (v->k->ioctl(c->fd, KVM_GET_REGS, &r) == 0)
		n += snprintf(msg + n, sizeof(msg) - n, " at rip %#llx", (unsigned long long)r.rip);
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		u8 len = run->emulation_failure.insn_size;
		if (len > sizeof(run->emulation_failure.insn_bytes))
			len = sizeof(run->emulation_failure.insn_bytes);
		n += snprintf(msg + n, sizeof(msg) - n, "; instruction bytes:");
		for (u8 i = 0; i < len; i++)
			n += snprintf(msg + n, sizeof(msg) - n, " %02x",
				      run->emulation_failure.insn_bytes[i]);
	} else {
		n += snprintf(msg + n, sizeof(msg) - n, "; data:");
		for (u32 i = 0; i < run->internal.ndata && i < 16; i++)
			n += snprintf(msg + n, sizeof(msg) - n, " %#llx",
				      (unsigned long long)run->internal.data[i]);
	}
	vm_end(v, c, 1, msg);
}

/* One vCPU's KVM_RUN loop; ends the VM with its status when the guest
 * does (or when something fails). */
static void run_vcpu(struct vm *v, struct vcpu *c)
{
	char why[128];
	while (!__atomic_load_n(&v->done, __ATOMIC_SEQ_CST)) {
		if (v->k->ioctl(c->fd, KVM_RUN, NULL) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				boot_vcpu_park(v, c);
				continue;
			}
			snprintf(why, sizeof(why), "KVM_RUN: %s", strerror(errno));
			vm_end(v, c, 1, why);
			return;
		}
		struct kvm_run *run = c->run;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (handle_io(v, c) >= 0)
				return;
			break;
		case KVM_EXIT_MMIO:
			handle_mmio(v, run);
			break;
		case KVM_EXIT_HLT:
			/* Only without an irqchip: then nothing can wake the vCPU. */
			vm_end(v, c, 1, "guest halted with nothing to wake it (no in-kernel irqchip)");
			return;
		case KVM_EXIT_SHUTDOWN:
			vm_end(v, c, 1, "guest reset/shutdown (triple fault)");
			return;
		case KVM_EXIT_SYSTEM_EVENT:
			if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
				vm_end(v, c, 0, NULL);
			} else if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
				vm_end(v, c, 0, "guest reset (system event); not restarting");
			} else {
				snprintf(why, sizeof(why), "guest crash (system event %u)",
					 run->system_event.type);
				vm_end(v, c, 1, why);
			}
			return;
		case KVM_EXIT_INTERNAL_ERROR:
			report_internal(v, c);
			return;
		case KVM_EXIT_FAIL_ENTRY:
			snprintf(why, sizeof(why), "KVM_EXIT_FAIL_ENTRY: hardware reason %#llx",
				 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			vm_end(v, c, 1, why);
			return;
		case KVM_EXIT_INTR:
			break;
		default:
			snprintf(why, sizeof(why), "unexpected exit reason %u", run->exit_reason);
			vm_end(v, c, 1, why);
			return;
		}
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	run_vcpu(c->vm, c);
	return NULL;
}

static void on_kick(int sig)
{
	(void)sig;	/* only interrupts KVM_RUN */
}

/* Is hvc0 the guest's console, i.e. the last console= of the command line
 * in guest memory (also after --restore)?  Then it gets the terminal's
 * input; else ttyS0 does. */
static int hvc_console(struct vm *v)
{
	const char *cmd = (const char *)gpa_ptr(v, BOOT_CMDLINE, BOOT_CMDLINE_MAX);
	if (!cmd || !memchr(cmd, 0, BOOT_CMDLINE_MAX))
		return 0;
	int hvc = 0;
	for (const char *p = cmd; (p = strstr(p, "console=")); p += 8)
		if (p == cmd || p[-1] == ' ')
			hvc = !strncmp(p + 8, "hvc0", 4) && (p[12] == ' ' || p[12] == ',' || !p[12]);
	return hvc;
}

#define ESCAPE_KEY 0x01	/* Ctrl-A, then x: quit (as QEMU's -nographic) */

/* The terminal side: stdin into the UART's receive FIFO as it has room
 * (the rest waits in the pipe or tty), until the VM ends. */
static void terminal_loop(struct vm *v, int tty)
{
	int in_open = 1, escape = 0;
	while (!__atomic_load_n(&v->done, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&v->lock);
		unsigned room = v->vcon_input ? boot_vcon_rx_room(&v->vcon) :
				boot_uart_rx_room(&v->uart);
		pthread_mutex_unlock(&v->lock);
		struct pollfd p[2] = { { v->wake[0], POLLIN, 0 }, { STDIN_FILENO, POLLIN, 0 } };
		int want_in = in_open && room > 0;
		/* A full FIFO drains only when the guest reads: look again soon. */
		if (poll(p, want_in ? 2 : 1, in_open && !room ? 10 : -1) < 0 && errno != EINTR)
			break;
		if (!want_in || !(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		u8 buf[BOOT_UART_FIFO];
		ssize_t n = read(STDIN_FILENO, buf, room < sizeof(buf) ? room : sizeof(buf));
		if (n <= 0) {
			if (n == 0 || (errno != EINTR && errno != EAGAIN))
				in_open = 0;
			continue;
		}
		pthread_mutex_lock(&v->lock);
		u8 in[sizeof(buf)];
		unsigned nin = 0;
		for (ssize_t i = 0; i < n; i++) {
			if (tty && escape) {
				escape = 0;
				if (buf[i] == 'x' || buf[i] == 'X') {
					pthread_mutex_unlock(&v->lock);
					vm_end(v, NULL, 0, "Ctrl-A x: quit");
					pthread_mutex_lock(&v->lock);
					break;
				}
				if (buf[i] != ESCAPE_KEY)
					continue;	/* Ctrl-A Ctrl-A sends one Ctrl-A */
			} else if (tty && buf[i] == ESCAPE_KEY) {
				escape = 1;
				continue;
			}
			in[nin++] = buf[i];
		}
		/* hvc0 takes the bytes together: each fills receive buffers */
		if (v->vcon_input)
			boot_vcon_receive(&v->vcon, in, nin);
		else
			for (unsigned i = 0; i < nin; i++)
				boot_uart_receive(&v->uart, in[i]);
		uart_irq_update(v);
		irq_line(v, BOOT_VCON_IRQ, boot_virtio_irq(&v->vcon.vio), &v->vcon_irq);
		pthread_mutex_unlock(&v->lock);
	}
}

/* Run every vCPU on its own thread (the APs wait in the kernel for
 * INIT/SIPI) and the terminal on this one; returns the VM's status. */
static int vm_run(struct vm *v, const struct boot_mig_opts *mo)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick;	/* no SA_RESTART: KVM_RUN returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	int tty = boot_term_raw();
	v->uart.flush_each = isatty(STDOUT_FILENO);
	v->vcon.flush_each = v->uart.flush_each;
	v->vcon_input = hvc_console(v);
	for (int i = 0; i < v->ncpus; i++) {
		struct vcpu *c = &v->cpu[i];
		c->vm = v;
		int e = pthread_create(&c->thread, NULL, vcpu_thread, c);
		if (e) {
			char why[96];
			snprintf(why, sizeof(why), "cannot start vCPU %d: %s", i, strerror(e));
			vm_end(v, NULL, 1, why);
			break;
		}
		pthread_mutex_lock(&v->lock);
		c->started = 1;
		int late = v->done;
		pthread_mutex_unlock(&v->lock);
		if (late) {
			/* vm_end ran before this thread was listed: kick it now. */
			if (v->imm_exit)
				__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
			pthread_kill(c->thread, SIGUSR1);
		}
	}
	if (!v->done && boot_mig_start(v, mo))
		vm_end(v, NULL, 1, NULL);
	terminal_loop(v, tty);
	boot_mig_stop(v);
	for (int i = 0; i < v->ncpus; i++)
		if (v->cpu[i].started)
			pthread_join(v->cpu[i].thread, NULL);
	boot_term_restore();
	fflush(stdout);
	return v->status;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: softkvm boot --kernel FILE [--initrd FILE] [--append TEXT] "
		   "[--mem SIZE] [--cpus N] [--disk FILE] [--hw]\n"
		   "       [--save FILE | --migrate-to ADDR] [--after SECONDS] [--snapshot-resets N]\n"
		   "       softkvm boot --restore FILE | --incoming ADDR [--disk FILE] [--hw] [...]\n"
		   "ADDR: unix:PATH or tcp:HOST:PORT (docs/migration.md)\n");
}

/* SIZE: bytes with a K/M/G suffix, or a plain number of MiB (as QEMU's -m). */
static int parse_size(const char *s, u64 *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	u64 mul = 1 << 20;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': mul = 1 << 10; break;
		case 'm': case 'M': mul = 1 << 20; break;
		case 'g': case 'G': mul = 1 << 30; break;
		default: return -1;
		}
		if (end[1])
			return -1;
	}
	if (n > UINT64_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

static int parse_args(int argc, char **argv, struct boot_opts *o)
{
	o->mem = 256ull << 20;
	o->cpus = 1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--hw")) {
			o->hw = 1;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		const char **str = !strcmp(a, "--kernel") ? &o->kernel :
				   !strcmp(a, "--initrd") ? &o->initrd :
				   !strcmp(a, "--append") ? &o->append :
				   !strcmp(a, "--disk") ? &o->disk :
				   !strcmp(a, "--save") ? &o->mig.save :
				   !strcmp(a, "--restore") ? &o->mig.restore :
				   !strcmp(a, "--migrate-to") ? &o->mig.migrate_to :
				   !strcmp(a, "--incoming") ? &o->mig.incoming : NULL;
		int is_mem = !strcmp(a, "--mem"), is_cpus = !strcmp(a, "--cpus");
		int is_after = !strcmp(a, "--after"), is_resets = !strcmp(a, "--snapshot-resets");
		if (!str && !is_mem && !is_cpus && !is_after && !is_resets) {
			fprintf(stderr, "softkvm boot: unknown option '%s'\n", a);
			return -1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "softkvm boot: %s needs a value\n", a);
			return -1;
		}
		const char *val = argv[++i];
		if (str) {
			*str = val;
		} else if (is_after) {
			char *end;
			o->mig.after = strtod(val, &end);
			if (*end || end == val || !(o->mig.after >= 0 && o->mig.after < 1e6)) {
				fprintf(stderr, "softkvm boot: bad --after '%s' (seconds)\n", val);
				return -1;
			}
		} else if (is_resets) {
			char *end;
			o->mig.resets = strtol(val, &end, 10);
			if (*end || end == val || o->mig.resets < 0) {
				fprintf(stderr, "softkvm boot: bad --snapshot-resets '%s'\n", val);
				return -1;
			}
		} else if (is_mem) {
			if (parse_size(val, &o->mem) || o->mem < (4ull << 20) ||
			    (o->mem & 0xfff)) {
				fprintf(stderr, "softkvm boot: bad --mem '%s' (at least 4M, "
						"a multiple of 4K)\n", val);
				return -1;
			}
		} else {
			char *end;
			o->cpus = strtol(val, &end, 10);
			if (*end || end == val || o->cpus < 1 || o->cpus > MAX_CPUS) {
				fprintf(stderr, "softkvm boot: bad --cpus '%s' (1 to %d)\n", val, MAX_CPUS);
				return -1;
			}
		}
	}
	int from_stream = o->mig.restore || o->mig.incoming;
	if (!o->kernel && !from_stream) {
		fprintf(stderr, "softkvm boot: --kernel is required\n");
		return -1;
	}
	if (from_stream && (o->kernel || o->initrd || o->append)) {
		fprintf(stderr, "softkvm boot: --restore/--incoming take the guest from the stream: "
				"no --kernel, --initrd or --append\n");
		return -1;
	}
	if ((o->mig.restore && o->mig.incoming) || (o->mig.save && o->mig.migrate_to)) {
		fprintf(stderr, "softkvm boot: one of --restore/--incoming, one of --save/--migrate-to\n");
		return -1;
	}
	return 0;
}

/* --disk: a raw image, read-write, whole 512-byte sectors. */
static int disk_open(struct vm *v, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return fail("cannot open disk '%s' read-write: %s", path, strerror(errno));
	u64 size = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		size = st.st_size;
	else if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode))
		size = lseek(fd, 0, SEEK_END) > 0 ? (u64)lseek(fd, 0, SEEK_END) : 0;
	else {
		close(fd);
		return fail("disk '%s' is not a regular file or block device", path);
	}
	if (!size || size % 512) {
		close(fd);
		return fail("disk '%s' is %" PRIu64 " bytes: not a whole, non-zero number of "
			    "512-byte sectors", path, size);
	}
	boot_vblk_init(&v->vblk, fd, size, vblk_gpa, v);
	return 0;
}

int cmd_boot(int argc, char **argv)
{
	struct boot_opts o = { 0 };
	if (parse_args(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}

	u8 *img = NULL, *initrd = NULL;
	u64 img_size = 0, initrd_size = 0;
	struct vm v = { .k = o.hw ? &shim_hw : &shim_softkvm, .kvm = -1, .vm = -1,
			.mem_size = o.mem, .ncpus = (int)o.cpus, .wake = { -1, -1 } };
	for (int i = 0; i < MAX_CPUS; i++)
		v.cpu[i].fd = -1;
	pthread_mutex_init(&v.lock, NULL);
	pthread_cond_init(&v.cond, NULL);
	boot_uart_init(&v.uart, stdout);
	boot_cmos_init(&v.cmos);
	boot_vcon_init(&v.vcon, stdout, vblk_gpa, &v);
	v.vblk.fd = -1;
	int st = 1;
	if (o.disk && disk_open(&v, o.disk))
		goto out;
	o.mig.disk_size = v.vblk.fd >= 0 ? v.vblk.size : 0;
	int streamed = boot_mig_open(&v, &o.mig);
	if (streamed < 0)
		goto out;
	if (streamed) {
		/* --restore / --incoming: the stream has the whole guest. */
		if (pipe2(v.wake, O_CLOEXEC) < 0) {
			fail("pipe: %s", strerror(errno));
			goto out;
		}
		if (boot_vm_create(&v) || boot_mig_load(&v))
			goto out;
		st = vm_run(&v, &o.mig);
		goto out;
	}
	if (read_file("kernel", o.kernel, &img, &img_size) ||
	    (o.initrd && read_file("initrd", o.initrd, &initrd, &initrd_size)))
		goto out;
	/* Check the image before creating anything. */
	struct kernel k = { .img = img, .size = img_size };
	if (kernel_parse(&k, o.kernel, o.mem < HOLE_32 ? o.mem : HOLE_32))
		goto out;
	if (pipe2(v.wake, O_CLOEXEC) < 0) {
		fail("pipe: %s", strerror(errno));
		goto out;
	}
	if (boot_vm_create(&v))
		goto out;
	u64 entry = 0;
	if (load_guest(&v, &o, &k, initrd, initrd_size, &entry) ||
	    setup_cpu(&v, entry))
		goto out;
	free(img);
	free(initrd);
	img = initrd = NULL;
	st = vm_run(&v, &o.mig);
out:
	fflush(stdout);
	free(img);
	free(initrd);
	vm_destroy(&v);
	if (v.wake[0] >= 0) {
		close(v.wake[0]);
		close(v.wake[1]);
	}
	/* The disk's writes reach the file before we report the status. */
	if (v.vblk.fd >= 0) {
		int e = boot_vblk_flush(&v.vblk);
		if (e < 0) {
			fail("flushing disk '%s': %s", o.disk, strerror(-e));
			st = 1;
		}
		close(v.vblk.fd);
	}
	pthread_cond_destroy(&v.cond);
	pthread_mutex_destroy(&v.lock);
	return st;
}
