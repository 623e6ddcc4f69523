// SPDX-License-Identifier: MIT
/* daemon.c: sbxd's start-up, event loop and shutdown; the control socket's clients are control.c's. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "audit.h"
#include "ca.h"
#include "pool.h"
#include "conn.h"
#include "control.h"
#include "egress_streams.h"
#include "guestchan.h"
#include "heap.h"
#include "ports.h"
#include "sandbox.h"
#include "settings.h"
#include "sock.h"
#include "sshagent.h"
#include "util.h"
#include "wsync_host.h"
#include "wsync_writer.h"
#include "version.h"

/* Caller-environment credentials of a sandbox, for the proxy engine. */
static const char *const *sbxd_cred_env(void *ctx, const char *sandbox)
{
	struct sandbox *sb = sandbox_find(ctx, sandbox);
	return sb ? (const char *const *)sb->cred_env : NULL;
}

static void reap_dead(struct sbxd *d)
{
	for (struct client **pp = &d->clients; *pp;) {
		struct client *cl = *pp;
		if (cl->dead) {
			*pp = cl->next;
			control_free(d, cl);
		} else {
			pp = &cl->next;
		}
	}
	for (struct sandbox **pp = &d->sandboxes; *pp;) {
		struct sandbox *sb = *pp;
		if (sb->dead) {
			*pp = sb->next;
			control_sandbox_removed(d, sb);
			sandbox_free(sb);
		} else {
			pp = &sb->next;
		}
	}
}

static void flush_all(struct sbxd *d)
{
	for (struct client *cl = d->clients; cl; cl = cl->next)
		if (!cl->dead && conn_flush(d->epfd, &cl->c) < 0)
			cl->dead = true;
	for (struct sandbox *sb = d->pool; sb; sb = sb->next)
		if (sb->chan.ev.fd >= 0 && conn_flush(d->epfd, &sb->chan) < 0)
			sb->chan.eof = true;
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next) {
		if (sb->chan.ev.fd < 0)
			continue;
		/* room is known only after the flush; what the woken streams queue goes now */
		if (conn_flush(d->epfd, &sb->chan) < 0 ||
		    ((egress_tx_room(sb) | ports_tx_room(sb)) && conn_flush(d->epfd, &sb->chan) < 0))
			sb->chan.eof = true;
	}
}

static void daemon_setup_signals(struct sbxd *d)
{
	sigset_t mask;
	struct itimerspec its = { .it_interval = { 0, 200 * 1000000 }, .it_value = { 0, 200 * 1000000 } };

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* QEMU and virtiofsd are double-forked; as subreaper we still reap them while
	 * we live (after a restart, adopted VMs belong to init). */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	d->signal_ev = (struct evsrc){ .kind = EV_SIGNAL, .fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK) };
	d->timer_ev = (struct evsrc){ .kind = EV_TIMER, .fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK) };
	if (d->signal_ev.fd < 0 || d->timer_ev.fd < 0 || timerfd_settime(d->timer_ev.fd, 0, &its, NULL) < 0)
		die("cannot set up signalfd/timerfd: %m");
	if (ev_set(d->epfd, &d->signal_ev, EPOLLIN) < 0 || ev_set(d->epfd, &d->timer_ev, EPOLLIN) < 0)
		die("epoll: %m");
}

/* Upstream sockets are fds: take the hard RLIMIT_NOFILE, and keep the daemon-wide
 * egress cap below what is left after clients, channels and the rest (fd reserve). */
#define DAEMON_FD_RESERVE 512u

static void daemon_fd_limits(struct sbxd *d)
{
	struct rlimit rl;
	rlim_t cur = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0 || getrlimit(RLIMIT_NOFILE, &rl) == 0)
			cur = rl.rlim_cur;
	}
	d->egress_max = cur > 2 * DAEMON_FD_RESERVE ? (unsigned)MIN(cur - DAEMON_FD_RESERVE, (rlim_t)EGRESS_MAX_TOTAL)
						    : (unsigned)(cur / 2);
	log_debug("fd limit %llu: at most %u egress streams", (unsigned long long)cur, d->egress_max);
}

/* sbxd holds the secrets it injects and the CA key: no core dump of it, and no
 * ptrace or /proc/PID/mem, environ, maps for processes of the same uid (a VMM broken
 * out of a sandbox runs as the user when sbx does not run as root). Its children make
 * themselves dumpable again where newuidmap needs it (idmap_enter); exec does anyway. */
