/*
 * Benchmark jobs: the same C compiled for the host and, freestanding, for a
 * long-mode guest (bench/start.S), with the same flags on both sides so
 * the comparison is like for like: the integer jobs (jobs.c) with
 * -mgeneral-regs-only, a double matmul (fp.c, -O2 SSE2) and an AVX2 saxpy
 * (simd.c, -O3 -march=x86-64-v3).
 */
#ifndef SKVM_BENCH_JOBS_H
#define SKVM_BENCH_JOBS_H

#define BENCH_PARAMS 0x8000
#define BENCH_LOAD 0x100000
#define BENCH_FAULT (BENCH_LOAD + 0x40)	/* start.S's fault handler */
#define BENCH_PORT 0xf0
#define BENCH_BUF 0x4000000	/* 64 MiB: start of the data buffers */

#ifndef __ASSEMBLER__
#include <stdint.h>

enum bench_job { JOB_INTLOOP, JOB_MEMSET, JOB_MEMCPY, JOB_FIB, JOB_SIEVE, JOB_MATMUL, JOB_SAXPY, JOB_COUNT };

/* Parameters and result, at BENCH_PARAMS in the guest. */
struct bench_params {
	uint64_t job;
	uint64_t arg[3];
	uint64_t result;
};

uint64_t bench_job(const struct bench_params *p);
/* fp.c, simd.c: no floating-point values cross these calls */
uint64_t bench_matmul(double *m, uint64_t n);
uint64_t bench_saxpy(float *restrict x, float *restrict y, uint64_t n);
#endif

#endif
