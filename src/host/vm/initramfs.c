// SPDX-License-Identifier: MIT
/* initramfs.c: cpio "newc" writer, modules.dep resolution and the guest initramfs. */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "progress.h"
#include "util.h"

#define CPIO_HDR_LEN 110
#define CPIO_TRAILER "TRAILER!!!"
#define MODULES_DEP_MAX (64u << 20)
#define GUEST_BIN_MAX (128u << 20)

struct cpio_writer {
	int fd;
	uint32_t ino;
	uint64_t off;   /* bytes written so far, for 4-byte alignment */
	int err;        /* sticky: first error */
};

int cpio_open(int fd, struct cpio_writer **ret)
{
	struct cpio_writer *w;

	if (fd < 0 || !ret)
		return -EINVAL;
	w = xcalloc(1, sizeof(*w));
	w->fd = fd;
	w->ino = 1;
	*ret = w;
	return 0;
}

void cpio_free(struct cpio_writer *w)
{
	free(w);
}

/* Relative, no empty/"."/".." component, bounded, not the trailer's name. */
static bool cpio_name_ok(const char *name)
{
	size_t len;
	const char *s;

	if (!name)
		return false;
	len = strnlen(name, CPIO_NAME_MAX + 1);
	if (len == 0 || len > CPIO_NAME_MAX || name[0] == '/')
		return false;
	if (!strcmp(name, CPIO_TRAILER))
		return false;
	s = name;
	for (;;) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!*e)
			break;
		s = e + 1;
	}
	return true;
}

static int cpio_write(struct cpio_writer *w, const void *buf, size_t len)
{
	int r;

	if (w->err)
		return w->err;
	r = write_all(w->fd, buf, len);
	if (r < 0)
		return w->err = r;
	w->off += len;
	return 0;
}

static int cpio_pad(struct cpio_writer *w)
{
	static const char zero[4];
	size_t n = (4 - (w->off & 3)) & 3;

	return n ? cpio_write(w, zero, n) : 0;
}

static int cpio_entry(struct cpio_writer *w, const char *name, mode_t mode, uint32_t nlink,
		      unsigned int rmajor, unsigned int rminor, const void *data, size_t len)
{
	char hdr[CPIO_HDR_LEN + 1];
	size_t namesize = strlen(name) + 1;
	int r;

	if (w->err)
		return w->err;
	if (len > CPIO_FILE_MAX)
		return -EFBIG;
	snprintf(hdr, sizeof(hdr),
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 w->ino++, (unsigned int)mode, 0u, 0u, nlink, 0u, (unsigned int)len,
		 0u, 0u, rmajor, rminor, (unsigned int)namesize, 0u);
	r = cpio_write(w, hdr, CPIO_HDR_LEN);
	if (r == 0)
		r = cpio_write(w, name, namesize);
	if (r == 0)
		r = cpio_pad(w);
	if (r == 0 && len)
		r = cpio_write(w, data, len);
	if (r == 0)
		r = cpio_pad(w);
	return r;
}

int cpio_add_file(struct cpio_writer *w, const char *name, mode_t mode, const void *data, size_t len)
{
	if (!w || !cpio_name_ok(name) || (len && !data))
		return -EINVAL;
	return cpio_entry(w, name, S_IFREG | (mode & 07777), 1, 0, 0, data, len);
}

int cpio_add_dir(struct cpio_writer *w, const char *name, mode_t mode)
{
	if (!w || !cpio_name_ok(name))
		return -EINVAL;
	return cpio_entry(w, name, S_IFDIR | (mode & 07777), 2, 0, 0, NULL, 0);
}

int cpio_add_symlink(struct cpio_writer *w, const char *name, const char *target)
{
	size_t len;

	if (!w || !cpio_name_ok(name) || !target)
		return -EINVAL;
	len = strnlen(target, CPIO_NAME_MAX + 1);
	if (len == 0 || len > CPIO_NAME_MAX)
		return -EINVAL;
	return cpio_entry(w, name, S_IFLNK | 0777, 1, 0, 0, target, len);
}

