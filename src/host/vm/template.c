// SPDX-License-Identifier: MIT
/* template.c: root disk templates: build (rootfs.c does the image), publish, meta.json, image lookup, gc. */
#include "image.h"
#include "progress.h"
#include "recipe.h"
#include "rootfs.h"
#include "template_int.h"

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

static bool recipe_exists(const struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *path = recipe_path(p, name);

	return path != NULL;
}

char *template_dir(const struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *user = NULL;

	if (!p || !recipe_name_ok(name))
		return NULL;
	if (recipe_exists(p, name) || !(user = template_user_root(p)))
		return xasprintf("%s/templates/%s", p->cache, name);
	return xasprintf("%s/%s", user, name);
}

bool template_known(const struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *tdir = NULL, *meta = NULL;

	if (!p || !recipe_name_ok(name))
		return false;
	if (recipe_exists(p, name))
		return true;
	tdir = template_dir(p, name);
	meta = xasprintf("%s/meta.json", tdir);
	return access(meta, F_OK) == 0;
}

bool template_is_recipe(const struct sbx_paths *p, const char *name)
{
	return p && recipe_name_ok(name) && recipe_exists(p, name);
}

int template_image(const struct sbx_paths *p, const char *name, char **ret_path)
{
	_cleanup_free_ char *tdir = NULL, *path = NULL;
	struct template_meta m = { 0 };
	int r;

	if (!p || !recipe_name_ok(name) || !ret_path)
		return -EINVAL;
	tdir = template_dir(p, name);
	r = template_meta_read(tdir, &m);
	if (r < 0)
		return r == -EBADMSG ? -ENOENT : r;
	path = xasprintf("%s/%s", tdir, m.image);
	template_meta_free(&m);
	if (access(path, R_OK) < 0)
		return -errno;
	*ret_path = TAKE_PTR(path);
	return 0;
}

bool template_stale(const struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *tdir = NULL;
	struct recipe rc = { 0 };
	struct template_meta m = { 0 };
	bool stale;

	if (!p || !recipe_name_ok(name) || recipe_load(p, name, &rc) < 0)
		return false;
	tdir = template_dir(p, name);
	if (template_meta_read(tdir, &m) < 0) {
		recipe_free(&rc);
		return false;   /* not built: not stale */
	}
	stale = !m.recipe_sha256 || strcmp(m.recipe_sha256, rc.sha256) != 0;
	template_meta_free(&m);
	recipe_free(&rc);
	return stale;
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
	tdir = template_dir(p, name);
	if ((size_t)(slash - path) != strlen(tdir) || strncmp(path, tdir, (size_t)(slash - path)) ||
	    !template_image_name_ok(slash + 1))
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
		if (!template_image_name_ok(de->d_name) || !strcmp(de->d_name, current))
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

int template_publish(const struct sbx_paths *p, const char *name, const char *tdir, const char *img,
		     const struct template_meta *in)
{
	_cleanup_free_ char *image = NULL, *dest = NULL, *link_tmp = NULL, *link = NULL, *metap = NULL, *body = NULL;
	struct template_meta m = *in;
	int r;

	r = mkdir_p(tdir, 0700);
	if (r < 0)
		return r;
	image = template_image_name_new(tdir);
	dest = xasprintf("%s/%s", tdir, image);
	if (chmod(img, 0444) < 0 || rename(img, dest) < 0)
		return -errno;
	m.image = image;
	body = template_meta_json(name, &m);
	metap = xasprintf("%s/meta.json", tdir);
	r = file_write_atomic(metap, body, strlen(body), 0644);
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
	char **versions = NULL;
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

	r = rootfs_build(&rc, &k, build, img, level, 2, &versions);
	if (r < 0)
		goto out_clean;
	if (image_interrupted()) {
		r = -EINTR;
		goto out_clean;
	}
	{
		_cleanup_free_ char *built = template_iso_now();
		const struct template_meta m = { .built = built, .kernel_release = k.release, .size = rc.size,
						 .source = (char *)"recipe", .recipe_sha256 = rc.sha256, .versions = versions };
		r = template_publish(p, name, tdir, img, &m);
	}
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
	image_strv_free(versions);
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

int template_meta_get(const struct sbx_paths *p, const char *name, struct template_meta *ret)
{
	_cleanup_free_ char *tdir = NULL, *path = NULL;
	struct template_meta m = { 0 };
	struct stat st;
	int r;

	if (!p || !recipe_name_ok(name) || !ret)
		return -EINVAL;
	tdir = template_dir(p, name);
	r = template_image(p, name, &path);
	if (r < 0)
		return r;
	r = template_meta_read(tdir, &m);
	if (r < 0)
		return r == -EBADMSG ? -ENOENT : r;
	if (stat(path, &st) < 0) {
		template_meta_free(&m);
		return -errno;
	}
	free(m.image);
	m.image = TAKE_PTR(path);
	if (!m.built)
		m.built = xstrdup("");
	if (!m.kernel_release)
		m.kernel_release = xstrdup("");
	if (!m.source)
		m.source = xstrdup("recipe");
	m.size = (uint64_t)st.st_size;
	m.disk_usage = (uint64_t)st.st_blocks * 512u;
	*ret = m;
	return 0;
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_add(char ***v, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], name))
			return;
	*v = realloc(*v, (*n + 2) * sizeof(char *));
	if (!*v)
		die("out of memory");
	(*v)[(*n)++] = xstrdup(name);
	(*v)[*n] = NULL;
}

int template_names(const struct sbx_paths *p, char ***ret)
{
	_cleanup_free_ char *user_recipes = NULL, *user = NULL;
	const char *dirs[3];
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;

	if (!p || !ret) {
		free(v);
		return -EINVAL;
	}
	user_recipes = p->config ? xasprintf("%s/recipes", p->config) : NULL;
	user = template_user_root(p);
	dirs[0] = p->recipes;
	dirs[1] = user_recipes;
	dirs[2] = user;
	for (size_t i = 0; i < 3; i++) {
		DIR *d = dirs[i] ? opendir(dirs[i]) : NULL;
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (template_known(p, de->d_name))
				names_add(&v, &n, de->d_name);
		if (d)
			closedir(d);
	}
	qsort(v, n, sizeof(char *), names_cmp);
	*ret = v;
	return 0;
}
