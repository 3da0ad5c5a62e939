/*
 * `softkvm boot`: a small VMM that boots a Linux bzImage through the KVM
 * API, served by softkvm's direct C API (default) or the host's /dev/kvm
 * (--hw).  The kernel is entered at its 64-bit entry point as
 * Documentation/arch/x86/boot.rst ("64-bit Boot Protocol") describes; the
 * only device so far is a 16550 UART on ttyS0 (boot_uart.c) and the
 * debug-exit port.  docs/boot.md has the layout and the exit statuses.
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
#include <unistd.h>
#include <linux/kvm.h>

#include "softkvm.h"
#include "boot.h"
#include "tools.h"

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
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define E820_MAX 128
#define E820_RAM 1

#define LOADED_HIGH 0x01	/* loadflags bit 0: protected-mode code at 1M+ */
#define XLF_KERNEL_64 0x01	/* xloadflags bit 0: 64-bit entry at +0x200 */
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x02

/* The boot GDT selectors boot.rst requires at the 64-bit entry. */
#define BOOT_CS 0x10
#define BOOT_DS 0x18

struct kvm_shim {
	const char *name;
	int (*open)(void);
	int (*ioctl)(int fd, unsigned long req, void *arg);
	int (*close)(int fd);
};

static int sk_open(void) { return softkvm_open(O_RDWR | O_CLOEXEC); }
static int sk_ioctl(int fd, unsigned long req, void *arg) { return softkvm_ioctl(fd, req, arg); }
static int hw_open(void) { return open("/dev/kvm", O_RDWR | O_CLOEXEC); }
static int hw_ioctl(int fd, unsigned long req, void *arg) { return ioctl(fd, req, arg); }

static const struct kvm_shim shim_softkvm = { "softkvm", sk_open, sk_ioctl, softkvm_close };
static const struct kvm_shim shim_hw = { "/dev/kvm", hw_open, hw_ioctl, close };