int cpio_add_node(struct cpio_writer *w, const char *name, mode_t mode, unsigned int major, unsigned int minor)
{
	if (!w || !cpio_name_ok(name) || (!S_ISCHR(mode) && !S_ISBLK(mode)))
		return -EINVAL;
	if (major > 0xfff || minor > 0xfffff)
		return -EINVAL;
	return cpio_entry(w, name, mode & (S_IFMT | 07777), 1, major, minor, NULL, 0);
}

int cpio_finish(struct cpio_writer *w)
{
	int r;

	if (!w)
		return -EINVAL;
	r = w->err;
	if (r == 0) {
		/* The trailer's name is refused by cpio_name_ok(), so write it directly. */
		r = cpio_entry(w, CPIO_TRAILER, 0, 1, 0, 0, NULL, 0);
	}
	free(w);
	return r;
}

/* ---- modules.dep ---- */

struct moddep {
	char *path;   /* relative to modules_dir, points into the file buffer */
	char *deps;   /* space-separated paths, points into the file buffer */
	char name[64];
	int state;    /* 0 new, 1 visiting, 2 done */
};

struct modset {
	struct moddep *v;
	size_t n;
	char **out;
	size_t nout;
};

/* "kernel/fs/fuse/virtiofs.ko.xz" -> "virtiofs"; '-' becomes '_'. False if too long. */
static bool module_name(const char *s, size_t len, char out[64])
{
	const char *base = s, *dot;
	size_t n;

	for (size_t i = 0; i < len; i++)
		if (s[i] == '/')
			base = s + i + 1;
	n = (size_t)(s + len - base);
	dot = memmem(base, n, ".ko", 3);
	if (dot)
		n = (size_t)(dot - base);
	if (n == 0 || n >= 64)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = base[i] == '-' ? '_' : base[i];
	out[n] = 0;
	return true;
}

/* A path from modules.dep we are willing to open: relative, no "..". */
static bool module_path_ok(const char *path)
{
	return path[0] && path[0] != '/' && !strstr(path, "..") && strlen(path) < 512;
}

static struct moddep *modset_by_path(struct modset *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].path, path))
			return &s->v[i];
	return NULL;
}

static struct moddep *modset_by_name(struct modset *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

/* Depth-first, post-order: every dependency is emitted before its user. */
static int modset_visit(struct modset *s, struct moddep *m)
{
	_cleanup_free_ char *deps = NULL;
	char *save = NULL;

	if (m->state == 2)
		return 0;
	if (m->state == 1)
		return -ELOOP;
	m->state = 1;
	deps = xstrdup(m->deps);
	for (char *d = strtok_r(deps, " \t", &save); d; d = strtok_r(NULL, " \t", &save)) {
		struct moddep *dm = modset_by_path(s, d);
		int r;
		if (!dm)
			return -ENOENT;
		r = modset_visit(s, dm);
		if (r < 0)
			return r;
	}
	m->state = 2;
	s->out[s->nout++] = xstrdup(m->path);
	return 0;
}

static bool module_builtin(const char *modules_dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/modules.builtin", modules_dir);
	_cleanup_free_ char *buf = NULL;
	char *save = NULL;

	if (file_read_all(path, MODULES_DEP_MAX, &buf, NULL) < 0)
		return false;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char n[64];
		if (module_name(l, strlen(l), n) && !strcmp(n, name))
			return true;
	}
	return false;
}

