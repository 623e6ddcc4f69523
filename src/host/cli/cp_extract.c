// SPDX-License-Identifier: MIT
/* cp_extract.c: unpack a guest-made tar stream under one host directory with
 * openat/O_NOFOLLOW; libarchive parses the tar format, every decision is made here. */
#include "cp_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "textesc.h"
#include "util.h"

/* Names of the directories made, kept for their modes (set last, so that a read-only
 * directory can still be filled): bounded apart from the entry count. */
#define CP_MAX_DIR_BYTES (64u << 20)
/* what may follow the end-of-archive blocks (tar's record padding) */
#define CP_MAX_TRAILER (1u << 20)

struct cpx_dir {
	char *path;   /* as created, relative to dest_fd; validated */
	mode_t mode;
};

struct cpx {
	const struct cp_extract_opts *o;
	struct archive *a;
	uint64_t bytes;
	uint32_t entries;
	struct cpx_dir *dirs;
	size_t ndirs, cap, dir_bytes;
	char *err;
};

struct cp_limits cp_limits_default(void)
{
	return (struct cp_limits){ .max_bytes = CP_MAX_BYTES, .max_entries = CP_MAX_ENTRIES };
}

/* The reason, with the entry's name made safe for a terminal. Returns r. */
static int fail(struct cpx *x, int r, const char *name, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct cpx *x, int r, const char *name, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL, *esc = NULL;
	va_list ap;

	if (x->err)
		return r;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (name) {
		esc = text_escape(name, strnlen(name, CP_MAX_PATH + 1), ESC_BACKSLASH);
		x->err = xasprintf("'%s': %s", esc, msg ? msg : "failed");
	} else {
		x->err = xstrdup(msg ? msg : "failed");
	}
	return r;
}

/*
 * Check an entry's name and split it into components in buf (CP_MAX_PATH + 1 bytes),
 * the first replaced by top_out. One leading "./" and trailing slashes are dropped.
 */
static int name_split(struct cpx *x, const char *raw, char *buf, const char **comp, size_t *ret_n)
{
	const char *name = raw;
	size_t len, n = 0;
	char *s;

	if (!raw || !*raw)
		return fail(x, -EINVAL, NULL, "an entry without a name");
	len = strnlen(raw, CP_MAX_PATH + 1);
	if (len > CP_MAX_PATH)
		return fail(x, -ENAMETOOLONG, NULL, "an entry name longer than %u bytes", CP_MAX_PATH);
	if (raw[0] == '/')
		return fail(x, -EPERM, raw, "absolute name");
	if (raw[0] == '.' && raw[1] == '/')
		name += 2, len -= 2;
	while (len > 0 && name[len - 1] == '/')
		len--;
	if (len == 0)
		return fail(x, -EINVAL, raw, "empty name");
	memcpy(buf, name, len);
	buf[len] = '\0';
	for (s = buf;;) {
		char *end = strchr(s, '/');

		if (end)
			*end = '\0';
		if (!*s)
			return fail(x, -EPERM, raw, "empty component in the name");
		if (!strcmp(s, ".") || !strcmp(s, ".."))
			return fail(x, -EPERM, raw, "'.' or '..' in the name");
		if (strlen(s) > CP_MAX_NAME)
			return fail(x, -ENAMETOOLONG, raw, "a component longer than %u bytes", CP_MAX_NAME);
		if (n == CP_MAX_DEPTH)
			return fail(x, -ENAMETOOLONG, raw, "more than %u levels deep", CP_MAX_DEPTH);
		comp[n++] = s;
		if (!end)
			break;
		s = end + 1;
	}
	if (strcmp(comp[0], x->o->top_in) != 0)
		return fail(x, -EPERM, raw, "not under '%s'", x->o->top_in);
	comp[0] = x->o->top_out;
	*ret_n = n;
	return 0;
}

/* "a/b/c" from components, for messages and the directory list. */
static char *path_join(const char **comp, size_t n)
{
	size_t len = 1;
	char *p, *q;

	for (size_t i = 0; i < n; i++)
		len += strlen(comp[i]) + 1;
	p = q = xmalloc(len);
	for (size_t i = 0; i < n; i++)
		q += sprintf(q, i ? "/%s" : "%s", comp[i]);
	*q = '\0';
	return p;
}

