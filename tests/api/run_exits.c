/*
 * The KVM_RUN contract (KVM API 4.10 and "The kvm_run structure"): PIO and
 * MMIO exits and their completion on the next KVM_RUN, string I/O,
 * read-only memslots, HLT, immediate_exit, and signals during KVM_RUN with
 * and without KVM_SET_SIGNAL_MASK.  Guests are real-mode byte strings.
 */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "t.h"

#define RAM_SIZE 0x10000
#define CODE 0x1000
#define RO_GPA 0x20000	/* a read-only slot */
#define MMIO_GPA 0xa0000 /* no slot */

static int kvm, vm, vcpu;
static struct kvm_run *run;
static unsigned char *ram, *ro;

static void setup(void)
{
	kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE,
		.userspace_addr = (unsigned long)ram};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r))
		T_BAIL("memslot");
	vcpu = t_create_vcpu(vm, 0);
	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
}

/* Load code at CODE, real mode CS=0, IP=CODE, SP=0x8000, flags 2. */
static void load(const unsigned char *code, size_t n)
{
	memcpy(ram + CODE, code, n);
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	s.ds.base = s.es.base = s.ss.base = 0;
	s.ds.selector = s.es.selector = s.ss.selector = 0;
	ioctl(vcpu, KVM_SET_SREGS, &s);
	struct kvm_regs r = {.rip = CODE, .rsp = 0x8000, .rflags = 2};
	ioctl(vcpu, KVM_SET_REGS, &r);
}

static unsigned long long rip(void)
{
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	return r.rip;
}

static unsigned long long rax(void)
{
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	return r.rax;
}

static int do_run(void)
{
	return ioctl(vcpu, KVM_RUN, 0);
}

static void test_pio(void)
{
	static const unsigned char code[] = {
		0xb0, 0x42,		/* 1000 mov al, 0x42 */
		0xe6, 0x10,		/* 1002 out 0x10, al */
		0xe4, 0x11,		/* 1004 in al, 0x11 */
		0x89, 0xc3,		/* 1006 mov bx, ax */
		0xba, 0x34, 0x12,	/* 1008 mov dx, 0x1234 */
		0xb8, 0xef, 0xbe,	/* 100b mov ax, 0xbeef */
		0xef,			/* 100e out dx, ax */
		0xf4,			/* 100f hlt */
	};
	load(code, sizeof(code));
	T_EQ(do_run(), 0, "pio: KVM_RUN to OUT");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "pio: OUT exits with KVM_EXIT_IO");
	T_EQ(run->io.direction, KVM_EXIT_IO_OUT, "pio: OUT direction");
	T_EQ(run->io.size, 1, "pio: OUT size");
	T_EQ(run->io.port, 0x10, "pio: OUT port");
	T_EQ(run->io.count, 1, "pio: OUT count");
	T_EQ(run->io.data_offset, 4096, "pio: data one page into the mapping");
	T_EQ(((unsigned char *)run)[run->io.data_offset], 0x42, "pio: OUT data");
	T_EQ(rip(), 0x1004, "pio: RIP is past OUT during the exit");

	T_EQ(do_run(), 0, "pio: KVM_RUN to IN");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "pio: IN exits with KVM_EXIT_IO");
	T_EQ(run->io.direction, KVM_EXIT_IO_IN, "pio: IN direction");
	T_EQ(run->io.port, 0x11, "pio: IN port");
	T_OBS("pio in rip", "%#llx", rip());
	((unsigned char *)run)[run->io.data_offset] = 0x99;

	T_EQ(do_run(), 0, "pio: KVM_RUN to 16-bit OUT");
	T_EQ(run->io.size, 2, "pio: OUT DX size");
	T_EQ(run->io.port, 0x1234, "pio: OUT DX port");
	T_EQ(*(unsigned short *)((unsigned char *)run + run->io.data_offset), 0xbeef,
	     "pio: OUT DX data");
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	T_EQ(r.rbx & 0xff, 0x99, "pio: IN completed with the VMM's data on re-entry");

	T_EQ(do_run(), 0, "pio: KVM_RUN to HLT");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "pio: KVM_EXIT_HLT");
	T_EQ(rip(), 0x1010, "pio: RIP is past HLT");
	T_EQ(run->if_flag, 0, "pio: if_flag with IF clear");
}

