/*
 * The in-kernel 8259A pair through KVM_IRQ_LINE (KVM API 4.25; 8259A
 * datasheet): a real-mode guest initialises master (vectors 0x20-0x27)
 * and slave (0x28-0x2f, cascaded on IR2), the VMM raises GSI 10 (slave
 * IR2) and GSI 3 (master IR3) with IR3 masked: the slave's interrupt
 * arrives through the cascade and the BSP's LINT0, the masked one stays in
 * IRR until the guest unmasks it, and the KVM_GET_IRQCHIP images show the
 * IMR/IRR/ISR the guest left.
 */
#include "t_irq.h"

extern const unsigned char c_start[], c_end[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	"c_start:\n"
	"	cli\n"
	"	movw $(hs - c_start + 0x1000), 0xa8\n" /* vector 0x2a: slave IR2 */
	"	movw $0, 0xaa\n"
	"	movw $(hm - c_start + 0x1000), 0x8c\n" /* vector 0x23: master IR3 */
	"	movw $0, 0x8e\n"
	/* ICW1-4 for both chips, then IMRs: master 0xfb (IR2 open), slave 0xfb */
	"	mov $0x11, %al\n	out %al, $0x20\n	out %al, $0xa0\n"
	"	mov $0x20, %al\n	out %al, $0x21\n"
	"	mov $0x28, %al\n	out %al, $0xa1\n"
	"	mov $0x04, %al\n	out %al, $0x21\n"
	"	mov $0x02, %al\n	out %al, $0xa1\n"
	"	mov $0x01, %al\n	out %al, $0x21\n	out %al, $0xa1\n"
	"	mov $0xfb, %al\n	out %al, $0x21\n	out %al, $0xa1\n"
	"	out %al, $0xe0\n" /* VMM: raise GSI 10 and GSI 3 (edges) */
	"	sti\n"
	"1:	cmpb $1, 0x500\n"
	"	jb 1b\n"
	"	cli\n"
	"	mov 0x500, %al\n"
	"	mov 0x501, %ah\n"
	"	out %al, $0xe1\n" /* slave taken, master IR3 still masked */
	"	mov $0xf3, %al\n" /* unmask IR3 */
	"	out %al, $0x21\n"
	"	sti\n"
	"2:	cmpb $1, 0x501\n"
	"	jb 2b\n"
	"	cli\n"
	"	out %al, $0xe2\n"
	"	jmp .\n"
	"hs:	incb 0x500\n"
	"	push %ax\n"
	"	mov $0x20, %al\n	out %al, $0xa0\n	out %al, $0x20\n" /* EOI slave, master */
	"	pop %ax\n"
	"	iret\n"
	"hm:	incb 0x501\n"
	"	push %ax\n"
	"	mov $0x20, %al\n	out %al, $0x20\n"
	"	pop %ax\n"
	"	iret\n"
	"c_end:\n"
	".code64\n"
	".popsection\n");

int main(void)
{
	int kvm = t_open_kvm();
	struct t_irq_vm v = t_irq_vm(kvm);
	int vcpu = t_irq_vcpu(kvm, &v, 0, c_start, (size_t)(c_end - c_start));
	struct kvm_run *run = v.run;
	int last = 0;
	for (int n = 0; n < 10 && last != 0xe2; n++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) {
			T_OK(0, "unexpected exit %u (errno %d)", run->exit_reason, errno);
			break;
		}
		last = run->io.port;
		struct kvm_irqchip m = {.chip_id = KVM_IRQCHIP_PIC_MASTER};
		struct kvm_irqchip s = {.chip_id = KVM_IRQCHIP_PIC_SLAVE};
		ioctl(v.vm, KVM_GET_IRQCHIP, &m);
		ioctl(v.vm, KVM_GET_IRQCHIP, &s);
		switch (last) {
		case 0xe0:
			T_EQ(m.chip.pic.irq_base, 0x20, "master ICW2");
			T_EQ(s.chip.pic.irq_base, 0x28, "slave ICW2");
			T_EQ(m.chip.pic.imr, 0xfb, "master IMR");
			/* IRQ_LINE_STATUS sums the routes that took the edge */
			T_OK(t_irq_line(v.vm, 10, 1) >= 1, "GSI 10 raised");
			t_irq_line(v.vm, 10, 0);
			T_OK(t_irq_line(v.vm, 3, 1) <= 0, "GSI 3 masked at the PIC and the IOAPIC");
			t_irq_line(v.vm, 3, 0);
			break;
		case 0xe1:
			T_EQ(v.ram[0x500], 1, "slave IR2 came through the cascade once");
			T_EQ(v.ram[0x501], 0, "masked IR3 not taken");
			T_EQ(m.chip.pic.irr & 0x08, 0x08, "masked IR3 waits in the master's IRR");
			T_EQ(m.chip.pic.isr, 0, "master ISR clear after the EOIs");
			T_EQ(s.chip.pic.isr, 0, "slave ISR clear after the EOI");
			break;
		case 0xe2:
			T_EQ(v.ram[0x501], 1, "IR3 taken once unmasked");
			T_EQ(m.chip.pic.irr & 0x08, 0, "IR3 left IRR");
			break;
		}
	}
	T_EQ(last, 0xe2, "guest reached its end");
	t_irq_close(&v);
	return t_done();
}
