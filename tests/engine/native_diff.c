/*
 * The host CPU as oracle for the engine's integer instructions: each
 * instruction in the table runs natively (in this process) and as guest
 * code through KVM (under `softkvm run`, the engine) with the same random
 * RAX/RBX/RCX/RDX and flags; results and all six status flags must agree,
 * including the flags the SDM calls undefined.
 *
 * Build and run (see docs/engine.md):
 *   gcc -O1 -Itests/guest -o build/native_diff tests/engine/native_diff.c tests/guest/tvm.c
 *   build/softkvm run -- build/native_diff [iterations]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "tvm.h"

/* Instructions under test (64-bit encodings) using rax, rbx, rcx, rdx. */
static const struct {
	const char *name;
	unsigned char b[8];
	int n;
} insns[] = {
#define I(name, ...) {name, {__VA_ARGS__}, sizeof((unsigned char[]){__VA_ARGS__})}
	I("add rax,rbx", 0x48, 0x01, 0xd8), I("adc eax,ebx", 0x11, 0xd8),
	I("sub ax,bx", 0x66, 0x29, 0xd8), I("sbb al,bl", 0x18, 0xd8),
	I("and rax,rbx", 0x48, 0x21, 0xd8), I("or eax,ebx", 0x09, 0xd8),
	I("xor al,bl", 0x30, 0xd8), I("cmp rax,rbx", 0x48, 0x39, 0xd8),
	I("test bx,ax", 0x66, 0x85, 0xc3), I("adc ah,bl", 0x10, 0xdc),
	I("inc rax", 0x48, 0xff, 0xc0), I("dec al", 0xfe, 0xc8),
	I("neg ebx", 0xf7, 0xdb), I("not ax", 0x66, 0xf7, 0xd0),
	I("shl rax,cl", 0x48, 0xd3, 0xe0), I("shr eax,cl", 0xd3, 0xe8),
	I("sar ax,cl", 0x66, 0xd3, 0xf8), I("shl al,cl", 0xd2, 0xe0),
	I("rol rax,cl", 0x48, 0xd3, 0xc0), I("ror eax,cl", 0xd3, 0xc8),
	I("rcl ax,cl", 0x66, 0xd3, 0xd0), I("rcr al,cl", 0xd2, 0xd8),
	I("rcl rax,cl", 0x48, 0xd3, 0xd0), I("rcr ebx,cl", 0xd3, 0xdb),
	I("shl eax,1", 0xd1, 0xe0), I("sar rbx,1", 0x48, 0xd1, 0xfb),
	I("ror al,1", 0xd0, 0xc8), I("shr ax,5", 0x66, 0xc1, 0xe8, 0x05),
	I("shld eax,ebx,cl", 0x0f, 0xa5, 0xd8), I("shrd rax,rbx,cl", 0x48, 0x0f, 0xad, 0xd8),
	I("shld ax,bx,cl", 0x66, 0x0f, 0xa5, 0xd8), I("shrd ax,bx,cl", 0x66, 0x0f, 0xad, 0xd8),
	I("mul rbx", 0x48, 0xf7, 0xe3), I("mul bl", 0xf6, 0xe3),
	I("imul ebx", 0xf7, 0xeb), I("imul ax,bx", 0x66, 0x0f, 0xaf, 0xc3),
	I("imul rax,rbx,7", 0x48, 0x6b, 0xc3, 0x07), I("imul bl", 0xf6, 0xeb),
	I("bsf eax,ebx", 0x0f, 0xbc, 0xc3), I("bsr rax,rbx", 0x48, 0x0f, 0xbd, 0xc3),
	I("bt rax,rbx", 0x48, 0x0f, 0xa3, 0xd8), I("bts eax,ecx", 0x0f, 0xab, 0xc8),
	I("btr ax,cx", 0x66, 0x0f, 0xb3, 0xc8), I("btc rax,5", 0x48, 0x0f, 0xba, 0xf8, 0x05),
	I("bswap eax", 0x0f, 0xc8), I("bswap rbx", 0x48, 0x0f, 0xcb),
	I("xadd eax,ebx", 0x0f, 0xc1, 0xd8), I("cmpxchg ebx,ecx", 0x0f, 0xb1, 0xcb),
	I("cmpxchg bl,cl", 0x0f, 0xb0, 0xcb), I("xchg rax,rbx", 0x48, 0x93),
	I("movsx rax,bl", 0x48, 0x0f, 0xbe, 0xc3), I("movzx eax,bx", 0x0f, 0xb7, 0xc3),
	I("movsxd rax,ebx", 0x48, 0x63, 0xc3), I("cbw", 0x66, 0x98), I("cdqe", 0x48, 0x98),
	I("cwd", 0x66, 0x99), I("cqo", 0x48, 0x99), I("lahf", 0x9f), I("sahf", 0x9e),
	I("setbe al", 0x0f, 0x96, 0xc0), I("setl bl", 0x0f, 0x9c, 0xc3),
	I("cmovg eax,ebx", 0x0f, 0x4f, 0xc3), I("cmovp rax,rbx", 0x48, 0x0f, 0x4a, 0xc3),
	I("cmc", 0xf5), I("lea eax,[rbx+rcx*4+8]", 0x8d, 0x44, 0x8b, 0x08),
	I("mov ah,bh", 0x88, 0xfc), I("xchg al,ch", 0x86, 0xe8),
	I("adc rax,-2", 0x48, 0x83, 0xd0, 0xfe), I("sbb eax,0x80000000", 0x1d, 0, 0, 0, 0x80),
	I("rol bx,cl", 0x66, 0xd3, 0xc3), I("sar al,cl", 0xd2, 0xf8),
	I("shl ax,cl", 0x66, 0xd3, 0xe0),
#undef I
};

