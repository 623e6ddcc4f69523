// SPDX-License-Identifier: MIT
/* template_user.c: templates made by the user: save a sandbox's disk as one, find the sandboxes that use one, remove one. */
#include "template_int.h"

#include "recipe.h"
#include "spec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* The directory part of path, resolved; NULL when it does not resolve. */
static char *dir_resolved(const char *path)
{
	_cleanup_free_ char *d = xstrdup(path);
	char *slash = strrchr(d, '/');

	if (!slash)
		return NULL;
	*slash = 0;
	return realpath(*d ? d : "/", NULL);
}

static bool path_in(const char *b, const char *tdir, const char *rtdir)
{
	_cleanup_free_ char *prefix = xasprintf("%s/", tdir), *rb = dir_resolved(b);

	return !strncmp(b, prefix, strlen(prefix)) || (rb && rtdir && !strcmp(rb, rtdir));
}

/* Does the base image the sandbox's spec.json records lie in tdir? (dfd stays open) */
static bool spec_uses(int dfd, const char *tdir, const char *rtdir)
{
	_cleanup_free_ char *specp = xasprintf("/proc/self/fd/%d/spec.json", dfd);
	struct spec spec = { 0 };
	bool uses;

	if (spec_load(specp, &spec) < 0)
		return false; /* the disk's header decides */
	uses = spec.base && path_in(spec.base, tdir, rtdir);
	spec_free(&spec);
	return uses;
}

/* Does one of dfd's disk*.qcow2 files have its backing file in tdir (resolved: rtdir)? */
static bool disk_uses(int dfd, const char *tdir, const char *rtdir)
{
	DIR *dd = dir_from_fd(dfd);
	struct dirent *de;
	bool uses = false;

	if (!dd)
		return true; /* cannot tell: assume it does */
	while (!uses && (de = readdir(dd))) {
		_cleanup_free_ char *b = NULL;
		if (strncmp(de->d_name, "disk", 4) || !strstr(de->d_name, ".qcow2"))
			continue;
		if (qcow2_backing(dirfd(dd), de->d_name, &b) < 0) {
			uses = true; /* unreadable or being written: might */
			continue;
		}
		if (b)
			uses = path_in(b, tdir, rtdir);
	}
	closedir(dd);
	return uses;
}

