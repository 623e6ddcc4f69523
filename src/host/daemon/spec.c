// SPDX-License-Identifier: MIT
/* spec.c: sandbox spec: validation and JSON round trip, the agents table. */
#include "spec.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "branch.h"
#include "hostgit.h"
#include "json_get.h"
#include "names.h"
#include "util.h"

struct agent_def {
	const char *name;
	const char *template_name;
	const char *argv[4];
};

static const struct agent_def agents[] = {
	{ "shell", "minimal", { "bash", "-l", NULL } },
	/* The VM is the boundary: each agent runs without its own permission prompts. */
	{ "claude", "agents", { "claude", "--dangerously-skip-permissions", NULL } },
	{ "codex", "agents", { "codex", "--dangerously-bypass-approvals-and-sandbox", NULL } },
	{ "gemini", "agents", { "gemini", "--yolo", NULL } },
	{ "copilot", "agents", { "copilot", "--allow-all-tools", NULL } },
};

static const struct agent_def *agent_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(agents); i++)
		if (name && !strcmp(agents[i].name, name))
			return &agents[i];
	return NULL;
}

bool agent_known(const char *agent) { return agent_find(agent) != NULL; }

const char *const *agent_default_argv(const char *agent)
{
	const struct agent_def *a = agent_find(agent);
	return a ? a->argv : NULL;
}

const char *agent_default_template(const char *agent)
{
	const struct agent_def *a = agent_find(agent);
	return a ? a->template_name : NULL;
}

void spec_free(struct spec *s)
{
	free(s->name);
	free(s->agent);
	free(s->template_name);
	free(s->workspace);
	free(s->branch);
	free(s->repo);
	free(s->git_dir);
	free(s->git_worktree_id);
	free(s->base);
	if (s->env)
		for (char **e = s->env; *e; e++)
			free(*e);
	free(s->env);
	for (char **l = s->local; l && *l; l++)
		free(*l);
	free(s->local);
	memset(s, 0, sizeof(*s));
}

static bool path_ok(const char *p)
{
	return p && p[0] == '/' && strlen(p) <= 1024 && !strstr(p, "/../") && !strchr(p, '\n');
}

int spec_validate(const struct spec *s, const char **ret_err)
{
	size_t n = 0;

	if (!name_valid(s->name))
		return *ret_err = "invalid sandbox name (use 1-63 of A-Z a-z 0-9 _ . -, starting with a letter or digit)", -EINVAL;
	if (!agent_known(s->agent))
		return *ret_err = "unknown agent (known: shell, claude, codex, gemini, copilot)", -EINVAL;
	if (!s->template_name || !name_valid(s->template_name))
		return *ret_err = "invalid template name", -EINVAL;
	if (!path_ok(s->workspace))
		return *ret_err = "workspace must be an absolute path of at most 1024 bytes", -EINVAL;
	if (!!s->branch != !!s->repo || !!s->branch != !!s->git_dir)
		return *ret_err = "branch, repo and git_dir go together", -EINVAL;
	if (s->branch && (!branch_name_valid(s->branch) || !path_ok(s->repo) || !path_ok(s->git_dir)))
		return *ret_err = "invalid branch, repo or git_dir", -EINVAL;
	if (s->git_worktree_id && (!s->branch || !hostgit_id_valid(s->git_worktree_id)))
		return *ret_err = "invalid git_worktree_id", -EINVAL;
	if (s->base && !path_ok(s->base))
		return *ret_err = "invalid base image path", -EINVAL;
	if (s->ws_sync && s->branch)
		return *ret_err = "--workspace-mode sync does not work with --branch yet", -EINVAL;
	if (s->cpus < 1 || s->cpus > 64)
		return *ret_err = "cpus must be between 1 and 64", -EINVAL;
	if (s->memory_mib < 256 || s->memory_mib > 256 * 1024)
		return *ret_err = "memory must be between 256M and 256G", -EINVAL;
	if (s->env)
		for (char **e = s->env; *e; e++, n++)
			if (!env_assignment_valid(*e) || n >= SPEC_MAX_ENV)
				return *ret_err = "invalid environment assignment (want KEY=VALUE)", -EINVAL;
	if (s->ws_sync && s->local && *s->local)
		return *ret_err = "--local does not go with --workspace-mode sync (the sync engine would copy the "
				  "local directories to the host)", -EINVAL;
	n = 0;
	for (char **l = s->local; l && *l; l++, n++) {
		if (n >= LOCAL_DIRS_MAX || !local_dir_valid(*l))
			return *ret_err = "invalid --local directory (a path relative to the workspace, not in .git, "
					  "without . or .. components; at most 16)", -EINVAL;
		for (char **k = s->local; k < l; k++)
			if (!strcmp(*k, *l))
				return *ret_err = "--local names the same directory twice", -EINVAL;
	}
	return portspec_list_check(s->ports, s->n_ports, ret_err);
}

