/*
 * Benchmark jobs: the same C compiled for the host and, freestanding, for a
 * long-mode guest (bench/start.S).  Integer code only (-mgeneral-regs-only
 * on both sides), so the comparison is like for like.
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

enum bench_job { JOB_INTLOOP, JOB_MEMSET, JOB_MEMCPY, JOB_FIB, JOB_SIEVE, JOB_COUNT };

/* Parameters and result, at BENCH_PARAMS in the guest. */
struct bench_params {
	uint64_t job;
	uint64_t arg[3];
	uint64_t result;
};

uint64_t bench_job(const struct bench_params *p);
#endif

#endif
