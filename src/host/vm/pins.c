// SPDX-License-Identifier: MIT
/* pins.c: pinned versions in recipes, npm registry answers, and the pin rewrite of `sbx template update`. */
#include "pins.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define DIGITS "0123456789"
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789._-~"
#define TAIL_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-"

static char *dupn(const char *s, size_t n)
{
	char *d = xcalloc(1, n + 1);

	memcpy(d, s, n);
	return d;
}

/* A number of 1..9 digits at s; its length, 0 when none. */
static size_t num_len(const char *s)
{
	size_t n = strspn(s, DIGITS);

	return n >= 1 && n <= 9 ? n : 0;
}

bool pin_version_ok(const char *v)
{
	size_t n, len = v ? strlen(v) : 0;
	const char *p = v;

	if (len == 0 || len > PIN_VERSION_MAX)
		return false;
	for (int i = 0; i < 3; i++) {
		if (!(n = num_len(p)))
			return false;
		p += n;
		if (i < 2 && *p++ != '.')
			return false;
	}
	if (*p == 0)
		return true;
	return (*p == '-' || *p == '+') && p[1] && strspn(p + 1, TAIL_CHARS) == strlen(p + 1);
}

bool pin_version_release(const char *v)
{
	return pin_version_ok(v) && !strchr(v, '-');
}

int pin_version_cmp(const char *a, const char *b)
{
	for (int i = 0; i < 3; i++) {
		unsigned long x = strtoul(a, (char **)&a, 10), y = strtoul(b, (char **)&b, 10);
		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
	}
	/* build metadata (+...) does not order; a prerelease (-...) comes before its release */
	if ((*a == '-') != (*b == '-'))
		return *a == '-' ? -1 : 1;
	return *a == '-' ? (strcmp(a, b) > 0) - (strcmp(a, b) < 0) : 0;
}

static bool npm_name_ok(const char *s)
{
	size_t n = strlen(s);
	const char *slash;

	if (n == 0 || n > 214)
		return false;
	if (s[0] == '@') {
		slash = strchr(s, '/');
		if (!slash || slash == s + 1 || !slash[1] || strchr(slash + 1, '/'))
			return false;
		return strspn(s + 1, NAME_CHARS) == (size_t)(slash - s - 1) && strspn(slash + 1, NAME_CHARS) == strlen(slash + 1) &&
		       slash[1] != '.' && s[1] != '.';
	}
	return strspn(s, NAME_CHARS) == n && s[0] != '.' && s[0] != '_';
}

int pin_split(const char *spec, char **ret_name, char **ret_version)
{
	const char *at;
	_cleanup_free_ char *name = NULL, *ver = NULL;

	if (!spec || !*spec)
		return -EINVAL;
	at = strchr(spec + 1, '@'); /* a scope's '@' is the first byte */
	if (at) {
		name = dupn(spec, (size_t)(at - spec));
		ver = xstrdup(at + 1);
		if (!pin_version_ok(ver))
			return -EINVAL;
	} else {
		name = xstrdup(spec);
	}
	if (!npm_name_ok(name))
		return -EINVAL;
	*ret_name = TAKE_PTR(name);
	*ret_version = TAKE_PTR(ver);
	return 0;
}

static struct json_object *doc_parse(const char *json, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (!json || len == 0 || len > NPM_DOC_MAX || len > INT32_MAX)
		return NULL;
	tok = json_tokener_new_ex(64);
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, json, (int)len);
	/* one JSON value, then only white space */
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  strspn(json + json_tokener_get_parse_end(tok), " \t\r\n") != len - json_tokener_get_parse_end(tok))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

int npm_latest_parse(const char *json, size_t len, char **ret_version)
{
	struct json_object *o = doc_parse(json, len), *v;
	int r = -EBADMSG;

	if (o && json_object_object_get_ex(o, "version", &v) && json_object_is_type(v, json_type_string) &&
	    pin_version_ok(json_object_get_string(v))) {
		*ret_version = xstrdup(json_object_get_string(v));
		r = 0;
	}
	json_object_put(o);
	return r;
}

