// SPDX-License-Identifier: MIT
/* cmd_exec.c: `sbx exec`: run a command in a sandbox, its exit status passed through. */
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "client.h"
#include "names.h"
#include "util.h"

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
				return cmd_usage_error("exec", "-w wants an absolute path"), 2;
			cwd = optarg;
			break;
		case 'e':
			if (!env_assignment_valid(optarg))
				return cmd_usage_error("exec", "-e wants KEY=VALUE"), 2;
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
			return cmd_usage_error("exec", "unknown option"), 2;
		}
	}
	if (argc - optind < 2)
		return cmd_usage_error("exec", "want NAME and CMD"), 2;
	if (!name_valid(argv[optind])) {
		fprintf(stderr, "sbx exec: invalid sandbox name '%s'\n", argv[optind]);
		return 2;
	}
	if (tty && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "sbx exec: -t needs a terminal on stdin; dropping it\n");
		tty = false;
	}
	c = cmd_connect(p);
	if (!c)
		return 1;
	rc = client_exec(c, cmd_exec_request(argv[optind], argv + optind + 1, argc - optind - 1, env, nenv, cwd, user, tty),
			 interactive, tty);
	client_free(c);
	return rc;
}
