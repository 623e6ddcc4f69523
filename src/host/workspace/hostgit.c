// SPDX-License-Identifier: MIT
/* hostgit.c: git on the host, pinned and unsteerable (see hostgit.h). */
#include "hostgit.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

bool hostgit_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 255 || !strcmp(id, ".") || !strcmp(id, ".."))
		return false;
	for (const char *c = id; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '/')
			return false;
	return true;
}

static bool drop_wanted(uid_t owner)
{
	return geteuid() == 0 && owner != 0;
}

/* In a child: become owner:group for good. */
static int drop_to(uid_t owner, gid_t group)
{
	if (setgroups(0, NULL) < 0 || setresgid(group, group, group) < 0 || setresuid(owner, owner, owner) < 0)
		return -errno;
	return 0;
}

/* Wait for pid until deadline; then SIGKILL it. Its wait status, or -errno. */
static int wait_bounded(pid_t pid, int timeout_ms, int *ret_status)
{
	struct timespec tick = { .tv_sec = 0, .tv_nsec = 5 * 1000 * 1000 };
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	bool killed = false;

	for (;;) {
		pid_t w = waitpid(pid, ret_status, killed ? 0 : WNOHANG);
		if (w == pid)
			return killed ? -ETIMEDOUT : 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (w == 0 && now_ms() >= deadline) {
			(void)kill(pid, SIGKILL);
			killed = true;
			continue;
		}
		if (w == 0)
			nanosleep(&tick, NULL);
	}
}

int hostgit_as_owner(uid_t owner, gid_t group, int (*fn)(void *), void *arg)
{
	pid_t pid;
	int st, r;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (drop_wanted(owner) && drop_to(owner, group) < 0)
			_exit(EPERM);
		r = fn(arg);
		_exit(r < 0 ? (-r & 0xff) : 0);
	}
	r = wait_bounded(pid, HOSTGIT_TIMEOUT_MS, &st);
	if (r < 0)
		return r;
	if (!WIFEXITED(st))
		return -EINTR;
	return WEXITSTATUS(st) ? -WEXITSTATUS(st) : 0;
}

/* Read what a memfd collected (bounded), trailing newlines dropped. */
static char *memfd_text(int fd)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (lseek(fd, 0, SEEK_SET) < 0 || fd_read_all(fd, HOSTGIT_OUT_MAX, &buf, &len) < 0)
		return xstrdup("");
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return TAKE_PTR(buf);
}

#define ENV_MAX 24

static void env_add(char **env, size_t *n, const char *key, const char *val)
{
	if (val && *n < ENV_MAX - 1)
		env[(*n)++] = xasprintf("%s=%s", key, val);
}

