// SPDX-License-Identifier: MIT
/* cmd_run.c: `sbx run` and `sbx create`: make the sandbox, start it, attach. */
#include "cmd.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "branch.h"
#include "client.h"
#include "image.h"
#include "names.h"
#include "policy.h"
#include "secrets.h"
#include "spec.h"
#include "util.h"

#define DEFAULT_CPUS 2
#define DEFAULT_MEMORY_MIB 1024

/* A worktree made for a sandbox that then was not created goes again. */
static void branch_undo(struct branch_ws *b, const struct stat *repo_st)
{
	if (b->created) {
		_cleanup_free_ char *err = NULL;
		if (branch_remove(b, &err) < 0)
			fprintf(stderr, "sbx: %s\n", err ? err : "cannot remove the worktree");
	}
	branch_ws_free(b);
}

static const char run_help[] =
	"Usage: sbx run [OPTIONS] AGENT [PATH] [-- ARGS...]\n"
	"       sbx create [OPTIONS] AGENT [PATH]\n"
	"\n"
	"Create the sandbox for AGENT and PATH if needed, start it and run the agent in it.\n"
	"AGENT is shell, claude, codex, gemini or copilot. PATH (default: the current\n"
	"directory) is mounted in the VM at the same absolute path. ARGS replace the\n"
	"agent's command when the first is not a flag, else they are appended.\n"
	"'create' only creates the sandbox.\n"
	"\n"
	"Options:\n"
	"  --name NAME        sandbox name (default AGENT-<directory name>)\n"
	"  -d, --detach       start it and return (run only)\n"
	"  --cpus N           virtual CPUs (default 2)\n"
	"  -m, --memory SIZE  memory, e.g. 1G or 2048M (default 1G)\n"
	"  -t, --template T   root disk template (default: the agent's)\n"
	"  -e, --env K=V      environment for every command in the sandbox (repeatable)\n"
	"  --branch B         work in a git worktree of PATH's repository at branch B (made\n"
	"                     from HEAD when missing), in REPO.sbx/NAME; commits land in the\n"
	"                     repository at once; `sbx rm` removes the worktree, not the branch\n"
	"  -h, --help         show this help\n";


static int ensure_template(struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *img = NULL;
	int r;

	if (template_image(p, name, &img) == 0 && !template_stale(p, name))
		return 0;
	if (img) {
		fprintf(stderr, "sbx: template '%s' was built from an older recipe; rebuilding it (sandboxes made "
			"from it keep their image)\n", name);
		if (template_build(p, name, false, true) < 0)
			fprintf(stderr, "sbx: rebuilding failed; using the old image\n");
		return 0;
	}
	if (!template_known(p, name)) {
		fprintf(stderr, "sbx: unknown template '%s' (see 'sbx template ls')\n", name);
		return -1;
	}
	fprintf(stderr, "sbx: template '%s' is not built yet; building it now (once, takes a few minutes)\n", name);
	r = template_build(p, name, false, true);
	if (r < 0) {
		fprintf(stderr, "sbx: building template '%s' failed: %s\n", name, strerror(-r));
		return -1;
	}
	return 0;
}

