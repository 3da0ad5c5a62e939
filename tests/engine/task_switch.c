/*
 * Hardware task switches between 32-bit TSSs (SDM Vol. 3A 7.3): CALL to a
 * TSS (registers and selectors from the new TSS, back link, NT, CR0.TS,
 * the old TSS stays busy), IRET with NT back (old state restored, busy
 * cleared), JMP through a task gate (no NT; the interrupted task resumes
 * after its IRET), INT n through a task gate in the IDT (NT, back link), an
 * exception through a task gate with its error code pushed on the new
 * task's stack; JMP to a busy TSS is #GP(selector).  A CALL from a 32-bit
 * to a 16-bit TSS (SDM Figure 7-11: registers zero-extended from it, FS and
 * GS kept, as KVM's emulator does) and its IRET back (IP, AX saved into the
 * 16-bit TSS, busy cleared); a JMP to a TSS with the T bit: #DB with DR6.BT
 * before the new task's first instruction; #GP through a task gate to a
 * 16-bit TSS pushes a word.  Expectations from the SDM;
 * tasks report through OUT.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "t_out.h"

#define LOAD 0x10000
#define IDT 0x20000
#define TSS_A 0x6000
#define TSS_B 0x6100
#define TSS_C 0x6200
#define TSS_F 0x6300

extern const unsigned char ts_start[], ts_end[], ts_a[], ts_b[], ts_c[], ts_busy[], ts_gp[],
	ts_16call[], ts_d[], ts_d_back[], ts_tbit[], ts_f[], ts_db[], ts_d_gp[],
	ts_d2[];
__asm__(".pushsection .rodata\n"
	".code32\n"
	"ts_start:\n"
	"ts_a:	mov $0x5555, %ebx\n"
	"	lcall $0x30, $0\n"			/* CALL to TSS B */
	"	mov %ebx, %eax\n	out %eax, $0x26\n"
	"	str %eax\n	out %eax, $0x27\n"
	"	movzbl 0x1035, %eax\n	out %eax, $0x28\n"	/* B's type */
	"	pushf\n	pop %eax\n	and $0x4000, %eax\n	out %eax, $0x29\n"
	"	ljmp $0x38, $0\n"			/* JMP via task gate to B */
	"	pushf\n	pop %eax\n	and $0x4000, %eax\n	out %eax, $0x2b\n"
	"	movzwl 0x6000, %eax\n	out %eax, $0x2c\n"	/* A's back link */
	"	mov $0x4b, %ax\n	mov %ax, %ds\n"		/* #GP(0x48): task C */
	"	hlt\n"
	"ts_b:	out %eax, $0x20\n"
	"	str %eax\n	out %eax, $0x21\n"
	"	pushf\n	pop %eax\n	and $0x4000, %eax\n	out %eax, $0x22\n"
	"	movzwl 0x6100, %eax\n	out %eax, $0x23\n"	/* B's back link */
	"	movzbl 0x102d, %eax\n	out %eax, $0x24\n"	/* A's type */
	"	mov %cr0, %eax\n	and $8, %eax\n	out %eax, $0x25\n"
	"	iret\n"
	"	pushf\n	pop %eax\n	and $0x4000, %eax\n	out %eax, $0x2a\n"
	"	int $0x40\n"				/* task gate to A */
	"	hlt\n"
	"ts_c:	pop %eax\n	out %eax, $0x2d\n"	/* the error code */
	"	mov %esp, %eax\n	out %eax, $0x2e\n"
	"	hlt\n"
	"ts_busy:	ljmp $0x28, $0\n"
	"ts_16call:	mov $0x50, %ax\n	mov %ax, %fs\n"
	"	mov $0xdead5555, %eax\n	mov $0x7777, %ebx\n"
	"	lcall $0x48, $0\n"			/* CALL to the 16-bit TSS D */
	"	mov %ebx, %eax\n	out %eax, $0x36\n"
	"	movzwl 0x620e, %eax\n	out %eax, $0x37\n"	/* D's saved IP */
	"	movzwl 0x6212, %eax\n	out %eax, $0x38\n"	/* D's saved AX */
	"	movzbl 0x104d, %eax\n	out %eax, $0x39\n"	/* D's type */
	"	hlt\n"
	"ts_d:	out %eax, $0x30\n"
	"	str %eax\n	out %eax, $0x31\n"
	"	pushf\n	pop %eax\n	and $0x4000, %eax\n	out %eax, $0x32\n"
	"	movzwl 0x6200, %eax\n	out %eax, $0x33\n"	/* D's back link */
	"	mov %fs, %eax\n	movzwl %ax, %eax\n	out %eax, $0x34\n"
	"	mov %fs:0, %eax\n	out %eax, $0x35\n"	/* FS base kept */
	"	mov $0xabcd, %eax\n"
	"	iret\n"
	"ts_d_back:	hlt\n"
	"ts_d_gp:	mov $0x4b, %ax\n	mov %ax, %ds\n"	/* #GP(0x48) via a task gate */
	"ts_d2:	mov %esp, %eax\n	out %eax, $0x3e\n"
	"	movzwl (%esp), %eax\n	out %eax, $0x3f\n	hlt\n"
	"ts_tbit:	ljmp $0x58, $0\n"
	"ts_f:	mov $0x66, %eax\n	out %eax, $0x3d\n	hlt\n"
	"ts_db:	mov %dr6, %eax\n	and $0x8000, %eax\n	out %eax, $0x3a\n"
	"	mov (%esp), %eax\n	out %eax, $0x3b\n"
	"	str %eax\n	out %eax, $0x3c\n"
	"	iret\n"
	"ts_gp:	pop %eax\n	out %eax, $0x20\n	hlt\n"
	"ts_end:\n"
	".code64\n"
	".popsection\n");

