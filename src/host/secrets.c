// SPDX-License-Identifier: MIT
/* secrets.c: the secret store: value checks, masking, the backend choice and the 0600 JSON file backend. */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "names.h"
#include "secrets_keyring.h"
#include "settings.h"

void secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static char *secret_dup(const char *s, size_t len)
{
	char *d = xmalloc(len + 1);
	memcpy(d, s, len);
	d[len] = 0;
	return d;
}

const char *secret_value_check(const char *value, size_t len)
{
	if (!value || len == 0)
		return "the value is empty";
	if (len > SECRET_VALUE_MAX)
		return "the value is longer than 4096 bytes";
	if (memchr(value, '\n', len) || memchr(value, '\r', len))
		return "the value spans several lines";
	if (memchr(value, 0, len))
		return "the value contains a NUL byte";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = value[i];
		if (c < 0x20 || c == 0x7f)
			return "the value contains control characters";
		if (c >= 0x80)
			return "the value contains non-ASCII bytes";
	}
	if (value[0] == ' ' || value[len - 1] == ' ')
		return "the value starts or ends with a space";
	if (len == strlen(SERVICE_SENTINEL) && !memcmp(value, SERVICE_SENTINEL, len))
		return "the value is the in-sandbox placeholder '" SERVICE_SENTINEL "', not a credential";
	return NULL;
}

void secret_preview(const char *value, char out[SECRET_PREVIEW_MAX])
{
	size_t len = value ? strlen(value) : 0;

	if (len < 16) {
		snprintf(out, SECRET_PREVIEW_MAX, "****");
		return;
	}
	/* 4 + 3 (U+2026) + 2 + 1 bytes */
	memcpy(out, value, 4);
	memcpy(out + 4, "\xe2\x80\xa6", 3);
	memcpy(out + 7, value + len - 2, 2);
	out[9] = 0;
}

/* ---- in-memory store ---- */

struct rec {
	char *sandbox;   /* NULL: global */
	char *service;
	char *value;
};

struct db {
	struct rec *v;
	size_t n, cap;
};

static void db_free(struct db *db)
{
	for (size_t i = 0; i < db->n; i++) {
		free(db->v[i].sandbox);
		free(db->v[i].service);
		secret_free(db->v[i].value);
	}
	free(db->v);
	memset(db, 0, sizeof(*db));
}

static bool same_scope(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static ssize_t db_find(const struct db *db, const char *sandbox, const char *service)
{
	for (size_t i = 0; i < db->n; i++)
		if (same_scope(db->v[i].sandbox, sandbox) && !strcmp(db->v[i].service, service))
			return (ssize_t)i;
	return -1;
}

/* Takes ownership of value. */
static void db_put(struct db *db, const char *sandbox, const char *service, char *value)
{
	ssize_t i = db_find(db, sandbox, service);

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
	db->v[db->n++] = (struct rec){ .sandbox = sandbox ? xstrdup(sandbox) : NULL, .service = xstrdup(service),
				       .value = value };
}

static void db_remove(struct db *db, size_t i)
{
	free(db->v[i].sandbox);
	free(db->v[i].service);
	secret_free(db->v[i].value);
	memmove(&db->v[i], &db->v[i + 1], (db->n - i - 1) * sizeof(*db->v));
	db->n--;
}

/* Global first, then by sandbox, then by service. */
static int scope_cmp(const char *sandbox_a, const char *service_a, const char *sandbox_b, const char *service_b)
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

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	return scope_cmp(x->sandbox, x->service, y->sandbox, y->service);
}