int cmd_run(struct sbx_paths *p, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "detach", no_argument, NULL, 'd' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "template", required_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "branch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *cmd = argv[0];
	bool create_only = !strcmp(cmd, "create");
	bool detach = false;
	const char *name = NULL, *tmpl = NULL, *branch = NULL;
	struct branch_ws bws = { 0 };
	unsigned cpus = DEFAULT_CPUS, mem = DEFAULT_MEMORY_MIB;
	_cleanup_free_ char **env = xcalloc((size_t)argc + 1, sizeof(char *));
	int nenv = 0, nargs = 0, o, dashdash = argc;
	char **args = NULL;
	struct spec spec = { 0 };
	const char *err = NULL;
	char ws[PATH_MAX];
	struct stat st;
	struct sbxc *c;
	struct json_object *req, *resp = NULL;
	_cleanup_free_ char *defname = NULL;
	const char *agent;
	bool root_owned = false;
	int rc;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			dashdash = i;
			break;
		}
	if (dashdash < argc) {
		args = argv + dashdash + 1;
		nargs = argc - dashdash - 1;
	}
	optind = 1;
	while ((o = getopt_long(dashdash, argv, "+dm:t:e:h", opts, NULL)) != -1) {
		switch (o) {
		case 'n': name = optarg; break;
		case 'd': detach = true; break;
		case 'c': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 64)
				return cmd_usage_error(cmd, "--cpus wants a number from 1 to 64"), 2;
			cpus = (unsigned)v;
			break;
		}
		case 'm':
			if (size_parse_mib(optarg, &mem) < 0 || mem < 256)
				return cmd_usage_error(cmd, "--memory wants a size like 1G or 2048M (at least 256M)"), 2;
			break;
		case 't': tmpl = optarg; break;
		case 'e':
			if (!env_assignment_valid(optarg))
				return cmd_usage_error(cmd, "--env wants KEY=VALUE"), 2;
			env[nenv++] = optarg;
			break;
		case 'b':
			if (!branch_name_valid(optarg))
				return cmd_usage_error(cmd, "--branch wants a branch name git accepts"), 2;
			branch = optarg;
			break;
		case 'h':
			fputs(run_help, stdout);
			return 0;
		default:
			return cmd_usage_error(cmd, "unknown option"), 2;
		}
	}
	if (optind >= dashdash)
		return cmd_usage_error(cmd, "missing AGENT"), 2;
	if (!agent_known(argv[optind])) {
		fprintf(stderr, "sbx %s: unknown agent '%s' (known: shell, claude, codex, gemini, copilot)\n", cmd, argv[optind]);
		return 2;
	}
	agent = argv[optind];
	spec.agent = xstrdup(argv[optind++]);
	if (dashdash - optind > 1) {
		spec_free(&spec);
		return cmd_usage_error(cmd, "only one workspace PATH is supported"), 2;
	}
	if (!realpath(optind < dashdash ? argv[optind] : ".", ws) || stat(ws, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "sbx %s: workspace '%s' does not exist or is not a directory\n", cmd,
			optind < dashdash ? argv[optind] : ".");
		spec_free(&spec);
		return 2;
	}
	if (!strcmp(ws, "/")) {
		fprintf(stderr, "sbx %s: refusing to share the whole file system; pick a project directory\n", cmd);
		spec_free(&spec);
		return 2;
	}
	if (name) {
		spec.name = xstrdup(name);
	} else {
		char *base = strrchr(ws, '/') + 1;
		_cleanup_free_ char *raw = branch ? xasprintf("%s-%s-%s", spec.agent, base, branch)
						  : xasprintf("%s-%s", spec.agent, base);
		spec.name = name_sanitize(raw);
	}
	spec.template_name = xstrdup(tmpl ? tmpl : agent_default_template(spec.agent));
	spec.workspace = xstrdup(ws);
	spec.cpus = cpus;
	spec.memory_mib = mem;
	/* The agent works as the host user, so its files keep their owner. sbx never maps
	 * the agent to host root (guest code could then leave setuid-root files in the
	 * workspace): as root, the agent takes the workspace owner's ids, or 1000. */
	if (getuid() != 0) {
		spec.uid = getuid();
		spec.gid = getgid();
	} else if (st.st_uid != 0 && st.st_uid < 100000) {
		spec.uid = st.st_uid;
		spec.gid = st.st_gid != 0 && st.st_gid < 100000 ? st.st_gid : st.st_uid;
	} else {
		spec.uid = 1000;
		spec.gid = 1000;
		root_owned = true;
	}
	spec.env = xcalloc((size_t)nenv + 1, sizeof(char *));
	for (int i = 0; i < nenv; i++)
		spec.env[i] = xstrdup(env[i]);
	if (spec_validate(&spec, &err) < 0) {
		fprintf(stderr, "sbx %s: %s\n", cmd, err);
		spec_free(&spec);
		return 2;
	}
	{
		/* The sandbox's network needs a policy: never start one with an implicit choice. */
		struct policy *pol = NULL;
		int q = policy_load(p, &pol);
		policy_free(pol);
		if (q == -ENOENT) {
			fprintf(stderr, "sbx %s: %s\n", cmd, POLICY_MISSING_MSG);
			spec_free(&spec);
			return 1;
		}
		if (q < 0) {
			fprintf(stderr, "sbx %s: cannot read the network policy: %s (see 'sbx policy ls')\n", cmd, strerror(-q));
			spec_free(&spec);
			return 1;
		}
	}
	if (ensure_template(p, spec.template_name) < 0) {
		spec_free(&spec);
		return 1;
	}
	if (branch) {
		_cleanup_free_ char *berr = NULL;

		if (branch_prepare(ws, branch, spec.name, st.st_uid, st.st_gid, &bws, &berr) < 0) {
			fprintf(stderr, "sbx %s: %s\n", cmd, berr ? berr : "cannot make the worktree");
			spec_free(&spec);
			return 1;
		}
		free(spec.workspace);
		spec.workspace = xstrdup(bws.worktree);
		spec.branch = xstrdup(branch);
		spec.repo = xstrdup(bws.repo);
		spec.git_dir = xstrdup(bws.common_dir);
		spec.git_worktree_id = bws.worktree_id ? xstrdup(bws.worktree_id) : NULL;
		if (spec_validate(&spec, &err) < 0) {
			fprintf(stderr, "sbx %s: %s\n", cmd, err);
			branch_undo(&bws, &st);
			spec_free(&spec);
			return 2;
		}
	}
	defname = xstrdup(spec.name);
	c = cmd_connect(p);
	if (!c) {
		branch_undo(&bws, &st);
		spec_free(&spec);
		return 1;
	}
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("create"));
	json_object_object_add(req, "spec", spec_to_json(&spec));
	spec_free(&spec);
	{
		/* Service keys from this environment: used by the proxy only when nothing is
		 * stored; kept in the daemon's memory, never on disk, never in the VM. */
		char **cenv = secrets_env_collect();
		int r = client_send_cred_env(c, cenv);
		secrets_env_free(cenv);
		if (r < 0) {
			fprintf(stderr, "sbx: cannot talk to sbxd: %s\n", strerror(-r));
			json_object_put(req);
			client_free(c);
			branch_undo(&bws, &st);
			return 1;
		}
		/* The host agent the guest may ask for signatures (never for keys). */
		json_object_object_add(req, "ssh_auth_sock",
				       getenv("SSH_AUTH_SOCK") && getenv("SSH_AUTH_SOCK")[0] == '/'
					       ? json_object_new_string(getenv("SSH_AUTH_SOCK"))
					       : json_object_new_null());
	}
	if (client_call(c, req, &resp) < 0) {
		client_free(c);
		branch_undo(&bws, &st);
		return 1;
	}
	branch_ws_free(&bws);
	{
		struct json_object *ex;
		if (root_owned && json_object_object_get_ex(resp, "existed", &ex) && !json_object_get_boolean(ex))
			fprintf(stderr, "sbx %s: note: %s is owned by root; the agent runs as uid 1000 and cannot write "
				"to it (chown it, or run sbx as a regular user)\n", cmd, ws);
	}
	json_object_put(resp);
	if (create_only) {
		printf("%s\n", defname);
		client_free(c);
		return 0;
	}
	if (detach) {
		req = json_object_new_object();
		json_object_object_add(req, "op", json_object_new_string("start"));
		json_object_object_add(req, "name", json_object_new_string(defname));
		rc = client_call(c, req, NULL) < 0 ? 1 : 0;
		if (rc == 0)
			printf("%s\n", defname);
		client_free(c);
		return rc;
	}
	{
		const char *const *dv = agent_default_argv(agent);
		char **cmdv = xcalloc((size_t)nargs + 8, sizeof(char *));
		int n = 0;
		bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);

		/* ARGS replace the default command unless the first one is a flag. */
		if (nargs == 0 || args[0][0] == '-')
			for (; dv && *dv && n < 8; dv++)
				cmdv[n++] = (char *)*dv;
		for (int i = 0; i < nargs; i++)
			cmdv[n++] = args[i];
		req = cmd_exec_request(defname, cmdv, n, NULL, 0, NULL, NULL, tty);
		free(cmdv);
		rc = client_exec(c, req, true, tty);
	}
	client_free(c);
	return rc;
}