static int dir_remember(struct cpx *x, const char **comp, size_t n, mode_t mode)
{
	char *p = path_join(comp, n);
	size_t l = strlen(p) + 1;

	if (x->dir_bytes + l > CP_MAX_DIR_BYTES) {
		free(p);
		return fail(x, -E2BIG, NULL, "too many directories (their names pass %u bytes)", CP_MAX_DIR_BYTES);
	}
	if (x->ndirs == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 64;
		x->dirs = realloc(x->dirs, x->cap * sizeof(*x->dirs));
		if (!x->dirs)
			die("out of memory");
	}
	x->dirs[x->ndirs++] = (struct cpx_dir){ .path = p, .mode = mode };
	x->dir_bytes += l;
	return 0;
}

/*
 * Open the directory that holds comp[n-1], from dest_fd down, never following a
 * symlink. With create, a missing directory is made (0700 until the end, then 0755).
 * Returns an fd the caller closes, or -errno.
 */
static int open_parent(struct cpx *x, const char **comp, size_t n, bool create, const char *raw)
{
	int cur = fcntl(x->o->dest_fd, F_DUPFD_CLOEXEC, 3);

	if (cur < 0)
		return fail(x, -errno, raw, "%s", strerror(errno));
	for (size_t i = 0; i + 1 < n; i++) {
		int fd = openat(cur, comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, comp[i], 0700) < 0 && errno != EEXIST) {
				int e = errno;
				close(cur);
				return fail(x, -e, raw, "cannot make its directory: %s", strerror(e));
			}
			if (dir_remember(x, comp, i + 1, 0755) < 0) {
				close(cur);
				return -E2BIG;
			}
			fd = openat(cur, comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0) {
			int e = errno;
			close(cur);
			if (e == ELOOP || e == ENOTDIR)
				return fail(x, -ELOOP, raw, "'%s' on its way is a symlink or not a directory; refusing to "
					    "write through it", comp[i]);
			return fail(x, -e, raw, "%s", strerror(e));
		}
		close(cur);
		cur = fd;
	}
	return cur;
}

/* A fresh name beside the target, for write-then-rename. */
static void tmp_name(char out[32])
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = now_us() ^ (uint64_t)getpid() << 32;
	snprintf(out, 32, ".sbx-cp-%016llx", (unsigned long long)r);
}

/* What is at name now (no symlink followed): 0 none, else its S_IFMT. */
static int existing_type(int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	return (int)(st.st_mode & S_IFMT);
}

static int do_dir(struct cpx *x, int pfd, const char **comp, size_t n, mode_t mode, const char *raw)
{
	int t;

	if (mkdirat(pfd, comp[n - 1], 0700) == 0)
		return dir_remember(x, comp, n, mode & 0777);
	if (errno != EEXIST)
		return fail(x, -errno, raw, "%s", strerror(errno));
	t = existing_type(pfd, comp[n - 1]);
	if (t != S_IFDIR)
		return fail(x, -EEXIST, raw, "exists and is not a directory");
	return 0; /* merged into: it keeps its own mode, like tar --no-overwrite-dir */
}

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w, len -= (size_t)w, off += w;
	}
	return 0;
}

static int copy_data(struct cpx *x, int fd, int64_t size, const char *raw)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	for (;;) {
		r = archive_read_data_block(x->a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK)
			return fail(x, -EPROTO, raw, "bad archive data: %s", archive_error_string(x->a) ?: "?");
		if (off < 0 || (uint64_t)off + len > (uint64_t)size)
			return fail(x, -EPROTO, raw, "data past the entry's size");
		x->bytes += len;
		if (x->bytes > x->o->lim.max_bytes)
			return fail(x, -EFBIG, raw, "the copy passes %llu bytes",
				    (unsigned long long)x->o->lim.max_bytes);
		r = pwrite_all(fd, buf, len, off);
		if (r < 0)
			return fail(x, r, raw, "write: %s", strerror(-r));
	}
	if (ftruncate(fd, size) < 0) /* a sparse file's last hole */
		return fail(x, -errno, raw, "%s", strerror(errno));
	return 0;
}