#define OFF(l) (LOAD + (uint32_t)((l) - ts_start))

static void tss(struct tvm *t, uint64_t at, uint32_t eip, uint32_t esp, uint32_t eax)
{
	uint32_t *v = tvm_ptr(t, at);
	memset(v, 0, 0x68);
	v[0x20 / 4] = eip;
	v[0x24 / 4] = 2;
	v[0x28 / 4] = eax;
	v[0x38 / 4] = esp;
	for (int s = 0; s < 6; s++)
		v[0x48 / 4 + s] = s == 1 ? 0x08 : 0x10; /* ES CS SS DS FS GS */
}

static void set(struct tvm *t, const unsigned char *at, uint64_t flags)
{
	struct kvm_regs r;
	ioctl(t->vcpu, KVM_GET_REGS, &r);
	r.rip = OFF(at);
	r.rflags = flags;
	r.rsp = 0x7000;
	ioctl(t->vcpu, KVM_SET_REGS, &r);
}

static void setup(struct tvm *t)
{
	memcpy(tvm_ptr(t, LOAD), ts_start, ts_end - ts_start);
	uint64_t *gdt = tvm_ptr(t, TVM_GDT);
	gdt[1] = t_desc(0, 0xfffff, 0xb, 1, 0, 1, 1);	/* 0x08 code */
	gdt[2] = t_desc(0, 0xfffff, 0x3, 1, 0, 1, 1);	/* 0x10 data */
	gdt[3] = t_desc(0, 0xfffff, 0xb, 1, 0, 1, 1);	/* 0x18 code (the start) */
	gdt[5] = t_desc(TSS_A, 0x67, 0xb, 0, 0, 0, 0);	/* 0x28 TSS A, busy (TR) */
	gdt[6] = t_desc(TSS_B, 0x67, 0x9, 0, 0, 0, 0);	/* 0x30 TSS B */
	gdt[7] = (0x30ull << 16) | (0x5ull << 40) | (1ull << 47); /* 0x38 gate to B */
	gdt[8] = t_desc(TSS_C, 0x67, 0x9, 0, 0, 0, 0);	/* 0x40 TSS C */
	gdt[9] = t_desc(TSS_C, 0x2b, 0x1, 0, 0, 0, 0);	/* 0x48 16-bit TSS D */
	gdt[10] = t_desc(LOAD, 0xfffff, 0x3, 1, 0, 1, 0); /* 0x50 data at LOAD */
	gdt[11] = t_desc(TSS_F, 0x67, 0x9, 0, 0, 0, 0);	/* 0x58 TSS F, T bit */
	gdt[12] = t_desc(LOAD, 0xffff, 0xb, 1, 0, 1, 0);	/* 0x60 code at LOAD (16-bit IP) */
	memset(tvm_ptr(t, TSS_A), 0, 0x68);
	tss(t, TSS_B, OFF(ts_b), 0x9000, 0x1234);
	tss(t, TSS_C, OFF(ts_c), 0x9800, 0);
	uint64_t *idt = tvm_ptr(t, IDT);
	memset(idt, 0, 256 * 8);
	idt[0x40] = (0x28ull << 16) | (0x5ull << 40) | (1ull << 47); /* gate to A */
	idt[13] = (0x40ull << 16) | (0x5ull << 40) | (1ull << 47);   /* gate to C */
	struct kvm_sregs s;
	ioctl(t->vcpu, KVM_GET_SREGS, &s);
	s.gdt.base = TVM_GDT;
	s.gdt.limit = 0x67;
	s.idt.base = IDT;
	s.idt.limit = 256 * 8 - 1;
	s.tr.selector = 0x28;
	s.tr.base = TSS_A;
	s.tr.limit = 0x67;
	s.tr.type = 11;
	s.tr.present = 1;
	s.tr.s = 0;
	ioctl(t->vcpu, KVM_SET_SREGS, &s);
}

