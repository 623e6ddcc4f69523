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
	CHECK(b.worktree_id && !strcmp(b.worktree_id, "sb"));
	CHECK_EQ(branch_dirty(&b, u, g, &err), 0);
	free(f);
	f = xasprintf("%s/README", wt);
	CHECK_EQ(file_write_atomic(f, "changed\n", 8, 0644), 0);
	CHECK_EQ(branch_dirty(&b, u, g, &err), 1);
	free(cmd);
	cmd = xasprintf("git -C %s checkout -q README", wt);
	CHECK_EQ(sh(cmd), 0);
	CHECK_EQ(branch_dirty(&b, u, g, &err), 0);
	free(f);
	f = xasprintf("%s/new.txt", wt);
	CHECK_EQ(file_write_atomic(f, "x", 1, 0644), 0);
	CHECK_EQ(branch_dirty(&b, u, g, &err), 1);

	/* removed with its changes; the branch stays; REPO.sbx goes when empty */
	CHECK_EQ(branch_remove(&b, &err), 0);
	CHECK(stat(wt, &st) < 0 && errno == ENOENT);
	free(f);
	f = xasprintf("%s/.git/worktrees/sb", repo);
	CHECK(stat(f, &st) < 0 && errno == ENOENT);
	free(f);
	f = xasprintf("%s.sbx", repo);
	CHECK(stat(f, &st) < 0 && errno == ENOENT);
	free(cmd);
	cmd = xasprintf("git -C %s rev-parse --verify -q refs/heads/feat >/dev/null", repo);
	CHECK_EQ(sh(cmd), 0);
	/* gone already: fine */
	CHECK_EQ(branch_remove(&b, &err), 0);
	CHECK_EQ(branch_dirty(&b, u, g, &err), 0);
	CHECK_EQ(sh(cmd), 0);

	branch_ws_free(&b);
	free(err);
	CHECK_EQ(rm_rf(dir), 0);
}

/*
 * The attacks of issue 8, hole 1, as a --branch VM (root in the guest) can make
 * them: it writes the worktree, its `.git` file and the shared git directory (all
 * but hooks/ and config, which the VM gets read-only; with workspace.protectGit off
 * those too). Each plants `filter.x.clean = touch MARKER` where host git would read
 * it, `* filter=x` in attributes and an old mtime on a tracked file, so that a
 * `git status` on the host re-hashes the file through the filter. Neither
 * branch_dirty nor branch_remove (nor branch_prepare) may run it.
 */
struct attack {
	char dir[32];
	char *repo, *common, *wt, *marker, *filter;
	struct branch_ws b;
	uid_t u;   /* the repository's owner: git runs as that user */
	gid_t g;
};

/* As root, the tests run twice: as root, and as an owner git must drop to. */
static uid_t t_owner;
static gid_t t_group;

static void attack_setup(struct attack *a, const char *extra_repo_setup)
{
	_cleanup_free_ char *cmd = NULL;
	char *err = NULL;

	a->u = t_owner;
	a->g = t_group;
	snprintf(a->dir, sizeof(a->dir), "/tmp/sbx-attack-XXXXXX");
	CHECK(mkdtemp(a->dir) != NULL);
	CHECK(chmod(a->dir, 0755) == 0);
	a->repo = xasprintf("%s/repo", a->dir);
	a->common = xasprintf("%s/repo/.git", a->dir);
	a->wt = xasprintf("%s/repo.sbx/sb", a->dir);
	a->marker = xasprintf("%s/MARKER", a->dir);
	a->filter = xasprintf("sh -c 'touch %s; cat'", a->marker);
	cmd = xasprintf("git init -q -b main %s && cd %s && echo hi > README && git add README && "
			"git -c user.email=t@t -c user.name=t commit -qm init %s", a->repo, a->repo,
			extra_repo_setup ? extra_repo_setup : "");
	CHECK_EQ(sh(cmd), 0);
	free(cmd);
	cmd = xasprintf("chown -R %u:%u %s", (unsigned)a->u, (unsigned)a->g, a->dir);
	CHECK_EQ(sh(cmd), 0);
	CHECK_EQ(branch_prepare(a->repo, "feat", "sb", a->u, a->g, &a->b, &err), 0);
	free(err);
	CHECK(a->b.worktree_id != NULL);
	{
		struct stat st;
		_cleanup_free_ char *f = xasprintf("%s/README", a->wt);
		CHECK(stat(f, &st) == 0 && st.st_uid == a->u);   /* git ran as the owner */
	}
}

