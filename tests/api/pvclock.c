/* kvmclock and steal time (Documentation/virt/kvm/x86/msr.rst),
 * KVM_GET/SET_CLOCK and KVM_KVMCLOCK_CTRL (KVM API 4.46, 4.47, 4.75), the
 * KVM hypercalls and KVM_CAP_ENFORCE_PV_FEATURE_CPUID.  A real-mode guest enables its
 * pvclock and wall clock and reads its TSC; the test reads the records the
 * way a guest does (version protocol, TSC scale) and compares the guest's
 * kvmclock with KVM_GET_CLOCK before and after the run. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <linux/kvm_para.h>

#include "t_vm.h"

#define RAM 0x10000
#define PVTI 0x2000
#define WALL 0x3000
#define TSC_OUT 0x4000
#define GP_HANDLER 0x1300
#define STEAL 0x5000

struct pvti {
	unsigned version, pad0;
	unsigned long long tsc_timestamp, system_time;
	unsigned mul;
	signed char shift;
	unsigned char flags, pad[2];
} __attribute__((packed));

struct wall {
	unsigned version, sec, nsec;
} __attribute__((packed));

static int kvm, vm, vcpu;
static struct kvm_run *run;
static unsigned char *ram;

/* 0x1000: enable the pvclock at PVTI and the wall clock at WALL (new MSRs);
 * 0x101f: RDTSC to TSC_OUT, OUT 0x10, HLT. */
static const unsigned char code_clock[] = {
	0x66, 0xb9, 0x01, 0x4d, 0x56, 0x4b, /* mov ecx, MSR_KVM_SYSTEM_TIME_NEW */
	0x66, 0xb8, 0x01, 0x20, 0, 0,	    /* mov eax, PVTI | 1 */
	0x66, 0x31, 0xd2,		    /* xor edx, edx */
	0x0f, 0x30,			    /* wrmsr */
	0x66, 0xb9, 0x00, 0x4d, 0x56, 0x4b, /* mov ecx, MSR_KVM_WALL_CLOCK_NEW */
	0x66, 0xb8, 0x00, 0x30, 0, 0,	    /* mov eax, WALL */
	0x0f, 0x30,			    /* wrmsr */
	0x0f, 0x31,			    /* 0x101f: rdtsc */
	0x66, 0xa3, 0x00, 0x40,		    /* mov [0x4000], eax */
	0x66, 0x89, 0x16, 0x04, 0x40,	    /* mov [0x4004], edx */
	0xe6, 0x10,			    /* out 0x10, al */
	0xf4,
};
#define READ_TSC 0x101f

/* 0x1100: VMMCALL (this test runs the host vendor's form) with RAX = nr,
 * OUT 0x12 EAX, HLT. */
static void load_hypercall(unsigned nr, int intel)
{
	unsigned char c[] = {0x66, 0xb8, 0, 0, 0, 0, 0x0f, 0x01, intel ? 0xc1 : 0xd9,
			     0x66, 0xe7, 0x12, 0xf4};
	memcpy(c + 2, &nr, 4);
	memcpy(ram + 0x1100, c, sizeof(c));
}

/* 0x1200: RDMSR MSR_KVM_SYSTEM_TIME_NEW, OUT 0x10; #GP: OUT 0x11. */
static const unsigned char code_rdmsr[] = {
	0x66, 0xb9, 0x01, 0x4d, 0x56, 0x4b, 0x0f, 0x32, 0xe6, 0x10, 0xf4};

/* 0x1400: WRMSR MSR_KVM_STEAL_TIME = STEAL | enable, OUT 0x10, HLT;
 * 0x1411: OUT 0x10, HLT (one more guest entry). */
static const unsigned char code_steal[] = {
	0x66, 0xb9, 0x03, 0x4d, 0x56, 0x4b, /* mov ecx, MSR_KVM_STEAL_TIME */
	0x66, 0xb8, 0x01, 0x50, 0, 0,	    /* mov eax, STEAL | 1 */
	0x66, 0x31, 0xd2,		    /* xor edx, edx */
	0x0f, 0x30,			    /* wrmsr */
	0xe6, 0x10, 0xf4,		    /* 0x1411: out 0x10, al; hlt */
};
#define STEAL_AGAIN 0x1411

static int go(unsigned ip)
{
	return t_run_port(vcpu, run, ip);
}

static unsigned io_u32(void)
{
	unsigned v;
	memcpy(&v, (unsigned char *)run + run->io.data_offset, 4);
	return v;
}

static int get_clock(struct kvm_clock_data *d)
{
	memset(d, 0, sizeof(*d));
	return ioctl(vm, KVM_GET_CLOCK, d);
}

