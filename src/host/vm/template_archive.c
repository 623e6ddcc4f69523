// SPDX-License-Identifier: MIT
/* template_archive.c: export a template as one tar.zst (libarchive), and import one: hostile input, checked before anything appears. */
#include "template_archive.h"

#include "recipe.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define CHUNK (1u << 20)

static const char *const entry_names[] = { "meta.json", "image.qcow2", "SHA256SUMS" };

void tarchive_free(struct tarchive *t)
{
	free(t->meta);
	free(t->sums);
	*t = (struct tarchive){ 0 };
}

static void hex(const uint8_t *md, char out[65])
{
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* One entry's data: into mem (max bytes) or to fd (-1: dropped); hashed; exactly size bytes. */
static int entry_copy(struct archive *a, uint64_t size, int fd, char **mem, struct tarchive *t, uint8_t md[32],
		      char **ret_err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	_cleanup_free_ char *buf = xmalloc(CHUNK);
	uint64_t got = 0;
	unsigned int mdlen = 0;
	int r = 0;

	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	if (mem)
		*mem = xcalloc(1, (size_t)size + 1);
	for (;;) {
		la_ssize_t n;
		if (image_interrupted()) {
			*ret_err = xstrdup("interrupted");
			r = -EINTR;
			break;
		}
		n = archive_read_data(a, buf, CHUNK);
		if (n < 0) {
			*ret_err = xasprintf("the archive is corrupt or truncated: %s", archive_error_string(a));
			r = -EBADMSG;
			break;
		}
		if (n == 0)
			break;
		if ((uint64_t)n > size - got) {
			*ret_err = xstrdup("an entry is longer than its header says");
			r = -EBADMSG;
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		if (mem)
			memcpy(*mem + got, buf, (size_t)n);
		if (!mem && got < sizeof(t->head)) {
			size_t k = sizeof(t->head) - (size_t)got < (size_t)n ? sizeof(t->head) - (size_t)got : (size_t)n;
			memcpy(t->head + got, buf, k);
			t->head_len += k;
		}
		if (fd >= 0) {
			for (la_ssize_t off = 0; off < n;) {
				ssize_t w = write(fd, buf + off, (size_t)(n - off));
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					r = w < 0 ? -errno : -EIO;
					*ret_err = xasprintf("cannot write the image: %s", strerror(-r));
					break;
				}
				off += w;
			}
			if (r < 0)
				break;
		}
		got += (uint64_t)n;
	}
	if (r == 0 && got != size) {
		*ret_err = xstrdup("the archive is truncated (an entry is shorter than its header says)");
		r = -EBADMSG;
	}
	if (r == 0 && (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32))
		r = -EIO;
	EVP_MD_CTX_free(ctx);
	return r;
}

/* The next header must be entry i, a regular file within its bound. */
static int entry_check(struct archive_entry *e, size_t i, uint64_t avail, char **ret_err)
{
	const char *path = archive_entry_pathname(e);
	static const uint64_t max[] = { TEMPLATE_META_MAX, TARCHIVE_IMAGE_MAX, TARCHIVE_SUMS_MAX };
	int64_t size = archive_entry_size(e);

	if (!path || strcmp(path, entry_names[i])) {
		*ret_err = xasprintf("unexpected entry in the archive (expected %s)", entry_names[i]);
		return -EBADMSG;
	}
	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) || archive_entry_symlink(e)) {
		*ret_err = xasprintf("%s in the archive is not a regular file", entry_names[i]);
		return -EBADMSG;
	}
	if (!archive_entry_size_is_set(e) || size <= 0 || (uint64_t)size > max[i]) {
		*ret_err = xasprintf("%s in the archive has a size out of bounds", entry_names[i]);
		return -EBADMSG;
	}
	if (i == 1 && (uint64_t)size > avail) {
		*ret_err = xasprintf("not enough free space for the image (%llu MiB)", (unsigned long long)(size >> 20));
		return -ENOSPC;
	}
	return 0;
}