/* The stub: regs at [rdi]; rax, rbx, rcx, rdx, rflags in, out. */
static size_t stub(unsigned char *p, const unsigned char *insn, int n, int native)
{
	static const unsigned char pre[] = {
		0x53,			  /* push rbx */
		0x49, 0x89, 0xf8,	  /* mov r8, rdi */
		0x49, 0x8b, 0x00,	  /* mov rax, [r8] */
		0x49, 0x8b, 0x58, 0x08,	  /* mov rbx, [r8+8] */
		0x49, 0x8b, 0x48, 0x10,	  /* mov rcx, [r8+16] */
		0x49, 0x8b, 0x50, 0x18,	  /* mov rdx, [r8+24] */
		0x41, 0xff, 0x70, 0x20,	  /* push qword [r8+32] */
		0x9d,			  /* popfq */
	};
	static const unsigned char post[] = {
		0x9c,			  /* pushfq */
		0x41, 0x8f, 0x40, 0x20,	  /* pop qword [r8+32] */
		0x49, 0x89, 0x00,	  /* mov [r8], rax */
		0x49, 0x89, 0x58, 0x08,	  /* mov [r8+8], rbx */
		0x49, 0x89, 0x48, 0x10,	  /* mov [r8+16], rcx */
		0x49, 0x89, 0x50, 0x18,	  /* mov [r8+24], rdx */
		0x5b,			  /* pop rbx */
	};
	size_t k = 0;
	memcpy(p + k, pre, sizeof(pre)), k += sizeof(pre);
	memcpy(p + k, insn, n), k += n;
	memcpy(p + k, post, sizeof(post)), k += sizeof(post);
	p[k++] = native ? 0xc3 : 0xf4; /* ret / hlt */
	return k;
}

static uint64_t rnd(void)
{
	uint64_t v = ((uint64_t)random() << 33) ^ ((uint64_t)random() << 11) ^ random();
	switch (random() % 8) {
	case 0: return v & 0xff;
	case 1: return v & 0x1f;
	case 2: return 0;
	case 3: return ~0ULL;
	case 4: return 1ULL << (random() % 64);
	case 5: return (uint64_t)(int64_t)(int8_t)v;
	default: return v;
	}
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 2000;
	unsigned char *native = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct tvm t;
	memset(&t, 0, sizeof(t));
	if (tvm_create(&t, 4 << 20) || tvm_set_cpuid(&t) ||
	    tvm_setup_mode(&t, 64, 0x10000, 0)) {
		printf("Bail out! %s\n", t.err);
		return 1;
	}
	const uint64_t data = 0x20000, flmask = 0x8d5;
	int fails = 0, n = 0;
	srandom(1);
	for (size_t k = 0; k < sizeof(insns) / sizeof(insns[0]); k++) {
		int bad = 0;
		stub(native, insns[k].b, insns[k].n, 1);
		stub(tvm_ptr(&t, 0x10000), insns[k].b, insns[k].n, 0);
		for (int it = 0; it < iters && bad < 3; it++) {
			uint64_t in[5] = {rnd(), rnd(), rnd(), rnd(), (rnd() & flmask) | 2};
			uint64_t nat[5], gst[5];
			memcpy(nat, in, sizeof(in));
			((void (*)(uint64_t *))native)(nat);

			memcpy(tvm_ptr(&t, data), in, sizeof(in));
			struct kvm_regs r;
			ioctl(t.vcpu, KVM_GET_REGS, &r);
			r.rip = 0x10000;
			r.rdi = data;
			r.rsp = 0x7000;
			r.rflags = 2;
			ioctl(t.vcpu, KVM_SET_REGS, &r);
			if (ioctl(t.vcpu, KVM_RUN, 0) || t.run->exit_reason != KVM_EXIT_HLT) {
				printf("not ok %d - %s: exit %u\n", ++n, insns[k].name,
				       t.run->exit_reason);
				fails++;
				bad = 3;
				break;
			}
			memcpy(gst, tvm_ptr(&t, data), sizeof(gst));
			nat[4] &= flmask, gst[4] &= flmask;
			if (memcmp(nat, gst, sizeof(nat))) {
				if (!bad)
					printf("not ok %d - %s\n", ++n, insns[k].name);
				printf("#   in  rax=%lx rbx=%lx rcx=%lx rdx=%lx fl=%lx\n",
				       in[0], in[1], in[2], in[3], in[4]);
				printf("#   cpu rax=%lx rbx=%lx rcx=%lx rdx=%lx fl=%lx\n",
				       nat[0], nat[1], nat[2], nat[3], nat[4]);
				printf("#   vm  rax=%lx rbx=%lx rcx=%lx rdx=%lx fl=%lx\n",
				       gst[0], gst[1], gst[2], gst[3], gst[4]);
				bad++;
			}
		}
		if (!bad)
			printf("ok %d - %s\n", ++n, insns[k].name);
		else
			fails++;
	}
	printf("1..%d\n", n);
	tvm_destroy(&t);
	return fails != 0;
}
