// SPDX-License-Identifier: MIT
/* wsguard.c: read-only git hooks and config for the VM (see wsguard.h). */
#include "wsguard.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#define CONFIG_MAX (1u << 20)

static int openat2_beneath(int dirfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* ---- git config, just enough of it ---- */

struct gitcfg {
	char *hooks_path;   /* last core.hooksPath */
	char **includes;    /* include.path and includeIf.*.path values, in order */
	size_t n_inc;
};

static void gitcfg_free(struct gitcfg *c)
{
	free(c->hooks_path);
	for (size_t i = 0; i < c->n_inc; i++)
		free(c->includes[i]);
	free(c->includes);
	memset(c, 0, sizeof(*c));
}

/* A value: leading/trailing blanks dropped, "..." joined, \\ \" \n \t unescaped, a
 * comment (# or ; outside quotes) ends it. */
static char *cfg_value(const char *s, const char *end)
{
	char *out = xmalloc((size_t)(end - s) + 1), *o = out;
	bool q = false;
	const char *last_kept = NULL;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	for (; s < end; s++) {
		if (!q && (*s == '#' || *s == ';'))
			break;
		if (*s == '"') {
			q = !q;
			last_kept = NULL;
			continue;
		}
		if (*s == '\\' && s + 1 < end) {
			s++;
			*o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
			last_kept = NULL;
			continue;
		}
		if (!q && (*s == ' ' || *s == '\t')) {
			if (!last_kept)
				last_kept = o;
			*o++ = *s;
			continue;
		}
		last_kept = NULL;
		*o++ = *s;
	}
	if (last_kept)
		o = (char *)last_kept;
	*o = '\0';
	return out;
}

static bool word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && !strncasecmp(s, w, n);
}

static void cfg_parse(const char *text, size_t len, struct gitcfg *c)
{
	const char *p = text, *end = text + len;
	char sect[64] = "";
	bool sub = false;   /* a [section "sub"] header */

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;

		while (p < le && (*p == ' ' || *p == '\t'))
			p++;
		if (p < le && *p == '[') {
			const char *q = p + 1, *close = memchr(q, ']', (size_t)(le - q));
			size_t n = 0;

			if (!close)
				goto next;
			while (q < close && (*q == ' ' || *q == '\t'))
				q++;
			while (q + n < close && (isalnum((unsigned char)q[n]) || q[n] == '-' || q[n] == '.'))
				n++;
			snprintf(sect, sizeof(sect), "%.*s", (int)MIN(n, sizeof(sect) - 1), q);
			sub = memchr(q + n, '"', (size_t)(close - (q + n))) != NULL;
			p = close + 1;   /* "[core] hooksPath = x" on one line is valid */
			while (p < le && (*p == ' ' || *p == '\t'))
				p++;
		}
		if (p < le && (isalpha((unsigned char)*p))) {
			const char *k = p, *eq;
			size_t kn = 0;

			while (k + kn < le && (isalnum((unsigned char)k[kn]) || k[kn] == '-'))
				kn++;
			eq = k + kn;
			while (eq < le && (*eq == ' ' || *eq == '\t'))
				eq++;
			if (eq < le && *eq == '=') {
				bool core = !sub && !strcasecmp(sect, "core");
				bool inc = (!sub && !strcasecmp(sect, "include")) || (sub && !strcasecmp(sect, "includeIf"));

				if (core && word_is(k, kn, "hookspath")) {
					free(c->hooks_path);
					c->hooks_path = cfg_value(eq + 1, le);
				} else if (inc && word_is(k, kn, "path") && c->n_inc < WSGUARD_MAX) {
					c->includes = realloc(c->includes, (c->n_inc + 1) * sizeof(char *));
					if (!c->includes)
						die("out of memory");
					c->includes[c->n_inc++] = cfg_value(eq + 1, le);
				}
			}
		}
next:
		p = eol ? eol + 1 : end;
	}
}

char *wsguard_hooks_path(const char *text, size_t len)
{
	struct gitcfg c = { 0 };
	char *r;

	cfg_parse(text, len, &c);
	r = TAKE_PTR(c.hooks_path);
	gitcfg_free(&c);
	return r;
}

/* ---- planning ---- */

