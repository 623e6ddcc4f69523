// SPDX-License-Identifier: MIT
/* vmm_jail.c: build QEMU's tmpfs root and pivot_root into it (vmm_jail.h). */
#include "vmm_jail.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* root + path, bounded. */
static int jpath(char *buf, const char *root, const char *path)
{
	int n = snprintf(buf, PATH_MAX, "%s%s", root, path);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Bind host path src at the same path under root (its parents made 0755), read-only
 * unless rw. A directory is bound recursively. */
static int bind_at(const char *root, const char *src, bool rw)
{
	char dst[PATH_MAX], parent[PATH_MAX];
	struct stat st;
	char *slash;
	int r, fd;

	if (src[0] != '/' || stat(src, &st) < 0)
		return src[0] != '/' ? -EINVAL : -errno;
	if ((r = jpath(dst, root, src)) < 0)
		return r;
	memcpy(parent, dst, sizeof(parent));
	slash = strrchr(parent, '/');
	*slash = '\0';
	if ((r = mkdir_p(parent, 0755)) < 0)
		return r;
	if (S_ISDIR(st.st_mode)) {
		if (mkdir(dst, 0755) < 0 && errno != EEXIST)
			return -errno;
	} else {
		fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			return -errno;
		close(fd);
	}
	if (mount(src, dst, NULL, MS_BIND | (S_ISDIR(st.st_mode) ? MS_REC : 0), NULL) < 0)
		return -errno;
	if (!rw && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL) < 0)
		return -errno;
	return 0;
}

/* /bin, /lib, ... : the same symlink as on the host (merged /usr), or bound read-only. */
static int top_links(const char *root)
{
	static const char *const tops[] = { "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32" };
	char target[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(tops); i++) {
		ssize_t n;

		if (lstat(tops[i], &st) < 0)
			continue;
		if (!S_ISLNK(st.st_mode)) {
			if ((r = bind_at(root, tops[i], false)) < 0)
				return r;
			continue;
		}
		n = readlink(tops[i], target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		if ((r = jpath(dst, root, tops[i])) < 0)
			return r;
		if (symlink(target, dst) < 0)
			return -errno;
	}
	return 0;
}

static bool under_usr(const char *p)
{
	return !strncmp(p, "/usr/", 5);
}

int vmm_jail_enter(const struct vmm_jail *j)
{
	static const char *const devs[] = { "/dev/null", "/dev/zero", "/dev/random", "/dev/urandom" };
	const char *root = j->mountpoint;
	int r;

	umask(022);  /* the root's directories: QEMU's ids may walk them, never write */
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0)
		return -errno;
	/* nothing we mount from here on reaches the host's mount table */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m,nr_inodes=256") < 0)
		return -errno;
	if ((r = bind_at(root, "/usr", false)) < 0 || (r = top_links(root)) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(devs); i++)
		if ((r = bind_at(root, devs[i], true)) < 0)
			return r;
	if (j->kvm && (r = bind_at(root, "/dev/kvm", true)) < 0)
		return r;
	if (j->exe && j->exe[0] == '/' && !under_usr(j->exe) && (r = bind_at(root, j->exe, false)) < 0)
		return r;
	for (size_t i = 0; i < j->n && i < VMM_JAIL_FILES_MAX; i++)
		if (j->files[i] && (r = bind_at(root, j->files[i], j->rw[i])) < 0)
			return r;
	/* the tmpfs itself read-only now: QEMU can make nothing new in its root */
	if (mount(NULL, root, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -errno;
	if (chdir(root) < 0)
		return -errno;
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return -errno;
	/* the old root, stacked under the new one, goes away */
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -errno;
	return 0;
}

/* What every VMM process gets before it execs and reads a byte of guest input: no
 * core dumps (guest memory, the workspace's data), no_new_privs (no setuid binary or
 * file capability can raise it again), no ambient capabilities, and a bounding set
 * cut to `keep` (a bit mask of CAP_* numbers): what the exec'd program may still hold,
 * in the user namespace it runs in. */
int vmm_lockdown(uint64_t keep)
{
	const struct rlimit core = { 0, 0 };
	_cleanup_free_ char *last = NULL;
	unsigned long top = 63;

	if (setrlimit(RLIMIT_CORE, &core) < 0)
		return -errno;
	if (file_read_all("/proc/sys/kernel/cap_last_cap", 16, &last, NULL) >= 0)
		top = MIN(strtoul(last, NULL, 10), 63UL);
	for (unsigned long cap = 0; cap <= top; cap++) {
		if (keep & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