static void test_mmio(void)
{
	static const unsigned char code[] = {
		0xb8, 0x00, 0xa0,	/* 1000 mov ax, 0xa000 */
		0x8e, 0xd8,		/* 1003 mov ds, ax */
		0x8b, 0x1e, 0x10, 0x00,	/* 1005 mov bx, [0x10] */
		0xc7, 0x06, 0x20, 0x00, 0x78, 0x56, /* 1009 mov word [0x20], 0x5678 */
		0x66, 0x03, 0x1e, 0x30, 0x00, /* 100f add ebx, [0x30] */
		0xfb,			/* 1014 sti */
		0xf4,			/* 1015 hlt */
	};
	load(code, sizeof(code));
	T_EQ(do_run(), 0, "mmio: KVM_RUN to the read");
	T_EQ(run->exit_reason, KVM_EXIT_MMIO, "mmio: read exits with KVM_EXIT_MMIO");
	T_EQ(run->mmio.phys_addr, MMIO_GPA + 0x10, "mmio: read address");
	T_EQ(run->mmio.len, 2, "mmio: read length");
	T_EQ(run->mmio.is_write, 0, "mmio: read is_write");
	T_EQ(rip(), 0x1005, "mmio: RIP stays on the reading instruction");
	run->mmio.data[0] = 0x11;
	run->mmio.data[1] = 0x22;

	T_EQ(do_run(), 0, "mmio: KVM_RUN to the write");
	T_EQ(run->exit_reason, KVM_EXIT_MMIO, "mmio: write exits with KVM_EXIT_MMIO");
	T_EQ(run->mmio.phys_addr, MMIO_GPA + 0x20, "mmio: write address");
	T_EQ(run->mmio.len, 2, "mmio: write length");
	T_EQ(run->mmio.is_write, 1, "mmio: write is_write");
	T_EQ(run->mmio.data[0] | run->mmio.data[1] << 8, 0x5678, "mmio: write data");
	T_EQ(rip(), 0x100f, "mmio: RIP is past the writing instruction");
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	T_EQ(r.rbx & 0xffff, 0x2211, "mmio: read completed with the VMM's data");

	T_EQ(do_run(), 0, "mmio: KVM_RUN to the 32-bit read");
	T_EQ(run->mmio.len, 4, "mmio: 32-bit read length");
	memcpy(run->mmio.data, "\x01\x00\x01\x00", 4);
	T_EQ(do_run(), 0, "mmio: KVM_RUN to HLT");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "mmio: HLT after the reads");
	T_EQ(rax() & 0, 0, "mmio: registers readable");
	ioctl(vcpu, KVM_GET_REGS, &r);
	T_EQ(r.rbx & 0xffffffff, 0x00012212, "mmio: ADD with an MMIO source");
	T_EQ(run->if_flag, 1, "mmio: if_flag after STI");
	T_OBS("ready_for_interrupt_injection after sti;hlt", "%d",
	      run->ready_for_interrupt_injection);
}

static void test_readonly(void)
{
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0) {
		T_OK(1, "readonly: KVM_CAP_READONLY_MEM absent, skipped");
		return;
	}
	ro[0x40] = 0x5a;
	struct kvm_userspace_memory_region r = {
		.slot = 1, .flags = KVM_MEM_READONLY, .guest_phys_addr = RO_GPA,
		.memory_size = 0x1000, .userspace_addr = (unsigned long)ro};
	T_EQ(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r), 0, "readonly: slot added");
	static const unsigned char code[] = {
		0xb8, 0x00, 0x20,	/* mov ax, 0x2000 */
		0x8e, 0xd8,		/* mov ds, ax */
		0xa0, 0x40, 0x00,	/* mov al, [0x40] */
		0xa2, 0x41, 0x00,	/* mov [0x41], al */
		0xf4,			/* hlt */
	};
	load(code, sizeof(code));
	T_EQ(do_run(), 0, "readonly: KVM_RUN");
	T_EQ(run->exit_reason, KVM_EXIT_MMIO, "readonly: a write exits as MMIO");
	T_EQ(run->mmio.phys_addr, RO_GPA + 0x41, "readonly: write address");
	T_EQ(run->mmio.is_write, 1, "readonly: is_write");
	T_EQ(run->mmio.data[0], 0x5a, "readonly: the read from the slot saw RAM");
	T_EQ(ro[0x41], 0, "readonly: memory unchanged");
	T_EQ(do_run(), 0, "readonly: KVM_RUN to HLT");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "readonly: HLT");
}