struct plan {
	const char *ws;
	int wsfd;
	uid_t uid;
	gid_t gid;
	struct wsguard *g;
	char *warn;
	size_t warn_len;
};

static void warnf(struct plan *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(struct plan *pl, const char *fmt, ...)
{
	char line[WSGUARD_PATH_MAX + 200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n = MIN(n, (int)sizeof(line) - 1);
	pl->warn = realloc(pl->warn, pl->warn_len + (size_t)n + 2);
	if (!pl->warn)
		die("out of memory");
	memcpy(pl->warn + pl->warn_len, line, (size_t)n);
	pl->warn_len += (size_t)n;
	pl->warn[pl->warn_len++] = '\n';
	pl->warn[pl->warn_len] = '\0';
}

/* "a/./b//c/../d" -> "a/b/d" (lexically); NULL when ".." climbs above the start or
 * nothing is left. */
static char *rel_clean(const char *rel)
{
	char *out = xmalloc(strlen(rel) + 1), *o = out;
	const char *p = rel;

	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == 2 && !strncmp(p, "..", 2)) {
			char *slash;
			if (o == out) {
				free(out);
				return NULL;
			}
			*o = '\0';
			slash = strrchr(out, '/');
			o = slash ? slash : out;
		} else if (n && !(n == 1 && *p == '.')) {
			if (o != out)
				*o++ = '/';
			memcpy(o, p, n);
			o += n;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	*o = '\0';
	if (!*out) {
		free(out);
		return NULL;
	}
	return out;
}

/* rel, after each of its parents (pinned read-write); an entry already there becomes
 * read-only when asked. */
static void add_entry(struct plan *pl, const char *rel, bool ro)
{
	char parent[WSGUARD_PATH_MAX];
	const char *slash = strrchr(rel, '/');
	size_t i;

	if (slash) {
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - rel), rel);
		add_entry(pl, parent, false);
	}
	for (i = 0; i < pl->g->n; i++) {
		if (!strcmp(pl->g->rel[i], rel)) {
			pl->g->ro[i] |= ro;
			return;
		}
	}
	if (pl->g->n == WSGUARD_MAX) {
		warnf(pl, "%s: not protected: more than %d paths", rel, WSGUARD_MAX);
		return;
	}
	snprintf(pl->g->rel[pl->g->n], WSGUARD_PATH_MAX, "%s", rel);
	pl->g->ro[pl->g->n++] = ro;
}

/* Add rel when it is a real directory (want_dir) or regular file beneath the
 * workspace; missing and create: make it (empty, owned by the agent). */
