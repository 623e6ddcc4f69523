// SPDX-License-Identifier: MIT
/* secrets_keyring.c: secrets in the Secret Service through libsecret, bounded in time, never prompting. */
#define SBX_KEYRING_IMPL 1
#include "secrets_keyring.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

/* After util.h: GLib redefines MIN/MAX (with #undef first). */
#include <libsecret/secret.h>

#define SECRETS_BUS_NAME "org.freedesktop.secrets"
#define KR_CACHE_MAX 32
#define KR_CANCEL_GRACE_MS 100

/*
 * Why the async API on a private GMainContext, not secret_password_*_sync(): those
 * cannot be bounded in time (a stuck keyring would stall sbxd's loop for D-Bus's 25 s
 * default) and they ask the keyring to unlock locked items, which shows a prompt.
 */
static const SecretSchema kr_schema = {
	.name = "dev.sbx.Secret",
	.flags = SECRET_SCHEMA_NONE,
	.attributes = {
		{ "config", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "scope", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "sandbox", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "service", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
};

struct kr_cached {
	char *config;
	char *sandbox;                 /* NULL: global */
	char service[SERVICE_NAME_MAX];
	int r;
	char *value;                   /* r == 0 */
	char *err;                     /* r < 0, r != -ENOENT */
	uint64_t until;
};

static struct keyring {
	GMainContext *ctx;
	GDBusConnection *bus;
	struct kr_cached cache[KR_CACHE_MAX];
	size_t n_cache;
	int last_r;                    /* the latest failure, for keyring_check() */
	char *last_err;
	uint64_t last_until;
	uint64_t backoff_until;        /* after a timeout: lookups fail at once */
} K;

/* ---- one operation: a deadline, a cancellable, the private context ---- */

struct kr_call {
	GCancellable *cancel;
	uint64_t deadline;
};

struct kr_op {
	GAsyncResult *res;
	bool done, abandoned;
};

static void kr_begin(struct kr_call *c, unsigned ms)
{
	if (!K.ctx)
		K.ctx = g_main_context_new();
	g_main_context_push_thread_default(K.ctx);
	c->cancel = g_cancellable_new();
	c->deadline = now_ms() + ms;
}

static void kr_end(struct kr_call *c)
{
	g_object_unref(c->cancel);
	g_main_context_pop_thread_default(K.ctx);
}

static void kr_ready(GObject *src, GAsyncResult *res, gpointer data)
{
	struct kr_op *op = data;

	if (op->abandoned) {
		free(op);
		return;
	}
	op->res = g_object_ref(res);
	op->done = true;
}

static void kr_op_free(struct kr_op *op)
{
	if (op->res)
		g_object_unref(op->res);
	free(op);
}

static gboolean kr_expired(gpointer data)
{
	*(bool *)data = true;
	return G_SOURCE_REMOVE;
}

static void kr_iterate(struct kr_op *op, unsigned ms)
{
	bool expired = false;
	GSource *t = g_timeout_source_new(ms);

	g_source_set_callback(t, kr_expired, &expired, NULL);
	g_source_attach(t, K.ctx);
	while (!op->done && !expired)
		g_main_context_iteration(K.ctx, TRUE);
	g_source_destroy(t);
	g_source_unref(t);
}

/* Run the context until op completes: 0 with op->res set (the caller finishes and
 * frees op), or -ETIMEDOUT at the deadline (op is gone: freed, or abandoned to its
 * callback, which frees it whenever the cancelled call returns). */
static int kr_wait(struct kr_call *c, struct kr_op *op)
{
	uint64_t now = now_ms();

	if (!op->done && now < c->deadline)
		kr_iterate(op, (unsigned)(c->deadline - now));
	if (op->done && !g_cancellable_is_cancelled(c->cancel))
		return 0;
	g_cancellable_cancel(c->cancel);
	if (!op->done)
		kr_iterate(op, KR_CANCEL_GRACE_MS);
	if (op->done)
		kr_op_free(op);
	else
		op->abandoned = true;
	return -ETIMEDOUT;
}

static struct kr_op *kr_op_new(void)
{
	return xcalloc(1, sizeof(struct kr_op));
}

/* ---- errors ---- */

static int kr_errno(const GError *e)
{
	_cleanup_free_ char *remote = NULL;
	char *r;

	if (g_error_matches(e, SECRET_ERROR, SECRET_ERROR_IS_LOCKED))
		return -EACCES;
	if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CANCELLED) || g_error_matches(e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
	    g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
	    g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_TIMEOUT) ||
	    g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_TIMED_OUT))
		return -ETIMEDOUT;
	if (g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	    g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
	    g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND) ||
	    g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_FAILED) ||
	    g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_CHILD_EXITED))
		return -EHOSTDOWN;
	r = g_dbus_error_get_remote_error(e);
	if (r) {
		remote = xstrdup(r);
		g_free(r);
		if (strstr(remote, "IsLocked"))
			return -EACCES;
		if (strstr(remote, "ServiceUnknown") || strstr(remote, "NameHasNoOwner"))
			return -EHOSTDOWN;
	}
	return -EIO;
}

