// SPDX-License-Identifier: MIT
/* template_meta.c: a template's meta.json (parse, write), where templates live, their names, qcow2 headers. */
#include "template_int.h"

#include "pins.h"
#include "recipe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

bool template_image_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 9 && n < 64 && !strncmp(s, "base-", 5) && !strcmp(s + n - 4, ".raw") &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n;
}

char *template_iso_now(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

char *template_image_name_new(const char *tdir)
{
	char id[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(id, sizeof(id), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0;; i++) {
		char *image = i ? xasprintf("base-%s-%d.raw", id, i) : xasprintf("base-%s.raw", id);
		_cleanup_free_ char *dest = xasprintf("%s/%s", tdir, image);
		if (access(dest, F_OK) < 0 || i >= 1000)
			return image;
		free(image);
	}
}

char *template_user_root(const struct sbx_paths *p)
{
	return p && p->state ? xasprintf("%s/templates", p->state) : NULL;
}

void template_meta_free(struct template_meta *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->built);
	free(m->kernel_release);
	free(m->image);
	free(m->source);
	free(m->source_sandbox);
	free(m->base_template);
	free(m->recipe_sha256);
	image_strv_free(m->versions);
	*m = (struct template_meta){ 0 };
}

static bool field_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > TEMPLATE_FIELD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* o[k]: absent is fine (*ret stays NULL); a string field_ok is copied; else false. */
static bool str_get(struct json_object *o, const char *k, char **ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return true;
	if (!json_object_is_type(v, json_type_string) || !field_ok(json_object_get_string(v)))
		return false;
	*ret = xstrdup(json_object_get_string(v));
	return true;
}

static bool versions_get(struct json_object *o, char ***ret)
{
	struct json_object *a;
	size_t n;
	char **v;

	if (!json_object_object_get_ex(o, "versions", &a))
		return true;
	if (!json_object_is_type(a, json_type_array) || (n = json_object_array_length(a)) > TEMPLATE_VERSIONS_MAX)
		return false;
	v = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		_cleanup_free_ char *name = NULL, *ver = NULL;
		const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
		if (!s || !field_ok(s) || pin_split(s, &name, &ver) < 0 || !ver) {
			image_strv_free(v);
			return false;
		}
		v[i] = xstrdup(s);
	}
	*ret = v;
	return true;
}

int template_meta_parse(const char *text, size_t len, bool need_image, struct template_meta *ret)
{
	struct json_tokener *tok;
	struct json_object *o, *v;
	struct template_meta m = { 0 };
	bool ok;

	if (!text || len == 0 || len > TEMPLATE_META_MAX || memchr(text, 0, len))
		return -EBADMSG;
	tok = json_tokener_new_ex(16);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, text, (int)len);
	/* one JSON value, then only white space */
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  strspn(text + json_tokener_get_parse_end(tok), " \t\r\n") != len - json_tokener_get_parse_end(tok))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	ok = str_get(o, "name", &m.name) && str_get(o, "built", &m.built) && str_get(o, "kernel_release", &m.kernel_release) &&
	     str_get(o, "image", &m.image) && str_get(o, "source", &m.source) &&
	     str_get(o, "source_sandbox", &m.source_sandbox) && str_get(o, "base_template", &m.base_template) &&
	     str_get(o, "recipe_sha256", &m.recipe_sha256) && versions_get(o, &m.versions);
	if (ok && json_object_object_get_ex(o, "size", &v)) {
		int64_t sz = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
		ok = sz >= 0 && (uint64_t)sz <= RECIPE_SIZE_MAX;
		m.size = ok ? (uint64_t)sz : 0;
	}
	json_object_put(o);
	if (ok && m.image && !template_image_name_ok(m.image))
		ok = false;
	if (ok && need_image && !m.image)
		ok = false;
	if (!ok) {
		template_meta_free(&m);
		return -EBADMSG;
	}
	*ret = m;
	return 0;
}

int template_meta_read(const char *tdir, struct template_meta *ret)
{
	_cleanup_free_ char *path = xasprintf("%s/meta.json", tdir);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	r = file_read_all(path, TEMPLATE_META_MAX, &text, &len);
	if (r < 0)
		return r;
	return template_meta_parse(text, len, true, ret);
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

char *template_meta_json(const char *name, const struct template_meta *m)
{
	struct json_object *o = json_object_new_object();
	char *s;

	add_str(o, "name", name);
	add_str(o, "built", m->built);
	add_str(o, "kernel_release", m->kernel_release);
	json_object_object_add(o, "size", json_object_new_int64((int64_t)m->size));
	add_str(o, "image", m->image);
	add_str(o, "recipe_sha256", m->recipe_sha256);
	add_str(o, "source", m->source);
	add_str(o, "source_sandbox", m->source_sandbox);
	add_str(o, "base_template", m->base_template);
	if (m->versions) {
		struct json_object *a = json_object_new_array();
		for (char **v = m->versions; *v; v++)
			json_object_array_add(a, json_object_new_string(*v));
		json_object_object_add(o, "versions", a);
	}
	s = xasprintf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* ---- qcow2 headers ---- */

static uint64_t be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

int qcow2_header_parse(const uint8_t *h, size_t n, struct qcow2_info *ret)
{
	struct qcow2_info q = { 0 };

	if (!h || n < 72 || memcmp(h, "QFI\xfb", 4))
		return -EBADMSG;
	q.version = be32(h + 4);
	if (q.version != 2 && q.version != 3)
		return -EBADMSG;
	if (q.version == 3 && n < QCOW2_HEADER_MIN)
		return -EBADMSG;
	q.backing_offset = be64(h + 8);
	q.backing_len = be32(h + 16);
	q.size = be64(h + 24);
	q.crypt_method = be32(h + 32);
	if (q.version == 3)
		q.incompatible = be64(h + 72);
	*ret = q;
	return 0;
}

bool qcow2_import_ok(const struct qcow2_info *q)
{
	/* bit 0 dirty (refcounts only), 3 compression type, 4 extended L2: harmless;
	 * 1 corrupt, 2 external data file and anything unknown: refused */
	return q->backing_offset == 0 && q->backing_len == 0 && q->crypt_method == 0 &&
	       (q->incompatible & ~(uint64_t)0x19) == 0 && q->size > 0 && q->size <= RECIPE_SIZE_MAX;
}

int qcow2_backing(int dfd, const char *name, char **ret)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint8_t h[QCOW2_HEADER_MIN];
	struct qcow2_info q;
	ssize_t got;
	char *b;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	got = pread(fd, h, sizeof(h), 0);
	if (got < 0 || qcow2_header_parse(h, (size_t)got, &q) < 0)
		return -EBADMSG; /* maybe still being written */
	*ret = NULL;
	if (q.backing_offset == 0 || q.backing_len == 0)
		return 0;
	if (q.backing_len > 1023)
		return -EBADMSG;
	b = xcalloc(1, q.backing_len + 1);
	if (pread(fd, b, q.backing_len, (off_t)q.backing_offset) != (ssize_t)q.backing_len) {
		free(b);
		return -EIO;
	}
	*ret = b;
	return 0;
}
