// SPDX-License-Identifier: MIT
/* review_store.c: a sandbox's review baseline on disk (state/sandboxes/NAME/baseline/). */
#include "review.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "json_get.h"
#include "util.h"

#define MANIFEST_MAX (16u << 20)
#define MANIFEST_VERSION 1

static const struct {
	unsigned bit;
	const char *name;
} hit_names[] = {
	{ REVIEW_HIT_VISITS, "entries" }, { REVIEW_HIT_DEPTH, "depth" }, { REVIEW_HIT_FILES, "files" },
	{ REVIEW_HIT_UNREAD, "unreadable" }, { REVIEW_HIT_HASH, "hash" }, { REVIEW_HIT_REPOS, "repositories" },
};

const char *review_hit_name(unsigned bit)
{
	for (size_t i = 0; i < ARRAY_SIZE(hit_names); i++)
		if (hit_names[i].bit == bit)
			return hit_names[i].name;
	return "unknown";
}

/* Lock file in the baseline directory; created when missing. */
static int lock_baseline(const char *bdir, int how)
{
	_cleanup_free_ char *path = xasprintf("%s/lock", bdir);

	return file_lock(path, how);
}

static bool sha_valid(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int write_blob(int bfd, const struct review_entry *e)
{
	_cleanup_free_ char *tmp = xasprintf(".tmp.%s.%d", e->sha256, (int)getpid());
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (fstatat(bfd, e->sha256, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size == e->data_len)
		return 0;   /* content-addressed: already there */
	(void)unlinkat(bfd, tmp, 0);
	fd = openat(bfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, e->data, e->data_len);
	if (r == 0 && renameat(bfd, tmp, bfd, e->sha256) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(bfd, tmp, 0);
	return r;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Remove blobs (and stale temp files) the manifest no longer names. */
static void gc_blobs(int bfd, const struct review_snap *s)
{
	_cleanup_free_ const char **keep = xcalloc(s->n + 1, sizeof(*keep));
	size_t nkeep = 0;
	DIR *dir = dir_from_fd(dup(bfd));
	struct dirent *de;

	if (!dir)
		return;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].type == RT_FILE && s->v[i].data)
			keep[nkeep++] = s->v[i].sha256;
	qsort(keep, nkeep, sizeof(*keep), str_cmp);
	while ((de = readdir(dir))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (!bsearch(&name, keep, nkeep, sizeof(*keep), str_cmp))
			(void)unlinkat(bfd, name, 0);
	}
	closedir(dir);
}

static struct json_object *manifest_json(const struct review_snap *s)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array(), *hits = json_object_new_array();

	json_object_object_add(o, "version", json_object_new_int(MANIFEST_VERSION));
	json_object_object_add(o, "taken", json_object_new_int64(s->taken));
	for (size_t i = 0; i < ARRAY_SIZE(hit_names); i++)
		if (s->hits & hit_names[i].bit)
			json_object_array_add(hits, json_object_new_string(hit_names[i].name));
	json_object_object_add(o, "incomplete", hits);
	for (size_t i = 0; i < s->n; i++) {
		const struct review_entry *e = &s->v[i];
		struct json_object *j = json_object_new_object();
		_cleanup_free_ char *path = review_pct_encode(e->path, strlen(e->path));

		json_object_object_add(j, "path", json_object_new_string(path));
		json_object_object_add(j, "kind", json_object_new_string(e->rule ? e->rule->kind : ""));
		json_object_object_add(j, "type", json_object_new_string(review_type_name(e->type)));
		json_object_object_add(j, "mode", json_object_new_int((int)e->mode));
		json_object_object_add(j, "size", json_object_new_int64((int64_t)e->size));
		json_object_object_add(j, "sha256", json_object_new_string(e->sha256));
		json_object_object_add(j, "copied", json_object_new_boolean(e->type == RT_FILE && e->data));
		if (e->type == RT_SYMLINK && e->data) {
			_cleanup_free_ char *t = review_pct_encode(e->data, e->data_len);
			json_object_object_add(j, "target", json_object_new_string(t));
		}
		if (e->error)
			json_object_object_add(j, "error", json_object_new_string(e->error));
		json_object_array_add(arr, j);
	}
	json_object_object_add(o, "files", arr);
	return o;
}

int review_baseline_save(const char *sbdir, const struct review_snap *s)
{
	_cleanup_free_ char *bdir = xasprintf("%s/baseline", sbdir);
	_cleanup_free_ char *blobs = xasprintf("%s/blobs", bdir);
	_cleanup_free_ char *manifest = xasprintf("%s/manifest.json", bdir);
	_cleanup_close_ int lock = -1;
	_cleanup_close_ int bfd = -1;
	struct json_object *o;
	const char *txt;
	int r;

	if ((r = mkdir_p(blobs, 0700)) < 0)
		return r;
	lock = lock_baseline(bdir, LOCK_EX);
	if (lock < 0)
		return lock;
	bfd = open(blobs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (bfd < 0)
		return -errno;
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].type != RT_FILE || !s->v[i].data)
			continue;
		if ((r = write_blob(bfd, &s->v[i])) < 0)
			return r;
	}
	/* one sync for all blobs, before the manifest that names them */
	if (syncfs(bfd) < 0)
		return -errno;
	o = manifest_json(s);
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	r = file_write_atomic(manifest, txt, strlen(txt), 0600);
	json_object_put(o);
	if (r < 0)
		return r;
	gc_blobs(bfd, s);
	return 0;
}