static int kr_locked(char **ret_err)
{
	return secrets_fail(ret_err, -EACCES,
			    "the Secret Service keyring holding sbx's secrets is locked: unlock your keyring (for example "
			    "by logging in to your desktop session, or with seahorse) and try again; sbx never prompts");
}

static int kr_timeout(char **ret_err, const char *what)
{
	return secrets_fail(ret_err, -ETIMEDOUT, "the Secret Service did not answer in time (%s); is your keyring stuck?",
			    what);
}

/* Consumes e. what: what was being done ("searching items", ...). */
static int kr_gerror(GError *e, const char *what, char **ret_err)
{
	int r = e ? kr_errno(e) : -EIO;
	char *msg = NULL;

	if (e) {
		g_dbus_error_strip_remote_error(e);
		msg = xstrdup(e->message);
		g_error_free(e);
	}
	/* a restarted keyring does not know our session: start afresh next time */
	if (r != -EACCES)
		secret_service_disconnect();
	switch (r) {
	case -EACCES:
		kr_locked(ret_err);
		break;
	case -ETIMEDOUT:
		kr_timeout(ret_err, what);
		break;
	case -EHOSTDOWN:
		secrets_fail(ret_err, r,
			     "cannot use the Secret Service: nothing provides " SECRETS_BUS_NAME " on the session bus (%s); "
			     "start your keyring (e.g. gnome-keyring-daemon), or keep secrets in a file: "
			     "sbx settings set secrets.backend file",
			     msg ? msg : what);
		break;
	default:
		secrets_fail(ret_err, r, "the Secret Service failed while %s: %s", what, msg ? msg : "unknown error");
	}
	free(msg);
	return r;
}

/* ---- connection ---- */

/* Where GIO would look, minus its X11 autolaunch (which would start a bus). */
static int kr_bus_present(char **ret_err)
{
	const char *a = getenv("DBUS_SESSION_BUS_ADDRESS");
	const char *rt = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (a && *a)
		return 0;
	if (rt && *rt) {
		_cleanup_free_ char *path = xasprintf("%s/bus", rt);
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
	}
	return secrets_fail(ret_err, -ENXIO,
			    "cannot use the Secret Service: no session bus (DBUS_SESSION_BUS_ADDRESS is not set and there is "
			    "no $XDG_RUNTIME_DIR/bus); run sbx inside your desktop session, or keep secrets in a file: "
			    "sbx settings set secrets.backend file");
}

static void kr_disconnect(void)
{
	secret_service_disconnect();
	g_clear_object(&K.bus);
}

static int kr_connect(struct kr_call *c, char **ret_err)
{
	struct kr_op *op;
	GError *e = NULL;
	int r;

	if (K.bus && g_dbus_connection_is_closed(K.bus))
		kr_disconnect();
	if (K.bus)
		return 0;
	r = kr_bus_present(ret_err);
	if (r < 0)
		return r;
	op = kr_op_new();
	g_bus_get(G_BUS_TYPE_SESSION, c->cancel, kr_ready, op);
	if (kr_wait(c, op) < 0)
		return kr_timeout(ret_err, "connecting to the session bus");
	K.bus = g_bus_get_finish(op->res, &e);
	kr_op_free(op);
	if (!K.bus) {
		if (e)
			g_dbus_error_strip_remote_error(e);
		r = secrets_fail(ret_err, -ENXIO, "cannot use the Secret Service: cannot connect to the session bus: %s",
				 e ? e->message : "unknown error");
		g_clear_error(&e);
		return r;
	}
	/* g_bus_get()'s connection raises SIGTERM when the bus goes away. Not in sbxd. */
	g_dbus_connection_set_exit_on_close(K.bus, FALSE);
	return 0;
}