int tarchive_read(int fd, const void *buf, size_t len, int dfd, uint64_t avail, struct tarchive *ret,
		  char **ret_err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct tarchive t = { 0 };
	int r = 0, ar;

	if (!a)
		return -ENOMEM;
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	ar = fd >= 0 ? archive_read_open_fd(a, fd, 1 << 16) : archive_read_open_memory(a, buf, len);
	if (ar != ARCHIVE_OK) {
		*ret_err = xasprintf("not a template archive: %s", archive_error_string(a));
		archive_read_free(a);
		return -EBADMSG;
	}
	for (size_t i = 0; i < 3 && r == 0; i++) {
		_cleanup_close_ int ofd = -1;
		ar = archive_read_next_header(a, &e);
		if (ar != ARCHIVE_OK) {
			*ret_err = ar == ARCHIVE_EOF ? xasprintf("the archive ends before %s", entry_names[i])
						     : xasprintf("not a template archive, or a corrupt one: %s",
								 archive_error_string(a));
			r = -EBADMSG;
			break;
		}
		r = entry_check(e, i, avail, ret_err);
		if (r < 0)
			break;
		if (i == 1 && dfd >= 0) {
			ofd = openat(dfd, "image.qcow2", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (ofd < 0) {
				r = -errno;
				*ret_err = xasprintf("cannot create the image: %s", strerror(-r));
				break;
			}
		}
		if (i == 0) {
			t.meta_len = (size_t)archive_entry_size(e);
			r = entry_copy(a, t.meta_len, -1, &t.meta, &t, t.meta_sha, ret_err);
		} else if (i == 1) {
			t.image_len = (uint64_t)archive_entry_size(e);
			r = entry_copy(a, t.image_len, ofd, NULL, &t, t.image_sha, ret_err);
			if (r == 0 && ofd >= 0 && fsync(ofd) < 0)
				r = -errno;
		} else {
			uint8_t md[32];
			t.sums_len = (size_t)archive_entry_size(e);
			r = entry_copy(a, t.sums_len, -1, &t.sums, &t, md, ret_err);
		}
	}
	if (r == 0 && (ar = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		*ret_err = ar == ARCHIVE_OK ? xstrdup("the archive has more entries than a template")
					    : xasprintf("the archive is corrupt after its last entry: %s", archive_error_string(a));
		r = -EBADMSG;
	}
	archive_read_free(a);
	if (r < 0) {
		tarchive_free(&t);
		return r;
	}
	*ret = t;
	return 0;
}

int tarchive_verify(const struct tarchive *t, struct template_meta *ret_meta, char **ret_err)
{
	char mh[65], ih[65], *want;
	struct qcow2_info q;
	int r;

	hex(t->meta_sha, mh);
	hex(t->image_sha, ih);
	want = xasprintf("%s  meta.json\n%s  image.qcow2\n", mh, ih);
	r = t->sums && t->sums_len == strlen(want) && !memcmp(t->sums, want, t->sums_len) ? 0 : -EBADMSG;
	free(want);
	if (r < 0) {
		*ret_err = xstrdup("checksum mismatch: the archive is corrupt (SHA256SUMS does not match its contents)");
		return r;
	}
	if (qcow2_header_parse(t->head, t->head_len, &q) < 0 || !qcow2_import_ok(&q)) {
		*ret_err = xstrdup("the image in the archive is not a self-contained qcow2 image (backing or data file, "
				   "encryption, or a size out of bounds)");
		return -EBADMSG;
	}
	r = template_meta_parse(t->meta, t->meta_len, false, ret_meta);
	if (r < 0) {
		*ret_err = xstrdup("meta.json in the archive is malformed");
		return r;
	}
	return 0;
}

/* ---- export ---- */

/* One regular file entry from mem or fd (size bytes), hashed into md. */
static int entry_write(struct archive *a, const char *name, const char *mem, int fd, uint64_t size, uint8_t md[32])
{
	struct archive_entry *e = archive_entry_new();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	_cleanup_free_ char *buf = mem ? NULL : xmalloc(CHUNK);
	uint64_t done = 0;
	unsigned int mdlen = 0;
	int r = 0;

	if (!e || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		archive_entry_free(e);
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		r = -EIO;
	while (r == 0 && done < size) {
		const char *p = mem ? mem + done : buf;
		if (image_interrupted()) {
			r = -EINTR;
			break;
		}
		size_t n = mem ? (size_t)(size - done) : (size_t)(size - done < CHUNK ? size - done : CHUNK);
		if (!mem) {
			ssize_t got = read(fd, buf, n);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				r = got < 0 ? -errno : -EIO;
				break;
			}
			n = (size_t)got;
		}
		EVP_DigestUpdate(ctx, p, n);
		if (archive_write_data(a, p, n) != (la_ssize_t)n)
			r = -EIO;
		done += n;
	}
	if (r == 0 && (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32))
		r = -EIO;
	EVP_MD_CTX_free(ctx);
	archive_entry_free(e);
	return r;
}

static int archive_write_all(int out, const char *meta, const char *qcow2, char **ret_err)
{
	struct archive *a = archive_write_new();
	_cleanup_close_ int fd = open(qcow2, O_RDONLY | O_CLOEXEC);
	uint8_t mmd[32], imd[32], smd[32];
	char mh[65], ih[65];
	_cleanup_free_ char *sums = NULL;
	struct stat st;
	int r = 0;

	if (!a || fd < 0 || fstat(fd, &st) < 0) {
		archive_write_free(a);
		return -errno ? -errno : -ENOMEM;
	}
	if (archive_write_add_filter_zstd(a) != ARCHIVE_OK || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, out) != ARCHIVE_OK) {
		*ret_err = xasprintf("libarchive: %s", archive_error_string(a));
		archive_write_free(a);
		return -EIO;
	}
	r = entry_write(a, "meta.json", meta, -1, strlen(meta), mmd);
	if (r == 0)
		r = entry_write(a, "image.qcow2", NULL, fd, (uint64_t)st.st_size, imd);
	if (r == 0) {
		hex(mmd, mh);
		hex(imd, ih);
		sums = xasprintf("%s  meta.json\n%s  image.qcow2\n", mh, ih);
		r = entry_write(a, "SHA256SUMS", sums, -1, strlen(sums), smd);
	}
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = -EIO;
	if (r == -EINTR && !*ret_err)
		*ret_err = xstrdup("interrupted");
	if (r < 0 && !*ret_err)
		*ret_err = xasprintf("writing the archive failed: %s", archive_error_string(a) ? archive_error_string(a)
												: strerror(-r));
	archive_write_free(a);
	return r;
}

int template_export(const struct sbx_paths *p, const char *name, const char *file, bool force, char **ret_err)
{
	_cleanup_free_ char *root = template_user_root(p), *stage = NULL, *qcow2 = NULL, *meta = NULL, *tmp = NULL;
	_cleanup_close_ int out = -1, lock = -1;
	struct template_meta m = { 0 };
	bool staged = false;
	int r;

	*ret_err = NULL;
	/* a rebuild or save -f deletes images no sandbox uses: not this one while we read it */
	if (template_known(p, name) && (lock = template_lock(p, name)) < 0) {
		*ret_err = xasprintf("cannot lock template %s: %s", name, strerror(-lock));
		return lock;
	}
	r = template_meta_get(p, name, &m);
	if (r < 0) {
		*ret_err = template_known(p, name) ? xasprintf("template '%s' is not built", name)
						   : xasprintf("unknown template '%s' (see: sbx template ls)", name);
		return r;
	}
	if (!force && access(file, F_OK) == 0) {
		*ret_err = xasprintf("%s exists; -f overwrites it", file);
		r = -EEXIST;
		goto out;
	}
	stage = xasprintf("%s/.export-%s.XXXXXX", root, name);
	r = mkdir_p(root, 0700);
	if (r < 0 || !mkdtemp(stage)) {
		r = r < 0 ? r : -errno;
		*ret_err = xasprintf("cannot create a directory in %s: %s", root, strerror(-r));
		goto out;
	}
	staged = true;
	image_signals_catch();
	qcow2 = xasprintf("%s/image.qcow2", stage);
	{
		/* qcow2 carries only the allocated clusters: the 4 GiB sparse disk of a
		 * minimal template is ~300 MiB before compression */
		const char *argv[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", m.image, qcow2, NULL };
		r = image_run(argv, NULL, RUN_QUIET);
		if (r != 0) {
			r = r < 0 ? r : -EIO;
			*ret_err = r == -EINTR ? xstrdup("interrupted") : xasprintf("qemu-img convert of %s failed", m.image);
			goto out;
		}
	}
	{
		char *path = m.image; /* the archive names no host paths */
		m.image = NULL;
		meta = template_meta_json(name, &m);
		m.image = path;
	}
	tmp = xasprintf("%s.tmp.%d", file, (int)getpid());
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (out < 0) {
		r = -errno;
		*ret_err = xasprintf("cannot create %s: %s", tmp, strerror(-r));
		goto out;
	}
	r = archive_write_all(out, meta, qcow2, ret_err);
	if (r == 0 && (fsync(out) < 0 || rename(tmp, file) < 0)) {
		r = -errno;
		*ret_err = xasprintf("cannot write %s: %s", file, strerror(-r));
	}
	if (r < 0)
		unlink(tmp);
out:
	if (staged) {
		rm_rf(stage);
		image_signals_release();
	}
	template_meta_free(&m);
	return r;
}

/* ---- import ---- */

static int import_stage(const char *file, const char *stage, struct template_meta *ret_meta, char **ret_err)
{
	_cleanup_close_ int in = open(file, O_RDONLY | O_CLOEXEC), dfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct tarchive t = { 0 };
	struct statvfs sv;
	uint64_t avail;
	int r;

	if (in < 0) {
		r = -errno;
		*ret_err = xasprintf("cannot open %s: %s", file, strerror(-r));
		return r;
	}
	if (dfd < 0)
		return -errno;
	avail = fstatvfs(dfd, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : TARCHIVE_IMAGE_MAX;
	r = tarchive_read(in, NULL, 0, dfd, avail, &t, ret_err);
	if (r == 0)
		r = tarchive_verify(&t, ret_meta, ret_err);
	if (r == 0) {
		/* qemu-img writes the raw disk sparse, but a small qcow2 of compressed clusters
		 * can still expand to its whole virtual size: it must fit */
		struct qcow2_info q;
		qcow2_header_parse(t.head, t.head_len, &q);
		avail = fstatvfs(dfd, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : TARCHIVE_IMAGE_MAX;
		if (q.size > avail) {
			*ret_err = xasprintf("the image's disk is %llu MiB and only %llu MiB are free in %s",
					     (unsigned long long)(q.size >> 20), (unsigned long long)(avail >> 20), stage);
			template_meta_free(ret_meta);
			r = -ENOSPC;
		}
	}
	tarchive_free(&t);
	return r;
}

int template_import(const struct sbx_paths *p, const char *file, const char *name, bool force, char **ret_name,
		    char **ret_err)
{
	_cleanup_free_ char *root = template_user_root(p), *stage = NULL, *img = NULL, *qcow2 = NULL, *tdir = NULL;
	_cleanup_free_ char *built = template_iso_now(), *nm = NULL;
	_cleanup_close_ int lock = -1;
	struct template_meta am = { 0 }, m;
	bool staged = false;
	int r;

	*ret_err = NULL;
	if (name && !recipe_name_ok(name)) {
		*ret_err = xasprintf("'%s' is not a template name ([a-z0-9][a-z0-9._-]*, at most 63 bytes)", name);
		return -EINVAL;
	}
	if (name && (template_is_recipe(p, name) || (!force && template_known(p, name)))) {
		/* before reading the file; checked again under the lock */
		*ret_err = template_is_recipe(p, name)
				   ? xasprintf("'%s' is the name of a recipe template; choose another name", name)
				   : xasprintf("template '%s' exists; -f replaces it (sandboxes made from it keep their image)", name);
		return -EEXIST;
	}
	stage = xasprintf("%s/.import.XXXXXX", root);
	r = mkdir_p(root, 0700);
	if (r < 0 || !mkdtemp(stage)) {
		r = r < 0 ? r : -errno;
		*ret_err = xasprintf("cannot create a directory in %s: %s", root, strerror(-r));
		return r;
	}
	staged = true;
	image_signals_catch(); /* ^C: qemu-img and the reader stop, the staging dir goes */
	r = import_stage(file, stage, &am, ret_err);
	if (r < 0)
		goto out;
	/* without NAME, the archive's: hostile input, checked like a name typed */
	nm = xstrdup(name ? name : am.name ? am.name : "");
	if (!recipe_name_ok(nm)) {
		*ret_err = xstrdup("the archive names no valid template name: give one (sbx template import FILE NAME)");
		r = -EINVAL;
		goto out;
	}
	if (template_is_recipe(p, nm)) {
		*ret_err = xasprintf("'%s' is the name of a recipe template; choose another name", nm);
		r = -EEXIST;
		goto out;
	}
	qcow2 = xasprintf("%s/image.qcow2", stage);
	img = xasprintf("%s/base.raw", stage);
	{
		const char *argv[] = { "qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", qcow2, img, NULL };
		r = image_run(argv, NULL, RUN_QUIET);
		if (r != 0) {
			r = r < 0 ? r : -EIO;
			*ret_err = xstrdup(r == -EINTR ? "interrupted" : "qemu-img could not read the image in the archive");
			goto out;
		}
	}
	unlink(qcow2);
	lock = template_lock(p, nm);
	if (lock < 0) {
		r = lock;
		*ret_err = xasprintf("cannot lock template %s: %s", nm, strerror(-r));
		goto out;
	}
	if (!force && template_known(p, nm)) {
		*ret_err = xasprintf("template '%s' exists; -f replaces it (sandboxes made from it keep their image)", nm);
		r = -EEXIST;
		goto out;
	}
	tdir = template_dir(p, nm);
	m = am;
	m.built = built;
	m.source = (char *)"imported";
	m.recipe_sha256 = NULL;
	if (!m.base_template)
		m.base_template = am.name; /* exported from a recipe template: which one */
	{
		struct stat st;
		m.size = stat(img, &st) == 0 ? (uint64_t)st.st_size : am.size;
	}
	r = template_publish(p, nm, tdir, img, &m);
	if (r < 0)
		*ret_err = xasprintf("cannot store the template in %s: %s", tdir, strerror(-r));
	else
		*ret_name = TAKE_PTR(nm);
out:
	if (staged) {
		rm_rf(stage);
		image_signals_release();
	}
	template_meta_free(&am);
	return r;
}
