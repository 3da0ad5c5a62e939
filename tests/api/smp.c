/*
 * SMP with the in-kernel LAPICs (SDM Vol. 3A 8.4 and 11.6; KVM API 4.38
 * MP state): four vCPUs, each on its own thread.  The APs wait in
 * UNINITIALIZED until the BSP's INIT and SIPI (x2APIC ICR, all excluding
 * self) start them in real mode at vector << 12; each AP counts itself
 * with LOCK XADD and sends the BSP a fixed IPI, which the BSP takes while
 * it sleeps in HLT.  Then the BSP sends an NMI to every AP.
 */
#include <pthread.h>
#include <signal.h>

#include "t_irq.h"

#define NR 4
#define AP_CODE 0x2000 /* SIPI vector 2 */

extern const unsigned char b_start[], b_end[], a_start[], a_end[];
__asm__(".pushsection .rodata\n"
	".code16\n"
	"b_start:\n"
	"	cli\n"
	/* vectors 0x41-0x43, one per AP (one vector would coalesce in IRR) */
	"	movw $(bh - b_start + 0x1000), 0x104\n"
	"	movw $0, 0x106\n"
	"	movw $(bh - b_start + 0x1000), 0x108\n"
	"	movw $0, 0x10a\n"
	"	movw $(bh - b_start + 0x1000), 0x10c\n"
	"	movw $0, 0x10e\n"
	T_IRQ_X2APIC_ON
	"	mov $0x830, %ecx\n"
	"	mov $0xc4500, %eax\n" /* INIT, assert, all excluding self */
	"	wrmsr\n"
	"	mov $0xc0602, %eax\n" /* SIPI, vector 2 */
	"	wrmsr\n"
	"	sti\n"
	"1:	hlt\n"
	"	cmpb $3, 0x500\n"
	"	jb 1b\n"
	"	cli\n"
	"	mov 0x500, %al\n"
	"	out %al, $0x11\n"
	"	mov $0x830, %ecx\n"
	"	mov $0xc0400, %eax\n" /* NMI to all excluding self */
	"	xor %edx, %edx\n"
	"	wrmsr\n"
	"	out %al, $0x12\n"
	"	jmp .\n"
	T_IRQ_HANDLER
	"bh:	t_handler 0x500\n"
	"b_end:\n"
	/* the APs, at 0x200:0 */
	"a_start:\n"
	"	mov $0x7000, %sp\n" /* a stack per AP: 0x7000 - 256 * (lock xadd order) */
	"	mov $0x100, %ax\n"
	"	lock xadd %ax, 0x602\n"
	"	sub %ax, %sp\n"
	"	movw $(a_nmi - a_start), 0x08\n" /* IVT entry 2: NMI */
	"	movw $0x200, 0x0a\n"
	T_IRQ_X2APIC_ON
	"	mov $1, %ax\n"
	"	lock xadd %ax, 0x600\n"
	"	mov $0x802, %ecx\n"
	"	rdmsr\n"
	"	mov %eax, %ebx\n"
	"	mov $0x830, %ecx\n"
	"	mov $0x4040, %eax\n" /* fixed, vector 0x40 + ID, to APIC ID 0 */
	"	or %ebx, %eax\n"
	"	xor %edx, %edx\n"
	"	wrmsr\n"
	"	mov %bl, %al\n"
	"	out %al, $0xe0\n"
	"	sti\n"
	"2:	hlt\n"
	"	jmp 2b\n"
	"a_nmi:	mov %bl, %al\n"
	"	out %al, $0xe1\n"
	"	iret\n"
	"a_end:\n"
	".code64\n"
	".popsection\n");

static int kvm;
static struct t_irq_vm v;
static int fds[NR];
static struct kvm_run *runs[NR];
static int seen[NR][2]; /* AP i reported on port 0xe0 / 0xe1 */
static int mp_before[NR];
static int eagain[NR];