/* The shared SecretService with an open session (reference for the caller). */
static int kr_service(struct kr_call *c, SecretService **ret, char **ret_err)
{
	SecretService *svc;
	struct kr_op *op;
	GError *e = NULL;
	int r = kr_connect(c, ret_err);

	if (r < 0)
		return r;
	op = kr_op_new();
	secret_service_get(SECRET_SERVICE_OPEN_SESSION, c->cancel, kr_ready, op);
	if (kr_wait(c, op) < 0)
		r = kr_timeout(ret_err, "opening a session");
	else {
		svc = secret_service_get_finish(op->res, &e);
		kr_op_free(op);
		if (svc) {
			*ret = svc;
			return 0;
		}
		r = kr_gerror(e, "opening a session", ret_err);
	}
	/* Reconnect next time (the service may have been restarted). */
	kr_disconnect();
	return r;
}

/* ---- items ---- */

/* sandbox: NULL global; service NULL: any service. config only (scope NULL): all. */
static GHashTable *kr_attrs(const char *config, const char *scope, const char *sandbox, const char *service)
{
	GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);

	g_hash_table_insert(h, (gpointer) "config", (gpointer)config);
	if (scope)
		g_hash_table_insert(h, (gpointer) "scope", (gpointer)scope);
	if (sandbox)
		g_hash_table_insert(h, (gpointer) "sandbox", (gpointer)sandbox);
	if (service)
		g_hash_table_insert(h, (gpointer) "service", (gpointer)service);
	return h;
}

static int kr_search(struct kr_call *c, SecretService *svc, GHashTable *attrs, bool load, GList **ret, char **ret_err)
{
	struct kr_op *op = kr_op_new();
	GError *e = NULL;
	GList *l;

	secret_service_search(svc, &kr_schema, attrs, SECRET_SEARCH_ALL | (load ? SECRET_SEARCH_LOAD_SECRETS : 0),
			      c->cancel, kr_ready, op);
	if (kr_wait(c, op) < 0)
		return kr_timeout(ret_err, "searching items");
	l = secret_service_search_finish(svc, op->res, &e);
	kr_op_free(op);
	if (e) {
		g_list_free_full(l, g_object_unref);
		return kr_gerror(e, "searching items", ret_err);
	}
	*ret = l;
	return 0;
}

static char *kr_item_attr(SecretItem *it, const char *name)
{
	GHashTable *h = secret_item_get_attributes(it);
	const char *v = h ? g_hash_table_lookup(h, name) : NULL;
	char *out = v ? xstrdup(v) : NULL;

	if (h)
		g_hash_table_unref(h);
	return out;
}

/* The item's loaded value, checked like any value; malloc'd copy. */
static int kr_item_value(SecretItem *it, char **ret, char **ret_err)
{
	SecretValue *v;
	const char *s, *why;
	gsize len = 0;

	if (secret_item_get_locked(it))
		return kr_locked(ret_err);
	v = secret_item_get_secret(it);
	if (!v)
		return kr_locked(ret_err);   /* locked between the search and the load */
	s = secret_value_get(v, &len);
	why = secret_value_check(s, len);
	if (why) {
		_cleanup_free_ char *label = secret_item_get_label(it);
		secret_value_unref(v);
		return secrets_fail(ret_err, -EBADMSG, "the Secret Service item '%s' is not usable: %s; set it again",
				    label ? label : "?", why);
	}
	*ret = xmalloc(len + 1);
	memcpy(*ret, s, len);
	(*ret)[len] = 0;
	secret_value_unref(v);   /* libsecret keeps values in its secure memory, zeroed on free */
	return 0;
}

/* ---- the cache ---- */

static void kr_cached_clear(struct kr_cached *e)
{
	free(e->config);
	free(e->sandbox);
	secret_free(e->value);
	free(e->err);
	memset(e, 0, sizeof(*e));
}

