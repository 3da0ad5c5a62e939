/*
 * The guest time-stamp counter.  The host's CLOCK_MONOTONIC_RAW (which counts
 * from boot, like the host TSC) scaled to the vCPU's TSC rate, plus a
 * per-vCPU offset: KVM's model (guest TSC = scaled host TSC + offset).  A
 * VM's first vCPU starts counting from 0 and later ones join its offset, as
 * KVM's kvm_arch_vcpu_postcreate writes 0 through kvm_synchronize_tsc.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "x86/msr.h"

u64 x86_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

#define host_ns x86_clock_ns

/*
 * Deterministic mode (SOFTKVM_DETERMINISTIC=1): a VM's time is its own
 * virtual clock, advanced by X86_DET_NS_PER_INSN for every instruction its
 * vCPUs retire (cpu->vclock, shared by the VM's vCPUs), so the TSC,
 * kvmclock and the in-kernel timers give the same values at the same
 * instruction in every run of the same single-vCPU guest.
 */
bool x86_deterministic(void)
{
	static int det = -1;
	int d = __atomic_load_n(&det, __ATOMIC_RELAXED);
	if (d < 0) {
		const char *s = getenv("SOFTKVM_DETERMINISTIC");
		d = s && *s && strcmp(s, "0") != 0;
		__atomic_store_n(&det, d, __ATOMIC_RELAXED);
	}
	return d;
}

u64 x86_cpu_clock_ns(const struct x86_cpu *cpu)
{
	return cpu->vclock ? atomic_load_explicit(cpu->vclock, memory_order_relaxed) : host_ns();
}

static u64 scaled(const struct x86_cpu *cpu, u64 ns)
{
	return (u64)((unsigned __int128)ns * cpu->tsc_khz / 1000000U);
}

static u64 scaled_now(const struct x86_cpu *cpu)
{
	return scaled(cpu, x86_cpu_clock_ns(cpu));
}

u64 x86_tsc_at(const struct x86_cpu *cpu, u64 ns)
{
	return scaled(cpu, ns) + cpu->msr.tsc_offset;
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
 * A VMM writes IA32_TSC on each vCPU in turn, microseconds apart; a guest
 * that saw those microseconds as skew between CPUs would call its TSC
 * unstable.  KVM (kvm_synchronize_tsc) therefore treats a write of 0, or one
 * within a second of where the last write's value has got to by now, as
 * meant to be in sync, and gives that vCPU the offset of the last
 * unmatched write.
 */
struct x86_tsc_sync {
	pthread_mutex_t lock;
	int refs;
	bool user_set;	 /* the VMM has written a TSC */
	u64 cur_offset;	 /* offset of the current generation of matched writes */
	u64 last_write, last_ns;
	u64 last_khz;
};

int x86_tsc_sync_get(struct x86_cpu *cpu, const struct x86_cpu *peer)
{
	struct x86_tsc_sync *s = peer ? peer->tsc_sync : NULL;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		pthread_mutex_init(&s->lock, NULL);
	}
	pthread_mutex_lock(&s->lock);
	s->refs++;
	pthread_mutex_unlock(&s->lock);
	cpu->tsc_sync = s;
	return 0;
}

void x86_tsc_sync_put(struct x86_cpu *cpu)
{
	struct x86_tsc_sync *s = cpu->tsc_sync;
	if (!s)
		return;
	cpu->tsc_sync = NULL;
	pthread_mutex_lock(&s->lock);
	int left = --s->refs;
	pthread_mutex_unlock(&s->lock);
	if (!left) {
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
}

static void tsc_sync_write(struct x86_cpu *cpu, u64 val, bool user)
{
	struct x86_tsc_sync *s = cpu->tsc_sync;
	if (!s) {
		x86_tsc_write(cpu, val);
		return;
	}
	pthread_mutex_lock(&s->lock);
	u64 ns = x86_cpu_clock_ns(cpu);
	bool sync = val == 0;
	if (!sync && s->user_set) {
		u64 expect = s->last_write +
			     (u64)((unsigned __int128)(ns - s->last_ns) * cpu->tsc_khz / 1000000U);
		u64 hz = cpu->tsc_khz * 1000;
		sync = val < expect + hz && val + hz > expect;
	}
	s->user_set |= user;
	if (sync && cpu->tsc_khz == s->last_khz) {
		cpu->msr.tsc_offset = s->cur_offset;
	} else {
		cpu->msr.tsc_offset = val - (u64)((unsigned __int128)ns * cpu->tsc_khz / 1000000U);
		s->cur_offset = cpu->msr.tsc_offset;
	}
	s->last_write = val;
	s->last_ns = ns;
	s->last_khz = cpu->tsc_khz;
	pthread_mutex_unlock(&s->lock);
}

void x86_tsc_host_write(struct x86_cpu *cpu, u64 val)
{
	tsc_sync_write(cpu, val, true);
}

/* The first vCPU's write is unmatched (no rate recorded yet): its TSC
 * starts at 0; a later one at the same rate takes the same offset. */
void x86_tsc_vcpu_created(struct x86_cpu *cpu)
{
	tsc_sync_write(cpu, 0, false);
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
