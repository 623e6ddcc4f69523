// SPDX-License-Identifier: MIT
/* test_branch.c: --branch worktrees with the real git: names, make, reuse, dirty, remove. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "branch.h"
#include "testlib.h"
#include "util.h"

static int sh(const char *cmd)
{
	return system(cmd);
}

static void test_names(void)
{
	CHECK(branch_name_valid("feat"));
	CHECK(branch_name_valid("user/feature-1.2"));
	CHECK(!branch_name_valid(""));
	CHECK(!branch_name_valid("-x"));
	CHECK(!branch_name_valid("a..b"));
	CHECK(!branch_name_valid("a b"));
	CHECK(!branch_name_valid("a~1"));
	CHECK(!branch_name_valid("x.lock"));
	CHECK(!branch_name_valid("a/"));
	CHECK(!branch_name_valid("/a"));
	CHECK(!branch_name_valid(".hidden"));
	CHECK(!branch_name_valid("a//b"));
	CHECK(!branch_name_valid("@"));
	CHECK(!branch_name_valid("a@{1}"));
	CHECK(!branch_name_valid("tab\there"));
	CHECK(!branch_name_valid("\x1b[31m"));
}

static void test_worktree(void)
{
	char dir[] = "/tmp/sbx-branch-XXXXXX";
	_cleanup_free_ char *repo = NULL, *cmd = NULL, *wt = NULL, *f = NULL;
	struct branch_ws b = { 0 }, b2 = { 0 };
	char *err = NULL;
	uid_t u = geteuid();
	gid_t g = getegid();
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	repo = xasprintf("%s/repo", dir);
	cmd = xasprintf("git init -q -b main %s && cd %s && echo hi > README && git add README && "
			"git -c user.email=t@t -c user.name=t commit -qm init", repo, repo);
	CHECK_EQ(sh(cmd), 0);

	/* not a repository */
	CHECK(branch_prepare(dir, "x", "sb", u, g, &b, &err) < 0);
	CHECK(err && strstr(err, "git repository"));
	free(err);
	err = NULL;

	/* a new branch from HEAD, from a subdirectory too */
	free(cmd);
	cmd = xasprintf("mkdir -p %s/sub", repo);
	CHECK_EQ(sh(cmd), 0);
	{
		_cleanup_free_ char *sub = xasprintf("%s/sub", repo);
		CHECK_EQ(branch_prepare(sub, "feat", "sb", u, g, &b, &err), 0);
	}
	wt = xasprintf("%s.sbx/sb", repo);
	CHECK(b.worktree && !strcmp(b.worktree, wt));
	CHECK(b.repo && !strcmp(b.repo, repo));
	CHECK(b.common_dir && strstr(b.common_dir, "/repo/.git"));
	CHECK(b.created);
	f = xasprintf("%s/README", wt);
	CHECK(stat(f, &st) == 0);

	/* the same sandbox again: reused */
	CHECK_EQ(branch_prepare(repo, "feat", "sb", u, g, &b2, &err), 0);
	CHECK(!b2.created);
	branch_ws_free(&b2);

	/* the branch checked out in another worktree: git refuses, we say so */
	CHECK(branch_prepare(repo, "feat", "other", u, g, &b2, &err) < 0);
	CHECK(err && strstr(err, "worktree add"));
	free(err);
	err = NULL;

	/* a linked worktree as PATH: refused */
	CHECK(branch_prepare(wt, "x2", "sb2", u, g, &b2, &err) < 0);
	CHECK(err && strstr(err, "linked worktree"));
	free(err);
	err = NULL;

	/* clean, then dirty */
	CHECK_EQ(branch_dirty(wt, u, g, &err), 0);
	free(f);
	f = xasprintf("%s/new.txt", wt);
	CHECK_EQ(file_write_atomic(f, "x", 1, 0644), 0);
	CHECK_EQ(branch_dirty(wt, u, g, &err), 1);

	/* removed with its changes; the branch stays; REPO.sbx goes when empty */
	CHECK_EQ(branch_remove(b.repo, wt, u, g, &err), 0);
	CHECK(stat(wt, &st) < 0 && errno == ENOENT);
	free(f);
	f = xasprintf("%s.sbx", repo);
	CHECK(stat(f, &st) < 0 && errno == ENOENT);
	free(cmd);
	cmd = xasprintf("git -C %s rev-parse --verify -q refs/heads/feat >/dev/null", repo);
	CHECK_EQ(sh(cmd), 0);
	/* gone already: fine */
	CHECK_EQ(branch_remove(b.repo, wt, u, g, &err), 0);
	CHECK_EQ(branch_dirty(wt, u, g, &err), 0);

	branch_ws_free(&b);
	free(err);
	CHECK_EQ(rm_rf(dir), 0);
}

int main(void)
{
	/* git must not find the developer's identity or safe.directory rules */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	test_names();
	test_worktree();
	TEST_DONE();
}