static void kr_cache_evict(size_t i)
{
	kr_cached_clear(&K.cache[i]);
	K.cache[i] = K.cache[--K.n_cache];
	memset(&K.cache[K.n_cache], 0, sizeof(K.cache[0]));
}

static void keyring_cache_flush(void)
{
	while (K.n_cache)
		kr_cache_evict(K.n_cache - 1);
}

static struct kr_cached *kr_cache_find(const char *config, const char *sandbox, const char *service, uint64_t now)
{
	for (size_t i = 0; i < K.n_cache;) {
		struct kr_cached *e = &K.cache[i];
		if (e->until <= now) {
			kr_cache_evict(i);
			continue;
		}
		if (!strcmp(e->config, config) && !strcmp(e->service, service) &&
		    ((!e->sandbox && !sandbox) || (e->sandbox && sandbox && !strcmp(e->sandbox, sandbox))))
			return e;
		i++;
	}
	return NULL;
}

static void kr_cache_put(const char *config, const char *sandbox, const char *service, int r, const char *value,
			 const char *err, uint64_t until)
{
	struct kr_cached *e;

	if (K.n_cache == KR_CACHE_MAX) {
		size_t oldest = 0;
		for (size_t i = 1; i < K.n_cache; i++)
			if (K.cache[i].until < K.cache[oldest].until)
				oldest = i;
		kr_cache_evict(oldest);
	}
	e = &K.cache[K.n_cache++];
	e->config = xstrdup(config);
	e->sandbox = sandbox ? xstrdup(sandbox) : NULL;
	snprintf(e->service, sizeof(e->service), "%s", service);
	e->r = r;
	e->value = value ? xstrdup(value) : NULL;
	e->err = err ? xstrdup(err) : NULL;
	e->until = until;
}

static void kr_note_failure(int r, const char *err, uint64_t until)
{
	free(K.last_err);
	K.last_r = r;
	K.last_err = err ? xstrdup(err) : NULL;
	K.last_until = until;
}

/* ---- API ---- */

static int keyring_probe(char **ret_err)
{
	struct kr_call c;
	struct kr_op *op;
	GVariant *v;
	GError *e = NULL;
	gboolean has = FALSE;
	int r;

	kr_begin(&c, KEYRING_LOOKUP_MS);
	r = kr_connect(&c, ret_err);
	if (r < 0)
		goto out;
	op = kr_op_new();
	g_dbus_connection_call(K.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
			       "NameHasOwner", g_variant_new("(s)", SECRETS_BUS_NAME), G_VARIANT_TYPE("(b)"),
			       G_DBUS_CALL_FLAGS_NO_AUTO_START, KEYRING_LOOKUP_MS, c.cancel, kr_ready, op);
	if (kr_wait(&c, op) < 0) {
		r = kr_timeout(ret_err, "asking the session bus for " SECRETS_BUS_NAME);
		goto out;
	}
	v = g_dbus_connection_call_finish(K.bus, op->res, &e);
	kr_op_free(op);
	if (!v) {
		r = kr_gerror(e, "asking the session bus for " SECRETS_BUS_NAME, ret_err);
		goto out;
	}
	g_variant_get(v, "(b)", &has);
	g_variant_unref(v);
	r = has ? 0 : secrets_fail(ret_err, -EHOSTDOWN, "no Secret Service (" SECRETS_BUS_NAME ") runs on the session bus");
out:
	kr_end(&c);
	return r;
}