/* The file git re-hashes: an mtime that matches no index entry. */
static void attack_arm(struct attack *a)
{
	/* and a directory only root can empty (what guest root makes, as the owner sees it) */
	_cleanup_free_ char *cmd = xasprintf("printf '* filter=x\\n' > %s/.gitattributes && "
					     "touch -d 2001-01-01 %s/README && rm -f %s && mkdir %s/rootdir && "
					     "touch %s/rootdir/f && chmod 755 %s/rootdir",
					     a->wt, a->wt, a->marker, a->wt, a->wt, a->wt);
	CHECK_EQ(sh(cmd), 0);
}

/* Ask what sbx rm asks; the filter must not have run, and the worktree must go. */
static void attack_check(struct attack *a)
{
	_cleanup_free_ char *id = a->b.worktree_id ? xstrdup(a->b.worktree_id) : NULL;
	_cleanup_free_ char *admin = xasprintf("%s/worktrees/%s", a->common, id ? id : "?");
	char *err = NULL;
	struct stat st;
	int d = branch_dirty(&a->b, a->u, a->g, &err);

	CHECK(stat(a->marker, &st) < 0 && errno == ENOENT);
	CHECK_EQ(d, 1);   /* .gitattributes is new */
	free(err);
	err = NULL;
	CHECK_EQ(branch_remove(&a->b, &err), 0);
	free(err);
	CHECK(stat(a->marker, &st) < 0 && errno == ENOENT);
	CHECK(stat(a->wt, &st) < 0 && errno == ENOENT);
	CHECK(stat(admin, &st) < 0 && errno == ENOENT);
}

static void attack_done(struct attack *a)
{
	branch_ws_free(&a->b);
	CHECK_EQ(rm_rf(a->dir), 0);
	free(a->repo);
	free(a->common);
	free(a->wt);
	free(a->marker);
	free(a->filter);
}

/* (a) the worktree's `.git` file names a git directory the agent wrote */
static void test_attack_gitfile(void)
{
	struct attack a;
	_cleanup_free_ char *cmd = NULL, *evil = NULL;
	struct stat st;

	attack_setup(&a, NULL);
	evil = xasprintf("%s/repo.sbx/evil", a.dir);
	cmd = xasprintf("git init -q --bare %s && git -C %s config core.bare false && "
			"git -C %s config filter.x.clean \"%s\" && GIT_DIR=%s GIT_WORK_TREE=%s git add README && "
			"printf 'gitdir: %s\\n' > %s/.git",
			evil, evil, evil, a.filter, evil, a.wt, evil, a.wt);
	CHECK_EQ(sh(cmd), 0);
	attack_arm(&a);
	attack_check(&a);
	/* removal went by the recorded paths, not through the planted .git */
	CHECK(stat(evil, &st) == 0);
	attack_done(&a);
}

/* (b) worktrees/ID/commondir names a git directory the agent wrote */
static void test_attack_commondir(void)
{
	struct attack a;
	_cleanup_free_ char *cmd = NULL, *evil = NULL;

	attack_setup(&a, NULL);
	evil = xasprintf("%s/repo.sbx/evil", a.dir);
	cmd = xasprintf("git init -q --bare %s && git -C %s config filter.x.clean \"%s\" && "
			"printf '%s\\n' > %s/worktrees/%s/commondir",
			evil, evil, a.filter, evil, a.common, a.b.worktree_id);
	CHECK_EQ(sh(cmd), 0);
	attack_arm(&a);
	attack_check(&a);
	attack_done(&a);
}

/* (c) the user turned on extensions.worktreeConfig: worktrees/ID/config.worktree */
static void test_attack_worktree_config(void)
{
	struct attack a;
	_cleanup_free_ char *cmd = NULL;

	attack_setup(&a, "&& git config core.repositoryformatversion 1 && git config extensions.worktreeConfig true");
	cmd = xasprintf("git config --file %s/worktrees/%s/config.worktree filter.x.clean \"%s\"", a.common,
			a.b.worktree_id, a.filter);
	CHECK_EQ(sh(cmd), 0);
	attack_arm(&a);
	attack_check(&a);
	attack_done(&a);
}

