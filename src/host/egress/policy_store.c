// SPDX-License-Identifier: MIT
/* policy_store.c: config/policy.json (read strictly, written atomically under a lock)
 * and the presets (recipes of rules under share/sbx/policies or built in). */
#include "policy_int.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_get.h"
#include "names.h"
#include "util.h"

#define POLICY_FILE_MAX (4u << 20)
#define PRESET_FILE_MAX (256u << 10)

static char *policy_path(const struct sbx_paths *p)
{
	return xasprintf("%s/policy.json", p->config);
}

static int policy_from_json(struct json_object *root, struct policy *pol, const char **ret_err)
{
	struct json_object *rules, *v;
	size_t n;

	if (!json_object_is_type(root, json_type_object)) {
		*ret_err = "not a JSON object";
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "preset", &v) && !json_object_is_type(v, json_type_null)) {
		const char *ps = json_object_get_string(v);
		if (!json_object_is_type(v, json_type_string) || !policy_preset_known(ps)) {
			*ret_err = "unknown preset";
			return -EINVAL;
		}
		pol->preset = xstrdup(ps);
	}
	if (json_object_object_get_ex(root, "next_id", &v)) {
		int64_t x = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || x < 1 || x > INT32_MAX / 2) {
			*ret_err = "bad next_id";
			return -EINVAL;
		}
		pol->next_id = (int)x;
	}
	if (!json_object_object_get_ex(root, "rules", &rules))
		return 0;
	if (!json_object_is_type(rules, json_type_array) || (n = json_object_array_length(rules)) > POLICY_RULES_MAX) {
		*ret_err = "\"rules\" is not an array (or too long)";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(rules, i), *idv, *sbv;
		const char *action, *resource, *origin, *err = "invalid rule";
		struct rule r;
		int64_t id;
		int rr;

		if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "id", &idv) ||
		    !json_object_is_type(idv, json_type_int)) {
			*ret_err = "rule without an integer id";
			return -EINVAL;
		}
		id = json_object_get_int64(idv);
		action = json_get_str(o, "action");
		resource = json_get_str(o, "resource");
		origin = json_get_str(o, "origin");
		if (id < 1 || id > INT32_MAX / 2 || !action || (strcmp(action, "allow") && strcmp(action, "deny")) ||
		    !resource) {
			*ret_err = "rule with a bad id, action or resource";
			return -EINVAL;
		}
		for (size_t j = 0; j < pol->n; j++)
			if (pol->rules[j].id == id) {
				*ret_err = "duplicate rule id";
				return -EINVAL;
			}
		rr = policy_rule_parse(resource, &r, &err);
		if (rr < 0) {
			policy_rule_clear(&r);
			*ret_err = err;
			return rr;
		}
		if (json_object_object_get_ex(o, "sandbox", &sbv) && !json_object_is_type(sbv, json_type_null)) {
			if (!json_object_is_type(sbv, json_type_string) || !name_valid(json_object_get_string(sbv))) {
				policy_rule_clear(&r);
				*ret_err = "rule with a bad sandbox name";
				return -EINVAL;
			}
			r.sandbox = xstrdup(json_object_get_string(sbv));
		}
		r.id = (int)id;
		r.action = strcmp(action, "allow") ? POLICY_DENY : POLICY_ALLOW;
		r.from_preset = origin && !strcmp(origin, "preset");
		rr = policy_push(pol, &r);
		if (rr < 0) {
			policy_rule_clear(&r);
			return rr;
		}
		if (id >= pol->next_id)
			pol->next_id = (int)id + 1;
	}
	return 0;
}

int policy_load_ex(const struct sbx_paths *p, struct policy **ret, const char **ret_err)
{
	_cleanup_free_ char *path = policy_path(p);
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct json_tokener *tok;
	struct json_object *root;
	struct policy *pol;
	const char *err = "invalid policy file";
	struct stat st;
	size_t len;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* Read through the same fd we stat'ed: the stamp matches the content. */
	{
		_cleanup_free_ char *fdpath = xasprintf("/proc/self/fd/%d", fd);
		r = file_read_all(fdpath, POLICY_FILE_MAX, &buf, &len);
		if (r < 0) {
			if (ret_err)
				*ret_err = r == -EFBIG ? "policy file too large" : "cannot read the policy file";
			return r;
		}
	}
	tok = json_tokener_new();
	root = json_tokener_parse_ex(tok, buf, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		json_tokener_free(tok);
		json_object_put(root);
		if (ret_err)
			*ret_err = "policy file is not valid JSON";
		return -EINVAL;
	}
	json_tokener_free(tok);
	pol = policy_new();
	r = policy_from_json(root, pol, &err);
	json_object_put(root);
	if (r < 0) {
		log_debug("policy: %s: %s", path, err);
		policy_free(pol);
		if (ret_err)
			*ret_err = err;
		return r;
	}
	pol->st = st;
	pol->have_stat = true;
	*ret = pol;
	return 0;
}

