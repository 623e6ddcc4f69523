// SPDX-License-Identifier: MIT
/* modules.c: load the kernel modules listed in the initramfs, in order, with finit_module. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "modules.h"
#include "util.h"

#define MODULES_LIST_MAX (64u * 1024u)

static int module_load(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* dummy would otherwise create an unused dummy0 next to sbx0. */
	if (syscall(SYS_finit_module, fd, strstr(path, "/dummy.ko") ? "numdummies=0" : "", 0) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

void modules_load(const char *list_path)
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
	for (cur = list; (line = strsep(&cur, "\n"));) {
		line[strcspn(line, "\r")] = 0;
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		r = module_load(line);
		n++;
		if (r < 0) {
			failed++;
			log_err("module %s: %s", line, strerror(-r));
		}
	}
	log_debug("loaded %u modules (%u failed) in %llu ms", n - failed, failed,
		  (unsigned long long)(now_ms() - t0));
}
