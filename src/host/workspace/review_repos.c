// SPDX-License-Identifier: MIT
/* review_repos.c: git repositories in a hostile workspace, their hooks and the config
 * keys that run programs (see review_repos.h). Nothing here follows a symlink. */
#include "review_repos.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define VALUE_SHOWN_MAX 512
#define POINTER_MAX 4096

void review_repos_free(struct review_repos *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct review_repo *p = &r->v[i];
		free(p->path);
		free(p->points_to);
		for (size_t j = 0; j < p->n_hooks; j++)
			free(p->hooks[j]);
		free(p->hooks);
		for (size_t j = 0; j < p->n_runs; j++)
			free(p->runs[j]);
		free(p->runs);
		free(p->error);
	}
	free(r->v);
	*r = (struct review_repos){ 0 };
}

static bool push(char ***v, size_t *n, char *s)
{
	if (*n >= REVIEW_REPO_LIST_MAX) {
		free(s);
		return false;
	}
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	if (!*v)
		die("out of memory");
	(*v)[(*n)++] = s;
	return true;
}

/* ---- git config, as git reads it ---- */

static bool is_false(const char *v)
{
	return v && (!*v || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0"));
}

static bool in(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/*
 * Keys git (or a git command the user may run) takes a program, a shell command or
 * more config from. sect and name are lower case; sub is NULL without subsection.
 */
static bool key_runs(const char *sect, const char *sub, const char *name, const char *value)
{
	static const char *const core[] = { "fsmonitor", "hookspath", "sshcommand", "pager", "editor", "askpass",
					    "gitproxy", "alternaterefscommand", NULL };
	static const char *const with_sub[][2] = {
		{ "filter", "clean" }, { "filter", "smudge" }, { "filter", "process" }, { "diff", "textconv" },
		{ "diff", "command" }, { "merge", "driver" }, { "difftool", "cmd" }, { "mergetool", "cmd" },
		{ "remote", "uploadpack" }, { "remote", "receivepack" }, { "remote", "vcs" }, { "hook", "command" },
		{ "browser", "cmd" }, { "browser", "path" }, { "man", "cmd" }, { "man", "path" },
		{ "gpg", "program" }, { "credential", "helper" }, { "includeif", "path" },
	};
	static const char *const plain[][2] = {
		{ "diff", "external" }, { "gpg", "program" }, { "credential", "helper" }, { "include", "path" },
		{ "sequence", "editor" }, { "interactive", "difffilter" }, { "uploadpack", "packobjectshook" },
		{ "web", "browser" }, { "sendemail", "smtpserver" }, { "sendemail", "tocmd" }, { "sendemail", "cccmd" },
		{ "sendemail", "sendmailcmd" }, { "imap", "tunnel" }, { "instaweb", "httpd" },
		{ "gpg", "ssh.defaultkeycommand" },
	};

	if (!strcmp(sect, "core") && !sub && in(name, core))
		return strcmp(name, "fsmonitor") || !is_false(value);
	if (!strcmp(sect, "alias") || (!strcmp(sect, "submodule") && sub && !strcmp(name, "update")))
		return value && value[strspn(value, " \t")] == '!';
	if (!strcmp(sect, "pager"))
		return value && !is_false(value) && strcasecmp(value, "true") && strcasecmp(value, "yes") &&
		       strcasecmp(value, "on") && strcmp(value, "1");
	for (size_t i = 0; sub && i < ARRAY_SIZE(with_sub); i++)
		if (!strcmp(sect, with_sub[i][0]) && !strcmp(name, with_sub[i][1]))
			return true;
	for (size_t i = 0; !sub && i < ARRAY_SIZE(plain); i++)
		if (!strcmp(sect, plain[i][0]) && !strcmp(name, plain[i][1]))
			return true;
	return false;
}

struct cfgp {
	const char *p, *end;
	char sect[64];
	char *sub;   /* NULL: none */
};

static void skip_line(struct cfgp *c)
{
	const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	c->p = nl ? nl + 1 : c->end;
}

/* "[sect]", "[sect \"sub\"]", "[sect.sub]" (old form: sub is case-insensitive). */
static bool parse_header(struct cfgp *c)
{
	size_t n = 0;

	c->p++;   /* '[' */
	free(c->sub);
	c->sub = NULL;
	c->sect[0] = 0;
	while (c->p < c->end && (isalnum((unsigned char)*c->p) || *c->p == '-' || *c->p == '.')) {
		if (n + 1 < sizeof(c->sect))
			c->sect[n++] = (char)tolower((unsigned char)*c->p);
		c->p++;
	}
	c->sect[n] = 0;
	if (c->p < c->end && *c->p == ']') {
		char *dot = strchr(c->sect, '.');
		c->p++;
		if (dot) {
			*dot = 0;
			c->sub = xstrdup(dot + 1);
		}
		return n > 0;
	}
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
	if (c->p >= c->end || *c->p != '"')
		return false;
	{
		char *s = xmalloc((size_t)(c->end - c->p) + 1), *o = s;
		for (c->p++; c->p < c->end && *c->p != '"' && *c->p != '\n'; c->p++) {
			if (*c->p == '\\' && c->p + 1 < c->end)
				c->p++;
			*o++ = *c->p;
		}
		*o = 0;
		c->sub = s;
	}
	if (c->p + 1 < c->end && c->p[0] == '"' && c->p[1] == ']') {
		c->p += 2;
		return n > 0;
	}
	return false;
}

/* After "name =": git's value syntax (quotes, escapes, continuation lines, comments). */
static char *parse_value(struct cfgp *c)
{
	char *out = xmalloc((size_t)(c->end - c->p) + 1), *o = out, *kept = out;
	bool q = false;

	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
	for (; c->p < c->end; c->p++) {
		char ch = *c->p;
		if (ch == '\n')
			break;
		if (!q && (ch == '#' || ch == ';')) {
			const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
			c->p = nl ? nl : c->end;
			break;
		}
		if (ch == '"') {
			q = !q;
			kept = o;
			continue;
		}
		if (ch == '\\' && c->p + 1 < c->end) {
			char e = *++c->p;
			if (e == '\n' || (e == '\r' && c->p + 1 < c->end && c->p[1] == '\n')) {
				c->p += e == '\r';
				continue;   /* continuation line */
			}
			*o++ = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'b' ? '\b' : e;
			kept = o;
			continue;
		}
		*o++ = ch;
		if (q || (ch != ' ' && ch != '\t' && ch != '\r'))
			kept = o;
	}
	*kept = 0;
	return out;
}

bool review_gitcfg_runs(const char *text, size_t len, const char *prefix, char ***v, size_t *n)
{
	struct cfgp c = { .p = text, .end = text + len };
	bool ok = true;

	while (c.p < c.end) {
		char name[64];
		size_t nl = 0;
		_cleanup_free_ char *value = NULL;

		if (*c.p == ' ' || *c.p == '\t' || *c.p == '\r' || *c.p == '\n') {
			c.p++;
			continue;
		}
		if (*c.p == '#' || *c.p == ';') {
			skip_line(&c);
			continue;
		}
		if (*c.p == '[') {
			if (!parse_header(&c)) {
				c.sect[0] = 0;
				skip_line(&c);
			}
			continue;   /* "[core] fsmonitor = x" on one line is valid */
		}
		if (!isalpha((unsigned char)*c.p) || !c.sect[0]) {
			skip_line(&c);
			continue;
		}
		while (c.p < c.end && (isalnum((unsigned char)*c.p) || *c.p == '-')) {
			if (nl + 1 < sizeof(name))
				name[nl++] = (char)tolower((unsigned char)*c.p);
			c.p++;
		}
		name[nl] = 0;
		while (c.p < c.end && (*c.p == ' ' || *c.p == '\t' || *c.p == '\r'))
			c.p++;
		if (c.p < c.end && *c.p == '=') {
			c.p++;
			value = parse_value(&c);
		} else if (c.p < c.end && *c.p != '\n' && *c.p != '#' && *c.p != ';') {
			skip_line(&c);   /* not a variable git accepts */
			continue;
		}
		if (key_runs(c.sect, c.sub, name, value)) {
			_cleanup_free_ char *shown = !value ? xstrdup("(true)")
					: strlen(value) > VALUE_SHOWN_MAX ? xasprintf("%.*s...", VALUE_SHOWN_MAX, value)
									  : xstrdup(value);
			ok = push(v, n, xasprintf("%s%s%s%s.%s = %s", prefix, c.sect, c.sub ? "." : "", c.sub ? c.sub : "",
						 name, shown)) && ok;
		}
	}
	free(c.sub);
	return ok;
}

/* ---- the repositories ---- */

/* A regular file at dirfd/name, not through a symlink, at most max bytes. */
static int read_small(int dirfd, const char *name, size_t max, char **ret, size_t *ret_len, bool *ret_trunc)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	ssize_t got;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	buf = xmalloc(max + 1);
	got = read_full(fd, buf, max);
	if (got < 0)
		return (int)got;
	buf[got] = 0;
	*ret_trunc = (uint64_t)st.st_size > max;
	*ret_len = (size_t)got;
	*ret = TAKE_PTR(buf);
	return 0;
}

static bool present(int dirfd, const char *name, bool dir)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return S_ISLNK(st.st_mode) || (dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

bool review_repo_is_gitdir(int dirfd, const char *name)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || !present(fd, "HEAD", false))
		return false;
	return present(fd, "commondir", false) || (present(fd, "objects", true) && present(fd, "refs", true));
}

