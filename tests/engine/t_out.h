/*
 * Shared by the engine tests whose guests report through OUT: TAP lines, an
 * OUT expected next (port and value), a 64-bit interrupt gate, a descriptor.
 */
#ifndef T_OUT_H
#define T_OUT_H

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "tvm.h"

static int t_n, t_fails;

__attribute__((unused)) static void t_ok(int c, const char *what, unsigned got, unsigned want)
{
	printf("%sok %d - %s", c ? "" : "not ", ++t_n, what);
	if (!c) {
		printf(" (got %#x want %#x)", got, want);
		t_fails++;
	}
	printf("\n");
}

/* The next KVM_RUN must be an OUT of val (its size) to port. */
__attribute__((unused)) static void t_expect_out(struct tvm *t, int port, unsigned val,
						 const char *what)
{
	int r = ioctl(t->vcpu, KVM_RUN, 0);
	if (r || t->run->exit_reason != KVM_EXIT_IO || t->run->io.port != port) {
		struct kvm_regs regs;
		ioctl(t->vcpu, KVM_GET_REGS, &regs);
		printf("not ok %d - %s: exit %u port %#x rip %#llx\n", ++t_n, what,
		       t->run->exit_reason, t->run->io.port, regs.rip);
		t_fails++;
		return;
	}
	unsigned v = 0;
	memcpy(&v, (char *)t->run + t->run->io.data_offset,
	       t->run->io.size < 4 ? t->run->io.size : 4);
	t_ok(v == val, what, v, val);
}

/* A 64-bit interrupt gate for vector vec of the IDT at gpa idt. */
__attribute__((unused)) static void t_gate64(struct tvm *t, uint64_t idt, int vec, uint64_t off,
					     int dpl)
{
	uint64_t *g = tvm_ptr(t, idt + vec * 16);
	g[0] = (off & 0xffff) | ((uint64_t)TVM_SEL_CODE64 << 16) | (0xeull << 40) |
	       ((uint64_t)dpl << 45) | (1ull << 47) | ((off >> 16 & 0xffff) << 48);
	g[1] = off >> 32;
}

/* A present segment descriptor (SDM Vol. 3A 3.4.5). */
__attribute__((unused)) static uint64_t t_desc(uint32_t base, uint32_t limit, int type, int s,
					       int dpl, int db, int g)
{
	return (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)type << 40) |
	       ((uint64_t)s << 44) | ((uint64_t)dpl << 45) | (1ull << 47) |
	       ((uint64_t)(limit >> 16 & 0xf) << 48) | ((uint64_t)db << 54) |
	       ((uint64_t)g << 55) | ((uint64_t)(base >> 24) << 56);
}

#endif