static int info_cmp(const void *a, const void *b)
{
	const struct secret_info *x = a, *y = b;
	return scope_cmp(x->sandbox, x->service, y->sandbox, y->service);
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

/* {"SERVICE": "VALUE", ...} for one scope. */
static bool jp_scope(struct jp *j, struct db *db, const char *sandbox)
{
	if (!jp_expect(j, '{'))
		return false;
	if (jp_peek(j, '}')) {
		j->pos++;
		return true;
	}
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
		if (db_find(db, sandbox, svc) >= 0) {
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
		db_put(db, sandbox, svc, val);
		if (jp_peek(j, ',')) {
			j->pos++;
			continue;
		}
		return jp_expect(j, '}');
	}
}

static bool jp_sandboxes(struct jp *j, struct db *db)
{
	if (!jp_expect(j, '{'))
		return false;
	if (jp_peek(j, '}')) {
		j->pos++;
		return true;
	}
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
		if (jp_peek(j, ',')) {
			j->pos++;
			continue;
		}
		return jp_expect(j, '}');
	}
}

static bool jp_top(struct jp *j, struct db *db)
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
static void emit_db(struct emit *e, const struct db *db)
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

static char *store_path(const struct sbx_paths *p)
{
	return xasprintf("%s/secrets.json", p->config);
}