static void test_immediate_exit(void)
{
	static const unsigned char code[] = {
		0xe4, 0x77,	/* in al, 0x77 */
		0xf4,		/* hlt */
	};
	load(code, sizeof(code));
	T_EQ(do_run(), 0, "immediate_exit: KVM_RUN to IN");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "immediate_exit: IN exit");
	((unsigned char *)run)[run->io.data_offset] = 0x3c;
	run->immediate_exit = 1;
	T_ERR(do_run(), EINTR, "immediate_exit: KVM_RUN fails with EINTR");
	T_OBS("immediate_exit exit_reason", "%u", run->exit_reason);
	T_EQ(rax() & 0xff, 0x3c, "immediate_exit: the pending IN completed first");
	T_ERR(do_run(), EINTR, "immediate_exit: again EINTR");
	run->immediate_exit = 0;
	T_EQ(do_run(), 0, "immediate_exit: cleared, KVM_RUN runs");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "immediate_exit: on to HLT");
}

static volatile sig_atomic_t got_usr2;

static void on_usr2(int s)
{
	(void)s;
	got_usr2 = 1;
}

struct kicker {
	pthread_t target;
	int sig;
};

static void *kick_later(void *arg)
{
	struct kicker *k = arg;
	struct timespec ts = {0, 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
	pthread_kill(k->target, k->sig);
	return NULL;
}

static void test_signals(void)
{
	static const unsigned char code[] = {0xeb, 0xfe}; /* jmp $ */
	pthread_t th;
	struct kicker k = {pthread_self(), SIGUSR1};

	/* KVM_SET_SIGNAL_MASK unblocks SIGUSR1 only during KVM_RUN */
	sigset_t blk, old;
	sigemptyset(&blk);
	sigaddset(&blk, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &blk, &old);
	struct {
		struct kvm_signal_mask h;
		unsigned long long bits;
	} m = {{.len = 8}, 0};
	T_EQ(ioctl(vcpu, KVM_SET_SIGNAL_MASK, &m), 0, "signals: KVM_SET_SIGNAL_MASK");
	load(code, sizeof(code));
	pthread_create(&th, NULL, kick_later, &k);
	T_ERR(do_run(), EINTR, "signals: a signal the KVM_RUN mask admits ends it with EINTR");
	T_EQ(run->exit_reason, KVM_EXIT_INTR, "signals: exit_reason KVM_EXIT_INTR");
	pthread_join(th, NULL);
	sigset_t p;
	sigpending(&p);
	T_OK(sigismember(&p, SIGUSR1), "signals: still pending under the thread's mask");
	int s;
	sigwait(&blk, &s);
	T_EQ(rip(), CODE, "signals: guest stopped at an instruction boundary");
	T_EQ(ioctl(vcpu, KVM_SET_SIGNAL_MASK, NULL), 0, "signals: mask removed");
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	/* without a KVM mask, the thread's own mask decides; the handler runs */
	struct sigaction sa = {.sa_handler = on_usr2};
	sigaction(SIGUSR2, &sa, NULL);
	got_usr2 = 0;
	k.sig = SIGUSR2;
	pthread_create(&th, NULL, kick_later, &k);
	T_ERR(do_run(), EINTR, "signals: an unblocked signal with a handler gives EINTR");
	T_EQ(run->exit_reason, KVM_EXIT_INTR, "signals: KVM_EXIT_INTR for the handled signal");
	T_EQ(got_usr2, 1, "signals: the client's handler ran");
	pthread_join(th, NULL);
}

/* KVM_INTERRUPT, ready_for_interrupt_injection, request_interrupt_window
 * (userspace irqchip): the vector goes through the real-mode IVT. */
static void test_interrupts(void)
{
	static const unsigned char code[] = {
		0xfb,			/* 1000 sti */
		0xf4,			/* 1001 hlt */
		0xb0, 0x01,		/* 1002 mov al, 1 */
		0xe6, 0x10,		/* 1004 out 0x10, al */
		0xfa,			/* 1006 cli */
		0xe6, 0x10,		/* 1007 out 0x10, al */
		0xfb,			/* 1009 sti */
		0x90,			/* 100a nop */
		0xf4,			/* 100b hlt */
		0xf4,			/* 100c hlt (PVM already ran the first) */
	};
	static const unsigned char handler[] = {
		0xb0, 0x77,		/* mov al, 0x77 */
		0xe6, 0x12,		/* out 0x12, al */
		0xcf,			/* iret */
	};
	load(code, sizeof(code));
	memcpy(ram + 0x1100, handler, sizeof(handler));
	ram[0x20 * 4] = 0x00, ram[0x20 * 4 + 1] = 0x11; /* IVT[0x20] = 0000:1100 */
	ram[0x20 * 4 + 2] = 0, ram[0x20 * 4 + 3] = 0;

	T_EQ(do_run(), 0, "irq: KVM_RUN to HLT");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "irq: HLT with IF set");
	T_EQ(run->if_flag, 1, "irq: if_flag");
	T_EQ(run->ready_for_interrupt_injection, 1, "irq: ready_for_interrupt_injection");
	struct kvm_interrupt irq = {.irq = 256};
	T_ERR(ioctl(vcpu, KVM_INTERRUPT, &irq), EINVAL, "irq: vector 256 is EINVAL");
	T_ERR(ioctl(vcpu, KVM_INTERRUPT, T_BADPTR), EFAULT, "irq: bad pointer is EFAULT");
	irq.irq = 0x20;
	T_EQ(ioctl(vcpu, KVM_INTERRUPT, &irq), 0, "irq: KVM_INTERRUPT queues vector 0x20");
	T_EQ(ioctl(vcpu, KVM_INTERRUPT, &irq), 0, "irq: without an irqchip a second one replaces it");
	T_EQ(do_run(), 0, "irq: KVM_RUN delivers it");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "irq: the handler's OUT");
	T_EQ(run->io.port, 0x12, "irq: handler port");
	T_EQ(((unsigned char *)run)[run->io.data_offset], 0x77, "irq: handler data");
	T_EQ(do_run(), 0, "irq: back from IRET");
	T_EQ(run->io.port, 0x10, "irq: IRET returned after HLT");
	T_EQ(do_run(), 0, "irq: KVM_RUN with IF clear");
	T_EQ(run->if_flag, 0, "irq: if_flag clear after CLI");
	T_EQ(run->ready_for_interrupt_injection, 0, "irq: not ready with IF clear");
	run->request_interrupt_window = 1;
	T_EQ(do_run(), 0, "irq: KVM_RUN with request_interrupt_window");
	T_EQ(run->exit_reason, KVM_EXIT_IRQ_WINDOW_OPEN, "irq: KVM_EXIT_IRQ_WINDOW_OPEN after STI");
	T_EQ(run->ready_for_interrupt_injection, 1, "irq: ready at the window exit");
	T_EQ(rip(), 0x100b, "irq: the window opens after the STI shadow (the NOP)");
	run->request_interrupt_window = 0;
	T_EQ(do_run(), 0, "irq: KVM_RUN to the last HLT");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "irq: last HLT");

	/* KVM_NMI: vector 2 through the IVT, IF notwithstanding */
	static const unsigned char nmi[] = {0xb0, 0x55, 0xe6, 0x13, 0xcf};
	memcpy(ram + 0x1200, nmi, sizeof(nmi));
	ram[2 * 4] = 0x00, ram[2 * 4 + 1] = 0x12, ram[2 * 4 + 2] = 0, ram[2 * 4 + 3] = 0;
	static const unsigned char cl[] = {0xfa, 0xf4, 0xf4}; /* cli; hlt; hlt */
	load(cl, sizeof(cl));
	T_EQ(do_run(), 0, "nmi: KVM_RUN to HLT");
	T_EQ(ioctl(vcpu, KVM_NMI, 0), 0, "nmi: KVM_NMI");
	T_EQ(do_run(), 0, "nmi: KVM_RUN delivers it");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "nmi: the handler runs with IF clear");
	T_EQ(run->io.port, 0x13, "nmi: handler port");
	T_EQ(do_run(), 0, "nmi: back from IRET");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "nmi: the second HLT");
	T_EQ(rip(), 0x1003, "nmi: RIP after the second HLT");
}

