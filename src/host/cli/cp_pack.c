// SPDX-License-Identifier: MIT
/* cp_pack.c: a host file or tree as a tar stream for `sbx cp`, read without following
 * any symlink (openat/O_NOFOLLOW from the top down). */
#include "cp_pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cp_extract.h"
#include "textesc.h"
#include "util.h"

#define CP_PACK_CHUNK (256u * 1024u)

struct cpp {
	struct archive *a;
	struct archive_entry *e;
	uint8_t *buf;
	char *err;
};

static int pfail(struct cpp *w, int r, const char *path, const char *what)
{
	_cleanup_free_ char *esc = text_escape(path, strlen(path), ESC_BACKSLASH);

	if (!w->err)
		w->err = xasprintf("%s: %s", esc, what);
	return r;
}

static int header(struct cpp *w, const char *apath, const struct stat *st, const char *link, const char *path)
{
	struct archive_entry *e = w->e;

	archive_entry_clear(e);
	archive_entry_copy_pathname(e, apath);
	archive_entry_set_filetype(e, st->st_mode & S_IFMT);
	archive_entry_set_perm(e, st->st_mode & 0777);
	archive_entry_set_size(e, S_ISREG(st->st_mode) ? st->st_size : 0);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	/* the guest's tar, run as root, gives the files to this name */
	archive_entry_copy_uname(e, "agent");
	archive_entry_copy_gname(e, "agent");
	if (link)
		archive_entry_copy_symlink(e, link);
	if (archive_write_header(w->a, e) != ARCHIVE_OK)
		return pfail(w, -EIO, path, archive_error_string(w->a) ?: "cannot write the archive");
	return 0;
}

/* A regular file's bytes; a file that shrank meanwhile is padded with zeros, one that
 * grew is cut at the size in its header. */
static int body(struct cpp *w, int fd, off_t size, const char *path)
{
	off_t done = 0;

	while (done < size) {
		size_t want = (size_t)MIN((off_t)CP_PACK_CHUNK, size - done);
		ssize_t n = read(fd, w->buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pfail(w, -errno, path, strerror(errno));
		if (n == 0) {
			memset(w->buf, 0, want);
			n = (ssize_t)want;
		}
		if (archive_write_data(w->a, w->buf, (size_t)n) != n)
			return pfail(w, -EIO, path, archive_error_string(w->a) ?: "cannot write the archive");
		done += n;
	}
	return 0;
}

static int pack_at(struct cpp *w, int dfd, const char *name, const char *apath, const char *path, unsigned depth);

static int pack_dir(struct cpp *w, int fd, const char *apath, const char *path, unsigned depth)
{
	DIR *d = dir_from_fd(fd);
	struct dirent *de;
	int r = 0;

	if (!d)
		return pfail(w, -errno, path, strerror(errno));
	if (depth >= CP_MAX_DEPTH) {
		closedir(d);
		return pfail(w, -ELOOP, path, "too deep");
	}
	while (r >= 0 && (errno = 0, de = readdir(d))) {
		_cleanup_free_ char *ap = NULL, *p = NULL;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ap = xasprintf("%s/%s", apath, de->d_name);
		p = xasprintf("%s/%s", path, de->d_name);
		if (strlen(ap) > CP_MAX_PATH) {
			r = pfail(w, -ENAMETOOLONG, p, "name too long");
			break;
		}
		r = pack_at(w, dirfd(d), de->d_name, ap, p, depth + 1);
	}
	if (r >= 0 && errno)
		r = pfail(w, -errno, path, strerror(errno));
	closedir(d);
	return r;
}

static int pack_at(struct cpp *w, int dfd, const char *name, const char *apath, const char *path, unsigned depth)
{
	struct stat st, st2;
	char link[CP_MAX_PATH + 1];
	ssize_t n;
	int fd, r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return pfail(w, -errno, path, strerror(errno));
	switch (st.st_mode & S_IFMT) {
	case S_IFLNK:
		n = readlinkat(dfd, name, link, sizeof(link));
		if (n < 0)
			return pfail(w, -errno, path, strerror(errno));
		if ((size_t)n >= sizeof(link))
			return pfail(w, -ENAMETOOLONG, path, "symlink target too long");
		link[n] = '\0';
		return header(w, apath, &st, link, path);
	case S_IFREG:
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return pfail(w, -errno, path, strerror(errno));
		if (fstat(fd, &st2) < 0 || !S_ISREG(st2.st_mode) || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev) {
			close(fd);
			return pfail(w, -EAGAIN, path, "changed while being copied");
		}
		r = header(w, apath, &st2, NULL, path);
		if (r >= 0)
			r = body(w, fd, st2.st_size, path);
		close(fd);
		return r;
	case S_IFDIR:
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return pfail(w, -errno, path, strerror(errno));
		r = header(w, apath, &st, NULL, path);
		if (r < 0) {
			close(fd);
			return r;
		}
		return pack_dir(w, fd, apath, path, depth);
	default: {
		_cleanup_free_ char *esc = text_escape(path, strlen(path), ESC_BACKSLASH);
		fprintf(stderr, "sbx cp: %s: not a regular file, directory or symlink; skipped\n", esc);
		return 0;
	}
	}
}

int cp_pack(int out_fd, const char *src, const char *top, bool recursive, char **ret_err)
{
	struct cpp w = { .a = archive_write_new(), .e = archive_entry_new(), .buf = xmalloc(CP_PACK_CHUNK) };
	struct stat st;
	int r;

	if (!w.a || !w.e)
		die("out of memory");
	if (lstat(src, &st) == 0 && S_ISDIR(st.st_mode) && !recursive) {
		r = pfail(&w, -EISDIR, src, "is a directory (use -r)");
	} else if (archive_write_set_format_gnutar(w.a) != ARCHIVE_OK ||
		   archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK ||
		   archive_write_open_fd(w.a, out_fd) != ARCHIVE_OK) {
		r = pfail(&w, -EIO, src, archive_error_string(w.a) ?: "cannot start the archive");
	} else {
		r = pack_at(&w, AT_FDCWD, src, top, src, 0);
		if (r >= 0 && archive_write_close(w.a) != ARCHIVE_OK)
			r = pfail(&w, -EIO, src, archive_error_string(w.a) ?: "cannot finish the archive");
	}
	archive_entry_free(w.e);
	archive_write_free(w.a);
	free(w.buf);
	if (r < 0) {
		*ret_err = w.err ? w.err : xstrdup("failed");
		return r;
	}
	free(w.err);
	return 0;
}
