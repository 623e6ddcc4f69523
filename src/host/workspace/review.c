// SPDX-License-Identifier: MIT
/* review.c: scan a hostile workspace for trust-relevant files, and compare scans.
 * The workspace was written by an untrusted agent: nothing here follows a symlink,
 * opens a special file, or reads more than its bounds. */
#include "review.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

#define READ_CHUNK (64 * 1024)

struct scan {
	struct review_snap *s;
	uint64_t visits;
	uint64_t hashed;
	bool bare;          /* inside a bare git directory; the part below it starts at path + gd */
	size_t gd;
	char path[PATH_MAX];
	char vpath[PATH_MAX + 8];
};

void review_snap_free(struct review_snap *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].data);
		free(s->v[i].error);
	}
	free(s->v);
	review_repos_free(&s->repos);
	memset(s, 0, sizeof(*s));
}

const char *review_type_name(enum review_type t)
{
	switch (t) {
	case RT_FILE: return "file";
	case RT_SYMLINK: return "symlink";
	case RT_FIFO: return "fifo";
	case RT_SOCKET: return "socket";
	case RT_CHARDEV: return "chardev";
	case RT_BLOCKDEV: return "blockdev";
	case RT_OTHER: break;
	}
	return "other";
}

static enum review_type type_of(mode_t m)
{
	if (S_ISREG(m)) return RT_FILE;
	if (S_ISLNK(m)) return RT_SYMLINK;
	if (S_ISFIFO(m)) return RT_FIFO;
	if (S_ISSOCK(m)) return RT_SOCKET;
	if (S_ISCHR(m)) return RT_CHARDEV;
	if (S_ISBLK(m)) return RT_BLOCKDEV;
	return RT_OTHER;
}

static void hex_digest(const unsigned char *md, char out[65])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[64] = 0;
}

void review_sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		out[0] = 0;
		return;
	}
	hex_digest(md, out);
}

struct review_entry *review_snap_add(struct review_snap *s, const char *path)
{
	struct review_entry *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct review_entry *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			die("out of memory");
		s->v = v;
		s->cap = cap;
	}
	e = &s->v[s->n++];
	memset(e, 0, sizeof(*e));
	e->path = xstrdup(path);
	return e;
}

static void entry_fail(struct scan *sc, struct review_entry *e, unsigned hit, const char *why)
{
	free(e->data);
	e->data = NULL;
	e->data_len = 0;
	e->sha256[0] = 0;
	free(e->error);
	e->error = xstrdup(why);
	sc->s->hits |= hit;
}

/* Hash a regular file and keep its content when the copy budget allows. */
static void read_file_at(struct scan *sc, int dfd, const char *name, struct review_entry *e)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	_cleanup_free_ char *chunk = NULL;
	EVP_MD_CTX *ctx = NULL;
	unsigned char md[32];
	unsigned int mdlen = 0;
	struct stat st;
	uint64_t total = 0;
	bool keep;

	if (fd < 0 || fstat(fd, &st) < 0) {
		entry_fail(sc, e, REVIEW_HIT_UNREAD, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		/* replaced between the directory scan and the open */
		e->type = type_of(st.st_mode);
		entry_fail(sc, e, REVIEW_HIT_UNREAD, "changed while it was being scanned");
		return;
	}
	e->mode = st.st_mode & 07777;
	e->size = (uint64_t)st.st_size;
	if (e->size > REVIEW_HASH_MAX || sc->hashed + e->size > REVIEW_HASH_TOTAL_MAX) {
		entry_fail(sc, e, REVIEW_HIT_HASH, "too large to check");
		return;
	}
	keep = e->size <= REVIEW_COPY_MAX && sc->s->copied + e->size <= REVIEW_COPY_TOTAL_MAX;
	if (keep)
		e->data = xmalloc(e->size + 1);
	chunk = xmalloc(READ_CHUNK);
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		die("out of memory");
	for (;;) {
		ssize_t n = read(fd, chunk, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			EVP_MD_CTX_free(ctx);
			entry_fail(sc, e, REVIEW_HIT_UNREAD, strerror(errno));
			return;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > REVIEW_HASH_MAX || sc->hashed + total > REVIEW_HASH_TOTAL_MAX) {
			EVP_MD_CTX_free(ctx);
			entry_fail(sc, e, REVIEW_HIT_HASH, "too large to check");
			return;
		}
		EVP_DigestUpdate(ctx, chunk, (size_t)n);
		if (e->data && total <= e->size) {
			memcpy(e->data + total - (uint64_t)n, chunk, (size_t)n);
		} else if (e->data) {
			/* it grew while we read: hash all, keep nothing */
			free(e->data);
			e->data = NULL;
		}
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	hex_digest(md, e->sha256);
	sc->hashed += total;
	e->size = total;
	if (e->data) {
		e->data_len = (size_t)total;
		e->data[total] = 0;
		sc->s->copied += total;
	}
}

static void add_entry(struct scan *sc, int dfd, const char *name, const struct stat *st, const struct review_rule *rule)
{
	struct review_entry *e;

	if (sc->s->n >= REVIEW_FILES_MAX) {
		sc->s->hits |= REVIEW_HIT_FILES;
		return;
	}
	e = review_snap_add(sc->s, sc->path);
	e->rule = rule;
	e->type = type_of(st->st_mode);
	e->mode = st->st_mode & 07777;
	e->size = (uint64_t)st->st_size;
	if (e->type == RT_FILE) {
		read_file_at(sc, dfd, name, e);
		if (!e->error && review_rule_usual(rule, e->data, e->data_len)) {
			sc->s->copied -= e->data_len;
			free(e->path);
			free(e->data);
			sc->s->n--;
		}
	} else if (e->type == RT_SYMLINK) {
		char buf[PATH_MAX];
		ssize_t n = readlinkat(dfd, name, buf, sizeof(buf));
		if (n < 0 || (size_t)n >= sizeof(buf)) {
			entry_fail(sc, e, REVIEW_HIT_UNREAD, n < 0 ? strerror(errno) : "link target too long");
			return;
		}
		e->data = xmalloc((size_t)n + 1);
		memcpy(e->data, buf, (size_t)n);
		e->data[n] = 0;
		e->data_len = (size_t)n;
		e->size = (uint64_t)n;
		review_sha256_hex(e->data, e->data_len, e->sha256);
	}
	/* fifos, sockets, devices: type and mode only, never opened */
}

/* The path the rules see: inside a bare git directory, ".git/" + the part below it. */
static const char *rules_path(struct scan *sc)
{
	if (!sc->bare)
		return sc->path;
	snprintf(sc->vpath, sizeof(sc->vpath), ".git%s%s", sc->path[sc->gd] ? "/" : "", sc->path + sc->gd);
	return sc->vpath;
}

/* Whether one of the first len bytes' components of path is ".git". */
static bool in_dotgit(const char *path, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++)
		if ((i == 0 || path[i - 1] == '/') && !memcmp(path + i, ".git", 4) && (i + 4 == len || path[i + 4] == '/'))
			return true;
	return false;
}

