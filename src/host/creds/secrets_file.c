// SPDX-License-Identifier: MIT
/* secrets_file.c: the secret store's file backend: config/secrets.json read by a strict
 * JSON subset parser of its own (so every copy of a value is zeroed: json-c frees
 * without zeroing) and written in two passes into an exact buffer. */
#include "secrets_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "names.h"
#include "secrets.h"
#include "util.h"

/* ---- in-memory store ---- */

void secret_db_free(struct secret_db *db)
{
	for (size_t i = 0; i < db->n; i++) {
		free(db->v[i].sandbox);
		free(db->v[i].service);
		secret_free(db->v[i].value);
	}
	free(db->v);
	memset(db, 0, sizeof(*db));
}

ssize_t secret_db_find(const struct secret_db *db, const char *sandbox, const char *service)
{
	for (size_t i = 0; i < db->n; i++)
		if (streq_null(db->v[i].sandbox, sandbox) && !strcmp(db->v[i].service, service))
			return (ssize_t)i;
	return -1;
}

/* Takes ownership of value. */
void secret_db_put(struct secret_db *db, const char *sandbox, const char *service, char *value)
{
	ssize_t i = secret_db_find(db, sandbox, service);

	if (i >= 0) {
		secret_free(db->v[i].value);
		db->v[i].value = value;
		return;
	}
	if (db->n == db->cap) {
		db->cap = db->cap ? db->cap * 2 : 8;
		db->v = realloc(db->v, db->cap * sizeof(*db->v));
		if (!db->v)
			die("out of memory");
	}
	db->v[db->n++] = (struct secret_rec){ .sandbox = sandbox ? xstrdup(sandbox) : NULL, .service = xstrdup(service),
				       .value = value };
}

void secret_db_remove(struct secret_db *db, size_t i)
{
	free(db->v[i].sandbox);
	free(db->v[i].service);
	secret_free(db->v[i].value);
	memmove(&db->v[i], &db->v[i + 1], (db->n - i - 1) * sizeof(*db->v));
	db->n--;
}

/* Global first, then by sandbox, then by service. */
int secret_scope_cmp(const char *sandbox_a, const char *service_a, const char *sandbox_b, const char *service_b)
{
	if (!sandbox_a != !sandbox_b)
		return sandbox_a ? 1 : -1;
	if (sandbox_a) {
		int c = strcmp(sandbox_a, sandbox_b);
		if (c)
			return c;
	}
	return strcmp(service_a, service_b);
}

int secret_rec_cmp(const void *a, const void *b)
{
	const struct secret_rec *x = a, *y = b;
	return secret_scope_cmp(x->sandbox, x->service, y->sandbox, y->service);
}

static bool service_name_syntax_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= SERVICE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

/* ---- strict JSON subset: objects, ASCII strings, one unsigned integer ---- */

struct jp {
	const char *s;
	size_t len, pos;
	const char *err;
};

static void jp_ws(struct jp *j)
{
	while (j->pos < j->len && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' || j->s[j->pos] == '\n' ||
				   j->s[j->pos] == '\r'))
		j->pos++;
}

static bool jp_peek(struct jp *j, char c)
{
	jp_ws(j);
	return j->pos < j->len && j->s[j->pos] == c;
}

static bool jp_expect(struct jp *j, char c)
{
	if (jp_peek(j, c)) {
		j->pos++;
		return true;
	}
	j->err = c == '{' ? "expected '{'" : c == '}' ? "expected '}' or ','" : c == ':' ? "expected ':'" :
		 c == '"' ? "expected a string" : "unexpected character";
	return false;
}

/* Decode a string into a buffer of exactly the raw length (never grown, so values
 * leave no copies behind). \u escapes are limited to ASCII: every string in this
 * file (names, services, values) must be ASCII anyway. */