/* String I/O: REP INS is one exit for up to a page of elements (data in
 * the PIO page, io.count), REP OUTS as the host shows. */
static void test_string_io(void)
{
	static const unsigned char code[] = {
		0xb9, 0x03, 0x00,	/* mov cx, 3 */
		0xbf, 0xf0, 0x2f,	/* mov di, 0x2ff0 */
		0xba, 0xf0, 0x01,	/* mov dx, 0x1f0 */
		0xfc,			/* cld */
		0xf3, 0x6d,		/* rep insw */
		0xb9, 0x04, 0x00,	/* mov cx, 4 */
		0xbe, 0xf0, 0x2f,	/* mov si, 0x2ff0 */
		0xf3, 0x6e,		/* rep outsb */
		0xf4,			/* hlt */
	};
	load(code, sizeof(code));
	T_EQ(do_run(), 0, "string: KVM_RUN to REP INSW");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "string: INSW exit");
	T_EQ(run->io.direction, KVM_EXIT_IO_IN, "string: INSW direction");
	T_EQ(run->io.size, 2, "string: INSW size");
	T_EQ(run->io.count, 3, "string: REP INSW asks for all 3 words at once");
	memcpy((unsigned char *)run + run->io.data_offset, "\x01\x02\x03\x04\x05\x06", 6);
	T_EQ(do_run(), 0, "string: KVM_RUN to REP OUTSB");
	T_EQ(memcmp(ram + 0x2ff0, "\x01\x02\x03\x04\x05\x06", 6), 0,
	     "string: the words landed at ES:DI");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "string: OUTSB exit");
	T_EQ(run->io.direction, KVM_EXIT_IO_OUT, "string: OUTSB direction");
	T_OBS("rep outsb count", "%u", run->io.count);
	unsigned got = 0, exits = 0;
	unsigned char seen[8];
	while (run->exit_reason == KVM_EXIT_IO && got < 4 && exits < 8) {
		memcpy(seen + got, (unsigned char *)run + run->io.data_offset, run->io.count);
		got += run->io.count;
		exits++;
		do_run();
	}
	T_EQ(got, 4, "string: 4 bytes out");
	T_EQ(memcmp(seen, "\x01\x02\x03\x04", 4), 0, "string: OUTSB data in order");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "string: HLT after the strings");
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	T_EQ(r.rcx & 0xffff, 0, "string: CX counted down");
	T_EQ(r.rsi & 0xffff, 0x2ff4, "string: SI advanced");
	T_EQ(r.rdi & 0xffff, 0x2ff6, "string: DI advanced");
}

