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