static void add_path(struct plan *pl, const char *rel, bool want_dir, bool create)
{
	struct stat st;
	int fd;

	for (size_t i = 0; i < pl->g->n; i++)
		if (pl->g->ro[i] && !strcmp(pl->g->rel[i], rel))
			return;
	if (strlen(rel) >= WSGUARD_PATH_MAX) {
		warnf(pl, "%s: path too long to protect", rel);
		return;
	}
	fd = openat2_beneath(pl->wsfd, rel, O_PATH);
	if (fd == -ENOENT && create) {
		_cleanup_free_ char *parent = xstrdup(rel);
		char *slash = strrchr(parent, '/');
		const char *base = slash ? slash + 1 : rel;
		_cleanup_close_ int pfd = -1;
		int r;

		if (slash)
			*slash = '\0';
		pfd = slash ? openat2_beneath(pl->wsfd, parent, O_PATH | O_DIRECTORY) : dup(pl->wsfd);
		if (pfd < 0) {
			warnf(pl, "%s: cannot protect: %s", rel, strerror(-pfd));
			return;
		}
		if (want_dir) {
			r = mkdirat(pfd, base, 0755) < 0 ? -errno : 0;
		} else {
			int cfd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
			r = cfd < 0 ? -errno : 0;
			if (cfd >= 0)
				close(cfd);
		}
		if (r < 0 && r != -EEXIST) {
			warnf(pl, "%s: cannot create it to protect it: %s", rel, strerror(-r));
			return;
		}
		if (r == 0 && fchownat(pfd, base, pl->uid, pl->gid, AT_SYMLINK_NOFOLLOW) < 0)
			warnf(pl, "%s: created, but cannot give it to uid %u: %s", rel, (unsigned)pl->uid, strerror(errno));
		fd = openat2_beneath(pl->wsfd, rel, O_PATH);
	}
	if (fd == -ENOENT)
		return;
	if (fd < 0) {
		warnf(pl, "%s: not protected (%s): a symbolic link, or outside the workspace", rel,
		      fd == -ELOOP || fd == -EXDEV ? "it or a parent is a symbolic link" : strerror(-fd));
		return;
	}
	if (fstat(fd, &st) < 0 || (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
		warnf(pl, "%s: not protected: %s", rel,
		      S_ISLNK(st.st_mode) ? "a symbolic link" : want_dir ? "not a directory" : "not a regular file");
		close(fd);
		return;
	}
	close(fd);
	add_entry(pl, rel, true);
}

/* A path from the config (absolute, or relative to base_rel) as a clean path beneath
 * the workspace, or NULL when it points elsewhere. */
static char *within_ws(struct plan *pl, const char *path, const char *base_rel)
{
	size_t wl = strlen(pl->ws);
	_cleanup_free_ char *joined = NULL;

	if (path[0] == '/') {
		if (strncmp(path, pl->ws, wl) || (path[wl] != '/' && path[wl] != '\0'))
			return NULL;
		return path[wl] ? rel_clean(path + wl + 1) : NULL;
	}
	if (path[0] == '~')
		return NULL;   /* the host user's home */
	joined = base_rel && *base_rel ? xasprintf("%s/%s", base_rel, path) : xstrdup(path);
	return rel_clean(joined);
}

static void plan_gitdir(struct plan *pl, const char *gitdir, const char *worktree, int depth);

static void plan_modules(struct plan *pl, const char *dir, int depth)
{
	int fd = openat2_beneath(pl->wsfd, dir, O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *e;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d))) {
		_cleanup_free_ char *sub = NULL, *head = NULL;
		struct stat st;

		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		sub = xasprintf("%s/%s", dir, e->d_name);
		head = xasprintf("%s/HEAD", e->d_name);
		if (fstatat(dirfd(d), head, &st, AT_SYMLINK_NOFOLLOW) == 0)
			plan_gitdir(pl, sub, NULL, depth + 1);   /* a submodule's git directory */
		else if (depth < WSGUARD_DEPTH)
			plan_modules(pl, sub, depth + 1);        /* a/b: submodule "a/b" */
	}
	closedir(d);
}

/* gitdir, worktree: relative to the workspace (worktree NULL: no working tree here). */
static void plan_gitdir(struct plan *pl, const char *gitdir, const char *worktree, int depth)
{
	_cleanup_free_ char *hooks = xasprintf("%s/hooks", gitdir), *config = xasprintf("%s/config", gitdir);
	_cleanup_free_ char *modules = xasprintf("%s/modules", gitdir);
	_cleanup_free_ char *text = NULL;
	struct gitcfg c = { 0 };
	int fd;

	if (depth > WSGUARD_DEPTH)
		return;
	add_path(pl, hooks, true, true);
	add_path(pl, config, false, true);
	fd = openat2_beneath(pl->wsfd, config, O_RDONLY);
	if (fd >= 0) {
		size_t len = 0;
		if (fd_read_all(fd, CONFIG_MAX, &text, &len) >= 0)
			cfg_parse(text, len, &c);
		close(fd);
	}
	if (c.hooks_path) {
		/* relative hooksPath: from the top of the working tree */
		_cleanup_free_ char *rel = within_ws(pl, c.hooks_path, worktree ? worktree : gitdir);
		if (rel)
			add_path(pl, rel, true, false);
	}
	for (size_t i = 0; i < c.n_inc; i++) {
		/* relative include paths: from the directory of the config file */
		_cleanup_free_ char *rel = within_ws(pl, c.includes[i], gitdir);
		if (rel) {
			add_path(pl, rel, false, false);
			fd = openat2_beneath(pl->wsfd, rel, O_PATH);
			if (fd == -ENOENT)
				warnf(pl, "%s: included by %s but missing: the VM could create it", rel, config);
			else if (fd >= 0)
				close(fd);
		}
	}
	gitcfg_free(&c);
	plan_modules(pl, modules, depth);
}

