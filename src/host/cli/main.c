// SPDX-License-Identifier: MIT
/* main.c: the sbx command line: the table of commands, the help made from it, dispatch. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "paths.h"
#include "util.h"

static int cmd_help(struct sbx_paths *p, int argc, char **argv);
static int cmd_version(struct sbx_paths *p, int argc, char **argv);

enum {
	CMD_HIDDEN = 1 << 0,   /* an alias or a tool for tests: not in `sbx help` */
	CMD_NO_PATHS = 1 << 1, /* needs no state directories: run with p = NULL, creates none */
};

/* Every command, in the order `sbx help` lists them. One line each: name, entry point
 * (cmd.h), what `sbx help` says of it, flags. */
static const struct command {
	const char *name;
	int (*run)(struct sbx_paths *p, int argc, char **argv);
	const char *summary;
	unsigned flags;
} commands[] = {
	{ "run", cmd_run, "create (if needed), start and attach to a sandbox", 0 },
	{ "create", cmd_run, "create a sandbox without starting it", 0 },
	{ "ls", cmd_ls, "list sandboxes", 0 },
	{ "list", cmd_ls, "list sandboxes", CMD_HIDDEN },
	{ "exec", cmd_exec, "run a command in a sandbox", 0 },
	{ "stop", cmd_stop, "stop sandboxes", 0 },
	{ "rm", cmd_rm, "remove sandboxes", 0 },
	{ "policy", cmd_policy, "network policy: init, allow, deny, ls, rm, check, log, reset", 0 },
	{ "secret", cmd_secret, "set, ls, rm API keys the proxy injects (never enter the VM)", 0 },
	{ "settings", cmd_settings, "ls, get, set, unset host-side settings", 0 },
	{ "review", cmd_review, "what changed in workspace files that run on the host (hooks, CI, builds)", 0 },
	{ "template", cmd_template, "build or list root disk templates", 0 },
	{ "daemon", cmd_daemon, "start, stop or query the daemon", 0 },
	{ "diagnose", cmd_diagnose, "check the host's setup", 0 },
	{ "version", cmd_version, "print the version", CMD_NO_PATHS },
	{ "--version", cmd_version, "print the version", CMD_HIDDEN | CMD_NO_PATHS },
	{ "help", cmd_help, "this list", CMD_HIDDEN | CMD_NO_PATHS },
	{ "--help", cmd_help, "this list", CMD_HIDDEN | CMD_NO_PATHS },
	{ "-h", cmd_help, "this list", CMD_HIDDEN | CMD_NO_PATHS },
	{ "proxy-bench", cmd_proxy_bench, "the egress engine on a loopback port (tests, benchmarks)", CMD_HIDDEN },
};

static void usage(FILE *f)
{
	fputs("Usage: sbx COMMAND [ARGS...]\n\nRun AI coding agents in disposable microVMs.\n\nCommands:\n", f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!(commands[i].flags & CMD_HIDDEN))
			fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fputs("\nRun 'sbx COMMAND --help' for a command's options. SBX_HOME puts all state in one directory.\n", f);
}

static int cmd_help(struct sbx_paths *p, int argc, char **argv)
{
	usage(stdout);
	return 0;
}

static int cmd_version(struct sbx_paths *p, int argc, char **argv)
{
	/* `sbx --version --help` prints the version, as it always did */
	if (!strcmp(argv[0], "version") && argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		printf("Usage: sbx version\n\nPrint sbx's version.\n");
	else
		printf("sbx %s\n", SBX_VERSION);
	return 0;
}

static const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct command *c;
	struct sbx_paths p;
	int rc;

	log_setup("sbx", getenv("SBX_DEBUG") ? LOG_DEBUG : LOG_INFO, false);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	c = command_find(argv[1]);
	if (!c) {
		fprintf(stderr, "sbx: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	if (c->flags & CMD_NO_PATHS)
		return c->run(NULL, argc - 1, argv + 1);
	paths_init(&p);
	rc = c->run(&p, argc - 1, argv + 1);
	paths_free(&p);
	return rc;
}
