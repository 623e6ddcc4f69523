// SPDX-License-Identifier: MIT
/* cmd_run.c: run, create, ls, exec, stop, rm (split into one file per command next). */
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

static void usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "sbx %s: %s\nRun 'sbx %s --help' for usage.\n", cmd, msg, cmd);
}

static struct sbxc *connect_or_complain(struct sbx_paths *p)
{
	struct sbxc *c = NULL;
	int r = client_connect(p, true, &c);

	if (r < 0) {
		fprintf(stderr, "sbx: cannot reach the sbx daemon (%s); see %s/sbxd.log\n", strerror(-r), p->state);
		return NULL;
	}
	{
		struct json_object *req = json_object_new_object(), *resp = NULL, *v;
		json_object_object_add(req, "op", json_object_new_string("status"));
		if (client_request(c, req, &resp) == 0 && json_object_object_get_ex(resp, "stale", &v) &&
		    json_object_get_boolean(v))
			fprintf(stderr, "sbx: note: the running daemon is from an older sbx build; "
				"'sbx daemon stop' restarts it (sandboxes keep running)\n");
		json_object_put(resp);
	}
	return c;
}

static struct json_object *jstr_array(char **v, int n)
{
	struct json_object *a = json_object_new_array();
	for (int i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

/* Build the exec request shared by run and exec. */
static struct json_object *exec_request(const char *name, char **argv, int argc, char **env, int nenv,
					const char *cwd, const char *user, bool tty)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "name", json_object_new_string(name));
	json_object_object_add(req, "argv", jstr_array(argv, argc));
	if (tty) {
		const char *term = getenv("TERM");
		struct json_object *t = json_object_new_object();
		struct json_object *e = jstr_array(env, nenv);
		json_object_object_add(t, "rows", json_object_new_int(24));
		json_object_object_add(t, "cols", json_object_new_int(80));
		json_object_object_add(req, "tty", t);
		if (term && *term && strlen(term) < 64 && !strpbrk(term, "\n=")) {
			_cleanup_free_ char *te = xasprintf("TERM=%s", term);
			json_object_array_add(e, json_object_new_string(te));
		}
		json_object_object_add(req, "env", e);
	} else if (nenv > 0) {
		json_object_object_add(req, "env", jstr_array(env, nenv));
	}
	if (cwd)
		json_object_object_add(req, "cwd", json_object_new_string(cwd));
	if (user)
		json_object_object_add(req, "user", json_object_new_string(user));
	return req;
}

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
				return usage_error(cmd, "--cpus wants a number from 1 to 64"), 2;
			cpus = (unsigned)v;
			break;
		}
		case 'm':
			if (size_parse_mib(optarg, &mem) < 0 || mem < 256)
				return usage_error(cmd, "--memory wants a size like 1G or 2048M (at least 256M)"), 2;
			break;
		case 't': tmpl = optarg; break;
		case 'e':
			if (!env_assignment_valid(optarg))
				return usage_error(cmd, "--env wants KEY=VALUE"), 2;
			env[nenv++] = optarg;
			break;
		case 'b':
			if (!branch_name_valid(optarg))
				return usage_error(cmd, "--branch wants a branch name git accepts"), 2;
			branch = optarg;
			break;
		case 'h':
			fputs(run_help, stdout);
			return 0;
		default:
			return usage_error(cmd, "unknown option"), 2;
		}
	}
	if (optind >= dashdash)
		return usage_error(cmd, "missing AGENT"), 2;
	if (!agent_known(argv[optind])) {
		fprintf(stderr, "sbx %s: unknown agent '%s' (known: shell, claude, codex, gemini, copilot)\n", cmd, argv[optind]);
		return 2;
	}
	agent = argv[optind];
	spec.agent = xstrdup(argv[optind++]);
	if (dashdash - optind > 1) {
		spec_free(&spec);
		return usage_error(cmd, "only one workspace PATH is supported"), 2;
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
	c = connect_or_complain(p);
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
		req = exec_request(defname, cmdv, n, NULL, 0, NULL, NULL, tty);
		free(cmdv);
		rc = client_exec(c, req, true, tty);
	}
	client_free(c);
	return rc;
}

