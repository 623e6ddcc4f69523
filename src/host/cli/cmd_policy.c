// SPDX-License-Identifier: MIT
/* cmd_policy.c: `sbx policy`: choose a preset, edit, list, check and audit egress rules. */
#include "cmd.h"
#include "cmd_doc.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "names.h"
#include "policy.h"
#include "util.h"

int cmd_policy_load(const struct sbx_paths *p, const char *sub, struct policy **ret)
{
	const char *err = NULL;
	int r = policy_load_ex(p, ret, &err);

	if (r == -ENOENT)
		fprintf(stderr, "sbx: " POLICY_MISSING_MSG "\n");
	else if (r < 0)
		fprintf(stderr, "sbx policy %s: %s/policy.json: %s; fix it, or start over with 'sbx policy reset -f'\n", sub,
			p->config, err ? err : strerror(-r));
	return r;
}

static void policy_usage(FILE *f)
{
	cmd_help_print(f, "policy");
}

enum {
	OPT_SANDBOX = 1 << 0, OPT_JSON = 1 << 1, OPT_LIMIT = 1 << 2, OPT_ID = 1 << 3,
	OPT_RESOURCE = 1 << 4, OPT_FORCE = 1 << 5, OPT_MERGE = 1 << 6, OPT_YES = 1 << 7,
};

struct popts {
	const char *sandbox, *id, *resource, *limit;
	bool json, force, help, merge, yes;
	char *pos[16];
	int npos;
};

/* Options anywhere after the subcommand; `allowed` is a mask of OPT_*. */
static int popts_parse(const char *sub, int argc, char **argv, unsigned allowed, struct popts *o)
{
	static const struct {
		const char *name;
		unsigned bit;
		bool arg;
	} opts[] = {
		{ "--sandbox", OPT_SANDBOX, true }, { "--json", OPT_JSON, false }, { "--limit", OPT_LIMIT, true },
		{ "--id", OPT_ID, true }, { "--resource", OPT_RESOURCE, true }, { "--force", OPT_FORCE, false },
		{ "-f", OPT_FORCE, false }, { "--merge", OPT_MERGE, false }, { "--yes", OPT_YES, false },
		{ "-y", OPT_YES, false },
	};

	memset(o, 0, sizeof(*o));
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		size_t k;
		bool dashdash_done = false;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			o->help = true;
			continue;
		}
		if (!strcmp(a, "--")) {
			for (i++; i < argc; i++) {
				if (o->npos == (int)ARRAY_SIZE(o->pos))
					goto too_many;
				o->pos[o->npos++] = argv[i];
			}
			dashdash_done = true;
		}
		if (dashdash_done)
			break;
		if (a[0] != '-' || !a[1]) {
			if (o->npos == (int)ARRAY_SIZE(o->pos))
				goto too_many;
			o->pos[o->npos++] = argv[i];
			continue;
		}
		for (k = 0; k < ARRAY_SIZE(opts); k++) {
			size_t nl = strlen(opts[k].name);
			if (!strncmp(a, opts[k].name, nl) && (a[nl] == 0 || (opts[k].arg && a[nl] == '='))) {
				if (a[nl] == '=')
					val = a + nl + 1;
				break;
			}
		}
		if (k == ARRAY_SIZE(opts) || !(allowed & opts[k].bit)) {
			fprintf(stderr, "sbx policy %s: unknown option '%s' (see: sbx policy --help)\n", sub, a);
			return -EINVAL;
		}
		if (opts[k].arg && !val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sbx policy %s: %s needs a value\n", sub, opts[k].name);
				return -EINVAL;
			}
			val = argv[++i];
		}
		switch (opts[k].bit) {
		case OPT_SANDBOX:
			o->sandbox = val;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_LIMIT:
			o->limit = val;
			break;
		case OPT_ID:
			o->id = val;
			break;
		case OPT_RESOURCE:
			o->resource = val;
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		case OPT_MERGE:
			o->merge = true;
			break;
		case OPT_YES:
			o->yes = true;
			break;
		}
	}
	if (o->sandbox && !name_valid(o->sandbox)) {
		fprintf(stderr, "sbx policy %s: invalid sandbox name '%s'\n", sub, o->sandbox);
		return -EINVAL;
	}
	return 0;
