/*
 * The terminal under `softkvm boot`: raw mode while a guest owns it, so
 * every key (Ctrl-C included) reaches ttyS0, and the saved settings put
 * back on every way out -- a normal return, exit(), and the signals that
 * end the process (SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGABRT): restore,
 * then die of the same signal.
 */
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <stdlib.h>

#include "boot.h"

static struct termios saved;
static volatile sig_atomic_t raw_on;

void boot_term_restore(void)
{
	if (raw_on) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		raw_on = 0;
	}
}

static void on_fatal(int sig)
{
	boot_term_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

int boot_term_raw(void)
{
	static const int fatal[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGABRT };
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) < 0)
		return 0;
	struct termios raw = saved;
	cfmakeraw(&raw);
	atexit(boot_term_restore);
	for (unsigned i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_fatal;
		sigaction(fatal[i], &sa, NULL);
	}
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return 0;
	raw_on = 1;
	return 1;
}