/* The whole environment git gets (allocated; the caller frees it). */
static char **git_env(const struct hostgit *g, const char *home)
{
	char **env = xcalloc(ENV_MAX, sizeof(char *));
	const char *path = getenv("PATH");
	size_t n = 0;

	env_add(env, &n, "PATH", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	env_add(env, &n, "HOME", home);
	env_add(env, &n, "LC_ALL", "C");
	env_add(env, &n, "GIT_CONFIG_NOSYSTEM", "1");
	env_add(env, &n, "GIT_CONFIG_GLOBAL", "/dev/null");
	env_add(env, &n, "GIT_ATTR_NOSYSTEM", "1");
	env_add(env, &n, "GIT_OPTIONAL_LOCKS", "0");
	env_add(env, &n, "GIT_NO_REPLACE_OBJECTS", "1");
	env_add(env, &n, "GIT_TERMINAL_PROMPT", "0");
	env_add(env, &n, "GIT_PAGER", "cat");
	env_add(env, &n, "PAGER", "cat");
	env_add(env, &n, "GIT_EDITOR", "false");
	env_add(env, &n, "GIT_DIR", g->git_dir);
	env_add(env, &n, "GIT_COMMON_DIR", g->common_dir);
	env_add(env, &n, "GIT_WORK_TREE", g->work_tree);
	env_add(env, &n, "GIT_INDEX_FILE", g->index_file);
	env_add(env, &n, "GIT_OBJECT_DIRECTORY", g->object_dir);
	return env;
}

static void env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

int hostgit_run(const struct hostgit *g, const char *const *args, char **ret_out, char **ret_err)
{
	/* sbx's own config, the only config besides the repository format it ever names */
	static const char *const pre[] = {
		"git", "--no-pager",
		"-c", "core.hooksPath=/dev/null",
		"-c", "core.fsmonitor=false",
		"-c", "core.attributesFile=/dev/null",
		"-c", "core.excludesFile=/dev/null",
		"-c", "core.untrackedCache=false",
		"-c", "submodule.recurse=false",
		"-c", "diff.ignoreSubmodules=all",
		"-c", "protocol.allow=never",
	};
	const char *argv[ARRAY_SIZE(pre) + 25];
	size_t n = 0;
	_cleanup_close_ int out = memfd_create("git-out", MFD_CLOEXEC), err = memfd_create("git-err", MFD_CLOEXEC);
	bool drop = drop_wanted(g->owner);
	_cleanup_free_ char *home = NULL;
	char **env;
	pid_t pid;
	int st, r;

	if (out < 0 || err < 0)
		return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(pre); i++)
		argv[n++] = pre[i];
	for (size_t i = 0; args[i]; i++) {
		if (n >= ARRAY_SIZE(argv) - 1)
			return -E2BIG;
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	{
		struct passwd *pw = getpwuid(drop ? g->owner : geteuid());
		home = xstrdup(pw && pw->pw_dir ? pw->pw_dir : "/");
	}
	env = git_env(g, home);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		env_free(env);
		return r;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(126);
		if (drop && drop_to(g->owner, g->group) < 0)
			_exit(126);
		if (chdir(g->cwd ? g->cwd : "/") < 0) {
			if (drop)   /* e.g. a 0700 directory of root's above the repository */
				dprintf(2, "cannot enter %s as its owner, uid %u (sbx runs git on the host as the "
					   "repository's owner, never as root): %s", g->cwd, (unsigned)g->owner,
					strerror(errno));
			else
				dprintf(2, "cannot enter %s: %s", g->cwd, strerror(errno));
			_exit(126);
		}
		execvpe("git", (char *const *)argv, env);
		dprintf(2, "cannot run git: %s", strerror(errno));
		_exit(127);
	}
	env_free(env);
	r = wait_bounded(pid, HOSTGIT_TIMEOUT_MS, &st);
	if (ret_out)
		*ret_out = memfd_text(out);
	if (ret_err)
		*ret_err = r == -ETIMEDOUT ? xstrdup("git took too long and was stopped") : memfd_text(err);
	if (r < 0)
		return r;
	if (!WIFEXITED(st))
		return -EINTR;
	return WEXITSTATUS(st);
}

/* ---- shadow git directory ---- */

