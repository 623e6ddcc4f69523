// SPDX-License-Identifier: MIT
/* cmd_lifecycle.c: `sbx ls`, `sbx stop` and `sbx rm`. */
#include "cmd.h"
#include "cmd_doc.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "branch.h"
#include "sbxd_conn.h"
#include "names.h"
#include "portspec.h"
#include "spec.h"
#include "util.h"

/* A sandbox's published ports for the table: "127.0.0.1:8080->80,..." (malloc'd, "" when none). */
static char *ls_ports(struct json_object *s)
{
	struct json_object *arr;
	char *out = xstrdup("");

	if (!json_object_object_get_ex(s, "ports", &arr) || !json_object_is_type(arr, json_type_array))
		return out;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct portspec ps;
		const char *err;
		char h[PORTSPEC_TEXT_MAX], *next;

		if (portspec_parse(json_object_get_string(json_object_array_get_idx(arr, i)), &ps, &err) < 0)
			continue;
		portspec_format_host(&ps, h, sizeof(h));
		next = xasprintf("%s%s%s->%u", out, *out ? "," : "", h, (unsigned)ps.guest_port);
		free(out);
		out = next;
	}
	return out;
}

/* The WORKSPACE cell: the path, " [sync]" in --workspace-mode sync, and the
 * directories kept on the VM's disk ("/src/app (local: node_modules)"): they are not
 * the host's. */
static char *ls_workspace(struct json_object *s)
{
	struct json_object *arr;
	char *out = xasprintf("%s%s", cmd_json_str(s, "workspace"),
			      !strcmp(cmd_json_str(s, "workspace_mode"), "sync") ? " [sync]" : "");

	if (!json_object_object_get_ex(s, "local", &arr) || !json_object_is_type(arr, json_type_array))
		return out;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		char *next = xasprintf("%s%s%s", out, i ? "," : " (local: ",
				       json_object_get_string(json_object_array_get_idx(arr, i)));
		free(out);
		out = next;
	}
	if (json_object_array_length(arr)) {
		char *next = xasprintf("%s)", out);
		free(out);
		out = next;
	}
	return out;
}

/* CPU time and memory (used/limit) of a running sandbox's VMMs, from its cgroup
 * (cgroup.h); "-" when it is not running or has no cgroup. */
static void ls_use(struct json_object *s, char cpu[16], char mem[32])
{
	struct json_object *cg, *v;
	int64_t used = 0, max = 0, usec = 0;

	strcpy(cpu, "-");
	strcpy(mem, "-");
	if (!json_object_object_get_ex(s, "cgroup", &cg) || !json_object_is_type(cg, json_type_object))
		return;
	if (json_object_object_get_ex(cg, "cpu_usec", &v))
		usec = json_object_get_int64(v);
	if (json_object_object_get_ex(cg, "memory_bytes", &v))
		used = json_object_get_int64(v);
	if (json_object_object_get_ex(cg, "memory_max", &v))
		max = json_object_get_int64(v);
	snprintf(cpu, 16, "%.1fs", (double)usec / 1e6);
	snprintf(mem, 32, "%lldM/%lldM", (long long)(used >> 20), (long long)(max >> 20));
}

/* SANDBOX AGENT STATUS CPU MEM WORKSPACE [PORTS], each column as wide as its longest
 * entry (a --branch sandbox's default name is long); PORTS only when some sandbox
 * publishes any. */
