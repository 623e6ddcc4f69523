// SPDX-License-Identifier: MIT
/* test_wsguard.c: which git paths are served read-only to the VM, and that the bind
 * mounts are read-only inside their namespace only. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"
#include "wsguard.h"

static char *hp(const char *text)
{
	return wsguard_hooks_path(text, strlen(text));
}

static void test_hooks_path(void)
{
	char *v;

	CHECK(hp("") == NULL);
	CHECK(hp("[user]\n\tname = x\n") == NULL);
	v = hp("[core]\n\thooksPath = .husky\n");
	CHECK(v && !strcmp(v, ".husky"));
	free(v);
	/* case-insensitive section and key, last one wins, quotes, comments */
	v = hp("[Core]\n HOOKSPATH=a\n[core]\n\thookspath = \"b c\" ; comment\n");
	CHECK(v && !strcmp(v, "b c"));
	free(v);
	/* on the header line */
	v = hp("[core] hooksPath = /x/y\n");
	CHECK(v && !strcmp(v, "/x/y"));
	free(v);
	/* a subsection is another section */
	CHECK(hp("[core \"x\"]\n\thooksPath = no\n") == NULL);
	/* escapes, trailing blanks dropped */
	v = hp("[core]\nhooksPath = a\\\"b  \n");
	CHECK(v && !strcmp(v, "a\"b"));
	free(v);
	CHECK(hp("[core]\n# hooksPath = commented\n") == NULL);
}

static char ws[64];

static void put(const char *rel, const char *text)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", ws, rel), *d = xstrdup(p);

	*strrchr(d, '/') = '\0';
	CHECK_EQ(mkdir_p(d, 0755), 0);
	CHECK_EQ(file_write_atomic(p, text, strlen(text), 0644), 0);
}

static int idx(const struct wsguard *g, const char *rel)
{
	for (size_t i = 0; i < g->n; i++)
		if (!strcmp(g->rel[i], rel))
			return (int)i;
	return -1;
}

/* read-only */
static bool has(const struct wsguard *g, const char *rel)
{
	int i = idx(g, rel);
	return i >= 0 && g->ro[i];
}

/* pinned: bound read-write, before anything beneath it */
static bool pinned(const struct wsguard *g, const char *rel)
{
	int i = idx(g, rel);
	size_t n = strlen(rel);

	if (i < 0 || g->ro[i])
		return false;
	for (int j = 0; j < i; j++)
		if (!strncmp(g->rel[j], rel, n) && g->rel[j][n] == '/')
			return false;
	return true;
}

static size_t nro(const struct wsguard *g)
{
	size_t n = 0;
	for (size_t i = 0; i < g->n; i++)
		n += g->ro[i];
	return n;
}