int policy_load(const struct sbx_paths *p, struct policy **ret)
{
	return policy_load_ex(p, ret, NULL);
}

bool policy_stale(const struct sbx_paths *p, const struct policy *pol)
{
	_cleanup_free_ char *path = policy_path(p);

	return file_changed_since(path, pol->have_stat, &pol->st);
}

int policy_save(const struct sbx_paths *p, struct policy *pol)
{
	_cleanup_free_ char *path = policy_path(p);
	struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
	const char *text;
	struct stat st;
	int r;

	json_object_object_add(root, "preset", pol->preset ? json_object_new_string(pol->preset) : NULL);
	json_object_object_add(root, "next_id", json_object_new_int(pol->next_id));
	for (size_t i = 0; i < pol->n; i++) {
		const struct rule *ru = &pol->rules[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int(ru->id));
		json_object_object_add(o, "action", json_object_new_string(ru->action == POLICY_ALLOW ? "allow" : "deny"));
		json_object_object_add(o, "resource", json_object_new_string(ru->resource));
		json_object_object_add(o, "sandbox", ru->sandbox ? json_object_new_string(ru->sandbox) : NULL);
		json_object_object_add(o, "origin", json_object_new_string(ru->from_preset ? "preset" : "user"));
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "rules", arr);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	r = file_write_atomic(path, text, strlen(text), 0600);
	json_object_put(root);
	if (r < 0)
		return r;
	if (stat(path, &st) == 0) {
		pol->st = st;
		pol->have_stat = true;
	}
	return 0;
}

int policy_remove_file(const struct sbx_paths *p)
{
	_cleanup_free_ char *path = policy_path(p);

	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int policy_lock(const struct sbx_paths *p)
{
	_cleanup_free_ char *path = xasprintf("%s/policy.lock", p->config);

	return file_lock(path, LOCK_EX);
}

/* ---------------------------------------------------------------- presets */

static const char *const presets[] = { "allow-all", "balanced", "deny-all" };

bool policy_preset_known(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(presets); i++)
		if (!strcmp(name, presets[i]))
			return true;
	return false;
}

void policy_strv_free(char **v)
{
	for (char **x = v; x && *x; x++)
		free(*x);
	free(v);
}

int policy_preset_read(const struct sbx_paths *p, const char *name, char ***ret, int *ret_line)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	char **v = NULL, *line, *save = NULL;
	size_t n = 0;
	int lineno = 0, r;

	if (!policy_preset_known(name))
		return -ENOENT;
	path = xasprintf("%s/policy/%s", p->recipes, name);
	r = file_read_all(path, PRESET_FILE_MAX, &buf, NULL);
	if (r < 0)
		return r;
	v = xcalloc(1, sizeof(*v));
	/* strtok_r would merge empty lines and lose the numbering; split by hand. */
	for (line = buf; line; line = save) {
		char *nl = strchr(line, '\n'), *hash;
		char *norm = NULL;
		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = 0;
		lineno++;
		if ((hash = strchr(line, '#')))
			*hash = 0;
		line += strspn(line, " \t\r");
		line[strcspn(line, "\r")] = 0;
		{
			size_t l = strlen(line);
			while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t'))
				line[--l] = 0;
			if (l == 0)
				continue;
		}
		if (policy_resource_normalize(line, &norm, NULL) < 0) {
			policy_strv_free(v);
			if (ret_line)
				*ret_line = lineno;
			return -EINVAL;
		}
		{
			char **nv = realloc(v, (n + 2) * sizeof(*v));
			if (!nv) {
				free(norm);
				policy_strv_free(v);
				return -ENOMEM;
			}
			v = nv;
			v[n++] = norm;
			v[n] = NULL;
		}
	}
	*ret = v;
	return 0;
}

int policy_apply_preset(const struct sbx_paths *p, struct policy *pol, const char *name)
{
	char **list = NULL;
	int r;

	r = policy_preset_read(p, name, &list, NULL);
	if (r < 0)
		return r;
	for (size_t i = 0; i < pol->n;) {
		if (pol->rules[i].from_preset)
			policy_delete_at(pol, i);
		else
			i++;
	}
	for (char **x = list; *x; x++) {
		r = policy_add(pol, POLICY_ALLOW, *x, NULL, true, NULL, NULL);
		if (r < 0) {
			policy_strv_free(list);
			return r;
		}
	}
	policy_strv_free(list);
	free(pol->preset);
	pol->preset = xstrdup(name);
	return 0;
}
