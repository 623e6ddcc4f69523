// SPDX-License-Identifier: MIT
/* policy_file.c: the policy as a file: the text and JSON forms (parsed strictly from
 * hostile bytes) and the export of a loaded policy (import: policy_file_apply.c). */
#include "policy_file.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "policy_int.h"
#include "util.h"

void policy_file_free(struct policy_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->rules[i].resource);
		free(f->rules[i].sandbox);
	}
	free(f->rules);
	free(f->preset);
	free(f);
}

char *policy_errf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	return s;
}

char *policy_quote(const char *s)
{
	size_t n = strnlen(s, 64);
	char *q = xmalloc(n + 4);
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		q[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[n])
		q[k++] = '.', q[k++] = '.', q[k++] = '.';
	q[k] = 0;
	return q;
}

/* Add a rule (resource validated and normalised, sandbox validated); duplicates dropped. */
static int file_add_rule(struct policy_file *f, enum policy_action action, const char *resource, const char *sandbox,
			 char **ret_err)
{
	const char *why = NULL;
	char *norm = NULL;

	if (sandbox && !name_valid(sandbox)) {
		_cleanup_free_ char *q = policy_quote(sandbox);
		*ret_err = policy_errf("invalid sandbox name '%s'", q);
		return -EINVAL;
	}
	if (policy_resource_normalize(resource, &norm, &why) < 0) {
		_cleanup_free_ char *q = policy_quote(resource);
		*ret_err = policy_errf("invalid rule '%s': %s", q, why ? why : "invalid");
		return -EINVAL;
	}
	for (size_t i = 0; i < f->n; i++)
		if (f->rules[i].action == action && !strcmp(f->rules[i].resource, norm) &&
		    streq_null(f->rules[i].sandbox, sandbox)) {
			free(norm);
			return 0;
		}
	if (f->n >= POLICY_RULES_MAX) {
		free(norm);
		*ret_err = policy_errf("more than %d rules", POLICY_RULES_MAX);
		return -EINVAL;
	}
	if ((f->n & (f->n - 1)) == 0) { /* capacity: the next power of two */
		size_t cap = f->n ? f->n * 2 : 1;
		struct policy_file_rule *nr = realloc(f->rules, cap * sizeof(*nr));
		if (!nr)
			die("out of memory");
		f->rules = nr;
	}
	f->rules[f->n++] = (struct policy_file_rule){ action, norm, sandbox ? xstrdup(sandbox) : NULL };
	return 0;
}

static int set_preset(struct policy_file *f, const char *name, char **ret_err)
{
	if (f->preset) {
		*ret_err = policy_errf("a second preset (a file names at most one)");
		return -EINVAL;
	}
	if (!policy_preset_known(name)) {
		_cleanup_free_ char *q = policy_quote(name);
		*ret_err = policy_errf("unknown preset '%s' (allow-all, balanced or deny-all)", q);
		return -EINVAL;
	}
	f->preset = xstrdup(name);
	return 0;
}

/* One line of the text form, comment already cut; modified in place. */
static int text_line(struct policy_file *f, char *line, bool *seen_version, char **ret_err)
{
	char *tok[4], *save = NULL;
	size_t n = 0;

	for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == ARRAY_SIZE(tok)) {
			*ret_err = policy_errf("too many words");
			return -EINVAL;
		}
		tok[n++] = t;
	}
	if (n == 0)
		return 0;
	if (!strcmp(tok[0], "version")) {
		if (n != 2 || strcmp(tok[1], "1") || *seen_version) {
			*ret_err = policy_errf(*seen_version ? "a second version line" : "unsupported version (this sbx reads version 1)");
			return -EINVAL;
		}
		*seen_version = true;
		return 0;
	}
	if (!strcmp(tok[0], "preset")) {
		if (n != 2) {
			*ret_err = policy_errf("usage: preset NAME");
			return -EINVAL;
		}
		return set_preset(f, tok[1], ret_err);
	}
	if (!strcmp(tok[0], "allow") || !strcmp(tok[0], "deny")) {
		const char *sandbox = NULL;
		if (n < 2 || n > 3) {
			*ret_err = policy_errf("usage: %s RESOURCE [sandbox=NAME]", tok[0]);
			return -EINVAL;
		}
		if (n == 3) {
			if (strncmp(tok[2], "sandbox=", 8)) {
				_cleanup_free_ char *q = policy_quote(tok[2]);
				*ret_err = policy_errf("unexpected '%s' (a scope is written sandbox=NAME)", q);
				return -EINVAL;
			}
			sandbox = tok[2] + 8;
		}
		return file_add_rule(f, strcmp(tok[0], "allow") ? POLICY_DENY : POLICY_ALLOW, tok[1], sandbox, ret_err);
	}
	{
		_cleanup_free_ char *q = policy_quote(tok[0]);
		*ret_err = policy_errf("unknown directive '%s' (allow, deny, preset or version)", q);
	}
	return -EINVAL;
}