static int keyring_store(const char *config, const char *sandbox, const char *service, const char *value, char **ret_err)
{
	_cleanup_free_ char *label = keyring_label(sandbox, service);
	SecretService *svc = NULL;
	SecretCollection *coll = NULL;
	SecretItem *item;
	SecretValue *sv;
	GHashTable *attrs;
	struct kr_call c;
	struct kr_op *op;
	GError *e = NULL;
	int r;

	keyring_cache_flush();
	kr_begin(&c, KEYRING_OP_MS);
	r = kr_service(&c, &svc, ret_err);
	if (r < 0)
		goto out;
	op = kr_op_new();
	secret_collection_for_alias(svc, SECRET_COLLECTION_DEFAULT, SECRET_COLLECTION_NONE, c.cancel, kr_ready, op);
	if (kr_wait(&c, op) < 0) {
		r = kr_timeout(ret_err, "finding the default collection");
		goto out;
	}
	coll = secret_collection_for_alias_finish(op->res, &e);
	kr_op_free(op);
	if (!coll) {
		r = e ? kr_gerror(e, "finding the default collection", ret_err)
		      : secrets_fail(ret_err, -ENODEV,
				     "the Secret Service has no default collection (keyring): create one and make it the "
				     "default (e.g. with seahorse), or keep secrets in a file: sbx settings set secrets.backend file");
		goto out;
	}
	/* Checked first: creating an item in a locked collection would ask to unlock it. */
	if (secret_collection_get_locked(coll)) {
		r = kr_locked(ret_err);
		goto out;
	}
	attrs = kr_attrs(config, sandbox ? "sandbox" : "global", sandbox, service);
	sv = secret_value_new(value, (gssize)strlen(value), "text/plain");
	op = kr_op_new();
	secret_item_create(coll, &kr_schema, attrs, label, sv, SECRET_ITEM_CREATE_REPLACE, c.cancel, kr_ready, op);
	secret_value_unref(sv);
	g_hash_table_unref(attrs);
	if (kr_wait(&c, op) < 0) {
		r = kr_timeout(ret_err, "storing the item");
		goto out;
	}
	item = secret_item_create_finish(op->res, &e);
	kr_op_free(op);
	if (!item) {
		r = kr_gerror(e, "storing the item", ret_err);
		goto out;
	}
	g_object_unref(item);
	r = 0;
out:
	if (coll)
		g_object_unref(coll);
	if (svc)
		g_object_unref(svc);
	kr_end(&c);
	return r;
}

static int keyring_lookup(const char *config, const char *sandbox, const char *service, char **ret_value, char **ret_err)
{
	_cleanup_free_ char *err = NULL;
	SecretService *svc = NULL;
	GList *items = NULL;
	struct kr_cached *hit;
	struct kr_call c;
	char *value = NULL;
	uint64_t now = now_ms();
	int r;

	hit = kr_cache_find(config, sandbox, service, now);
	if (hit) {
		if (hit->r == 0) {
			*ret_value = xstrdup(hit->value);
			return 0;
		}
		if (hit->r != -ENOENT) {
			kr_note_failure(hit->r, hit->err, hit->until);
			if (ret_err && hit->err)
				*ret_err = xstrdup(hit->err);
		}
		return hit->r;
	}
	if (now < K.backoff_until) {
		if (ret_err && K.last_err)
			*ret_err = xstrdup(K.last_err);
		return K.last_r < 0 ? K.last_r : -ETIMEDOUT;
	}
	kr_begin(&c, KEYRING_LOOKUP_MS);
	r = kr_service(&c, &svc, &err);
	if (r >= 0) {
		GHashTable *attrs = kr_attrs(config, sandbox ? "sandbox" : "global", sandbox, service);
		r = kr_search(&c, svc, attrs, true, &items, &err);
		g_hash_table_unref(attrs);
	}
	if (r >= 0) {
		r = -ENOENT;
		/* the first usable item; a locked one is an error only when none is usable */
		for (GList *l = items; l && r != 0; l = l->next) {
			int q = kr_item_value(l->data, &value, r == -ENOENT ? &err : NULL);
			if (q == 0 || r == -ENOENT)
				r = q;
		}
	}
	g_list_free_full(items, g_object_unref);
	if (svc)
		g_object_unref(svc);
	kr_end(&c);
	now = now_ms();
	if (r == -ETIMEDOUT)
		K.backoff_until = now + KEYRING_BACKOFF_MS;
	if (r < 0 && r != -ENOENT)
		kr_note_failure(r, err, r == -ETIMEDOUT ? K.backoff_until : now + KEYRING_CACHE_MS);
	if (r != -ETIMEDOUT)
		kr_cache_put(config, sandbox, service, r, value, err, now + KEYRING_CACHE_MS);
	if (r == 0)
		*ret_value = value;
	else if (ret_err)
		*ret_err = TAKE_PTR(err);
	return r;
}