static void on_alarm(int sig)
{
	(void)sig;
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "Bail out! timeout: 0x500=%u 0x600=%u seen %d/%d %d/%d %d/%d\n",
			 v.ram[0x500], v.ram[0x600], seen[1][0], seen[1][1], seen[2][0],
			 seen[2][1], seen[3][0], seen[3][1]);
	if (write(1, buf, (size_t)n) < 0)
		_exit(2);
	_exit(1);
}

static void *ap_thread(void *arg)
{
	int i = (int)(long)arg;
	struct kvm_run *run = runs[i];
	for (int n = 0; n < 100000; n++) {
		int r = ioctl(fds[i], KVM_RUN, 0);
		if (r < 0 && errno == EAGAIN) {
			/* an AP before INIT/SIPI: KVM_RUN waits, then asks again */
			eagain[i]++;
			continue;
		}
		if (r < 0 || run->exit_reason != KVM_EXIT_IO)
			return NULL;
		unsigned char al = *((unsigned char *)run + run->io.data_offset);
		if (run->io.port == 0xe0 || run->io.port == 0xe1)
			seen[i][run->io.port - 0xe0] = al;
		/* the NMI may come before the AP's report: wait for both */
		if (seen[i][0] && seen[i][1])
			return NULL;
	}
	return NULL;
}

int main(void)
{
	kvm = t_open_kvm();
	v = t_irq_vm(kvm);
	fds[0] = t_irq_vcpu(kvm, &v, 0, b_start, (size_t)(b_end - b_start));
	runs[0] = v.run;
	t_irq_x2apic(kvm, fds[0]);
	memcpy(v.ram + AP_CODE, a_start, (size_t)(a_end - a_start));
	for (int i = 1; i < NR; i++) {
		fds[i] = t_create_vcpu(v.vm, i);
		runs[i] = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE,
			       MAP_SHARED, fds[i], 0);
		t_irq_x2apic(kvm, fds[i]);
		struct kvm_mp_state mp;
		ioctl(fds[i], KVM_GET_MP_STATE, &mp);
		mp_before[i] = (int)mp.mp_state;
	}
	T_EQ(mp_before[1], KVM_MP_STATE_UNINITIALIZED, "AP 1 UNINITIALIZED before SIPI");
	T_EQ(mp_before[3], KVM_MP_STATE_UNINITIALIZED, "AP 3 UNINITIALIZED before SIPI");
	signal(SIGALRM, on_alarm);
	alarm(30);
	pthread_t th[NR];
	for (int i = 1; i < NR; i++)
		pthread_create(&th[i], NULL, ap_thread, (void *)(long)i);

	struct kvm_run *run = runs[0];
	int ipis = -1;
	for (int n = 0; n < 10; n++) {
		if (ioctl(fds[0], KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) {
			T_OK(0, "BSP: unexpected exit %u (errno %d)", run->exit_reason, errno);
			break;
		}
		if (run->io.port == 0x11)
			ipis = *((unsigned char *)run + run->io.data_offset);
		if (run->io.port == 0x12)
			break;
	}
	T_EQ(ipis, NR - 1, "BSP took one fixed IPI from each AP (asleep in HLT)");
	for (int i = 1; i < NR; i++)
		pthread_join(th[i], NULL);
	unsigned short cnt;
	memcpy(&cnt, v.ram + 0x600, 2);
	T_EQ(cnt, NR - 1, "LOCK XADD counted every AP once");
	for (int i = 1; i < NR; i++) {
		T_EQ(seen[i][0], i, "AP %d started by SIPI and read its x2APIC ID", i);
		T_EQ(seen[i][1], i, "AP %d took the BSP's NMI", i);
	}
	struct kvm_mp_state mp;
	ioctl(fds[1], KVM_GET_MP_STATE, &mp);
	T_EQ(mp.mp_state, KVM_MP_STATE_RUNNABLE, "AP 1 RUNNABLE after SIPI");
	T_OK(eagain[1] >= 1, "KVM_RUN of an UNINITIALIZED AP fails with EAGAIN");
	return t_done();
}