static int parse_text(struct policy_file *f, const char *buf, size_t len, int *ret_line, char **ret_err)
{
	bool seen_version = false;
	size_t pos = 0;
	int lineno = 0;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		char line[POLICY_FILE_LINE_MAX + 1], *hash;
		int r;

		lineno++;
		*ret_line = lineno;
		if (l > POLICY_FILE_LINE_MAX) {
			*ret_err = policy_errf("line longer than %d bytes", POLICY_FILE_LINE_MAX);
			return -EINVAL;
		}
		memcpy(line, buf + pos, l);
		line[l] = 0;
		pos += l + (nl ? 1 : 0);
		if (strlen(line) != l) {
			*ret_err = policy_errf("a NUL byte");
			return -EINVAL;
		}
		if ((hash = strchr(line, '#')))
			*hash = 0;
		for (size_t k = strlen(line); k > 0 && strchr(" \t\r", line[k - 1]); k--)
			line[k - 1] = 0; /* CRLF files too */
		for (char *c = line; *c; c++)
			if ((unsigned char)*c < 0x20 && *c != '\t') {
				*ret_err = policy_errf("a control character (0x%02x)", (unsigned char)*c);
				return -EINVAL;
			}
		r = text_line(f, line, &seen_version, ret_err);
		if (r < 0)
			return r;
	}
	*ret_line = 0;
	return 0;
}

/* Line of byte offset off (1-based). */
static int line_of(const char *buf, size_t len, size_t off)
{
	int line = 1;

	for (size_t i = 0; i < off && i < len; i++)
		line += buf[i] == '\n';
	return line;
}

static bool only_keys(struct json_object *o, const char *const *keys, const char **ret_bad)
{
	json_object_object_foreach(o, k, v) {
		bool known = false;
		(void)v;
		for (const char *const *x = keys; *x; x++)
			known |= !strcmp(k, *x);
		if (!known) {
			*ret_bad = k;
			return false;
		}
	}
	return true;
}

static int json_rules(struct policy_file *f, struct json_object *rules, char **ret_err)
{
	static const char *const rule_keys[] = { "action", "resource", "sandbox", NULL };
	size_t n;

	if (!json_object_is_type(rules, json_type_array) || (n = json_object_array_length(rules)) > POLICY_RULES_MAX) {
		*ret_err = policy_errf("\"rules\" is not an array of at most %d rules", POLICY_RULES_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(rules, i), *a, *res, *sb = NULL;
		const char *bad = NULL, *action;
		char *err = NULL;

		if (!json_object_is_type(o, json_type_object) || !only_keys(o, rule_keys, &bad) ||
		    !json_object_object_get_ex(o, "action", &a) || !json_object_is_type(a, json_type_string) ||
		    !json_object_object_get_ex(o, "resource", &res) || !json_object_is_type(res, json_type_string) ||
		    (json_object_object_get_ex(o, "sandbox", &sb) && !json_object_is_type(sb, json_type_null) &&
		     !json_object_is_type(sb, json_type_string))) {
			_cleanup_free_ char *q = bad ? policy_quote(bad) : NULL;
			*ret_err = bad ? policy_errf("rules[%zu]: unknown key '%s'", i, q)
				       : policy_errf("rules[%zu]: not {\"action\", \"resource\", \"sandbox\"} with strings", i);
			return -EINVAL;
		}
		action = json_object_get_string(a);
		if (strcmp(action, "allow") && strcmp(action, "deny")) {
			*ret_err = policy_errf("rules[%zu]: action is allow or deny", i);
			return -EINVAL;
		}
		if (strlen(json_object_get_string(res)) != (size_t)json_object_get_string_len(res) ||
		    (sb && json_object_is_type(sb, json_type_string) &&
		     strlen(json_object_get_string(sb)) != (size_t)json_object_get_string_len(sb))) {
			*ret_err = policy_errf("rules[%zu]: a NUL byte", i);
			return -EINVAL;
		}
		if (file_add_rule(f, strcmp(action, "allow") ? POLICY_DENY : POLICY_ALLOW, json_object_get_string(res),
				  sb && json_object_is_type(sb, json_type_string) ? json_object_get_string(sb) : NULL,
				  &err) < 0) {
			*ret_err = policy_errf("rules[%zu]: %s", i, err);
			free(err);
			return -EINVAL;
		}
	}
	return 0;
}

static int json_top(struct policy_file *f, struct json_object *root, char **ret_err)
{
	static const char *const top_keys[] = { "version", "preset", "rules", NULL };
	struct json_object *v;
	const char *bad = NULL;

	if (!json_object_is_type(root, json_type_object)) {
		*ret_err = policy_errf("not a JSON object");
		return -EINVAL;
	}
	if (!only_keys(root, top_keys, &bad)) {
		_cleanup_free_ char *q = policy_quote(bad);
		*ret_err = policy_errf("unknown key '%s'", q);
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "version", &v) &&
	    (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 1)) {
		*ret_err = policy_errf("unsupported version (this sbx reads version 1)");
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "preset", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string)) {
			*ret_err = policy_errf("\"preset\" is not a string");
			return -EINVAL;
		}
		if (set_preset(f, json_object_get_string(v), ret_err) < 0)
			return -EINVAL;
	}
	if (json_object_object_get_ex(root, "rules", &v))
		return json_rules(f, v, ret_err);
	return 0;
}

