// SPDX-License-Identifier: MIT
/* cmd_run.c: `sbx run` and `sbx create`: make the sandbox, start it, attach. */
#include "cmd.h"
#include "cmd_doc.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "branch.h"
#include "sbxd_conn.h"
#include "image.h"
#include "names.h"
#include "policy.h"
#include "progress.h"
#include "secrets.h"
#include "portspec.h"
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

static int ensure_template(struct sbx_paths *p, const char *name)
{
	_cleanup_free_ char *img = NULL;
	int r;

	if (template_image(p, name, &img) == 0 && !template_stale(p, name))
		return 0;
	if (img) {
		if (!progress_quiet())
			fprintf(stderr, "sbx: template '%s' was built from an older recipe; rebuilding it (sandboxes "
				"made from it keep their image)\n", name);
		if (template_build_ex(p, name, false, template_verbosity_default()) < 0)
			fprintf(stderr, "sbx: rebuilding failed; using the old image\n");
		return 0;
	}
	if (!template_known(p, name)) {
		fprintf(stderr, "sbx: unknown template '%s' (see 'sbx template ls')\n", name);
		return -1;
	}
	if (!progress_quiet())
		fprintf(stderr, "sbx: template '%s' is not built yet; building it now (once, takes a few minutes)\n",
			name);
	r = template_build_ex(p, name, false, template_verbosity_default());
	if (r < 0) {
		fprintf(stderr, "sbx: building template '%s' failed: %s\n", name, strerror(-r));
		return -1;
	}
	return 0;
}

/* What the command line asks for; the strings point into argv. */
struct run_opts {
	const char *cmd;   /* "run" or "create" */
	bool create_only, detach, help;
	const char *name, *tmpl, *branch;
	bool ws_sync;      /* --workspace-mode sync */
	unsigned cpus, mem;
	char **env;        /* the -e values */
	int nenv;
	char *local[LOCAL_DIRS_MAX];   /* the --local values */
	int nlocal;
	struct portspec ports[PORTSPEC_MAX];   /* the -p values */
	size_t nports;
	const char *agent;
	const char *path;  /* the workspace as given */
	char **args;       /* after "--" */
	int nargs;
};

/* The sandbox being made, and what to undo when it is not. */
struct run_sandbox {
	struct spec spec;
	char ws[PATH_MAX];    /* the workspace, resolved */
	struct stat st;       /* of ws */
	struct branch_ws bws; /* the worktree made for --branch */
	bool root_owned;      /* ws is root's: the agent runs as uid 1000 */
};

/* One option; 0, or 2 after a usage error. */
static int run_option(struct run_opts *o, int opt, char *arg)
{
	switch (opt) {
	case 'n': o->name = arg; break;
	case 'd': o->detach = true; break;
	case 'c': {
		char *end;
		long v = strtol(arg, &end, 10);
		if (*end || v < 1 || v > 64)
			return cmd_usage_error(o->cmd, "--cpus wants a number from 1 to 64"), 2;
		o->cpus = (unsigned)v;
		break;
	}
	case 'm':
		if (size_parse_mib(arg, &o->mem) < 0 || o->mem < 256)
			return cmd_usage_error(o->cmd, "--memory wants a size like 1G or 2048M (at least 256M)"), 2;
		break;
	case 't': o->tmpl = arg; break;
	case 'e':
		if (!env_assignment_valid(arg))
			return cmd_usage_error(o->cmd, "--env wants KEY=VALUE"), 2;
		o->env[o->nenv++] = arg;
		break;
	case 'L':
		if (o->nlocal >= LOCAL_DIRS_MAX)
			return cmd_usage_error(o->cmd, "at most 16 --local directories"), 2;
		if (!local_dir_valid(arg))
			return cmd_usage_error(o->cmd, "--local wants a directory of the workspace, relative to it "
						       "(node_modules, build/out), not in .git, without . or .."), 2;
		o->local[o->nlocal++] = arg;
		break;
	case 'b':
		if (!branch_name_valid(arg))
			return cmd_usage_error(o->cmd, "--branch wants a branch name git accepts"), 2;
		o->branch = arg;
		break;
	case 'p': {
		const char *err = NULL;
		if (o->nports >= PORTSPEC_MAX)
			return cmd_usage_error(o->cmd, "at most 32 published ports"), 2;
		if (portspec_parse(arg, &o->ports[o->nports], &err) < 0) {
			fprintf(stderr, "sbx %s: --publish '%s': %s\n", o->cmd, arg, err);
			return 2;
		}
		cmd_port_warn(o->cmd, &o->ports[o->nports]);
		o->nports++;
		break;
	}
	case 'W':
		if (spec_ws_mode_parse(arg, &o->ws_sync) < 0) {
			fprintf(stderr, "sbx %s: --workspace-mode '%s': unknown mode (want share or sync)\n", o->cmd, arg);
			return 2;
		}
		break;
	case 'h': o->help = true; break;
	case 'q': cmd_quiet_set(); break;
	default:
		return cmd_usage_error(o->cmd, "unknown option"), 2;
	}
	return 0;
}

