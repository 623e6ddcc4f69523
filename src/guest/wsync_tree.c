// SPDX-License-Identifier: MIT
/* wsync_tree.c: the sync engine's comparison of one path on both sides with the last
 * state they agreed on, and the copy, delete or conflict that follows. Every path is
 * resolved beneath its side's root without following any symlink (openat2). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "util.h"
#include "wsync_int.h"

enum { SIDE_L, SIDE_S };

struct side {
	int pfd;             /* the parent directory, -1 when it is missing */
	struct ws_state st;
};

bool wsync_rel_valid(const char *rel)
{
	size_t n = strlen(rel);

	if (n == 0 || n >= WS_PATH_MAX || rel[0] == '/' || rel[n - 1] == '/')
		return false;
	for (const char *c = rel; c; c = strchr(c, '/')) {
		if (*c == '/')
			c++;
		if (*c == '/' || !strncmp(c, "./", 2) || !strcmp(c, ".") || !strncmp(c, "../", 3) || !strcmp(c, ".."))
			return false;
	}
	return true;
}

bool wsync_is_own(const char *rel)
{
	const char *base = strrchr(rel, '/');

	base = base ? base + 1 : rel;
	return !strncmp(base, WSYNC_OWN_PREFIX, strlen(WSYNC_OWN_PREFIX));
}

