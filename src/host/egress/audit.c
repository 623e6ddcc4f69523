// SPDX-License-Identifier: MIT
/* audit.c: append egress decisions to state/audit.log, read and summarise them. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

#define AUDIT_FIELD_MAX 300
#define AUDIT_LINE_MAX 8192
#define AUDIT_READ_MAX (64u << 20)

struct audit {
	char *path, *path1;
	int fd;
	size_t max;
};

static int audit_reopen(struct audit *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	return a->fd < 0 ? -errno : 0;
}

int audit_open(const struct sbx_paths *p, struct audit **ret)
{
	struct audit *a;
	int r;

	r = mkdir_p(p->state, 0700);
	if (r < 0)
		return r;
	a = xcalloc(1, sizeof(*a));
	a->path = xasprintf("%s/audit.log", p->state);
	a->path1 = xasprintf("%s/audit.log.1", p->state);
	a->fd = -1;
	a->max = AUDIT_MAX_BYTES;
	r = audit_reopen(a);
	if (r < 0) {
		audit_close(a);
		return r;
	}
	*ret = a;
	return 0;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	free(a->path);
	free(a->path1);
	free(a);
}

void audit_set_max_bytes(struct audit *a, size_t max)
{
	a->max = max;
}

/* Printable ASCII only, at most max bytes; other bytes become '?' (or %XX for URL
 * paths, which keeps them readable). */
static char *field(const char *s, size_t max, bool percent)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(max + 1);
	size_t o = 0;

	for (; *s && o < max; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c < 0x7f && !(percent && c == ' ')) {
			out[o++] = (char)c;
		} else if (percent) {
			if (o + 3 > max)
				break;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = '?';
		}
	}
	out[o] = 0;
	return out;
}

static void add_str(struct json_object *o, const char *key, const char *v, size_t max, bool percent)
{
	char *f;

	if (!v)
		return;
	f = field(v, max, percent);
	json_object_object_add(o, key, json_object_new_string(f));
	free(f);
}

static void time_rfc3339(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char sec[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.24s.%03dZ", sec, (int)(ts.tv_nsec / 1000000) % 1000);
}

void audit_write(struct audit *a, const struct audit_entry *e)
{
	struct json_object *o;
	char tbuf[48];
	const char *js;
	char *line;
	size_t len;
	struct stat st;
	int r;

	if (!a || a->fd < 0)
		return;
	time_rfc3339(tbuf, sizeof(tbuf));
	o = json_object_new_object();
	json_object_object_add(o, "time", json_object_new_string(tbuf));
	add_str(o, "sandbox", e->sandbox ? e->sandbox : "", AUDIT_FIELD_MAX, false);
	add_str(o, "path", e->path ? e->path : "", 16, false);
	add_str(o, "host", e->host ? e->host : "", AUDIT_FIELD_MAX, false);
	json_object_object_add(o, "port", json_object_new_int(e->port));
	add_str(o, "addr", e->addr, 64, false);
	json_object_object_add(o, "decision", json_object_new_string(e->allowed ? "allow" : "deny"));
	add_str(o, "rule", e->rule, AUDIT_FIELD_MAX, false);
	add_str(o, "reason", e->reason, 512, false);
	add_str(o, "method", e->method, 32, false);
	add_str(o, "url_path", e->url_path, AUDIT_URL_PATH_MAX, true);
	if (e->status)
		json_object_object_add(o, "status", json_object_new_int(e->status));
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	line = xasprintf("%s\n", js);
	json_object_put(o);
	len = strlen(line);

	if (fstat(a->fd, &st) == 0 && st.st_size > 0 && (size_t)st.st_size + len > a->max) {
		if (rename(a->path, a->path1) < 0)
			log_debug("audit: rotate %s: %s", a->path, strerror(errno));
		r = audit_reopen(a);
		if (r < 0) {
			log_debug("audit: reopen %s: %s", a->path, strerror(-r));
			free(line);
			return;
		}
	}
	/* O_APPEND + one write(): lines never interleave, even with another writer. */
	r = write_all(a->fd, line, len);
	if (r < 0)
		log_debug("audit: write %s: %s", a->path, strerror(-r));
	free(line);
}

/* ------------------------------------------------------------------ reader */

static const char *rstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int rnum(struct json_object *o, const char *key)
{
	struct json_object *v;
	int64_t x;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	x = json_object_get_int64(v);
	return x < 0 || x > 65535 ? 0 : (int)x;
}

static int read_one(const char *path, audit_read_cb cb, void *userdata)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = file_read_all(path, AUDIT_READ_MAX, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (char *line = buf, *next; line < buf + len; line = next) {
		char *nl = memchr(line, '\n', (size_t)(buf + len - line));
		struct json_object *o;
		size_t ll;

		next = nl ? nl + 1 : buf + len;
		ll = (size_t)((nl ? nl : buf + len) - line);
		if (ll == 0 || ll > AUDIT_LINE_MAX)
			continue;
		line[ll] = 0;
		o = json_tokener_parse(line);
		if (o && json_object_is_type(o, json_type_object)) {
			struct audit_record rec = {
				.time = rstr(o, "time"), .sandbox = rstr(o, "sandbox"), .path = rstr(o, "path"),
				.host = rstr(o, "host"), .addr = rstr(o, "addr"), .decision = rstr(o, "decision"),
				.rule = rstr(o, "rule"), .reason = rstr(o, "reason"), .method = rstr(o, "method"),
				.url_path = rstr(o, "url_path"), .port = rnum(o, "port"), .status = rnum(o, "status"),
			};
			if (rec.time && rec.host && rec.decision &&
			    (!strcmp(rec.decision, "allow") || !strcmp(rec.decision, "deny"))) {
				if (!rec.sandbox)
					rec.sandbox = "";
				r = cb(&rec, userdata);
				if (r < 0) {
					json_object_put(o);
					return r;
				}
			}
		}
		json_object_put(o);
	}
	return 0;
}

int audit_read(const struct sbx_paths *p, audit_read_cb cb, void *userdata)
{
	_cleanup_free_ char *path = xasprintf("%s/audit.log", p->state);
	_cleanup_free_ char *path1 = xasprintf("%s/audit.log.1", p->state);
	int r;

	r = read_one(path1, cb, userdata);
	if (r < 0)
		return r;
	return read_one(path, cb, userdata);
}

/* ----------------------------------------------------------------- summary */

struct summary {
	const char *sandbox;
	struct audit_group *g;
	size_t n, cap;
	size_t *table;   /* open addressing: index + 1 into g, 0 = empty */
	size_t tsize;
};

static uint64_t group_hash(const char *sandbox, const char *host, int port, const char *decision)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */
	const char *parts[] = { sandbox, host, decision };

	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		for (const char *c = parts[i]; *c; c++)
			h = (h ^ (uint8_t)*c) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;
	}
	return (h ^ (uint64_t)port) * 1099511628211ull;
}

