/*
 * KVM_IOEVENTFD (KVM API 4.59): the argument checks of kvm_assign_ioeventfd
 * and kvm_deassign_ioeventfd, and a real-mode guest whose port and MMIO
 * writes either signal a matching eventfd without an exit or exit as usual.
 * Matching is by exact address; a length-0 entry matches any length, else
 * the length must be equal and, with DATAMATCH, the value too.  Reads are
 * never consumed.
 */
#include "t_eventfd.h"
#include "t_vm.h"

#ifndef KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY
#define KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY (1 << kvm_ioeventfd_flag_nr_virtio_ccw_notify)
#endif

static int vm, vcpu;
static struct kvm_run *run;

static long ioev(int fd, unsigned long long addr, unsigned len, unsigned flags,
		 unsigned long long match)
{
	struct kvm_ioeventfd a = {
		.datamatch = match, .addr = addr, .len = len, .fd = fd, .flags = flags,
	};
	return ioctl(vm, KVM_IOEVENTFD, &a);
}

#define PIO KVM_IOEVENTFD_FLAG_PIO
#define DM KVM_IOEVENTFD_FLAG_DATAMATCH
#define DEASSIGN KVM_IOEVENTFD_FLAG_DEASSIGN



static void check_args(void)
{
	int a = t_efd(), b = t_efd();
	int pipefd[2];
	if (pipe(pipefd))
		T_BAIL("pipe");

	T_ERR(ioev(a, 0x1000, 3, PIO, 0), EINVAL, "length 3");
	T_ERR(ioev(a, 0x1000, 16, 0, 0), EINVAL, "length 16");
	T_ERR(ioev(a, ~0ULL - 1, 4, 0, 0), EINVAL, "range wraps");
	T_ERR(ioev(a, 0x1000, 4, 1u << 5, 0), EINVAL, "unknown flag");
	T_ERR(ioev(a, 0x1000, 0, DM, 0), EINVAL, "length 0 with DATAMATCH");
	T_ERR(ioev(a, 0x1000, 0, PIO | DM, 0), EINVAL, "PIO length 0 with DATAMATCH");
	T_ERR(ioev(-1, 0x1000, 4, 0, 0), EBADF, "fd -1");
	T_ERR(ioev(pipefd[0], 0x1000, 4, 0, 0), EINVAL, "a pipe is not an eventfd");
	T_ERR(ioctl(vm, KVM_IOEVENTFD, T_BADPTR), EFAULT, "bad pointer");
	/* The bus checks come before the fd is looked at. */
	T_ERR(ioev(-1, 0x1000, 3, 0, 0), EINVAL, "length 3 with fd -1");
	/* The range check is on addr + len, so the last byte may be addressed. */
	T_EQ(ioev(a, ~0ULL - 4, 4, 0, 0), 0, "4 bytes ending at the top of the address space");
	T_ERR(ioev(a, ~0ULL - 3, 4, 0, 0), EINVAL, "4 bytes whose end wraps to 0");
	T_EQ(ioev(a, ~0ULL - 4, 4, DEASSIGN, 0), 0, "... deassigned");

	/* Collisions: the same bus and address, and a zero length on either
	 * side, or the same length with a wildcard on either side or equal
	 * data. */
	T_EQ(ioev(a, 0x1000, 4, 0, 0), 0, "MMIO 0x1000 len 4");
	T_ERR(ioev(b, 0x1000, 4, 0, 0), EEXIST, "the same again, other eventfd");
	T_ERR(ioev(b, 0x1000, 4, DM, 7), EEXIST, "DATAMATCH over a wildcard");
	T_ERR(ioev(b, 0x1000, 0, 0, 0), EEXIST, "length 0 over length 4");
	T_EQ(ioev(b, 0x1000, 2, 0, 0), 0, "another length at the same address");
	T_EQ(ioev(b, 0x1002, 2, 0, 0), 0, "overlapping range, other address");
	T_EQ(ioev(b, 0x1000, 4, PIO, 0), 0, "same address on the PIO bus");
	T_EQ(ioev(a, 0x2000, 1, DM, 1), 0, "DATAMATCH 1");
	T_EQ(ioev(a, 0x2000, 1, DM, 2), 0, "DATAMATCH 2, same eventfd");
	T_ERR(ioev(b, 0x2000, 1, DM, 2), EEXIST, "DATAMATCH 2 again");
	T_ERR(ioev(b, 0x2000, 1, 0, 0), EEXIST, "wildcard over DATAMATCH");
	T_EQ(ioev(a, 0x3000, 0, 0, 0), 0, "MMIO length 0");
	T_ERR(ioev(b, 0x3000, 8, DM, 5), EEXIST, "DATAMATCH over length 0");
	T_EQ(ioev(a, 0x3000, 0, PIO, 0), 0, "PIO length 0");
	T_ERR(ioev(a, 0x3000, 0, PIO, 0), EEXIST, "PIO length 0 again");

	/* Deassign matches bus, eventfd, address, length and data exactly. */
	T_ERR(ioev(b, 0x1000, 4, DEASSIGN, 0), ENOENT, "deassign: other eventfd");
	T_ERR(ioev(a, 0x1000, 2, DEASSIGN, 0), ENOENT, "deassign: other length");
	T_ERR(ioev(a, 0x1000, 4, DEASSIGN | PIO, 0), ENOENT, "deassign: other bus");
	T_ERR(ioev(a, 0x1000, 4, DEASSIGN | DM, 0), ENOENT, "deassign: DATAMATCH vs wildcard");
	T_ERR(ioev(a, 0x2000, 1, DEASSIGN | DM, 3), ENOENT, "deassign: other data");
	T_ERR(ioev(a, 0x2000, 1, DEASSIGN, 0), ENOENT, "deassign: wildcard vs DATAMATCH");
	T_ERR(ioev(a, 0x1000, 3, DEASSIGN, 0), ENOENT, "deassign: length 3 is not checked");
	T_ERR(ioev(-1, 0x1000, 4, DEASSIGN, 0), EBADF, "deassign: fd -1");
	T_ERR(ioev(pipefd[0], 0x1000, 4, DEASSIGN, 0), EINVAL, "deassign: a pipe");
	int a2 = dup(a);
	T_EQ(ioev(a2, 0x1000, 4, DEASSIGN, 0), 0, "deassign through a dup of the eventfd");
	T_ERR(ioev(a, 0x1000, 4, DEASSIGN, 0), ENOENT, "deassign twice");
	T_EQ(ioev(b, 0x1000, 4, DM, 9), 0, "the address is free again");
	T_EQ(ioev(a, 0x2000, 1, DEASSIGN | DM, 2), 0, "deassign DATAMATCH 2");
	T_EQ(ioev(a, 0x2000, 1, DEASSIGN | DM, 1), 0, "deassign DATAMATCH 1");
	/* A closed eventfd stays registered until deassigned. */
	int c = t_efd();
	T_EQ(ioev(c, 0x4000, 8, DM, 0x1122334455667788ULL), 0, "8-byte DATAMATCH");
	int c2 = dup(c);
	close(c);
	T_ERR(ioev(b, 0x4000, 8, DM, 0x1122334455667788ULL), EEXIST,
	      "still there after the eventfd was closed");
	T_EQ(ioev(c2, 0x4000, 8, DEASSIGN | DM, 0x1122334455667788ULL), 0,
	     "deassign it through its other fd");
	close(c2);
	close(a2);

	/* KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY names s390's notify bus, which
	 * KVM creates on x86 too (kvm_create_vm makes every bus) and no x86
	 * access reaches: the entry is accepted and lives on its own bus. */
	const unsigned ccw = KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY;
	T_EQ(ioev(a, 0x5000, 4, ccw, 0), 0, "VIRTIO_CCW_NOTIFY accepted");
	T_ERR(ioev(b, 0x5000, 4, ccw, 0), EEXIST, "VIRTIO_CCW_NOTIFY twice");
	T_EQ(ioev(b, 0x5000, 4, 0, 0), 0, "MMIO at the same address");
	T_EQ(ioev(a, 0x5000, 4, ccw | DEASSIGN, 0), 0, "VIRTIO_CCW_NOTIFY deassigned");
	T_EQ(ioev(b, 0x5000, 4, DEASSIGN, 0), 0, "... and the MMIO one");

	/* Bit 4 is inside KVM_IOEVENTFD_VALID_FLAG_MASK but names no bus:
	 * an ordinary MMIO entry. */
	T_EQ(ioev(a, 0x6000, 4, 1u << 4, 0), 0, "flag bit 4 accepted");
	T_ERR(ioev(b, 0x6000, 4, 0, 0), EEXIST, "... as an MMIO entry");
	T_EQ(ioev(a, 0x6000, 4, DEASSIGN, 0), 0, "... deassigned as MMIO");

	/* Leave nothing behind for the guest part. */
	T_EQ(ioev(a, 0x3000, 0, DEASSIGN, 0), 0, "deassign MMIO length 0");
	T_EQ(ioev(a, 0x3000, 0, DEASSIGN | PIO, 0), 0, "deassign PIO length 0");
	T_EQ(ioev(b, 0x1000, 2, DEASSIGN, 0), 0, "deassign len 2");
	T_EQ(ioev(b, 0x1002, 2, DEASSIGN, 0), 0, "deassign 0x1002");
	T_EQ(ioev(b, 0x1000, 4, DEASSIGN | PIO, 0), 0, "deassign PIO 0x1000");
	T_EQ(ioev(b, 0x1000, 4, DEASSIGN | DM, 9), 0, "deassign DATAMATCH 9");
	close(a);
	close(b);
	close(pipefd[0]);
	close(pipefd[1]);
}