static struct review_repo *repo_new(struct review_repos *r, const char *path, const char *kind)
{
	struct review_repo *p;

	if (r->n >= REVIEW_REPOS_MAX) {
		r->full = true;
		return NULL;
	}
	r->v = realloc(r->v, (r->n + 1) * sizeof(*r->v));
	if (!r->v)
		die("out of memory");
	p = &r->v[r->n++];
	*p = (struct review_repo){ .path = xstrdup(path), .kind = kind };
	return p;
}

static void note_error(struct review_repo *p, const char *what, int err)
{
	char *e = xasprintf("%s%s%s: %s", p->error ? p->error : "", p->error ? "; " : "", what, strerror(-err));
	free(p->error);
	p->error = e;
}

static void config_scan(struct review_repo *p, int gfd, const char *file, const char *prefix)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	bool trunc = false;
	int r = read_small(gfd, file, REVIEW_REPO_CONFIG_MAX, &text, &len, &trunc);

	if (r == -ENOENT)
		return;
	if (r < 0) {
		note_error(p, file, r);
		return;
	}
	if (!review_gitcfg_runs(text, len, prefix, &p->runs, &p->n_runs) || trunc)
		p->truncated = true;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void hooks_list(struct review_repo *p, int gfd)
{
	int fd = openat(gfd, "hooks", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	size_t seen = 0;

	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			note_error(p, "hooks is not a directory (a symlink?)", -errno);
		return;
	}
	d = dir_from_fd(fd);
	if (!d)
		return;
	while ((de = readdir(d)) && seen++ < 4 * REVIEW_REPO_LIST_MAX) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || (l > 7 && !strcmp(de->d_name + l - 7, ".sample")))
			continue;
		if (!push(&p->hooks, &p->n_hooks, xstrdup(de->d_name)))
			p->truncated = true;
	}
	if (de)
		p->truncated = true;
	closedir(d);
	if (p->n_hooks > 1)
		qsort(p->hooks, p->n_hooks, sizeof(*p->hooks), name_cmp);
}