static bool in_modules(const char *rules)
{
	return !strncmp(rules, ".git/modules/", 13) || strstr(rules, "/.git/modules/");
}

static int scan_dir(struct scan *sc, int dfd, size_t plen, int depth);

/* A directory entry at sc->path (clen bytes): a git directory to list, and enter? */
static int scan_subdir(struct scan *sc, DIR *dir, const char *name, size_t clen, int depth)
{
	bool git_ctx = sc->bare || in_dotgit(sc->path, clen - strlen(name));
	bool bare = false;
	const char *rules;
	int fd, stop;

	if (!strcmp(name, ".git") && !git_ctx) {
		review_repo_add_dir(&sc->s->repos, dirfd(dir), name, sc->path, "repository");
	} else if (review_repo_is_gitdir(dirfd(dir), name)) {
		if (git_ctx && in_modules(rules_path(sc)))
			review_repo_add_dir(&sc->s->repos, dirfd(dir), name, sc->path, "submodule");
		else if (!git_ctx)
			bare = true;
	}
	if (bare) {
		review_repo_add_dir(&sc->s->repos, dirfd(dir), name, sc->path, "bare repository");
	} else {
		rules = rules_path(sc);
		if (!review_dir_enter(rules))
			return 0;
	}
	if (depth + 1 > REVIEW_DEPTH_MAX) {
		sc->s->hits |= REVIEW_HIT_DEPTH;
		return 0;
	}
	fd = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR)
			sc->s->hits |= REVIEW_HIT_UNREAD;
		return 0;
	}
	if (!bare)
		return scan_dir(sc, fd, clen, depth + 1);
	sc->bare = true;
	sc->gd = clen + 1;
	stop = scan_dir(sc, fd, clen, depth + 1);
	sc->bare = false;
	return stop;
}

/* sc->path holds the directory's relative path (plen bytes). 1 = stop the walk. */
static int scan_dir(struct scan *sc, int dfd, size_t plen, int depth)
{
	DIR *dir = dir_from_fd(dfd);
	struct dirent *de;
	int stop = 0;

	if (!dir) {
		sc->s->hits |= REVIEW_HIT_UNREAD;
		return 0;
	}
	while (!stop && (de = readdir(dir))) {
		size_t nlen = strlen(de->d_name), clen = plen ? plen + 1 + nlen : nlen;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (++sc->visits > REVIEW_VISIT_MAX) {
			sc->s->hits |= REVIEW_HIT_VISITS;
			stop = 1;
			break;
		}
		if (clen >= sizeof(sc->path)) {
			sc->s->hits |= REVIEW_HIT_DEPTH;
			continue;
		}
		if (plen)
			sc->path[plen] = '/';
		memcpy(sc->path + (plen ? plen + 1 : 0), de->d_name, nlen + 1);
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			sc->path[plen] = 0;
			continue;   /* gone meanwhile */
		}
		if (S_ISDIR(st.st_mode)) {
			stop = scan_subdir(sc, dir, de->d_name, clen, depth);
		} else {
			const struct review_rule *rule = review_rule_match(rules_path(sc));
			if (!strcmp(de->d_name, ".git") && !sc->bare && !in_dotgit(sc->path, plen))
				review_repo_add_gitfile(&sc->s->repos, dirfd(dir), de->d_name, sc->path);
			if (rule)
				add_entry(sc, dirfd(dir), de->d_name, &st, rule);
		}
		sc->path[plen] = 0;
	}
	closedir(dir);
	return stop;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct review_entry *)a)->path, ((const struct review_entry *)b)->path);
}