/* KVM_SET_GUEST_DEBUG: single-step and software breakpoints exit with
 * KVM_EXIT_DEBUG (exception, linear pc). */
static void test_guest_debug(void)
{
	static const unsigned char code[] = {
		0x90,		/* 1000 nop */
		0x40,		/* 1001 inc ax */
		0xcc,		/* 1002 int3 */
		0xf4,		/* 1003 hlt */
	};
	load(code, sizeof(code));
	struct kvm_guest_debug g = {.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP};
	T_EQ(ioctl(vcpu, KVM_SET_GUEST_DEBUG, &g), 0, "debug: single-step on");
	T_EQ(do_run(), 0, "debug: step 1");
	T_EQ(run->exit_reason, KVM_EXIT_DEBUG, "debug: single-step exits with KVM_EXIT_DEBUG");
	T_EQ(run->debug.arch.exception, 1, "debug: single-step is #DB");
	T_EQ(run->debug.arch.pc, 0x1001, "debug: pc after one instruction");
	T_EQ(run->debug.arch.dr6 & 0x4000, 0x4000, "debug: DR6.BS");
	T_EQ(do_run(), 0, "debug: step 2");
	T_EQ(run->debug.arch.pc, 0x1002, "debug: pc after two instructions");
	g.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
	T_EQ(ioctl(vcpu, KVM_SET_GUEST_DEBUG, &g), 0, "debug: software breakpoints on");
	T_EQ(do_run(), 0, "debug: run to INT3");
	T_EQ(run->exit_reason, KVM_EXIT_DEBUG, "debug: INT3 exits with KVM_EXIT_DEBUG");
	T_EQ(run->debug.arch.exception, 3, "debug: INT3 is #BP");
	T_EQ(run->debug.arch.pc, 0x1002, "debug: pc on the INT3");
	T_EQ(rip(), 0x1002, "debug: RIP stays on the INT3");
	ram[CODE + 2] = 0x90;
	load(code, sizeof(code));
	ram[CODE + 2] = 0x90;
	g.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
	g.arch.debugreg[0] = 0x1001;
	g.arch.debugreg[7] = 0x1; /* L0, execute, one byte */
	T_EQ(ioctl(vcpu, KVM_SET_GUEST_DEBUG, &g), 0, "debug: hardware breakpoint on");
	T_EQ(do_run(), 0, "debug: run to the breakpoint");
	T_EQ(run->exit_reason, KVM_EXIT_DEBUG, "debug: execution breakpoint exits");
	T_EQ(run->debug.arch.exception, 1, "debug: breakpoint is #DB");
	T_EQ(run->debug.arch.pc, 0x1001, "debug: pc at the breakpoint, before the instruction");
	T_EQ(run->debug.arch.dr6 & 0xf, 1, "debug: DR6.B0");
	T_EQ(rax() & 0xffff, 0, "debug: the instruction did not run");
	memset(&g, 0, sizeof(g));
	T_EQ(ioctl(vcpu, KVM_SET_GUEST_DEBUG, &g), 0, "debug: off");
	T_EQ(do_run(), 0, "debug: run on");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "debug: HLT without debugging");
	T_EQ(rax() & 0xffff, 1, "debug: the stepped INC ran once");
}

