/*
 * Helpers for the interrupt-controller tests: a VM with 64 KiB of RAM, the
 * in-kernel irqchip and one vCPU in real mode (CS=DS=ES=SS=0) at 0:0x1000
 * running the given code, and a monotonic clock in milliseconds.
 */
#ifndef SKVM_TEST_T_IRQ_H
#define SKVM_TEST_T_IRQ_H

#include <time.h>

#include "t.h"

#define T_IRQ_RAM 0x10000
#define T_IRQ_CODE 0x1000

/* Guest code (real mode): x2APIC mode and the APIC software-enabled. */
#define T_IRQ_X2APIC_ON                     \
	"	mov $0x1b, %ecx\n"             \
	"	rdmsr\n"                       \
	"	or $0xc00, %eax\n"             \
	"	wrmsr\n"                       \
	"	mov $0x80f, %ecx\n"            \
	"	mov $0x1ff, %eax\n"            \
	"	xor %edx, %edx\n"              \
	"	wrmsr\n"

/* Guest code (real mode): the master PIC initialised (ICW1-4) with
 * vectors 0x20-0x27 and only IRQ 0 unmasked, for the PIT tests. */
#define T_IRQ_PIC_IRQ0                      \
	"	mov $0x11, %al\n"              \
	"	out %al, $0x20\n"              \
	"	mov $0x20, %al\n"              \
	"	out %al, $0x21\n"              \
	"	mov $0x04, %al\n"              \
	"	out %al, $0x21\n"              \
	"	mov $0x01, %al\n"              \
	"	out %al, $0x21\n"              \
	"	mov $0xfe, %al\n"              \
	"	out %al, $0x21\n"

/* An interrupt handler macro: count in memory at cnt, x2APIC EOI, IRET. */
#define T_IRQ_HANDLER                        \
	".macro t_handler cnt\n"             \
	"	push %eax\n"                    \
	"	push %ecx\n"                    \
	"	push %edx\n"                    \
	"	incb \\cnt\n"                  \
	"	mov $0x80b, %ecx\n"             \
	"	xor %eax, %eax\n"               \
	"	xor %edx, %edx\n"               \
	"	wrmsr\n"                        \
	"	pop %edx\n"                     \
	"	pop %ecx\n"                     \
	"	pop %eax\n"                     \
	"	iret\n"                         \
	".endm\n"

struct t_irq_vm {
	int vm, vcpu;
	unsigned char *ram;
	struct kvm_run *run;
};

__attribute__((unused)) static double t_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* VM + KVM_CREATE_IRQCHIP + vCPU 0; the caller may add devices before
 * t_irq_vcpu() creates the vCPU and loads the code. */
__attribute__((unused)) static struct t_irq_vm t_irq_vm(int kvm)
{
	struct t_irq_vm v = {.vm = t_create_vm(kvm)};
	v.ram = mmap(NULL, T_IRQ_RAM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {
		.slot = 0, .memory_size = T_IRQ_RAM, .userspace_addr = (unsigned long)v.ram};
	if (v.ram == MAP_FAILED || ioctl(v.vm, KVM_SET_USER_MEMORY_REGION, &r) ||
	    ioctl(v.vm, KVM_CREATE_IRQCHIP, 0))
		T_BAIL("irqchip VM setup");
	return v;
}

__attribute__((unused)) static int t_irq_vcpu(int kvm, struct t_irq_vm *v, int id,
					      const unsigned char *code, size_t len)
{
	int vcpu = t_create_vcpu(v->vm, id);
	if (!id) {
		v->vcpu = vcpu;
		v->run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0),
			      PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
		if (v->run == MAP_FAILED)
			T_BAIL("mmap kvm_run");
	}
	memcpy(v->ram + T_IRQ_CODE, code, len);
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	s.cs.base = s.ds.base = s.es.base = s.ss.base = 0;
	s.cs.selector = s.ds.selector = s.es.selector = s.ss.selector = 0;
	ioctl(vcpu, KVM_SET_SREGS, &s);
	struct kvm_regs regs = {.rip = T_IRQ_CODE, .rsp = 0x8000, .rflags = 2};
	ioctl(vcpu, KVM_SET_REGS, &regs);
	return vcpu;
}

/* The supported CPUID into the vCPU; whether it offers x2APIC. */
__attribute__((unused)) static int t_irq_x2apic(int kvm, int vcpu)
{
	struct {
		struct kvm_cpuid2 h;
		struct kvm_cpuid_entry2 e[100];
	} c = {.h.nent = 100};
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &c))
		T_BAIL("GET_SUPPORTED_CPUID");
	int have = 0;
	for (unsigned i = 0; i < c.h.nent; i++)
		if (c.e[i].function == 1)
			have = !!(c.e[i].ecx & (1u << 21));
	if (ioctl(vcpu, KVM_SET_CPUID2, &c))
		T_BAIL("SET_CPUID2");
	return have;
}

/* KVM_IRQ_LINE_STATUS: the status, or -100 if the ioctl failed. */
__attribute__((unused)) static int t_irq_line(int vm, unsigned gsi, int level)
{
	struct kvm_irq_level l = {.irq = gsi, .level = (unsigned)level};
	if (ioctl(vm, KVM_IRQ_LINE_STATUS, &l))
		return -100;
	return l.status;
}

__attribute__((unused)) static void t_irq_close(struct t_irq_vm *v)
{
	close(v->vcpu);
	close(v->vm);
	munmap(v->ram, T_IRQ_RAM);
}

#endif