too_many:
	fprintf(stderr, "sbx policy %s: too many arguments\n", sub);
	return -EINVAL;
}

static int save_or_report(const struct sbx_paths *p, const char *sub, struct policy *pol)
{
	int r = policy_save(p, pol);
	if (r < 0)
		fprintf(stderr, "sbx policy %s: cannot write %s/policy.json: %s\n", sub, p->config, strerror(-r));
	return r;
}

static size_t count_user_rules(const struct policy *pol)
{
	size_t n = 0;
	for (size_t i = 0; i < policy_rule_count(pol); i++) {
		struct policy_rule_info ri;
		policy_rule_get(pol, i, &ri);
		n += !ri.from_preset;
	}
	return n;
}

static int apply_preset_or_report(const struct sbx_paths *p, struct policy *pol, const char *name)
{
	int r = policy_apply_preset(p, pol, name);

	if (r == -EINVAL) {
		int line = 0;
		char **l = NULL;
		if (policy_preset_read(p, name, &l, &line) == -EINVAL)
			fprintf(stderr, "sbx policy: preset %s/policy/%s: invalid rule on line %d\n", p->recipes, name, line);
		else
			fprintf(stderr, "sbx policy: preset %s: invalid\n", name);
		policy_strv_free(l);
	} else if (r < 0) {
		fprintf(stderr, "sbx policy: cannot read preset %s/policy/%s: %s\n", p->recipes, name, strerror(-r));
	}
	return r;
}

static int policy_init(const struct sbx_paths *p, const char *sub, struct popts *o)
{
	_cleanup_close_ int lock = -1;
	struct policy *pol = NULL;
	const char *err = NULL;
	const char *name;
	int r;

	if (o->npos != 1 || !policy_preset_known(o->pos[0])) {
		fprintf(stderr, "sbx policy %s: choose a preset: allow-all, balanced or deny-all\n", sub);
		return 2;
	}
	name = o->pos[0];
	lock = policy_lock(p);
	if (lock < 0) {
		fprintf(stderr, "sbx policy %s: cannot lock the policy: %s\n", sub, strerror(-lock));
		return 1;
	}
	r = policy_load_ex(p, &pol, &err);
	if (r == -ENOENT) {
		pol = policy_new();
	} else if (r < 0) {
		fprintf(stderr, "sbx policy %s: %s/policy.json: %s; fix it, or start over with 'sbx policy reset -f'\n", sub,
			p->config, err ? err : strerror(-r));
		return 1;
	}
	if (apply_preset_or_report(p, pol, name) < 0 || save_or_report(p, sub, pol) < 0) {
		policy_free(pol);
		return 1;
	}
	printf("Network policy: %s (%zu rule%s", name, policy_rule_count(pol), policy_rule_count(pol) == 1 ? "" : "s");
	if (count_user_rules(pol))
		printf(", %zu of them yours, kept", count_user_rules(pol));
	printf(")\n");
	policy_free(pol);
	return 0;
}