static void daemon_harden(void)
{
	const struct rlimit core = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0) < 0 || setrlimit(RLIMIT_CORE, &core) < 0)
		die("cannot make sbxd undumpable: %m");
}

/* Exactly one daemon per run dir: the lock is held for the daemon's lifetime. */
static int daemon_lock(struct sbxd *d)
{
	_cleanup_free_ char *path = xasprintf("%s/sbxd.lock", d->p->run);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		die("cannot open %s: %m", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -EBUSY;
	}
	d->lock_fd = fd;
	return 0;
}

/* The daemon's identity and environment: the binary it runs, epoll, the accelerator
 * and the boot timeout. */
static void daemon_setup(struct sbxd *d)
{
	const char *bt = getenv("SBX_BOOT_TIMEOUT");
	struct stat st;
	int r;

	umask(077);
	if (stat("/proc/self/exe", &st) == 0) {
		d->exe_dev = st.st_dev;
		d->exe_ino = st.st_ino;
	}
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		die("epoll_create1: %m");
	r = accel_detect(getenv("SBX_ACCEL") ? getenv("SBX_ACCEL") : "auto", &d->accel, &d->accel_reason);
	if (r < 0)
		die("accelerator: %s", d->accel_reason ? d->accel_reason : strerror(-r));
	if (d->accel == ACCEL_TCG)
		log_info("notice: running VMs under TCG emulation (slower): %s", d->accel_reason ? d->accel_reason : "");
	d->boot_timeout_ms = 90 * 1000;
	if (bt && atoi(bt) > 0 && atoi(bt) < 3600)
		d->boot_timeout_ms = (unsigned)atoi(bt) * 1000;
}

/* The control socket, then the pid file that says the daemon serves it. */
static void daemon_listen(struct sbxd *d, const char *pidfile)
{
	_cleanup_free_ char *pidtxt = NULL;
	int lfd, r;

	r = sock_listen_at(d->p->run, "sbxd.sock", 64, 0600, &lfd);
	if (r < 0)
		die("cannot listen on %s/sbxd.sock: %s", d->p->run, strerror(-r));
	fd_set_nonblock(lfd, true);
	d->listen = (struct ev_listen){ .ev = { .kind = EV_LISTEN, .fd = lfd }, .what = "control socket" };
	if (ev_set(d->epfd, &d->listen.ev, EPOLLIN) < 0)
		die("epoll: %m");
	pidtxt = xasprintf("%d\n", (int)getpid());
	file_write_atomic(pidfile, pidtxt, strlen(pidtxt), 0600);
}

/* The egress engine, the audit log and sbx's CA (without it, no credential injection). */
static void daemon_start_egress(struct sbxd *d)
{
	_cleanup_free_ char *err = NULL;
	int r;

	r = proxy_new(d->p, d->epfd, &d->proxy);
	if (r < 0)
		die("cannot start the egress engine: %s", strerror(-r));
	if (audit_open(d->p, &d->audit) < 0)
		log_warn("cannot open the audit log; SSH agent decisions will not be logged");
	if (ca_load_or_create(d->p, &d->ca, &err) < 0)
		log_err("credential injection disabled: %s", err ? err : "cannot load sbx's CA");
	else
		proxy_set_interception(d->proxy, d->ca, sbxd_cred_env, d);
}

static void daemon_on_signal(struct sbxd *d, struct evsrc *ev)
{
	struct signalfd_siginfo si;

	while (read(ev->fd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo == SIGCHLD)
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		else if (si.ssi_signo != SIGHUP)
			d->quit = true;
}

/* sandbox.idleStop, read again when settings.json changed (looked at once a second);
 * a file that does not load keeps the last value (sbx settings set validates). */
static void daemon_settings_tick(struct sbxd *d, uint64_t now)
{
	struct settings *s;

	if (d->settings_check_ms && now - d->settings_check_ms < 1000)
		return;
	d->settings_check_ms = now;
	if (d->settings && !settings_stale(d->p, d->settings))
		return;
	if (settings_load(d->p, &s) < 0)
		return;
	settings_free(d->settings);
	d->settings = s;
	d->idle_stop_ms = settings_idle_stop_s(s) * 1000;
}

static void daemon_on_timer(struct sbxd *d, struct evsrc *ev)
{
	uint64_t ticks, now = now_ms();

	(void)!read(ev->fd, &ticks, sizeof(ticks));
	ev_listen_tick(d->epfd, &d->listen, now);
	daemon_settings_tick(d, now);
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next)
		if (!sb->dead)
			sandbox_tick(sb, now);
	for (struct sandbox *sb = d->pool; sb; sb = sb->next)
		if (!sb->dead)
			sandbox_tick(sb, now);
	pool_tick(d, now);
	if (d->proxy)
		proxy_tick(d->proxy);
	heap_trim_tick(&d->heap_trim_ms, now);
}