static bool jp_string(struct jp *j, char **ret, size_t *ret_len)
{
	size_t start, end, o = 0;
	char *out;

	if (!jp_expect(j, '"'))
		return false;
	start = j->pos;
	for (end = start; end < j->len && j->s[end] != '"'; end++) {
		if ((unsigned char)j->s[end] < 0x20) {
			j->err = "control character in a string";
			return false;
		}
		if (j->s[end] == '\\')
			end++;
	}
	if (end >= j->len) {
		j->err = "unterminated string";
		return false;
	}
	out = xmalloc(end - start + 1);
	for (size_t i = start; i < end; i++) {
		char c = j->s[i];
		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		c = j->s[++i];
		switch (c) {
		case '"': case '\\': case '/':
			out[o++] = c;
			break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			int cp = 0;
			for (int k = 1; k <= 4; k++) {
				int h = i + k < end ? hex_digit_value(j->s[i + k]) : -1;
				if (h < 0) {
					j->err = "bad \\u escape";
					goto fail;
				}
				cp = cp << 4 | h;
			}
			if (cp == 0 || cp >= 0x80) {
				j->err = "\\u escape outside ASCII";
				goto fail;
			}
			out[o++] = (char)cp;
			i += 4;
			break;
		}
		default:
			j->err = "bad escape";
			goto fail;
		}
	}
	out[o] = 0;
	j->pos = end + 1;
	*ret = out;
	*ret_len = o;
	return true;
fail:
	explicit_bzero(out, end - start + 1);
	free(out);
	return false;
}

/* After '{': an empty object's '}' (consumed). */
static bool jp_obj_end(struct jp *j)
{
	if (!jp_peek(j, '}'))
		return false;
	j->pos++;
	return true;
}

/* After a member: a ',' (consumed) announces another. */
static bool jp_obj_more(struct jp *j)
{
	if (!jp_peek(j, ','))
		return false;
	j->pos++;
	return true;
}

/* {"SERVICE": "VALUE", ...} for one scope. */
static bool jp_scope(struct jp *j, struct secret_db *db, const char *sandbox)
{
	if (!jp_expect(j, '{'))
		return false;
	if (jp_obj_end(j))
		return true;
	for (;;) {
		_cleanup_free_ char *svc = NULL;
		char *val = NULL;
		size_t n;

		if (!jp_string(j, &svc, &n))
			return false;
		if (!service_name_syntax_ok(svc)) {
			j->err = "invalid service name";
			return false;
		}
		if (secret_db_find(db, sandbox, svc) >= 0) {
			j->err = "duplicate service";
			return false;
		}
		if (!jp_expect(j, ':') || !jp_string(j, &val, &n))
			return false;
		if (secret_value_check(val, n)) {
			/* the reason, never the value */
			j->err = secret_value_check(val, n);
			secret_free(val);
			return false;
		}
		secret_db_put(db, sandbox, svc, val);
		if (!jp_obj_more(j))
			return jp_expect(j, '}');
	}
}

static bool jp_sandboxes(struct jp *j, struct secret_db *db)
{
	if (!jp_expect(j, '{'))
		return false;
	if (jp_obj_end(j))
		return true;
	for (;;) {
		_cleanup_free_ char *name = NULL;
		size_t n;

		if (!jp_string(j, &name, &n))
			return false;
		if (!name_valid(name)) {
			j->err = "invalid sandbox name";
			return false;
		}
		for (size_t i = 0; i < db->n; i++)
			if (db->v[i].sandbox && !strcmp(db->v[i].sandbox, name)) {
				j->err = "duplicate sandbox";
				return false;
			}
		if (!jp_expect(j, ':') || !jp_scope(j, db, name))
			return false;
		if (!jp_obj_more(j))
			return jp_expect(j, '}');
	}
}

