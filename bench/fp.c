/*
 * Floating-point job: a double-precision matrix multiply, compiled -O2
 * without -mgeneral-regs-only (SSE2 scalar code), the same on both sides.
 * jobs.c calls it; only integers cross the call, so jobs.c stays
 * general-registers-only.
 */
#include "jobs.h"

/* C = A * B for n x n doubles at m (A, then B, then C); returns the bits
 * of the sum of C, summed in a fixed order so host and guest agree. */
uint64_t bench_matmul(double *m, uint64_t n)
{
	double *a = m, *b = m + n * n, *c = m + 2 * n * n;
	for (uint64_t i = 0; i < n * n; i++) {
		a[i] = (double)(int64_t)(i * 7 % 17) * 0.125 - 1.0;
		b[i] = (double)(int64_t)(i * 5 % 13) * 0.375 + 0.5;
		c[i] = 0;
	}
	for (uint64_t i = 0; i < n; i++)
		for (uint64_t k = 0; k < n; k++) {
			double aik = a[i * n + k];
			for (uint64_t j = 0; j < n; j++)
				c[i * n + j] += aik * b[k * n + j];
		}
	double sum = 0;
	for (uint64_t i = 0; i < n * n; i++)
		sum += c[i] * (double)(int64_t)(i % 3 + 1);
	union { double d; uint64_t u; } r = { .d = sum };
	return r.u;
}