static int do_file(struct cpx *x, int pfd, const char *name, struct archive_entry *e, const char *raw)
{
	int64_t size = archive_entry_size(e);
	char tmp[32];
	int t = existing_type(pfd, name), r;
	_cleanup_close_ int fd = -1;

	if (t == S_IFLNK)
		return fail(x, -ELOOP, raw, "exists as a symlink; refusing to write through or replace it");
	if (t != 0 && t != S_IFREG)
		return fail(x, -EEXIST, raw, "exists and is not a regular file");
	if (!archive_entry_size_is_set(e) || size < 0)
		return fail(x, -EPROTO, raw, "no size");
	if ((uint64_t)size > x->o->lim.max_bytes - MIN(x->bytes, x->o->lim.max_bytes))
		return fail(x, -EFBIG, raw, "%lld bytes: the copy would pass %llu bytes", (long long)size,
			    (unsigned long long)x->o->lim.max_bytes);
	tmp_name(tmp);
	fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(x, -errno, raw, "%s", strerror(errno));
	r = copy_data(x, fd, size, raw);
	if (r >= 0 && fchmod(fd, archive_entry_perm(e) & 0777) < 0)
		r = fail(x, -errno, raw, "chmod: %s", strerror(errno));
	if (r >= 0 && renameat(pfd, tmp, pfd, name) < 0)
		r = fail(x, -errno, raw, "%s", strerror(errno));
	if (r < 0)
		(void)unlinkat(pfd, tmp, 0);
	return r;
}

static int do_symlink(struct cpx *x, int pfd, const char *name, struct archive_entry *e, const char *raw)
{
	const char *target = archive_entry_symlink(e);
	char tmp[32];
	int t;

	if (!target || !*target)
		return fail(x, -EPROTO, raw, "a symlink without a target");
	if (strnlen(target, CP_MAX_PATH + 1) > CP_MAX_PATH)
		return fail(x, -ENAMETOOLONG, raw, "a symlink target longer than %u bytes", CP_MAX_PATH);
	t = existing_type(pfd, name);
	if (t == S_IFDIR)
		return fail(x, -EEXIST, raw, "exists as a directory");
	tmp_name(tmp);
	if (symlinkat(target, pfd, tmp) < 0)
		return fail(x, -errno, raw, "%s", strerror(errno));
	if (renameat(pfd, tmp, pfd, name) < 0) {
		int e2 = errno;
		(void)unlinkat(pfd, tmp, 0);
		return fail(x, -e2, raw, "%s", strerror(e2));
	}
	return 0;
}

static int do_entry(struct cpx *x, struct archive_entry *e)
{
	const char *raw = archive_entry_pathname(e);
	char buf[CP_MAX_PATH + 1];
	const char *comp[CP_MAX_DEPTH];
	unsigned type = archive_entry_filetype(e);
	size_t n = 0;
	int r, pfd;

	if (++x->entries > x->o->lim.max_entries)
		return fail(x, -E2BIG, NULL, "more than %u entries", x->o->lim.max_entries);
	r = name_split(x, raw, buf, comp, &n);
	if (r < 0)
		return r;
	if (archive_entry_hardlink(e))
		return fail(x, -EPERM, raw, "a hard link (refused)");
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
		return fail(x, -EPERM, raw, "a device, fifo or socket (refused)");
	if (!x->o->recursive && type == AE_IFDIR)
		return fail(x, -EISDIR, raw, "is a directory (use -r)");
	if (!x->o->recursive && (x->entries > 1 || n > 1))
		return fail(x, -EPROTO, raw, "more than one entry for a copy without -r");
	pfd = open_parent(x, comp, n, true, raw);
	if (pfd < 0)
		return pfd;
	if (type == AE_IFDIR)
		r = do_dir(x, pfd, comp, n, archive_entry_perm(e), raw);
	else if (type == AE_IFREG)
		r = do_file(x, pfd, comp[n - 1], e, raw);
	else
		r = do_symlink(x, pfd, comp[n - 1], e, raw);
	close(pfd);
	return r;
}