static struct json_object *simple_req(const char *op, const char *name)
{
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string(op));
	if (name)
		json_object_object_add(req, "name", json_object_new_string(name));
	return req;
}

static const char *jget(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
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
	struct sbxc *c;
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "jqh", opts, NULL)) != -1) {
		switch (o) {
		case 'j': json = true; break;
		case 'q': quiet = true; break;
		case 'h':
			printf("Usage: sbx ls [--json] [-q]\n\nList sandboxes: SANDBOX AGENT STATUS WORKSPACE.\n"
			       "  --json   machine-readable array\n  -q       names only\n");
			return 0;
		default:
			return usage_error("ls", "unknown option"), 2;
		}
	}
	if (optind < argc)
		return usage_error("ls", "ls takes no arguments"), 2;
	c = connect_or_complain(p);
	if (!c)
		return 1;
	if (client_call(c, simple_req("ls", NULL), &resp) < 0) {
		client_free(c);
		return 1;
	}
	client_free(c);
	if (!json_object_object_get_ex(resp, "sandboxes", &arr) || !json_object_is_type(arr, json_type_array)) {
		json_object_put(resp);
		fprintf(stderr, "sbx: malformed answer from sbxd\n");
		return 1;
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		size_t n = json_object_array_length(arr);
		if (!quiet)
			printf("%-24s %-8s %-9s %s\n", "SANDBOX", "AGENT", "STATUS", "WORKSPACE");
		for (size_t i = 0; i < n; i++) {
			struct json_object *s = json_object_array_get_idx(arr, i);
			if (quiet)
				printf("%s\n", jget(s, "name"));
			else
				printf("%-24s %-8s %-9s %s\n", jget(s, "name"), jget(s, "agent"), jget(s, "status"),
				       jget(s, "workspace"));
		}
	}
	json_object_put(resp);
	return 0;
}

int cmd_exec(struct sbx_paths *p, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "user", required_argument, NULL, 'u' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "env", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool interactive = false, tty = false;
	const char *user = NULL, *cwd = NULL;
	_cleanup_free_ char **env = xcalloc((size_t)argc + 1, sizeof(char *));
	int nenv = 0, o, rc;
	struct sbxc *c;

	optind = 1;
	while ((o = getopt_long(argc, argv, "+itu:w:e:h", opts, NULL)) != -1) {
		switch (o) {
		case 'i': interactive = true; break;
		case 't': tty = true; break;
		case 'u': user = optarg; break;
		case 'w':
			if (optarg[0] != '/')
				return usage_error("exec", "-w wants an absolute path"), 2;
			cwd = optarg;
			break;
		case 'e':
			if (!env_assignment_valid(optarg))
				return usage_error("exec", "-e wants KEY=VALUE"), 2;
			env[nenv++] = optarg;
			break;
		case 'h':
			printf("Usage: sbx exec [-i] [-t] [-u USER] [-w DIR] [-e K=V] NAME CMD [ARG...]\n\n"
			       "Run a command in a sandbox (started if stopped); its exit status is passed through.\n"
			       "  -i, --interactive  forward stdin\n"
			       "  -t, --tty          allocate a terminal\n"
			       "  -u, --user USER    run as USER (default agent; root works)\n"
			       "  -w, --workdir DIR  working directory (default: the workspace)\n"
			       "  -e, --env K=V      extra environment (repeatable)\n");
			return 0;
		default:
			return usage_error("exec", "unknown option"), 2;
		}
	}
	if (argc - optind < 2)
		return usage_error("exec", "want NAME and CMD"), 2;
	if (!name_valid(argv[optind])) {
		fprintf(stderr, "sbx exec: invalid sandbox name '%s'\n", argv[optind]);
		return 2;
	}
	if (tty && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "sbx exec: -t needs a terminal on stdin; dropping it\n");
		tty = false;
	}
	c = connect_or_complain(p);
	if (!c)
		return 1;
	rc = client_exec(c, exec_request(argv[optind], argv + optind + 1, argc - optind - 1, env, nenv, cwd, user, tty),
			 interactive, tty);
	client_free(c);
	return rc;
}

