// SPDX-License-Identifier: MIT
/* proc.c: double-forked detached processes; find and stop them again by pid + start time. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define PROC_KILL_WAIT_MS 5000

int proc_parse_stat(const char *text, char *ret_state, uint64_t *ret_start)
{
	const char *p = strrchr(text, ')');
	unsigned long long v = 0;
	char state;
	int field;

	/* comm (field 2) may hold spaces and parentheses: start after the last ')'. */
	if (!p || p[1] != ' ' || !p[2])
		return -EINVAL;
	p += 2;
	state = *p;
	/* p is at field 3; step over fields 3..21 to reach field 22. */
	for (field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EINVAL;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (ret_state)
		*ret_state = state;
	if (ret_start)
		*ret_start = v;
	return 0;
}

static int proc_read_stat(pid_t pid, char *ret_state, uint64_t *ret_start)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return n == -ESRCH ? -ESRCH : (int)n;
	buf[n] = '\0';
	return proc_parse_stat(buf, ret_state, ret_start);
}

uint64_t proc_start_time(pid_t pid)
{
	uint64_t st;

	return proc_read_stat(pid, NULL, &st) < 0 ? 0 : st;
}

bool proc_alive(pid_t pid, uint64_t start_time)
{
	uint64_t st;
	char state;

	if (proc_read_stat(pid, &state, &st) < 0)
		return false;
	if (state == 'Z' || state == 'X' || state == 'x')
		return false;
	return start_time == 0 || st == start_time;
}

/* Wait until the process behind pidfd has exited (pidfd readable) or it is a zombie. */
static bool proc_wait_gone(int pidfd, pid_t pid, uint64_t start_time, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - now_ms());
		int r;

		if (pidfd < 0) {
			/* No pidfd: poll /proc. */
			if (!proc_alive(pid, start_time))
				break;
			if (left <= 0)
				return false;
			usleep(10000);
			continue;
		}
		r = poll(&p, 1, left > 0 ? (int)MIN(left, 1000) : 0);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR)
			return !proc_alive(pid, start_time);
		if (!proc_alive(pid, start_time))
			break;
		if (left <= 0)
			return false;
	}
	/* Reap it if it happens to be our child; ECHILD otherwise, harmless. */
	(void)waitpid(pid, NULL, WNOHANG);
	return true;
}

static int proc_signal(int pidfd, pid_t pid, int sig)
{
	int r;

	if (pidfd >= 0)
		r = (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
	else
		r = kill(pid, sig);
	if (r < 0)
		return errno == ESRCH ? 0 : -errno;
	return 0;
}

int proc_terminate(pid_t pid, uint64_t start_time, int grace_ms)
{
	_cleanup_close_ int pidfd = -1;
	int r;

	if (pid <= 0)
		return -EINVAL;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		if (errno == ESRCH)
			return 0;
		if (errno != ENOSYS)
			return -errno;
		/* Old kernel: fall back to kill(), with the start-time check below. */
	}
	/* The pidfd pins this exact process; now make sure it is the one we mean. */
	if (!proc_alive(pid, start_time))
		return 0;

	r = proc_signal(pidfd, pid, SIGTERM);
	if (r < 0)
		return r;
	if (proc_wait_gone(pidfd, pid, start_time, grace_ms))
		return 0;
	log_debug("pid %d survived SIGTERM for %d ms, sending SIGKILL", (int)pid, grace_ms);
	/* Without a pidfd, re-check the identity right before the stronger signal. */
	if (pidfd < 0 && !proc_alive(pid, start_time))
		return 0;
	r = proc_signal(pidfd, pid, SIGKILL);
	if (r < 0)
		return r;
	return proc_wait_gone(pidfd, pid, start_time, PROC_KILL_WAIT_MS) ? 0 : -ETIMEDOUT;
}

/* ---- spawning ---- */

/* Messages on the report pipe; 8 bytes, so each write is atomic. MSG_PID_FINAL (the
 * pid 1 of a new pid namespace, PROC_SETUP_FORK) wins over MSG_PID whatever the order. */
enum { MSG_PID = 1, MSG_ERR = 2, MSG_PID_FINAL = 3, MSG_STEP = 4 };
struct spawn_msg {
	int32_t kind;
	int32_t val;
};

static void spawn_report(int fd, int kind, int val)
{
	struct spawn_msg m = { .kind = kind, .val = val };

	(void)!write(fd, &m, sizeof(m));
}

static int spawn_step_fd = -1;   /* in the child: the report pipe, while child_setup runs */

void proc_setup_step(int step)
{
	if (spawn_step_fd >= 0)
		spawn_report(spawn_step_fd, MSG_STEP, step);
}

static void close_all_except(const int *keep, size_t n)
{
	unsigned lo = 3;

	/* keep[] is sorted ascending and every entry is >= 3. */
	for (size_t i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)keep[i] : ~0U;

		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) < 0) {
			/* Pre-5.9 kernel: close one by one up to the fd limit. */
			struct rlimit rl;
			unsigned max = 65536;

			if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
				max = (unsigned)MIN(rl.rlim_cur, 1U << 20);
			for (unsigned fd = lo; fd < hi && fd < max; fd++)
				close((int)fd);
		}
		if (i < n)
			lo = (unsigned)keep[i] + 1;
	}
}