struct json_object *spec_local_json(const struct spec *s)
{
	struct json_object *a = json_object_new_array();

	for (char **l = s->local; l && *l; l++)
		json_object_array_add(a, json_object_new_string(*l));
	return a;
}

int spec_ws_mode_parse(const char *s, bool *ret_sync)
{
	if (!s || (strcmp(s, "share") && strcmp(s, "sync")))
		return -EINVAL;
	*ret_sync = !strcmp(s, "sync");
	return 0;
}

const char *spec_ws_mode_name(const struct spec *s)
{
	return s->ws_sync ? "sync" : "share";
}

struct json_object *spec_to_json(const struct spec *s)
{
	struct json_object *o = json_object_new_object();
	struct json_object *env = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "agent", json_object_new_string(s->agent));
	json_object_object_add(o, "template", json_object_new_string(s->template_name));
	json_object_object_add(o, "workspace", json_object_new_string(s->workspace));
	json_object_object_add(o, "cpus", json_object_new_int(s->cpus));
	json_object_object_add(o, "memory_mib", json_object_new_int(s->memory_mib));
	json_object_object_add(o, "uid", json_object_new_int64(s->uid));
	json_object_object_add(o, "gid", json_object_new_int64(s->gid));
	json_object_object_add(o, "created", json_object_new_int64(s->created));
	if (s->stopped)
		json_object_object_add(o, "stopped", json_object_new_int64(s->stopped));
	if (s->base)
		json_object_object_add(o, "base", json_object_new_string(s->base));
	json_object_object_add(o, "workspace_mode", json_object_new_string(spec_ws_mode_name(s)));
	if (s->env)
		for (char **e = s->env; *e; e++)
			json_object_array_add(env, json_object_new_string(*e));
	json_object_object_add(o, "env", env);
	if (s->local && *s->local)
		json_object_object_add(o, "local", spec_local_json(s));
	if (s->n_ports) {
		struct json_object *ports = json_object_new_array();
		for (size_t i = 0; i < s->n_ports; i++) {
			char t[PORTSPEC_TEXT_MAX];
			portspec_format(&s->ports[i], t, sizeof(t));
			json_object_array_add(ports, json_object_new_string(t));
		}
		json_object_object_add(o, "ports", ports);
	}
	if (s->branch) {
		json_object_object_add(o, "branch", json_object_new_string(s->branch));
		json_object_object_add(o, "repo", json_object_new_string(s->repo));
		json_object_object_add(o, "git_dir", json_object_new_string(s->git_dir));
		if (s->git_worktree_id)
			json_object_object_add(o, "git_worktree_id", json_object_new_string(s->git_worktree_id));
	}
	return o;
}

static bool jint(struct json_object *o, const char *key, int64_t lo, int64_t hi, int64_t *ret)
{
	struct json_object *v;
	int64_t x;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	x = json_object_get_int64(v);
	if (x < lo || x > hi)
		return false;
	*ret = x;
	return true;
}

/* "ports": a list of at most PORTSPEC_MAX "[ADDR:]HOSTPORT:GUESTPORT" strings. */
static int spec_ports_from_json(struct json_object *o, struct spec *s, const char **ret_err)
{
	struct json_object *ports;
	size_t n;

	if (!json_object_object_get_ex(o, "ports", &ports))
		return 0;
	if (!json_object_is_type(ports, json_type_array) || (n = json_object_array_length(ports)) > PORTSPEC_MAX)
		return *ret_err = "spec ports is not a list of at most 32 strings", -EINVAL;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(ports, i);
		if (!json_object_is_type(e, json_type_string))
			return *ret_err = "spec ports entries must be strings", -EINVAL;
		if (portspec_parse(json_object_get_string(e), &s->ports[i], ret_err) < 0)
			return -EINVAL;
		s->n_ports = i + 1;
	}
	return 0;
}

/* "local": a list of at most LOCAL_DIRS_MAX strings (spec_validate checks each). */
static int spec_local_from_json(struct json_object *o, struct spec *s, const char **ret_err)
{
	struct json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(o, "local", &arr))
		return 0;
	if (!json_object_is_type(arr, json_type_array) || (n = json_object_array_length(arr)) > LOCAL_DIRS_MAX)
		return *ret_err = "spec local is not a list of at most 16 strings", -EINVAL;
	s->local = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(e, json_type_string))
			return *ret_err = "spec local entries must be strings", -EINVAL;
		s->local[i] = xstrdup(json_object_get_string(e));
	}
	return 0;
}

