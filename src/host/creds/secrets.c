// SPDX-License-Identifier: MIT
/* secrets.c: the secret store: value checks, masking, the backend choice and the API over both backends (the file: secrets_file.c). */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "names.h"
#include "secrets_file.h"
#include "secrets_keyring.h"
#include "settings.h"

void secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

char *secrets_dup(const char *s, size_t len)
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

static int info_cmp(const void *a, const void *b)
{
	const struct secret_info *x = a, *y = b;
	return secret_scope_cmp(x->sandbox, x->service, y->sandbox, y->service);
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
	_cleanup_free_ char *path = secrets_file_path(p), *serr = NULL;
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
	struct secret_db db;
	int r = backend_choose(p, false, &b, NULL, ret_err);

	if (r < 0)
		return r;
	if (b == SECRETS_BACKEND_KEYRING)
		return keyring_check(ret_err);
	r = secrets_file_load(p, &db, ret_err);
	secret_db_free(&db);
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
	struct secret_db db;
	int r;

	r = check_scope(sandbox, service, ret_err);
	if (r < 0)
		return r;
	why = secret_value_check(value, value ? strlen(value) : 0);
	if (why)
		return secrets_fail(ret_err, -EINVAL, "refused: %s", why);
	/* the lock also serialises the first choice under auto */
	lock = secrets_file_lock(p, ret_err);
	if (lock < 0)
		return lock;
	r = backend_choose(p, true, &b, &persist, ret_err);
	if (r < 0)
		return r;
	if (b == SECRETS_BACKEND_KEYRING)
		return keyring_set(p, sandbox, service, value, persist, ret_err);
	r = secrets_file_load(p, &db, ret_err);
	if (r < 0)
		return r;
	secret_db_put(&db, sandbox, service, secrets_dup(value, strlen(value)));
	r = secrets_file_save(p, &db, ret_err);
	secret_db_free(&db);
	return r;
}

static int lookup(const struct sbx_paths *p, const char *sandbox, const char *service, char **ret_value,
		  enum secret_source *ret_source)
{
	enum secrets_backend b;
	struct secret_db db;
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
	r = secrets_file_load(p, &db, NULL);
	if (r < 0)
		return r;
	if (sandbox)
		i = secret_db_find(&db, sandbox, service);
	if (i >= 0) {
		*ret_source = SECRET_SOURCE_SANDBOX;
	} else {
		i = secret_db_find(&db, NULL, service);
		*ret_source = SECRET_SOURCE_GLOBAL;
	}
	if (i < 0) {
		secret_db_free(&db);
		return -ENOENT;
	}
	*ret_value = TAKE_PTR(db.v[i].value);
	secret_db_free(&db);
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
			*ret_value = secrets_dup(v, strlen(v));
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
	struct secret_db db;
	int r = backend_choose(p, false, &b, NULL, ret_err);

	if (r < 0)
		return r;
	if (b == SECRETS_BACKEND_KEYRING) {
		r = keyring_list(p->config, ret, ret_n, ret_err);
		if (r >= 0 && *ret_n > 1)
			qsort(*ret, *ret_n, sizeof(**ret), info_cmp);
		return r;
	}
	r = secrets_file_load(p, &db, ret_err);
	if (r < 0)
		return r;
	if (db.n > 1)
		qsort(db.v, db.n, sizeof(*db.v), secret_rec_cmp);
	v = xcalloc(db.n ? db.n : 1, sizeof(*v));
	for (size_t i = 0; i < db.n; i++) {
		v[i].sandbox = db.v[i].sandbox ? xstrdup(db.v[i].sandbox) : NULL;
		snprintf(v[i].service, sizeof(v[i].service), "%s", db.v[i].service);
		secret_preview(db.v[i].value, v[i].preview);
	}
	*ret = v;
	*ret_n = db.n;
	secret_db_free(&db);
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
	struct secret_db db;
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
	r = secrets_file_begin(p, &lock, &db, ret_err);
	if (r < 0)
		return r;
	i = secret_db_find(&db, sandbox, service);
	if (i < 0) {
		r = not_stored(ret_err, sandbox, service);
	} else {
		secret_db_remove(&db, (size_t)i);
		r = secrets_file_save(p, &db, ret_err);
	}
	secret_db_free(&db);
	return r;
}

int secrets_rm_sandbox(const struct sbx_paths *p, const char *sandbox, char **ret_err)
{
	_cleanup_close_ int lock = -1;
	enum secrets_backend b;
	struct stat st;
	struct secret_db db;
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
	r = secrets_file_begin(p, &lock, &db, ret_err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < db.n;) {
		if (db.v[i].sandbox && !strcmp(db.v[i].sandbox, sandbox)) {
			secret_db_remove(&db, i);
			removed++;
		} else {
			i++;
		}
	}
	r = removed ? secrets_file_save(p, &db, ret_err) : 0;
	secret_db_free(&db);
	return r < 0 ? r : removed;
}
