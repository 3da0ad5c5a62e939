/*
 * Corner cases a review found: memslot deletion under a running vCPU,
 * self-modifying code, when a vCPU counts as having run, and KVM_NMI
 * queueing.  Guests are real-mode byte strings.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "t_vm.h"

static int kvm;
static struct kvm_run *run;

static int vm_with_vcpu(int *vcpu)
{
	int vm = t_create_vm(kvm);
	*vcpu = t_create_vcpu(vm, 0);
	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, *vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
	return vm;
}

static unsigned char *anon(size_t n)
{
	unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		T_BAIL("mmap");
	return p;
}

/*
 * KVM_SET_USER_MEMORY_REGION returns once no vCPU uses the old slots
 * (synchronize_srcu), so the VMM may unmap a deleted slot's memory at once,
 * even while a vCPU is inside a long REP STOSW into it.
 */
#define DEL_DATA 0x10000
static int del_vm;
static volatile unsigned short *del_data;
static atomic_int del_ret = 1;

static void *deleter(void *a)
{
	(void)a;
	for (int i = 0; i < 5000 && !del_data[0x7fff]; i++)
		usleep(1000); /* the guest is inside its REP STOSW */
	atomic_store(&del_ret, (int)t_set_region(del_vm, 1, 0, DEL_DATA, 0, 0));
	munmap((void *)del_data, 0x10000);
	return NULL;
}

static void test_delete_running_slot(void)
{
	int vcpu, vm = vm_with_vcpu(&vcpu);
	unsigned char *code = anon(0x1000);
	del_data = (volatile unsigned short *)anon(0x10000);
	del_vm = vm;
	/* mov ax,0x1000; mov es,ax; l: xor di,di; mov cx,0x8000; rep stosw; jmp l */
	static const unsigned char p[] = {0xb8, 0x00, 0x10, 0x8e, 0xc0, 0x31, 0xff,
					  0xb9, 0x00, 0x80, 0xf3, 0xab, 0xeb, 0xf7};
	memcpy(code, p, sizeof(p));
	T_EQ(t_set_region(vm, 0, 0, 0, 0x1000, (unsigned long)code), 0, "code slot");
	T_EQ(t_set_region(vm, 1, 0, DEL_DATA, 0x10000, (unsigned long)del_data), 0,
	     "data slot");
	t_real_mode(vcpu, 0, 0);
	pthread_t t;
	pthread_create(&t, NULL, deleter, NULL);
	int r = ioctl(vcpu, KVM_RUN, 0);
	pthread_join(t, NULL);
	T_EQ(atomic_load(&del_ret), 0, "slot deleted while the vCPU writes to it");
	T_EQ(r, 0, "KVM_RUN survives the unmap");
	T_EQ(run->exit_reason, KVM_EXIT_MMIO, "the store to the deleted slot is MMIO");
	T_OK(run->mmio.is_write && run->mmio.phys_addr >= DEL_DATA &&
	     run->mmio.phys_addr < DEL_DATA + 0x10000, "MMIO write into the old slot range");
	close(vcpu);
	close(vm);
	munmap(code, 0x1000);
}

/*
 * SDM Vol. 3A 11.6: a store into the instruction stream is seen by the next
 * instruction, even one already fetched or decoded in the same block.
 * inc byte [imm of the MOV]; mov al,imm; out 0x10,al; jmp back.
 */
static void test_self_modifying(void)
{
	int vcpu, vm = vm_with_vcpu(&vcpu);
	unsigned char *code = anon(0x1000);
	static const unsigned char p[] = {0xfe, 0x06, 0x05, 0x01, 0xb0, 0x00,
					  0xe6, 0x10, 0xeb, 0xf6};
	memcpy(code + 0x100, p, sizeof(p));
	T_EQ(t_set_region(vm, 0, 0, 0, 0x1000, (unsigned long)code), 0, "smc slot");
	t_real_mode(vcpu, 0x100, 0);
	for (int i = 1; i <= 4; i++) {
		T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "smc run %d", i);
		T_EQ(run->exit_reason, KVM_EXIT_IO, "smc exit %d is OUT", i);
		T_EQ(((unsigned char *)run)[run->io.data_offset], i,
		     "MOV sees the immediate the INC before it stored (%d)", i);
	}
	close(vcpu);
	close(vm);
	munmap(code, 0x1000);
}

struct cpuid_buf {
	struct kvm_cpuid2 h;
	struct kvm_cpuid_entry2 e[256];
};

/* A CPUID table with one leaf, max_leaf = max. */
static int set_cpuid(int vcpu, unsigned max)
{
	struct cpuid_buf c;
	memset(&c, 0, sizeof(c));
	c.h.nent = 1;
	c.e[0].eax = max;
	return ioctl(vcpu, KVM_SET_CPUID2, &c);
}

