/*
 * The harness of the SIMD gating tests (simd_gate.c, avx_gate.c): a 64-bit
 * ring-0 guest whose every exception vector reports itself with an OUT to
 * PORT_VEC + vector (the error code, if any, in eax), and run() to execute a
 * snippet under given CR0 / CR4 bits.
 */
#ifndef SKVM_TESTS_ENGINE_GATE_H
#define SKVM_TESTS_ENGINE_GATE_H

#include "tvm.h"
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define IDT 0x9000
#define HANDLERS 0xb000
#define CODE 0x10000
#define DATA 0x20000
#define PORT_OK 0xf0
#define PORT_VEC 0x100 /* + vector */

#define CR0_EM 0x4
#define CR0_TS 0x8
#define CR4_OSFXSR 0x200
#define CR4_OSXMMEXCPT 0x400

static int n, fails;

static void ok(int c, const char *what)
{
	printf("%sok %d - %s\n", c ? "" : "not ", ++n, what);
	fails += !c;
}

static int setup(struct tvm *t)
{
	if (tvm_setup_mode(t, 64, CODE, 0))
		return -1;
	uint64_t *idt = tvm_ptr(t, IDT);
	for (int v = 0; v < 256; v++) {
		/* handler: mov (%rsp),%rax; mov $PORT_VEC+v,%dx; out %eax,%dx; hlt */
		uint8_t *h = tvm_ptr(t, HANDLERS + 16 * v);
		static const uint8_t code[] = { 0x48, 0x8b, 0x04, 0x24, 0x66, 0xba, 0, 0, 0xef, 0xf4 };
		memcpy(h, code, sizeof(code));
		h[6] = (uint8_t)(PORT_VEC + v), h[7] = (uint8_t)((PORT_VEC + v) >> 8);
		uint64_t a = HANDLERS + 16 * v;
		idt[2 * v] = (a & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((a >> 16 & 0xffff) << 48);
		idt[2 * v + 1] = a >> 32;
	}
	struct kvm_sregs s;
	if (ioctl(t->vcpu, KVM_GET_SREGS, &s))
		return -1;
	s.idt.base = IDT;
	s.idt.limit = 0xfff;
	return ioctl(t->vcpu, KVM_SET_SREGS, &s);
}

/* Run `code` (then OUT PORT_OK) with CR0/CR4 bits and rax = DATA + off;
 * returns -1 for success, the vector otherwise (*err: the error code). */
static int run(struct tvm *t, const uint8_t *code, size_t len, uint64_t cr0_set, uint64_t cr4,
	       uint64_t off, uint32_t *err)
{
	uint8_t *c = tvm_ptr(t, CODE);
	memcpy(c, code, len);
	c[len] = 0xe6, c[len + 1] = PORT_OK; /* out %al,$PORT_OK */
	struct kvm_sregs s;
	struct kvm_regs r;
	ioctl(t->vcpu, KVM_GET_SREGS, &s);
	s.cr0 = (0x80050033 & ~(uint64_t)(CR0_EM | CR0_TS)) | cr0_set;
	s.cr4 = 0x20 | cr4;
	if (ioctl(t->vcpu, KVM_SET_SREGS, &s))
		return -3;
	memset(&r, 0, sizeof(r));
	r.rip = CODE;
	r.rsp = TVM_STACK;
	r.rflags = 2;
	r.rax = DATA + off;
	r.rbx = 0x1234;
	ioctl(t->vcpu, KVM_SET_REGS, &r);
	if (ioctl(t->vcpu, KVM_RUN, 0) || t->run->exit_reason != KVM_EXIT_IO)
		return -2;
	uint16_t port = t->run->io.port;
	if (port == PORT_OK)
		return -1;
	memcpy(err, (uint8_t *)t->run + t->run->io.data_offset, 4);
	return port - PORT_VEC;
}

/* A guest with the supported CPUID and the harness; 0 or Bail out. */
static int gate_create(struct tvm *t)
{
	memset(t, 0, sizeof(*t));
	if (tvm_create(t, 4 << 20) || tvm_set_cpuid(t) || setup(t)) {
		printf("Bail out! %s\n", t->err);
		return -1;
	}
	return 0;
}

#endif