struct exit_rec {
	unsigned reason;
	unsigned long long addr;
	unsigned len, write;
	unsigned long long data;
};

/* Run real-mode code at 0:ip until HLT, recording the exits. */
static int run_guest(unsigned ip, struct exit_rec *ex, int max)
{
	int n = 0;
	if (t_real_mode(vcpu, ip, 0))
		return -1;
	for (int i = 0; i < 64; i++) {
		if (ioctl(vcpu, KVM_RUN, 0))
			return -1;
		struct exit_rec e = {.reason = run->exit_reason};
		switch (run->exit_reason) {
		case KVM_EXIT_HLT:
			return n;
		case KVM_EXIT_MMIO:
			e.addr = run->mmio.phys_addr;
			e.len = run->mmio.len;
			e.write = run->mmio.is_write;
			if (e.write)
				memcpy(&e.data, run->mmio.data, e.len);
			else
				memset(run->mmio.data, 0, sizeof(run->mmio.data));
			break;
		case KVM_EXIT_IO:
			e.addr = run->io.port;
			e.len = run->io.size;
			e.write = run->io.direction == KVM_EXIT_IO_OUT;
			if (e.write)
				memcpy(&e.data, (unsigned char *)run + run->io.data_offset, e.len);
			break;
		default:
			printf("# exit reason %u\n", run->exit_reason);
			return -1;
		}
		if (n < max)
			ex[n++] = e;
	}
	return -1;
}

