// SPDX-License-Identifier: MIT
/* localdir.c: workspace directories kept on the VM's own disk (sbx run --local): the
 * agent's node_modules or target at VM-disk speed, not shared with the host. */
#include "localdir.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mounts.h"
#include "util.h"

static int openat_beneath(int dirfd, const char *name)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* mkdir -p rel beneath the workspace, each new directory made as the agent (so the
 * host sees the user's own, empty, directory); an O_PATH fd of the last one. */
static int mkdir_beneath_as(int wsfd, const char *rel, uid_t uid, gid_t gid)
{
	char comp[LOCAL_DIR_LEN_MAX + 1];
	int cur = dup(wsfd);

	while (cur >= 0 && *rel) {
		size_t n = strcspn(rel, "/");
		int next, r = 0;

		memcpy(comp, rel, n);
		comp[n] = '\0';
		rel += n;
		rel += *rel == '/';
		setfsgid(gid);
		setfsuid(uid);
		if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
			r = -errno;
		setfsuid(0);
		setfsgid(0);
		next = r < 0 ? r : openat_beneath(cur, comp);
		if (next == -ENOTDIR) {   /* O_NOFOLLOW | O_DIRECTORY on a link: say which */
			struct stat st;
			if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				next = -ELOOP;
		}
		close(cur);
		if (next < 0)
			return next;
		cur = next;
	}
	return cur < 0 ? -errno : cur;
}

int localdir_mount(const char *workspace, const char *rel, uid_t uid, gid_t gid)
{
	_cleanup_free_ char *src = NULL, *dst_path = NULL;
	char fdpath[64];
	int wsfd, dst, r;

	if (!local_dir_valid(rel) || workspace[0] != '/')
		return -EINVAL;
	dst_path = xasprintf("%s/%s", workspace, rel);
	if (mounts_is_mountpoint(dst_path, NULL) > 0)
		return 0;   /* a reconnecting daemon sends the config again */
	src = xasprintf(LOCALDIR_ROOT "%s/%s", workspace, rel);
	r = mkdir_p(src, 0755);
	if (r < 0)
		return r;
	if (lchown(src, uid, gid) < 0)
		return -errno;
	wsfd = open(workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (wsfd < 0)
		return -errno;
	dst = mkdir_beneath_as(wsfd, rel, uid, gid);
	close(wsfd);
	if (dst < 0)
		return dst;
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", dst);
	r = mount(src, fdpath, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
	close(dst);
	return r;
}