static int set_clock(unsigned long long clock, unsigned flags, unsigned long long realtime)
{
	struct kvm_clock_data d;
	memset(&d, 0, sizeof(d));
	d.clock = clock;
	d.flags = flags;
	d.realtime = realtime;
	return ioctl(vm, KVM_SET_CLOCK, &d);
}

static unsigned long long realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* What a guest computes: pvclock_read_cycles. */
static unsigned long long pv_read(const struct pvti *p, unsigned long long tsc)
{
	unsigned long long d = tsc - p->tsc_timestamp;
	d = p->shift < 0 ? d >> -p->shift : d << p->shift;
	return p->system_time + (unsigned long long)(((unsigned __int128)d * p->mul) >> 32);
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, unsigned fn)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn)
			return &c->entries[i];
	return NULL;
}

/* The dirty pages of the slot (16 pages) since the last call. */
static unsigned dirty(void)
{
	unsigned long long bits[2] = {0};
	struct kvm_dirty_log l = {.slot = 0, .dirty_bitmap = bits};
	if (ioctl(vm, KVM_GET_DIRTY_LOG, &l))
		return ~0u;
	return (unsigned)bits[0];
}

/* One guest read of the kvmclock between two KVM_GET_CLOCKs. */
static void check_read(const char *what, unsigned ip)
{
	struct kvm_clock_data c0, c1;
	char d[128];
	get_clock(&c0);
	int port = go(ip);
	get_clock(&c1);
	snprintf(d, sizeof(d), "%s: the guest ran", what);
	T_EQ(port, 0x10, "%s", d);
	struct pvti p;
	memcpy(&p, ram + PVTI, sizeof(p));
	unsigned long long tsc;
	memcpy(&tsc, ram + TSC_OUT, 8);
	unsigned long long ns = pv_read(&p, tsc);
	snprintf(d, sizeof(d), "%s: version even", what);
	T_OK(p.version && !(p.version & 1), "%s", d);
	snprintf(d, sizeof(d), "%s: PVCLOCK_TSC_STABLE_BIT", what);
	T_OK(p.flags & 1, "%s", d);
	snprintf(d, sizeof(d), "%s: guest kvmclock within KVM_GET_CLOCK before/after", what);
	if (!T_OK(c0.clock <= ns && ns <= c1.clock, "%s", d))
		printf("#   %llu <= %llu <= %llu\n", c0.clock, ns, c1.clock);
}

/* The calling thread's run delay, ns (schedstat's second field), or -1. */
static long long run_delay(void)
{
	char path[64];
	long long on, delay = -1;
	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", gettid());
	FILE *f = fopen(path, "r");
	if (f && fscanf(f, "%lld %lld", &on, &delay) != 2)
		delay = -1;
	if (f)
		fclose(f);
	return delay;
}

static void *spin(void *arg)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000LL + t.tv_nsec - t0.tv_nsec <
	       *(volatile long long *)arg);
	return NULL;
}

/* Steal time: the record a guest enables, then time the test's thread
 * waits for the CPU (a spinning thread on the same CPU) is reported at the
 * next entry, no more than the thread's run delay. */