static const unsigned char code[] = {
	0xb8, 0x00, 0xa0, 0x8e, 0xc0,		  /* mov ax,0xa000; mov es,ax */
	0xb0, 0x11, 0xe6, 0x10,			  /* out 0x10,al (0x11): PIO len 1 */
	0xb8, 0x22, 0x22, 0xe7, 0x12,		  /* out 0x12,ax: len 1 only -> exit */
	0xb0, 0x41, 0xe6, 0x14,			  /* out 0x14,al (0x41): no match -> exit */
	0xb0, 0x42, 0xe6, 0x14,			  /* out 0x14,al (0x42): DATAMATCH */
	0xb8, 0x33, 0x33, 0xe7, 0x16,		  /* out 0x16,ax: PIO len 0 */
	0xb0, 0x44, 0xe6, 0x17,			  /* out 0x17,al: none -> exit */
	0x66, 0xb8, 0x78, 0x56, 0x34, 0x12,	  /* mov eax,0x12345678 */
	0x66, 0xe7, 0x18,			  /* out 0x18,eax: len 4 DATAMATCH */
	0x26, 0xc6, 0x06, 0x00, 0x01, 0x01,	  /* mov byte [es:0x100],1: MMIO len 0 */
	0x26, 0xc7, 0x06, 0x00, 0x01, 0xaa, 0x55, /* mov word [es:0x100]: any length */
	0x26, 0xc6, 0x06, 0x01, 0x01, 0x02,	  /* mov byte [es:0x101],2: exit */
	0x26, 0x66, 0xc7, 0x06, 0x00, 0x02, 0x0d, 0xf0, 0xfe, 0xca, /* [es:0x200]=0xcafef00d */
	0x26, 0x66, 0xc7, 0x06, 0x00, 0x02, 0x0e, 0xf0, 0xfe, 0xca, /* 0xcafef00e: exit */
	0x26, 0xc7, 0x06, 0x00, 0x03, 0x02, 0x01, /* mov word [es:0x300],0x102: len 2 */
	0x26, 0xa0, 0x00, 0x01,			  /* mov al,[es:0x100]: read exits */
	0xe4, 0x10,				  /* in al,0x10: read exits */
	0xf4,					  /* hlt */
};