/* Give the directories made their modes, deepest (latest) first. */
static int dirs_finish(struct cpx *x)
{
	for (size_t i = x->ndirs; i-- > 0;) {
		char buf[CP_MAX_PATH + 1];
		const char *comp[CP_MAX_DEPTH];
		size_t n = 0;
		int pfd, fd;

		snprintf(buf, sizeof(buf), "%s", x->dirs[i].path);
		for (char *s = buf, *end; s; s = end) {
			end = strchr(s, '/');
			if (end)
				*end++ = '\0';
			comp[n++] = s;
		}
		pfd = open_parent(x, comp, n, false, x->dirs[i].path);
		if (pfd < 0)
			return pfd;
		fd = openat(pfd, comp[n - 1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(pfd);
		if (fd < 0 || fchmod(fd, x->dirs[i].mode) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			return fail(x, -e, x->dirs[i].path, "chmod: %s", strerror(e));
		}
		close(fd);
	}
	return 0;
}

static int extract(struct archive *a, const struct cp_extract_opts *o, char **ret_err)
{
	struct cpx x = { .o = o, .a = a };
	struct archive_entry *e;
	int r = 0, ar;

	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		r = do_entry(&x, e);
		if (r < 0)
			break;
	}
	if (r >= 0 && ar != ARCHIVE_EOF)
		r = fail(&x, -EPROTO, NULL, "bad archive: %s", archive_error_string(a) ?: "unreadable header");
	if (r >= 0 && x.entries == 0)
		r = fail(&x, -ENODATA, NULL, "nothing was copied (an empty archive)");
	if (r >= 0)
		r = dirs_finish(&x);
	for (size_t i = 0; i < x.ndirs; i++)
		free(x.dirs[i].path);
	free(x.dirs);
	archive_read_free(a);
	if (r < 0) {
		/* archive and file names can hold anything: escape the whole reason */
		*ret_err = text_escape(x.err ? x.err : "failed", strlen(x.err ? x.err : "failed"), 0);
		free(x.err);
		return r;
	}
	free(x.err);
	return 0;
}

static struct archive *reader_new(void)
{
	struct archive *a = archive_read_new();

	if (!a)
		die("out of memory");
	/* tar alone: no compression filters, no other formats to parse */
	archive_read_support_format_tar(a);
	return a;
}

/* libarchive reads the pipe through this, so that "nothing came" can be told apart
 * from "something unreadable came". */
struct fd_src {
	int fd;
	uint64_t total;
	uint8_t buf[64 * 1024];
};

static la_ssize_t fd_src_read(struct archive *a, void *ctx, const void **ret)
{
	struct fd_src *s = ctx;
	ssize_t n;

	do
		n = read(s->fd, s->buf, sizeof(s->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	s->total += (uint64_t)n;
	*ret = s->buf;
	return n;
}

int cp_extract_fd(int fd, const struct cp_extract_opts *o, char **ret_err)
{
	struct archive *a = reader_new();
	int r;
	_cleanup_free_ struct fd_src *s = xcalloc(1, sizeof(*s));

	s->fd = fd;
	if (archive_read_open(a, s, NULL, fd_src_read, NULL) != ARCHIVE_OK) {
		r = s->total == 0 ? -ENODATA : -EPROTO;
		*ret_err = r == -ENODATA ? xstrdup("nothing was copied (no data)")
					 : xasprintf("cannot read the archive: %s", archive_error_string(a) ?: "?");
		archive_read_free(a);
		return r;
	}
	r = extract(a, o, ret_err);
	if (r < 0)
		return r;
	/* tar pads its last record (GNU: to 10 KiB): read it, so that the writer does not
	 * see a closed pipe; a little, not a stream that never ends */
	for (uint64_t extra = 0;;) {
		ssize_t n = read(fd, s->buf, sizeof(s->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		extra += (uint64_t)n;
		if (extra > CP_MAX_TRAILER) {
			*ret_err = xasprintf("more than %u bytes after the end of the archive", CP_MAX_TRAILER);
			return -EPROTO;
		}
	}
	return 0;
}

int cp_extract_mem(const void *data, size_t len, const struct cp_extract_opts *o, char **ret_err)
{
	struct archive *a = reader_new();

	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		*ret_err = xasprintf("cannot read the archive: %s", archive_error_string(a) ?: "?");
		archive_read_free(a);
		return -EPROTO;
	}
	return extract(a, o, ret_err);
}

/* Every right that changes the file system, by the Landlock ABI that brought it. */
#define LL_WRITE_V1                                                                                   \
	(LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
	 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |         \
	 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |     \
	 LANDLOCK_ACCESS_FS_MAKE_SYM)
#define LL_REFER (1ULL << 13)    /* ABI 2 */
#define LL_TRUNCATE (1ULL << 14) /* ABI 3 */

int cp_extract_confine(int dest_fd)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	struct landlock_ruleset_attr ra = { .handled_access_fs = LL_WRITE_V1 };
	struct landlock_path_beneath_attr pb = { .parent_fd = dest_fd };
	_cleanup_close_ int rfd = -1;

	if (abi < 1)
		return errno == ENOSYS || errno == EOPNOTSUPP ? 0 : -errno;
	if (abi >= 2)
		ra.handled_access_fs |= LL_REFER;   /* handled and never granted: no cross-directory moves */
	if (abi >= 3)
		ra.handled_access_fs |= LL_TRUNCATE;
	/* inside dest: files, directories and symlinks; never devices, fifos or sockets */
	pb.allowed_access = ra.handled_access_fs & ~(LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
						    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SOCK | LL_REFER);
	rfd = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0);
	if (rfd < 0)
		return -errno;
	if (syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_landlock_restrict_self, rfd, 0) < 0)
		return -errno;
	return 1;
}