static int split_rules(const char *sub, struct popts *o, char ***ret, size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0;

	for (int i = 1; i < o->npos; i++) {
		_cleanup_free_ char *copy = xstrdup(o->pos[i]);
		for (char *item = copy, *next; item; item = next) {
			char *norm = NULL;
			const char *err = NULL;
			next = strchr(item, ',');
			if (next)
				*next++ = 0;
			if (policy_resource_normalize(item, &norm, &err) < 0) {
				fprintf(stderr, "sbx policy %s: invalid rule '%s': %s\n", sub, item, err);
				policy_strv_free(v);
				return -EINVAL;
			}
			v = realloc(v, (n + 2) * sizeof(*v));
			if (!v)
				die("out of memory");
			v[n++] = norm;
			v[n] = NULL;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int policy_edit(const struct sbx_paths *p, const char *sub, struct popts *o)
{
	enum policy_action action = strcmp(sub, "allow") ? POLICY_DENY : POLICY_ALLOW;
	_cleanup_close_ int lock = -1;
	struct policy *pol = NULL;
	char **rules = NULL;
	size_t n = 0;
	int rc = 1;

	if (o->npos < 1 || strcmp(o->pos[0], "network")) {
		fprintf(stderr, "sbx policy %s: usage: sbx policy %s network [--sandbox NAME] RULE[,RULE...]\n", sub, sub);
		return 2;
	}
	if (o->npos < 2) {
		fprintf(stderr, "sbx policy %s: which destinations? e.g. sbx policy %s network example.com\n", sub, sub);
		return 2;
	}
	if (split_rules(sub, o, &rules, &n) < 0)
		return 2;
	lock = policy_lock(p);
	if (lock < 0) {
		fprintf(stderr, "sbx policy %s: cannot lock the policy: %s\n", sub, strerror(-lock));
		goto out;
	}
	if (cmd_policy_load(p, sub, &pol) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const char *err = NULL;
		int id;
		if (policy_add(pol, action, rules[i], o->sandbox, false, &id, &err) < 0) {
			fprintf(stderr, "sbx policy %s: '%s': %s\n", sub, rules[i], err ? err : "cannot add");
			goto out;
		}
		printf("%s %s%s%s (rule %d)\n", sub, rules[i], o->sandbox ? " for sandbox " : "",
		       o->sandbox ? o->sandbox : "", id);
	}
	if (save_or_report(p, sub, pol) < 0)
		goto out;
	rc = 0;
out:
	policy_strv_free(rules);
	policy_free(pol);
	return rc;
}

static const char *scope_text(const char *sandbox, char *buf, size_t len)
{
	if (!sandbox)
		return "global";
	snprintf(buf, len, "sandbox:%s", sandbox);
	return buf;
}

static int policy_ls(const struct sbx_paths *p, struct popts *o)
{
	struct policy *pol = NULL;
	struct json_object *arr = NULL;
	size_t n;

	if (o->npos) {
		fprintf(stderr, "sbx policy ls: unexpected argument '%s'\n", o->pos[0]);
		return 2;
	}
	if (cmd_policy_load(p, "ls", &pol) < 0)
		return 1;
	n = policy_rule_count(pol);
	if (o->json)
		arr = json_object_new_array();
	else
		printf("%-5s %-6s %-40s %-20s %s\n", "ID", "ACTION", "RESOURCE", "SCOPE", "ORIGIN");
	for (size_t i = 0; i < n; i++) {
		struct policy_rule_info ri;
		char sbuf[NAME_MAX_LEN + 16];
		const char *origin;

		policy_rule_get(pol, i, &ri);
		origin = ri.from_preset && policy_preset(pol) ? policy_preset(pol) : "user";
		if (o->json) {
			struct json_object *j = json_object_new_object();
			json_object_object_add(j, "id", json_object_new_int(ri.id));
			json_object_object_add(j, "action", json_object_new_string(ri.action == POLICY_ALLOW ? "allow" : "deny"));
			json_object_object_add(j, "resource", json_object_new_string(ri.resource));
			json_object_object_add(j, "scope", json_object_new_string(ri.sandbox ? "sandbox" : "global"));
			json_object_object_add(j, "sandbox", ri.sandbox ? json_object_new_string(ri.sandbox) : NULL);
			json_object_object_add(j, "origin", json_object_new_string(ri.from_preset ? "preset" : "user"));
			json_object_object_add(j, "preset",
					       ri.from_preset && policy_preset(pol) ? json_object_new_string(policy_preset(pol)) : NULL);
			json_object_array_add(arr, j);
		} else {
			printf("%-5d %-6s %-40s %-20s %s\n", ri.id, ri.action == POLICY_ALLOW ? "allow" : "deny", ri.resource,
			       scope_text(ri.sandbox, sbuf, sizeof(sbuf)), origin);
		}
	}
	if (o->json) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	} else if (n == 0) {
		cmd_note("(no rules: everything is denied; preset %s)\n", policy_preset(pol) ? policy_preset(pol) : "none");
	}
	policy_free(pol);
	return 0;
}

static int policy_rm(const struct sbx_paths *p, struct popts *o)
{
	_cleanup_close_ int lock = -1;
	struct policy *pol = NULL;
	int rc = 1, r;

	if (o->npos != 1 || strcmp(o->pos[0], "network") || !!o->id == !!o->resource) {
		fprintf(stderr, "sbx policy rm: usage: sbx policy rm network --id ID | --resource RULE [--sandbox NAME]\n");
		return 2;
	}
	if (o->id && o->sandbox) {
		fprintf(stderr, "sbx policy rm: --sandbox goes with --resource (an id names one rule already)\n");
		return 2;
	}
	lock = policy_lock(p);
	if (lock < 0) {
		fprintf(stderr, "sbx policy rm: cannot lock the policy: %s\n", strerror(-lock));
		return 1;
	}
	if (cmd_policy_load(p, "rm", &pol) < 0)
		return 1;
	if (o->id) {
		char *end;
		long id = strtol(o->id, &end, 10);
		if (*end || end == o->id || id < 1 || id > INT32_MAX) {
			fprintf(stderr, "sbx policy rm: invalid id '%s'\n", o->id);
			rc = 2;
			goto out;
		}
		r = policy_remove_id(pol, (int)id);
		if (r < 0) {
			fprintf(stderr, "sbx policy rm: no rule with id %ld (see: sbx policy ls)\n", id);
			goto out;
		}
		printf("removed rule %ld\n", id);
	} else {
		const char *err = NULL;
		_cleanup_free_ char *norm = NULL;
		if (policy_resource_normalize(o->resource, &norm, &err) < 0) {
			fprintf(stderr, "sbx policy rm: invalid rule '%s': %s\n", o->resource, err);
			rc = 2;
			goto out;
		}
		r = policy_remove_resource(pol, norm, o->sandbox);
		if (r < 0) {
			fprintf(stderr, "sbx policy rm: no %s rule for '%s'%s%s (see: sbx policy ls)\n",
				o->sandbox ? "sandbox" : "global", norm, o->sandbox ? " in sandbox " : "",
				o->sandbox ? o->sandbox : "");
			goto out;
		}
		printf("removed %d rule%s for %s\n", r, r == 1 ? "" : "s", norm);
	}
	if (save_or_report(p, "rm", pol) < 0)
		goto out;
	rc = 0;
out:
	policy_free(pol);
	return rc;
}

static int policy_check_cmd(const struct sbx_paths *p, struct popts *o)
{
	if (o->npos != 2 || strcmp(o->pos[0], "network")) {
		fprintf(stderr, "sbx policy check: usage: sbx policy check network TARGET [--sandbox NAME]\n");
		return 2;
	}
	return cmd_policy_check(p, o->pos[1], o->sandbox);
}

static int policy_log(const struct sbx_paths *p, struct popts *o)
{
	struct audit_group *g = NULL;
	size_t n = 0, total = 0, limit = SIZE_MAX;
	const char *sandbox = NULL;
	int r;

	if (o->npos > 1) {
		fprintf(stderr, "sbx policy log: usage: sbx policy log [SANDBOX] [--json] [--limit N]\n");
		return 2;
	}
	if (o->npos == 1) {
		sandbox = o->pos[0];
		if (!name_valid(sandbox)) {
			fprintf(stderr, "sbx policy log: invalid sandbox name '%s'\n", sandbox);
			return 2;
		}
	}
	if (o->limit) {
		char *end;
		long v = strtol(o->limit, &end, 10);
		if (*end || end == o->limit || v < 1) {
			fprintf(stderr, "sbx policy log: --limit needs a positive number\n");
			return 2;
		}
		limit = (size_t)v;
	}
	r = audit_summary(p, sandbox, &g, &n);
	if (r < 0) {
		fprintf(stderr, "sbx policy log: cannot read %s/audit.log: %s\n", p->state, strerror(-r));
		return 1;
	}
	total = n;
	n = MIN(n, limit);
	if (o->json) {
		struct json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			struct json_object *j = json_object_new_object();
			json_object_object_add(j, "decision", json_object_new_string(g[i].decision));
			json_object_object_add(j, "sandbox", json_object_new_string(g[i].sandbox));
			json_object_object_add(j, "host", json_object_new_string(g[i].host));
			json_object_object_add(j, "port", json_object_new_int(g[i].port));
			json_object_object_add(j, "count", json_object_new_int64((int64_t)g[i].count));
			json_object_object_add(j, "last", json_object_new_string(g[i].last_time));
			json_object_object_add(j, "path", g[i].path ? json_object_new_string(g[i].path) : NULL);
			json_object_object_add(j, "rule", g[i].rule ? json_object_new_string(g[i].rule) : NULL);
			json_object_object_add(j, "reason", g[i].reason ? json_object_new_string(g[i].reason) : NULL);
			json_object_array_add(arr, j);
		}
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(arr);
	} else if (n == 0) {
		cmd_note("no network decisions logged yet%s%s\n", sandbox ? " for " : "", sandbox ? sandbox : "");
	} else {
		printf("%-8s %-20s %-40s %-5s %7s %-24s %s\n", "DECISION", "SANDBOX", "HOST", "PORT", "COUNT", "LAST",
		       "RULE/REASON");
		for (size_t i = 0; i < n; i++) {
			char port[8] = "-";
			_cleanup_free_ char *why = NULL;
			if (g[i].rule && g[i].reason)
				why = xasprintf("%s (rule %s)", g[i].reason, g[i].rule);
			else
				why = xstrdup(g[i].rule ? g[i].rule : g[i].reason ? g[i].reason : "-");
			if (g[i].port)
				snprintf(port, sizeof(port), "%d", g[i].port);
			printf("%-8s %-20s %-40s %-5s %7llu %-24s %s\n", g[i].decision, g[i].sandbox[0] ? g[i].sandbox : "-",
			       g[i].host, port, (unsigned long long)g[i].count, g[i].last_time, why);
		}
	}
	audit_summary_free(g, total);
	return 0;
}

static int policy_reset(const struct sbx_paths *p, struct popts *o)
{
	static const struct {
		const char *name, *desc;
	} choices[] = {
		{ "balanced", "AI APIs, package registries, code hosts, container registries, OS mirrors" },
		{ "allow-all", "every destination (internal addresses still need explicit rules)" },
		{ "deny-all", "nothing until you allow it" },
	};
	_cleanup_close_ int lock = -1;
	struct policy *old = NULL, *pol;
	char line[64];
	size_t choice = 0;
	int r;

	if (o->npos) {
		fprintf(stderr, "sbx policy reset: unexpected argument '%s'\n", o->pos[0]);
		return 2;
	}
	if (o->force) {
		lock = policy_lock(p);
		r = lock < 0 ? lock : policy_remove_file(p);
		if (r < 0) {
			fprintf(stderr, "sbx policy reset: cannot remove %s/policy.json: %s\n", p->config, strerror(-r));
			return 1;
		}
		printf("Network policy removed; no preset is chosen, so nothing is allowed.\n"
		       "Choose one with: sbx policy init balanced (or allow-all / deny-all)\n");
		return 0;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "sbx policy reset: choosing a preset needs a terminal; run 'sbx policy init balanced' "
				"(or allow-all / deny-all), or 'sbx policy reset -f' to remove the policy\n");
		return 2;
	}
	if (policy_load(p, &old) == 0) {
		printf("This replaces all %zu rules of the current policy (%zu of them yours).\n", policy_rule_count(old),
		       count_user_rules(old));
	}
	printf("Choose the network policy for sandboxes:\n");
	for (size_t i = 0; i < ARRAY_SIZE(choices); i++)
		printf("  %zu) %-10s %s\n", i + 1, choices[i].name, choices[i].desc);
	for (;;) {
		printf("Choice [1-%zu, q to cancel]: ", ARRAY_SIZE(choices));
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin) || line[0] == 'q' || line[0] == 'Q') {
			printf("\nCancelled; the policy is unchanged.\n");
			policy_free(old);
			return 1;
		}
		line[strcspn(line, "\r\n")] = 0;
		if (strlen(line) == 1 && line[0] >= '1' && line[0] < (char)('1' + ARRAY_SIZE(choices))) {
			choice = (size_t)(line[0] - '1');
			break;
		}
		for (size_t i = 0; i < ARRAY_SIZE(choices); i++)
			if (!strcmp(line, choices[i].name)) {
				choice = i;
				goto chosen;
			}
		printf("Please answer 1 to %zu.\n", ARRAY_SIZE(choices));
	}
