// SPDX-License-Identifier: MIT
/* branch.c: git worktrees for `--branch` (see branch.h). */
#include "branch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostgit.h"
#include "idmap.h"
#include "util.h"


void branch_ws_free(struct branch_ws *b)
{
	free(b->repo);
	free(b->common_dir);
	free(b->worktree);
	free(b->worktree_id);
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

/* git's one-line answer, or -EINVAL with *ret_err = what git said. */
static int git_line(const struct hostgit *g, const char *const *args, char **ret, char **ret_err)
{
	_cleanup_free_ char *out = NULL, *err = NULL;
	int r = hostgit_run(g, args, &out, &err);

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

/*
 * The name git gave the worktree at wt in common/worktrees/: its `.git` file says
 * "gitdir: COMMON/worktrees/ID" and that directory's `gitdir` names wt/.git back.
 * Asked only while no VM has had the worktree (right after git made it), or to
 * decide whether a leftover worktree is this sandbox's, never to pick what git opens
 * later: the spec records the answer.
 */
static int worktree_id_read(const char *common, const char *wt, char **ret)
{
	_cleanup_close_ int wfd = open(wt, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), afd = -1;
	_cleanup_free_ char *gitfile = NULL, *back = NULL, *want_back = xasprintf("%s/.git", wt);
	_cleanup_free_ char *prefix = xasprintf("gitdir: %s/worktrees/", common);
	const char *id;

	if (wfd < 0 || hostgit_read_small(wfd, ".git", &gitfile) < 0 || strncmp(gitfile, prefix, strlen(prefix)))
		return -ENOENT;
	id = gitfile + strlen(prefix);
	afd = hostgit_open_worktrees(common, id);
	if (afd < 0 || hostgit_read_small(afd, "gitdir", &back) < 0 || strcmp(back, want_back))
		return -ENOENT;
	*ret = xstrdup(id);
	return 0;
}

/* Make files of a new worktree from its HEAD, on a shadow git directory: no filter or
 * hook of the repository runs (hostgit.h). */
static int worktree_checkout(const struct branch_ws *b, uid_t owner, gid_t group, char **ret_err)
{
	const char *a[] = { "read-tree", "--reset", "-u", "HEAD", NULL };
	struct hostgit_shadow sh;
	_cleanup_free_ char *err = NULL;
	int r = hostgit_shadow_open(b->common_dir, b->worktree_id, b->worktree, owner, group, &sh, ret_err);

	if (r < 0)
		return r;
	r = hostgit_run(&sh.git, a, NULL, &err);
	hostgit_shadow_close(&sh);
	if (r != 0) {
		*ret_err = xasprintf("cannot check out %s: %s", b->worktree, r < 0 ? strerror(-r) : err);
		return r < 0 ? r : -EIO;
	}
	return 0;
}

/* The repository holding path, found by git once as the owner (in the user's own PATH,
 * before any VM had it: the one place git discovers): b->repo and b->common_dir. */
static int repo_find(const char *path, uid_t owner, gid_t group, struct branch_ws *b, char **ret_err)
{
	_cleanup_free_ char *top = NULL, *common = NULL, *gitdir = NULL, *bare = NULL, *err = NULL;
	struct hostgit here = { .owner = owner, .group = group, .cwd = path };
	const char *a0[] = { "rev-parse", "--is-bare-repository", NULL };
	const char *a1[] = { "rev-parse", "--show-toplevel", NULL };
	const char *a2[] = { "rev-parse", "--path-format=absolute", "--git-common-dir", NULL };
	const char *a3[] = { "rev-parse", "--path-format=absolute", "--git-dir", NULL };
	_cleanup_free_ char *g = NULL;

	if (git_line(&here, a0, &bare, &err) < 0) {
		*ret_err = xasprintf("--branch needs a git repository: %s", err ? err : "git failed");
		return -EINVAL;
	}
	if (!strcmp(bare, "true")) {
		*ret_err = xstrdup("--branch needs a repository with a working tree, not a bare one");
		return -EINVAL;
	}
	if (git_line(&here, a1, &top, &err) < 0 || git_line(&here, a2, &common, &err) < 0 ||
	    git_line(&here, a3, &gitdir, &err) < 0) {
		*ret_err = xasprintf("cannot find the repository of %s: %s", path, err ? err : "git failed");
		return -EINVAL;
	}
	b->repo = real(top);
	b->common_dir = real(common);
	if (!b->repo || !b->common_dir) {
		*ret_err = xasprintf("cannot resolve the repository of %s", path);
		return -EINVAL;
	}
	g = real(gitdir);
	if (!g || strcmp(g, b->common_dir)) {
		*ret_err = xasprintf("%s is itself a linked worktree; run sbx on the main one, %s", path, b->repo);
		return -EINVAL;
	}
	if (!strcmp(b->repo, "/")) {
		*ret_err = xstrdup("refusing a repository at /");
		return -EINVAL;
	}
	return 0;
}

/* The directory beside REPO that holds its sandboxes' worktrees: REPO.sbx. */
static char *worktrees_dir(const char *repo)
{
	return xasprintf("%s.sbx", repo);
}

/* git worktree add --no-checkout wt (branch, made from HEAD when new) in REPO.sbx. */
static int worktree_add(const struct hostgit *repo, const char *wt, const char *branch, char **ret_err)
{
	_cleanup_free_ char *parent = worktrees_dir(repo->work_tree);
	_cleanup_free_ char *ref = xasprintf("refs/heads/%s", branch), *out = NULL, *err = NULL;
	const char *exists[] = { "rev-parse", "--verify", "--quiet", ref, NULL };
	/* files come later, from worktree_checkout() */
	const char *add_old[] = { "worktree", "add", "--quiet", "--no-checkout", wt, branch, NULL };
	const char *add_new[] = { "worktree", "add", "--quiet", "--no-checkout", "-b", branch, wt, NULL };
	int r;

	/* REPO.sbx: made here, so that git (run as the owner) needs no right on the
	 * repository's parent beyond what we have */
	r = mkdir(parent, 0755) < 0 ? -errno : 0;
	if (r == 0 && geteuid() == 0 && chown(parent, repo->owner, repo->group) < 0) {
		*ret_err = xasprintf("cannot give %s to uid %u: %s", parent, (unsigned)repo->owner, strerror(errno));
		(void)rmdir(parent);
		return -EPERM;
	}
	if (r < 0 && r != -EEXIST) {
		*ret_err = xasprintf("cannot create %s: %s", parent, strerror(-r));
		return r;
	}
	r = hostgit_run(repo, exists, NULL, NULL);
	if (r < 0) {
		*ret_err = xasprintf("cannot run git: %s", strerror(-r));
		return r;
	}
	r = hostgit_run(repo, r == 0 ? add_old : add_new, &out, &err);
	if (r != 0) {
		*ret_err = xasprintf("git worktree add %s failed: %s", wt, r < 0 ? strerror(-r) : err);
		(void)rmdir(parent); /* when it holds nothing else */
		return r < 0 ? r : -EIO;
	}
	return 0;
}

int branch_prepare(const char *path, const char *branch, const char *sandbox, uid_t owner, gid_t group,
		   struct branch_ws *ret, char **ret_err)
{
	_cleanup_free_ char *wt = NULL;
	struct hostgit repo;
	struct branch_ws b = { 0 };
	struct stat st;
	int r;

	if (!branch_name_valid(branch)) {
		*ret_err = xasprintf("'%s' is not a branch name git accepts", branch);
		return -EINVAL;
	}
	r = repo_find(path, owner, group, &b, ret_err);
	if (r < 0) {
		branch_ws_free(&b);
		return r;
	}
	/* from here on, git's directories are the ones just found, never rediscovered */
	repo = (struct hostgit){ .owner = owner, .group = group, .cwd = b.repo, .git_dir = b.common_dir,
				 .work_tree = b.repo };
	{
		_cleanup_free_ char *parent = worktrees_dir(b.repo);
		wt = xasprintf("%s/%s", parent, sandbox);
	}
	if (lstat(wt, &st) == 0) {
		/* this sandbox's worktree from an earlier create: reuse it if it is one */
		_cleanup_free_ char *rwt = real(wt);
		if (!S_ISDIR(st.st_mode) || !rwt || worktree_id_read(b.common_dir, rwt, &b.worktree_id) < 0) {
			*ret_err = xasprintf("%s exists and is not a worktree of %s; move it away", wt, b.repo);
			branch_ws_free(&b);
			return -EEXIST;
		}
	} else {
		r = worktree_add(&repo, wt, branch, ret_err);
		if (r < 0) {
			branch_ws_free(&b);
			return r;
		}
		b.created = true;
	}
	b.worktree = real(wt);
	if (!b.worktree) {
		*ret_err = xasprintf("cannot resolve %s", wt);
		branch_ws_free(&b);
		return -ENOENT;
	}
	if (b.created) {
		r = worktree_id_read(b.common_dir, b.worktree, &b.worktree_id);
		if (r < 0)
			*ret_err = xasprintf("git made %s, but not as sbx expects (no worktrees/ID of %s names it)",
					     b.worktree, b.common_dir);
		else
			r = worktree_checkout(&b, owner, group, ret_err);
		if (r < 0) {
			_cleanup_free_ char *rerr = NULL;
			(void)branch_remove(&b, &rerr);
			branch_ws_free(&b);
			return r;
		}
	}
	*ret = b;
	return 0;
}

int branch_dirty(const struct branch_ws *b, uid_t owner, gid_t group, char **ret_err)
{
	const char *a[] = { "status", "--porcelain", "--untracked-files=normal", "--ignore-submodules=all",
			    "--no-renames", NULL };
	_cleanup_free_ char *out = NULL, *err = NULL;
	struct hostgit_shadow sh;
	struct stat st;
	int r;

	if (lstat(b->worktree, &st) < 0 && errno == ENOENT)
		return 0;
	if (!b->worktree_id) {
		if (ret_err)
			*ret_err = xasprintf("cannot tell whether %s has changes: it was made by an older sbx, which "
					     "did not record its git directory", b->worktree);
		return -ENOENT;
	}
	r = hostgit_shadow_open(b->common_dir, b->worktree_id, b->worktree, owner, group, &sh, &err);
	if (r == 0) {
		free(err);
		err = NULL;
		r = hostgit_run(&sh.git, a, &out, &err);
		hostgit_shadow_close(&sh);
	}
	if (r != 0) {
		if (ret_err)
			*ret_err = xasprintf("cannot tell whether %s has changes: %s", b->worktree,
					     r < 0 && !err ? strerror(-r) : err);
		return r < 0 ? r : -EIO;
	}
	return *out ? 1 : 0;
}

struct removal {
	const char *common_dir, *id, *worktree;
};

/* The worktree's files, then its entry in common/worktrees (reached without following
 * a symlink, so that a VM's planted link cannot redirect it). In a child: it changes
 * directory. */
static int removal_run(void *arg)
{
	const struct removal *rm = arg;
	int r = rm_rf(rm->worktree), tfd, q;

	if (!rm->id)
		return r;
	tfd = hostgit_open_worktrees(rm->common_dir, NULL);
	if (tfd < 0)
		return r < 0 ? r : tfd == -ENOENT ? 0 : tfd;
	q = fchdir(tfd) < 0 ? -errno : rm_rf(rm->id);
	close(tfd);
	return r < 0 ? r : q;
}

int branch_remove(const struct branch_ws *b, char **ret_err)
{
	struct removal rm = { .common_dir = b->common_dir, .id = b->worktree_id, .worktree = b->worktree };
	int r;

	if (b->worktree_id && !hostgit_id_valid(b->worktree_id))
		return -EINVAL;
	/* As the caller, not the owner: what guest root made in the worktree belongs to an
	 * unprivileged uid the owner cannot remove; as an ordinary user, as root of a
	 * namespace of the user's subordinate ids, which that uid is one of. rm_rf()
	 * never follows a symlink nor leaves the file system, so it removes only the tree. */
	if (geteuid() == 0) {
		r = hostgit_as_owner(geteuid(), getegid(), removal_run, &rm);
	} else {
		struct idmap_ns ns;
		_cleanup_free_ char *err = NULL;

		r = idmap_user_ns(&ns, &err);
		if (r < 0) {
			if (ret_err)
				*ret_err = xasprintf("cannot remove the worktree %s: %s", b->worktree, err);
			return r;
		}
		r = idmap_run(&ns, removal_run, &rm);
	}
	if (r < 0) {
		if (ret_err)
			*ret_err = xasprintf("cannot remove the worktree %s: %s", b->worktree, strerror(-r));
		return r;
	}
	{
		/* REPO.sbx when it held only this one */
		_cleanup_free_ char *parent = worktrees_dir(b->repo);
		(void)rmdir(parent);
	}
	return 0;
}
