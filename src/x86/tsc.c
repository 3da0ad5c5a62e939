/*
 * The guest time-stamp counter.  The host's CLOCK_MONOTONIC_RAW (which counts
 * from boot, like the host TSC) scaled to the vCPU's TSC rate, plus a
 * per-vCPU offset: KVM's model (guest TSC = scaled host TSC + offset), so a
 * new vCPU starts near the host's own TSC value, as on KVM where the first
 * vCPU of a VM gets offset 0.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "x86/msr.h"

static u64 host_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

static u64 scaled_now(const struct x86_cpu *cpu)
{
	return (u64)((unsigned __int128)host_ns() * cpu->tsc_khz / 1000000U);
}

u64 x86_tsc_read(const struct x86_cpu *cpu)
{
	return scaled_now(cpu) + cpu->msr.tsc_offset;
}

void x86_tsc_write(struct x86_cpu *cpu, u64 val)
{
	cpu->msr.tsc_offset = val - scaled_now(cpu);
}

/*
 * /proc/cpuinfo's "cpu MHz" is the kernel's tsc_khz on hosts with an
 * invariant TSC (what KVM uses as the default guest rate); measure the TSC
 * against the clock when it is missing.
 */
static u32 measure_khz(void)
{
	u64 t0 = host_ns(), c0 = __builtin_ia32_rdtsc();
	struct timespec d = {.tv_nsec = 20 * 1000 * 1000};
	nanosleep(&d, NULL);
	u64 t1 = host_ns(), c1 = __builtin_ia32_rdtsc();
	return t1 > t0 ? (u32)((c1 - c0) * 1000000ULL / (t1 - t0)) : 1000000;
}

u32 x86_host_tsc_khz(void)
{
	static u32 khz;
	u32 k = __atomic_load_n(&khz, __ATOMIC_RELAXED);
	if (k)
		return k;
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		unsigned int mhz;
		char frac[4] = "";
		char *p = strchr(line, ':');
		if (strncmp(line, "cpu MHz", 7) || !p)
			continue;
		/* "2596.138" is exactly 2596138 kHz: no floating point. */
		if (sscanf(p + 1, " %u.%3[0-9]", &mhz, frac) >= 1) {
			k = mhz * 1000;
			for (int i = 0, m = 100; i < 3 && frac[i]; i++, m /= 10)
				k += (u32)(frac[i] - '0') * (u32)m;
		}
		break;
	}
	if (f)
		fclose(f);
	if (!k)
		k = measure_khz();
	__atomic_store_n(&khz, k, __ATOMIC_RELAXED);
	return k;
}