/* At 0x80: out 0x10,al; hlt */
static const unsigned char code2[] = {0xb0, 0x11, 0xe6, 0x10, 0xf4};
/* At 0xa0: rep outsb of the 3 bytes at 0x200 to port 0x16; hlt */
static const unsigned char code3[] = {0xbe, 0x00, 0x02, 0xb9, 0x03, 0x00, 0xba,
				      0x16, 0x00, 0xf3, 0x6e, 0xf4};

static void check_guest(void)
{
	unsigned char *mem = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		T_BAIL("mmap");
	memcpy(mem, code, sizeof(code));
	memcpy(mem + 0x80, code2, sizeof(code2));
	memcpy(mem + 0xa0, code3, sizeof(code3));
	memcpy(mem + 0x200, "abc", 3);
	if (t_set_region(vm, 0, 0, 0, 16 * 4096, (unsigned long)mem))
		T_BAIL("memslot");
	vcpu = t_create_vcpu(vm, 0);
	run = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");

	int p10 = t_efd(), p12 = t_efd(), p14 = t_efd(), p16 = t_efd(), p18 = t_efd();
	int m100 = t_efd(), m200 = t_efd(), m300 = t_efd();
	T_EQ(ioev(p10, 0x10, 1, PIO, 0), 0, "guest: PIO 0x10 len 1");
	T_EQ(ioev(p12, 0x12, 1, PIO, 0), 0, "guest: PIO 0x12 len 1");
	T_EQ(ioev(p14, 0x14, 1, PIO | DM, 0x42), 0, "guest: PIO 0x14 len 1 = 0x42");
	T_EQ(ioev(p16, 0x16, 0, PIO, 0), 0, "guest: PIO 0x16 len 0");
	T_EQ(ioev(p18, 0x18, 4, PIO | DM, 0x12345678), 0, "guest: PIO 0x18 len 4 = 0x12345678");
	T_EQ(ioev(m100, 0xa0100, 0, 0, 0), 0, "guest: MMIO 0xa0100 len 0");
	T_EQ(ioev(m200, 0xa0200, 4, DM, 0xcafef00d), 0, "guest: MMIO 0xa0200 len 4 = 0xcafef00d");
	T_EQ(ioev(m300, 0xa0300, 2, 0, 0), 0, "guest: MMIO 0xa0300 len 2");

	struct exit_rec ex[16];
	int n = run_guest(0, ex, 16);
	static const struct exit_rec want[] = {
		{KVM_EXIT_IO, 0x12, 2, 1, 0x2222},
		{KVM_EXIT_IO, 0x14, 1, 1, 0x41},
		{KVM_EXIT_IO, 0x17, 1, 1, 0x44},
		{KVM_EXIT_MMIO, 0xa0101, 1, 1, 2},
		{KVM_EXIT_MMIO, 0xa0200, 4, 1, 0xcafef00e},
		{KVM_EXIT_MMIO, 0xa0100, 1, 0, 0},
		{KVM_EXIT_IO, 0x10, 1, 0, 0},
	};
	int nw = sizeof(want) / sizeof(want[0]);
	T_EQ(n, nw, "guest: seven exits before HLT");
	for (int i = 0; i < nw && i < n; i++) {
		const struct exit_rec *w = &want[i], *g = &ex[i];
		T_OK(g->reason == w->reason && g->addr == w->addr && g->len == w->len &&
			     g->write == w->write && g->data == w->data,
		     "guest: exit %d: %s %s %#llx len %u", i, w->write ? "write" : "read",
		     w->reason == KVM_EXIT_IO ? "port" : "MMIO", w->addr, w->len);
		if (g->reason != w->reason || g->addr != w->addr)
			printf("#   got reason %u addr %#llx len %u data %#llx\n", g->reason,
			       g->addr, g->len, g->data);
	}
	T_EQ(t_efd_count(p10), 1, "guest: 0x10 signalled once");
	T_EQ(t_efd_count(p12), 0, "guest: 0x12 not signalled by a 2-byte write");
	T_EQ(t_efd_count(p14), 1, "guest: 0x14 signalled by 0x42 only");
	T_EQ(t_efd_count(p16), 1, "guest: 0x16 (len 0) signalled by a 2-byte write");
	T_EQ(t_efd_count(p18), 1, "guest: 0x18 signalled by the matching dword");
	T_EQ(t_efd_count(m100), 2, "guest: 0xa0100 (len 0) signalled by byte and word");
	T_EQ(t_efd_count(m200), 1, "guest: 0xa0200 signalled by the matching dword");
	T_EQ(t_efd_count(m300), 1, "guest: 0xa0300 signalled by the word");

	/* After deassign, the same write exits. */
	T_EQ(ioev(p10, 0x10, 1, PIO | DEASSIGN, 0), 0, "guest: deassign PIO 0x10");
	n = run_guest(0x80, ex, 16);
	T_EQ(n, 1, "guest: one exit after deassign");
	T_OK(n >= 1 && ex[0].reason == KVM_EXIT_IO && ex[0].addr == 0x10 && ex[0].data == 0x11,
	     "guest: out 0x10 exits again");
	T_EQ(t_efd_count(p10), 0, "guest: 0x10 no longer signalled");

	/* String output: each element is a write of its own (kernel_pio). */
	n = run_guest(0xa0, ex, 16);
	T_EQ(n, 0, "guest: rep outsb to an ioeventfd port does not exit");
	T_EQ(t_efd_count(p16), 3, "guest: rep outsb of 3 bytes signals 3 times");

	close(p10), close(p12), close(p14), close(p16), close(p18);
	close(m100), close(m200), close(m300);
}

int main(void)
{
	int kvm = t_open_kvm();
	T_OK(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0, "KVM_CAP_IOEVENTFD");
	T_OK(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_NO_LENGTH) > 0,
	     "KVM_CAP_IOEVENTFD_NO_LENGTH");
	T_OK(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0,
	     "KVM_CAP_IOEVENTFD_ANY_LENGTH");
	vm = t_create_vm(kvm);
	check_args();
	check_guest();
	close(vcpu);
	close(vm);
	close(kvm);
	return t_done();
}