struct vm {
	const struct kvm_shim *k;
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	u8 *mem;		/* host copy: [0, low_top) then [4G, ...) */
	u64 mem_size;		/* --mem */
	u64 low_top;		/* end of RAM below 4 GiB */
	struct boot_uart uart;
};

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;
	fputs("softkvm boot: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* Host address of [gpa, gpa + len) if it is all RAM, else NULL. */
static u8 *gpa_ptr(struct vm *v, u64 gpa, u64 len)
{
	if (gpa + len < gpa)
		return NULL;
	if (gpa + len <= LOW_RAM_END || (gpa >= HIGH_RAM && gpa + len <= v->low_top))
		return v->mem + gpa;
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

static int vm_create(struct vm *v)
{
	v->kvm = v->k->open();
	if (v->kvm < 0)
		return fail("cannot open %s: %s", v->k->name, strerror(errno));
	int ver = v->k->ioctl(v->kvm, KVM_GET_API_VERSION, NULL);
	if (ver != KVM_API_VERSION)
		return fail("%s: KVM API version %d, need %d", v->k->name, ver, KVM_API_VERSION);
	v->vm = v->k->ioctl(v->kvm, KVM_CREATE_VM, NULL);
	if (v->vm < 0)
		return fail("KVM_CREATE_VM: %s", strerror(errno));
	v->low_top = v->mem_size < HOLE_32 ? v->mem_size : HOLE_32;
	v->mem = mmap(NULL, v->mem_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v->mem == MAP_FAILED) {
		v->mem = NULL;
		return fail("cannot map %" PRIu64 " bytes of guest memory: %s", v->mem_size,
			    strerror(errno));
	}
	if (vm_slot(v, 0, 0, LOW_RAM_END, v->mem) ||
	    vm_slot(v, 1, HIGH_RAM, v->low_top - HIGH_RAM, v->mem + HIGH_RAM))
		return -1;
	if (v->mem_size > v->low_top &&
	    vm_slot(v, 2, GIB4, v->mem_size - v->low_top, v->mem + v->low_top))
		return -1;
	v->vcpu = v->k->ioctl(v->vm, KVM_CREATE_VCPU, NULL);
	if (v->vcpu < 0)
		return fail("KVM_CREATE_VCPU: %s", strerror(errno));
	int sz = v->k->ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (sz < (int)sizeof(struct kvm_run))
		return fail("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	v->run_size = sz;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return fail("mmap kvm_run: %s", strerror(errno));
	}
	/* Long mode needs LM in the guest CPUID on real KVM; the guest gets
	 * everything the back end supports. */
	int n = 256;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	if (!c)
		return fail("out of memory");
	c->nent = n;
	int r = v->k->ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, c);
	if (r >= 0)
		r = v->k->ioctl(v->vcpu, KVM_SET_CPUID2, c);
	free(c);
	if (r < 0)
		return fail("setting the guest CPUID: %s", strerror(errno));
	return 0;
}

static void vm_destroy(struct vm *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->vcpu >= 0)
		v->k->close(v->vcpu);
	if (v->vm >= 0)
		v->k->close(v->vm);
	if (v->kvm >= 0)
		v->k->close(v->kvm);
	if (v->mem)
		munmap(v->mem, v->mem_size);
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

static u16 get16(const u8 *p) { return p[0] | p[1] << 8; }
static u32 get32(const u8 *p) { return get16(p) | (u32)get16(p + 2) << 16; }
static u64 get64(const u8 *p) { return get32(p) | (u64)get32(p + 4) << 32; }
static void put16(u8 *p, u16 x) { p[0] = x; p[1] = x >> 8; }
static void put32(u8 *p, u32 x) { put16(p, x); put16(p + 2, x >> 16); }
static void put64(u8 *p, u64 x) { put32(p, x); put32(p + 4, x >> 32); }

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
	if (v->k->ioctl(v->vcpu, KVM_GET_SREGS, &s) < 0)
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
	if (v->k->ioctl(v->vcpu, KVM_SET_SREGS, &s) < 0)
		return fail("KVM_SET_SREGS: %s", strerror(errno));
	struct kvm_regs r = {
		.rflags = 2,		/* IF clear */
		.rip = entry,
		.rsi = BOOT_ZERO_PAGE,
		.rsp = BOOT_STACK,
	};
	if (v->k->ioctl(v->vcpu, KVM_SET_REGS, &r) < 0)
		return fail("KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

/* The ISA debug-exit port (docs/boot.md): a byte written here ends the VM
 * and becomes the exit status. */
#define DEBUG_EXIT_PORT 0x501

/* Returns -1 to keep running, else the process exit status. */
static int handle_io(struct vm *v)
{
	struct kvm_run *run = v->run;
	u8 *data = (u8 *)run + run->io.data_offset;
	for (u32 i = 0; i < run->io.count; i++, data += run->io.size) {
		u16 port = run->io.port;
		int out = run->io.direction == KVM_EXIT_IO_OUT;
		if (port >= BOOT_UART_BASE && port < BOOT_UART_BASE + 8 && run->io.size == 1) {
			if (out)
				boot_uart_write(&v->uart, port - BOOT_UART_BASE, *data);
			else
				*data = boot_uart_read(&v->uart, port - BOOT_UART_BASE);
		} else if (port == DEBUG_EXIT_PORT && out) {
			fflush(stdout);
			return data[0];
		} else if (!out) {
			/* Nothing decodes the port: the ISA bus floats high. */
			memset(data, 0xff, run->io.size);
		}
	}
	return -1;
}

static void report_internal(struct vm *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs r;
	fprintf(stderr, "softkvm boot: KVM_EXIT_INTERNAL_ERROR suberror %u",
		run->internal.suberror);
	if (v->k->ioctl(v->vcpu, KVM_GET_REGS, &r) == 0)
		fprintf(stderr, " at rip %#llx", (unsigned long long)r.rip);
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		u8 n = run->emulation_failure.insn_size;
		if (n > sizeof(run->emulation_failure.insn_bytes))
			n = sizeof(run->emulation_failure.insn_bytes);
		fprintf(stderr, "; instruction bytes:");
		for (u8 i = 0; i < n; i++)
			fprintf(stderr, " %02x", run->emulation_failure.insn_bytes[i]);
	} else {
		fprintf(stderr, "; data:");
		for (u32 i = 0; i < run->internal.ndata && i < 16; i++)
			fprintf(stderr, " %#llx", (unsigned long long)run->internal.data[i]);
	}
	fputc('\n', stderr);
}

static int run_vcpu(struct vm *v)
{
	for (;;) {
		if (v->k->ioctl(v->vcpu, KVM_RUN, NULL) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fail("KVM_RUN: %s", strerror(errno)), 1;
		}
		struct kvm_run *run = v->run;
		int st;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			st = handle_io(v);
			if (st >= 0)
				return st;
			break;
		case KVM_EXIT_MMIO:
			/* No MMIO devices yet: unassigned addresses read all-ones. */
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
			break;
		case KVM_EXIT_HLT:
			/* Without an irqchip nothing can wake the vCPU. */
			fflush(stdout);
			return fail("guest halted with nothing to wake it (no interrupt sources yet)"), 1;
		case KVM_EXIT_SHUTDOWN:
			fflush(stdout);
			return fail("guest reset/shutdown (triple fault)"), 1;
		case KVM_EXIT_SYSTEM_EVENT:
			fflush(stdout);
			if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
				return 0;
			return fail("guest reset/shutdown (system event %u)",
				    run->system_event.type), 1;
		case KVM_EXIT_INTERNAL_ERROR:
			fflush(stdout);
			report_internal(v);
			return 1;
		case KVM_EXIT_FAIL_ENTRY:
			fflush(stdout);
			return fail("KVM_EXIT_FAIL_ENTRY: hardware reason %#llx",
				    (unsigned long long)run->fail_entry.hardware_entry_failure_reason), 1;
		case KVM_EXIT_INTR:
			break;
		default:
			fflush(stdout);
			return fail("unexpected exit reason %u", run->exit_reason), 1;
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: softkvm boot --kernel FILE [--initrd FILE] [--append TEXT] "
		   "[--mem SIZE] [--cpus N] [--disk FILE] [--hw]\n");
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
				   !strcmp(a, "--disk") ? &o->disk : NULL;
		int is_mem = !strcmp(a, "--mem"), is_cpus = !strcmp(a, "--cpus");
		if (!str && !is_mem && !is_cpus) {
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
			if (*end || end == val || o->cpus < 1) {
				fprintf(stderr, "softkvm boot: bad --cpus '%s'\n", val);
				return -1;
			}
		}
	}
	if (!o->kernel) {
		fprintf(stderr, "softkvm boot: --kernel is required\n");
		return -1;
	}
	return 0;
}

