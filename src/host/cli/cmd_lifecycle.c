// SPDX-License-Identifier: MIT
/* cmd_lifecycle.c: `sbx stop` and `sbx rm` (`sbx ls`: cmd_ls.c, in the front binary too). */
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