/* A directory beneath root ("" = root itself), never through a symlink. */
int wsync_open_dir(int root, const char *rel)
{
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	long fd = syscall(SYS_openat2, root, *rel ? rel : ".", &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

void wsync_base_set(struct wsync *w, const char *rel, const struct ws_state *st)
{
	struct wbase *b = wmap_get(&w->base, rel);

	if (!b) {
		b = xcalloc(1, sizeof(*b));
		wmap_put(&w->base, rel, b);
	}
	b->st = *st;
	b->gen = w->gen;
	w->base_changed = true;
	free(wmap_del(&w->failed, rel));
}

void wsync_base_del(struct wsync *w, const char *rel)
{
	free(wmap_del(&w->base, rel));
	free(wmap_del(&w->failed, rel));
	w->base_changed = true;
}

/* Not synchronised (the share refused, an odd file type): said once per state. */
static void not_synced(struct wsync *w, const char *rel, const struct ws_state *st, const char *why)
{
	struct ws_state *f = wmap_get(&w->failed, rel);

	if (f && ws_state_same(f, st))
		return;
	if (!f) {
		f = xmalloc(sizeof(*f));
		wmap_put(&w->failed, rel, f);
	}
	*f = *st;
	wsync_event(w, WSEV_NOT_SYNCED, rel, why);
}

char *wsync_child_rel(const char *rel, const char *name)
{
	return *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
}

static void tmp_name(char out[64])
{
	static unsigned counter;

	snprintf(out, 64, WSYNC_OWN_PREFIX "%d.%u.tmp", (int)getpid(), ++counter);
}

/* times[1] is the mtime; atime is left alone */
static void mtime_spec(const struct ws_state *st, struct timespec ts[2])
{
	ts[0] = (struct timespec){ .tv_nsec = UTIME_OMIT };
	ts[1] = (struct timespec){ .tv_sec = (time_t)(st->mtime_ns / 1000000000), .tv_nsec = (long)(st->mtime_ns % 1000000000) };
	if (ts[1].tv_nsec < 0) {
		ts[1].tv_sec--;
		ts[1].tv_nsec += 1000000000;
	}
}

/* Copy a file or symlink from src to a temporary name in dst's directory, then rename
 * it over name, unless dst changed since it was looked at (-EAGAIN). */
static int copy_entry(struct side *src, struct side *dst, const char *name)
{
	char tmp[64];
	struct timespec ts[2];
	struct ws_state now;
	int r = 0;

	tmp_name(tmp);
	mtime_spec(&src->st, ts);
	if (src->st.type == 'l') {
		char target[4096];
		ssize_t n = readlinkat(src->pfd, name, target, sizeof(target) - 1);

		if (n < 0)
			return -errno;
		target[n] = 0;
		if (ws_target_hash(target, (size_t)n) != src->st.size)
			return -EAGAIN;
		if (symlinkat(target, dst->pfd, tmp) < 0)
			return -errno;
		(void)utimensat(dst->pfd, tmp, ts, AT_SYMLINK_NOFOLLOW);   /* best effort */
	} else {
		_cleanup_close_ int in = openat(src->pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		int out;
		struct stat st;
		off_t off = 0;

		if (in < 0)
			return -errno;
		if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != src->st.size)
			return -EAGAIN;
		out = openat(dst->pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, src->st.mode & 0777);
		if (out < 0)
			return -errno;
		while (r == 0 && off < st.st_size) {
			static char cbuf[256 * 1024];   /* not sendfile: the share is uncached (direct I/O) */
			ssize_t n = read(in, cbuf, sizeof(cbuf));

			if (n < 0)
				r = errno == EINTR ? 0 : -errno;
			else if (n == 0)
				r = -EAGAIN;   /* it shrank meanwhile */
			else if ((r = write_all(out, cbuf, (size_t)n)) == 0)
				off += n;
		}
		if (r == 0 && (src->st.mode & 07000) && fchmod(out, src->st.mode) < 0)
			r = -errno;   /* setuid, setgid, sticky: not given at creation */
		if (r == 0 && futimens(out, ts) < 0)
			r = -errno;
		if (close(out) < 0 && r == 0)
			r = -errno;
		if (r == 0 && (fstat(in, &st) < 0 || (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != src->st.mtime_ns))
			r = -EAGAIN;   /* written to while copied: the next pass takes it */
	}
	if (r == 0 && (r = ws_state_at(dst->pfd, name, &now)) == 0 && !ws_state_same(&now, &dst->st))
		r = -EAGAIN;
	if (r == 0 && renameat(dst->pfd, tmp, dst->pfd, name) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(dst->pfd, tmp, 0);
	return r;
}


void wsync_parents_drop(struct wsync *w)
{
	if (!w->pc_rel)
		return;
	free(w->pc_rel);
	w->pc_rel = NULL;
	if (w->pc_l >= 0)
		close(w->pc_l);
	if (w->pc_s >= 0)
		close(w->pc_s);
}

static int dup_or_err(int fd)
{
	int r;

	if (fd < 0)
		return fd;
	r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return r < 0 ? -errno : r;
}

/* The parent rel on both sides, each fd the caller's to close (or -errno). */
static void parents_open(struct wsync *w, const char *parent, int *ret_l, int *ret_s)
{
	if (!w->pc_rel || strcmp(w->pc_rel, parent)) {
		wsync_parents_drop(w);
		w->pc_l = wsync_open_dir(w->lroot, parent);
		w->pc_s = wsync_open_dir(w->sroot, parent);
		w->pc_rel = xstrdup(parent);
	}
	*ret_l = dup_or_err(w->pc_l);
	*ret_s = dup_or_err(w->pc_s);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(int root, const char *rel, char ***names, size_t *n, size_t *cap)
{
	int fd = wsync_open_dir(root, rel);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*names = realloc(*names, *cap * sizeof(char *));
			if (!*names)
				die("out of memory");
		}
		(*names)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
}

/* Every entry either side has in the directory rel. */
static int sync_children(struct wsync *w, const char *rel, int depth, bool deep)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	list_dir(w->lroot, rel, &names, &n, &cap);
	list_dir(w->sroot, rel, &names, &n, &cap);
	if (n)
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && !strcmp(names[i], names[i - 1]))
			continue;
		_cleanup_free_ char *c = wsync_child_rel(rel, names[i]);
		int q = wsync_sync_one(w, c, depth + 1, deep);
		if (q < 0 && r == 0)
			r = q;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

static int make_dir(struct side *dst, const char *name, uint32_t mode)
{
	_cleanup_close_ int fd = -1;

	if (mkdirat(dst->pfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dst->pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fchmod(fd, mode) < 0 ? -errno : 0;
}

/* The side at index 1 - from loses what it has at rel (a directory: what is below it
 * first, each entry by the same rules, so a newer entry there survives). */
static int remove_entry(struct wsync *w, const char *rel, struct side sd[2], int from, const char *name, int depth)
{
	struct side *dst = &sd[1 - from];

	if (dst->st.type != 'd')
		return unlinkat(dst->pfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	(void)sync_children(w, rel, depth, true);
	if (unlinkat(dst->pfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return -errno;
	return -ENOTEMPTY;
}

/* Make the side 1 - from what side from has at rel. */
static int propagate(struct wsync *w, const char *rel, struct side sd[2], int from, const char *name, int depth)
{
	struct side *src = &sd[from], *dst = &sd[1 - from];
	int r;

	log_debug("wsync: %s %c -> %c (%c)", rel, from == SIDE_L ? 'L' : 'S', from == SIDE_L ? 'S' : 'L', src->st.type ? src->st.type : '-');
	if (dst->pfd < 0)
		return -ENOENT;   /* its parent is not there (yet): the parent's pass decides */
	if (src->st.type == 'd' || dst->st.type == 'd')
		wsync_parents_drop(w);   /* a directory is made or removed below */
	if (src->st.type == 0) {
		r = remove_entry(w, rel, sd, from, name, depth);
		if (r == -ENOTEMPTY) {
			/* something below was kept: the directory stays on both sides */
			r = src->pfd >= 0 ? make_dir(src, name, dst->st.mode) : -ENOENT;
			if (r == 0) {
				wsync_base_set(w, rel, &dst->st);
				return sync_children(w, rel, depth, true);
			}
		}
		if (r == 0)
			wsync_base_del(w, rel);
		return r;
	}
	if (dst->st.type && dst->st.type != src->st.type && (dst->st.type == 'd' || src->st.type == 'd')) {
		struct side gone[2] = { sd[0], sd[1] };

		gone[from].st.type = 0;
		r = remove_entry(w, rel, gone, from, name, depth);
		if (r < 0)
			return r;
		dst->st.type = 0;
	}
	if (src->st.type == 'd') {
		r = make_dir(dst, name, src->st.mode);
		if (r < 0)
			return r;
		wsync_base_set(w, rel, &src->st);
		return sync_children(w, rel, depth, true);
	}
	r = copy_entry(src, dst, name);
	if (r == 0)
		wsync_base_set(w, rel, &src->st);
	return r;
}

/* Both sides changed rel since they last agreed: the host's version stays at rel, the
 * guest's moves to NAME.sbx-conflict-guest-TIME, on both sides. */
static int conflict(struct wsync *w, const char *rel, struct side sd[2], const char *name, int depth)
{
	char stamp[32], cname[256];
	struct tm tm;
	time_t t = time(NULL);
	int r;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 100; i++) {
		struct stat st;

		snprintf(cname, sizeof(cname), "%.200s" WSYNC_CONFLICT_TAG "%s%s%.0d", name, stamp, i ? "-" : "", i);
		if (fstatat(sd[SIDE_L].pfd, cname, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    fstatat(sd[SIDE_S].pfd, cname, &st, AT_SYMLINK_NOFOLLOW) < 0)
			break;
	}
	wsync_parents_drop(w);
	if (renameat(sd[SIDE_L].pfd, name, sd[SIDE_L].pfd, cname) < 0)
		return -errno;
	w->conflicts++;
	{
		_cleanup_free_ char *msg = xasprintf("changed on both sides: the host's version stays, the guest's is kept as %s", cname);
		wsync_event(w, WSEV_CONFLICT, rel, msg);
	}
	sd[SIDE_L].st.type = 0;
	r = propagate(w, rel, sd, SIDE_S, name, depth);
	{
		const char *slash = strrchr(rel, '/');
		_cleanup_free_ char *crel = slash ? xasprintf("%.*s/%s", (int)(slash - rel), rel, cname) : xstrdup(cname);
		int q = wsync_sync_one(w, crel, depth, true);
		if (r == 0)
			r = q;
	}
	return r;
}

int wsync_sync_one(struct wsync *w, const char *rel, int depth, bool deep)
{
	_cleanup_free_ char *parent = NULL;
	struct side sd[2] = { { .pfd = -1 }, { .pfd = -1 } };
	const char *name, *slash;
	struct wbase *b;
	struct ws_state base = { 0 };
	bool ld, sdf;
	int r;

	if (depth > WSYNC_DEPTH_MAX)
		return -ELOOP;
	if (!*rel)
		return sync_children(w, rel, depth, deep);
	if (wsync_is_own(rel))
		return 0;
	if (w->fast && !w->no_fast && (r = wsync_batch_try(w, rel, depth, deep)) != 0)
		return r < 0 ? r : 0;
	slash = strrchr(rel, '/');
	parent = slash ? strndup(rel, (size_t)(slash - rel)) : xstrdup("");
	name = slash ? slash + 1 : rel;
	parents_open(w, parent, &sd[SIDE_L].pfd, &sd[SIDE_S].pfd);
	/* a parent that is missing (or not a directory, or a symlink) means "nothing
	 * here"; any other failure decides nothing */
	for (int i = 0; i < 2; i++)
		if (sd[i].pfd < 0 && sd[i].pfd != -ENOENT && sd[i].pfd != -ENOTDIR && sd[i].pfd != -ELOOP) {
			r = sd[i].pfd;
			log_warn("wsync: %s: open %s: %s", rel, i == SIDE_L ? "local" : "share", strerror(-r));
			goto out;
		}
	if ((r = ws_state_at(sd[SIDE_L].pfd, name, &sd[SIDE_L].st)) < 0 ||
	    (r = ws_state_at(sd[SIDE_S].pfd, name, &sd[SIDE_S].st)) < 0)
		goto out;
	b = wmap_get(&w->base, rel);
	if (b) {
		base = b->st;
		b->gen = w->gen;
	}
	if (sd[SIDE_L].st.type == 'o' || sd[SIDE_S].st.type == 'o') {
		not_synced(w, rel, &sd[sd[SIDE_L].st.type == 'o' ? SIDE_L : SIDE_S].st,
			   "not a regular file, directory or symlink");
		goto out;
	}
	if (ws_state_same(&sd[SIDE_L].st, &sd[SIDE_S].st)) {
		if (sd[SIDE_L].st.type == 0) {
			if (b)
				wsync_base_del(w, rel);
		} else if (!b || !ws_state_same(&base, &sd[SIDE_L].st)) {
			wsync_base_set(w, rel, &sd[SIDE_L].st);
		}
		if (sd[SIDE_L].st.type == 'd' && deep)
			r = sync_children(w, rel, depth, deep);
		goto out;
	}
	ld = !ws_state_same(&sd[SIDE_L].st, &base);
	sdf = !ws_state_same(&sd[SIDE_S].st, &base);
	w->no_fast++;   /* what follows acts on what it copies below: one copy at a time */
	if (ld && sdf) {
		if (sd[SIDE_L].st.type == 'd' && sd[SIDE_S].st.type == 'd') {
			/* only their modes differ: the host's wins */
			r = propagate(w, rel, sd, SIDE_S, name, depth);
		} else if (sd[SIDE_L].st.type == 0) {
			r = propagate(w, rel, sd, SIDE_S, name, depth);
		} else if (sd[SIDE_S].st.type == 0) {
			r = propagate(w, rel, sd, SIDE_L, name, depth);
		} else {
			r = conflict(w, rel, sd, name, depth);
		}
	} else {
		r = propagate(w, rel, sd, ld ? SIDE_L : SIDE_S, name, depth);
	}
	w->no_fast--;
	if (r == -EROFS || r == -EACCES || r == -EPERM || r == -EBUSY) {   /* EBUSY: a read-only bind (wsguard) renamed over */
		_cleanup_free_ char *why = xasprintf("%s refused the change: %s", ld ? "the share" : "the local copy",
						     strerror(-r));
		not_synced(w, rel, &sd[ld ? SIDE_L : SIDE_S].st, why);
	}
out:
	if (sd[SIDE_L].pfd >= 0)
		close(sd[SIDE_L].pfd);
	if (sd[SIDE_S].pfd >= 0)
		close(sd[SIDE_S].pfd);
	return r;
}

int wsync_path(struct wsync *w, const char *rel, bool deep)
{
	return wsync_sync_one(w, rel, 0, deep);
}

int wsync_full_scan(struct wsync *w)
{
	int r;

	w->gen++;
	wsync_parents_drop(w);
	r = wsync_sync_one(w, "", 0, true);
	wsync_batch_finish(w);
	if (r == 0) {
		/* what neither side has any more */
		size_t n;
		const char **keys = wmap_keys_sorted(&w->base, &n);

		for (size_t i = 0; i < n; i++) {
			struct wbase *b = wmap_get(&w->base, keys[i]);
			if (b->gen != w->gen) {
				_cleanup_free_ char *k = xstrdup(keys[i]);
				wsync_base_del(w, k);
			}
		}
		free(keys);
	}
	return r;
}