int template_users(const struct sbx_paths *p, const char *name, char ***ret)
{
	_cleanup_free_ char *tdir = template_dir(p, name), *rtdir = NULL;
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;
	DIR *sd;
	struct dirent *se;

	if (!tdir) {
		free(v);
		return -EINVAL;
	}
	rtdir = realpath(tdir, NULL);
	sd = p->sandboxes ? opendir(p->sandboxes) : NULL;
	while (sd && (se = readdir(sd))) {
		int dfd;
		if (se->d_name[0] == '.')
			continue;
		dfd = openat(dirfd(sd), se->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			continue;
		bool by_spec = spec_uses(dfd, tdir, rtdir);
		if (disk_uses(dfd, tdir, rtdir) || by_spec) { /* disk_uses closes dfd */
			v = realloc(v, (n + 2) * sizeof(char *));
			if (!v)
				die("out of memory");
			v[n++] = xstrdup(se->d_name);
			v[n] = NULL;
		}
	}
	if (sd)
		closedir(sd);
	*ret = v;
	return 0;
}

static char *names_join(char **v)
{
	char *s = xstrdup("");

	for (char **n = v; *n; n++) {
		char *t = xasprintf("%s%s%s", s, n == v ? "" : ", ", *n);
		free(s);
		s = t;
	}
	return s;
}

int template_lock(const struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *tdir = template_dir(p, name), *lockp = NULL, *parent = NULL;
	int r;

	if (!tdir)
		return -EINVAL;
	parent = xstrdup(tdir);
	*strrchr(parent, '/') = 0;
	r = mkdir_p(parent, 0700);
	if (r < 0)
		return r;
	lockp = xasprintf("%s/.%s.lock", parent, name);
	return image_lock(lockp, true);
}

/* "," doubled: a value in qemu's option syntax. */
static char *opt_escape(const char *s)
{
	char *o = xcalloc(2, strlen(s) + 1), *q = o;

	for (; *s; s++) {
		*q++ = *s;
		if (*s == ',')
			*q++ = ',';
	}
	return o;
}

/* The disk's base image as sbx recorded it (spec.json; the header's for older sandboxes),
 * checked to be an image of the sandbox's template; and the disk's own header must
 * bring nothing else in: no external data file, no encryption. */
static int disk_base(const struct sbx_paths *p, const struct spec *spec, const char *disk, char **ret, char **ret_err)
{
	_cleanup_free_ char *header = NULL;
	_cleanup_close_ int fd = open(disk, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint8_t h[QCOW2_HEADER_MIN];
	struct qcow2_info q;
	ssize_t got = fd >= 0 ? pread(fd, h, sizeof(h), 0) : -1;
	const char *base;

	if (got < 0 || qcow2_header_parse(h, (size_t)got, &q) < 0 || q.crypt_method ||
	    (q.incompatible & ~(uint64_t)0x19)) {
		*ret_err = xasprintf("%s is not a qcow2 disk sbx made (external data file, encryption or a bad header)",
				     disk);
		return -EBADMSG;
	}
	if (!spec->base && disk_backing_name(disk, &header) < 0)
		header = NULL;
	base = spec->base ? spec->base : header;
	if (!spec->template_name || !base || template_base_ok(p, spec->template_name, base) < 0) {
		*ret_err = xasprintf("the backing file of %s (%s) is not an image of its template; not saving it", disk,
				     base ? base : "none");
		return -EPERM;
	}
	*ret = xstrdup(base);
	return 0;
}

int template_save(const struct sbx_paths *p, const char *sandbox, const char *name, bool force, char **ret_err)
{
	_cleanup_free_ char *sdir = NULL, *disk = NULL, *specp = NULL, *tdir = NULL, *root = NULL;
	_cleanup_free_ char *stage = NULL, *img = NULL, *built = NULL, *kernel = NULL, *base_path = NULL;
	_cleanup_close_ int lock = -1;
	struct template_meta base = { 0 }, m = { 0 };
	struct spec spec = { 0 };
	struct stat st;
	bool staged = false;
	int r;

	if (!recipe_name_ok(name)) {
		*ret_err = xasprintf("'%s' is not a template name ([a-z0-9][a-z0-9._-]*, at most 63 bytes)", name);
		return -EINVAL;
	}
	if (template_is_recipe(p, name)) {
		*ret_err = xasprintf("'%s' is the name of a recipe template; choose another name", name);
		return -EEXIST;
	}
	sdir = xasprintf("%s/%s", p->sandboxes, sandbox);
	disk = xasprintf("%s/disk.qcow2", sdir);
	specp = xasprintf("%s/spec.json", sdir);
	if (strchr(sandbox, '/') || sandbox[0] == '.' || lstat(disk, &st) < 0 || !S_ISREG(st.st_mode)) {
		*ret_err = xasprintf("no sandbox '%s' (see: sbx ls)", sandbox);
		return -ENOENT;
	}
	lock = template_lock(p, name);
	if (lock < 0) {
		*ret_err = xasprintf("cannot lock template %s: %s", name, strerror(-lock));
		return lock;
	}
	tdir = template_dir(p, name);
	if (!force && template_known(p, name)) {
		*ret_err = xasprintf("template '%s' exists; -f replaces it (sandboxes made from it keep their image)", name);
		return -EEXIST;
	}
	r = spec_load(specp, &spec);
	if (r < 0) {
		*ret_err = xasprintf("cannot load %s: %s", specp, strerror(-r));
		return r;
	}
	if (spec.template_name && template_meta_get(p, spec.template_name, &base) == 0)
		kernel = xstrdup(base.kernel_release);
	root = template_user_root(p);
	stage = xasprintf("%s/.save-%s.XXXXXX", root, name);
	r = mkdir_p(root, 0700);
	if (r < 0 || !mkdtemp(stage)) {
		r = r < 0 ? r : -errno;
		*ret_err = xasprintf("cannot create a directory in %s: %s", root, strerror(-r));
		goto out;
	}
	staged = true;
	image_signals_catch();
	img = xasprintf("%s/base.raw", stage);
	r = disk_base(p, &spec, disk, &base_path, ret_err);
	if (r < 0)
		goto out;
	{
		/* The backing file by name (sbx's record), never the header's: a broken-out VMM
		 * may have rewritten it to name a host file. qemu-img takes the image's lock: a
		 * VM that still runs the disk makes it fail. */
		_cleanup_free_ char *ed = opt_escape(disk), *eb = opt_escape(base_path);
		_cleanup_free_ char *opts = xasprintf("driver=qcow2,file.driver=file,file.filename=%s,"
						      "backing.driver=raw,backing.file.driver=file,"
						      "backing.file.filename=%s", ed, eb);
		const char *argv[] = { "qemu-img", "convert", "-q", "--image-opts", opts, "-O", "raw", img, NULL };
		r = image_run(argv, NULL, RUN_QUIET);
		if (r != 0) {
			r = r < 0 ? r : -EIO;
			*ret_err = r == -EINTR ? xstrdup("interrupted")
					       : xasprintf("qemu-img convert of %s failed (is the sandbox running? stop it "
							   "first: sbx stop %s)", disk, sandbox);
			goto out;
		}
	}
	built = template_iso_now();
	m = (struct template_meta){ .built = built, .kernel_release = kernel, .source = (char *)"saved",
				    .source_sandbox = (char *)sandbox, .base_template = spec.template_name,
				    .versions = base.versions };
	if (stat(img, &st) == 0)
		m.size = (uint64_t)st.st_size;
	r = template_publish(p, name, tdir, img, &m);
	if (r < 0)
		*ret_err = xasprintf("cannot store the template in %s: %s", tdir, strerror(-r));
out:
	if (staged) {
		rm_rf(stage);
		image_signals_release();
	}
	template_meta_free(&base);
	spec_free(&spec);
	return r;
}

int template_remove(const struct sbx_paths *p, const char *name, char **ret_err)
{
	_cleanup_free_ char *tdir = NULL, *list = NULL, *meta = NULL;
	_cleanup_close_ int lock = -1;
	char **users = NULL;
	int r;

	if (!template_known(p, name)) {
		*ret_err = xasprintf("unknown template '%s' (see: sbx template ls)", name);
		return -ENOENT;
	}
	tdir = template_dir(p, name);
	meta = xasprintf("%s/meta.json", tdir);
	if (access(meta, F_OK) < 0) {
		*ret_err = xasprintf("template '%s' is not built: nothing to remove", name);
		return -ENOENT;
	}
	lock = template_lock(p, name);
	if (lock < 0) {
		*ret_err = xasprintf("cannot lock template %s: %s", name, strerror(-lock));
		return lock;
	}
	r = template_users(p, name, &users);
	if (r < 0) {
		*ret_err = xasprintf("cannot list the sandboxes: %s", strerror(-r));
		return r;
	}
	if (users[0]) {
		list = names_join(users);
		*ret_err = xasprintf("template '%s' is in use: the disk of %s depends on it; remove %s first (sbx rm)", name,
				     list, users[1] ? "them" : "it");
		image_strv_free(users);
		return -EBUSY;
	}
	image_strv_free(users);
	/* meta.json first: a half-removed template reads as not built, never as broken */
	if (unlink(meta) < 0 && errno != ENOENT) {
		r = -errno;
		*ret_err = xasprintf("cannot remove %s: %s", meta, strerror(-r));
		return r;
	}
	r = rm_rf(tdir);
	if (r < 0)
		*ret_err = xasprintf("cannot remove %s: %s", tdir, strerror(-r));
	return r;
}
