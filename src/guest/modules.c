// SPDX-License-Identifier: MIT
/* modules.c: load kernel modules with finit_module: the initramfs list at boot, and by name through modules.dep. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "modules.h"
#include "util.h"

#define MODULES_LIST_MAX (64u * 1024u)
#define MODULES_DEP_MAX (8u * 1024u * 1024u)
#define MODULE_DEPS_MAX 64
#define MODULES_LATER_MAX 64

/*
 * finit_module from here instead of modprobe processes: under TCG every process
 * start costs tens of milliseconds (modprobe -a for egress's set: ~600 ms; this:
 * ~150 ms). Anything this cannot do (no modules.dep, compressed modules, a failure)
 * is left to the caller (egress_net.c falls back to modprobe).
 */

const char *modules_params(const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	return strcmp(base, "dummy.ko") ? "" : "numdummies=0";
}

int modules_load_file(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, modules_params(path), 0) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

char *modules_list_next(char **cur)
{
	char *line;

	while ((line = strsep(cur, "\n"))) {
		line[strcspn(line, "\r")] = 0;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line && *line != '#')
			return line;
	}
	return NULL;
}

/* Read end of a pipe whose write end only the later-set loader holds: EOF once it is
 * done (or was never started). */
static int later_fd = -1;

static void modules_load_fds(const int *fds, const char *const *paths, unsigned n)
{
	uint64_t t0 = now_ms();
	unsigned failed = 0;

	for (unsigned i = 0; i < n; i++)
		if (syscall(SYS_finit_module, fds[i], modules_params(paths[i]), 0) < 0 && errno != EEXIST) {
			failed++;
			log_err("module %s: %m", paths[i]);
		}
	log_debug("loaded %u later modules (%u failed) in %llu ms", n - failed, failed,
		  (unsigned long long)(now_ms() - t0));
}

/* Open the rest of the list (the later set) now, while the initramfs is still the
 * root, and load it in a child while PID 1 goes on to mount the root disk and meet
 * the host. Whoever needs those modules calls modules_later_wait() first. */
static void modules_load_later(char *cur)
{
	int fds[MODULES_LATER_MAX], pfd[2] = { -1, -1 };
	const char *paths[MODULES_LATER_MAX];
	unsigned n = 0;
	char *line;
	pid_t pid = -1;

	while ((line = modules_list_next(&cur)) && n < MODULES_LATER_MAX) {
		fds[n] = open(line, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0)
			log_err("module %s: %m", line);
		else
			paths[n++] = line;
	}
	if (line)
		log_err("module list: more than %u later modules; the rest is not loaded", MODULES_LATER_MAX);
	if (pipe2(pfd, O_CLOEXEC) == 0)
		pid = fork();
	if (pid == 0) {
		modules_load_fds(fds, paths, n);
		_exit(0); /* pfd[1] closes: modules_later_wait() returns */
	}
	if (pid < 0) {
		log_err("module loader: %m; loading the later modules now");
		modules_load_fds(fds, paths, n);
		if (pfd[0] >= 0)
			close(pfd[0]);
	} else {
		later_fd = pfd[0];
	}
	if (pfd[1] >= 0)
		close(pfd[1]);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

void modules_later_wait(void)
{
	char c;

	if (later_fd < 0)
		return;
	while (read(later_fd, &c, 1) < 0 && errno == EINTR)
		;
}

void modules_load_list(const char *list_path)
{
	_cleanup_free_ char *list = NULL;
	char *cur, *line;
	unsigned n = 0, failed = 0;
	uint64_t t0 = now_ms();
	int r;

	r = file_read_all(list_path, MODULES_LIST_MAX, &list, NULL);
	if (r == -ENOENT)
		return; /* a kernel with the drivers built in needs no list */
	if (r < 0) {
		log_err("read %s: %s", list_path, strerror(-r));
		return;
	}
	for (cur = list; (line = modules_list_next(&cur));) {
		if (!strcmp(line, MODULES_LATER_MARK)) {
			modules_load_later(cur);
			break;
		}
		r = modules_load_file(line);
		n++;
		if (r < 0) {
			failed++;
			log_err("module %s: %s", line, strerror(-r));
		}
	}
	log_debug("loaded %u modules (%u failed) in %llu ms", n - failed, failed,
		  (unsigned long long)(now_ms() - t0));
}

bool module_present(const char *name)
{
	char p[128];

	snprintf(p, sizeof(p), "/sys/module/%s", name);
	return access(p, F_OK) == 0;
}

void moddep_open(struct moddep *m)
{
	_cleanup_free_ char *file = NULL;
	struct utsname u;

	if (uname(&u) < 0)
		return;
	m->dir = xasprintf("/lib/modules/%s", u.release);
	file = xasprintf("%s/modules.dep", m->dir);
	if (file_read_all(file, MODULES_DEP_MAX, &m->dep, NULL) < 0)
		m->dep = NULL;
}

void moddep_close(struct moddep *m)
{
	free(m->dir);
	free(m->dep);
	*m = (struct moddep){ 0 };
}

char *moddep_line(const char *dep, const char *name)
{
	size_t nl = strlen(name);

	for (const char *line = dep; line && *line;) {
		const char *end = strchr(line, '\n'), *colon = strchr(line, ':'), *base;

		if (!end)
			end = line + strlen(line);
		if (colon && colon < end) {
			for (base = colon; base > line && base[-1] != '/'; base--)
				;
			if ((size_t)(colon - base) == nl + 3 && !strncmp(base, name, nl) && !strncmp(base + nl, ".ko", 3))
				return strndup(line, (size_t)(end - line));
		}
		line = *end ? end + 1 : NULL;
	}
	return NULL;
}

/* rel is relative to dir, as modules.dep writes it. */
static int moddep_load_file(const char *dir, const char *rel)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, rel);
	size_t n = strlen(rel);

	if (n < 4 || strcmp(rel + n - 3, ".ko") != 0)
		return -EOPNOTSUPP;
	return modules_load_file(path);
}

int moddep_load(const struct moddep *m, const char *name)
{
	_cleanup_free_ char *line = NULL;
	char *deps[MODULE_DEPS_MAX], *cur, *tok;
	int n = 0, r;

	if (!m->dep)
		return -ENOENT;
	line = moddep_line(m->dep, name);
	if (!line)
		return -ENOENT;
	cur = strchr(line, ':');
	if (!cur)
		return -EINVAL;
	*cur++ = 0;
	while ((tok = strsep(&cur, " \t")))
		if (*tok && n < MODULE_DEPS_MAX)
			deps[n++] = tok;
	/* modules.dep lists the dependencies so that loading them backwards works. */
	while (n-- > 0)
		if ((r = moddep_load_file(m->dir, deps[n])) < 0)
			return r;
	return moddep_load_file(m->dir, line);
}
