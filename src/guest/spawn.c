// SPDX-License-Identifier: MIT
/* spawn.c: the fork/exec side of exec sessions: environment vectors, ptys, the child's setup. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "guest.h"
#include "proto.h"
#include "util.h"

/* ---- string vectors ---- */

/* NULL-terminated; capacity is max(8, next power of two above n): grow when full. */
int strv_push(char ***v, size_t *n, char *s)
{
	if (*n == 0 || (*n + 1 >= 8 && ((*n + 1) & *n) == 0)) {
		size_t cap = *n == 0 ? 8 : 2 * (*n + 1);
		char **nv = realloc(*v, cap * sizeof(char *));
		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
	return 0;
}

void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Set "K=V" in env (replacing K); "K" without '=' removes K. Takes s. */
int env_set(char ***env, size_t *n, char *s)
{
	size_t klen = strcspn(s, "=");

	if (klen == 0) {
		free(s);
		return 0;
	}
	for (size_t i = 0; i < *n; i++) {
		if (strncmp((*env)[i], s, klen) == 0 && (*env)[i][klen] == '=') {
			free((*env)[i]);
			if (s[klen] == '=') {
				(*env)[i] = s;
			} else {
				free(s);
				(*env)[i] = (*env)[--*n];
				(*env)[*n] = NULL;
			}
			return 0;
		}
	}
	if (s[klen] != '=') {
		free(s);
		return 0;
	}
	return strv_push(env, n, s);
}

const char *env_get(char **env, size_t n, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], key, klen) == 0 && env[i][klen] == '=')
			return env[i] + klen + 1;
	return NULL;
}

int spawn_open_pty(uint32_t winsz, uid_t uid, int *ret_master, int *ret_slave)
{
	_cleanup_close_ int master = -1, slave = -1;
	struct winsize ws = { .ws_row = (unsigned short)(winsz >> 16), .ws_col = (unsigned short)winsz };

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return -errno;
	if (unlockpt(master) < 0)
		return -errno;
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		char name[64];

		if (ptsname_r(master, name, sizeof(name)) != 0)
			return -errno;
		slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (slave < 0)
			return -errno;
	}
	if (ws.ws_row && ws.ws_col)
		(void)ioctl(master, TIOCSWINSZ, &ws);
	/* The user owns its terminal, as after a login. */
	(void)!fchown(slave, uid, SPAWN_TTY_GID);
	(void)fchmod(slave, 0620);
	if (fd_set_nonblock(master, true) < 0)
		return -errno;
	*ret_master = TAKE_FD(master);
	*ret_slave = TAKE_FD(slave);
	return 0;
}

/* ---- the child ---- */

/* Report a failure through the status pipe and exit; only in the forked child. */
static void __attribute__((noreturn)) child_fail(int fd, int status, const char *fmt, ...)
{
	char buf[SPAWN_MSG_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(fd, buf, MIN((size_t)n, sizeof(buf) - 1));
	_exit(status);
}

static void child_execve(const char *path, char **argv, char **envp)
{
	execve(path, argv, envp);
	if (errno == ENOEXEC) {
		/* A script without #!: run it with /bin/sh, as execvp does. */
		size_t n = 0;
		char **v;

		while (argv[n])
			n++;
		v = calloc(n + 2, sizeof(char *));
		if (!v)
			return;
		v[0] = (char *)"sh";
		v[1] = (char *)path;
		for (size_t i = 1; i < n; i++)
			v[i + 1] = argv[i];
		execve("/bin/sh", v, envp);
		errno = ENOEXEC;
	}
}

/* execvp semantics, with PATH taken from the child's own environment. Returns errno. */
static int child_exec(char **argv, char **envp, size_t envc)
{
	const char *file = argv[0], *path;
	bool eacces = false;

	if (!*file)
		return ENOENT;
	if (strchr(file, '/')) {
		child_execve(file, argv, envp);
		return errno;
	}
	path = env_get(envp, envc, "PATH");
	if (!path)
		path = SPAWN_DEFAULT_PATH;
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dl = (size_t)(end - p);
		char buf[PATH_MAX];

		if (dl + 1 + strlen(file) + 1 <= sizeof(buf)) {
			if (dl)
				memcpy(buf, p, dl);
			else
				buf[dl++] = '.';
			buf[dl] = '/';
			strcpy(buf + dl + 1, file);
			child_execve(buf, argv, envp);
			switch (errno) {
			case EACCES:
				eacces = true;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
			case ETIMEDOUT:
			case ENAMETOOLONG:
			case ELOOP:
				break;
			default:
				return errno;
			}
		}
		p = end;
		if (!*p)
			break;
	}
	return eacces ? EACCES : ENOENT;
}

void child_run(const struct child_args *a)
{
	sigset_t none;
	int err;

	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		(void)signal(s, SIG_DFL);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	{
		struct rlimit rl = { .rlim_cur = GUEST_CHILD_NOFILE, .rlim_max = GUEST_NOFILE };
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (setsid() < 0)
		child_fail(a->status_fd, EXEC_STATUS_NOT_EXEC, "setsid: %s", strerror(errno));
	if (a->tty && ioctl(a->stdio[0], TIOCSCTTY, 0) < 0)
		child_fail(a->status_fd, EXEC_STATUS_NOT_EXEC, "controlling tty: %s", strerror(errno));
	for (int i = 0; i < 3; i++)
		if (dup2(a->stdio[i], i) < 0)
			child_fail(a->status_fd, EXEC_STATUS_NOT_EXEC, "dup2: %s", strerror(errno));
	if (setgroups(a->ngroups, a->groups) < 0)
		child_fail(a->status_fd, EXEC_STATUS_NOT_EXEC, "setgroups: %s", strerror(errno));
	if (setgid(a->gid) < 0)
		child_fail(a->status_fd, EXEC_STATUS_NOT_EXEC, "setgid %u: %s", a->gid, strerror(errno));
	if (setuid(a->uid) < 0)
		child_fail(a->status_fd, EXEC_STATUS_NOT_EXEC, "setuid %u: %s", a->uid, strerror(errno));
	if (chdir(a->cwd) < 0)
		child_fail(a->status_fd, EXEC_STATUS_NOT_EXEC, "chdir %s: %s", a->cwd, strerror(errno));
	umask(022);
	err = child_exec(a->argv, a->envp, a->envc);
	child_fail(a->status_fd, err == ENOENT ? EXEC_STATUS_NOT_FOUND : EXEC_STATUS_NOT_EXEC,
		   "exec %s: %s", a->argv[0], strerror(err));
}