int cmd_boot(int argc, char **argv)
{
	struct boot_opts o = { 0 };
	if (parse_args(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	/* Honest limits of this slice, not silent acceptance. */
	if (o.cpus > 1)
		return fail("--cpus %ld: more than one vCPU needs the in-kernel irqchip "
			    "(INIT/SIPI), which softkvm boot does not have yet", o.cpus), 1;
	if (o.disk)
		return fail("--disk: no block device is emulated yet"), 1;

	u8 *img = NULL, *initrd = NULL;
	u64 img_size = 0, initrd_size = 0;
	struct vm v = { .k = o.hw ? &shim_hw : &shim_softkvm, .kvm = -1, .vm = -1, .vcpu = -1,
			.mem_size = o.mem };
	int st = 1;
	if (read_file("kernel", o.kernel, &img, &img_size) ||
	    (o.initrd && read_file("initrd", o.initrd, &initrd, &initrd_size)))
		goto out;
	/* Check the image before creating anything. */
	struct kernel k = { .img = img, .size = img_size };
	if (kernel_parse(&k, o.kernel, o.mem < HOLE_32 ? o.mem : HOLE_32))
		goto out;
	if (vm_create(&v))
		goto out;
	u64 entry = 0;
	if (load_guest(&v, &o, &k, initrd, initrd_size, &entry) ||
	    setup_cpu(&v, entry))
		goto out;
	free(img);
	free(initrd);
	img = initrd = NULL;
	boot_uart_init(&v.uart, stdout);
	st = run_vcpu(&v);
out:
	fflush(stdout);
	free(img);
	free(initrd);
	vm_destroy(&v);
	return st;
}
