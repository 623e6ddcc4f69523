// SPDX-License-Identifier: MIT
/* vm_error.c: why QEMU or virtiofsd did not start, in words a user can act on. */
#include "vm_error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* The last lines a VMM wrote to the log (its stderr shares the console log): at most
 * 3 lines and 720 bytes, control bytes blanked; NULL when there is none. */
static char *vmm_log_tail(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char buf[2048], *p;
	off_t end;
	ssize_t n;
	int lines = 3;

	if (fd < 0 || (end = lseek(fd, 0, SEEK_END)) <= 0)
		return NULL;
	n = pread(fd, buf, sizeof(buf) - 1, end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != '\n' && ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f))
			buf[i] = ' ';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	p = buf + n;
	while (p > buf && lines > 0)
		if (*--p == '\n')
			lines--;
	if (*p == '\n')
		p++;
	if (!*p)
		return NULL;
	if (strlen(p) > 3 * 240)
		p[3 * 240] = '\0';
	return xstrdup(p);
}

/* A fix for what the VMM said, by the words it used (QEMU's and virtiofsd's own). */
static const char *vmm_fix(const char *said, int r)
{
	/* QEMU fails on the vhost-user socket after virtiofsd exits: virtiofsd is the cause */
	if (said && (strstr(said, "vhost-user") || strstr(said, "virtiofsd")))
		return "the workspace server (virtiofsd) failed: see its lines above; `sbx diagnose` checks user namespaces and subordinate ids";
	if (said && strstr(said, "/dev/kvm"))
		return "give yourself /dev/kvm (sudo usermod -aG kvm $USER, then log in again), or run `sbx diagnose`";
	if (said && (strstr(said, "Permission denied") || strstr(said, "Operation not permitted")))
		return "the file it names must be readable (the disk also writable) by the user sbx runs as; "
		       "`sbx diagnose` checks the rest";
	if (said && (strstr(said, "Cannot allocate memory") || strstr(said, "cannot set up guest memory")))
		return "give the sandbox less memory (-m) or free host memory";
	if (r == -EACCES)
		return "make it executable for everyone, on a path every directory of which is world-searchable "
		       "(virtiofsd runs as an unprivileged id of its own user namespace)";
	if (r == -ENOENT)
		return "install it (sudo apt-get install qemu-system-x86 virtiofsd) or point SBX_QEMU at a working QEMU";
	if (r == -EPERM)
		return "user namespaces or subordinate ids refused it: run `sbx diagnose`";
	return "run `sbx diagnose`; the log above says more";
}

void vm_start_error(const char *log, const char *who, const char *bin, const char *cause, int r, char **ret_err)
{
	_cleanup_free_ char *said = NULL;

	if (!ret_err || *ret_err)
		return;
	said = vmm_log_tail(log);
	*ret_err = xasprintf("%s (%s) did not start: %s%s%s\nfix: %s", who, bin, cause, said ? "; it said:\n" : "",
			     said ? said : "", vmm_fix(said, r));
}

const char *vm_spawn_cause(int r)
{
	if (r == -ENOENT)
		return "the program is missing";
	if (r == -EACCES)
		return "the program cannot be executed by the id it runs as";
	if (r == -EPERM)
		return "setting up its user namespace or mounts was refused";
	return strerror(-r);
}