/* One event of the loop, to its owner by the kind of its source. */
static void daemon_dispatch(struct sbxd *d, struct evsrc *ev, uint32_t events)
{
	switch (ev->kind) {
	case EV_LISTEN:
		control_accept(d);
		break;
	case EV_SIGNAL:
		daemon_on_signal(d, ev);
		break;
	case EV_TIMER:
		daemon_on_timer(d, ev);
		break;
	case EV_CLIENT: {
		struct client *cl = ev->obj;
		if (cl->dead)
			break;
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			control_read(cl, events & (EPOLLHUP | EPOLLERR));
		break;
	}
	case EV_CHAN: {
		struct sandbox *sb = ev->obj;
		if (!sb->dead)
			guestchan_on_event(sb, events);
		break;
	}
	case EV_PROXY:
		if (d->proxy)
			proxy_on_event(d->proxy, ev, events);
		break;
	case EV_AGENT:
		sshagent_on_event(ev, events);
		break;
	case EV_PORT_LISTEN:
	case EV_PORT_CONN:
		ports_on_event(ev, events);
		break;
	case EV_WSYNC:
		wsync_host_on_event(ev, events);
		break;
	case EV_WSYNC_WRITER:
		wsync_writer_on_event(ev, events);
		break;
	case EV_QEMU: {
		struct sandbox *sb = ev->obj;
		if (!sb->dead)
			sandbox_on_qemu_exit(sb);
		break;
	}
	}
}

/* Clients go; running sandboxes keep running (a restarted daemon adopts them). */
static void daemon_shutdown(struct sbxd *d, const char *pidfile)
{
	_cleanup_free_ char *sockp = xasprintf("%s/sbxd.sock", d->p->run);

	log_info("sbxd stopping; running sandboxes keep running");
	/* no new client from here on: one that connected now would reach a daemon that
	 * never answers (a CLI that saw the pid file go starts a new one) */
	unlink(sockp);
	if (d->listen.ev.fd >= 0) {
		close(d->listen.ev.fd);
		d->listen.ev.fd = -1;
	}
	flush_all(d);
	for (struct client *cl = d->clients; cl; cl = cl->next)
		cl->dead = true;
	reap_dead(d);
	sandbox_broken_free_all(d);
	settings_free(d->settings);
	d->settings = NULL;
	unlink(pidfile);
}

int daemon_main(struct sbx_paths *p, bool foreground)
{
	struct sbxd d = { .p = p, .lock_fd = -1, .sandbox_changed = control_notify };
	_cleanup_free_ char *pidfile = xasprintf("%s/sbxd.pid", p->run);

	log_setup("sbxd", getenv("SBX_DEBUG") ? LOG_DEBUG : LOG_INFO, true);
	daemon_harden();
	if (daemon_lock(&d) < 0) {
		log_info("another sbxd already serves %s", p->run);
		return 0;
	}
	daemon_setup(&d);
	daemon_setup_signals(&d);
	daemon_fd_limits(&d);
	daemon_listen(&d, pidfile);
	daemon_start_egress(&d);
	pool_discard_stale(&d);
	sandbox_load_all(&d);
	pool_seed(&d);
	log_info("sbxd %s ready (pid %d, %s)", SBX_VERSION, (int)getpid(), d.accel == ACCEL_KVM ? "kvm" : "tcg");

	while (!d.quit) {
		struct epoll_event evs[32];
		int n = epoll_wait(d.epfd, evs, ARRAY_SIZE(evs), -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait: %m");
		for (int i = 0; i < n; i++)
			daemon_dispatch(&d, evs[i].data.ptr, evs[i].events);
		flush_all(&d);
		egress_reap(&d);
		ports_reap(&d);
		reap_dead(&d);
		wsync_host_reap(&d);
	}
	pool_shutdown(&d);
	daemon_shutdown(&d, pidfile);
	wsync_host_reap(&d);
	return 0;
}
