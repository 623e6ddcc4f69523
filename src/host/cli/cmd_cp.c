// SPDX-License-Identifier: MIT
/* cmd_cp.c: `sbx cp`: copy files between the host and a sandbox as a tar stream over an
 * exec session (the guest's own tar, run as root), unpacked on the host by cp_extract. */
#include "cmd.h"
#include "cmd_doc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cp_extract.h"
#include "cp_pack.h"
#include "names.h"
#include "sbxd_conn.h"
#include "textesc.h"
#include "util.h"

/* Guest side, host -> guest: $1 the destination, $2 the archive's top name. An
 * existing directory is copied into (merging, its own owner and mode kept); anything
 * else is the new name, unpacked beside it first and renamed into place. tar runs as
 * root: entries get the archive's owner name ("agent"). */
static const char SCRIPT_IN[] =
	"set -e\n"
	"dest=$1 top=$2\n"
	"if [ -d \"$dest\" ]; then\n"
	"  exec tar -x -f - -C \"$dest\" --same-owner --same-permissions --no-overwrite-dir\n"
	"fi\n"
	"case $dest in */) echo \"sbx cp: $dest: not a directory\" >&2; exit 1;; esac\n"
	"parent=$(dirname -- \"$dest\")\n"
	"[ -d \"$parent\" ] || { echo \"sbx cp: $parent: no such directory\" >&2; exit 1; }\n"
	"tmp=$(mktemp -d \"$parent/.sbx-cp.XXXXXX\")\n"
	"trap 'rm -rf -- \"$tmp\"' EXIT\n"
	"tar -x -f - -C \"$tmp\" --same-owner --same-permissions\n"
	"mv -T -- \"$tmp/$top\" \"$dest\"\n";

/* Guest side, guest -> host: $1 the source's directory, $2 its name, $3 1 for -r.
 * Hard links are sent as files (the host refuses link entries). */
static const char SCRIPT_OUT[] =
	"p=\"${1%/}/$2\"\n"
	"[ -e \"$p\" ] || [ -L \"$p\" ] || { echo \"sbx cp: $p: no such file or directory\" >&2; exit 1; }\n"
	"if [ \"$3\" != 1 ] && [ -d \"$p\" ] && [ ! -L \"$p\" ]; then\n"
	"  echo \"sbx cp: $p: is a directory (use -r)\" >&2; exit 1\n"
	"fi\n"
	"cd -- \"$1\" || exit 1\n"
	"exec tar -c -f - --format=gnu --hard-dereference -- \"./$2\"\n";

struct cp_args {
	const char *name;   /* the sandbox */
	const char *src, *dest;
	bool to_guest, recursive;
};

/* "NAME:PATH" names a sandbox's path when NAME is a valid sandbox name; write
 * ./NAME:x for a host file with a colon. */
static bool guest_operand(const char *arg, char **ret_name, const char **ret_path)
{
	const char *colon = strchr(arg, ':');
	_cleanup_free_ char *name = NULL;

	if (!colon || colon == arg)
		return false;
	name = strndup(arg, (size_t)(colon - arg));
	if (!name || !name_valid(name))
		return false;
	*ret_name = TAKE_PTR(name);
	*ret_path = colon + 1;
	return true;
}

/* The last component of path without trailing slashes, in a new string ("" for "/"). */
static char *last_name(const char *path)
{
	size_t len = strlen(path);
	const char *s;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 1 && path[0] == '/')
		return xstrdup("");
	s = memrchr(path, '/', len);
	s = s ? s + 1 : path;
	return strndup(s, len - (size_t)(s - path));
}

static void err_path(const char *path, const char *what)
{
	_cleanup_free_ char *e = text_escape(path, strlen(path), ESC_BACKSLASH);

	fprintf(stderr, "sbx cp: %s: %s\n", e, what);
}

static int wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* rc: the guest side's exit status; 125 is sbx's own failure (said already). */
static void report_failure(const char *dir, const char *name, int rc)
{
	if (rc == 125)
		fprintf(stderr, "sbx cp: the copy %s %s failed\n", dir, name);
	else
		fprintf(stderr, "sbx cp: the copy %s %s failed (exit %d in the sandbox)\n", dir, name, rc);
}

