/*
 * softkvm's own threads (the VM timer, the irqfd poller) run with every
 * signal blocked, as KVM's kernel threads never run a client's handler: a
 * process-directed signal (SIGALRM from setitimer, SIGCHLD ...) must reach
 * the client's threads, e.g. end the KVM_RUN it was meant to interrupt.
 */
#include <signal.h>

#include "kvm/kvm.h"

int skvm_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}