static int parse_json(struct policy_file *f, const char *buf, size_t len, int *ret_line, char **ret_err)
{
	struct json_tokener *tok = json_tokener_new_ex(32);
	struct json_object *root;
	int r;

	if (!tok)
		die("out of memory");
	root = json_tokener_parse_ex(tok, buf, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success || json_tokener_get_parse_end(tok) < len) {
		size_t end = json_tokener_get_parse_end(tok);
		bool trailing = root && json_tokener_get_error(tok) == json_tokener_success;
		/* only blanks may follow the object */
		if (trailing && strspn(buf + end, " \t\r\n") == len - end && !memchr(buf + end, 0, len - end))
			goto parsed;
		*ret_line = line_of(buf, len, end);
		*ret_err = policy_errf("not valid JSON (%s)", trailing ? "something after the object"
								: json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(root);
		json_tokener_free(tok);
		return -EINVAL;
	}
parsed:
	json_tokener_free(tok);
	r = json_top(f, root, ret_err);
	json_object_put(root);
	return r;
}

int policy_file_parse(const char *buf, size_t len, struct policy_file **ret, int *ret_line, char **ret_err)
{
	struct policy_file *f;
	size_t skip = 0;
	int line = 0, r;

	if (len > POLICY_FILE_BYTES_MAX) {
		*ret_err = policy_errf("larger than %u bytes", POLICY_FILE_BYTES_MAX);
		if (ret_line)
			*ret_line = 0;
		return -EINVAL;
	}
	f = xcalloc(1, sizeof(*f));
	while (skip < len && strchr(" \t\r\n", buf[skip]) && buf[skip])
		skip++;
	if (skip < len && buf[skip] == '{')
		r = parse_json(f, buf, len, &line, ret_err);
	else
		r = parse_text(f, buf, len, &line, ret_err);
	if (ret_line)
		*ret_line = r < 0 ? line : 0;
	if (r < 0) {
		policy_file_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

/* ---------------------------------------------------------------- export */

static bool in_list(char *const *list, const char *s)
{
	for (char *const *x = list; x && *x; x++)
		if (!strcmp(*x, s))
			return true;
	return false;
}

/* The policy's preset-derived rules are exactly the preset's list. */
static bool preset_intact(const struct policy *pol, char *const *preset_rules)
{
	size_t want = 0, have = 0;

	if (!pol->preset || !preset_rules)
		return false;
	for (char *const *x = preset_rules; *x; x++) {
		bool found = false;
		want++;
		for (size_t i = 0; i < pol->n && !found; i++)
			found = pol->rules[i].from_preset && pol->rules[i].action == POLICY_ALLOW && !pol->rules[i].sandbox &&
				!strcmp(pol->rules[i].resource, *x);
		if (!found)
			return false;
	}
	for (size_t i = 0; i < pol->n; i++) {
		const struct rule *ru = &pol->rules[i];
		if (!ru->from_preset)
			continue;
		if (ru->action != POLICY_ALLOW || ru->sandbox || !in_list(preset_rules, ru->resource))
			return false;
		have++;
	}
	return have == want;
}

static void scope_sort(struct policy_file_rule *v, size_t n);

struct policy_file *policy_file_from_policy(const struct policy *pol, char *const *preset_rules, bool *ret_expanded)
{
	struct policy_file *f = xcalloc(1, sizeof(*f));
	bool intact = preset_intact(pol, preset_rules);

	if (intact)
		f->preset = xstrdup(pol->preset);
	if (ret_expanded)
		*ret_expanded = !intact && pol->preset;
	for (size_t i = 0; i < pol->n; i++) {
		const struct rule *ru = &pol->rules[i];
		char *err = NULL;
		if (intact && ru->from_preset)
			continue;
		if (file_add_rule(f, ru->action, ru->resource, ru->sandbox, &err) < 0)
			free(err); /* cannot happen: the store holds valid rules */
	}
	scope_sort(f->rules, f->n);
	return f;
}

struct scoped {
	const struct policy_file_rule *r;
	size_t i;
};

static int cmp_scope(const void *a, const void *b)
{
	const struct scoped *x = a, *y = b;
	int c;

	if (!x->r->sandbox || !y->r->sandbox)
		c = !!x->r->sandbox - !!y->r->sandbox;
	else
		c = strcmp(x->r->sandbox, y->r->sandbox);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Global rules first, then each sandbox's in name order; the order within a scope kept. */
static void scope_sort(struct policy_file_rule *v, size_t n)
{
	struct scoped *s = xcalloc(n ? n : 1, sizeof(*s));
	struct policy_file_rule *copy = xcalloc(n ? n : 1, sizeof(*copy));

	for (size_t i = 0; i < n; i++)
		s[i] = (struct scoped){ &v[i], i };
	qsort(s, n, sizeof(*s), cmp_scope);
	for (size_t i = 0; i < n; i++)
		copy[i] = *s[i].r;
	if (n)
		memcpy(v, copy, n * sizeof(*v));
	free(copy);
	free(s);
}

char *policy_file_format_text(const struct policy_file *f)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	const char *scope = "";
	struct policy_file_rule *sorted;

	if (!m)
		die("out of memory");
	fprintf(m, "# sbx network policy (format: docs/policy-file.md, sbx help policy)\n"
		   "# allow|deny RESOURCE [sandbox=NAME]; deny wins; no match = deny\n"
		   "version 1\n");
	if (f->preset)
		fprintf(m, "preset %s\n", f->preset);
	sorted = xcalloc(f->n ? f->n : 1, sizeof(*sorted));
	if (f->n)
		memcpy(sorted, f->rules, f->n * sizeof(*sorted));
	scope_sort(sorted, f->n);
	for (size_t i = 0; i < f->n; i++) {
		const struct policy_file_rule *r = &sorted[i];
		const char *s = r->sandbox ? r->sandbox : "";
		if (i == 0 || strcmp(s, scope)) {
			if (r->sandbox)
				fprintf(m, "\n# sandbox %s only\n", r->sandbox);
			else
				fprintf(m, "\n# every sandbox\n");
			scope = s;
		}
		fprintf(m, "%s %s%s%s\n", r->action == POLICY_ALLOW ? "allow" : "deny", r->resource,
			r->sandbox ? " sandbox=" : "", r->sandbox ? r->sandbox : "");
	}
	free(sorted);
	if (fclose(m) != 0)
		die("out of memory");
	return out;
}

char *policy_file_format_json(const struct policy_file *f)
{
	struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
	char *out;

	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "preset", f->preset ? json_object_new_string(f->preset) : NULL);
	for (size_t i = 0; i < f->n; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "action", json_object_new_string(f->rules[i].action == POLICY_ALLOW ? "allow" : "deny"));
		json_object_object_add(o, "resource", json_object_new_string(f->rules[i].resource));
		json_object_object_add(o, "sandbox", f->rules[i].sandbox ? json_object_new_string(f->rules[i].sandbox) : NULL);
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "rules", arr);
	out = xasprintf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
									    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return out;
}