void review_repo_add_dir(struct review_repos *r, int dirfd, const char *name, const char *path, const char *kind)
{
	_cleanup_close_ int gfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct review_repo *p = repo_new(r, path, kind);
	_cleanup_free_ char *cd = NULL;
	size_t len;
	bool trunc;

	if (!p)
		return;
	if (gfd < 0) {
		note_error(p, "cannot open", -errno);
		return;
	}
	/* config and hooks then come from where commondir points */
	if (read_small(gfd, "commondir", POINTER_MAX, &cd, &len, &trunc) == 0) {
		while (len && (cd[len - 1] == '\n' || cd[len - 1] == '\r'))
			cd[--len] = 0;
		p->points_to = xasprintf("commondir: %s", cd);
	}
	config_scan(p, gfd, "config", "");
	config_scan(p, gfd, "config.worktree", "config.worktree: ");
	hooks_list(p, gfd);
}

void review_repo_add_gitfile(struct review_repos *r, int dirfd, const char *name, const char *path)
{
	struct stat st;
	struct review_repo *p;
	char buf[POINTER_MAX];

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);
		p = repo_new(r, path, "gitdir symlink");
		if (p && n >= 0) {
			buf[n] = 0;
			p->points_to = xstrdup(buf);
		} else if (p) {
			note_error(p, "readlink", -errno);
		}
		return;
	}
	p = repo_new(r, path, "gitdir file");
	if (!p)
		return;
	{
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		bool trunc = false;
		int q = read_small(dirfd, name, POINTER_MAX, &text, &len, &trunc);
		if (q < 0) {
			note_error(p, "cannot read", q);
			return;
		}
		while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
			text[--len] = 0;
		p->points_to = xstrdup(text);
		p->truncated = trunc;
	}
}