/* (d) workspace.protectGit off: the repository's own config, and info/attributes */
static void test_attack_repo_config(void)
{
	struct attack a;
	_cleanup_free_ char *cmd = NULL;

	attack_setup(&a, NULL);
	cmd = xasprintf("git config --file %s/config filter.y.clean \"%s\" && mkdir -p %s/info && "
			"printf '* filter=y\\n' > %s/info/attributes",
			a.common, a.filter, a.common, a.common);
	CHECK_EQ(sh(cmd), 0);
	attack_arm(&a);
	attack_check(&a);
	attack_done(&a);
}

/* (e) a branch the agent committed `.gitattributes` to, checked out for a new
 * sandbox while the repository's config defines the filter: no smudge runs */
static void test_checkout_runs_no_filter(void)
{
	char dir[] = "/tmp/sbx-attack-XXXXXX";
	_cleanup_free_ char *repo = NULL, *cmd = NULL, *marker = NULL, *readme = NULL, *txt = NULL;
	struct branch_ws b = { 0 };
	char *err = NULL;
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	repo = xasprintf("%s/repo", dir);
	marker = xasprintf("%s/MARKER", dir);
	cmd = xasprintf("git init -q -b main %s && cd %s && echo hi > README && "
			"printf '* filter=x\\n' > .gitattributes && git add README .gitattributes && "
			"git -c user.email=t@t -c user.name=t commit -qm init && git branch agent && "
			"git config filter.x.smudge \"sh -c 'touch %s; cat'\" && "
			"git config filter.x.clean \"sh -c 'touch %s; cat'\"",
			repo, repo, marker, marker);
	CHECK_EQ(sh(cmd), 0);
	CHECK_EQ(branch_prepare(repo, "agent", "sb", geteuid(), getegid(), &b, &err), 0);
	free(err);
	err = NULL;
	CHECK(stat(marker, &st) < 0 && errno == ENOENT);
	readme = xasprintf("%s.sbx/sb/README", repo);
	txt = slurp(readme);
	CHECK_STR(txt, "hi\n");
	CHECK_EQ(branch_dirty(&b, geteuid(), getegid(), &err), 0);
	free(err);
	CHECK(stat(marker, &st) < 0 && errno == ENOENT);
	branch_ws_free(&b);
	CHECK_EQ(rm_rf(dir), 0);
}

/* A leftover worktree is reused only when git's own records agree; an older spec
 * without the recorded ID cannot be judged and says so. */
static void test_reuse_and_unrecorded(void)
{
	struct attack a;
	struct branch_ws again = { 0 }, old = { 0 };
	_cleanup_free_ char *cmd = NULL;
	char *err = NULL;

	attack_setup(&a, NULL);
	CHECK_EQ(branch_prepare(a.repo, "feat", "sb", a.u, a.g, &again, &err), 0);
	CHECK(!again.created && again.worktree_id && !strcmp(again.worktree_id, a.b.worktree_id));
	branch_ws_free(&again);
	old = (struct branch_ws){ .repo = a.b.repo, .common_dir = a.b.common_dir, .worktree = a.b.worktree };
	CHECK(branch_dirty(&old, a.u, a.g, &err) < 0);
	CHECK(err && strstr(err, "older sbx"));
	free(err);
	err = NULL;
	/* a `.git` file that points elsewhere: not this sandbox's worktree any more */
	cmd = xasprintf("printf 'gitdir: /tmp\\n' > %s/.git", a.wt);
	CHECK_EQ(sh(cmd), 0);
	CHECK(branch_prepare(a.repo, "feat", "sb", a.u, a.g, &again, &err) == -EEXIST);
	free(err);
	attack_done(&a);
}

int main(void)
{
	/* git must not find the developer's identity or safe.directory rules */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	test_names();
	test_worktree();
	t_owner = geteuid();
	t_group = getegid();
	for (int pass = 0; pass < (geteuid() == 0 ? 2 : 1); pass++) {
		if (pass == 1) {
			/* sbx as root drops to the repository's owner for git and removal */
			t_owner = 65534;
			t_group = 65534;
		}
		test_attack_gitfile();
		test_attack_commondir();
		test_attack_worktree_config();
		test_attack_repo_config();
		test_reuse_and_unrecorded();
	}
	test_checkout_runs_no_filter();
	TEST_DONE();
}