void image_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int modules_resolve(const char *modules_dir, const char *const *names, char ***ret_paths)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *buf = NULL;
	struct modset s = { 0 };
	size_t cap = 0;
	char *save = NULL;
	int r = 0;

	if (!modules_dir || !names || !ret_paths)
		return -EINVAL;
	path = xasprintf("%s/modules.dep", modules_dir);
	r = file_read_all(path, MODULES_DEP_MAX, &buf, NULL);
	if (r < 0)
		return r;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(l, ':');
		struct moddep m = { 0 };
		if (!colon)
			continue;
		*colon = 0;
		m.path = l;
		m.deps = colon + 1;
		if (!module_path_ok(m.path) || !module_name(m.path, strlen(m.path), m.name))
			continue;
		if (s.n == cap) {
			cap = cap ? cap * 2 : 256;
			s.v = realloc(s.v, cap * sizeof(*s.v));
			if (!s.v)
				die("out of memory");
		}
		s.v[s.n++] = m;
	}
	/* Each module is emitted at most once, so n + 1 slots always suffice. */
	s.out = xcalloc(s.n + 1, sizeof(char *));
	for (const char *const *n = names; *n && r == 0; n++) {
		char want[64];
		struct moddep *m;
		if (!module_name(*n, strlen(*n), want)) {
			r = -EINVAL;
			break;
		}
		m = modset_by_name(&s, want);
		if (!m) {
			if (!module_builtin(modules_dir, want))
				r = -ENOENT;
			continue;
		}
		r = modset_visit(&s, m);
	}
	for (size_t i = 0; r == 0 && i < s.nout; i++)
		if (!module_path_ok(s.out[i]))
			r = -EINVAL;
	free(s.v);
	if (r < 0) {
		image_strv_free(s.out);
		return r;
	}
	*ret_paths = s.out;
	return 0;
}

/* ---- the initramfs ---- */

struct dirset {
	char **v;
	size_t n;
};

static void dirset_free(struct dirset *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
}

/* Add every missing parent directory of name (and name itself when is_dir). */
static int cpio_add_parents(struct cpio_writer *w, struct dirset *d, const char *name, bool is_dir)
{
	_cleanup_free_ char *p = xstrdup(name);
	size_t len = strlen(p);

	for (size_t i = 1; i <= len; i++) {
		bool have = false;
		int r;
		if (p[i] != '/' && !(i == len && is_dir))
			continue;
		p[i] = 0;
		for (size_t j = 0; j < d->n && !have; j++)
			have = !strcmp(d->v[j], p);
		if (!have) {
			r = cpio_add_dir(w, p, 0755);
			if (r < 0)
				return r;
			d->v = realloc(d->v, (d->n + 1) * sizeof(char *));
			if (!d->v)
				die("out of memory");
			d->v[d->n++] = xstrdup(p);
		}
		if (i < len)
			p[i] = '/';
	}
	return 0;
}

static int cpio_add_host_file(struct cpio_writer *w, const char *name, const char *path, mode_t mode, size_t max)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	r = file_read_all(path, max, &buf, &len);
	if (r < 0)
		return r;
	return cpio_add_file(w, name, mode, buf, len);
}

#define MODSIG_MAGIC "~Module signature appended~\n"
#define MODSIG_INFO_LEN 12u   /* struct module_signature; sig_len (BE32) is its last field */

size_t module_strip_sig(const uint8_t *buf, size_t len)
{
	size_t mlen = sizeof(MODSIG_MAGIC) - 1, sig;

	if (len < mlen + MODSIG_INFO_LEN || memcmp(buf + len - mlen, MODSIG_MAGIC, mlen) != 0)
		return len;
	len -= mlen;
	sig = (size_t)buf[len - 4] << 24 | (size_t)buf[len - 3] << 16 | (size_t)buf[len - 2] << 8 | buf[len - 1];
	if (sig > len - MODSIG_INFO_LEN)
		return len + mlen;   /* malformed: keep the module as it is */
	return len - MODSIG_INFO_LEN - sig;
}

static int cpio_add_module(struct cpio_writer *w, const char *name, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = file_read_all(path, CPIO_FILE_MAX, &buf, &len);

	if (r < 0)
		return r;
	return cpio_add_file(w, name, 0644, buf, module_strip_sig((const uint8_t *)buf, len));
}

static bool release_ok(const char *release)
{
	return release && release[0] && release[0] != '.' && !strchr(release, '/') && strlen(release) < 128;
}

/* Bytes of the files the initramfs takes in: the total of its bar. */
static uint64_t initramfs_input_bytes(const char *guest_bin, const char *modules_dir, char **paths)
{
	struct stat st;
	uint64_t sum = stat(guest_bin, &st) == 0 ? (uint64_t)st.st_size : 0;

	for (char **m = paths; *m; m++) {
		_cleanup_free_ char *src = xasprintf("%s/%s", modules_dir, *m);
		if (stat(src, &st) == 0)
			sum += (uint64_t)st.st_size;
	}
	return sum;
}