static int keyring_list(const char *config, struct secret_info **ret, size_t *ret_n, char **ret_err)
{
	SecretService *svc = NULL;
	GList *items = NULL;
	struct secret_info *v = NULL;
	struct kr_call c;
	size_t n = 0;
	int r;

	kr_begin(&c, KEYRING_OP_MS);
	r = kr_service(&c, &svc, ret_err);
	if (r >= 0) {
		GHashTable *attrs = kr_attrs(config, NULL, NULL, NULL);
		r = kr_search(&c, svc, attrs, true, &items, ret_err);
		g_hash_table_unref(attrs);
	}
	if (r >= 0) {
		v = xcalloc(g_list_length(items) + 1, sizeof(*v));
		for (GList *l = items; l && r >= 0; l = l->next) {
			_cleanup_free_ char *scope = kr_item_attr(l->data, "scope");
			_cleanup_free_ char *sandbox = kr_item_attr(l->data, "sandbox");
			_cleanup_free_ char *service = kr_item_attr(l->data, "service");
			_cleanup_secret_ char *value = NULL;

			if (!scope || !service || strlen(service) >= SERVICE_NAME_MAX ||
			    !(!strcmp(scope, "global") || (!strcmp(scope, "sandbox") && sandbox)))
				continue;   /* not written by sbx */
			r = kr_item_value(l->data, &value, ret_err);
			if (r < 0)
				break;
			v[n].sandbox = !strcmp(scope, "sandbox") ? TAKE_PTR(sandbox) : NULL;
			snprintf(v[n].service, sizeof(v[n].service), "%s", service);
			secret_preview(value, v[n].preview);
			n++;
		}
	}
	g_list_free_full(items, g_object_unref);
	if (svc)
		g_object_unref(svc);
	kr_end(&c);
	if (r < 0) {
		secret_info_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int keyring_remove(const char *config, const char *sandbox, const char *service, char **ret_err)
{
	SecretService *svc = NULL;
	GList *items = NULL;
	struct kr_call c;
	int r, removed = 0;

	keyring_cache_flush();
	kr_begin(&c, KEYRING_OP_MS);
	r = kr_service(&c, &svc, ret_err);
	if (r >= 0) {
		GHashTable *attrs = kr_attrs(config, sandbox ? "sandbox" : "global", sandbox, service);
		r = kr_search(&c, svc, attrs, false, &items, ret_err);
		g_hash_table_unref(attrs);
	}
	/* all or nothing as far as we can tell: no deletion when any item is locked */
	for (GList *l = items; l && r >= 0; l = l->next)
		if (secret_item_get_locked(l->data))
			r = kr_locked(ret_err);
	for (GList *l = items; l && r >= 0; l = l->next) {
		struct kr_op *op = kr_op_new();
		GError *e = NULL;

		secret_item_delete(l->data, c.cancel, kr_ready, op);
		if (kr_wait(&c, op) < 0) {
			r = kr_timeout(ret_err, "deleting an item");
			break;
		}
		if (!secret_item_delete_finish(l->data, op->res, &e))
			r = kr_gerror(e, "deleting an item", ret_err);
		else
			removed++;
		kr_op_free(op);
	}
	g_list_free_full(items, g_object_unref);
	if (svc)
		g_object_unref(svc);
	kr_end(&c);
	if (r < 0)
		return r;
	if (service && removed == 0)
		return -ENOENT;
	return removed;
}

static int keyring_check(char **ret_err)
{
	SecretService *svc = NULL;
	struct kr_call c;
	uint64_t now = now_ms();
	int r;

	if (K.last_r < 0 && now < K.last_until) {
		if (ret_err && K.last_err)
			*ret_err = xstrdup(K.last_err);
		return K.last_r;
	}
	kr_begin(&c, KEYRING_LOOKUP_MS);
	r = kr_service(&c, &svc, ret_err);
	if (svc)
		g_object_unref(svc);
	kr_end(&c);
	return r;
}

/* The one symbol libsbx-keyring.so exports. */
__attribute__((visibility("default"))) const struct keyring_ops sbx_keyring_ops = {
	.probe = keyring_probe,
	.store = keyring_store,
	.lookup = keyring_lookup,
	.list = keyring_list,
	.remove = keyring_remove,
	.check = keyring_check,
	.cache_flush = keyring_cache_flush,
};
