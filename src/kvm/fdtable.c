/*
 * fd -> object table.  Every handle softkvm gives out is a real kernel fd (a
 * memfd), so poll, close, dup, fork and fd numbering behave; this table says
 * which of the process's fds are ours and what they name.
 *
 * Lookups take a reference without the table lock (every ioctl does one),
 * so a close racing with an ioctl on another thread frees nothing in use:
 * a file is counted in only while its count is not zero, and only if the
 * fd's slot still names it afterwards.  Released files are kept for reuse,
 * never freed (as SLAB_TYPESAFE_BY_RCU memory), so a lookup that loaded a
 * file just released touches only its count; writers keep the lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "kvm/sys.h"

#define L2_BITS 10
#define L2_SIZE (1u << L2_BITS)
#define L1_SIZE 1024 /* up to 1M fds */

static struct skvm_file **table[L1_SIZE];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct skvm_file *free_files; /* under table_lock */
/* Lock-free "is this fd possibly ours" check for the common pass-through. */
static _Atomic int nr_files;

static struct skvm_file **slot(int fd, bool create)
{
	if (fd < 0 || (unsigned)fd >= L1_SIZE * L2_SIZE)
		return NULL;
	struct skvm_file **l2 = __atomic_load_n(&table[fd >> L2_BITS], __ATOMIC_ACQUIRE);
	if (!l2) {
		if (!create)
			return NULL;
		l2 = calloc(L2_SIZE, sizeof(*l2));
		if (!l2)
			return NULL;
		__atomic_store_n(&table[fd >> L2_BITS], l2, __ATOMIC_RELEASE);
	}
	return &l2[fd & (L2_SIZE - 1)];
}

static void file_release(struct skvm_file *f)
{
	switch (f->kind) {
	case SKVM_SYS:
	case SKVM_STATS:
		break;
	case SKVM_VM:
		skvm_vm_put(f->obj);
		break;
	case SKVM_VCPU:
		skvm_vm_put(((struct skvm_vcpu *)f->obj)->vm);
		break;
	case SKVM_DEVICE:
		skvm_vm_put(f->obj);
		break;
	}
	pthread_mutex_lock(&table_lock);
	f->next_free = free_files;
	free_files = f;
	pthread_mutex_unlock(&table_lock);
}

static void obj_get(enum skvm_kind kind, void *obj)
{
	if (kind == SKVM_VCPU)
		skvm_vm_get(((struct skvm_vcpu *)obj)->vm);
	else if (kind != SKVM_SYS && kind != SKVM_STATS)
		skvm_vm_get(obj);
}

/*
 * A fork while another thread holds the table lock would leave the child's
 * copy locked for good; the child still needs the table (its close, dup and
 * ioctl calls, answered EIO for VM and vCPU fds).
 */
static void table_fork_prepare(void)
{
	pthread_mutex_lock(&table_lock);
}

static void table_fork_done(void)
{
	pthread_mutex_unlock(&table_lock);
}

static _Atomic pid_t self_pid;

static void table_fork_child(void)
{
	atomic_store(&self_pid, getpid());
	table_fork_done();
}

static void table_register_atfork(void)
{
	atomic_store(&self_pid, getpid());
	pthread_atfork(table_fork_prepare, table_fork_done, table_fork_child);
}

pid_t skvm_self_pid(void)
{
	return atomic_load_explicit(&self_pid, memory_order_relaxed);
}

/* Install fd as naming obj; the caller's reference on obj is taken over. */
int skvm_file_install(enum skvm_kind kind, int fd, void *obj)
{
	static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
	pthread_once(&atfork_once, table_register_atfork);
	pthread_mutex_lock(&table_lock);
	struct skvm_file **s = slot(fd, true);
	if (!s) {
		pthread_mutex_unlock(&table_lock);
		return -EMFILE;
	}
	/* a reused file: a lookup that loaded it earlier may still try to
	 * count itself in (skvm_file_get), so no memset over refs */
	struct skvm_file *f = free_files;
	if (f)
		free_files = f->next_free;
	else if (!(f = calloc(1, sizeof(*f)))) {
		pthread_mutex_unlock(&table_lock);
		return -ENOMEM;
	}
	f->kind = kind;
	f->fd = fd;
	f->obj = obj;
	f->next_free = NULL;
	atomic_store(&f->refs, 1);
	struct skvm_file *stale = *s;
	__atomic_store_n(s, f, __ATOMIC_RELEASE);
	if (!stale)
		atomic_fetch_add(&nr_files, 1);
	pthread_mutex_unlock(&table_lock);
	/* An entry left by an fd closed behind our back (close_range, exec). */
	if (stale)
		skvm_file_put(stale);
	return fd;
}