chosen:
	policy_free(old);
	lock = policy_lock(p);
	if (lock < 0) {
		fprintf(stderr, "sbx policy reset: cannot lock the policy: %s\n", strerror(-lock));
		return 1;
	}
	/* Keep the id counter of the old file: ids are never reused. */
	if (policy_load(p, &pol) == 0) {
		while (policy_rule_count(pol)) {
			struct policy_rule_info ri;
			policy_rule_get(pol, 0, &ri);
			policy_remove_id(pol, ri.id);
		}
	} else {
		pol = policy_new();
	}
	if (apply_preset_or_report(p, pol, choices[choice].name) < 0 || save_or_report(p, "reset", pol) < 0) {
		policy_free(pol);
		return 1;
	}
	printf("Network policy: %s (%zu rule%s)\n", choices[choice].name, policy_rule_count(pol),
	       policy_rule_count(pol) == 1 ? "" : "s");
	policy_free(pol);
	return 0;
}

static int policy_file_cmd(const struct sbx_paths *p, const char *sub, struct popts *o)
{
	if (!strcmp(sub, "export")) {
		if (o->npos > 1) {
			fprintf(stderr, "sbx policy export: usage: sbx policy export [--json] [FILE]\n");
			return 2;
		}
		return cmd_policy_export(p, o->npos ? o->pos[0] : NULL, o->json);
	}
	if (o->npos != 1) {
		fprintf(stderr, "sbx policy import: usage: sbx policy import [--merge] [-y] FILE\n");
		return 2;
	}
	return cmd_policy_import(p, o->pos[0], o->merge, o->yes);
}

