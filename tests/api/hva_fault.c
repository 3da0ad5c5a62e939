/*
 * A memslot whose host memory cannot be accessed (KVM API 4.35: the VMM
 * keeps userspace_addr mapped; KVM faults it in through get_user_pages).
 * When that fails KVM_RUN returns -1/EFAULT and the VMM lives on; once the
 * host mapping is fixed the guest continues.  The VMM's own SIGSEGV
 * handler must still see the VMM's own faults.
 */
#include "t_vm.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>

#define CODE 0x1000
#define DATA_GPA 0x10000

static sigjmp_buf own_jb;
static volatile sig_atomic_t own_faults;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si, (void)uc;
	own_faults++;
	siglongjmp(own_jb, 1);
}

/* In a process without its own SIGSEGV handler, a VMM bug (its own access
 * to the slot's PROT_NONE memory) still kills it with SIGSEGV after a
 * KVM_RUN. */
static void test_default_action(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* SIG_DFL even where a sanitizer runtime installed its own */
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		sigemptyset(&dfl.sa_mask);
		sigaction(SIGSEGV, &dfl, NULL);
		int kvm = open("/dev/kvm", O_RDWR), vm = ioctl(kvm, KVM_CREATE_VM, 0);
		unsigned char *ram = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
					  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		unsigned char *data = mmap(NULL, 0x1000, PROT_NONE,
					   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		t_set_region(vm, 0, 0, 0, 0x10000, (unsigned long)ram);
		t_set_region(vm, 1, 0, DATA_GPA, 0x1000, (unsigned long)data);
		int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
		ram[CODE] = 0xf4; /* hlt */
		t_real_mode(vcpu, CODE, 0);
		if (ioctl(vcpu, KVM_RUN, 0))
			_exit(2);
		(void)*(volatile unsigned char *)data;
		_exit(3);
	}
	int st = 0;
	T_EQ(waitpid(pid, &st, 0), pid, "child reaped");
	T_OK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
	     "the VMM's own fault after KVM_RUN takes the default action (status %#x)", st);
}

int main(void)
{
	test_default_action();
	int kvm = t_open_kvm(), vm = t_create_vm(kvm);
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);

	unsigned char *ram = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *data = mmap(NULL, 0x1000, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED || data == MAP_FAILED)
		T_BAIL("mmap");
	if (t_set_region(vm, 0, 0, 0, 0x10000, (unsigned long)ram) ||
	    t_set_region(vm, 1, 0, DATA_GPA, 0x1000, (unsigned long)data))
		T_BAIL("memslot");
	int vcpu = t_create_vcpu(vm, 0);
	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		T_BAIL("mmap kvm_run");
	/* ES = 0x1000: ES:0 is DATA_GPA */
	static const unsigned char code[] = {
		0x26, 0x8b, 0x06, 0x00, 0x00, /* 1000 mov ax, es:[0] */
		0xe6, 0x10,		      /* 1005 out 0x10, al */
		0xb8, 0x34, 0x12,	      /* 1007 mov ax, 0x1234 */
		0x26, 0x89, 0x06, 0x02, 0x00, /* 100a mov es:[2], ax */
		0xe6, 0x11,		      /* 100f out 0x11, al */
		0xf4,			      /* 1011 hlt */
	};
	memcpy(ram + CODE, code, sizeof(code));
	if (t_real_mode(vcpu, CODE, DATA_GPA >> 4))
		T_BAIL("real mode");

	/* guest read of PROT_NONE host memory */
	T_ERR(ioctl(vcpu, KVM_RUN, 0), EFAULT, "read of a PROT_NONE slot: KVM_RUN EFAULT");
	T_OBS("prot_none_read_exit_reason", "%u", run->exit_reason);
	struct kvm_regs r;
	T_EQ(ioctl(vcpu, KVM_GET_REGS, &r), 0, "GET_REGS after EFAULT");
	T_EQ(r.rip, CODE, "RIP stays on the faulting instruction");
	T_EQ(own_faults, 0, "the VMM's SIGSEGV handler did not run");

	/* the VMM's own faults still reach its handler */
	if (!sigsetjmp(own_jb, 1))
		(void)*(volatile unsigned char *)data;
	T_EQ(own_faults, 1, "the VMM's own fault reaches its SIGSEGV handler");
	if (!sigsetjmp(own_jb, 1))
		(void)*(volatile unsigned char *)data;
	T_EQ(own_faults, 2, "and again (handler and mask intact)");

	/* fixed mapping: the guest continues from the same instruction */
	mprotect(data, 0x1000, PROT_READ | PROT_WRITE);
	data[0] = 0x5a;
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "KVM_RUN after mprotect");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "read completes: OUT exit");
	T_EQ(run->io.port, 0x10, "OUT port 0x10");
	T_EQ(*((unsigned char *)run + run->io.data_offset), 0x5a, "the byte read");

	/* guest write to a read-only host mapping of a writable slot */
	mprotect(data, 0x1000, PROT_READ);
	T_ERR(ioctl(vcpu, KVM_RUN, 0), EFAULT, "write to a PROT_READ mapping: KVM_RUN EFAULT");
	T_EQ(ioctl(vcpu, KVM_GET_REGS, &r), 0, "GET_REGS after EFAULT");
	T_EQ(r.rip, CODE + 0xa, "RIP stays on the faulting write");
	T_EQ(r.rax & 0xffff, 0x1234, "state before the write is kept");
	T_EQ(data[2], 0, "nothing written");
	mprotect(data, 0x1000, PROT_READ | PROT_WRITE);
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "KVM_RUN after mprotect");
	T_EQ(run->io.port, 0x11, "write completes: OUT 0x11");
	T_EQ(data[2] | data[3] << 8, 0x1234, "the word written");
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "KVM_RUN to HLT");
	T_EQ(run->exit_reason, KVM_EXIT_HLT, "HLT");
	T_EQ(own_faults, 2, "the VMM's handler saw only its own faults");

	/* a slot over a file truncated under it: the host access is SIGBUS */
	int fd = memfd_create("hva_fault", 0);
	if (fd < 0 || ftruncate(fd, 0x1000))
		T_BAIL("memfd");
	unsigned char *file = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (file == MAP_FAILED || ftruncate(fd, 0))
		T_BAIL("mmap memfd");
	T_EQ(t_set_region(vm, 1, 0, DATA_GPA, 0, 0), 0, "delete the data slot");
	T_EQ(t_set_region(vm, 1, 0, DATA_GPA, 0x1000, (unsigned long)file), 0,
	     "data slot over a truncated file");
	if (t_real_mode(vcpu, CODE, DATA_GPA >> 4))
		T_BAIL("real mode");
	T_ERR(ioctl(vcpu, KVM_RUN, 0), EFAULT, "read of a truncated file: KVM_RUN EFAULT");
	T_EQ(ioctl(vcpu, KVM_GET_REGS, &r), 0, "GET_REGS after EFAULT");
	T_EQ(r.rip, CODE, "RIP stays on the faulting instruction");
	if (ftruncate(fd, 0x1000))
		T_BAIL("ftruncate");
	file[0] = 0xa5;
	T_EQ(ioctl(vcpu, KVM_RUN, 0), 0, "KVM_RUN once the file is long enough");
	T_EQ(run->exit_reason, KVM_EXIT_IO, "read completes: OUT exit");
	T_EQ(*((unsigned char *)run + run->io.data_offset), 0xa5, "the byte read from the file");
	T_EQ(own_faults, 2, "the VMM's SIGSEGV handler did not run");
	return t_done();
}
