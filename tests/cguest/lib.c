/*
 * The compiled-C guest's libc: the functions GCC may call on its own
 * (memcpy, memmove, memset, memcmp) and strlen/strcmp, written with GCC's
 * vector extensions so the compiler emits 16-byte SSE2 code at -O2 and
 * 32-byte AVX2 code with -march=x86-64-v3, as glibc's own do.  Built with
 * -fno-tree-loop-distribute-patterns (a loop here must not become a call
 * to itself).
 */
#include "cg.h"

#ifdef __AVX2__
#define VB 32
#else
#define VB 16
#endif
typedef char vec __attribute__((vector_size(VB), aligned(VB), may_alias));
typedef char uvec __attribute__((vector_size(VB), aligned(1), may_alias));

static unsigned zero_mask(vec v)
{
	vec z = v == (vec){0};
#ifdef __AVX2__
	return (unsigned)__builtin_ia32_pmovmskb256(z);
#else
	return (unsigned)__builtin_ia32_pmovmskb128(z);
#endif
}

void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
	u8 *dp = d;
	const u8 *sp = s;
	for (; n >= 4 * VB; n -= 4 * VB, dp += 4 * VB, sp += 4 * VB) {
		uvec a = *(const uvec *)sp, b = *(const uvec *)(sp + VB);
		uvec c = *(const uvec *)(sp + 2 * VB), e = *(const uvec *)(sp + 3 * VB);
		*(uvec *)dp = a;
		*(uvec *)(dp + VB) = b;
		*(uvec *)(dp + 2 * VB) = c;
		*(uvec *)(dp + 3 * VB) = e;
	}
	for (; n >= VB; n -= VB, dp += VB, sp += VB)
		*(uvec *)dp = *(const uvec *)sp;
	for (; n; n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	u8 *dp = d;
	const u8 *sp = s;
	if (dp <= sp || dp >= sp + n) {
		for (; n >= VB; n -= VB, dp += VB, sp += VB)
			*(uvec *)dp = *(const uvec *)sp;
		for (; n; n--)
			*dp++ = *sp++;
		return d;
	}
	for (; n >= VB; n -= VB)
		*(uvec *)(dp + n - VB) = *(const uvec *)(sp + n - VB);
	while (n--)
		dp[n] = sp[n];
	return d;
}

void *memset(void *d, int c, size_t n)
{
	u8 *dp = d;
	uvec v;
	for (int i = 0; i < VB; i++)
		v[i] = (char)c;
	for (; n >= VB; n -= VB, dp += VB)
		*(uvec *)dp = v;
	for (; n; n--)
		*dp++ = (u8)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *p = a, *q = b;
	for (; n >= VB; n -= VB, p += VB, q += VB) {
		vec x = *(const uvec *)p, y = *(const uvec *)q;
		if (zero_mask(x ^ y) != (VB == 32 ? 0xffffffffu : 0xffffu))
			break;
	}
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p < *q ? -1 : 1;
	return 0;
}

/* Aligned VB-byte chunks (never across a page), the first masked. */
size_t strlen(const char *s)
{
	const char *p = (const char *)((unsigned long)s & ~(unsigned long)(VB - 1));
	unsigned m = zero_mask(*(const vec *)p) >> (s - p);
	if (m)
		return (size_t)__builtin_ctz(m);
	for (;;) {
		p += VB;
		m = zero_mask(*(const vec *)p);
		if (m)
			return (size_t)(p - s) + (size_t)__builtin_ctz(m);
	}
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (u8)*a - (u8)*b;
}
