// SPDX-License-Identifier: MIT
/* template.c: root disk templates: build (rootfs.c does the image), publish, meta.json, image lookup, gc. */
#include "image.h"
#include "progress.h"
#include "recipe.h"
#include "rootfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

#define META_MAX (64u << 10)

bool template_known(const struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	if (!p || !p->recipes || !recipe_name_ok(name))
		return false;
	path = xasprintf("%s/%s", p->recipes, name);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- meta.json ---- */

struct meta {
	char *built;
	char *kernel_release;
	char *image;       /* "base-ID.raw" */
	char *recipe_sha256;   /* NULL: built before sbx recorded it */
	uint64_t size;
};

static void meta_free(struct meta *m)
{
	free(m->built);
	free(m->kernel_release);
	free(m->image);
	free(m->recipe_sha256);
	*m = (struct meta){ 0 };
}

static bool image_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 9 && n < 64 && !strncmp(s, "base-", 5) && !strcmp(s + n - 4, ".raw") &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n;
}

static int meta_read(const char *tdir, struct meta *ret)
{
	_cleanup_free_ char *path = xasprintf("%s/meta.json", tdir);
	_cleanup_free_ char *text = NULL;
	struct json_object *o, *v;
	struct meta m = { 0 };
	int r;

	r = file_read_all(path, META_MAX, &text, NULL);
	if (r < 0)
		return r;
	o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	if (json_object_object_get_ex(o, "built", &v) && json_object_is_type(v, json_type_string))
		m.built = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "kernel_release", &v) && json_object_is_type(v, json_type_string))
		m.kernel_release = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "image", &v) && json_object_is_type(v, json_type_string))
		m.image = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "recipe_sha256", &v) && json_object_is_type(v, json_type_string))
		m.recipe_sha256 = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(o, "size", &v) && json_object_is_type(v, json_type_int))
		m.size = (uint64_t)json_object_get_int64(v);
	json_object_put(o);
	if (!m.image || !image_name_ok(m.image)) {
		meta_free(&m);
		return -EBADMSG;
	}
	*ret = m;
	return 0;
}

int template_image(const struct sbx_paths *p, const char *name, char **ret_path)
{
	_cleanup_free_ char *tdir = NULL, *path = NULL;
	struct meta m;
	int r;

	if (!p || !recipe_name_ok(name) || !ret_path)
		return -EINVAL;
	tdir = xasprintf("%s/templates/%s", p->cache, name);
	r = meta_read(tdir, &m);
	if (r < 0)
		return r == -EBADMSG ? -ENOENT : r;
	path = xasprintf("%s/%s", tdir, m.image);
	meta_free(&m);
	if (access(path, R_OK) < 0)
		return -errno;
	*ret_path = TAKE_PTR(path);
	return 0;
}

bool template_stale(const struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *tdir = NULL;
	struct recipe rc = { 0 };
	struct meta m;
	bool stale;

	if (!p || !recipe_name_ok(name) || recipe_load(p, name, &rc) < 0)
		return false;
	tdir = xasprintf("%s/templates/%s", p->cache, name);
	if (meta_read(tdir, &m) < 0) {
		recipe_free(&rc);
		return false;   /* not built: not stale */
	}
	stale = !m.recipe_sha256 || strcmp(m.recipe_sha256, rc.sha256) != 0;
	meta_free(&m);
	recipe_free(&rc);
	return stale;
}

static char *iso_now(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

/* Backing file named in a qcow2 header: 0 with *ret (NULL if none), or -errno. */
static int qcow2_backing(int dfd, const char *name, char **ret)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint8_t h[20];
	uint64_t off;
	uint32_t len;
	char *b;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, "QFI\xfb", 4))
		return -EBADMSG; /* maybe still being written */
	off = (uint64_t)h[8] << 56 | (uint64_t)h[9] << 48 | (uint64_t)h[10] << 40 | (uint64_t)h[11] << 32 |
	      (uint64_t)h[12] << 24 | (uint64_t)h[13] << 16 | (uint64_t)h[14] << 8 | h[15];
	len = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
	*ret = NULL;
	if (off == 0 || len == 0)
		return 0;
	if (len > 1023)
		return -EBADMSG;
	b = xcalloc(1, len + 1);
	if (pread(fd, b, len, (off_t)off) != (ssize_t)len) {
		free(b);
		return -EIO;
	}
	*ret = b;
	return 0;
}