/*
 * A KVM_RUN that fails its checks never enters the guest: KVM still
 * refreshes if_flag, cr8 and ready_for_interrupt_injection on the way out
 * (post_kvm_run_save), and the vCPU does not count as having run, so
 * KVM_SET_CPUID2 may still change the table (kvm_vcpu_has_run).
 */
static void test_failed_run(void)
{
	int vcpu, vm = vm_with_vcpu(&vcpu);
	unsigned char *code = anon(0x1000);
	code[0] = 0xf4; /* hlt */
	T_EQ(t_set_region(vm, 0, 0, 0, 0x1000, (unsigned long)code), 0, "slot");
	t_real_mode(vcpu, 0, 0);
	struct kvm_regs r;
	ioctl(vcpu, KVM_GET_REGS, &r);
	r.rflags = 0x202; /* IF */
	ioctl(vcpu, KVM_SET_REGS, &r);
	T_EQ(set_cpuid(vcpu, 1), 0, "CPUID before any run");
	run->cr8 = 16;
	run->if_flag = 0;
	run->ready_for_interrupt_injection = 0;
	T_ERR(ioctl(vcpu, KVM_RUN, 0), EINVAL, "KVM_RUN with kvm_run->cr8 = 16");
	T_EQ(run->cr8, 0, "cr8 refreshed after the failed KVM_RUN");
	T_EQ(run->if_flag, 1, "if_flag refreshed after the failed KVM_RUN");
	T_EQ(run->ready_for_interrupt_injection, 1,
	     "ready_for_interrupt_injection refreshed after the failed KVM_RUN");
	T_EQ(set_cpuid(vcpu, 2), 0, "CPUID may change after a KVM_RUN that failed its checks");
	run->cr8 = 0;
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "KVM_RUN");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "HLT exit");
	T_ERR(set_cpuid(vcpu, 3), EINVAL, "no CPUID change after the guest ran");
	T_EQ(set_cpuid(vcpu, 2), 0, "the same CPUID table is still accepted");
	close(vcpu);
	close(vm);
	munmap(code, 0x1000);
}

/* The supported CPUID as the guest's (long mode, CMPXCHG16B); ext_max,
 * if not 0, replaces the highest extended leaf (0x80000000.EAX). */
static void cpuid_supported(int vcpu, unsigned ext_max)
{
	struct cpuid_buf c;
	memset(&c, 0, sizeof(c));
	c.h.nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &c))
		T_BAIL("KVM_GET_SUPPORTED_CPUID");
	for (unsigned k = 0; k < c.h.nent; k++)
		if (ext_max && c.e[k].function == 0x80000000)
			c.e[k].eax = ext_max;
	if (ioctl(vcpu, KVM_SET_CPUID2, &c))
		T_BAIL("KVM_SET_CPUID2");
}

/*
 * A 64-bit guest: code at 0x10000, identity-mapped 2 MiB, no IDT (an
 * exception shuts down), DS-GS and SS bases 8 (ignored but for FS/GS).
 * Returns the exit reason; *mem is the quadword at 0x20000 afterwards.
 */
static unsigned run_long(const unsigned char *code, size_t n, unsigned ext_max,
			 unsigned long long *mem)
{
	int vcpu, vm = vm_with_vcpu(&vcpu);
	unsigned char *ram = anon(0x200000);
	unsigned long long *q = (unsigned long long *)ram;
	q[0x1000 / 8] = 0x2003;
	q[0x2000 / 8] = 0x3003;
	q[0x3000 / 8] = 0x83; /* 2 MiB page at 0, P RW PS */
	memcpy(ram + 0x10000, code, n);
	T_EQ(t_set_region(vm, 0, 0, 0, 0x200000, (unsigned long)ram), 0, "64-bit slot");
	cpuid_supported(vcpu, ext_max);
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	struct kvm_segment data = {.base = 8, .limit = 0xffffffff, .selector = 16,
				   .type = 3, .present = 1, .s = 1, .db = 1, .g = 1};
	s.cs = data;
	s.cs.base = 0;
	s.cs.selector = 8;
	s.cs.type = 11;
	s.cs.db = 0;
	s.cs.l = 1;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.cr0 = 0x80000011;
	s.cr3 = 0x1000;
	s.cr4 = 0x20;
	s.efer = 0x500;
	T_EQ(ioctl(vcpu, KVM_SET_SREGS, &s), 0, "long mode");
	struct kvm_regs r = {.rip = 0x10000, .rflags = 2, .rsp = 0x8000};
	ioctl(vcpu, KVM_SET_REGS, &r);
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "64-bit run");
	unsigned reason = run->exit_reason;
	*mem = q[0x20000 / 8];
	close(vcpu);
	close(vm);
	munmap(ram, 0x200000);
	return reason;
}

