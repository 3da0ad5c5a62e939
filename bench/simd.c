/*
 * SIMD job: single-precision saxpy over large buffers, compiled -O3
 * -march=x86-64-v3 (AVX2 + FMA, 256-bit vectors), the same on both sides.
 * The guest's start.S enables SSE and AVX (CR4.OSFXSR / OSXSAVE, XCR0).
 * 32-bit indices and restrict keep every loop vectorised with no
 * fall-back copy.
 */
#include "jobs.h"

#define SAXPY_PASSES 4

/* y = a * x + y, SAXPY_PASSES times over n (< 2^32) floats; returns the
 * XOR of y's bit patterns, each plus its index. */
uint64_t bench_saxpy(float *restrict x, float *restrict y, uint64_t n)
{
	uint32_t len = (uint32_t)n;
	for (uint32_t i = 0; i < len; i++) {
		x[i] = (float)(int32_t)(i & 1023) * 0.5f;
		y[i] = (float)((int32_t)(i & 63) - 20);
	}
	for (int p = 0; p < SAXPY_PASSES; p++) {
		float a = 0.75f + 0.125f * (float)p;
		for (uint32_t i = 0; i < len; i++)
			y[i] = a * x[i] + y[i];
	}
	uint32_t acc = 0;
	for (uint32_t i = 0; i < len; i++) {
		uint32_t u;
		__builtin_memcpy(&u, &y[i], sizeof(u));
		acc ^= u + i;
	}
	return acc;
}