static bool jp_top(struct jp *j, struct secret_db *db)
{
	bool seen_version = false, seen_global = false, seen_sandboxes = false;

	if (!jp_expect(j, '{'))
		return false;
	while (!jp_peek(j, '}')) {
		_cleanup_free_ char *key = NULL;
		size_t n;

		if (!jp_string(j, &key, &n) || !jp_expect(j, ':'))
			return false;
		if (!strcmp(key, "version") && !seen_version) {
			unsigned v = 0, digits = 0;
			jp_ws(j);
			while (j->pos < j->len && j->s[j->pos] >= '0' && j->s[j->pos] <= '9' && digits < 9) {
				v = v * 10 + (j->s[j->pos++] - '0');
				digits++;
			}
			if (digits == 0 || v != 1) {
				j->err = "unsupported version (expected 1)";
				return false;
			}
			seen_version = true;
		} else if (!strcmp(key, "global") && !seen_global) {
			if (!jp_scope(j, db, NULL))
				return false;
			seen_global = true;
		} else if (!strcmp(key, "sandboxes") && !seen_sandboxes) {
			if (!jp_sandboxes(j, db))
				return false;
			seen_sandboxes = true;
		} else {
			j->err = "unknown or duplicate key";
			return false;
		}
		if (!jp_peek(j, ','))
			break;
		j->pos++;
	}
	if (!jp_expect(j, '}'))
		return false;
	jp_ws(j);
	if (j->pos != j->len) {
		j->err = "trailing data";
		return false;
	}
	if (!seen_version) {
		j->err = "no \"version\"";
		return false;
	}
	return true;
}

/* ---- writer: two passes (count, then fill an exact buffer) ---- */

struct emit {
	char *buf;   /* NULL: count only */
	size_t len;
};

static void emit_raw(struct emit *e, const char *s)
{
	size_t n = strlen(s);
	if (e->buf)
		memcpy(e->buf + e->len, s, n);
	e->len += n;
}

static void emit_str(struct emit *e, const char *s)
{
	emit_raw(e, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			if (e->buf)
				e->buf[e->len] = '\\';
			e->len++;
		}
		if (e->buf)
			e->buf[e->len] = *s;
		e->len++;
	}
	emit_raw(e, "\"");
}

/* db must be sorted (global first, then by sandbox). */
static void emit_db(struct emit *e, const struct secret_db *db)
{
	size_t i = 0;
	const char *cur = NULL;

	emit_raw(e, "{\n  \"version\": 1,\n  \"global\": {");
	for (bool first = true; i < db->n && !db->v[i].sandbox; i++, first = false) {
		emit_raw(e, first ? "\n    " : ",\n    ");
		emit_str(e, db->v[i].service);
		emit_raw(e, ": ");
		emit_str(e, db->v[i].value);
	}
	emit_raw(e, i ? "\n  },\n  \"sandboxes\": {" : "},\n  \"sandboxes\": {");
	for (bool first = true; i < db->n; i++) {
		bool new_sb = !cur || strcmp(cur, db->v[i].sandbox);
		if (new_sb) {
			emit_raw(e, cur ? "\n    },\n    " : "\n    ");
			emit_str(e, db->v[i].sandbox);
			emit_raw(e, ": {");
			cur = db->v[i].sandbox;
			first = true;
		}
		emit_raw(e, first ? "\n      " : ",\n      ");
		emit_str(e, db->v[i].service);
		emit_raw(e, ": ");
		emit_str(e, db->v[i].value);
		first = false;
	}
	emit_raw(e, cur ? "\n    }\n  }\n}\n" : "}\n}\n");
}

/* ---- the file backend ---- */

char *secrets_file_path(const struct sbx_paths *p)
{
	return xasprintf("%s/secrets.json", p->config);
}

