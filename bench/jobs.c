/* Benchmark jobs; see jobs.h.  Results are checked against the native run. */
#include "jobs.h"

static uint64_t intloop(uint64_t n)
{
	uint64_t x = 1, acc = 0;
	for (uint64_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		acc ^= x >> (i & 31);
		acc += i;
	}
	return acc;
}

static uint64_t fill(uint64_t *dst, uint64_t bytes, uint64_t v)
{
	for (uint64_t i = 0; i < bytes / 8; i++)
		dst[i] = v;
	return dst[bytes / 8 - 1];
}

static uint64_t copy(uint64_t *dst, const uint64_t *src, uint64_t bytes)
{
	for (uint64_t i = 0; i < bytes / 8; i++)
		dst[i] = src[i];
	return dst[bytes / 16] ^ dst[bytes / 8 - 1];
}

static uint64_t fib(uint64_t n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/* Primes below n, one byte per number. */
static uint64_t sieve(uint8_t *s, uint64_t n)
{
	uint64_t count = 0;
	for (uint64_t i = 0; i < n; i++)
		s[i] = 1;
	s[0] = s[1] = 0;
	for (uint64_t i = 2; i * i < n; i++)
		if (s[i])
			for (uint64_t j = i * i; j < n; j += i)
				s[j] = 0;
	for (uint64_t i = 0; i < n; i++)
		count += s[i];
	return count;
}

uint64_t bench_job(const struct bench_params *p)
{
	switch (p->job) {
	case JOB_INTLOOP: return intloop(p->arg[0]);
	case JOB_MEMSET: return fill((uint64_t *)(uintptr_t)p->arg[0], p->arg[1], p->arg[2]);
	case JOB_MEMCPY:
		return copy((uint64_t *)(uintptr_t)p->arg[0], (const uint64_t *)(uintptr_t)p->arg[1], p->arg[2]);
	case JOB_FIB: return fib(p->arg[0]);
	case JOB_SIEVE: return sieve((uint8_t *)(uintptr_t)p->arg[0], p->arg[1]);
	case JOB_MATMUL: return bench_matmul((double *)(uintptr_t)p->arg[0], p->arg[1]);
	case JOB_SAXPY:
		return bench_saxpy((float *)(uintptr_t)p->arg[0], (float *)(uintptr_t)p->arg[1], p->arg[2]);
	}
	return ~0ull;
}
