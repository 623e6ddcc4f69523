// SPDX-License-Identifier: MIT
/* cmd_exec.c: `sbx exec`: run a command in a sandbox, its exit status passed through. */
#include "cmd.h"
#include "cmd_doc.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "sbxd_conn.h"
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
	int nenv = 0, o, rc, name_i = 0, cmd_i = 0;
	struct sbxd_conn *c;

	/* [OPTIONS] NAME [OPTIONS] [--] CMD [ARG...]: options before and after NAME are
	 * sbx's; the first non-option after NAME (or a "--") starts the command, whose own
	 * options pass through untouched. Two passes of getopt in POSIX mode ("+"): the
	 * second runs on argv from NAME on, NAME standing in for argv[0]. */
	for (int pass = 0; pass < 2; pass++) {
		int base = pass == 0 ? 0 : name_i;

		optind = 0; /* glibc: start over (and forget the last pass) */
		opterr = 0; /* said below (getopt would name NAME as the program) */
		while ((o = getopt_long(argc - base, argv + base, "+:itu:w:e:h", opts, NULL)) != -1) {
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
				return cmd_help_print(stdout, "exec"), 0;
			case ':':
				fprintf(stderr, "sbx exec: %s needs a value\n", argv[base + optind - 1]);
				return 2;
			default:
				if (pass == 0) {
					fprintf(stderr, "sbx exec: unknown option '%s'\nRun 'sbx exec --help' for usage.\n",
						argv[optind - 1]);
					return 2;
				}
				fprintf(stderr, "sbx exec: unknown option '%s' after %s; the command's own options go after "
						"the command, or after --: sbx exec %s -- CMD ARG...\n",
					argv[base + optind - 1], argv[name_i], argv[name_i]);
				return 2;
			}
		}
		if (pass == 0) {
			if (optind >= argc)
				return cmd_usage_error("exec", "want NAME and CMD"), 2;
			name_i = optind;
		} else {
			cmd_i = base + optind;
		}
	}
	if (cmd_i >= argc)
		return cmd_usage_error("exec", "want NAME and CMD"), 2;
	if (!name_valid(argv[name_i])) {
		fprintf(stderr, "sbx exec: invalid sandbox name '%s'\n", argv[name_i]);
		return 2;
	}
	if (tty && !isatty(STDIN_FILENO)) {
		cmd_note("sbx exec: -t needs a terminal on stdin; dropping it\n");
		tty = false;
	}
	c = cmd_connect(p);
	if (!c)
		return 1;
	rc = sbxd_exec(c, cmd_exec_request(argv[name_i], argv + cmd_i, argc - cmd_i, env, nenv, cwd, user, tty),
			 interactive, tty);
	/* sync mode: return once the command's workspace changes are on the host */
	if (!sbxd_exec_ws_share(c) && cmd_sync_barrier(c, "exec", argv[name_i]) < 0 && rc == 0)
		rc = 125;
	sbxd_conn_free(c);
	return rc;
}