int hostgit_open_worktrees(const char *common_dir, const char *id)
{
	_cleanup_close_ int cfd = open(common_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), tfd = -1;
	int fd;

	if (cfd < 0)
		return -errno;
	tfd = openat(cfd, "worktrees", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return -errno;
	if (!id)
		return TAKE_FD(tfd);
	if (!hostgit_id_valid(id))
		return -EINVAL;
	fd = openat(tfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int hostgit_read_small(int dirfd, const char *name, char **ret)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -EINVAL;
	if (fd_read_all(fd, HOSTGIT_SMALL_MAX, &buf, &len) < 0 || memchr(buf, 0, len))
		return -EINVAL;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = 0;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* The worktree's HEAD: a symbolic ref to a branch or an object name, nothing else. */
static int head_read(const char *common_dir, const char *id, char **ret)
{
	_cleanup_close_ int afd = hostgit_open_worktrees(common_dir, id);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	bool ok;
	int r;

	if (afd < 0)
		return afd;
	r = hostgit_read_small(afd, "HEAD", &buf);
	if (r < 0)
		return r;
	len = strlen(buf);
	if (!strncmp(buf, "ref: refs/", 10)) {
		ok = !strchr(buf, '\n') && !strstr(buf, "..");
	} else {
		ok = len == 40 || len == 64;
		for (size_t i = 0; ok && i < len; i++)
			ok = strchr("0123456789abcdef", buf[i]) != NULL;
	}
	if (!ok)
		return -EINVAL;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* The repository's object format, from its config file alone (no includes). */
static int object_format(const char *common_dir, uid_t owner, gid_t group, char **ret, char **ret_err)
{
	_cleanup_free_ char *cfg = xasprintf("%s/config", common_dir), *out = NULL, *err = NULL;
	const char *a[] = { "config", "--file", cfg, "--no-includes", "--get", "extensions.objectformat", NULL };
	struct hostgit g = { .owner = owner, .group = group };
	int r = hostgit_run(&g, a, &out, &err);

	if (r == 1) {
		*ret = xstrdup("sha1");
		return 0;
	}
	if (r == 0 && (!strcmp(out, "sha1") || !strcmp(out, "sha256"))) {
		*ret = TAKE_PTR(out);
		return 0;
	}
	*ret_err = xasprintf("cannot read the object format of %s: %s", common_dir,
			     r < 0 ? strerror(-r) : r == 0 ? "unknown format" : err);
	return r < 0 ? r : -EINVAL;
}

void hostgit_shadow_close(struct hostgit_shadow *s)
{
	if (s->dir)
		(void)rm_rf(s->dir);
	free(s->dir);
	free(s->index);
	free(s->objects);
	*s = (struct hostgit_shadow){ 0 };
}

static int put_file(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	return write_all(fd, text, strlen(text));
}

static int put_link(const char *dir, const char *name, const char *common_dir)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name), *t = xasprintf("%s/%s", common_dir, name);

	return symlink(t, p) < 0 ? -errno : 0;
}

int hostgit_shadow_open(const char *common_dir, const char *id, const char *worktree, uid_t owner, gid_t group,
			struct hostgit_shadow *ret, char **ret_err)
{
	struct hostgit_shadow s = { 0 };
	_cleanup_free_ char *head = NULL, *fmt = NULL, *cfg = NULL, *headline = NULL;
	const char *tmp = getenv("TMPDIR");
	int r;

	if (!hostgit_id_valid(id)) {
		*ret_err = xstrdup("the worktree's git directory was not recorded");
		return -EINVAL;
	}
	r = head_read(common_dir, id, &head);
	if (r < 0) {
		*ret_err = xasprintf("cannot read %s/worktrees/%s/HEAD: %s", common_dir, id,
				     r == -EINVAL ? "not a branch or commit" : strerror(-r));
		return r;
	}
	r = object_format(common_dir, owner, group, &fmt, ret_err);
	if (r < 0)
		return r;
	s.dir = xasprintf("%s/sbx-git-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (!mkdtemp(s.dir)) {
		r = -errno;
		*ret_err = xasprintf("cannot create %s: %s", s.dir, strerror(errno));
		free(s.dir);
		return r;
	}
	cfg = !strcmp(fmt, "sha1") ? xstrdup("[core]\n\trepositoryformatversion = 0\n\tbare = false\n")
				    : xasprintf("[core]\n\trepositoryformatversion = 1\n\tbare = false\n"
						"[extensions]\n\tobjectformat = %s\n", fmt);
	headline = xasprintf("%s\n", head);
	/* refs are data: links to the real ones; packed-refs may be absent, which is fine */
	if ((r = put_file(s.dir, "config", cfg)) < 0 || (r = put_file(s.dir, "HEAD", headline)) < 0 ||
	    (r = put_link(s.dir, "refs", common_dir)) < 0 || (r = put_link(s.dir, "packed-refs", common_dir)) < 0 ||
	    (drop_wanted(owner) && chown(s.dir, owner, group) < 0 && (r = -errno))) {
		*ret_err = xasprintf("cannot set up %s: %s", s.dir, strerror(-r));
		hostgit_shadow_close(&s);
		return r;
	}
	s.index = xasprintf("%s/worktrees/%s/index", common_dir, id);
	s.objects = xasprintf("%s/objects", common_dir);
	s.git = (struct hostgit){
		.owner = owner,
		.group = group,
		.cwd = worktree,
		.git_dir = s.dir,
		.work_tree = worktree,
		.index_file = s.index,
		.object_dir = s.objects,
	};
	*ret = s;
	return 0;
}