/* How many of paths (the resolved INITRAMFS_MODULES) the boot set is: its own
 * resolution, which must be their prefix (dependencies first, each once, in the order
 * of the names); 0, one list loaded in order, when it is not. */
static size_t modules_boot_count(const char *modules_dir, char **paths)
{
	static const char *const boot[] = { INITRAMFS_MODULES_BOOT, NULL };
	char **bp = NULL;
	size_t n = 0;

	if (modules_resolve(modules_dir, boot, &bp) < 0)
		return 0;
	while (bp[n] && paths[n] && !strcmp(bp[n], paths[n]))
		n++;
	if (bp[n] || !paths[n])
		n = 0;
	image_strv_free(bp);
	return n;
}

static int initramfs_write(int fd, const char *guest_bin, const char *modules_dir, const char *release,
			   struct progress *pg)
{
	static const char *const mods[] = { INITRAMFS_MODULES, NULL };
	static const char *const dirs[] = { "dev", "proc", "sys", "run", "newroot", "etc/sbx" };
	struct cpio_writer *w = NULL;
	struct dirset d = { 0 };
	char **paths = NULL;
	char *list = NULL;
	size_t list_len = 0, nboot;
	uint64_t done = 0;
	FILE *lf;
	int r;

	r = modules_resolve(modules_dir, mods, &paths);
	if (r < 0)
		return r;
	nboot = modules_boot_count(modules_dir, paths);
	if (pg)
		progress_total(pg, initramfs_input_bytes(guest_bin, modules_dir, paths));
	r = cpio_open(fd, &w);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(dirs) && r == 0; i++)
		r = cpio_add_parents(w, &d, dirs[i], true);
	if (r == 0)
		r = cpio_add_dir(w, "tmp", 01777);
	if (r == 0)
		r = cpio_add_node(w, "dev/console", S_IFCHR | 0600, 5, 1);
	if (r == 0)
		r = cpio_add_node(w, "dev/null", S_IFCHR | 0666, 1, 3);
	if (r == 0)
		r = cpio_add_host_file(w, "init", guest_bin, 0755, GUEST_BIN_MAX);
	if (r == 0 && pg) {
		struct stat st;
		done = stat(guest_bin, &st) == 0 ? (uint64_t)st.st_size : 0;
		progress_set(pg, done);
	}

	lf = open_memstream(&list, &list_len);
	if (!lf)
		die("out of memory");
	for (char **m = paths; r == 0 && *m; m++) {
		_cleanup_free_ char *name = xasprintf("lib/modules/%s/%s", release, *m);
		_cleanup_free_ char *src = xasprintf("%s/%s", modules_dir, *m);
		r = cpio_add_parents(w, &d, name, false);
		if (r == 0)
			r = cpio_add_module(w, name, src);
		if (nboot && (size_t)(m - paths) == nboot)
			fputs(INITRAMFS_MODULE_LATER_MARK "\n", lf);
		fprintf(lf, "/%s\n", name);
		if (pg) {
			struct stat st;
			done += stat(src, &st) == 0 ? (uint64_t)st.st_size : 0;
			progress_set(pg, done);
		}
	}
	fclose(lf);
	if (r == 0)
		r = cpio_add_file(w, INITRAMFS_MODULE_LIST + 1, 0644, list, list_len);
	if (r == 0) {
		r = cpio_finish(w);
		w = NULL;
	}
out:
	cpio_free(w);
	free(list);
	dirset_free(&d);
	image_strv_free(paths);
	return r;
}

int initramfs_build(const char *out_path, const char *guest_bin, const char *modules_dir, const char *release,
		    struct progress *pg)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (!out_path || !guest_bin || !modules_dir || !release_ok(release))
		return -EINVAL;
	tmp = xasprintf("%s.tmp.%d", out_path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	r = initramfs_write(fd, guest_bin, modules_dir, release, pg);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, out_path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}