/* [OPTIONS] AGENT [PATH] [OPTIONS] [-- ARGS...]: options anywhere before "--" (getopt
 * permutes them to the front); 0 (with o->help when asked), or 2. */
static int run_parse(struct run_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "detach", no_argument, NULL, 'd' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "template", required_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "branch", required_argument, NULL, 'b' },
		{ "publish", required_argument, NULL, 'p' },
		{ "local", required_argument, NULL, 'L' },
		{ "workspace-mode", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ "quiet", no_argument, NULL, 'q' },
		{ 0 },
	};
	int opt, r, dashdash = argc, npos = 0;
	char *pos[2]; /* AGENT, PATH */

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			dashdash = i;
			break;
		}
	if (dashdash < argc) {
		o->args = argv + dashdash + 1;
		o->nargs = argc - dashdash - 1;
	}
	/* "-": operands come back in order as option 1, whatever POSIXLY_CORRECT says */
	optind = 0;
	while ((opt = getopt_long(dashdash, argv, "-dm:t:e:p:hq", opts, NULL)) != -1) {
		if (opt == 1) {
			if (npos == 2)
				return cmd_usage_error(o->cmd, "only one workspace PATH is supported"), 2;
			pos[npos++] = optarg;
			continue;
		}
		if ((r = run_option(o, opt, optarg)) != 0 || o->help)
			return r;
	}
	if (npos == 0)
		return cmd_usage_error(o->cmd, "missing AGENT"), 2;
	if (!agent_known(pos[0])) {
		fprintf(stderr, "sbx %s: unknown agent '%s' (known: shell, claude, codex, gemini, copilot)\n", o->cmd,
			pos[0]);
		return 2;
	}
	o->agent = pos[0];
	o->path = npos > 1 ? pos[1] : ".";
	return 0;
}

/* PATH must be a directory, and one the VM can mount at the same path. */
static int run_workspace(const struct run_opts *o, struct run_sandbox *sb)
{
	if (!realpath(o->path, sb->ws) || stat(sb->ws, &sb->st) < 0 || !S_ISDIR(sb->st.st_mode)) {
		fprintf(stderr, "sbx %s: workspace '%s' does not exist or is not a directory\n", o->cmd, o->path);
		return 2;
	}
	if (!strcmp(sb->ws, "/")) {
		fprintf(stderr, "sbx %s: refusing to share the whole file system; pick a project directory\n", o->cmd);
		return 2;
	}
	/* the VM mounts it at the same path, which it cannot do over its own /etc or /usr */
	if (!workspace_path_valid(sb->ws)) {
		fprintf(stderr,
			"sbx %s: %s cannot be a workspace: it is a system directory of the VM too (/bin, /boot, /etc, "
			"/home, /lib, /run, /usr, /var, or under /dev, /proc, /sys), and the workspace is mounted at "
			"the same path there; pick a project directory\n",
			o->cmd, sb->ws);
		return 2;
	}
	return 0;
}

/* The agent works as the host user, so its files keep their owner. sbx never maps
 * the agent to host root (guest code could then leave setuid-root files in the
 * workspace): as root, the agent takes the workspace owner's ids, or 1000. */
static void run_owner(struct run_sandbox *sb)
{
	const struct stat *st = &sb->st;

	if (getuid() != 0) {
		sb->spec.uid = getuid();
		sb->spec.gid = getgid();
	} else if (st->st_uid != 0 && st->st_uid < 100000) {
		sb->spec.uid = st->st_uid;
		sb->spec.gid = st->st_gid != 0 && st->st_gid < 100000 ? st->st_gid : st->st_uid;
	} else {
		sb->spec.uid = 1000;
		sb->spec.gid = 1000;
		sb->root_owned = true;
	}
}

