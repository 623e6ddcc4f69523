// SPDX-License-Identifier: MIT
/* main.c: the sbx command line: the table of commands, the help made from it, dispatch. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "cmd_doc.h"
#include "paths.h"
#include "progress.h"
#include "util.h"
#include "version.h"

static int cmd_help(struct sbx_paths *p, int argc, char **argv);
static int cmd_version(struct sbx_paths *p, int argc, char **argv);
static int cmd_login(struct sbx_paths *p, int argc, char **argv);
static int cmd_man(struct sbx_paths *p, int argc, char **argv);

enum {
	CMD_NO_PATHS = 1 << 0, /* needs no state directories: run with p = NULL, creates none */
};

/* Every command and alias: name, entry point (cmd.h), flags. What `sbx help`, `--help`,
 * the man pages and the completion say of them is in cmd_doc.c. */
static const struct command {
	const char *name;
	int (*run)(struct sbx_paths *p, int argc, char **argv);
	unsigned flags;
} commands[] = {
	{ "run", cmd_run, 0 },
	{ "create", cmd_run, 0 },
	{ "ls", cmd_ls, 0 },
	{ "list", cmd_ls, 0 },
	{ "exec", cmd_exec, 0 },
	{ "cp", cmd_cp, 0 },
	{ "stop", cmd_stop, 0 },
	{ "rm", cmd_rm, 0 },
	{ "prune", cmd_prune, 0 },
	{ "ports", cmd_ports, 0 },
	{ "sync", cmd_sync, 0 },
	{ "reset", cmd_reset, 0 },
	{ "policy", cmd_policy, 0 },
	{ "secret", cmd_secret, 0 },
	{ "settings", cmd_settings, 0 },
	{ "review", cmd_review, 0 },
	{ "template", cmd_template, 0 },
	{ "daemon", cmd_daemon, 0 },
	{ "diagnose", cmd_diagnose, 0 },
	{ "version", cmd_version, 0 }, /* reads the templates' versions */
	{ "--version", cmd_version, CMD_NO_PATHS },
	{ "help", cmd_help, CMD_NO_PATHS },
	{ "--help", cmd_help, CMD_NO_PATHS },
	{ "-h", cmd_help, CMD_NO_PATHS },
	/* Docker Sandboxes has accounts; sbx has none, and says so */
	{ "login", cmd_login, CMD_NO_PATHS },
	{ "logout", cmd_login, CMD_NO_PATHS },
	/* tools: the egress engine for tests and benchmarks, the man pages, completion */
	{ "proxy-bench", cmd_proxy_bench, 0 },
	{ "__man", cmd_man, CMD_NO_PATHS },
	{ "__complete", cmd_complete, 0 },
	{ "__wsync-writer", cmd_wsync_writer, CMD_NO_PATHS },
};

static bool help_asked(int argc, char **argv)
{
	return argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
}

/* `sbx help [COMMAND]`; `sbx --help` and `sbx -h` ignore what follows. */
static int cmd_help(struct sbx_paths *p, int argc, char **argv)
{
	const char *topic = !strcmp(argv[0], "help") && argc > 1 ? argv[1] : NULL;

	if (topic && (!strcmp(topic, "--help") || !strcmp(topic, "-h")))
		topic = "help";
	if (!topic) {
		cmd_help_top(stdout);
		return 0;
	}
	if (cmd_help_print(stdout, topic) < 0) {
		fprintf(stderr, "sbx help: unknown command '%s'\n", topic);
		cmd_help_top(stderr);
		return 2;
	}
	return 0;
}

static int cmd_version(struct sbx_paths *p, int argc, char **argv)
{
	/* `sbx --version --help` prints the version, as it always did */
	if (!strcmp(argv[0], "version") && help_asked(argc, argv))
		cmd_help_print(stdout, "version");
	else {
		printf("sbx %s\n", SBX_VERSION);
		if (p)
			cmd_template_versions(p, stdout);
	}
	return 0;
}

/* Users copy `sbx login` from Docker Sandboxes' docs: there is nothing to do. */
static int cmd_login(struct sbx_paths *p, int argc, char **argv)
{
	if (help_asked(argc, argv))
		cmd_help_print(stdout, argv[0]);
	else if (!strcmp(argv[0], "login"))
		printf("sbx needs no account, so there is nothing to log in to: you are all set.\n"
		       "Agents' API keys: sbx secret set SERVICE (see sbx secret --help).\n");
	else
		printf("sbx needs no account, so there is nothing to log out of.\n"
		       "To remove a stored API key: sbx secret rm SERVICE.\n");
	return 0;
}

/* `sbx __man` (sbx(1)), `sbx __man CMD` (sbx-CMD(1)), `sbx __man --list` (the pages):
 * troff on stdout, for `make man`. */
static int cmd_man(struct sbx_paths *p, int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--list")) {
		size_t n;
		const struct cmd_doc *d = cmd_doc_list(&n);
		for (size_t i = 0; i < n; i++)
			if (!d[i].hidden)
				printf("%s\n", d[i].name);
		return 0;
	}
	if (cmd_man_print(stdout, argc > 1 ? argv[1] : NULL) < 0) {
		fprintf(stderr, "sbx __man: no page for '%s'\n", argv[1]);
		return 2;
	}
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
	int rc, g;

	log_setup("sbx", getenv("SBX_DEBUG") ? LOG_DEBUG : LOG_INFO, false);
	progress_init(false);
	g = cmd_global_options(argc, argv);
	argc -= g;
	argv += g;
	if (argc < 2) {
		cmd_help_top(stderr);
		return 2;
	}
	c = command_find(argv[1]);
	if (!c) {
		fprintf(stderr, "sbx: unknown command '%s'\n", argv[1]);
		cmd_help_top(stderr);
		return 2;
	}
	if (c->flags & CMD_NO_PATHS)
		return c->run(NULL, argc - 1, argv + 1);
	paths_init(&p);
	rc = c->run(&p, argc - 1, argv + 1);
	paths_free(&p);
	return rc;
}