int npm_newest_in_major(const char *json, size_t len, unsigned major, char **ret_version)
{
	struct json_object *o = doc_parse(json, len), *vs;
	const char *best = NULL;
	int r;

	if (!o || !json_object_object_get_ex(o, "versions", &vs) || !json_object_is_type(vs, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	json_object_object_foreach(vs, k, val) {
		(void)val;
		if (!pin_version_release(k) || strtoul(k, NULL, 10) != major)
			continue;
		if (!best || pin_version_cmp(k, best) > 0)
			best = k;
	}
	r = best ? 0 : -ENOENT;
	if (best)
		*ret_version = xstrdup(best);
	json_object_put(o);
	return r;
}

static const struct pin_change *change_find(const struct pin_change *ch, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ch[i].name, name))
			return &ch[i];
	return NULL;
}

/* One "node" or "npm" line (without its newline) rewritten onto f; false: keep it. */
static bool line_rewrite(FILE *f, const char *line, size_t len, const struct pin_change *ch, size_t n)
{
	_cleanup_free_ char *l = dupn(line, len);
	char *hash = strchr(l, '#'), *key, *val, *save = NULL, *comment = NULL;
	bool node, changed = false;
	char *out = NULL;
	size_t out_len = 0;
	FILE *o;

	if (hash) {
		comment = xstrdup(hash);
		*hash = 0;
	}
	key = l + strspn(l, " \t");
	val = key + strcspn(key, " \t");
	if (*val)
		*val++ = 0;
	node = !strcmp(key, "node");
	if (!node && strcmp(key, "npm")) {
		free(comment);
		return false;
	}
	o = open_memstream(&out, &out_len);
	if (!o)
		die("out of memory");
	fprintf(o, "%.*s%s", (int)(key - l), l, key);
	for (char *w = strtok_r(val, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
		_cleanup_free_ char *name = NULL, *ver = NULL;
		const struct pin_change *c = NULL;
		if (node)
			c = change_find(ch, n, "node");
		else if (pin_split(w, &name, &ver) == 0)
			c = change_find(ch, n, name);
		if (c && node)
			fprintf(o, " %s", c->version);
		else if (c)
			fprintf(o, " %s@%s", name, c->version);
		else
			fprintf(o, " %s", w);
		changed |= c != NULL;
	}
	if (comment)
		fprintf(o, " %s", comment);
	fclose(o);
	if (changed)
		fputs(out, f);
	free(out);
	free(comment);
	return changed;
}

int recipe_pins_rewrite(const char *text, const struct pin_change *ch, size_t n, char **ret_text)
{
	char *out = NULL;
	size_t out_len = 0;
	FILE *f;

	if (!text || !ret_text)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!ch[i].name || !pin_version_ok(ch[i].version))
			return -EINVAL;
	f = open_memstream(&out, &out_len);
	if (!f)
		die("out of memory");
	for (const char *l = text; *l;) {
		size_t len = strcspn(l, "\n");
		if (!line_rewrite(f, l, len, ch, n))
			fwrite(l, 1, len, f);
		if (l[len] == '\n')
			fputc('\n', f);
		l += len + (l[len] == '\n');
	}
	fclose(f);
	*ret_text = out;
	return 0;
}

void pins_read_installed(const char *prefix, char *const *specs, size_t n_specs, char ***v, size_t *n)
{
	for (size_t i = 0; i < n_specs; i++) {
		_cleanup_free_ char *name = NULL, *ver = NULL, *path = NULL, *text = NULL;
		struct json_object *o, *jv;
		size_t len = 0;

		if (pin_split(specs[i], &name, &ver) < 0)
			continue;
		path = xasprintf("%s/lib/node_modules/%s/package.json", prefix, name);
		if (file_read_all(path, 1u << 20, &text, &len) < 0)
			continue;
		o = doc_parse(text, len);
		if (o && json_object_object_get_ex(o, "version", &jv) && json_object_is_type(jv, json_type_string) &&
		    pin_version_ok(json_object_get_string(jv))) {
			*v = realloc(*v, (*n + 2) * sizeof(char *));
			if (!*v)
				die("out of memory");
			(*v)[(*n)++] = xasprintf("%s@%s", name, json_object_get_string(jv));
			(*v)[*n] = NULL;
		}
		json_object_put(o);
	}
}
