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
	char *warn, *err;   /* lines: what is left unprotected; why the plan is refused */
	size_t warn_len, err_len;
};

static void add_line(char **buf, size_t *len, const char *fmt, va_list ap)
{
	char line[WSGUARD_PATH_MAX + 300];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		return;
	n = MIN(n, (int)sizeof(line) - 1);
	*buf = realloc(*buf, *len + (size_t)n + 2);
	if (!*buf)
		die("out of memory");
	memcpy(*buf + *len, line, (size_t)n);
	*len += (size_t)n;
	(*buf)[(*len)++] = '\n';
	(*buf)[*len] = '\0';
}

static void warnf(struct plan *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(struct plan *pl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_line(&pl->warn, &pl->warn_len, fmt, ap);
	va_end(ap);
}

/* Something the guard cannot make safe: the VM must not start this way. */
static void refusef(struct plan *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refusef(struct plan *pl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_line(&pl->err, &pl->err_len, fmt, ap);
	va_end(ap);
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

/* The entry nearest above rel (the mount the guest reaches it through), or -1. */
static int covering(const struct plan *pl, const char *rel)
{
	size_t best = 0;
	int r = -1;

	for (size_t i = 0; i < pl->g->n; i++) {
		size_t n = strlen(pl->g->rel[i]);
		if (n > best && !strncmp(pl->g->rel[i], rel, n) && rel[n] == '/') {
			best = n;
			r = (int)i;
		}
	}
	return r;
}

/* rel, after each of its parents (pinned read-write, unless a read-only mount already
 * holds them in place); an entry already there becomes read-only when asked. */
static void add_entry(struct plan *pl, const char *rel, bool ro, bool pin)
{
	char parent[WSGUARD_PATH_MAX];
	const char *slash = strrchr(rel, '/');
	size_t i;
	int c;

	if (slash) {
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - rel), rel);
		add_entry(pl, parent, false, true);
	}
	for (i = 0; i < pl->g->n; i++) {
		if (!strcmp(pl->g->rel[i], rel)) {
			pl->g->ro[i] |= ro;
			return;
		}
	}
	if (pin && (c = covering(pl, rel)) >= 0 && pl->g->ro[c])
		return;
	if (pl->g->n == WSGUARD_MAX) {
		refusef(pl, "%s: cannot protect more than %d paths (too many submodules?); "
			    "turn the protection off with `sbx settings set workspace.protectGit false`",
			rel, WSGUARD_MAX);
		return;
	}
	snprintf(pl->g->rel[pl->g->n], WSGUARD_PATH_MAX, "%s", rel);
	pl->g->ro[pl->g->n++] = ro;
}

#define LINKS_MAX_ENTRIES 4096

static void refuse_link(struct plan *pl, const char *rel, const struct stat *st)
{
	refusef(pl, "%s has %lu hard links: another name of it may be writable in the VM; break the link "
		    "on the host (cp -p %s %s.tmp && mv %s.tmp %s) and start again",
		rel, (unsigned long)st->st_nlink, rel, rel, rel, rel);
}

static void add_path(struct plan *pl, const char *rel, int flags);
static char *within_ws(struct plan *pl, const char *path, const char *base_rel);

/* Refuse any regular file beneath directory fd (rel names it) with another hard link.
 * A symlink is not followed here, but host git would follow it: a regular file it
 * names in the workspace is made read-only too. */
static void check_links(struct plan *pl, int fd, const char *rel, int depth, size_t *seen)
{
	DIR *d = dir_from_fd(fd);
	struct dirent *e;

	if (!d) {
		refusef(pl, "%s: cannot check it: %s", rel, strerror(errno));
		return;
	}
	while ((e = readdir(d))) {
		_cleanup_free_ char *sub = NULL;
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		sub = xasprintf("%s/%s", rel, e->d_name);
		if (++*seen > LINKS_MAX_ENTRIES) {
			refusef(pl, "%s: more than %d entries to check for hard links", rel, LINKS_MAX_ENTRIES);
			break;
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			refusef(pl, "%s: cannot check it: %s", sub, strerror(errno));
			continue;
		}
		if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
			refuse_link(pl, sub, &st);
		} else if (S_ISLNK(st.st_mode)) {
			char target[WSGUARD_PATH_MAX];
			ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
			_cleanup_free_ char *trel = NULL;

			if (n < 0 || (size_t)n == sizeof(target) - 1) {
				refusef(pl, "%s: cannot read the symbolic link", sub);
				continue;
			}
			target[n] = '\0';
			trel = within_ws(pl, target, rel);
			if (trel) {
				struct stat tst;
				int tfd = openat2_beneath(pl->wsfd, trel, O_PATH);
				if (tfd == -ENOENT)
					warnf(pl, "%s: points at %s, which is missing: the VM could create it", sub, trel);
				else if (tfd >= 0 && fstat(tfd, &tst) == 0 && S_ISREG(tst.st_mode))
					add_path(pl, trel, 0);
				else
					warnf(pl, "%s: points at %s, which is not protected", sub, trel);
				if (tfd >= 0)
					close(tfd);
			}
		} else if (S_ISDIR(st.st_mode)) {
			int sfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sfd < 0)
				refusef(pl, "%s: cannot check it: %s", sub, strerror(errno));
			else if (depth >= WSGUARD_DEPTH) {
				close(sfd);
				refusef(pl, "%s: too deep to check for hard links", sub);
			} else
				check_links(pl, sfd, sub, depth + 1, seen);
		}
	}
	closedir(d);
}