static int plan_begin(struct plan *pl, const char *ws, uid_t uid, gid_t gid, struct wsguard *g, char **ret_warn)
{
	*pl = (struct plan){ .ws = ws, .uid = uid, .gid = gid, .g = g };
	memset(g, 0, sizeof(*g));
	if (ret_warn)
		*ret_warn = NULL;
	pl->wsfd = open(ws, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return pl->wsfd < 0 ? -errno : 0;
}

static int plan_end(struct plan *pl, char **ret_warn)
{
	close(pl->wsfd);
	if (ret_warn)
		*ret_warn = pl->warn;
	else
		free(pl->warn);
	return 0;
}

int wsguard_plan_gitdir(const char *gitdir, uid_t uid, gid_t gid, struct wsguard *g, char **ret_warn)
{
	struct plan pl;
	int r = plan_begin(&pl, gitdir, uid, gid, g, ret_warn);

	if (r < 0)
		return r;
	plan_gitdir(&pl, ".", NULL, 0);
	return plan_end(&pl, ret_warn);
}

int wsguard_plan_worktree(const char *worktree, const char *gitdir, uid_t uid, gid_t gid, struct wsguard *g,
			  char **ret_warn)
{
	_cleanup_free_ char *cfgp = xasprintf("%s/config", gitdir), *text = NULL, *rel = NULL;
	struct gitcfg c = { 0 };
	struct plan pl;
	size_t len = 0;
	int r = plan_begin(&pl, worktree, uid, gid, g, ret_warn);

	if (r < 0)
		return r;
	if (file_read_all(cfgp, CONFIG_MAX, &text, &len) >= 0)
		cfg_parse(text, len, &c);
	if (c.hooks_path && c.hooks_path[0] != '/' && (rel = within_ws(&pl, c.hooks_path, "")))
		add_path(&pl, rel, true, false);
	gitcfg_free(&c);
	return plan_end(&pl, ret_warn);
}

int wsguard_plan(const char *workspace, uid_t uid, gid_t gid, struct wsguard *g, char **ret_warn)
{
	struct stat st = { 0 };
	struct plan pl;
	int fd = plan_begin(&pl, workspace, uid, gid, g, ret_warn);

	if (fd < 0)
		return fd;
	fd = openat2_beneath(pl.wsfd, ".git", O_PATH);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
			plan_gitdir(&pl, ".git", "", 0);
		else if (S_ISLNK(st.st_mode))
			warnf(&pl, ".git: not protected: a symbolic link");
		close(fd);
	} else if (fd != -ENOENT) {
		warnf(&pl, ".git: not protected: %s", fd == -ELOOP ? "a symbolic link" : strerror(-fd));
	}
	return plan_end(&pl, ret_warn);
}

/* ---- applying (in the child, system calls only) ---- */

int wsguard_unshare(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	/* nothing we mount here may show anywhere else */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	return 0;
}

int wsguard_bind(int src, int dst, const struct mount_attr *attr, bool recursive)
{
	int t = open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0));
	int r = 0;

	if (t < 0 || (attr && mount_setattr(t, "", AT_EMPTY_PATH, (struct mount_attr *)attr, sizeof(*attr)) < 0) ||
	    move_mount(t, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		r = -errno;
	if (t >= 0)
		close(t);
	return r;
}

int wsguard_apply(const char *workspace, const struct wsguard *g)
{
	static const struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	static const struct mount_attr rw = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	int wsfd, r = 0;

	if (!g || !g->n)
		return 0;
	for (size_t i = 0; i < g->n && r == 0; i++) {
		int fd;

		/* opened again each time: after "." is pinned, only a new lookup of the
		 * root's path sees that mount */
		wsfd = open(workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (wsfd < 0)
			return -errno;
		fd = openat2_beneath(wsfd, g->rel[i], O_PATH);
		close(wsfd);
		if (fd < 0) {
			r = fd;
			break;
		}
		/* parents come first: each later path resolves through their new mounts */
		r = wsguard_bind(fd, fd, g->ro[i] ? &ro : &rw, false);
		close(fd);
	}
	return r;
}
