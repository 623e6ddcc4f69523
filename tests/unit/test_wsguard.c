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

	/* no .git: an empty read-only one, so the guest cannot `git init` one that host
	 * git would use (issue 8, hole 2b) */
	CHECK_EQ(wsguard_plan(ws, 1234, 2345, &g, &warn, NULL), 0);
	CHECK_EQ(g.n, 1);
	CHECK(has(&g, ".git"));
	CHECK(warn == NULL);
	{
		_cleanup_free_ char *p = xasprintf("%s/.git", ws);
		CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 1234 && st.st_gid == 2345);
		/* next time: a .git without HEAD is read-only as a whole, nothing made in it */
		CHECK_EQ(wsguard_plan(ws, 1234, 2345, &g, &warn, NULL), 0);
		CHECK_EQ(g.n, 1);
		CHECK(has(&g, ".git"));
		CHECK(rmdir(p) == 0);   /* still empty */
	}

	/* .git as a file (a linked worktree): its git dir is not shared; the file is
	 * read-only so it cannot be pointed at a git directory the guest made */
	put(".git", "gitdir: /elsewhere\n");
	CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn, NULL), 0);
	CHECK_EQ(g.n, 1);
	CHECK(has(&g, ".git"));
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
	CHECK_EQ(wsguard_plan(ws, 1234, 2345, &g, &warn, NULL), 0);
	CHECK(has(&g, ".git/hooks"));
	CHECK(has(&g, ".git/config"));
	CHECK(has(&g, ".husky"));
	CHECK(has(&g, ".gitconfig-team"));
	CHECK(has(&g, ".git/modules/sub/hooks"));
	CHECK(has(&g, ".git/modules/sub/config"));
	CHECK(has(&g, ".git/modules/a/b/hooks"));    /* created */
	CHECK(has(&g, ".git/modules/a/b/config"));
	CHECK(has(&g, "tools/hooks"));               /* a submodule's: taken from its git dir */
	/* modules/ read-only as a whole, at every level: no new submodule git directory
	 * (issue 8, hole 2a) */
	CHECK(has(&g, ".git/modules"));
	CHECK(has(&g, ".git/modules/sub/modules"));  /* created */
	CHECK(has(&g, ".git/modules/a/b/modules"));
	CHECK_EQ(nro(&g), 12);
	/* their parents cannot be renamed away; the existing submodules' git directories
	 * are writable again, after the read-only modules/ they lie in */
	CHECK(pinned(&g, ".git"));
	CHECK(pinned(&g, ".git/modules/sub"));
	CHECK(pinned(&g, ".git/modules/a/b"));
	CHECK(idx(&g, ".git/modules") < idx(&g, ".git/modules/sub"));
	CHECK(idx(&g, ".git/modules") < idx(&g, ".git/modules/a/b"));
	/* "a" lies in the read-only modules/: bound writable, the guest could add a/NEW */
	CHECK(idx(&g, ".git/modules/a") < 0);
	CHECK(pinned(&g, "tools"));
	CHECK_EQ(g.n, 12 + 4);   /* .git, modules/sub, modules/a/b, tools */
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
	CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn, NULL), 0);
	CHECK_EQ(nro(&g), 3);   /* hooks, config, modules (created again) */
	CHECK_EQ(g.n, 4);
	CHECK(pinned(&g, ".git"));
	free(warn);
	warn = NULL;

	/* hooks/ as a symlink: reported, not protected (a bind mount would follow it) */
	CHECK_EQ(rename(hooks, outside), 0);
	CHECK_EQ(symlink(outside, hooks), 0);
	CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn, NULL), 0);
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
		CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn, NULL), 0);
		CHECK_EQ(g.n, 0);
		CHECK(warn && strstr(warn, ".git"));
		free(warn);
		warn = NULL;
		CHECK_EQ(unlink(git), 0);
		CHECK_EQ(rename(moved, git), 0);
	}
}

/* A second name of a file that is to be read-only, planted while it was not (a git
 * directory made during an earlier session, or with the protection off), would stay
 * writable: refused, naming the file and the fix (issue 8, hole 2c). */