/* The spec from the options: name (default AGENT-<dir>[-BRANCH]), template, owner. */
static int run_spec_make(const struct run_opts *o, struct run_sandbox *sb)
{
	struct spec *spec = &sb->spec;
	const char *err = NULL;

	spec->agent = xstrdup(o->agent);
	if (o->name) {
		spec->name = xstrdup(o->name);
	} else {
		char *base = strrchr(sb->ws, '/') + 1;
		_cleanup_free_ char *raw = o->branch ? xasprintf("%s-%s-%s", spec->agent, base, o->branch)
						     : xasprintf("%s-%s", spec->agent, base);
		spec->name = name_sanitize(raw);
	}
	spec->template_name = xstrdup(o->tmpl ? o->tmpl : agent_default_template(spec->agent));
	spec->workspace = xstrdup(sb->ws);
	spec->cpus = o->cpus;
	spec->memory_mib = o->mem;
	spec->ws_sync = o->ws_sync;
	run_owner(sb);
	spec->env = xcalloc((size_t)o->nenv + 1, sizeof(char *));
	for (int i = 0; i < o->nenv; i++)
		spec->env[i] = xstrdup(o->env[i]);
	if (o->nlocal) {
		spec->local = xcalloc((size_t)o->nlocal + 1, sizeof(char *));
		for (int i = 0; i < o->nlocal; i++)
			spec->local[i] = xstrdup(o->local[i]);
	}
	memcpy(spec->ports, o->ports, o->nports * sizeof(o->ports[0]));
	spec->n_ports = o->nports;
	if (spec_validate(spec, &err) < 0) {
		fprintf(stderr, "sbx %s: %s\n", o->cmd, err);
		return 2;
	}
	return 0;
}

/* The sandbox's network needs a policy: never start one with an implicit choice. */
static int run_policy_ready(struct sbx_paths *p, const char *cmd)
{
	struct policy *pol = NULL;
	const char *perr = NULL;
	int q = policy_load_ex(p, &pol, &perr);

	policy_free(pol);
	if (q == -ENOENT) {
		fprintf(stderr, "sbx %s: %s\n", cmd, POLICY_MISSING_MSG);
		return 1;
	}
	if (q < 0) {
		fprintf(stderr, "sbx %s: %s/policy.json: %s (see 'sbx policy ls')\n", cmd, p->config,
			perr ? perr : strerror(-q));
		return 1;
	}
	return 0;
}

/* --branch: the sandbox works in a worktree of the workspace's repository. */
static int run_branch(const struct run_opts *o, struct run_sandbox *sb)
{
	struct spec *spec = &sb->spec;
	_cleanup_free_ char *berr = NULL;
	const char *err = NULL;

	if (branch_prepare(sb->ws, o->branch, spec->name, sb->st.st_uid, sb->st.st_gid, &sb->bws, &berr) < 0) {
		fprintf(stderr, "sbx %s: %s\n", o->cmd, berr ? berr : "cannot make the worktree");
		return 1;
	}
	free(spec->workspace);
	spec->workspace = xstrdup(sb->bws.worktree);
	spec->branch = xstrdup(o->branch);
	spec->repo = xstrdup(sb->bws.repo);
	spec->git_dir = xstrdup(sb->bws.common_dir);
	spec->git_worktree_id = sb->bws.worktree_id ? xstrdup(sb->bws.worktree_id) : NULL;
	if (spec_validate(spec, &err) < 0) {
		fprintf(stderr, "sbx %s: %s\n", o->cmd, err);
		branch_undo(&sb->bws, &sb->st);
		return 2;
	}
	return 0;
}

/* All that needs no daemon: workspace, spec, policy, template, worktree, the
 * workspace's own policy file. */
static int run_prepare(struct sbx_paths *p, const struct run_opts *o, struct run_sandbox *sb)
{
	int rc = run_workspace(o, sb);

	if (rc == 0)
		rc = run_spec_make(o, sb);
	if (rc == 0)
		rc = run_policy_ready(p, o->cmd);
	if (rc == 0 && ensure_template(p, sb->spec.template_name) < 0)
		rc = 1;
	if (rc == 0 && o->branch)
		rc = run_branch(o, sb);
	/* the directory the agent writes: with --branch, the worktree */
	if (rc == 0 && cmd_project_policy(p, o->cmd, sb->spec.workspace, sb->spec.name) != 0) {
		if (o->branch)
			branch_undo(&sb->bws, &sb->st);
		rc = 1;
	}
	return rc;
}

/* Ask sbxd to create the sandbox (nothing to do when it exists); on failure the
 * worktree made for it goes again. */