static void check_steal(const struct kvm_cpuid_entry2 *f)
{
	if (!T_OK(f && (f->eax & 1u << KVM_FEATURE_STEAL_TIME),
		  "supported 0x40000001: KVM_FEATURE_STEAL_TIME")) {
		return;
	}
	unsigned long long v;
	T_EQ(t_msr_set(vcpu, MSR_KVM_STEAL_TIME, STEAL | 2), 0,
	     "MSR_KVM_STEAL_TIME: a reserved bit fails KVM_SET_MSRS");
	struct kvm_steal_time st;
	memset(ram + STEAL, 0xff, sizeof(st));
	((struct kvm_steal_time *)(ram + STEAL))->steal = 0;
	((struct kvm_steal_time *)(ram + STEAL))->flags = 0;
	dirty();
	T_EQ(go(0x1400), 0x10, "steal time: the guest enables it");
	T_OK(dirty() & 1u << (STEAL >> 12), "the steal-time page is dirty-logged");
	memcpy(&st, ram + STEAL, sizeof(st));
	T_OK(st.version && !(st.version & 1), "steal time: version even (was junk)");
	T_EQ(st.preempted, 0, "steal time: preempted cleared");
	T_EQ(st.flags, 0, "steal time: flags untouched");
	T_EQ(t_msr_get(vcpu, MSR_KVM_STEAL_TIME, &v), 1, "KVM_GET_MSRS MSR_KVM_STEAL_TIME");
	T_EQ(v, STEAL | 1, "MSR_KVM_STEAL_TIME reads back");

	cpu_set_t one, saved;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_getaffinity(0, sizeof(saved), &saved);
	sched_setaffinity(0, sizeof(one), &one);
	long long dpre = run_delay();
	T_EQ(go(STEAL_AGAIN), 0x10, "steal time: entry before the wait");
	unsigned long long s0 = ((struct kvm_steal_time *)(ram + STEAL))->steal;
	unsigned v0 = ((struct kvm_steal_time *)(ram + STEAL))->version;
	long long d0 = run_delay(), want = 20000000; /* 20 ms of waiting */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
	pthread_t th;
	long long spin_ns = 2000000000LL;
	pthread_create(&th, &attr, spin, &spin_ns);
	pthread_attr_destroy(&attr);
	while (d0 >= 0 && run_delay() - d0 < want)
		sched_yield();
	long long d1 = run_delay();
	T_EQ(go(STEAL_AGAIN), 0x10, "steal time: entry after the wait");
	long long d2 = run_delay();
	*(volatile long long *)&spin_ns = 0;
	pthread_join(th, NULL);
	sched_setaffinity(0, sizeof(saved), &saved);
	memcpy(&st, ram + STEAL, sizeof(st));
	T_OK(st.version > v0 && !(st.version & 1), "steal time: the version grows, even");
	long long got = (long long)(st.steal - s0);
	if (!T_OK(d0 >= 0 && got >= d1 - d0 && got <= d2 - dpre,
		  "steal time: the thread's wait is reported"))
		printf("#   %lld <= %lld <= %lld\n", d1 - d0, got, d2 - dpre);
}