static void ls_table(struct json_object *arr)
{
	static const char *const keys[] = { "name", "agent", "status" };
	int w[4] = { (int)strlen("SANDBOX"), (int)strlen("AGENT"), (int)strlen("STATUS"), (int)strlen("WORKSPACE") };
	size_t n = json_object_array_length(arr);
	bool any_ports = false;

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *pt = ls_ports(json_object_array_get_idx(arr, i));
		_cleanup_free_ char *ws = ls_workspace(json_object_array_get_idx(arr, i));
		any_ports |= *pt != 0;
		for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
			w[k] = MAX(w[k], (int)strlen(cmd_json_str(json_object_array_get_idx(arr, i), keys[k])));
		w[3] = MAX(w[3], (int)strlen(ws));
	}
	if (!any_ports)
		w[3] = 0;   /* last column: not padded */
	printf("%-*s  %-*s  %-*s  %-8s  %-11s  %-*s%s\n", w[0], "SANDBOX", w[1], "AGENT", w[2], "STATUS", "CPU",
	       "MEM", w[3], "WORKSPACE", any_ports ? "  PORTS" : "");
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);
		_cleanup_free_ char *pt = ls_ports(s);
		_cleanup_free_ char *ws = ls_workspace(s);
		char cpu[16], mem[32];

		ls_use(s, cpu, mem);
		printf("%-*s  %-*s  %-*s  %-8s  %-11s  %-*s%s%s\n", w[0], cmd_json_str(s, "name"), w[1],
		       cmd_json_str(s, "agent"), w[2], cmd_json_str(s, "status"), cpu, mem, *pt ? w[3] : 0, ws,
		       *pt ? "  " : "", pt);
	}
}

/* The warm pool's VMs (docs/warm-pool.md) under the table: they are no one's sandbox
 * yet, but they cost memory, so the user sees them. */
static void ls_pool(struct json_object *resp)
{
	struct json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(resp, "pool", &arr) || !json_object_is_type(arr, json_type_array) ||
	    !(n = json_object_array_length(arr)))
		return;
	printf("\nwarm pool (sbx settings set pool.size N; 0 turns it off):\n");
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i), *v;
		char mem[32] = "-";

		if (json_object_object_get_ex(s, "memory_bytes", &v))
			snprintf(mem, sizeof(mem), "%lldM", (long long)(json_object_get_int64(v) >> 20));
		printf("  %-24s  %-12s  %-8s  %s\n", cmd_json_str(s, "name"), cmd_json_str(s, "template"),
		       cmd_json_str(s, "status"), mem);
	}
}

int cmd_ls(struct sbx_paths *p, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool json = false, quiet = false;
	struct json_object *resp, *arr;
	struct sbxd_conn *c;
	int o, rc = 0;

	optind = 1;
	while ((o = getopt_long(argc, argv, "jqh", opts, NULL)) != -1) {
		switch (o) {
		case 'j': json = true; break;
		case 'q': quiet = true; break;
		case 'h':
			return cmd_help_print(stdout, "ls"), 0;
		default:
			return cmd_usage_error("ls", "unknown option"), 2;
		}
	}
	if (optind < argc)
		return cmd_usage_error("ls", "ls takes no arguments"), 2;
	c = cmd_connect(p);
	if (!c)
		return 1;
	if (sbxd_call(c, cmd_request("ls", NULL), &resp) < 0) {
		sbxd_conn_free(c);
		return 1;
	}
	sbxd_conn_free(c);
	if (!json_object_object_get_ex(resp, "sandboxes", &arr) || !json_object_is_type(arr, json_type_array)) {
		json_object_put(resp);
		fprintf(stderr, "sbx: malformed answer from sbxd\n");
		return 1;
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (quiet) {
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			printf("%s\n", cmd_json_str(json_object_array_get_idx(arr, i), "name"));
	} else {
		ls_table(arr);
		ls_pool(resp);
	}
	/* A sandbox whose state files do not load is listed; the exit status says so. */
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);
		if (!strcmp(cmd_json_str(s, "status"), "broken")) {
			fprintf(stderr, "sbx ls: %s\n", cmd_json_str(s, "error"));
			rc = 1;
		}
	}
	json_object_put(resp);
	return rc;
}

/* One stop or rm. A --branch sandbox's worktree goes with rm, after the sandbox; one
 * with uncommitted changes only with force. */