enum {
	P_DIR = 1,       /* a directory, else a regular file */
	P_CREATE = 2,    /* missing: create it (empty, owned by the agent) */
	P_NOWALK = 4,    /* a directory whose contents are checked elsewhere (or do not matter) */
};

/* Add rel read-only when it is a real directory (P_DIR) or regular file beneath the
 * workspace; missing and P_CREATE: make it (empty, owned by the agent). A file with
 * another hard link, or a directory holding one, is refused. */
static void add_path(struct plan *pl, const char *rel, int flags)
{
	bool want_dir = flags & P_DIR, create = flags & P_CREATE;
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
	if (!want_dir && st.st_nlink > 1)
		refuse_link(pl, rel, &st);
	if (want_dir && !(flags & P_NOWALK)) {
		size_t seen = 0;
		fd = openat2_beneath(pl->wsfd, rel, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			refusef(pl, "%s: cannot check it: %s", rel, strerror(-fd));
		else
			check_links(pl, fd, rel, 0, &seen);
	}
	add_entry(pl, rel, true, false);
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
	DIR *d = dir_from_fd(openat2_beneath(pl->wsfd, dir, O_RDONLY | O_DIRECTORY));
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		_cleanup_free_ char *sub = NULL, *head = NULL;
		struct stat st;

		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		sub = xasprintf("%s/%s", dir, e->d_name);
		head = xasprintf("%s/HEAD", e->d_name);
		if (fstatat(dirfd(d), head, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			/* a submodule's git directory: writable again inside read-only modules/ */
			add_entry(pl, sub, false, false);
			plan_gitdir(pl, sub, NULL, depth + 1);
		} else if (depth < WSGUARD_DEPTH)
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
	add_path(pl, hooks, P_DIR | P_CREATE);
	add_path(pl, config, P_CREATE);
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
			add_path(pl, rel, P_DIR);
	}
	for (size_t i = 0; i < c.n_inc; i++) {
		/* relative include paths: from the directory of the config file */
		_cleanup_free_ char *rel = within_ws(pl, c.includes[i], gitdir);
		if (rel) {
			add_path(pl, rel, 0);
			fd = openat2_beneath(pl->wsfd, rel, O_PATH);
			if (fd == -ENOENT)
				warnf(pl, "%s: included by %s but missing: the VM could create it", rel, config);
			else if (fd >= 0)
				close(fd);
		}
	}
	gitcfg_free(&c);
	/* all of modules/ read-only: no new submodule git directory, whose hooks and
	 * config would be the guest's; the existing ones are bound writable again */
	add_path(pl, modules, P_DIR | P_CREATE | P_NOWALK);
	plan_modules(pl, modules, depth);
}

static int plan_begin(struct plan *pl, const char *ws, uid_t uid, gid_t gid, struct wsguard *g, char **ret_warn,
		      char **ret_err)
{
	*pl = (struct plan){ .ws = ws, .uid = uid, .gid = gid, .g = g };
	memset(g, 0, sizeof(*g));
	if (ret_warn)
		*ret_warn = NULL;
	if (ret_err)
		*ret_err = NULL;
	pl->wsfd = open(ws, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return pl->wsfd < 0 ? -errno : 0;
}

static int plan_end(struct plan *pl, char **ret_warn, char **ret_err)
{
	int r = pl->err ? -EMLINK : 0;

	close(pl->wsfd);
	if (ret_warn)
		*ret_warn = pl->warn;
	else
		free(pl->warn);
	if (ret_err)
		*ret_err = pl->err;
	else
		free(pl->err);
	if (r < 0)
		memset(pl->g, 0, sizeof(*pl->g));
	return r;
}

int wsguard_plan_gitdir(const char *gitdir, uid_t uid, gid_t gid, struct wsguard *g, char **ret_warn,
			char **ret_err)
{
	struct plan pl;
	int r = plan_begin(&pl, gitdir, uid, gid, g, ret_warn, ret_err);

	if (r < 0)
		return r;
	plan_gitdir(&pl, ".", NULL, 0);
	return plan_end(&pl, ret_warn, ret_err);
}

/* The .git of a working tree that is a file (gitdir: ...): read-only, so the guest
 * cannot point it at a git directory of its own. */
static void plan_gitfile(struct plan *pl)
{
	struct stat st;

	if (fstatat(pl->wsfd, ".git", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		add_path(pl, ".git", 0);
}

int wsguard_plan_worktree(const char *worktree, const char *gitdir, uid_t uid, gid_t gid, struct wsguard *g,
			  char **ret_warn, char **ret_err)
{
	_cleanup_free_ char *cfgp = xasprintf("%s/config", gitdir), *text = NULL, *rel = NULL;
	struct gitcfg c = { 0 };
	struct plan pl;
	size_t len = 0;
	int r = plan_begin(&pl, worktree, uid, gid, g, ret_warn, ret_err);

	if (r < 0)
		return r;
	plan_gitfile(&pl);
	if (file_read_all(cfgp, CONFIG_MAX, &text, &len) >= 0)
		cfg_parse(text, len, &c);
	if (c.hooks_path && c.hooks_path[0] != '/' && (rel = within_ws(&pl, c.hooks_path, "")))
		add_path(&pl, rel, P_DIR);
	gitcfg_free(&c);
	return plan_end(&pl, ret_warn, ret_err);
}

int wsguard_plan(const char *workspace, uid_t uid, gid_t gid, struct wsguard *g, char **ret_warn, char **ret_err)
{
	struct stat st = { 0 };
	struct plan pl;
	int fd = plan_begin(&pl, workspace, uid, gid, g, ret_warn, ret_err);

	if (fd < 0)
		return fd;
	fd = openat2_beneath(pl.wsfd, ".git", O_PATH);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			struct stat head;
			if (fstatat(fd, "HEAD", &head, AT_SYMLINK_NOFOLLOW) == 0)
				plan_gitdir(&pl, ".git", "", 0);
			else   /* not a repository (our placeholder?): none may be made here */
				add_path(&pl, ".git", P_DIR);
		} else if (S_ISREG(st.st_mode)) {
			plan_gitfile(&pl);
		} else if (S_ISLNK(st.st_mode)) {
			warnf(&pl, ".git: not protected: a symbolic link");
		}
		close(fd);
	} else if (fd == -ENOENT) {
		/* no repository: an empty read-only .git, so the guest cannot make one
		 * that host git would then use (host git skips a .git without HEAD) */
		add_path(&pl, ".git", P_DIR | P_CREATE);
	} else {
		warnf(&pl, ".git: not protected: %s", fd == -ELOOP ? "a symbolic link" : strerror(-fd));
	}
	return plan_end(&pl, ret_warn, ret_err);
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

/* Whether entry i lies beneath an earlier read-only one. */
static bool beneath_ro(const struct wsguard *g, size_t i)
{
	for (size_t j = 0; j < i; j++) {
		size_t n = strlen(g->rel[j]);
		if (g->ro[j] && !strncmp(g->rel[j], g->rel[i], n) && g->rel[i][n] == '/')
			return true;
	}
	return false;
}

int wsguard_apply(const char *workspace, const struct wsguard *g)
{
	static const struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	static const struct mount_attr rw = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	/* a clone of part of a read-only mount is read-only: a submodule's git directory
	 * inside the read-only modules/ must be made writable again */
	static const struct mount_attr rw_again = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
						    .attr_clr = MOUNT_ATTR_RDONLY };
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
		r = wsguard_bind(fd, fd, g->ro[i] ? &ro : beneath_ro(g, i) ? &rw_again : &rw, false);
		if (r == -EPERM && !g->ro[i] && beneath_ro(g, i))
			r = wsguard_bind(fd, fd, &rw, false);   /* read-only locked: the host mount is */
		close(fd);
	}
	return r;
}