int main(void)
{
	kvm = t_open_kvm();
	vm = t_create_vm(kvm);
	ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED ||
	    t_set_region(vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, RAM, (unsigned long)ram))
		T_BAIL("guest memory");
	memcpy(ram + 0x1000, code_clock, sizeof(code_clock));
	memcpy(ram + 0x1200, code_rdmsr, sizeof(code_rdmsr));
	memcpy(ram + 0x1400, code_steal, sizeof(code_steal));
	ram[GP_HANDLER] = 0xe6, ram[GP_HANDLER + 1] = 0x11, ram[GP_HANDLER + 2] = 0xf4;
	ram[13 * 4] = GP_HANDLER & 0xff, ram[13 * 4 + 1] = GP_HANDLER >> 8;
	vcpu = t_create_vcpu(vm, 0);
	run = t_map_run(kvm, vcpu);

	int adj = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK);
	T_EQ(adj & (KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC),
	     KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC, "KVM_CAP_ADJUST_CLOCK: REALTIME, HOST_TSC");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_KVMCLOCK_CTRL), 1, "KVM_CAP_KVMCLOCK_CTRL");
	T_EQ(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ENFORCE_PV_FEATURE_CPUID), 1,
	     "KVM_CAP_ENFORCE_PV_FEATURE_CPUID");

	struct kvm_cpuid2 *sup = calloc(1, sizeof(*sup) + 256 * sizeof(struct kvm_cpuid_entry2));
	sup->nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, sup))
		T_BAIL("KVM_GET_SUPPORTED_CPUID");
	struct kvm_cpuid_entry2 *f = find(sup, KVM_CPUID_FEATURES);
	unsigned want = 1u << KVM_FEATURE_CLOCKSOURCE | 1u << KVM_FEATURE_CLOCKSOURCE2 |
			1u << KVM_FEATURE_CLOCKSOURCE_STABLE_BIT;
	T_OK(f && (f->eax & want) == want, "supported 0x40000001: kvmclock and its stable bit");
	struct kvm_cpuid_entry2 *leaf0 = find(sup, 0);
	int intel = leaf0 && leaf0->ebx == 0x756e6547; /* "Genu" */

	/* KVM_GET_CLOCK / KVM_SET_CLOCK */
	struct kvm_clock_data a, b;
	T_EQ(get_clock(&a), 0, "KVM_GET_CLOCK");
	T_EQ(a.flags & (KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC),
	     KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC, "KVM_GET_CLOCK flags: REALTIME, HOST_TSC");
	T_OK(a.clock < 60ULL * 1000000000ULL, "a new VM's kvmclock starts near 0");
	unsigned long long rt = realtime_ns();
	T_OK(a.realtime <= rt && rt - a.realtime < 1000000000ULL, "KVM_GET_CLOCK realtime is now");
	get_clock(&b);
	T_OK(b.clock >= a.clock, "kvmclock is monotonic");
	T_ERR(set_clock(0, 1, 0), EINVAL, "KVM_SET_CLOCK: flag bit 0 is EINVAL");
	T_ERR(ioctl(vm, KVM_SET_CLOCK, (void *)8), EFAULT, "KVM_SET_CLOCK: bad pointer");
	T_ERR(ioctl(vm, KVM_GET_CLOCK, (void *)8), EFAULT, "KVM_GET_CLOCK: bad pointer");
	const unsigned long long base = 1000ULL * 1000000000ULL;
	T_EQ(set_clock(base, KVM_CLOCK_TSC_STABLE | KVM_CLOCK_HOST_TSC, 0), 0,
	     "KVM_SET_CLOCK ignores TSC_STABLE and HOST_TSC");
	get_clock(&b);
	T_OK(b.clock >= base && b.clock - base < 1000000000ULL, "KVM_SET_CLOCK: the clock goes on from there");
	T_EQ(set_clock(base, KVM_CLOCK_REALTIME, realtime_ns() - 5000000000ULL), 0,
	     "KVM_SET_CLOCK with KVM_CLOCK_REALTIME 5 s ago");
	get_clock(&b);
	T_OK(b.clock >= base + 5000000000ULL && b.clock < base + 6000000000ULL,
	     "KVM_CLOCK_REALTIME: the 5 s since are added");
	T_EQ(set_clock(base, KVM_CLOCK_REALTIME, realtime_ns() + 5000000000ULL), 0,
	     "KVM_SET_CLOCK with KVM_CLOCK_REALTIME in the future");
	get_clock(&b);
	T_OK(b.clock >= base && b.clock < base + 1000000000ULL, "a future realtime is not subtracted");
	T_ERR(ioctl(vcpu, KVM_KVMCLOCK_CTRL, 0), EINVAL, "KVM_KVMCLOCK_CTRL before the guest's pvclock");

	/* The guest enables its pvclock and wall clock. */
	dirty();
	check_read("first read", 0x1000);
	unsigned pages = dirty();
	T_OK(pages & 1u << (PVTI >> 12), "the pvclock page is dirty-logged");
	T_OK(pages & 1u << (WALL >> 12), "the wall-clock page is dirty-logged");
	struct pvti p0;
	memcpy(&p0, ram + PVTI, sizeof(p0));
	struct wall w;
	memcpy(&w, ram + WALL, sizeof(w));
	T_OK(w.version && !(w.version & 1), "wall clock: version even");
	get_clock(&b);
	rt = realtime_ns();
	unsigned long long wall = w.sec * 1000000000ULL + w.nsec + b.clock;
	T_OK(wall <= rt + 1000000ULL && rt - wall < 1000000000ULL,
	     "wall clock + kvmclock = host realtime");
	T_OK(w.nsec < 1000000000U, "wall clock: nsec below 1 s");
	unsigned long long v;
	T_EQ(t_msr_get(vcpu, MSR_KVM_SYSTEM_TIME_NEW, &v), 1, "KVM_GET_MSRS SYSTEM_TIME_NEW");
	T_EQ(v, PVTI | 1, "SYSTEM_TIME_NEW reads back");
	T_EQ(t_msr_get(vcpu, MSR_KVM_WALL_CLOCK_NEW, &v), 1, "KVM_GET_MSRS WALL_CLOCK_NEW");
	T_EQ(v, WALL, "WALL_CLOCK_NEW reads back");

	check_read("second read", READ_TSC);
	/* KVM_SET_CLOCK moves the guest's kvmclock too. */
	T_EQ(set_clock(50 * base, 0, 0), 0, "KVM_SET_CLOCK forward");
	check_read("after KVM_SET_CLOCK forward", READ_TSC);
	T_EQ(set_clock(base, 0, 0), 0, "KVM_SET_CLOCK back");
	check_read("after KVM_SET_CLOCK back", READ_TSC);
	struct pvti p1;
	memcpy(&p1, ram + PVTI, sizeof(p1));
	T_OK(p1.version > p0.version, "the version grows with each update");
	/* The VMM writes the guest TSC: the record follows. */
	T_EQ(t_msr_set(vcpu, 0x10, 1ULL << 40), 1, "KVM_SET_MSRS IA32_TSC");
	check_read("after a TSC write", READ_TSC);

	check_steal(find(sup, KVM_CPUID_FEATURES));

	/* KVM_KVMCLOCK_CTRL: PVCLOCK_GUEST_STOPPED at the next entry. */
	T_EQ(ioctl(vcpu, KVM_KVMCLOCK_CTRL, 0), 0, "KVM_KVMCLOCK_CTRL");
	T_EQ(go(READ_TSC), 0x10, "guest after KVMCLOCK_CTRL");
	memcpy(&p1, ram + PVTI, sizeof(p1));
	T_OK(p1.flags & 2, "PVCLOCK_GUEST_STOPPED set");

	/* Hypercalls: yield and poll succeed, an unknown number is ENOSYS.
	 * (A backend that refuses the first one is not asked again: the PVM
	 * host #GPs on VMMCALL in real mode, then spins on the next.) */
	load_hypercall(KVM_HC_SCHED_YIELD, intel);
	int hc = go(0x1100);
	T_EQ(hc, 0x12, "KVM_HC_SCHED_YIELD: the guest goes on");
	T_EQ(io_u32(), 0, "KVM_HC_SCHED_YIELD returns 0");
	if (hc == 0x12) {
		load_hypercall(KVM_HC_VAPIC_POLL_IRQ, intel);
		T_EQ(go(0x1100), 0x12, "KVM_HC_VAPIC_POLL_IRQ: the guest goes on");
		T_EQ(io_u32(), 0, "KVM_HC_VAPIC_POLL_IRQ returns 0");
		load_hypercall(99, intel);
		T_EQ(go(0x1100), 0x12, "hypercall 99: the guest goes on");
		T_EQ(io_u32(), (unsigned)-KVM_ENOSYS,
		     "hypercall 99 returns -KVM_ENOSYS");
	}

	/* ENFORCE_PV_FEATURE_CPUID, on more vCPUs: the features are those of
	 * the KVM leaf of the vCPU's CPUID (none without KVM_SET_CPUID2). */
	int v0 = vcpu;
	struct kvm_run *r0 = run;
	struct kvm_enable_cap cap = {.cap = KVM_CAP_ENFORCE_PV_FEATURE_CPUID, .args = {1}};
	for (int id = 1; id <= 3; id++) {
		/* 1: no CPUID set; 2: KVM leaf without features; 3: supported */
		vcpu = t_create_vcpu(vm, id);
		run = t_map_run(kvm, vcpu);
		T_EQ(ioctl(vcpu, KVM_ENABLE_CAP, &cap), 0, "vCPU %d: enable ENFORCE_PV_FEATURE_CPUID", id);
		f = find(sup, KVM_CPUID_FEATURES);
		unsigned saved = f ? f->eax : 0;
		if (f && id == 2)
			f->eax = 0;
		if (id > 1 && ioctl(vcpu, KVM_SET_CPUID2, sup))
			T_BAIL("KVM_SET_CPUID2");
		if (f)
			f->eax = saved;
		int hidden = id < 3;
		T_EQ(go(0x1200), hidden ? 0x11 : 0x10, "vCPU %d: RDMSR kvmclock %s", id,
		     hidden ? "#GP" : "works");
		T_EQ(t_msr_get(vcpu, MSR_KVM_SYSTEM_TIME_NEW, &v), 1, "vCPU %d: the VMM reads it", id);
		T_EQ(v, 0, "vCPU %d: the VMM reads 0", id);
		T_EQ(t_msr_set(vcpu, MSR_KVM_SYSTEM_TIME_NEW, 0), 1, "vCPU %d: the VMM writes 0", id);
		T_EQ(t_msr_set(vcpu, MSR_KVM_SYSTEM_TIME_NEW, PVTI | 1), !hidden,
		     "vCPU %d: the VMM enables kvmclock only when offered", id);
		load_hypercall(KVM_HC_SCHED_YIELD, intel);
		if (hc == 0x12) {
			T_EQ(go(0x1100), 0x12, "vCPU %d: yield: the guest goes on", id);
			T_EQ(io_u32(), hidden ? (unsigned)-KVM_ENOSYS : 0,
			     "vCPU %d: yield returns %s", id, hidden ? "-KVM_ENOSYS" : "0");
		}
		if (id == 1) {
			cap.flags = 1;
			T_ERR(ioctl(vcpu, KVM_ENABLE_CAP, &cap), EINVAL,
			      "vCPU KVM_ENABLE_CAP: flags must be 0");
			cap.flags = 0;
			cap.args[0] = 0;
			T_EQ(ioctl(vcpu, KVM_ENABLE_CAP, &cap), 0, "disable ENFORCE_PV_FEATURE_CPUID");
			T_EQ(go(0x1200), 0x10, "not enforced: RDMSR works again");
			cap.args[0] = 1;
		}
		close(vcpu);
	}
	vcpu = v0, run = r0;

	close(vcpu);
	close(vm);
	close(kvm);
	free(sup);
	return t_done();
}