int review_baseline_take(const char *sbdir, const char *workspace, const char *git_dir,
			 struct review_snap *ret_opt)
{
	struct review_snap s;
	int r = review_scan_sandbox(workspace, git_dir, &s);

	if (r < 0)
		return r;
	r = review_baseline_save(sbdir, &s);
	if (r >= 0 && ret_opt)
		*ret_opt = s;
	else
		review_snap_free(&s);
	return r;
}

/* A path without empty, "." or ".." components: relative (the workspace's), or
 * absolute (a --branch sandbox's shared git directory). Only ever a label. */
static bool relpath_valid(const char *p, size_t len)
{
	if (len && p[0] == '/') {
		p++;
		len--;
	}
	if (len == 0 || strlen(p) != len || p[0] == '/')
		return false;
	for (const char *c = p; c;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c = e ? e + 1 : NULL;
	}
	return true;
}

static int64_t jint(struct json_object *o, const char *key, int64_t dflt)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return dflt;
	return json_object_get_int64(v);
}

static int entry_from_json(struct json_object *j, int bfd, struct review_snap *s, uint64_t *copied)
{
	const char *path = json_get_str(j, "path"), *type = json_get_str(j, "type"), *sha = json_get_str(j, "sha256");
	const char *target = json_get_str(j, "target"), *err = json_get_str(j, "error");
	int64_t mode = jint(j, "mode", -1), size = jint(j, "size", -1);
	struct json_object *cp;
	bool copied_flag = json_object_object_get_ex(j, "copied", &cp) && json_object_get_boolean(cp);
	_cleanup_free_ char *raw = NULL;
	struct review_entry *e;
	size_t rlen;
	int t;

	if (!path || !type || !sha || mode < 0 || mode > 07777 || size < 0)
		return -EBADMSG;
	if (review_pct_decode(path, &raw, &rlen) < 0 || !relpath_valid(raw, rlen))
		return -EBADMSG;
	for (t = RT_FILE; t <= RT_OTHER; t++)
		if (!strcmp(type, review_type_name((enum review_type)t)))
			break;
	if (t > RT_OTHER || (sha[0] && !sha_valid(sha)))
		return -EBADMSG;
	if (!review_rule_match(raw))
		return 0;   /* a file this sbx no longer reviews */
	e = review_snap_add(s, raw);
	e->rule = review_rule_match(raw);
	e->type = (enum review_type)t;
	e->mode = (uint32_t)mode;
	e->size = (uint64_t)size;
	memcpy(e->sha256, sha, strlen(sha) + 1);
	if (err)
		e->error = xstrdup(err);
	if (e->type == RT_SYMLINK && target) {
		size_t tlen;
		char h[65];
		if (review_pct_decode(target, &e->data, &tlen) < 0)
			return -EBADMSG;
		e->data_len = tlen;
		review_sha256_hex(e->data, tlen, h);
		if (strcmp(h, e->sha256))
			return -EBADMSG;
	} else if (e->type == RT_FILE && copied_flag && sha[0]) {
		_cleanup_close_ int fd = openat(bfd, sha, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		_cleanup_free_ char *blob = NULL;
		struct stat st;
		char h[65];
		ssize_t n;

		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size ||
		    e->size > REVIEW_COPY_MAX || *copied + e->size > REVIEW_COPY_TOTAL_MAX)
			return -EBADMSG;
		blob = xmalloc(e->size + 1);
		n = read_full(fd, blob, e->size);
		if (n < 0 || (uint64_t)n != e->size)
			return -EBADMSG;
		blob[n] = 0;
		review_sha256_hex(blob, (size_t)n, h);
		if (strcmp(h, sha))
			return -EBADMSG;
		e->data = TAKE_PTR(blob);
		e->data_len = (size_t)n;
		*copied += e->size;
	}
	return 0;
}

