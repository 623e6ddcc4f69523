// SPDX-License-Identifier: MIT
/* branch.c: git worktrees for `--branch` (see branch.h). */
#include "branch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define GIT_OUT_MAX (64u * 1024u)

void branch_ws_free(struct branch_ws *b)
{
	free(b->repo);
	free(b->common_dir);
	free(b->worktree);
	*b = (struct branch_ws){ 0 };
}

bool branch_name_valid(const char *b)
{
	size_t n = b ? strlen(b) : 0;

	if (n == 0 || n > 200 || b[0] == '-' || b[0] == '/' || b[n - 1] == '/' || b[n - 1] == '.')
		return false;
	if (strstr(b, "..") || strstr(b, "//") || strstr(b, "@{") || strstr(b, "/.") || b[0] == '.' ||
	    (n >= 5 && !strcmp(b + n - 5, ".lock")) || !strcmp(b, "@"))
		return false;
	for (const char *c = b; *c; c++) {
		unsigned char ch = (unsigned char)*c;
		if (ch <= 0x20 || ch >= 0x7f || strchr("~^:?*[\\", ch))
			return false;
	}
	return true;
}

/* Read what a memfd collected (bounded), trailing newlines dropped. */
static char *memfd_text(int fd)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (lseek(fd, 0, SEEK_SET) < 0 || fd_read_all(fd, GIT_OUT_MAX, &buf, &len) < 0)
		return xstrdup("");
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return TAKE_PTR(buf);
}

/*
 * git ARGS as owner:group (when we are root and they are not), hooks off, no system
 * config, LC_ALL=C. Returns git's exit status (>= 0) or -errno; *ret_out / *ret_err
 * (optional) get its stdout / stderr.
 */