static int dir_check(const struct sbx_paths *p, char **ret_err)
{
	struct stat st;

	if (stat(p->config, &st) < 0)
		return secrets_fail(ret_err, -errno, "cannot use the secret store in %s: %s", p->config, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return secrets_fail(ret_err, -ENOTDIR, "cannot use the secret store: %s is not a directory", p->config);
	if (st.st_uid != geteuid())
		return secrets_fail(ret_err, -EPERM,
				    "refusing to use the secret store: %s belongs to uid %u, not to you (uid %u)", p->config,
				    (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 022)
		return secrets_fail(ret_err, -EPERM,
				    "refusing to use the secret store: %s is writable by group or others (mode %04o); "
				    "fix with: chmod 700 %s",
				    p->config, (unsigned)(st.st_mode & 07777), p->config);
	return 0;
}

/* Missing directory or file: an empty store. */
int secrets_file_load(const struct sbx_paths *p, struct secret_db *db, char **ret_err)
{
	_cleanup_free_ char *path = secrets_file_path(p);
	_cleanup_close_ int fd = -1;
	struct stat st;
	struct jp j;
	char *buf;
	ssize_t n;
	int r;

	memset(db, 0, sizeof(*db));
	r = dir_check(p, ret_err);
	if (r == -ENOENT) {
		if (ret_err) {
			free(*ret_err);
			*ret_err = NULL;
		}
		return 0;
	}
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 && errno == ELOOP)
		return secrets_fail(ret_err, -EPERM, "refusing to use the secret store: %s is a symbolic link", path);
	if (fd < 0)
		return secrets_fail(ret_err, -errno, "cannot read the secret store %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return secrets_fail(ret_err, -errno, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return secrets_fail(ret_err, -EPERM, "refusing to use the secret store: %s is not a regular file", path);
	if (st.st_uid != geteuid())
		return secrets_fail(ret_err, -EPERM, "refusing to use the secret store: %s belongs to uid %u, not to you (uid %u)",
				    path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return secrets_fail(ret_err, -EPERM,
				    "refusing to use the secret store: %s has mode %04o, readable or writable by others; "
				    "its values may have leaked: rotate them, then fix with: chmod 600 %s",
				    path, (unsigned)(st.st_mode & 07777), path);
	if (st.st_size > SECRETS_FILE_MAX)
		return secrets_fail(ret_err, -EFBIG, "refusing to use the secret store: %s is larger than %d bytes", path,
				    SECRETS_FILE_MAX);
	buf = xmalloc((size_t)st.st_size + 1);
	n = read_full(fd, buf, (size_t)st.st_size + 1);
	if (n < 0) {
		r = secrets_fail(ret_err, (int)n, "cannot read %s: %s", path, strerror((int)-n));
		goto out;
	}
	if (n > st.st_size) {
		r = secrets_fail(ret_err, -EBADMSG, "the secret store %s changed while being read; try again", path);
		goto out;
	}
	j = (struct jp){ .s = buf, .len = (size_t)n };
	if (!jp_top(&j, db)) {
		secret_db_free(db);
		r = secrets_fail(ret_err, -EBADMSG,
				 "refusing to use the secret store: %s is corrupt (byte %zu: %s); fix it by hand, or move it "
				 "away and set the secrets again",
				 path, j.pos, j.err ? j.err : "parse error");
		goto out;
	}
	r = 0;
out:
	explicit_bzero(buf, (size_t)st.st_size + 1);
	free(buf);
	return r;
}

int secrets_file_save(const struct sbx_paths *p, struct secret_db *db, char **ret_err)
{
	_cleanup_free_ char *path = secrets_file_path(p);
	struct emit e = { 0 };
	int r;

	if (db->n > 1)
		qsort(db->v, db->n, sizeof(*db->v), secret_rec_cmp);
	emit_db(&e, db);
	e.buf = xmalloc(e.len + 1);
	e.len = 0;
	emit_db(&e, db);
	r = file_write_atomic(path, e.buf, e.len, 0600);
	explicit_bzero(e.buf, e.len);
	free(e.buf);
	if (r < 0)
		return secrets_fail(ret_err, r, "cannot write the secret store %s: %s", path, strerror(-r));
	return 0;
}

/* Serialises read-modify-write cycles of concurrent sbx commands. */
int secrets_file_lock(const struct sbx_paths *p, char **ret_err)
{
	_cleanup_free_ char *path = xasprintf("%s/secrets.lock", p->config);
	int fd, r;

	r = mkdir_p(p->config, 0700);
	if (r < 0)
		return secrets_fail(ret_err, r, "cannot create %s: %s", p->config, strerror(-r));
	fd = file_lock(path, LOCK_EX);
	if (fd < 0)
		return secrets_fail(ret_err, fd, "cannot open or lock %s: %s", path, strerror(-fd));
	return fd;
}

int secrets_file_begin(const struct sbx_paths *p, int *ret_lock, struct secret_db *db, char **ret_err)
{
	int lock = secrets_file_lock(p, ret_err);
	int r;

	if (lock < 0)
		return lock;
	r = secrets_file_load(p, db, ret_err);
	if (r < 0) {
		close(lock);
		return r;
	}
	*ret_lock = lock;
	return 0;
}
