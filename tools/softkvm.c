/* The softkvm command: `run` (preload a KVM client) and `info`. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: softkvm run [--device PATH] -- CMD [ARGS...]\n"
		"       softkvm info [--json]\n"
		"       softkvm boot --kernel FILE [--initrd FILE] [--append TEXT] [--mem SIZE] [--cpus N] [--disk FILE] [--hw]\n"
		"\n"
		"run   runs CMD with the KVM API served by softkvm: its opens of\n"
		"      /dev/kvm (or PATH) reach softkvm, even where a real /dev/kvm exists.\n"
		"info  prints the API version, capabilities, CPUID and MSR lists.\n"
		"boot  boots a Linux bzImage (64-bit boot protocol) on softkvm, or on\n"
		"      the host's /dev/kvm with --hw; `softkvm boot --help` for more.\n");
}

/* The library lives beside the command (build/softkvm, build/libsoftkvm.so). */
static int library_path(char *out, size_t n)
{
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return -1;
	self[len] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	if ((size_t)snprintf(out, n, "%s/libsoftkvm.so", self) >= n)
		return -1;
	return access(out, R_OK);
}

/*
 * A sanitizer build of libsoftkvm.so needs the ASan (or TSan) runtime first
 * in the initial library list, ahead of itself; this command is built the
 * same way, so the runtime it was loaded with is the one to preload.
 */
static int find_asan(struct dl_phdr_info *info, size_t size, void *out)
{
	(void)size;
	if (!strstr(info->dlpi_name, "/libasan.so") && !strstr(info->dlpi_name, "/libtsan.so"))
		return 0;
	snprintf(out, PATH_MAX, "%s", info->dlpi_name);
	return 1;
}

static int cmd_run(int argc, char **argv)
{
	const char *device = "/dev/kvm";
	int i = 0;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--device")) {
			if (i + 1 >= argc || !argv[i + 1][0]) {
				usage(stderr);
				return 2;
			}
			device = argv[++i];
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2]) {
			fprintf(stderr, "softkvm: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
		break;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	char lib[PATH_MAX];
	if (library_path(lib, sizeof(lib))) {
		fprintf(stderr, "softkvm: cannot find libsoftkvm.so beside this command\n");
		return 127;
	}
	char asan[PATH_MAX] = "";
	dl_iterate_phdr(find_asan, asan);
	const char *old = getenv("LD_PRELOAD");
	char *preload;
	if (asprintf(&preload, "%s%s%s%s%s", asan, *asan ? ":" : "", lib,
		     old && *old ? ":" : "", old ? old : "") < 0)
		return 127;
	setenv("LD_PRELOAD", preload, 1);
	setenv("SOFTKVM_DEVICE", device, 1);
	execvp(argv[i], &argv[i]);
	fprintf(stderr, "softkvm: cannot run %s: %s\n", argv[i], strerror(errno));
	free(preload);
	return 127;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 2, argv + 2);
	if (!strcmp(argv[1], "boot"))
		return cmd_boot(argc - 2, argv + 2);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "softkvm: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