/* Runs in the grandchild; reports -errno on rfd and exits on failure. */
static __attribute__((noreturn)) void spawn_exec(char *const argv[], int stdout_fd, const int *keep_fds,
						 size_t nkeep, int (*child_setup)(void *), void *arg, int rfd)
{
	int keep[PROC_KEEP_FDS_MAX + 1];
	size_t n = 0;
	sigset_t all;
	int nul, out, r;

	/* Signals: nothing blocked, nothing handled, nothing ignored. */
	for (int s = 1; s < NSIG; s++) {
		if (s != SIGKILL && s != SIGSTOP)
			(void)signal(s, SIG_DFL);
	}
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);

	/* Move both sources above 2 first, so no dup2() below clobbers the other. */
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul < 0 || (nul = fcntl(nul, F_DUPFD_CLOEXEC, 3)) < 0)
		goto fail;
	out = fcntl(stdout_fd >= 0 ? stdout_fd : nul, F_DUPFD_CLOEXEC, 3);
	if (out < 0)
		goto fail;
	if (dup2(nul, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
		goto fail;

	/* The report pipe stays open (it is CLOEXEC): exec closes it, which says "ok". */
	for (size_t i = 0; i < nkeep; i++)
		keep[n++] = keep_fds[i];
	keep[n++] = rfd;
	for (size_t i = 1; i < n; i++) {
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	}
	close_all_except(keep, n);
	for (size_t i = 0; i < nkeep; i++) {
		if (fcntl(keep_fds[i], F_SETFD, 0) < 0)
			goto fail;
	}

	if (child_setup) {
		spawn_step_fd = rfd;
		r = child_setup(arg);
		if (r >= 0)
			proc_setup_step(0);   /* what fails from here is not child_setup's */
		spawn_step_fd = -1;
		if (r < 0) {
			errno = -r;
			goto fail;
		}
		if (r == PROC_SETUP_FORK) {
			pid_t c = fork();
			if (c < 0)
				goto fail;
			if (c > 0) {
				spawn_report(rfd, MSG_PID_FINAL, (int)c);
				_exit(0);
			}
		}
	}
	execvp(argv[0], argv);
fail:
	spawn_report(rfd, MSG_ERR, errno > 0 ? -errno : -EIO);
	_exit(127);
}

int proc_spawn_detached(char *const argv[], int stdout_fd, const int *keep_fds, size_t nkeep,
			int (*child_setup)(void *), void *arg, pid_t *ret_pid)
{
	int step;

	return proc_spawn_detached_step(argv, stdout_fd, keep_fds, nkeep, child_setup, arg, ret_pid, &step);
}

int proc_spawn_detached_step(char *const argv[], int stdout_fd, const int *keep_fds, size_t nkeep,
			     int (*child_setup)(void *), void *arg, pid_t *ret_pid, int *ret_step)
{
	_cleanup_close_ int rd = -1;
	int pfd[2], status, err = 0;
	pid_t mid, pid = 0;
	struct spawn_msg m;
	bool final = false;
	ssize_t n;

	*ret_step = 0;
	if (!argv || !argv[0] || nkeep > PROC_KEEP_FDS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < nkeep; i++) {
		if (keep_fds[i] < 3)
			return -EINVAL;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	rd = pfd[0];

	mid = fork();
	if (mid < 0) {
		err = -errno;
		close(pfd[1]);
		return err;
	}
	if (mid == 0) {
		pid_t g;

		close(pfd[0]);
		if (setsid() < 0) {
			spawn_report(pfd[1], MSG_ERR, -errno);
			_exit(1);
		}
		/* The grandchild is not a session leader, so it never gets a controlling tty. */
		g = fork();
		if (g < 0) {
			spawn_report(pfd[1], MSG_ERR, -errno);
			_exit(1);
		}
		if (g == 0)
			spawn_exec(argv, stdout_fd, keep_fds, nkeep, child_setup, arg, pfd[1]);
		spawn_report(pfd[1], MSG_PID, (int)g);
		_exit(0);
	}
	close(pfd[1]);

	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	/* EOF comes when the intermediate child exited and the grandchild exec'd or died. */
	for (;;) {
		n = read(rd, &m, sizeof(m));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (n != sizeof(m)) {
			err = err ? err : -EIO;
			break;
		}
		if (m.kind == MSG_PID_FINAL) {
			pid = (pid_t)m.val;
			final = true;
		} else if (m.kind == MSG_PID && !final)
			pid = (pid_t)m.val;
		else if (m.kind == MSG_ERR && !err)
			err = m.val < 0 ? m.val : -EIO;
		else if (m.kind == MSG_STEP && !err)
			*ret_step = m.val;
	}
	if (err < 0)
		return err;
	if (pid <= 0)
		return -EIO;
	*ret_pid = pid;
	return 0;
}
