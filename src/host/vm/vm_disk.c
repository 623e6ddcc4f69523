// SPDX-License-Identifier: MIT
/* vm_disk.c: a sandbox's disk, a qcow2 overlay on its template's raw base image. */
#include "vm.h"
#include "vm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static int run_wait(char *const argv[])
{
	int st, nul;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, STDIN_FILENO);
			dup2(nul, STDOUT_FILENO);
			dup2(nul, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (!WIFEXITED(st))
		return -EIO;
	return WEXITSTATUS(st) == 127 ? -ENOENT : WEXITSTATUS(st) ? -EIO : 0;
}

int vm_disk_create(const char *base_raw, const char *overlay_qcow2)
{
	_cleanup_free_ char *tmp = NULL, *dir = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	char *slash;
	int r;

	if (!vm_path_ok(base_raw) || !vm_path_ok(overlay_qcow2))
		return -EINVAL;
	tmp = xasprintf("%s.tmp.%d", overlay_qcow2, (int)getpid());
	char *argv[] = { (char *)"qemu-img", (char *)"create", (char *)"-q", (char *)"-f", (char *)"qcow2",
			 (char *)"-b", (char *)base_raw, (char *)"-F", (char *)"raw", tmp, NULL };

	(void)unlink(tmp);
	r = run_wait(argv);
	if (r < 0) {
		(void)unlink(tmp);
		log_debug("qemu-img create %s failed: %s", tmp, strerror(-r));
		return r;
	}
	fd = open(tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fchmod(fd, 0600) < 0 || fsync(fd) < 0 || rename(tmp, overlay_qcow2) < 0) {
		r = -errno;
		(void)unlink(tmp);
		return r;
	}
	dir = xstrdup(overlay_qcow2);
	slash = strrchr(dir, '/');
	slash[slash == dir ? 1 : 0] = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	return 0;
}
