// SPDX-License-Identifier: MIT
/* cmd_ls.c: `sbx ls`: the sandboxes and the warm pool, as a table, names or JSON. */
#include "cmd.h"
#include "cmd_doc.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "sbxd_conn.h"
#include "portspec.h"
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
