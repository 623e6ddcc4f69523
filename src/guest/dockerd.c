// SPDX-License-Identifier: MIT
/* dockerd.c: the sandbox's own Docker Engine, started on the first connection to its socket. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dockerd.h"
#include "egress.h"
#include "guest.h"
#include "loop.h"
#include "users.h"
#include "util.h"

#define DOCKERD "/usr/sbin/dockerd"
#define DOCKERD_LOG "/var/log/sbx-dockerd.log"
#define DOCKER_SOCK "/var/run/docker.sock"
#define DOCKER_GROUP "docker"
#define DOCKERD_ENV_MAX 32
#define DOCKERD_LISTEN_FD 3          /* SD_LISTEN_FDS_START */
#define DOCKERD_QUICK_MS 30000u      /* an exit sooner than this after the start counts as a failure */
#define DOCKERD_MAX_QUICK 3u         /* quick exits in a row before the socket is given up */

/*
 * Socket activation, as Debian's docker.socket does it under systemd: once the first
 * configuration is applied, sbx-guest binds /var/run/docker.sock (root:docker 0660,
 * what dockerd itself would make) and watches it. The first connection starts
 * `dockerd -H fd://` with the listening socket as fd 3 (LISTEN_FDS=1, LISTEN_PID);
 * that connection waits in the backlog until dockerd accepts it. While dockerd runs
 * sbx-guest keeps its copy of the socket but does not watch it. When dockerd exits it
 * is watched again, so the next connection starts a new dockerd, unless dockerd
 * exited DOCKERD_MAX_QUICK times in a row within DOCKERD_QUICK_MS of its start: then
 * the socket is closed and removed (waiting clients get an error rather than a
 * restart loop) until the sandbox starts again. An idle sandbox runs no dockerd and
 * no containerd.
 *
 * dockerd runs as root in the VM with the kernel of the VM, and this socket is the
 * only Docker the sandbox has: the host's daemon is not reachable from here. It gets
 * the proxy variables (image pulls go through sbx's proxy). Its log, and what
 * sbx-guest has to say about its starts and exits, go to /var/log/sbx-dockerd.log.
 */