static int name_op(struct sbx_paths *p, struct sbxd_conn *c, const char *op, const char *name, bool force)
{
	_cleanup_free_ char *specp = xasprintf("%s/%s/spec.json", p->sandboxes, name), *err = NULL;
	struct json_object *req = cmd_request(op, name);
	struct spec spec = { 0 };
	struct stat rst;
	bool loaded = spec_load(specp, &spec) == 0;
	bool wt = !strcmp(op, "rm") && loaded && spec.branch && stat(spec.repo, &rst) == 0;
	/* only what sbx recorded when it made the worktree (branch.h) */
	const struct branch_ws bws = { .repo = spec.repo, .common_dir = spec.git_dir, .worktree = spec.workspace,
				       .worktree_id = spec.git_worktree_id };
	int rc = 0;

	if (wt && !force) {
		int d = branch_dirty(&bws, rst.st_uid, rst.st_gid, &err);
		if (d != 0) {
			if (d > 0)
				fprintf(stderr, "sbx rm: %s: its worktree %s has uncommitted changes; commit them, or "
					"remove it with them: sbx rm -f %s\n", name, spec.workspace, name);
			else
				fprintf(stderr, "sbx rm: %s: %s (sbx rm -f removes it anyway)\n", name, err);
			json_object_put(req);
			spec_free(&spec);
			return 1;
		}
	}
	/* a sync-mode workspace: every guest change reaches the host first; when it cannot,
	 * say so, and stop or remove anyway (the guest makes a last pass at power off) */
	if (loaded && spec.ws_sync && cmd_sync_barrier(c, op, name) < 0)
		rc = 1;
	json_object_object_add(req, "force", json_object_new_boolean(force));
	if (sbxd_call(c, req, NULL) < 0)
		rc = 1;
	else if (wt && branch_remove(&bws, &err) < 0) {
		fprintf(stderr, "sbx rm: %s: %s\n", name, err);
		rc = 1;
	}
	spec_free(&spec);
	return rc;
}

int cmd_sandbox_rm(struct sbx_paths *p, struct sbxd_conn *c, const char *name, bool force)
{
	return name_op(p, c, "rm", name, force);
}

static int names_cmd(struct sbx_paths *p, int argc, char **argv, const char *op)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool force = false, all = false, is_rm = !strcmp(op, "rm");
	_cleanup_free_ char **names = xcalloc((size_t)argc + 1, sizeof(char *));
	struct sbxd_conn *c;
	struct json_object *resp, *arr;
	int o, rc = 0, n = 0;

	/* "-": names and options in any order, whatever POSIXLY_CORRECT says */
	optind = 0;
	while ((o = getopt_long(argc, argv, is_rm ? "-fah" : "-ah", opts, NULL)) != -1) {
		switch (o) {
		case 1: names[n++] = optarg; break;
		case 'f': force = true; break;
		case 'a': all = true; break;
		case 'h': cmd_help_print(stdout, op); return 0;
		default: return cmd_usage_error(argv[0], "unknown option"), 2;
		}
	}
	while (optind < argc) /* after "--" */
		names[n++] = argv[optind++];
	if (n == 0 && !all)
		return cmd_usage_error(argv[0], "want at least one sandbox NAME (or --all)"), 2;
	for (int i = 0; i < n; i++)
		if (!name_valid(names[i])) {
			fprintf(stderr, "sbx %s: invalid sandbox name '%s'\n", argv[0], names[i]);
			return 2;
		}
	c = cmd_connect(p);
	if (!c)
		return 1;
	if (all) {
		if (sbxd_call(c, cmd_request("ls", NULL), &resp) < 0) {
			sbxd_conn_free(c);
			return 1;
		}
		if (json_object_object_get_ex(resp, "sandboxes", &arr))
			for (size_t i = 0; i < json_object_array_length(arr); i++) {
				const char *nm = cmd_json_str(json_object_array_get_idx(arr, i), "name");
				if (nm && name_valid(nm) && name_op(p, c, op, nm, force))
					rc = 1;
			}
		json_object_put(resp);
	}
	for (int i = 0; i < n; i++)
		if (name_op(p, c, op, names[i], force))
			rc = 1;
	sbxd_conn_free(c);
	return rc;
}

int cmd_stop(struct sbx_paths *p, int argc, char **argv)
{
	return names_cmd(p, argc, argv, "stop");
}

int cmd_rm(struct sbx_paths *p, int argc, char **argv)
{
	return names_cmd(p, argc, argv, "rm");
}
