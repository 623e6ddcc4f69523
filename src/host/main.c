// SPDX-License-Identifier: MIT
/* main.c: the sbx command line: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd_egress.h"
#include "cmd_review.h"
#include "cmd_secret.h"
#include "image.h"
#include "proxy.h"
#include "paths.h"
#include "util.h"

static const char usage[] =
	"Usage: sbx COMMAND [ARGS...]\n"
	"\n"
	"Run AI coding agents in disposable microVMs.\n"
	"\n"
	"Commands:\n"
	"  run       create (if needed), start and attach to a sandbox\n"
	"  create    create a sandbox without starting it\n"
	"  ls        list sandboxes\n"
	"  exec      run a command in a sandbox\n"
	"  stop      stop sandboxes\n"
	"  rm        remove sandboxes\n"
	"  policy    network policy: init, allow, deny, ls, rm, check, log, reset\n"
	"  secret    set, ls, rm API keys the proxy injects (never enter the VM)\n"
	"  settings  ls, get, set, unset host-side settings\n"
	"  review    what changed in workspace files that run on the host (hooks, CI, builds)\n"
	"  template  build or list root disk templates\n"
	"  daemon    start, stop or query the daemon\n"
	"  diagnose  check the host's setup\n"
	"  version   print the version\n"
	"\n"
	"Run 'sbx COMMAND --help' for a command's options. SBX_HOME puts all state in one directory.\n";

int main(int argc, char **argv)
{
	struct sbx_paths p;
	const char *cmd;

	log_setup("sbx", getenv("SBX_DEBUG") ? LOG_DEBUG : LOG_INFO, false);
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") && argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
		printf("Usage: sbx version\n\nPrint sbx's version.\n");
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("sbx %s\n", SBX_VERSION);
		return 0;
	}
	paths_init(&p);
	argc--;
	argv++;
	if (!strcmp(cmd, "run") || !strcmp(cmd, "create"))
		return cmd_run(&p, argc, argv);
	if (!strcmp(cmd, "ls") || !strcmp(cmd, "list"))
		return cmd_ls(&p, argc, argv);
	if (!strcmp(cmd, "exec"))
		return cmd_exec(&p, argc, argv);
	if (!strcmp(cmd, "stop"))
		return cmd_stop(&p, argc, argv);
	if (!strcmp(cmd, "rm"))
		return cmd_rm(&p, argc, argv);
	if (!strcmp(cmd, "daemon"))
		return cmd_daemon(&p, argc, argv);
	if (!strcmp(cmd, "review"))
		return cmd_review(&p, argc, argv);
	if (!strcmp(cmd, "template"))
		return cmd_template(&p, argc, argv);
	if (!strcmp(cmd, "policy"))
		return cmd_policy(&p, argc, argv);
	if (!strcmp(cmd, "secret"))
		return cmd_secret(&p, argc, argv);
	if (!strcmp(cmd, "settings"))
		return cmd_settings(&p, argc, argv);
	if (!strcmp(cmd, "proxy-bench"))
		return cmd_proxy_bench(&p, argc, argv);
	if (!strcmp(cmd, "diagnose"))
		return cmd_diagnose(&p, argc, argv);
	fprintf(stderr, "sbx: unknown command '%s'\n%s", cmd, usage);
	return 2;
}