/* kvm_run inputs checked at KVM_RUN: cr8 is the TPR (0-15), sync-regs
 * masks take only known bits. */
static void test_run_inputs(void)
{
	static const unsigned char hlt[] = {0xf4, 0xf4};
	load(hlt, sizeof(hlt));
	run->cr8 = 16;
	T_ERR(do_run(), EINVAL, "inputs: kvm_run->cr8 above 15 is EINVAL");
	run->cr8 = 5;
	T_EQ(do_run(), 0, "inputs: kvm_run->cr8 5 accepted");
	T_EQ(run->cr8, 5, "inputs: cr8 reported back");
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	T_EQ(s.cr8, 5, "inputs: kvm_run->cr8 becomes the vCPU's CR8");
	run->cr8 = 0;
	run->kvm_valid_regs = 1ULL << 20;
	T_ERR(do_run(), EINVAL, "inputs: unknown kvm_valid_regs bit is EINVAL");
	run->kvm_valid_regs = 0;
	run->kvm_dirty_regs = 1ULL << 20;
	T_ERR(do_run(), EINVAL, "inputs: unknown kvm_dirty_regs bit is EINVAL");
	run->kvm_dirty_regs = 0;
}

/* KVM_CAP_SYNC_REGS with the general registers: in through kvm_dirty_regs,
 * out through kvm_valid_regs. */