/*
 * CMPXCHG16B's alignment check is on the linear address; in 64-bit mode
 * only FS and GS contribute a base (SDM Vol. 1 3.4.2.1): with DS and FS
 * bases 8, [rsi] is aligned, fs:[rsi] is not (#GP).
 */
static void test_cmpxchg16b_align(void)
{
	unsigned char p[] = {
		0x48, 0xc7, 0xc6, 0x00, 0x00, 0x02, 0x00, /* mov rsi, 0x20000 */
		0x31, 0xc0, 0x31, 0xd2,			  /* xor eax,eax; xor edx,edx */
		0xbb, 0x01, 0x00, 0x00, 0x00,		  /* mov ebx, 1 */
		0x31, 0xc9,				  /* xor ecx,ecx */
		0x64, 0x48, 0x0f, 0xc7, 0x0e,		  /* cmpxchg16b fs:[rsi] */
		0xf4};					  /* hlt */
	unsigned long long mem;
	T_EQ(run_long(p, sizeof(p), 0, &mem), KVM_EXIT_SHUTDOWN,
	     "CMPXCHG16B fs:[rsi]: FS base misaligns");
	T_EQ(mem, 0, "nothing stored");
	p[18] = 0x90; /* nop for the FS prefix: DS */
	T_EQ(run_long(p, sizeof(p), 0, &mem), KVM_EXIT_HLT, "CMPXCHG16B [rsi]: DS base ignored");
	T_EQ(mem, 1, "CMPXCHG16B stored");
}

/*
 * MAXPHYADDR is 36 unless CPUID reaches leaf 0x80000008 (KVM's
 * cpuid_query_maxphyaddr): with the highest extended leaf lowered to
 * 0x80000001, MOV CR3 with bit 40 set is #GP even though a 0x80000008 entry
 * saying more bits is in the table.
 */
static void test_maxphyaddr(void)
{
	static const unsigned char p[] = {
		0x48, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, /* mov rax, 1<<40|0x1000 */
		0x0f, 0x22, 0xd8, /* mov cr3, rax */
		0xf4};		  /* hlt */
	unsigned long long mem;
	T_EQ(run_long(p, sizeof(p), 0x80000001, &mem), KVM_EXIT_SHUTDOWN,
	     "MOV CR3 beyond the default MAXPHYADDR 36: #GP");
}

/*
 * KVM_NMI queues: two read back as nmi.pending = 2 (KVM keeps at most two,
 * one behind one being handled), a third is dropped.  The guest takes one,
 * and the other after its handler's IRET.  Real mode; the NMI handler
 * (IVT entry 2) is out 0x11,al; iret; the main code hlt.
 */
static void test_nmi_queue(void)
{
	int vcpu, vm = vm_with_vcpu(&vcpu);
	unsigned char *ram = anon(0x1000);
	ram[8] = 0x00, ram[9] = 0x02, ram[10] = 0, ram[11] = 0; /* vector 2 -> 0:0x200 */
	ram[0x200] = 0xe6, ram[0x201] = 0x11, ram[0x202] = 0xcf;
	ram[0x100] = 0xf4;
	T_EQ(t_set_region(vm, 0, 0, 0, 0x1000, (unsigned long)ram), 0, "nmi slot");
	t_real_mode(vcpu, 0x100, 0);
	for (int k = 0; k < 3; k++)
		T_EQ(ioctl(vcpu, KVM_NMI), 0, "KVM_NMI %d", k + 1);
	struct kvm_vcpu_events ev;
	T_EQ(ioctl(vcpu, KVM_GET_VCPU_EVENTS, &ev), 0, "KVM_GET_VCPU_EVENTS");
	T_EQ(ev.nmi.pending, 2, "three KVM_NMI leave two pending");
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "run 1");
	T_OK(run->exit_reason == KVM_EXIT_IO && run->io.port == 0x11, "first NMI handled");
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "run 2");
	T_OK(run->exit_reason == KVM_EXIT_IO && run->io.port == 0x11,
	     "second NMI handled after the IRET");
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "run 3");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "then HLT");
	T_EQ(ioctl(vcpu, KVM_GET_VCPU_EVENTS, &ev), 0, "KVM_GET_VCPU_EVENTS");
	T_EQ(ev.nmi.pending, 0, "none pending");
	close(vcpu);
	close(vm);
	munmap(ram, 0x1000);
}

int main(void)
{
	kvm = t_open_kvm();
	alarm(60);
	test_delete_running_slot();
	test_self_modifying();
	test_failed_run();
	test_cmpxchg16b_align();
	test_maxphyaddr();
	test_nmi_queue();
	return t_done();
}