int secrets_fail(char **ret_err, int r, const char *fmt, ...)
{
	va_list ap;

	if (ret_err) {
		va_start(ap, fmt);
		if (vasprintf(ret_err, fmt, ap) < 0)
			*ret_err = NULL;
		va_end(ap);
	}
	return r;
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
static int store_load(const struct sbx_paths *p, struct db *db, char **ret_err)
{
	_cleanup_free_ char *path = store_path(p);
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
		db_free(db);
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

static int store_save(const struct sbx_paths *p, struct db *db, char **ret_err)
{
	_cleanup_free_ char *path = store_path(p);
	struct emit e = { 0 };
	int r;

	if (db->n > 1)
		qsort(db->v, db->n, sizeof(*db->v), rec_cmp);
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
static int store_lock(const struct sbx_paths *p, char **ret_err)
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

/* ---- backend choice ---- */

enum secrets_backend secrets_backend_pick(const char *setting, bool file_exists, bool for_write, bool service_answers)
{
	if (setting && !strcmp(setting, "file"))
		return SECRETS_BACKEND_FILE;
	if (setting && !strcmp(setting, "secret-service"))
		return SECRETS_BACKEND_KEYRING;
	if (file_exists)
		return SECRETS_BACKEND_FILE;
	if (!for_write)
		return SECRETS_BACKEND_NONE;
	return service_answers ? SECRETS_BACKEND_KEYRING : SECRETS_BACKEND_FILE;
}

const char *secrets_backend_id(enum secrets_backend b)
{
	return b == SECRETS_BACKEND_KEYRING ? "secret-service" : b == SECRETS_BACKEND_FILE ? "file" : "none";
}

/* for_write: a store under auto without the file probes the Secret Service (once);
 * *ret_persist then says the choice must be recorded once the value is stored. */
static int backend_choose(const struct sbx_paths *p, bool for_write, enum secrets_backend *ret, bool *ret_persist,
			  char **ret_err)
{
	_cleanup_free_ char *path = store_path(p), *serr = NULL;
	struct settings *s = NULL;
	const char *setting;
	bool is_auto, exists, answers = false;
	struct stat st;
	int r;

	keyring_use_library(p->keyring_lib);
	r = settings_load_ex(p, &s, &serr);
	if (r < 0)
		return secrets_fail(ret_err, r, "cannot tell where secrets are kept: %s", serr ? serr : strerror(-r));
	setting = settings_get_or_default(s, "secrets.backend");
	is_auto = !setting || !strcmp(setting, "auto");
	/* anything but "no such file" counts as there: the file backend then says what is wrong */
	exists = lstat(path, &st) == 0 || errno != ENOENT;
	if (for_write && is_auto && !exists)
		answers = keyring_probe(NULL) == 0;
	*ret = secrets_backend_pick(setting, exists, for_write, answers);
	if (ret_persist)
		*ret_persist = is_auto && *ret == SECRETS_BACKEND_KEYRING;
	settings_free(s);
	return 0;
}

int secrets_backend_current(const struct sbx_paths *p, enum secrets_backend *ret, char **ret_err)
{
	return backend_choose(p, false, ret, NULL, ret_err);
}

char *secrets_backend_describe(const struct sbx_paths *p, enum secrets_backend b)
{
	switch (b) {
	case SECRETS_BACKEND_KEYRING:
		return xstrdup("the Secret Service (default collection)");
	case SECRETS_BACKEND_FILE:
		return xasprintf("the file %s/secrets.json (0600, protected by file permissions only)", p->config);
	default:
		return xstrdup("the Secret Service if one runs then, else a 0600 file (secrets.backend is auto)");
	}
}

/* ---- public API ---- */

char *secrets_backend_notice(const struct sbx_paths *p, const char *sandbox, const char *service)
{
	enum secrets_backend b = SECRETS_BACKEND_FILE;

	(void)secrets_backend_current(p, &b, NULL);
	if (b == SECRETS_BACKEND_KEYRING) {
		_cleanup_free_ char *label = keyring_label(sandbox, service);
		return xasprintf("note: stored in the Secret Service (default collection) as '%s'", label);
	}
	return xasprintf("note: secrets are kept in %s/secrets.json, protected only by file permissions (0600, "
			 "owner only); no Secret Service is used",
			 p->config);
}

int secrets_check(const struct sbx_paths *p, char **ret_err)
{
	enum secrets_backend b;
	struct db db;
	int r = backend_choose(p, false, &b, NULL, ret_err);

	if (r < 0)
		return r;
	if (b == SECRETS_BACKEND_KEYRING)
		return keyring_check(ret_err);
	r = store_load(p, &db, ret_err);
	db_free(&db);
	return r;
}

static int check_scope(const char *sandbox, const char *service, char **ret_err)
{
	if (!service_find(service))
		return secrets_fail(ret_err, -EINVAL, "unknown service '%s' (known: %s)", service ? service : "",
				    service_names());
	if (sandbox && !name_valid(sandbox))
		return secrets_fail(ret_err, -EINVAL, "invalid sandbox name '%s'", sandbox);
	return 0;
}

/* Under auto, the daemon (maybe started from another environment) must make the same
 * choice later: record it, or take the value back. */
static int keyring_set(const struct sbx_paths *p, const char *sandbox, const char *service, const char *value,
		       bool persist, char **ret_err)
{
	_cleanup_free_ char *serr = NULL;
	int r = keyring_store(p->config, sandbox, service, value, ret_err);

	if (r < 0 || !persist)
		return r;
	r = settings_set(p, "secrets.backend", "secret-service", &serr);
	if (r < 0) {
		(void)keyring_remove(p->config, sandbox, service, NULL);
		return secrets_fail(ret_err, r, "nothing stored: cannot record secrets.backend=secret-service in the settings: %s",
				    serr ? serr : strerror(-r));
	}
	return 0;
}

int secrets_set(const struct sbx_paths *p, const char *sandbox, const char *service, const char *value, char **ret_err)
{
	_cleanup_close_ int lock = -1;
	enum secrets_backend b;
	bool persist = false;
	const char *why;
	struct db db;
	int r;

	r = check_scope(sandbox, service, ret_err);
	if (r < 0)
		return r;
	why = secret_value_check(value, value ? strlen(value) : 0);
	if (why)
		return secrets_fail(ret_err, -EINVAL, "refused: %s", why);
	/* the lock also serialises the first choice under auto */
	lock = store_lock(p, ret_err);
	if (lock < 0)
		return lock;
	r = backend_choose(p, true, &b, &persist, ret_err);
	if (r < 0)
		return r;
	if (b == SECRETS_BACKEND_KEYRING)
		return keyring_set(p, sandbox, service, value, persist, ret_err);
	r = store_load(p, &db, ret_err);
	if (r < 0)
		return r;
	db_put(&db, sandbox, service, secret_dup(value, strlen(value)));
	r = store_save(p, &db, ret_err);
	db_free(&db);
	return r;
}

static int lookup(const struct sbx_paths *p, const char *sandbox, const char *service, char **ret_value,
		  enum secret_source *ret_source)
{
	enum secrets_backend b;
	struct db db;
	ssize_t i = -1;
	int r;

	if (!service || (sandbox && !name_valid(sandbox)))
		return -EINVAL;
	r = backend_choose(p, false, &b, NULL, NULL);
	if (r < 0)
		return r;
	if (b == SECRETS_BACKEND_NONE)
		return -ENOENT;
	if (b == SECRETS_BACKEND_KEYRING) {
		r = sandbox ? keyring_lookup(p->config, sandbox, service, ret_value, NULL) : -ENOENT;
		*ret_source = SECRET_SOURCE_SANDBOX;
		if (r == -ENOENT) {
			r = keyring_lookup(p->config, NULL, service, ret_value, NULL);
			*ret_source = SECRET_SOURCE_GLOBAL;
		}
		return r;
	}
	r = store_load(p, &db, NULL);
	if (r < 0)
		return r;
	if (sandbox)
		i = db_find(&db, sandbox, service);
	if (i >= 0) {
		*ret_source = SECRET_SOURCE_SANDBOX;
	} else {
		i = db_find(&db, NULL, service);
		*ret_source = SECRET_SOURCE_GLOBAL;
	}
	if (i < 0) {
		db_free(&db);
		return -ENOENT;
	}
	*ret_value = TAKE_PTR(db.v[i].value);
	db_free(&db);
	return 0;
}

int secrets_get(const struct sbx_paths *p, const char *sandbox, const char *service, char **ret_value)
{
	enum secret_source src;
	return lookup(p, sandbox, service, ret_value, &src);
}

int secrets_resolve(const struct sbx_paths *p, const char *sandbox, const char *service, char *const *env,
		    char **ret_value, enum secret_source *ret_source)
{
	const struct service *svc = service_find(service);
	enum secret_source src;
	int r;

	if (!svc)
		return -EINVAL;
	r = lookup(p, sandbox, service, ret_value, &src);
	if (r != -ENOENT) {
		if (r >= 0 && ret_source)
			*ret_source = src;
		return r;
	}
	for (const char *const *name = svc->env; env && *name; name++) {
		size_t nl = strlen(*name);
		for (char *const *e = env; *e; e++) {
			const char *v;
			if (strncmp(*e, *name, nl) || (*e)[nl] != '=')
				continue;
			v = *e + nl + 1;
			if (secret_value_check(v, strlen(v)))
				continue;
			*ret_value = secret_dup(v, strlen(v));
			if (ret_source)
				*ret_source = SECRET_SOURCE_ENV;
			return 0;
		}
	}
	return -ENOENT;
}

char **secrets_env_collect(void)
{
	size_t n_svc, n = 0, cap = 1;
	const struct service *s = service_list(&n_svc);
	char **out;

	for (size_t i = 0; i < n_svc; i++)
		for (const char *const *name = s[i].env; *name; name++)
			cap++;
	out = xcalloc(cap, sizeof(*out));
	for (size_t i = 0; i < n_svc; i++)
		for (const char *const *name = s[i].env; *name; name++) {
			const char *v = getenv(*name);
			size_t nl = strlen(*name), vl;
			char *kv;

			if (!v || secret_value_check(v, strlen(v)))
				continue;
			vl = strlen(v);
			kv = xmalloc(nl + 1 + vl + 1);
			memcpy(kv, *name, nl);
			kv[nl] = '=';
			memcpy(kv + nl + 1, v, vl + 1);
			out[n++] = kv;
		}
	return out;
}

void secrets_env_free(char **env)
{
	if (!env)
		return;
	for (char **e = env; *e; e++)
		secret_free(*e);
	free(env);
}

int secrets_list(const struct sbx_paths *p, struct secret_info **ret, size_t *ret_n, char **ret_err)
{
	enum secrets_backend b;
	struct secret_info *v;
	struct db db;
	int r = backend_choose(p, false, &b, NULL, ret_err);

	if (r < 0)
		return r;
	if (b == SECRETS_BACKEND_KEYRING) {
		r = keyring_list(p->config, ret, ret_n, ret_err);
		if (r >= 0 && *ret_n > 1)
			qsort(*ret, *ret_n, sizeof(**ret), info_cmp);
		return r;
	}
	r = store_load(p, &db, ret_err);
	if (r < 0)
		return r;
	if (db.n > 1)
		qsort(db.v, db.n, sizeof(*db.v), rec_cmp);
	v = xcalloc(db.n ? db.n : 1, sizeof(*v));
	for (size_t i = 0; i < db.n; i++) {
		v[i].sandbox = db.v[i].sandbox ? xstrdup(db.v[i].sandbox) : NULL;
		snprintf(v[i].service, sizeof(v[i].service), "%s", db.v[i].service);
		secret_preview(db.v[i].value, v[i].preview);
	}
	*ret = v;
	*ret_n = db.n;
	db_free(&db);
	return 0;
}

void secret_info_free(struct secret_info *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].sandbox);
	free(v);
}

static int not_stored(char **ret_err, const char *sandbox, const char *service)
{
	return secrets_fail(ret_err, -ENOENT, "no %s secret is stored %s%s", service, sandbox ? "for sandbox " : "globally",
			    sandbox ? sandbox : "");
}

int secrets_rm(const struct sbx_paths *p, const char *sandbox, const char *service, char **ret_err)
{
	_cleanup_close_ int lock = -1;
	enum secrets_backend b;
	struct db db;
	ssize_t i;
	int r;

	r = check_scope(sandbox, service, ret_err);
	if (r < 0)
		return r;
	r = backend_choose(p, false, &b, NULL, ret_err);
	if (r < 0)
		return r;
	if (b == SECRETS_BACKEND_KEYRING)
		r = keyring_remove(p->config, sandbox, service, ret_err);
	if (b != SECRETS_BACKEND_FILE)
		return r == -ENOENT || b == SECRETS_BACKEND_NONE ? not_stored(ret_err, sandbox, service) : r < 0 ? r : 0;
	lock = store_lock(p, ret_err);
	if (lock < 0)
		return lock;
	r = store_load(p, &db, ret_err);
	if (r < 0)
		return r;
	i = db_find(&db, sandbox, service);
	if (i < 0) {
		r = not_stored(ret_err, sandbox, service);
	} else {
		db_remove(&db, (size_t)i);
		r = store_save(p, &db, ret_err);
	}
	db_free(&db);
	return r;
}

int secrets_rm_sandbox(const struct sbx_paths *p, const char *sandbox, char **ret_err)
{
	_cleanup_close_ int lock = -1;
	enum secrets_backend b;
	struct stat st;
	struct db db;
	int r, removed = 0;

	if (!sandbox || !name_valid(sandbox))
		return secrets_fail(ret_err, -EINVAL, "invalid sandbox name '%s'", sandbox ? sandbox : "");
	if (stat(p->config, &st) < 0 && errno == ENOENT)
		return 0;
	r = backend_choose(p, false, &b, NULL, ret_err);
	if (r < 0)
		return r;
	if (b == SECRETS_BACKEND_KEYRING)
		return keyring_remove(p->config, sandbox, NULL, ret_err);
	if (b == SECRETS_BACKEND_NONE)
		return 0;
	lock = store_lock(p, ret_err);
	if (lock < 0)
		return lock;
	r = store_load(p, &db, ret_err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < db.n;) {
		if (db.v[i].sandbox && !strcmp(db.v[i].sandbox, sandbox)) {
			db_remove(&db, i);
			removed++;
		} else {
			i++;
		}
	}
	r = removed ? store_save(p, &db, ret_err) : 0;
	db_free(&db);
	return r < 0 ? r : removed;
}