static void table_insert(struct summary *s, size_t idx)
{
	struct audit_group *g = &s->g[idx];
	size_t h = (size_t)group_hash(g->sandbox, g->host, g->port, g->decision) & (s->tsize - 1);

	while (s->table[h])
		h = (h + 1) & (s->tsize - 1);
	s->table[h] = idx + 1;
}

static int summary_add(const struct audit_record *r, void *userdata)
{
	struct summary *s = userdata;
	struct audit_group *g;
	size_t h;

	if (s->sandbox && strcmp(s->sandbox, r->sandbox))
		return 0;
	if (s->n * 2 >= s->tsize) {
		size_t ns = s->tsize ? s->tsize * 2 : 256;
		free(s->table);
		s->table = xcalloc(ns, sizeof(*s->table));
		s->tsize = ns;
		for (size_t i = 0; i < s->n; i++)
			table_insert(s, i);
	}
	h = (size_t)group_hash(r->sandbox, r->host, r->port, r->decision) & (s->tsize - 1);
	for (; s->table[h]; h = (h + 1) & (s->tsize - 1)) {
		g = &s->g[s->table[h] - 1];
		if (g->port == r->port && !strcmp(g->host, r->host) && !strcmp(g->sandbox, r->sandbox) &&
		    !strcmp(g->decision, r->decision)) {
			g->count++;
			if (strcmp(r->time, g->last_time) >= 0) {
				free(g->last_time);
				free(g->rule);
				free(g->reason);
				free(g->path);
				g->last_time = xstrdup(r->time);
				g->rule = r->rule ? xstrdup(r->rule) : NULL;
				g->reason = r->reason ? xstrdup(r->reason) : NULL;
				g->path = r->path ? xstrdup(r->path) : NULL;
			}
			return 0;
		}
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct audit_group *ng = realloc(s->g, cap * sizeof(*ng));
		if (!ng)
			return -ENOMEM;
		s->g = ng;
		s->cap = cap;
	}
	g = &s->g[s->n];
	*g = (struct audit_group){
		.sandbox = xstrdup(r->sandbox), .host = xstrdup(r->host), .decision = xstrdup(r->decision),
		.last_time = xstrdup(r->time), .rule = r->rule ? xstrdup(r->rule) : NULL,
		.reason = r->reason ? xstrdup(r->reason) : NULL, .path = r->path ? xstrdup(r->path) : NULL,
		.port = r->port, .count = 1,
	};
	s->table[h] = ++s->n;
	return 0;
}

static int group_cmp(const void *a, const void *b)
{
	const struct audit_group *x = a, *y = b;
	bool xd = !strcmp(x->decision, "deny"), yd = !strcmp(y->decision, "deny");
	int c;

	if (xd != yd)
		return xd ? -1 : 1;
	c = strcmp(y->last_time, x->last_time);
	if (c)
		return c;
	return x->count == y->count ? 0 : x->count > y->count ? -1 : 1;
}

void audit_summary_free(struct audit_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(g[i].sandbox);
		free(g[i].host);
		free(g[i].decision);
		free(g[i].last_time);
		free(g[i].rule);
		free(g[i].reason);
		free(g[i].path);
	}
	free(g);
}

int audit_summary(const struct sbx_paths *p, const char *sandbox, struct audit_group **ret, size_t *ret_n)
{
	struct summary s = { .sandbox = sandbox };
	int r;

	r = audit_read(p, summary_add, &s);
	free(s.table);
	if (r < 0) {
		audit_summary_free(s.g, s.n);
		return r;
	}
	if (s.n)
		qsort(s.g, s.n, sizeof(*s.g), group_cmp);
	*ret = s.g;
	*ret_n = s.n;
	return 0;
}
