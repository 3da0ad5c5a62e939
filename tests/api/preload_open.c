/* The ways a client reaches /dev/kvm: open, open64, openat (absolute, or
 * relative to a directory fd or the cwd), the _FORTIFY_SOURCE entry points,
 * a program that execs another, and a system fd inherited across exec. */
#include "t.h"
#include <sys/wait.h>

static int is_kvm(int fd)
{
	return fd >= 0 && ioctl(fd, KVM_GET_API_VERSION, 0) == 12;
}

static int vm_works(int kvm)
{
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return 0;
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	close(vm);
	if (vcpu < 0)
		return 0;
	close(vcpu);
	return 1;
}

/* Exec'd as "NAME child MODE [FD]": exit 0 when the child sees what it should. */
static int child(int argc, char **argv)
{
	const char *mode = argv[2];
	if (!strcmp(mode, "open")) {
		int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		return is_kvm(kvm) && vm_works(kvm) ? 0 : 1;
	}
	int fd = argc > 3 ? atoi(argv[3]) : -1;
	if (!strcmp(mode, "sys"))
		return is_kvm(fd) && vm_works(fd) ? 0 : 2;
	if (!strcmp(mode, "vm")) {
		errno = 0;
		int r = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY);
		return r == -1 && errno == EIO ? 0 : 3;
	}
	return 4;
}

static char self[4096];

static int run_child(const char *mode, int fd, int via_shell)
{
	char fdbuf[16];
	snprintf(fdbuf, sizeof(fdbuf), "%d", fd);
	pid_t pid = fork();
	if (pid == 0) {
		if (via_shell) {
			char cmd[8192];
			snprintf(cmd, sizeof(cmd), "exec '%s' child %s %s", self, mode, fdbuf);
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		} else {
			execl(self, self, "child", mode, fdbuf, (char *)NULL);
		}
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "child"))
		return child(argc, argv);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		T_BAIL("readlink /proc/self/exe");
	self[n] = 0;

	int fd = open("/dev/kvm", O_RDWR);
	T_OK(is_kvm(fd), "open");
	close(fd);
	fd = open64("/dev/kvm", O_RDWR);
	T_OK(is_kvm(fd), "open64");
	close(fd);
	fd = openat(AT_FDCWD, "/dev/kvm", O_RDWR);
	T_OK(is_kvm(fd), "openat AT_FDCWD, absolute");
	close(fd);
	fd = openat64(AT_FDCWD, "/dev/kvm", O_RDWR);
	T_OK(is_kvm(fd), "openat64");
	close(fd);
	fd = open("/dev/./kvm", O_RDWR);
	T_OK(is_kvm(fd), "open /dev/./kvm");
	close(fd);
	fd = open("//dev//kvm", O_RDWR);
	T_OK(is_kvm(fd), "open //dev//kvm");
	close(fd);
	int dev = open("/dev", O_RDONLY | O_DIRECTORY);
	fd = openat(dev, "kvm", O_RDWR);
	T_OK(is_kvm(fd) && vm_works(fd), "openat relative to a directory fd");
	close(fd);
	close(dev);
	char cwd[4096];
	if (getcwd(cwd, sizeof(cwd)) && chdir("/dev") == 0) {
		fd = open("kvm", O_RDWR);
		T_OK(is_kvm(fd), "open relative to the cwd");
		close(fd);
		fd = open("./kvm", O_RDWR);
		T_OK(is_kvm(fd), "open ./kvm");
		close(fd);
		if (chdir(cwd))
			T_BAIL("chdir back");
	}
	/* Non-constant flags make fortified builds call __open_2 and friends. */
	volatile int flags = O_RDWR;
	fd = open("/dev/kvm", flags);
	T_OK(is_kvm(fd), "open with run-time flags");
	close(fd);
	fd = openat(AT_FDCWD, "/dev/kvm", flags);
	T_OK(is_kvm(fd), "openat with run-time flags");
	close(fd);
	T_ERR(open("/dev/kvm-no-such", O_RDWR), ENOENT, "a different name is not the device");
	fd = open("/dev/null", O_RDWR);
	T_ERR(ioctl(fd, KVM_GET_API_VERSION, 0), ENOTTY, "other files pass through");
	close(fd);

	/* Programs that exec */
	T_EQ(run_child("open", -1, 0), 0, "an exec'd program opens /dev/kvm");
	T_EQ(run_child("open", -1, 1), 0, "a program exec'd through the shell opens /dev/kvm");
	int kvm = open("/dev/kvm", O_RDWR); /* no O_CLOEXEC: it survives exec */
	T_EQ(run_child("sys", kvm, 0), 0, "a system fd inherited across exec still works");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	int vmd = dup(vm); /* dup clears close-on-exec */
	T_EQ(run_child("vm", vmd, 0), 0, "a VM fd inherited across exec answers EIO");
	T_EQ(ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1,
	     "the VM still works in its own process");
	close(vmd);
	close(vm);
	close(kvm);
	return t_done();
}