void review_snap_sort(struct review_snap *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(s->v[0]), entry_cmp);
}

int review_scan(const char *workspace, struct review_snap *ret)
{
	struct review_snap s = { 0 };
	struct scan *sc;
	int fd;

	fd = open(workspace, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	sc = xcalloc(1, sizeof(*sc));
	sc->s = &s;
	s.taken = (int64_t)time(NULL);
	if (review_repo_is_gitdir(fd, ".")) {
		/* the workspace is itself a git directory: git run there uses it */
		review_repo_add_dir(&s.repos, fd, ".", ".", "bare repository");
		sc->bare = true;
	}
	(void)scan_dir(sc, fd, 0, 0);
	free(sc);
	if (s.repos.full)
		s.hits |= REVIEW_HIT_REPOS;
	review_snap_sort(&s);
	*ret = s;
	return 0;
}

int review_scan_sandbox(const char *workspace, const char *git_dir, struct review_snap *ret)
{
	struct review_snap s;
	struct scan *sc;
	size_t first, first_repo;
	int fd, r = review_scan(workspace, &s);

	if (r < 0 || !git_dir) {
		if (r == 0)
			*ret = s;
		return r;
	}
	/* walked as ".git" so that the git rules apply; named by its absolute path */
	fd = open(git_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		review_snap_free(&s);
		return r;
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->s = &s;
	memcpy(sc->path, ".git", 5);
	first = s.n;
	first_repo = s.repos.n;
	review_repo_add_dir(&s.repos, fd, ".", ".git", "shared git directory");
	(void)scan_dir(sc, fd, 4, 1);
	free(sc);
	if (s.repos.full)
		s.hits |= REVIEW_HIT_REPOS;
	for (size_t i = first; i < s.n; i++) {
		char *abs = xasprintf("%s%s", git_dir, s.v[i].path + 4);
		free(s.v[i].path);
		s.v[i].path = abs;
	}
	for (size_t i = first_repo; i < s.repos.n; i++) {
		char *abs = xasprintf("%s%s", git_dir, s.repos.v[i].path + 4);
		free(s.repos.v[i].path);
		s.repos.v[i].path = abs;
	}
	review_snap_sort(&s);
	*ret = s;
	return 0;
}

int review_compare(const struct review_snap *old, const struct review_snap *cur,
		   struct review_diff_item **ret, size_t *ret_n)
{
	struct review_diff_item *v = xcalloc(old->n + cur->n + 1, sizeof(*v));
	size_t i = 0, j = 0, n = 0;

	while (i < old->n || j < cur->n) {
		const struct review_entry *a = i < old->n ? &old->v[i] : NULL;
		const struct review_entry *b = j < cur->n ? &cur->v[j] : NULL;
		int c = !a ? 1 : !b ? -1 : strcmp(a->path, b->path);
		unsigned ch = 0;

		if (c < 0) {
			v[n++] = (struct review_diff_item){ .old = a, .changes = RC_REMOVED };
			i++;
			continue;
		}
		if (c > 0) {
			v[n++] = (struct review_diff_item){ .cur = b, .changes = RC_ADDED };
			j++;
			continue;
		}
		if (a->type != b->type) {
			ch |= RC_TYPE;
		} else {
			if (strcmp(a->sha256, b->sha256) || a->size != b->size)
				ch |= RC_MODIFIED;
			if (a->type != RT_SYMLINK && a->mode != b->mode)
				ch |= RC_MODE;
		}
		if (ch)
			v[n++] = (struct review_diff_item){ .old = a, .cur = b, .changes = ch };
		i++;
		j++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static bool pct_plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '%';
}

char *review_pct_encode(const char *s, size_t len)
{
	static const char hx[] = "0123456789ABCDEF";
	char *out = xmalloc(len * 3 + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (pct_plain(c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hx[c >> 4];
			*o++ = hx[c & 15];
		}
	}
	*o = 0;
	return out;
}

int review_pct_decode(const char *s, char **ret, size_t *ret_len)
{
	size_t len = strlen(s), n = 0;
	_cleanup_free_ char *out = xmalloc(len + 1);

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			out[n++] = s[i];
			continue;
		}
		if (i + 2 >= len)
			return -EINVAL;
		int hi = hex_digit_value(s[i + 1]), lo = hex_digit_value(s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EINVAL;
		out[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[n] = 0;
	*ret_len = n;
	*ret = TAKE_PTR(out);
	return 0;
}
