/*
 * The host CPU's answer for instructions that only exist outside 64-bit
 * mode: DAA, DAS, AAA, AAS, AAM and AAD leave flags undefined (SF/ZF/PF/OF
 * for the ASCII adjustments, OF/AF/CF for AAM and AAD), CPU generations and
 * vendors differ there, and the differential oracle is the host CPU (the
 * same rule as HOST_RUN in ops_alu.c).  A 64-bit process cannot execute
 * them, but Linux gives every process a 32-bit user code segment (0x23,
 * __USER32_CS): a far call into it runs them in compatibility mode.
 *
 * The trampoline lives in one MAP_32BIT mapping (a far call's return
 * address and the compat-mode stack must be below 4 GiB): code page, then
 * a data word pair and a stack big enough for a signal frame.  The
 * instruction bytes are patched in, so calls are serialised; these
 * instructions are rare (legacy-mode BCD code), a mutex is cheap enough.
 * Where the kernel offers no present 32-bit code segment (ia32_emulation=0)
 * (or with SKVM_HOST32=0) host32_adjust() returns false and the caller's
 * own model (what AMD Zen CPUs do) is used.
 */
#include "x86/exec.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* 64-bit entry h32_entry(u32 *data, void *stack_top): data[0] = EAX,
 * data[1] = EFLAGS in and out. */
__asm__(".pushsection .rodata.skvm_host32, \"a\"\n"
	".hidden skvm_h32_start, skvm_h32_far, skvm_h32_code, skvm_h32_op, skvm_h32_end\n"
	".globl skvm_h32_start, skvm_h32_far, skvm_h32_code, skvm_h32_op, skvm_h32_end\n"
	".code64\n"
	"skvm_h32_start:\n"
	"	mov %rsp, 1f(%rip)\n"
	"	mov %ds, 2f(%rip)\n"
	"	mov %rsi, %rsp\n"
	"	mov %edi, %esi\n"
	"	lcall *skvm_h32_far(%rip)\n"
	"	mov 1f(%rip), %rsp\n"
	"	mov 2f(%rip), %ds\n"
	"	ret\n"
	"	.balign 8\n"
	"skvm_h32_far: .long 0\n"
	"	.word 0x23\n"
	"	.balign 8\n"
	"1:	.quad 0\n"
	"2:	.word 0\n"
	".code32\n"
	"skvm_h32_code:\n"
	"	mov $0x2b, %eax\n" /* __USER_DS: compat mode needs a usable DS */
	"	mov %eax, %ds\n"
	"	mov (%esi), %eax\n"
	"	pushl 4(%esi)\n"
	"	popfl\n"
	"skvm_h32_op: nop; nop\n"
	"	pushfl\n"
	"	popl 4(%esi)\n"
	"	mov %eax, (%esi)\n"
	"	lret\n"
	".code64\n"
	"skvm_h32_end:\n"
	".popsection\n");
extern const u8 skvm_h32_start[], skvm_h32_far[], skvm_h32_code[], skvm_h32_op[],
	skvm_h32_end[];

#define H32_CODE 4096
#define H32_STACK (16 * 1024) /* room for a signal frame with the xsave area */

static pthread_mutex_t h32_lock = PTHREAD_MUTEX_INITIALIZER;
static u8 *h32_page;
static int h32_state; /* 0: not decided yet, 1: usable, -1: not */

/* Is selector 0x23 a present 32-bit code segment this CPL can use? LAR
 * reads its access rights without touching it. */
static bool h32_probe(void)
{
	u32 ar = 0;
	u8 ok;
	__asm__("lar %k2, %k0\n\tsetz %1" : "=r"(ar), "=q"(ok) : "r"(0x23u) : "cc");
	/* P (bit 15), S + code (bits 12, 11), D (bit 22), not L (bit 21) */
	return ok && (ar & 0x9800) == 0x9800 && (ar & (1u << 22)) && !(ar & (1u << 21));
}

static bool h32_setup(void)
{
	size_t n = (size_t)(skvm_h32_end - skvm_h32_start);
	const char *env = getenv("SKVM_HOST32"); /* 0: the fallback model, for testing */
	if ((env && !strcmp(env, "0")) || !h32_probe() || n > H32_CODE)
		return false;
	u8 *p = mmap(NULL, H32_CODE + H32_STACK, PROT_READ | PROT_WRITE | PROT_EXEC,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (p == MAP_FAILED)
		return false;
	memcpy(p, skvm_h32_start, n);
	u32 code = (u32)(uintptr_t)(p + (skvm_h32_code - skvm_h32_start));
	memcpy(p + (skvm_h32_far - skvm_h32_start), &code, 4);
	h32_page = p;
	return true;
}

bool host32_adjust(u8 opcode, u8 imm, u32 *eax, u64 *rflags)
{
	const u64 m = X86_FL_CF | X86_FL_PF | X86_FL_AF | X86_FL_ZF | X86_FL_SF | X86_FL_OF;
	pthread_mutex_lock(&h32_lock);
	if (!h32_state)
		h32_state = h32_setup() ? 1 : -1;
	if (h32_state < 0) {
		pthread_mutex_unlock(&h32_lock);
		return false;
	}
	u8 *op = h32_page + (skvm_h32_op - skvm_h32_start);
	op[0] = opcode;
	op[1] = (opcode == 0xd4 || opcode == 0xd5) ? imm : 0x90;
	u32 *data = (u32 *)(h32_page + H32_CODE);
	data[0] = *eax;
	data[1] = (u32)(X86_FL_FIXED1 | (*rflags & m));
	((void (*)(u32 *, void *))h32_page)(data, h32_page + H32_CODE + H32_STACK);
	*eax = data[0];
	*rflags = (*rflags & ~m) | (data[1] & m);
	pthread_mutex_unlock(&h32_lock);
	return true;
}
