// SPDX-License-Identifier: MIT
/* front.c: `sbx` itself, the front: runs the hot client commands (exec, ls) as a static
 * program and hands every other command, and the daemon, to the full program. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd_doc.h"
#include "paths.h"
#include "progress.h"
#include "util.h"
#include "version.h"

/*
 * Why a front: a process that maps OpenSSL, c-ares, ldns, libidn2 and the rest and
 * binds them at start costs 1.5 to 10 ms before main(), depending on the host
 * (docs/exec-profile.md), and `sbx exec` needs none of them. This binary links the
 * client's code (cmd_exec.c, cmd_ls.c, sbxd_conn.c, the frame code: the same files as
 * the full program) and json-c, statically (static-pie), so it loads nothing. It must
 * not use what static glibc cannot do (NSS lookups such as getpwnam, dlopen, iconv).
 *
 * The full program (every command, help, the man pages, the daemon) is SBX_FULL_NAME,
 * found from this binary's own path only: beside it (the build tree: build/sbx and
 * build/sbx-full) or PREFIX/lib/sbx/ for PREFIX/bin/sbx (an installation). Never from
 * PATH or the environment: they must not choose the program that holds the user's
 * secrets and runs their VMs.
 */
#define SBX_FULL_NAME "sbx-full"
/* the full program cannot be run: like a shell's "command not found" */
#define EXIT_NO_FULL 127

/* The commands run here; main.c's table has every command, these included. */
static const struct command {
	const char *name;
	int (*run)(struct sbx_paths *p, int argc, char **argv);
} front_commands[] = {
	{ "exec", cmd_exec },
	{ "ls", cmd_ls },
	{ "list", cmd_ls },
};

/* The full program's path, from /proc/self/exe: DIR/sbx-full when it exists there,
 * else DIR/../lib/sbx/sbx-full. */
static int full_path(char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *dir;
	int w;

	if (n <= 0)
		return -errno;
	exe[n] = 0;
	dir = dirname(exe);
	w = snprintf(out, size, "%s/" SBX_FULL_NAME, dir);
	if (w < 0 || (size_t)w >= size)
		return -ENAMETOOLONG;
	if (access(out, X_OK) == 0)
		return 0;
	w = snprintf(out, size, "%s/../lib/sbx/" SBX_FULL_NAME, dir);
	if (w < 0 || (size_t)w >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* Run the full program with our argv, as it was given. Returns only on failure, after
 * saying why. */
static int front_hand_over(char **argv)
{
	char full[PATH_MAX];
	int r = full_path(full, sizeof(full));

	fflush(stdout);
	if (r == 0) {
		execv(full, argv);
		r = -errno;
		fprintf(stderr, "sbx: cannot run %s: %s; sbx is installed with it (reinstall sbx)\n", full,
			strerror(-r));
	} else {
		fprintf(stderr, "sbx: cannot find the full sbx program: %s\n", strerror(-r));
	}
	return EXIT_NO_FULL;
}

/* The help lives in the full program (cmd_doc.c): a command's --help here is `sbx help
 * CMD` there. Every caller in the front prints to stdout and then exits 0, as `sbx
 * help CMD` does. */
int cmd_help_print(FILE *f, const char *topic)
{
	char *argv[] = { "sbx", "help", (char *)topic, NULL };

	exit(front_hand_over(argv));
}

int main(int argc, char **argv)
{
	struct sbx_paths p;
	int g, rc;

	log_setup("sbx", getenv("SBX_DEBUG") ? LOG_DEBUG : LOG_INFO, false);
	progress_init(false);
	g = cmd_global_options(argc, argv);
	if (argc - g >= 2 && !strcmp(argv[g + 1], "--version")) {
		printf("sbx %s\n", SBX_VERSION);
		return 0;
	}
	for (size_t i = 0; argc - g >= 2 && i < ARRAY_SIZE(front_commands); i++) {
		if (strcmp(argv[g + 1], front_commands[i].name))
			continue;
		paths_init(&p);
		rc = front_commands[i].run(&p, argc - g - 1, argv + g + 1);
		paths_free(&p);
		return rc;
	}
	return front_hand_over(argv);
}