static void test_sync_regs(void)
{
	int cap = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	T_OK(cap >= 0, "sync: KVM_CAP_SYNC_REGS answers");
	if (!(cap & KVM_SYNC_X86_REGS))
		return;
	static const unsigned char code[] = {
		0x89, 0xd8,	/* mov ax, bx */
		0xe6, 0x10,	/* out 0x10, al */
		0x43,		/* inc bx */
		0xf4,		/* hlt */
	};
	load(code, sizeof(code));
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	r.rbx = 0x5a;
	run->s.regs.regs = r;
	run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	T_EQ(do_run(), 0, "sync: KVM_RUN");
	T_EQ(((unsigned char *)run)[run->io.data_offset], 0x5a, "sync: dirty RBX went in");
	T_EQ(run->kvm_dirty_regs & KVM_SYNC_X86_REGS, 0, "sync: dirty bit consumed");
	T_EQ(run->s.regs.regs.rip, 0x1004, "sync: RIP came out");
	T_EQ(run->s.regs.regs.rax & 0xff, 0x5a, "sync: RAX came out");
	T_EQ(do_run(), 0, "sync: KVM_RUN to HLT");
	T_EQ(run->s.regs.regs.rbx & 0xffff, 0x5b, "sync: RBX after INC came out");
	run->kvm_valid_regs = 0;
}

/* KVM_SYNC_X86_SREGS and KVM_SYNC_X86_EVENTS (api.rst 5, kvm_run's "s"
 * union): out as KVM_GET_SREGS / KVM_GET_VCPU_EVENTS read them, in as the
 * setters take them, the setters' checks failing KVM_RUN with EINVAL. */
static void test_sync_sregs_events(void)
{
	const unsigned sync_all = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS), sync_all,
	     "sync: x86 offers regs, sregs and events");
	static const unsigned char code[] = {
		0xa0, 0x00, 0x00,	/* mov al, [0] */
		0xe6, 0x10,		/* out 0x10, al */
		0xf4,			/* hlt */
	};
	ram[0x3000] = 0x77;
	ram[0] = 0x11;
	load(code, sizeof(code));
	run->kvm_valid_regs = KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
	T_EQ(do_run(), 0, "sync: run with sregs and events out");
	T_EQ(((unsigned char *)run)[run->io.data_offset], 0x11, "sync: DS base 0 read");
	struct kvm_sregs s;
	struct kvm_vcpu_events e;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	ioctl(vcpu, KVM_GET_VCPU_EVENTS, &e);
	T_EQ(memcmp(&s, &run->s.regs.sregs, sizeof(s)), 0, "sync: sregs out equal KVM_GET_SREGS");
	T_EQ(memcmp(&e, &run->s.regs.events, sizeof(e)), 0,
	     "sync: events out equal KVM_GET_VCPU_EVENTS");

	load(code, sizeof(code));
	ioctl(vcpu, KVM_GET_SREGS, &run->s.regs.sregs);
	run->s.regs.sregs.ds.base = 0x3000;
	run->s.regs.sregs.ds.selector = 0x300;
	run->kvm_dirty_regs = KVM_SYNC_X86_SREGS;
	run->kvm_valid_regs = KVM_SYNC_X86_SREGS;
	T_EQ(do_run(), 0, "sync: run with dirty sregs");
	T_EQ(((unsigned char *)run)[run->io.data_offset], 0x77, "sync: dirty DS base went in");
	T_EQ(run->kvm_dirty_regs, 0, "sync: sregs dirty bit consumed");
	T_EQ(run->s.regs.sregs.ds.base, 0x3000, "sync: DS base came out");

	/* EFER.LMA without paging is no mode (kvm_is_valid_sregs) */
	run->s.regs.sregs.efer |= 0x400;
	run->kvm_dirty_regs = KVM_SYNC_X86_SREGS;
	T_ERR(do_run(), EINVAL, "sync: invalid dirty sregs fail KVM_RUN");
	T_EQ(run->kvm_dirty_regs, KVM_SYNC_X86_SREGS, "sync: invalid sregs stay dirty");
	T_EQ(run->s.regs.sregs.efer & 0x400, 0, "sync: the vCPU's sregs came out after the failure");
	run->kvm_dirty_regs = 0;

	load(code, sizeof(code));
	ioctl(vcpu, KVM_GET_VCPU_EVENTS, &run->s.regs.events);
	run->s.regs.events.flags = 0;
	run->s.regs.events.nmi.masked = 1;
	run->kvm_dirty_regs = KVM_SYNC_X86_EVENTS;
	run->kvm_valid_regs = KVM_SYNC_X86_EVENTS;
	T_EQ(do_run(), 0, "sync: run with dirty events");
	T_EQ(run->kvm_dirty_regs, 0, "sync: events dirty bit consumed");
	T_EQ(run->s.regs.events.nmi.masked, 1, "sync: NMI mask came out");
	ioctl(vcpu, KVM_GET_VCPU_EVENTS, &e);
	T_EQ(e.nmi.masked, 1, "sync: dirty NMI mask went in");

	/* NMI (vector 2) is not an exception to inject */
	run->s.regs.events.exception.injected = 1;
	run->s.regs.events.exception.nr = 2;
	run->kvm_dirty_regs = KVM_SYNC_X86_EVENTS;
	T_ERR(do_run(), EINVAL, "sync: invalid dirty events fail KVM_RUN");
	T_EQ(run->kvm_dirty_regs, KVM_SYNC_X86_EVENTS, "sync: invalid events stay dirty");
	run->kvm_dirty_regs = 0;
	run->kvm_valid_regs = 0;
	e.nmi.masked = 0;
	ioctl(vcpu, KVM_SET_VCPU_EVENTS, &e);
}

