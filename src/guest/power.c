// SPDX-License-Identifier: MIT
/* power.c: powering the VM off: terminate and reap every process, unmount, reboot(POWER_OFF). */
#include <errno.h>
#include <signal.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"
#include "mounts.h"
#include "power.h"
#include "util.h"
#include "wsync.h"

#define POWEROFF_TERM_MS 2000u
#define POWEROFF_KILL_MS 1000u

/* Reap every exited child until none remain or the deadline passes. */
static void reap_until(uint64_t deadline)
{
	for (;;) {
		pid_t p = waitpid(-1, NULL, WNOHANG);

		if (p > 0)
			continue;
		if (p < 0 && errno == ECHILD)
			return;
		if (now_ms() >= deadline)
			return;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
}

void guest_poweroff(struct guest *g, const char *why)
{
	log_info("power off: %s", why);
	if (g)
		wsync_stop(g);   /* its last pass reaches the host before anything stops */
	(void)kill(-1, SIGTERM);
	reap_until(now_ms() + POWEROFF_TERM_MS);
	(void)kill(-1, SIGKILL);
	reap_until(now_ms() + POWEROFF_KILL_MS);
	mounts_final(g ? g->workspace : NULL);
	reboot(RB_POWER_OFF);
	/* PID 1 must never exit: that panics the kernel. */
	for (;;)
		pause();
}
