// SPDX-License-Identifier: MIT
/* main.c: the sbx command line: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
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
	int rc;
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
		rc = cmd_run(&p, argc, argv);
	else if (!strcmp(cmd, "ls") || !strcmp(cmd, "list"))
		rc = cmd_ls(&p, argc, argv);
	else if (!strcmp(cmd, "exec"))
		rc = cmd_exec(&p, argc, argv);
	else if (!strcmp(cmd, "stop"))
		rc = cmd_stop(&p, argc, argv);
	else if (!strcmp(cmd, "rm"))
		rc = cmd_rm(&p, argc, argv);
	else if (!strcmp(cmd, "daemon"))
		rc = cmd_daemon(&p, argc, argv);
	else if (!strcmp(cmd, "review"))
		rc = cmd_review(&p, argc, argv);
	else if (!strcmp(cmd, "template"))
		rc = cmd_template(&p, argc, argv);
	else if (!strcmp(cmd, "policy"))
		rc = cmd_policy(&p, argc, argv);
	else if (!strcmp(cmd, "secret"))
		rc = cmd_secret(&p, argc, argv);
	else if (!strcmp(cmd, "settings"))
		rc = cmd_settings(&p, argc, argv);
	else if (!strcmp(cmd, "proxy-bench"))
		rc = cmd_proxy_bench(&p, argc, argv);
	else if (!strcmp(cmd, "diagnose"))
		rc = cmd_diagnose(&p, argc, argv);
	else {
		fprintf(stderr, "sbx: unknown command '%s'\n%s", cmd, usage);
		rc = 2;
	}
	paths_free(&p);
	return rc;
}
