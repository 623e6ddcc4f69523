// SPDX-License-Identifier: MIT
/* main.c: sbx-guest, the VM's PID 1: boot sequence, the event loop, reaping, power off. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "console.h"
#include "dockerd.h"
#include "egress.h"
#include "exec.h"
#include "guest.h"
#include "loop.h"
#include "modules.h"
#include "mounts.h"
#include "power.h"
#include "sshagent.h"
#include "util.h"
#include "wsync.h"

#define MAX_EVENTS 64

static void reap_children(struct guest *g)
{
	struct signalfd_siginfo si;
	pid_t pid;
	int st;

	while (read(g->sig.fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (!egress_child_exited(g, pid, st) && !dockerd_exited(g, pid, st) && !wsync_child_exited(g, pid, st))
			exec_child_exited(g, pid, st);
}

static bool cmdline_has(const char *cmdline, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = cmdline; (p = strstr(p, word)); p += n)
		if ((p == cmdline || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

static void hostname_from_disk(void)
{
	_cleanup_free_ char *h = NULL;

	if (file_read_all("/etc/hostname", 256, &h, NULL) < 0)
		return;
	h[strcspn(h, " \t\r\n")] = 0;
	if (h[0])
		(void)!sethostname(h, strlen(h));
}

static int guest_setup(struct guest *g)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	(void)signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	g->sig = (struct watch){ .fd = fd, .kind = WATCH_SIGNAL };
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g->epfd < 0)
		return -errno;
	g->iobuf_size = 64u * 1024u;
	g->iobuf = xmalloc(g->iobuf_size);
	if (watch_set(g, &g->sig, EPOLLIN) < 0)
		return -errno;
	return chan_init(g);
}

static void guest_loop(struct guest *g)
{
	struct epoll_event evs[MAX_EVENTS];

	for (;;) {
		uint64_t now = now_ms();
		int t1 = chan_timeout(g, now), t2 = exec_timeout(g, now), t3 = egress_timeout(g, now);
		int timeout = t1 < 0 ? t2 : t2 < 0 ? t1 : MIN(t1, t2);
		int n;

		timeout = t3 < 0 ? timeout : timeout < 0 ? t3 : MIN(timeout, t3);
		n = epoll_wait(g->epfd, evs, MAX_EVENTS, timeout);

		if (n < 0) {
			if (errno != EINTR)
				log_warn("epoll_wait: %m");
			n = 0;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			if (w->fd < 0)
				continue; /* closed earlier in this iteration */
			switch (w->kind) {
			case WATCH_SIGNAL:
				reap_children(g);
				break;
			case WATCH_PORT:
				chan_on_event(g, evs[i].events);
				break;
			case WATCH_EGRESS_LISTEN:
			case WATCH_EGRESS_RELAY:
			case WATCH_EGRESS_DNS_UDP:
			case WATCH_EGRESS_DNS_CONN:
				egress_on_event(g, w, evs[i].events);
				break;
			case WATCH_SSH_AGENT_LISTEN:
				sshagent_on_event(g, w, evs[i].events);
				break;
			case WATCH_WSYNC:
				wsync_on_event(g, evs[i].events);
				break;
			case WATCH_DOCKER_LISTEN:
				dockerd_on_event(g, w, evs[i].events);
				break;
			default:
				exec_on_event(g, w, evs[i].events);
				break;
			}
		}
		now = now_ms();
		chan_tick(g, now);
		exec_tick(g, now);
		egress_tick(g, now);
		chan_flush(g);
		exec_collect(g);
		egress_collect(g);
	}
}

/* sbx.poolprobe=URL (tests only, set through SBX_GUEST_CMDLINE): a URL of plain
 * characters, or none. */
static char *pool_probe_url(const char *cmdline)
{
	const char *p = strstr(cmdline, "sbx.poolprobe=");
	size_t n;

	if (!p || (p != cmdline && p[-1] != ' '))
		return NULL;
	p += strlen("sbx.poolprobe=");
	n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:/._-");
	if (n == 0 || n > 200 || (p[n] && p[n] != ' ' && p[n] != '\n') || strncmp(p, "http://", 7))
		return NULL;
	return xasprintf("%.*s", (int)n, p);
}

int main(int argc, char **argv)
{
	struct guest g = { .epfd = -1, .ssh_agent = { .fd = -1, .kind = WATCH_SSH_AGENT_LISTEN },
			   .wsync = { .fd = -1, .kind = WATCH_WSYNC },
			   .docker_sock = { .fd = -1, .kind = WATCH_DOCKER_LISTEN } };
	_cleanup_free_ char *cmdline = NULL, *err = NULL;
	int r;

	if (getpid() != 1) {
		fprintf(stderr, "sbx-guest: this is the VM's init; it must run as PID 1\n");
		return 1;
	}
	umask(022);
	r = mounts_early();
	console_setup();
	(void)file_read_all("/proc/cmdline", 64 * 1024, &cmdline, NULL);
	log_setup("sbx-guest", cmdline && cmdline_has(cmdline, "sbx.debug=1") ? LOG_DEBUG : LOG_INFO, false);
	console_line("SBX-GUEST-START uptime=%llu", (unsigned long long)uptime_ms());
	if (r < 0)
		log_err("early mounts: %s", strerror(-r));
	if (cmdline && cmdline_has(cmdline, "sbx.bench=1")) {
		console_line("SBX-GUEST-MARKER");
		sync();
		reboot(RB_POWER_OFF);
		for (;;)
			pause();
	}

	{
		/* Up to EGRESS_MAX_RELAYS egress connections, each an fd, plus exec sessions
		 * and DNS: init's default of 1024 is too few. Children get 1024 back (spawn.c). */
		struct rlimit rl = { .rlim_cur = GUEST_NOFILE, .rlim_max = GUEST_NOFILE };
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the fd limit to %u: %m", GUEST_NOFILE);
	}
	modules_load_list(MODULES_LIST);
	r = mounts_switch_root(&err);
	if (r < 0)
		guest_poweroff(NULL, err);
	mounts_late();
	r = net_loopback_up();
	if (r < 0)
		log_warn("loopback: %s", strerror(-r));
	hostname_from_disk();

	r = guest_setup(&g);
	if (r < 0) {
		console_line("SBX-GUEST-ERROR setup: %s", strerror(-r));
		guest_poweroff(&g, "setup failed");
	}
	egress_init(&g, cmdline && cmdline_has(cmdline, "sbx.noegress=1")	  ? EGRESS_NET_NONE
			: cmdline && cmdline_has(cmdline, "sbx.egresstools=1") ? EGRESS_NET_TOOLS
									       : EGRESS_NET_NETLINK);
	g.pool_probe = cmdline ? pool_probe_url(cmdline) : NULL;
	g.fail_config = cmdline && cmdline_has(cmdline, "sbx.failconfig=1");
	log_debug("up after %llu ms", (unsigned long long)uptime_ms());
	guest_loop(&g);
	return 0;
}
