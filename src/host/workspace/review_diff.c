// SPDX-License-Identifier: MIT
/* review_diff.c: unified diffs through a `diff -u` child, package.json scripts. The
 * content comes from an untrusted workspace: it reaches diff through memfds and the
 * terminal only escaped (textesc.h). */
#include "review_diff.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "util.h"

static int memfd_with(const char *buf, size_t len)
{
	int fd = memfd_create("sbx-review", MFD_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = len ? write_all(fd, buf, len) : 0;
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* In the child: fds 3 and 4 are the two sides, stdout/stderr the pipe. */
static void __attribute__((noreturn)) diff_child(int fa, int fb, int out, const char *la, const char *lb)
{
	char *const argv[] = { "diff", "-u", "--label", (char *)la, "--label", (char *)lb, "/dev/fd/3", "/dev/fd/4", NULL };
	char *const envp[] = { "LC_ALL=C", "PATH=/usr/bin:/bin", NULL };
	int na = fcntl(fa, F_DUPFD, 10), nb = fcntl(fb, F_DUPFD, 10), no = fcntl(out, F_DUPFD, 10);
	int nul = open("/dev/null", O_RDONLY);

	if (na < 0 || nb < 0 || no < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(no, 1) < 0 || dup2(no, 2) < 0 ||
	    dup2(na, 3) < 0 || dup2(nb, 4) < 0)
		_exit(126);
	close_range(5, ~0U, 0);
	signal(SIGPIPE, SIG_DFL);
	execve("/usr/bin/diff", argv, envp);
	execve("/bin/diff", argv, envp);
	_exit(127);
}

int review_diff_run(const char *a, size_t alen, const char *b, size_t blen, const char *la, const char *lb,
		    char **ret)
{
	_cleanup_close_ int fa = memfd_with(a, a ? alen : 0);
	_cleanup_close_ int fb = memfd_with(b, b ? blen : 0);
	_cleanup_close_ int rd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 16384;
	uint64_t deadline = now_ms() + REVIEW_DIFF_TIMEOUT_MS;
	bool truncated = false, timed_out = false;
	int p[2], status = 0;
	pid_t pid;

	if (fa < 0)
		return fa;
	if (fb < 0)
		return fb;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0)
		diff_child(fa, fb, p[1], la, lb);
	close(p[1]);
	rd = p[0];
	buf = xmalloc(cap + 1);
	for (;;) {
		struct pollfd pfd = { .fd = rd, .events = POLLIN };
		int64_t left = (int64_t)deadline - (int64_t)now_ms();
		ssize_t n;

		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (len == cap) {
			if (cap >= REVIEW_DIFF_OUT_MAX) {
				truncated = true;
				break;
			}
			cap *= 2;
			buf = realloc(TAKE_PTR(buf), cap + 1);
			if (!buf)
				die("out of memory");
		}
		n = read(rd, buf + len, cap - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (truncated || timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf[len] = 0;
	if (timed_out) {
		*ret = xasprintf("%s[diff took longer than %d s; stopped]\n", buf, REVIEW_DIFF_TIMEOUT_MS / 1000);
		return 1;
	}
	if (truncated) {
		*ret = xasprintf("%s\n[diff truncated at %u MiB]\n", buf, REVIEW_DIFF_OUT_MAX >> 20);
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
		return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOENT : -EIO;
	*ret = TAKE_PTR(buf);
	return WEXITSTATUS(status);
}

void review_diff_count(const char *diff, unsigned *ret_add, unsigned *ret_del)
{
	unsigned add = 0, del = 0;
	bool hunk = false;

	for (const char *l = diff; l && *l;) {
		const char *e = strchr(l, '\n');
		if (!strncmp(l, "@@", 2))
			hunk = true;
		else if (hunk && *l == '+')
			add++;
		else if (hunk && *l == '-')
			del++;
		l = e ? e + 1 : NULL;
	}
	*ret_add = add;
	*ret_del = del;
}

static struct json_object *parse_obj(const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (!tok || len > INT32_MAX)
		die("out of memory");
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int review_pkg_scripts_changed(const char *a, size_t alen, const char *b, size_t blen)
{
	struct json_object *oa = a ? parse_obj(a, alen) : NULL;
	struct json_object *ob = b ? parse_obj(b, blen) : NULL;
	struct json_object *sa = NULL, *sb = NULL;
	int r;

	if ((a && !oa) || (b && !ob)) {
		r = -1;
	} else {
		if (oa)
			json_object_object_get_ex(oa, "scripts", &sa);
		if (ob)
			json_object_object_get_ex(ob, "scripts", &sb);
		r = !sa && !sb ? 0 : !sa || !sb ? 1 : !json_object_equal(sa, sb);
	}
	json_object_put(oa);
	json_object_put(ob);
	return r;
}