struct skvm_file *skvm_file_get(int fd)
{
	if (!atomic_load_explicit(&nr_files, memory_order_relaxed))
		return NULL;
	struct skvm_file **s = slot(fd, false);
	if (!s)
		return NULL;
	for (;;) {
		struct skvm_file *f = __atomic_load_n(s, __ATOMIC_ACQUIRE);
		if (!f)
			return NULL;
		/* 0: released, so no longer in the slot (detach empties it
		 * before it drops the table's reference); load it again */
		int r = atomic_load(&f->refs);
		while (r && !atomic_compare_exchange_weak(&f->refs, &r, r + 1))
			;
		if (!r)
			continue;
		if (likely(__atomic_load_n(s, __ATOMIC_SEQ_CST) == f))
			return f;
		skvm_file_put(f); /* replaced meanwhile (maybe reused) */
	}
}

void skvm_file_put(struct skvm_file *f)
{
	if (f && atomic_fetch_sub(&f->refs, 1) == 1)
		file_release(f);
}

bool skvm_file_is_ours(int fd)
{
	struct skvm_file *f = skvm_file_get(fd);
	skvm_file_put(f);
	return f != NULL;
}

static struct skvm_file *detach(int fd)
{
	pthread_mutex_lock(&table_lock);
	struct skvm_file **s = slot(fd, false);
	struct skvm_file *f = s ? *s : NULL;
	if (f) {
		__atomic_store_n(s, NULL, __ATOMIC_RELEASE);
		atomic_fetch_sub(&nr_files, 1);
	}
	pthread_mutex_unlock(&table_lock);
	return f;
}

void skvm_file_forget(int fd)
{
	skvm_file_put(detach(fd));
}

/* fds closed in bulk (close_range, closefrom) behind the table's back. */
void skvm_file_forget_range(unsigned int first, unsigned int last)
{
	const u64 top = (u64)L1_SIZE * L2_SIZE - 1;
	u64 end = last < top ? last : top;
	for (u64 fd = first; fd <= end && atomic_load(&nr_files);) {
		if (!__atomic_load_n(&table[fd >> L2_BITS], __ATOMIC_ACQUIRE)) {
			fd = (fd | (L2_SIZE - 1)) + 1; /* a whole empty chunk */
			continue;
		}
		skvm_file_forget((int)fd++);
	}
}

int skvm_file_kind(int fd)
{
	struct skvm_file *f = skvm_file_get(fd);
	int kind = f ? (int)f->kind : -1;
	skvm_file_put(f);
	return kind;
}

int skvm_file_close(int fd)
{
	struct skvm_file *f = detach(fd);
	if (!f)
		return -EBADF;
	skvm_file_put(f);
	return sys_close(fd) ? -errno : 0;
}

/*
 * The dup family: newfd is the kernel's answer for oldfd; record that it
 * names the same object.  A newfd that was ours before (dup2 onto it) has
 * been closed by the kernel and is replaced.
 */
int skvm_file_dup(int oldfd, int newfd, int flags)
{
	(void)flags;
	struct skvm_file *f = skvm_file_get(oldfd);
	if (!f) {
		skvm_file_forget(newfd);
		return newfd;
	}
	if (newfd == oldfd) {
		skvm_file_put(f);
		return newfd;
	}
	obj_get(f->kind, f->obj);
	int r = skvm_file_install(f->kind, newfd, f->obj);
	skvm_file_put(f);
	return r;
}

/*
 * A memfd sized once and sealed against resizing: the client holds these
 * fds and could otherwise ftruncate a vCPU fd under our kvm_run mapping
 * (SIGBUS in softkvm at the next KVM_RUN; KVM refuses with EINVAL).
 */
int skvm_anon_fd(const char *name, size_t size, int flags)
{
	unsigned int mfd = MFD_ALLOW_SEALING | ((flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	int fd = memfd_create(name, mfd);
	if (fd < 0)
		return -errno;
	if ((size && ftruncate(fd, (off_t)size)) ||
	    syscall(SYS_fcntl, fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		int e = errno;
		sys_close(fd);
		return -e;
	}
	return fd;
}