/* A line from sbx-guest in dockerd's log, beside dockerd's own. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	_cleanup_close_ int fd = open(DOCKERD_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	char line[512];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ sbx-guest: ", &tm);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(fd, line, (size_t)n);
}

/* Bound with its final owner and mode before listen(), as sshagent.c does. */
static int sock_listen(gid_t gid, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	if (unlink(DOCKER_SOCK) < 0 && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, DOCKER_SOCK, sizeof(DOCKER_SOCK));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (lchown(DOCKER_SOCK, 0, gid) < 0 || chmod(DOCKER_SOCK, 0660) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		(void)unlink(DOCKER_SOCK);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

void dockerd_arm(struct guest *g)
{
	gid_t gid = 0;
	int fd = -1, r;

	if (g->docker_sock.fd >= 0 || g->dockerd_pid > 0 || g->dockerd_quick >= DOCKERD_MAX_QUICK ||
	    access(DOCKERD, X_OK) < 0)
		return;
	/* dockerd's own default (--group docker): root's group when there is none */
	r = group_lookup("/", DOCKER_GROUP, &gid);
	if (r < 0 && r != -ENOENT)
		log_warn("dockerd: group %s: %s; the socket is root's only", DOCKER_GROUP, strerror(-r));
	r = sock_listen(gid, &fd);
	if (r < 0) {
		log_err("dockerd: cannot listen on %s: %s", DOCKER_SOCK, strerror(-r));
		note("cannot listen on %s: %s; no dockerd in this sandbox", DOCKER_SOCK, strerror(-r));
		return;
	}
	g->docker_sock = (struct watch){ .fd = fd, .kind = WATCH_DOCKER_LISTEN, .owner = g };
	if (watch_set(g, &g->docker_sock, EPOLLIN) < 0) {
		log_err("dockerd: epoll: %m");
		watch_close(g, &g->docker_sock);
		(void)unlink(DOCKER_SOCK);
		return;
	}
	log_debug("dockerd: %s ready; dockerd starts on its first connection", DOCKER_SOCK);
}

/* fd onto target without FD_CLOEXEC (dup2 leaves the flag alone when they are equal). */
static int fd_onto(int fd, int target)
{
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, target) < 0 ? -1 : 0;
}

static pid_t dockerd_spawn(int lfd)
{
	const char *const *def;
	size_t ndef = egress_default_env(&def), n = 0, pid_slot;
	char *env[DOCKERD_ENV_MAX + 1];
	char listen_pid[32];
	pid_t pid;

	env[n++] = (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	env[n++] = (char *)"HOME=/root";
	env[n++] = (char *)"LISTEN_FDS=1";
	pid_slot = n;
	env[n++] = (char *)"LISTEN_PID=0"; /* the child's pid, set after fork */
	for (size_t i = 0; i < ndef && n < DOCKERD_ENV_MAX; i++)
		env[n++] = (char *)def[i];
	env[n] = NULL;
	pid = fork();
	if (pid != 0)
		return pid;

	{
		char *const argv[] = { (char *)"dockerd", (char *)"-H", (char *)"fd://", NULL };
		sigset_t none;
		int nul, log;

		/* fd 3 first: the files below then land above it */
		if (fd_onto(lfd, DOCKERD_LISTEN_FD) < 0)
			_exit(127);
		nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		log = open(DOCKERD_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
		if (nul < 0 || log < 0 || fd_onto(nul, 0) < 0 || fd_onto(log, 1) < 0 || fd_onto(log, 2) < 0)
			_exit(127);
		snprintf(listen_pid, sizeof(listen_pid), "LISTEN_PID=%d", (int)getpid());
		env[pid_slot] = listen_pid;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				(void)signal(s, SIG_DFL);
		setsid();
		execve(DOCKERD, argv, env);
		_exit(127);
	}
}

void dockerd_on_event(struct guest *g, struct watch *w, uint32_t events)
{
	pid_t pid;

	(void)events;
	/* Not watched while dockerd runs; the connection stays in the backlog for it. */
	(void)watch_set(g, w, 0);
	if (g->dockerd_pid > 0)
		return;
	pid = dockerd_spawn(w->fd);
	if (pid < 0) {
		int e = errno;

		log_err("dockerd: fork: %s", strerror(e));
		note("cannot start dockerd: fork: %s", strerror(e));
		(void)watch_set(g, w, EPOLLIN); /* a fork that failed may work at the next event */
		return;
	}
	g->dockerd_pid = pid;
	g->dockerd_start_ms = now_ms();
	log_info("dockerd started on demand (pid %d, log %s)", (int)pid, DOCKERD_LOG);
	note("a client connected to %s: started dockerd -H fd:// (pid %d)", DOCKER_SOCK, (int)pid);
}

bool dockerd_exited(struct guest *g, pid_t pid, int wstatus)
{
	char how[64];
	uint64_t ran;

	if (g->dockerd_pid <= 0 || pid != g->dockerd_pid)
		return false;
	g->dockerd_pid = 0;
	ran = now_ms() - g->dockerd_start_ms;
	if (WIFEXITED(wstatus))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(wstatus));
	else
		snprintf(how, sizeof(how), "was killed by signal %d", WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
	g->dockerd_quick = ran < DOCKERD_QUICK_MS ? g->dockerd_quick + 1 : 0;
	if (g->docker_sock.fd < 0)
		return true;
	if (g->dockerd_quick >= DOCKERD_MAX_QUICK) {
		log_err("dockerd %s after %llu ms, %u times in a row: %s removed (see %s)", how,
			(unsigned long long)ran, g->dockerd_quick, DOCKER_SOCK, DOCKERD_LOG);
		note("dockerd (pid %d) %s after %llu ms: %u times in a row within %u s of its start; "
		     "giving up, %s removed until the sandbox restarts", (int)pid, how, (unsigned long long)ran,
		     g->dockerd_quick, DOCKERD_QUICK_MS / 1000, DOCKER_SOCK);
		watch_close(g, &g->docker_sock);
		(void)unlink(DOCKER_SOCK);
		return true;
	}
	log_warn("dockerd %s after %llu ms (see %s); the next connection starts it again", how,
		 (unsigned long long)ran, DOCKERD_LOG);
	note("dockerd (pid %d) %s after %llu ms; %s is watched again: the next connection starts it",
	     (int)pid, how, (unsigned long long)ran, DOCKER_SOCK);
	if (watch_set(g, &g->docker_sock, EPOLLIN) < 0) {
		log_err("dockerd: epoll: %m");
		watch_close(g, &g->docker_sock);
		(void)unlink(DOCKER_SOCK);
	}
	return true;
}