/* One stop or rm. A --branch sandbox's worktree goes with rm, after the sandbox; one
 * with uncommitted changes only with force. */
static int name_op(struct sbx_paths *p, struct sbxc *c, const char *op, const char *name, bool force)
{
	_cleanup_free_ char *specp = xasprintf("%s/%s/spec.json", p->sandboxes, name), *err = NULL;
	struct json_object *req = simple_req(op, name);
	struct spec spec = { 0 };
	struct stat rst;
	bool wt = !strcmp(op, "rm") && spec_load(specp, &spec) == 0 && spec.branch && stat(spec.repo, &rst) == 0;
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
	json_object_object_add(req, "force", json_object_new_boolean(force));
	if (client_call(c, req, NULL) < 0)
		rc = 1;
	else if (wt && branch_remove(&bws, &err) < 0) {
		fprintf(stderr, "sbx rm: %s: %s\n", name, err);
		rc = 1;
	}
	spec_free(&spec);
	return rc;
}

static int names_cmd(struct sbx_paths *p, int argc, char **argv, const char *op, const char *help)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool force = false, all = false, is_rm = !strcmp(op, "rm");
	struct sbxc *c;
	struct json_object *resp, *arr;
	int o, rc = 0;

	optind = 1;
	while ((o = getopt_long(argc, argv, is_rm ? "fah" : "ah", opts, NULL)) != -1) {
		switch (o) {
		case 'f': force = true; break;
		case 'a': all = true; break;
		case 'h': fputs(help, stdout); return 0;
		default: return usage_error(argv[0], "unknown option"), 2;
		}
	}
	if (optind >= argc && !all)
		return usage_error(argv[0], "want at least one sandbox NAME (or --all)"), 2;
	for (int i = optind; i < argc; i++)
		if (!name_valid(argv[i])) {
			fprintf(stderr, "sbx %s: invalid sandbox name '%s'\n", argv[0], argv[i]);
			return 2;
		}
	c = connect_or_complain(p);
	if (!c)
		return 1;
	if (all) {
		if (client_call(c, simple_req("ls", NULL), &resp) < 0) {
			client_free(c);
			return 1;
		}
		if (json_object_object_get_ex(resp, "sandboxes", &arr))
			for (size_t i = 0; i < json_object_array_length(arr); i++) {
				const char *nm = jget(json_object_array_get_idx(arr, i), "name");
				if (nm && name_valid(nm) && name_op(p, c, op, nm, force))
					rc = 1;
			}
		json_object_put(resp);
	}
	for (int i = optind; i < argc; i++)
		if (name_op(p, c, op, argv[i], force))
			rc = 1;
	client_free(c);
	return rc;
}

int cmd_stop(struct sbx_paths *p, int argc, char **argv)
{
	return names_cmd(p, argc, argv, "stop",
			 "Usage: sbx stop [--all] NAME...\n\nPower sandboxes off cleanly; their disks stay.\n");
}

int cmd_rm(struct sbx_paths *p, int argc, char **argv)
{
	return names_cmd(p, argc, argv, "rm",
			 "Usage: sbx rm [-f] [--all] NAME...\n\nDelete sandboxes and their disks, and the git worktree of a\n"
			 "--branch sandbox (its branch stays).\n"
			 "  -f, --force  stop running sandboxes first; remove a worktree with uncommitted changes\n"
			 "  --all        every sandbox\n");
}