int spec_from_json(struct json_object *o, struct spec *ret, const char **ret_err)
{
	struct spec s = { 0 };
	struct json_object *env;
	const char *name = json_get_str(o, "name"), *agent = json_get_str(o, "agent"), *tmpl = json_get_str(o, "template"),
		   *ws = json_get_str(o, "workspace");
	int64_t cpus, mem, uid, gid, created = 0, stopped = 0;
	int r;

	if (!json_object_is_type(o, json_type_object))
		return *ret_err = "spec is not a JSON object", -EINVAL;
	if (!name || !agent || !tmpl || !ws)
		return *ret_err = "spec lacks name, agent, template or workspace", -EINVAL;
	if (!jint(o, "cpus", 1, 64, &cpus) || !jint(o, "memory_mib", 1, 1 << 30, &mem) ||
	    !jint(o, "uid", 0, 0xfffffffe, &uid) || !jint(o, "gid", 0, 0xfffffffe, &gid))
		return *ret_err = "spec has bad cpus, memory_mib, uid or gid", -EINVAL;
	(void)jint(o, "created", 0, INT64_MAX, &created);
	(void)jint(o, "stopped", 0, INT64_MAX, &stopped);
	s.name = xstrdup(name);
	s.agent = xstrdup(agent);
	s.template_name = xstrdup(tmpl);
	s.workspace = xstrdup(ws);
	s.cpus = (unsigned)cpus;
	s.memory_mib = (unsigned)mem;
	s.uid = (uid_t)uid;
	s.gid = (gid_t)gid;
	s.created = created;
	s.stopped = stopped;
	if (json_get_str(o, "branch") || json_get_str(o, "repo") || json_get_str(o, "git_dir")) {
		const char *b = json_get_str(o, "branch"), *rp = json_get_str(o, "repo"), *gd = json_get_str(o, "git_dir");
		s.branch = b ? xstrdup(b) : NULL;
		s.repo = rp ? xstrdup(rp) : NULL;
		s.git_dir = gd ? xstrdup(gd) : NULL;
	}
	if (json_get_str(o, "git_worktree_id"))
		s.git_worktree_id = xstrdup(json_get_str(o, "git_worktree_id"));
	if (json_get_str(o, "base"))
		s.base = xstrdup(json_get_str(o, "base"));
	if (json_object_object_get_ex(o, "workspace_mode", NULL) &&
	    spec_ws_mode_parse(json_get_str(o, "workspace_mode"), &s.ws_sync) < 0) {
		spec_free(&s);
		return *ret_err = "spec workspace_mode is not \"share\" or \"sync\"", -EINVAL;
	}
	if (json_object_object_get_ex(o, "env", &env)) {
		size_t n;
		if (!json_object_is_type(env, json_type_array) || (n = json_object_array_length(env)) > SPEC_MAX_ENV) {
			spec_free(&s);
			return *ret_err = "spec env is not a list of at most 256 strings", -EINVAL;
		}
		s.env = xcalloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(env, i);
			if (!json_object_is_type(e, json_type_string)) {
				spec_free(&s);
				return *ret_err = "spec env entries must be strings", -EINVAL;
			}
			s.env[i] = xstrdup(json_object_get_string(e));
		}
	}
	r = spec_ports_from_json(o, &s, ret_err);
	if (r == 0)
		r = spec_local_from_json(o, &s, ret_err);
	if (r == 0)
		r = spec_validate(&s, ret_err);
	if (r < 0) {
		spec_free(&s);
		return r;
	}
	*ret = s;
	return 0;
}

int spec_save(const struct spec *s, const char *path)
{
	struct json_object *o = spec_to_json(s);
	const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	int r = file_write_atomic(path, txt, strlen(txt), 0600);
	json_object_put(o);
	return r;
}

int spec_load_ex(const char *path, struct spec *ret, char **ret_err)
{
	_cleanup_free_ char *txt = NULL;
	struct json_tokener *tok;
	struct json_object *o;
	const char *err = NULL;
	size_t len;
	int r = file_read_all(path, 1 << 20, &txt, &len);

	if (r < 0) {
		if (ret_err)
			*ret_err = xasprintf("cannot read %s: %s", path, strerror(-r));
		return r;
	}
	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, txt, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		if (ret_err)
			*ret_err = xasprintf("%s is not valid JSON (%s)", path,
					     json_tokener_error_desc(json_tokener_get_error(tok)));
		json_tokener_free(tok);
		json_object_put(o);
		return -EINVAL;
	}
	json_tokener_free(tok);
	r = spec_from_json(o, ret, &err);
	json_object_put(o);
	if (r < 0 && ret_err)
		*ret_err = xasprintf("%s: %s", path, err ? err : "invalid sandbox spec");
	return r;
}

int spec_load(const char *path, struct spec *ret)
{
	return spec_load_ex(path, ret, NULL);
}