int review_baseline_load(const char *sbdir, struct review_snap *ret)
{
	_cleanup_free_ char *bdir = xasprintf("%s/baseline", sbdir);
	_cleanup_free_ char *manifest = xasprintf("%s/manifest.json", bdir);
	_cleanup_free_ char *blobs = xasprintf("%s/blobs", bdir);
	_cleanup_free_ char *txt = NULL;
	_cleanup_close_ int lock = -1;
	_cleanup_close_ int bfd = -1;
	struct review_snap s = { 0 };
	struct json_object *o, *files, *inc;
	size_t len;
	int r;

	if (access(manifest, F_OK) < 0)
		return -errno;
	lock = lock_baseline(bdir, LOCK_SH);
	if (lock < 0)
		return lock;
	r = file_read_all(manifest, MANIFEST_MAX, &txt, &len);
	if (r < 0)
		return r;
	bfd = open(blobs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	o = json_tokener_parse(txt);
	if (!o || jint(o, "version", 0) != MANIFEST_VERSION || !json_object_object_get_ex(o, "files", &files) ||
	    !json_object_is_type(files, json_type_array) || json_object_array_length(files) > REVIEW_FILES_MAX) {
		json_object_put(o);
		return -EBADMSG;
	}
	s.taken = jint(o, "taken", 0);
	if (json_object_object_get_ex(o, "incomplete", &inc) && json_object_is_type(inc, json_type_array))
		for (size_t i = 0; i < json_object_array_length(inc); i++) {
			struct json_object *h = json_object_array_get_idx(inc, i);

			/* null has no string (NULL): a corrupt manifest, not a crash */
			if (!json_object_is_type(h, json_type_string)) {
				json_object_put(o);
				return -EBADMSG;
			}
			for (size_t k = 0; k < ARRAY_SIZE(hit_names); k++)
				if (!strcmp(json_object_get_string(h), hit_names[k].name))
					s.hits |= hit_names[k].bit;
		}
	for (size_t i = 0; i < json_object_array_length(files); i++) {
		r = entry_from_json(json_object_array_get_idx(files, i), bfd, &s, &s.copied);
		if (r < 0) {
			json_object_put(o);
			review_snap_free(&s);
			return r;
		}
	}
	json_object_put(o);
	review_snap_sort(&s);
	for (size_t i = 1; i < s.n; i++)
		if (!strcmp(s.v[i - 1].path, s.v[i].path)) {
			review_snap_free(&s);
			return -EBADMSG;
		}
	*ret = s;
	return 0;
}