/* Code changed by the VMM or by the guest itself runs as changed. */
static void test_smc(void)
{
	static const unsigned char code[] = {
		0xb0, 0x11,		/* 1000 mov al, 0x11 */
		0xe6, 0x10,		/* 1002 out 0x10, al */
		0xc6, 0x06, 0x01, 0x10, 0x33, /* 1004 mov byte [0x1001], 0x33 */
		0xeb, 0xf5,		/* 1009 jmp 0x1000 */
	};
	load(code, sizeof(code));
	T_EQ(do_run(), 0, "smc: first run");
	T_EQ(((unsigned char *)run)[run->io.data_offset], 0x11, "smc: original code");
	T_EQ(do_run(), 0, "smc: second run");
	T_EQ(((unsigned char *)run)[run->io.data_offset], 0x33,
	     "smc: the guest's own patch is executed");
	ram[CODE + 1] = 0x44;
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	r.rip = CODE;
	ioctl(vcpu, KVM_SET_REGS, &r);
	T_EQ(do_run(), 0, "smc: third run");
	T_EQ(((unsigned char *)run)[run->io.data_offset], 0x44,
	     "smc: the VMM's patch is executed");
}

/* An instruction the emulator cannot run: KVM's emulation-failure exit
 * carries the bytes its decoder fetched at RIP (up to 15, as far as
 * readable memory goes), not just the opcode.  Where the CPU runs FNINIT
 * natively (hardware KVM, PVM) the guest simply continues. */
static void test_unimpl_bytes(void)
{
	static const unsigned char code[] = {
		0xdb, 0xe3,		/* 1000 fninit */
		0xb0, 0x11,		/* 1002 mov al, 0x11 */
		0xe6, 0x10,		/* 1004 out 0x10, al */
		0xf4,			/* 1006 hlt */
	};
	load(code, sizeof(code));
	T_EQ(do_run(), 0, "unimpl: KVM_RUN");
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		T_EQ(run->emulation_failure.suberror, KVM_INTERNAL_ERROR_EMULATION,
		     "unimpl: emulation failure or executed");
		T_OK(run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES &&
			     run->emulation_failure.insn_size == 15 &&
			     !memcmp(run->emulation_failure.insn_bytes, code, sizeof(code)),
		     "unimpl: 15 bytes fetched at RIP, or executed");
		T_EQ(rip(), CODE, "unimpl: RIP on the instruction, or after it");
	} else {
		T_EQ(run->exit_reason, KVM_EXIT_IO, "unimpl: emulation failure or executed");
		T_OK(run->io.port == 0x10, "unimpl: 15 bytes fetched at RIP, or executed");
		T_EQ(rip(), CODE + 6, "unimpl: RIP on the instruction, or after it");
	}
}

int main(void)
{
	setup();
	test_pio();
	test_mmio();
	test_readonly();
	test_immediate_exit();
	test_smc();
	test_unimpl_bytes();
	test_sync_regs();
	test_sync_sregs_events();
	test_run_inputs();
	test_guest_debug();
	test_string_io();
	test_interrupts();
	test_signals();
	return t_done();
}