static int run_exec(struct sbx_paths *p, const struct cp_args *a, char **argv, int argc, int in_fd, int out_fd)
{
	struct sbxd_conn *c = cmd_connect(p);
	int rc;

	if (!c)
		return 125;
	rc = sbxd_exec_fds(c, cmd_exec_request(a->name, argv, argc, NULL, 0, NULL, "root", false), in_fd, out_fd);
	if (!sbxd_exec_ws_share(c) && cmd_sync_barrier(c, "cp", a->name) < 0 && rc == 0)
		rc = 125;
	sbxd_conn_free(c);
	return rc;
}

static int copy_in(struct sbx_paths *p, const struct cp_args *a)
{
	_cleanup_free_ char *top = last_name(a->src), *real = NULL;
	struct stat st;
	int fds[2], nul, rc, crc;
	pid_t pid;

	if (lstat(a->src, &st) < 0)
		return err_path(a->src, strerror(errno)), 1;
	if (S_ISDIR(st.st_mode) && !a->recursive)
		return err_path(a->src, "is a directory (use -r)"), 1;
	if (!strcmp(top, ".") || !strcmp(top, "..")) {
		free(top);
		real = realpath(a->src, NULL);
		top = real ? last_name(real) : xstrdup("");
	}
	if (!*top)
		return err_path(a->src, "cannot copy the root directory"), 1;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return fprintf(stderr, "sbx cp: pipe: %s\n", strerror(errno)), 1;
	pid = fork();
	if (pid < 0)
		return fprintf(stderr, "sbx cp: fork: %s\n", strerror(errno)), 1;
	if (pid == 0) {
		char *err = NULL;
		close(fds[0]);
		if (cp_pack(fds[1], a->src, top, a->recursive, &err) < 0) {
			fprintf(stderr, "sbx cp: %s\n", err);
			_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	{
		char *argv[] = { "sh", "-c", (char *)SCRIPT_IN, "sbx-cp", (char *)a->dest, top, NULL };
		rc = run_exec(p, a, argv, 6, fds[0], nul);
	}
	close(nul);
	close(fds[0]);
	crc = wait_child(pid);
	if (rc == 0 && crc == 0)
		return 0;
	if (rc >= 125) /* sbx or the exec failed; below that the guest side said why */
		report_failure("into", a->name, rc);
	return 1;
}

/* The host directory to unpack in, and the name the copy gets there. */
static int dest_open(const char *dest, const char *src_name, int *ret_fd, char **ret_top)
{
	struct stat st;
	_cleanup_free_ char *parent = NULL, *top = NULL;
	const char *slash;
	int fd;

	if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode)) {
		fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return err_path(dest, strerror(errno)), -1;
		*ret_fd = fd;
		*ret_top = xstrdup(src_name);
		return 0;
	}
	if (dest[0] && dest[strlen(dest) - 1] == '/')
		return err_path(dest, "not a directory"), -1;
	top = last_name(dest);
	if (!*top || !strcmp(top, ".") || !strcmp(top, ".."))
		return err_path(dest, "not a name to create"), -1;
	slash = strrchr(dest, '/');
	parent = slash ? strndup(dest, slash == dest ? 1 : (size_t)(slash - dest)) : xstrdup(".");
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_path(parent, strerror(errno)), -1;
	*ret_fd = fd;
	*ret_top = TAKE_PTR(top);
	return 0;
}