int cmd_policy(struct sbx_paths *p, int argc, char **argv)
{
	static const char *const with_value[] = { "--sandbox", "--id", "--resource", "--limit", NULL };
	static const struct {
		const char *name;
		unsigned opts;
	} subs[] = {
		{ "init", 0 }, { "set-default", 0 }, { "allow", OPT_SANDBOX }, { "deny", OPT_SANDBOX },
		{ "ls", OPT_JSON }, { "list", OPT_JSON }, { "rm", OPT_ID | OPT_RESOURCE | OPT_SANDBOX },
		{ "check", OPT_SANDBOX }, { "log", OPT_JSON | OPT_LIMIT }, { "reset", OPT_FORCE },
		{ "export", OPT_JSON }, { "import", OPT_MERGE | OPT_YES },
	};
	struct popts o;
	const char *sub;
	size_t k;

	cmd_sub_first(argc, argv, with_value); /* options may come first */
	if (argc < 2) {
		policy_usage(stderr);
		return 2;
	}
	sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		policy_usage(stdout);
		return 0;
	}
	for (k = 0; k < ARRAY_SIZE(subs); k++)
		if (!strcmp(sub, subs[k].name))
			break;
	if (k == ARRAY_SIZE(subs)) {
		fprintf(stderr, "sbx policy: unknown command '%s'\n", sub);
		policy_usage(stderr);
		return 2;
	}
	if (popts_parse(sub, argc, argv, subs[k].opts, &o) < 0)
		return 2;
	if (o.help) {
		policy_usage(stdout);
		return 0;
	}
	if (!strcmp(sub, "init") || !strcmp(sub, "set-default"))
		return policy_init(p, sub, &o);
	if (!strcmp(sub, "allow") || !strcmp(sub, "deny"))
		return policy_edit(p, sub, &o);
	if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
		return policy_ls(p, &o);
	if (!strcmp(sub, "rm"))
		return policy_rm(p, &o);
	if (!strcmp(sub, "check"))
		return policy_check_cmd(p, &o);
	if (!strcmp(sub, "log"))
		return policy_log(p, &o);
	if (!strcmp(sub, "export") || !strcmp(sub, "import"))
		return policy_file_cmd(p, sub, &o);
	return policy_reset(p, &o);
}