int disk_backing_name(const char *disk, char **ret)
{
	return qcow2_backing(AT_FDCWD, disk, ret);
}

int template_base_ok(const struct sbx_paths *p, const char *name, const char *path)
{
	_cleanup_free_ char *tdir = NULL;
	const char *slash = path ? strrchr(path, '/') : NULL;
	struct stat st;

	if (!p || !recipe_name_ok(name) || !slash)
		return -EPERM;
	tdir = xasprintf("%s/templates/%s", p->cache, name);
	if ((size_t)(slash - path) != strlen(tdir) || strncmp(path, tdir, (size_t)(slash - path)) ||
	    !image_name_ok(slash + 1))
		return -EPERM;
	if (lstat(path, &st) < 0)
		return -errno;
	return S_ISREG(st.st_mode) ? 0 : -EPERM;
}

struct strset {
	char **v;
	size_t n;
};

static void strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	*s = (struct strset){ 0 };
}

/* The base image a sandbox's spec.json records (NULL: none, or unreadable). */
static char *spec_base(int dfd)
{
	_cleanup_close_ int fd = openat(dfd, "spec.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *text = NULL;
	struct json_object *o, *v;
	char *b = NULL;

	if (fd < 0 || fd_read_all(fd, 1 << 20, &text, NULL) < 0)
		return NULL;
	o = json_tokener_parse(text);
	if (o && json_object_object_get_ex(o, "base", &v) && json_object_is_type(v, json_type_string))
		b = xstrdup(json_object_get_string(v));
	json_object_put(o);
	return b;
}

/* Backing files of every sandbox disk, including ones being created (disk.qcow2.tmp.PID). */
static int sandbox_backings(const struct sbx_paths *p, struct strset *ret)
{
	DIR *sd = p->sandboxes ? opendir(p->sandboxes) : NULL;
	struct dirent *se;
	int r = 0;

	if (!sd)
		return errno == ENOENT || !p->sandboxes ? 0 : -errno;
	while (r == 0 && (se = readdir(sd))) {
		DIR *dd;
		struct dirent *de;
		int dfd;
		if (se->d_name[0] == '.')
			continue;
		dfd = openat(dirfd(sd), se->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			continue;
		dd = dir_from_fd(dfd);
		if (!dd)
			continue;
		while (r == 0 && (de = readdir(dd))) {
			char *b = NULL;
			if (!strcmp(de->d_name, "spec.json"))
				b = spec_base(dirfd(dd));  /* sbx's record, which sandboxes start with */
			else if (strncmp(de->d_name, "disk", 4) || !strstr(de->d_name, ".qcow2"))
				continue;
			else
				r = qcow2_backing(dirfd(dd), de->d_name, &b);
			if (r == 0 && b) {
				ret->v = realloc(ret->v, (ret->n + 1) * sizeof(char *));
				if (!ret->v)
					die("out of memory");
				ret->v[ret->n++] = b;
			}
		}
		closedir(dd);
	}
	closedir(sd);
	return r;
}

/* Delete older base-*.raw images of a template that no sandbox disk uses as backing file. */
static void template_gc(const struct sbx_paths *p, const char *tdir, const char *current)
{
	struct strset used = { 0 };
	DIR *d;
	struct dirent *de;

	/* Any disk we cannot read might use any image: then keep them all. */
	if (sandbox_backings(p, &used) < 0) {
		strset_free(&used);
		return;
	}
	d = opendir(tdir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		bool in_use = false;
		if (!image_name_ok(de->d_name) || !strcmp(de->d_name, current))
			continue;
		path = xasprintf("%s/%s", tdir, de->d_name);
		for (size_t i = 0; i < used.n && !in_use; i++) {
			const char *slash = strrchr(used.v[i], '/');
			in_use = !strcmp(used.v[i], path) || !strcmp(slash ? slash + 1 : used.v[i], de->d_name);
		}
		if (!in_use)
			unlink(path);
	}
	if (d)
		closedir(d);
	strset_free(&used);
}

static int template_publish(const struct sbx_paths *p, const char *name, const char *tdir, const char *img,
			    const struct kernel_info *k, uint64_t size, const char *recipe_sha256)
{
	_cleanup_free_ char *built = iso_now(), *image = NULL, *dest = NULL, *link_tmp = NULL;
	_cleanup_free_ char *link = NULL, *metap = NULL;
	struct json_object *o;
	const char *txt;
	char id[32];
	time_t t = time(NULL);
	struct tm tm;
	int r;

	r = mkdir_p(tdir, 0700);
	if (r < 0)
		return r;
	gmtime_r(&t, &tm);
	strftime(id, sizeof(id), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 100; i++) {
		free(image);
		free(dest);
		image = i ? xasprintf("base-%s-%d.raw", id, i) : xasprintf("base-%s.raw", id);
		dest = xasprintf("%s/%s", tdir, image);
		if (access(dest, F_OK) < 0)
			break;
	}
	if (chmod(img, 0444) < 0 || rename(img, dest) < 0)
		return -errno;

	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "built", json_object_new_string(built));
	json_object_object_add(o, "kernel_release", json_object_new_string(k->release));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(o, "image", json_object_new_string(image));
	json_object_object_add(o, "recipe_sha256", json_object_new_string(recipe_sha256));
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	metap = xasprintf("%s/meta.json", tdir);
	{
		_cleanup_free_ char *body = xasprintf("%s\n", txt);
		r = file_write_atomic(metap, body, strlen(body), 0644);
	}
	json_object_put(o);
	if (r < 0) {
		unlink(dest);
		return r;
	}
	/* Convenience symlink; meta.json is what template_image() reads. */
	link = xasprintf("%s/base.raw", tdir);
	link_tmp = xasprintf("%s/.base.raw.tmp.%d", tdir, (int)getpid());
	unlink(link_tmp);
	if (symlink(image, link_tmp) == 0 && rename(link_tmp, link) < 0)
		unlink(link_tmp);
	template_gc(p, tdir, image);
	return 0;
}

int template_build_ex(const struct sbx_paths *p, const char *name, bool force, enum template_verbosity level)
{
	_cleanup_free_ char *tbase = NULL, *tdir = NULL, *lockp = NULL, *build = NULL;
	_cleanup_free_ char *img = NULL, *existing = NULL;
	_cleanup_close_ int lock = -1;
	struct kernel_info k = { 0 };
	struct recipe rc = { 0 };
	uint64_t t0 = now_ms();
	struct stat st;
	int r;

	if (!p || !recipe_name_ok(name))
		return -EINVAL;
	r = recipe_load(p, name, &rc);
	if (r < 0) {
		if (r == -ENOENT)
			log_err("no recipe for template '%s' in %s", name, p->recipes);
		return r;
	}
	tbase = xasprintf("%s/templates", p->cache);
	tdir = xasprintf("%s/%s", tbase, name);
	r = mkdir_p(tbase, 0700);
	if (r < 0)
		goto out;

	image_signals_catch();
	lockp = xasprintf("%s/.%s.lock", tbase, name);
	lock = image_lock(lockp, level >= 1);
	if (lock < 0) {
		r = lock;
		goto out_sig;
	}
	/* The kernel first, even for a built template: setup relies on this to fetch it. */
	if (level >= 1)
		progress_step(1, 1 + rootfs_steps(&rc), "Guest kernel");
	r = kernel_ensure(p, level, &k);
	if (r < 0)
		goto out_sig;
	if (!force && template_image(p, name, &existing) == 0) {
		if (!template_stale(p, name)) {
			image_say(level, "template %s is already built (%s); use --force to rebuild", name, existing);
			r = 0;
			goto out_sig;
		}
		image_say(level, "template %s was built from an older recipe: rebuilding (sandboxes made from it keep "
			   "their image)", name);
	}

	build = xasprintf("%s/.%s.build", tbase, name);
	r = rm_rf(build);
	if (r < 0) {
		log_err("cannot remove the leftover build directory %s: %s", build, strerror(-r));
		goto out_sig;
	}
	if (mkdir(build, 0700) < 0) {
		r = -errno;
		goto out_sig;
	}
	img = xasprintf("%s/base.raw", build);

	r = rootfs_build(&rc, &k, build, img, level, 2);
	if (r < 0)
		goto out_clean;
	if (image_interrupted()) {
		r = -EINTR;
		goto out_clean;
	}
	r = template_publish(p, name, tdir, img, &k, rc.size, rc.sha256);
	if (r < 0)
		goto out_clean;
	if (level >= 1) {
		_cleanup_free_ char *path = NULL;
		if (template_image(p, name, &path) == 0 && stat(path, &st) == 0)
			image_say(level, "template %s built in %.1f s: %s (%llu MiB used of %llu MiB)", name,
			    (double)(now_ms() - t0) / 1000.0, path, (unsigned long long)(st.st_blocks * 512ull >> 20),
			    (unsigned long long)(st.st_size >> 20));
	}
out_clean:
	{
		int q = rm_rf(build);
		if (q < 0)
			log_err("cannot remove %s: %s", build, strerror(-q));
	}
out_sig:
	if (r == -EINTR)
		log_err("template build interrupted; nothing was kept");
	image_signals_release();
out:
	kernel_info_free(&k);
	recipe_free(&rc);
	return r;
}

int template_build(const struct sbx_paths *p, const char *name, bool force, bool verbose)
{
	return template_build_ex(p, name, force, verbose ? TEMPLATE_VERBOSE : TEMPLATE_QUIET);
}

enum template_verbosity template_verbosity_default(void)
{
	return progress_quiet() ? TEMPLATE_QUIET : TEMPLATE_PROGRESS;
}

void template_meta_free(struct template_meta *m)
{
	if (!m)
		return;
	free(m->built);
	free(m->kernel_release);
	free(m->image);
	*m = (struct template_meta){ 0 };
}

int template_meta_get(const struct sbx_paths *p, const char *name, struct template_meta *ret)
{
	_cleanup_free_ char *tdir = NULL, *path = NULL;
	struct meta m = { 0 };
	struct stat st;
	int r;

	if (!p || !recipe_name_ok(name) || !ret)
		return -EINVAL;
	tdir = xasprintf("%s/templates/%s", p->cache, name);
	r = template_image(p, name, &path);
	if (r < 0)
		return r;
	r = meta_read(tdir, &m);
	if (r < 0)
		return r == -EBADMSG ? -ENOENT : r;
	if (stat(path, &st) < 0) {
		meta_free(&m);
		return -errno;
	}
	*ret = (struct template_meta){
		.built = m.built ? TAKE_PTR(m.built) : xstrdup(""),
		.kernel_release = m.kernel_release ? TAKE_PTR(m.kernel_release) : xstrdup(""),
		.image = TAKE_PTR(path),
		.size = (uint64_t)st.st_size,
		.disk_usage = (uint64_t)st.st_blocks * 512u,
	};
	meta_free(&m);
	return 0;
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int template_names(const struct sbx_paths *p, char ***ret)
{
	DIR *d;
	struct dirent *de;
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;

	if (!p || !ret) {
		free(v);
		return -EINVAL;
	}
	d = p->recipes ? opendir(p->recipes) : NULL;
	while (d && (de = readdir(d))) {
		if (!template_known(p, de->d_name))
			continue;
		v = realloc(v, (n + 2) * sizeof(char *));
		if (!v)
			die("out of memory");
		v[n++] = xstrdup(de->d_name);
		v[n] = NULL;
	}
	if (d)
		closedir(d);
	qsort(v, n, sizeof(char *), names_cmp);
	*ret = v;
	return 0;
}