static void test_plan(void)
{
	struct wsguard g;
	char *warn = NULL;
	struct stat st;
	_cleanup_free_ char *hooks = NULL, *outside = NULL;

	snprintf(ws, sizeof(ws), "/tmp/sbx-wsguard-XXXXXX");
	CHECK(mkdtemp(ws) != NULL);

	/* no .git: nothing */
	CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn), 0);
	CHECK_EQ(g.n, 0);
	CHECK(warn == NULL);

	/* .git as a file (a linked worktree): its git dir is not shared, nothing here */
	put(".git", "gitdir: /elsewhere\n");
	CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn), 0);
	CHECK_EQ(g.n, 0);
	{
		_cleanup_free_ char *p = xasprintf("%s/.git", ws);
		CHECK_EQ(unlink(p), 0);
	}

	/* a repository without hooks/: created (owned by the agent), then protected */
	outside = xasprintf("%s-outside", ws);
	put(".git/HEAD", "ref: refs/heads/main\n");
	put(".git/config",
	    "[core]\n\thooksPath = .husky\n[include]\n\tpath = ../.gitconfig-team\n"
	    "[includeIf \"gitdir:x\"]\n\tpath = /etc/gitconfig-elsewhere\n");
	put(".husky/pre-commit", "#!/bin/sh\n");
	put(".gitconfig-team", "[user]\n");
	put(".git/modules/sub/HEAD", "x\n");
	put(".git/modules/sub/config", "[core]\n");
	put(".git/modules/sub/hooks/post-checkout", "x\n");
	put(".git/modules/a/b/HEAD", "x\n");   /* submodule "a/b" */
	put(".git/modules/a/b/config", "[core]\n\thooksPath = ../../../../tools/hooks\n");
	put("tools/hooks/pre-push", "x\n");
	CHECK_EQ(wsguard_plan(ws, 1234, 2345, &g, &warn), 0);
	CHECK(has(&g, ".git/hooks"));
	CHECK(has(&g, ".git/config"));
	CHECK(has(&g, ".husky"));
	CHECK(has(&g, ".gitconfig-team"));
	CHECK(has(&g, ".git/modules/sub/hooks"));
	CHECK(has(&g, ".git/modules/sub/config"));
	CHECK(has(&g, ".git/modules/a/b/hooks"));    /* created */
	CHECK(has(&g, ".git/modules/a/b/config"));
	CHECK(has(&g, "tools/hooks"));               /* a submodule's: taken from its git dir */
	CHECK_EQ(nro(&g), 9);
	/* their parents cannot be renamed away */
	CHECK(pinned(&g, ".git"));
	CHECK(pinned(&g, ".git/modules"));
	CHECK(pinned(&g, ".git/modules/a"));
	CHECK(pinned(&g, ".git/modules/a/b"));
	CHECK(pinned(&g, "tools"));
	CHECK_EQ(g.n, 9 + 6);   /* .git, modules, modules/sub, modules/a, modules/a/b, tools */
	hooks = xasprintf("%s/.git/hooks", ws);
	CHECK(stat(hooks, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 1234 && st.st_gid == 2345);
	free(warn);
	warn = NULL;

	/* a hooks path outside the workspace: not ours to protect */
	{
		_cleanup_free_ char *mods = xasprintf("%s/.git/modules", ws);
		CHECK_EQ(rm_rf(mods), 0);
	}
	put(".git/config", "[core]\n\thooksPath = ../../etc\n[include]\n\tpath = ../../x\n");
	CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn), 0);
	CHECK_EQ(nro(&g), 2);
	CHECK_EQ(g.n, 3);
	CHECK(pinned(&g, ".git"));
	free(warn);
	warn = NULL;

	/* hooks/ as a symlink: reported, not protected (a bind mount would follow it) */
	CHECK_EQ(rename(hooks, outside), 0);
	CHECK_EQ(symlink(outside, hooks), 0);
	CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn), 0);
	CHECK(!has(&g, ".git/hooks"));
	CHECK(has(&g, ".git/config"));
	CHECK(warn && strstr(warn, ".git/hooks") && strstr(warn, "symbolic link"));
	free(warn);
	warn = NULL;
	CHECK_EQ(unlink(hooks), 0);
	CHECK_EQ(rename(outside, hooks), 0);

	/* .git itself a symlink: nothing followed */
	{
		_cleanup_free_ char *git = xasprintf("%s/.git", ws), *moved = xasprintf("%s/realgit", ws);
		CHECK_EQ(rename(git, moved), 0);
		CHECK_EQ(symlink("realgit", git), 0);
		CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn), 0);
		CHECK_EQ(g.n, 0);
		CHECK(warn && strstr(warn, ".git"));
		free(warn);
		warn = NULL;
		CHECK_EQ(unlink(git), 0);
		CHECK_EQ(rename(moved, git), 0);
	}
}

/* In a child with its own mount namespace: read-only there, writable here. */
static void test_apply(void)
{
	struct wsguard g;
	_cleanup_free_ char *cfg = xasprintf("%s/.git/config", ws), *hook = xasprintf("%s/.git/hooks/x", ws);
	_cleanup_free_ char *git = xasprintf("%s/.git", ws), *moved = xasprintf("%s/.git-old", ws);
	_cleanup_free_ char *obj = xasprintf("%s/.git/index", ws);
	pid_t pid;
	int st, fd;

	if (geteuid() != 0) {
		printf("test_apply: needs root (mount namespace without a user namespace here)\n");
		return;
	}
	put(".git/config", "[core]\n");
	CHECK_EQ(wsguard_plan(ws, 0, 0, &g, NULL), 0);
	CHECK_EQ(g.n, 3);
	pid = fork();
	if (pid == 0) {
		int r = wsguard_unshare(), bad = 0;
		if (r == 0)
			r = wsguard_apply(ws, &g);
		if (r < 0)
			_exit(10);
		fd = open(cfg, O_WRONLY | O_APPEND);
		bad |= !(fd < 0 && errno == EROFS);
		fd = open(hook, O_WRONLY | O_CREAT, 0755);
		bad |= !(fd < 0 && errno == EROFS) << 1;
		/* .git cannot be moved aside, but stays writable */
		bad |= !(rename(git, moved) < 0 && errno == EBUSY) << 2;
		fd = open(obj, O_WRONLY | O_CREAT, 0644);
		bad |= (fd < 0) << 3;
		_exit(bad);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the host's view is untouched */
	fd = open(cfg, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_EQ(rm_rf(ws), 0);
	{
		_cleanup_free_ char *outside = xasprintf("%s-outside", ws);
		(void)rm_rf(outside);
	}
}

int main(void)
{
	test_hooks_path();
	test_plan();
	test_apply();
	TEST_DONE();
}