static int copy_out(struct sbx_paths *p, const struct cp_args *a)
{
	_cleanup_free_ char *src_name = last_name(a->src), *src_dir = xstrdup(a->src), *top = NULL;
	_cleanup_close_ int dfd = -1;
	int fds[2], rc, crc;
	char *slash;
	pid_t pid;

	if (!*src_name || !strcmp(src_name, ".") || !strcmp(src_name, ".."))
		return err_path(a->src, "name a file or directory (not /, . or ..)"), 2;
	/* the directory part (a->src is absolute): cut the trailing slashes, then the name */
	for (size_t l = strlen(src_dir); l > 1 && src_dir[l - 1] == '/'; l--)
		src_dir[l - 1] = '\0';
	slash = strrchr(src_dir, '/');
	slash[slash == src_dir ? 1 : 0] = '\0';
	if (dest_open(a->dest, src_name, &dfd, &top) < 0)
		return 1;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return fprintf(stderr, "sbx cp: pipe: %s\n", strerror(errno)), 1;
	pid = fork();
	if (pid < 0)
		return fprintf(stderr, "sbx cp: fork: %s\n", strerror(errno)), 1;
	if (pid == 0) {
		struct cp_extract_opts o = {
			.dest_fd = dfd, .top_in = src_name, .top_out = top, .recursive = a->recursive,
			.lim = cp_limits_default(),
		};
		char *err = NULL;
		int r;

		close(fds[1]);
		r = cp_extract_confine(dfd);
		if (r < 0)
			fprintf(stderr, "sbx cp: warning: cannot confine the unpacking with Landlock: %s\n",
				strerror(-r));
		r = cp_extract_fd(fds[0], &o, &err);
		if (r == -ENODATA)
			_exit(3); /* nothing came: the guest said why */
		if (r < 0) {
			fprintf(stderr, "sbx cp: refused what %s sent: %s\n", a->name, err);
			_exit(1);
		}
		_exit(0);
	}
	close(fds[0]);
	/* the extractor quitting must not kill us: the session is reset instead */
	signal(SIGPIPE, SIG_IGN);
	{
		char *argv[] = { "sh", "-c", (char *)SCRIPT_OUT, "sbx-cp", src_dir, src_name,
				 a->recursive ? "1" : "0", NULL };
		rc = run_exec(p, a, argv, 7, -1, fds[1]);
	}
	close(fds[1]);
	crc = wait_child(pid);
	if (rc == 0 && crc == 0)
		return 0;
	if (crc == 3 && rc == 0)
		fprintf(stderr, "sbx cp: %s sent nothing\n", a->name);
	else if (rc >= 125 && crc != 1)
		report_failure("from", a->name, rc);
	return 1;
}

static int parse_args(int argc, char **argv, struct cp_args *a, char **ret_name)
{
	static const struct option opts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char *n1 = NULL, *n2 = NULL;
	const char *p1, *p2;
	bool g1, g2;
	int o;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "rRh", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
		case 'R': a->recursive = true; break;
		case 'h': return cmd_help_print(stdout, "cp"), 0;
		default:
			fprintf(stderr, "sbx cp: unknown option '%s'\nRun 'sbx cp --help' for usage.\n", argv[optind - 1]);
			return 2;
		}
	}
	if (argc - optind != 2)
		return cmd_usage_error("cp", "want SRC and DEST"), 2;
	g1 = guest_operand(argv[optind], &n1, &p1);
	g2 = guest_operand(argv[optind + 1], &n2, &p2);
	if (g1 == g2) {
		free(n1);
		free(n2);
		return cmd_usage_error("cp", "one of SRC and DEST must be NAME:PATH (a sandbox's path), the other a "
					     "host path"), 2;
	}
	a->to_guest = g2;
	a->name = *ret_name = g1 ? n1 : n2;
	a->src = g1 ? p1 : argv[optind];
	a->dest = g2 ? p2 : argv[optind + 1];
	if ((g1 ? p1 : p2)[0] != '/')
		return cmd_usage_error("cp", "the sandbox's path must be absolute (NAME:/path)"), 2;
	if (!*a->src || !*a->dest)
		return cmd_usage_error("cp", "empty path"), 2;
	return -1;
}

int cmd_cp(struct sbx_paths *p, int argc, char **argv)
{
	struct cp_args a = { 0 };
	_cleanup_free_ char *name = NULL;
	int rc = parse_args(argc, argv, &a, &name);

	if (rc >= 0)
		return rc;
	return a.to_guest ? copy_in(p, &a) : copy_out(p, &a);
}