int main(void)
{
	struct tvm t;
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t) || tvm_setup_mode(&t, 32, LOAD, 0)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	setup(&t);
	set(&t, ts_a, 2);
	t_expect_out(&t, 0x20, 0x1234, "CALL to a TSS: EAX from the new TSS");
	t_expect_out(&t, 0x21, 0x30, "TR is the new TSS");
	t_expect_out(&t, 0x22, 0x4000, "CALL: NT set in the new task");
	t_expect_out(&t, 0x23, 0x28, "CALL: back link to the old TSS");
	t_expect_out(&t, 0x24, 0x8b, "CALL: the old TSS stays busy");
	t_expect_out(&t, 0x25, 8, "task switch sets CR0.TS");
	t_expect_out(&t, 0x26, 0x5555, "IRET with NT: the old task's EBX restored");
	t_expect_out(&t, 0x27, 0x28, "IRET with NT: TR back to the old TSS");
	t_expect_out(&t, 0x28, 0x89, "IRET with NT: the returning TSS no longer busy");
	t_expect_out(&t, 0x29, 0, "IRET with NT: NT clear in the old task");
	t_expect_out(&t, 0x2a, 0, "JMP through a task gate: resumes after IRET, NT clear");
	t_expect_out(&t, 0x2b, 0x4000, "INT n through a task gate: NT set");
	t_expect_out(&t, 0x2c, 0x30, "INT n through a task gate: back link");
	t_expect_out(&t, 0x2d, 0x48, "#GP through a task gate: error code on the new stack");
	t_expect_out(&t, 0x2e, 0x9800, "... popped from the new task's ESP");

	/* a fresh VM: JMP to a busy TSS, then a 16-bit TSS, then the T bit */
	tvm_destroy(&t);
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t) || tvm_setup_mode(&t, 32, LOAD, 0)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	setup(&t);
	uint64_t *idt = tvm_ptr(&t, IDT);
	uint32_t gp = OFF(ts_gp);
	idt[13] = (gp & 0xffff) | (0x08ull << 16) | (0xeull << 40) | (1ull << 47) |
		  ((uint64_t)(gp >> 16) << 48);
	set(&t, ts_busy, 2);
	t_expect_out(&t, 0x20, 0x28, "far JMP to a busy TSS: #GP(selector)");

	/* TSS D at TSS_C, 16-bit: IP, FLAGS, AX..DI, ES, CS, SS, DS, LDT */
	uint16_t *d = tvm_ptr(&t, TSS_C);
	memset(d, 0, 0x2c);
	d[0x0e / 2] = (uint16_t)(OFF(ts_d) - LOAD);	/* CS 0x60 has base LOAD */
	d[0x10 / 2] = 2;
	d[0x12 / 2] = 0x1234;			/* AX */
	d[0x1a / 2] = 0x9400;			/* SP */
	d[0x22 / 2] = d[0x26 / 2] = d[0x28 / 2] = 0x10;
	d[0x24 / 2] = 0x60;
	set(&t, ts_16call, 2);
	t_expect_out(&t, 0x30, 0x1234, "CALL to a 16-bit TSS: EAX is its AX, zero-extended");
	t_expect_out(&t, 0x31, 0x48, "16-bit TSS: TR");
	t_expect_out(&t, 0x32, 0x4000, "16-bit TSS: NT set");
	t_expect_out(&t, 0x33, 0x28, "16-bit TSS: back link to the 32-bit TSS");
	t_expect_out(&t, 0x34, 0x50, "16-bit TSS: FS selector kept");
	uint32_t first;
	memcpy(&first, ts_start, 4);
	t_expect_out(&t, 0x35, first, "16-bit TSS: FS descriptor (base) kept");
	t_expect_out(&t, 0x36, 0x7777, "IRET from the 16-bit task: the 32-bit task's EBX restored");
	t_expect_out(&t, 0x37, OFF(ts_d_back) - LOAD, "IRET: IP saved into the 16-bit TSS");
	t_expect_out(&t, 0x38, 0xabcd, "IRET: AX saved into the 16-bit TSS");
	t_expect_out(&t, 0x39, 0x81, "IRET: the 16-bit TSS no longer busy");

	tss(&t, TSS_F, OFF(ts_f), 0x9c00, 0);
	*(uint8_t *)tvm_ptr(&t, TSS_F + 0x64) = 1;	/* T */
	uint32_t db = OFF(ts_db);
	idt[1] = (db & 0xffff) | (0x08ull << 16) | (0xeull << 40) | (1ull << 47) |
		 ((uint64_t)(db >> 16) << 48);
	set(&t, ts_tbit, 2);
	t_expect_out(&t, 0x3a, 0x8000, "T bit: #DB with DR6.BT");
	t_expect_out(&t, 0x3b, OFF(ts_f), "T bit: before the new task's first instruction");
	t_expect_out(&t, 0x3c, 0x58, "T bit: in the new task");
	t_expect_out(&t, 0x3d, 0x66, "T bit: the new task runs after the handler's IRET");

	/* #GP through a task gate to the 16-bit TSS D: a word error code */
	d[0x0e / 2] = (uint16_t)(OFF(ts_d2) - LOAD);
	d[0x1a / 2] = 0x9400;
	idt[13] = (0x48ull << 16) | (0x5ull << 40) | (1ull << 47);
	set(&t, ts_d_gp, 2);
	t_expect_out(&t, 0x3e, 0x93fe, "#GP into a 16-bit task: the error code pushed as a word");
	t_expect_out(&t, 0x3f, 0x48, "... its value");
	printf("1..%d\n", t_n);
	tvm_destroy(&t);
	return t_fails != 0;
}