static void test_links(void)
{
	struct wsguard g;
	char *warn = NULL, *err = NULL;
	_cleanup_free_ char *other = xasprintf("%s/notes.txt", ws);
	static const char *const victims[] = {
		".git/hooks/pre-commit", ".husky/_/h", ".git/modules/new/config", ".git/modules/new/hooks/post-checkout",
		".git/config",   /* last: it names .husky */
	};

	put(".git/config", "[core]\n\thooksPath = .husky\n");
	put(".git/modules/new/HEAD", "x\n");
	CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn, &err), 0);
	CHECK(err == NULL);
	free(warn);
	warn = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(victims); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", ws, victims[i]);
		_cleanup_free_ char *want = xasprintf("%s has 2 hard links", victims[i]);

		put(victims[i], "#!/bin/sh\n");
		CHECK_EQ(link(p, other), 0);
		CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn, &err), -EMLINK);
		CHECK_EQ(g.n, 0);
		CHECK(err && strstr(err, want) && strstr(err, "cp -p"));
		free(err);
		free(warn);
		err = warn = NULL;
		CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, NULL, NULL), -EMLINK);
		CHECK_EQ(unlink(other), 0);
		CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, NULL, NULL), 0);
	}
	/* a hard link elsewhere (not read-only) is none of our business */
	{
		_cleanup_free_ char *a = xasprintf("%s/README", ws), *b = xasprintf("%s/README.bak", ws);
		put("README", "x\n");
		CHECK_EQ(link(a, b), 0);
		CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, NULL, NULL), 0);
	}
	/* the .git file of a linked worktree */
	{
		_cleanup_free_ char *wt = xasprintf("%s/wt/.git", ws), *wtdir = xasprintf("%s/wt", ws);
		struct wsguard g2;

		put("wt/.git", "gitdir: /elsewhere\n");
		CHECK_EQ(link(wt, other), 0);
		CHECK_EQ(wsguard_plan(wtdir, 1000, 1000, &g2, NULL, &err), -EMLINK);
		CHECK(err && strstr(err, ".git has 2 hard links"));
		free(err);
		err = NULL;
		CHECK_EQ(unlink(other), 0);
		CHECK_EQ(rm_rf(wtdir), 0);
	}
	/* a symlink in a hooks directory: host git follows it, so the file it names in
	 * the workspace is read-only too (and may not have a second hard link either) */
	{
		_cleanup_free_ char *l = xasprintf("%s/.git/hooks/pre-commit", ws), *l2 = xasprintf("%s/.git/hooks/x", ws);
		_cleanup_free_ char *l3 = xasprintf("%s/.git/hooks/y", ws), *t = xasprintf("%s/scripts/pc.sh", ws);

		CHECK_EQ(unlink(l), 0);
		put("scripts/pc.sh", "#!/bin/sh\n");
		CHECK_EQ(symlink("../../scripts/pc.sh", l), 0);
		CHECK_EQ(symlink("../../scripts/missing.sh", l2), 0);
		CHECK_EQ(symlink("/usr/bin/true", l3), 0);
		CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, &warn, &err), 0);
		CHECK(has(&g, "scripts/pc.sh"));
		CHECK(pinned(&g, "scripts"));
		CHECK(warn && strstr(warn, "scripts/missing.sh, which is missing"));
		free(warn);
		warn = NULL;
		CHECK_EQ(link(t, other), 0);
		CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, NULL, NULL), -EMLINK);
		CHECK_EQ(unlink(other), 0);
		CHECK_EQ(unlink(l), 0);
		CHECK_EQ(unlink(l2), 0);
		CHECK_EQ(unlink(l3), 0);
	}

	/* more paths than fit: refused, never half protected */
	for (int i = 0; i < WSGUARD_MAX / 4 + 1; i++) {
		_cleanup_free_ char *head = xasprintf(".git/modules/m%d/HEAD", i);
		put(head, "x\n");
	}
	CHECK_EQ(wsguard_plan(ws, 1000, 1000, &g, NULL, &err), -EMLINK);
	CHECK(err && strstr(err, "cannot protect more than"));
	free(err);
	err = NULL;
	{
		_cleanup_free_ char *mods = xasprintf("%s/.git/modules", ws), *husky = xasprintf("%s/.husky", ws);
		CHECK_EQ(rm_rf(mods), 0);
		CHECK_EQ(rm_rf(husky), 0);
	}
}

/* In a child with its own mount namespace: read-only there, writable here. */
static void test_apply(void)
{
	struct wsguard g;
	_cleanup_free_ char *cfg = xasprintf("%s/.git/config", ws), *hook = xasprintf("%s/.git/hooks/x", ws);
	_cleanup_free_ char *git = xasprintf("%s/.git", ws), *moved = xasprintf("%s/.git-old", ws);
	_cleanup_free_ char *obj = xasprintf("%s/.git/index", ws), *newmod = xasprintf("%s/.git/modules/new", ws);
	_cleanup_free_ char *subidx = xasprintf("%s/.git/modules/sub/index", ws);
	_cleanup_free_ char *subcfg = xasprintf("%s/.git/modules/sub/config", ws);
	pid_t pid;
	int st, fd;

	if (geteuid() != 0) {
		printf("test_apply: needs root (mount namespace without a user namespace here)\n");
		return;
	}
	put(".git/config", "[core]\n");
	put(".git/modules/sub/HEAD", "x\n");
	CHECK_EQ(wsguard_plan(ws, 0, 0, &g, NULL, NULL), 0);
	CHECK_EQ(g.n, 8);   /* .git, hooks, config, modules; modules/sub, its hooks, config, modules */
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
		/* no new submodule git directory; the existing one is writable, bar its
		 * config */
		bad |= !(mkdir(newmod, 0755) < 0 && errno == EROFS) << 4;
		fd = open(subidx, O_WRONLY | O_CREAT, 0644);
		bad |= (fd < 0) << 5;
		fd = open(subcfg, O_WRONLY | O_APPEND);
		bad |= !(fd < 0 && errno == EROFS) << 6;
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
	test_links();
	test_apply();
	TEST_DONE();
}