static int run_create(struct sbx_paths *p, const struct run_opts *o, struct run_sandbox *sb, struct sbxd_conn **ret_c)
{
	struct json_object *req, *resp = NULL, *ex;
	struct sbxd_conn *c = cmd_connect(p);
	const char *sock = getenv("SSH_AUTH_SOCK");
	char **cenv;
	int r;

	if (!c) {
		branch_undo(&sb->bws, &sb->st);
		return 1;
	}
	req = cmd_request("create", NULL);
	json_object_object_add(req, "spec", spec_to_json(&sb->spec));
	/* Service keys from this environment: used by the proxy only when nothing is
	 * stored; kept in the daemon's memory, never on disk, never in the VM. */
	cenv = secrets_env_collect();
	r = sbxd_send_cred_env(c, cenv);
	secrets_env_free(cenv);
	if (r < 0) {
		fprintf(stderr, "sbx: cannot talk to sbxd: %s\n", strerror(-r));
		json_object_put(req);
		sbxd_conn_free(c);
		branch_undo(&sb->bws, &sb->st);
		return 1;
	}
	/* The host agent the guest may ask for signatures (never for keys). */
	json_object_object_add(req, "ssh_auth_sock",
			       sock && sock[0] == '/' ? json_object_new_string(sock) : json_object_new_null());
	if (sbxd_call(c, req, &resp) < 0) {
		sbxd_conn_free(c);
		branch_undo(&sb->bws, &sb->st);
		return 1;
	}
	branch_ws_free(&sb->bws);
	if (sb->root_owned && json_object_object_get_ex(resp, "existed", &ex) && !json_object_get_boolean(ex))
		cmd_note("sbx %s: note: %s is owned by root; the agent runs as uid 1000 and cannot write "
			"to it (chown it, or run sbx as a regular user)\n", o->cmd, sb->ws);
	if (o->create_only && json_object_object_get_ex(resp, "sandbox", &ex) &&
	    strcmp(cmd_json_str(ex, "status"), "stopped"))
		/* a warm pool VM was ready: the new sandbox is one already (docs/warm-pool.md) */
		cmd_note("sbx create: %s took a warm pool VM, so it runs already (sbx stop %s stops it)\n",
			 sb->spec.name, sb->spec.name);
	json_object_put(resp);
	*ret_c = c;
	return 0;
}

/* -d: start it and say its name. */
static int run_start(struct sbxd_conn *c, const char *name)
{
	if (sbxd_call(c, cmd_request("start", name), NULL) < 0)
		return 1;
	printf("%s\n", name);
	return 0;
}

/* Run the agent's command (or ARGS) attached to this terminal; its exit status is ours. */
static int run_attach(struct sbxd_conn *c, const struct run_opts *o, const char *name)
{
	const char *const *dv = agent_default_argv(o->agent);
	char **cmdv = xcalloc((size_t)o->nargs + 8, sizeof(char *));
	bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	struct json_object *req;
	int n = 0;

	/* ARGS replace the default command unless the first one is a flag. */
	if (o->nargs == 0 || o->args[0][0] == '-')
		for (; dv && *dv && n < 8; dv++)
			cmdv[n++] = (char *)*dv;
	for (int i = 0; i < o->nargs; i++)
		cmdv[n++] = o->args[i];
	req = cmd_exec_request(name, cmdv, n, NULL, 0, NULL, NULL, tty);
	free(cmdv);
	return sbxd_exec(c, req, true, tty);
}

int cmd_run(struct sbx_paths *p, int argc, char **argv)
{
	_cleanup_free_ char **env = xcalloc((size_t)argc + 1, sizeof(char *));
	struct run_opts o = { .cmd = argv[0], .create_only = !strcmp(argv[0], "create"), .cpus = DEFAULT_CPUS,
			      .mem = DEFAULT_MEMORY_MIB, .env = env };
	struct run_sandbox sb = { 0 };
	struct sbxd_conn *c = NULL;
	int rc = run_parse(&o, argc, argv);

	if (o.help)
		cmd_help_print(stdout, o.cmd);
	if (rc || o.help)
		return rc;
	rc = run_prepare(p, &o, &sb);
	if (rc == 0)
		rc = run_create(p, &o, &sb, &c);
	if (rc == 0 && o.create_only)
		printf("%s\n", sb.spec.name);
	else if (rc == 0 && o.detach)
		rc = run_start(c, sb.spec.name);
	else if (rc == 0) {
		rc = run_attach(c, &o, sb.spec.name);
		if (sb.spec.ws_sync && cmd_sync_barrier(c, o.cmd, sb.spec.name) < 0 && rc == 0)
			rc = 125;
	}
	sbxd_conn_free(c);
	spec_free(&sb.spec);
	return rc;
}