static int git_run(uid_t owner, gid_t group, const char *const *args, char **ret_out, char **ret_err)
{
	const char *argv[32];
	size_t n = 0;
	_cleanup_close_ int out = memfd_create("git-out", MFD_CLOEXEC), err = memfd_create("git-err", MFD_CLOEXEC);
	bool drop = geteuid() == 0 && owner != 0;
	_cleanup_free_ char *home = NULL;
	pid_t pid;
	int st;

	if (out < 0 || err < 0)
		return -errno;
	argv[n++] = "git";
	argv[n++] = "-c";
	argv[n++] = "core.hooksPath=/dev/null";
	argv[n++] = "-c";
	argv[n++] = "core.fsmonitor=false";
	for (size_t i = 0; args[i]; i++) {
		if (n >= ARRAY_SIZE(argv) - 1)
			return -E2BIG;
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	if (drop) {
		struct passwd *pw = getpwuid(owner);
		home = xstrdup(pw && pw->pw_dir ? pw->pw_dir : "/");
	}
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(126);
		if (drop && (setgroups(0, NULL) < 0 || setresgid(group, group, group) < 0 ||
			     setresuid(owner, owner, owner) < 0))
			_exit(126);
		if (home)
			setenv("HOME", home, 1);
		setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
		setenv("LC_ALL", "C", 1);
		unsetenv("GIT_DIR");
		unsetenv("GIT_WORK_TREE");
		unsetenv("GIT_COMMON_DIR");
		unsetenv("GIT_INDEX_FILE");
		execvp("git", (char *const *)argv);
		dprintf(2, "cannot run git: %s", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (ret_out)
		*ret_out = memfd_text(out);
	if (ret_err)
		*ret_err = memfd_text(err);
	if (!WIFEXITED(st))
		return -EINTR;
	return WEXITSTATUS(st);
}

/* git's one-line answer, or -EINVAL with *ret_err = what git said. */
static int git_line(uid_t owner, gid_t group, const char *const *args, char **ret, char **ret_err)
{
	_cleanup_free_ char *out = NULL, *err = NULL;
	int r = git_run(owner, group, args, &out, &err);

	if (r < 0)
		return r;
	if (r != 0 || !*out || strchr(out, '\n')) {
		if (ret_err)
			*ret_err = xstrdup(*err ? err : "git failed");
		return -EINVAL;
	}
	*ret = TAKE_PTR(out);
	return 0;
}

static char *real(const char *p)
{
	char buf[PATH_MAX];

	return realpath(p, buf) ? xstrdup(buf) : NULL;
}

int branch_prepare(const char *path, const char *branch, const char *sandbox, uid_t owner, gid_t group,
		   struct branch_ws *ret, char **ret_err)
{
	_cleanup_free_ char *top = NULL, *common = NULL, *gitdir = NULL, *bare = NULL, *err = NULL;
	_cleanup_free_ char *wt = NULL, *parent = NULL, *have = NULL, *out = NULL;
	struct branch_ws b = { 0 };
	struct stat st;
	int r;

	if (!branch_name_valid(branch)) {
		*ret_err = xasprintf("'%s' is not a branch name git accepts", branch);
		return -EINVAL;
	}
	{
		const char *a[] = { "-C", path, "rev-parse", "--is-bare-repository", NULL };
		if (git_line(owner, group, a, &bare, &err) < 0) {
			*ret_err = xasprintf("--branch needs a git repository: %s", err ? err : "git failed");
			return -EINVAL;
		}
	}
	if (!strcmp(bare, "true")) {
		*ret_err = xstrdup("--branch needs a repository with a working tree, not a bare one");
		return -EINVAL;
	}
	{
		const char *a1[] = { "-C", path, "rev-parse", "--show-toplevel", NULL };
		const char *a2[] = { "-C", path, "rev-parse", "--path-format=absolute", "--git-common-dir", NULL };
		const char *a3[] = { "-C", path, "rev-parse", "--path-format=absolute", "--git-dir", NULL };
		if (git_line(owner, group, a1, &top, &err) < 0 || git_line(owner, group, a2, &common, &err) < 0 ||
		    git_line(owner, group, a3, &gitdir, &err) < 0) {
			*ret_err = xasprintf("cannot find the repository of %s: %s", path, err ? err : "git failed");
			return -EINVAL;
		}
	}
	b.repo = real(top);
	b.common_dir = real(common);
	if (!b.repo || !b.common_dir) {
		branch_ws_free(&b);
		*ret_err = xasprintf("cannot resolve the repository of %s", path);
		return -EINVAL;
	}
	{
		_cleanup_free_ char *g = real(gitdir);
		if (!g || strcmp(g, b.common_dir)) {
			*ret_err = xasprintf("%s is itself a linked worktree; run sbx on the main one, %s", path, b.repo);
			branch_ws_free(&b);
			return -EINVAL;
		}
	}
	if (!strcmp(b.repo, "/")) {
		branch_ws_free(&b);
		*ret_err = xstrdup("refusing a repository at /");
		return -EINVAL;
	}
	parent = xasprintf("%s.sbx", b.repo);
	wt = xasprintf("%s/%s", parent, sandbox);
	if (lstat(wt, &st) == 0) {
		/* this sandbox's worktree from an earlier create: reuse it if it is one */
		const char *a[] = { "-C", wt, "rev-parse", "--path-format=absolute", "--git-common-dir", NULL };
		_cleanup_free_ char *c = NULL, *rc = NULL;
		if (!S_ISDIR(st.st_mode) || git_line(owner, group, a, &c, NULL) < 0 || !(rc = real(c)) ||
		    strcmp(rc, b.common_dir)) {
			*ret_err = xasprintf("%s exists and is not a worktree of %s; move it away", wt, b.repo);
			branch_ws_free(&b);
			return -EEXIST;
		}
	} else {
		const char *exists[] = { "-C", b.repo, "rev-parse", "--verify", "--quiet", NULL, NULL };
		_cleanup_free_ char *ref = xasprintf("refs/heads/%s", branch);
		const char *add_old[] = { "-C", b.repo, "worktree", "add", "--quiet", wt, branch, NULL };
		const char *add_new[] = { "-C", b.repo, "worktree", "add", "--quiet", "-b", branch, wt, NULL };

		exists[5] = ref;
		/* REPO.sbx: made here, so that git (run as the owner) needs no right on the
		 * repository's parent beyond what we have */
		if (mkdir(parent, 0755) == 0) {
			if (geteuid() == 0 && chown(parent, owner, group) < 0) {
				*ret_err = xasprintf("cannot give %s to uid %u: %s", parent, (unsigned)owner, strerror(errno));
				(void)rmdir(parent);
				branch_ws_free(&b);
				return -EPERM;
			}
		} else if (errno != EEXIST) {
			*ret_err = xasprintf("cannot create %s: %s", parent, strerror(errno));
			branch_ws_free(&b);
			return -errno;
		}
		r = git_run(owner, group, exists, NULL, NULL);
		if (r < 0) {
			branch_ws_free(&b);
			*ret_err = xasprintf("cannot run git: %s", strerror(-r));
			return r;
		}
		free(err);
		err = NULL;
		r = git_run(owner, group, r == 0 ? add_old : add_new, &out, &err);
		if (r != 0) {
			*ret_err = xasprintf("git worktree add %s failed: %s", wt, r < 0 ? strerror(-r) : err);
			(void)rmdir(parent);   /* when it holds nothing else */
			branch_ws_free(&b);
			return r < 0 ? r : -EIO;
		}
		b.created = true;
	}
	b.worktree = real(wt);
	if (!b.worktree) {
		*ret_err = xasprintf("cannot resolve %s", wt);
		branch_ws_free(&b);
		return -ENOENT;
	}
	*ret = b;
	return 0;
}

int branch_dirty(const char *worktree, uid_t owner, gid_t group, char **ret_err)
{
	const char *a[] = { "-C", worktree, "status", "--porcelain", "--untracked-files=normal", NULL };
	_cleanup_free_ char *out = NULL, *err = NULL;
	struct stat st;
	int r;

	if (lstat(worktree, &st) < 0 && errno == ENOENT)
		return 0;
	r = git_run(owner, group, a, &out, &err);
	if (r != 0) {
		if (ret_err)
			*ret_err = xasprintf("cannot tell whether %s has changes: %s", worktree,
					     r < 0 ? strerror(-r) : err);
		return r < 0 ? r : -EIO;
	}
	return *out ? 1 : 0;
}

int branch_remove(const char *repo, const char *worktree, uid_t owner, gid_t group, char **ret_err)
{
	const char *rm[] = { "-C", repo, "worktree", "remove", "--force", "--force", worktree, NULL };
	const char *prune[] = { "-C", repo, "worktree", "prune", NULL };
	_cleanup_free_ char *err = NULL;
	struct stat st;
	int r;

	if (lstat(worktree, &st) < 0 && errno == ENOENT) {
		(void)git_run(owner, group, prune, NULL, NULL);
		return 0;
	}
	r = git_run(owner, group, rm, NULL, &err);
	if (r != 0) {
		if (ret_err)
			*ret_err = xasprintf("git worktree remove %s failed: %s", worktree, r < 0 ? strerror(-r) : err);
		return r < 0 ? r : -EIO;
	}
	{
		/* REPO.sbx when it held only this one */
		_cleanup_free_ char *parent = xasprintf("%s.sbx", repo);
		(void)rmdir(parent);
	}
	return 0;
}
