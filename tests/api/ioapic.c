/*
 * A level-triggered IOAPIC interrupt end to end (82093AA datasheet 3.2.4,
 * SDM Vol. 3A 11.8.5, KVM API 4.25 KVM_IRQ_LINE_STATUS): a real-mode guest
 * with a flat 4 GiB ES programs the IOAPIC and its xAPIC through MMIO;
 * the VMM asserts GSI 5.  Remote IRR and the LAPIC's ISR/TMR hold while
 * the handler runs, a second assertion coalesces, the EOI of a
 * still-asserted line delivers it again, and after the line drops an EOI
 * ends it.
 */
#include "t_irq.h"

#define XAPIC(reg) "mov $(0xfee00000 + " #reg "), %esi\n"
extern const unsigned char o_start[], o_end[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	"o_start:\n"
	"	cli\n"
	"	movw $(oh - o_start + 0x1000), 0x114\n" /* vector 0x45 */
	"	movw $0, 0x116\n"
	"	mov $0xff, %al\n" /* PIC fully masked: the IOAPIC alone */
	"	out %al, $0x21\n"
	"	out %al, $0xa1\n"
	XAPIC(0xf0)
	"	movl $0x1ff, %es:(%esi)\n"
	/* redirection entry 5: vector 0x45, level, physical APIC 0 */
	"	mov $0xfec00000, %esi\n"
	"	movl $0x1a, %es:(%esi)\n"
	"	movl $0x8045, %es:0x10(%esi)\n"
	"	movl $0x1b, %es:(%esi)\n"
	"	movl $0, %es:0x10(%esi)\n"
	"	out %al, $0xe0\n" /* VMM: assert GSI 5 */
	"	sti\n"
	"1:	cmpb $2, 0x500\n"
	"	jb 1b\n"
	"	mov $2000, %cx\n"
	"2:	loop 2b\n"
	"	mov 0x500, %al\n"
	"	out %al, $0xe3\n"
	"	jmp .\n"
	"oh:	incb 0x500\n"
	"	xor %dx, %dx\n"
	"	mov 0x500, %dl\n"
	"	add $0xe0, %dl\n"
	"	mov %dl, %al\n"
	"	out %al, %dx\n" /* 0xe1 first time, 0xe2 second */
	XAPIC(0xb0)
	"	movl $0, %es:(%esi)\n"
	"	iret\n"
	"o_end:\n"
	".code64\n"
	".popsection\n");

static unsigned lapic_bit(const struct kvm_lapic_state *s, unsigned base, unsigned vec)
{
	unsigned v;
	memcpy(&v, s->regs + base + (vec / 32) * 0x10, 4);
	return (v >> (vec % 32)) & 1;
}

int main(void)
{
	int kvm = t_open_kvm();
	struct t_irq_vm v = t_irq_vm(kvm);
	int vcpu = t_irq_vcpu(kvm, &v, 0, o_start, (size_t)(o_end - o_start));
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	s.es.limit = 0xffffffff; /* unreal mode: ES reaches the APIC pages */
	s.es.g = 1;
	ioctl(vcpu, KVM_SET_SREGS, &s);
	struct kvm_run *run = v.run;
	int last = 0;
	for (int n = 0; n < 10 && last != 0xe3; n++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) {
			T_OK(0, "unexpected exit %u (errno %d)", run->exit_reason, errno);
			break;
		}
		last = run->io.port;
		unsigned char al = *((unsigned char *)run + run->io.data_offset);
		if (last == 0xe2)
			al = v.ram[0x500];
		struct kvm_irqchip io = {.chip_id = KVM_IRQCHIP_IOAPIC};
		struct kvm_lapic_state ls;
		switch (last) {
		case 0xe0:
			T_EQ(t_irq_line(v.vm, 5, 1), 1, "asserting GSI 5 delivers");
			break;
		case 0xe1:
			ioctl(v.vm, KVM_GET_IRQCHIP, &io);
			T_EQ((io.chip.ioapic.redirtbl[5].bits >> 14) & 1, 1,
			     "Remote IRR set while the handler runs");
			ioctl(vcpu, KVM_GET_LAPIC, &ls);
			T_EQ(lapic_bit(&ls, 0x100, 0x45), 1, "vector 0x45 in ISR");
			T_EQ(lapic_bit(&ls, 0x180, 0x45), 1, "vector 0x45 in TMR (level)");
			T_EQ(t_irq_line(v.vm, 5, 1), 0, "asserting again coalesces (Remote IRR)");
			break;
		case 0xe2:
			T_EQ(al, 2, "EOI with the line still high delivers again");
			T_EQ(t_irq_line(v.vm, 5, 0), 1, "de-assert");
			break;
		case 0xe3:
			T_EQ(al, 2, "after the line dropped, the EOI ends it");
			ioctl(v.vm, KVM_GET_IRQCHIP, &io);
			T_EQ((io.chip.ioapic.redirtbl[5].bits >> 14) & 1, 0, "Remote IRR clear");
			T_EQ(io.chip.ioapic.redirtbl[5].bits & 0x1afff, 0x8045,
			     "entry as programmed through MMIO");
			break;
		}
	}
	T_EQ(last, 0xe3, "guest reached its end");
	t_irq_close(&v);
	return t_done();
}
