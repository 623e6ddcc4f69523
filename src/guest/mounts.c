// SPDX-License-Identifier: MIT
/* mounts.c: early mounts, switching from the initramfs to the root disk, the workspace, lo. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "mounts.h"
#include "proto.h"
#include "util.h"

#define ROOT_DEV "/dev/vda"
#define NEWROOT "/newroot"
#define ROOT_WAIT_MS 10000u

static int mount_one(const char *src, const char *dst, const char *type, unsigned long flags,
		     const char *data)
{
	if (mkdir(dst, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount(src, dst, type, flags, data) < 0)
		return errno == EBUSY ? 0 : -errno;
	return 0;
}

int mounts_early(void)
{
	int r;

	r = mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	if (r < 0)
		return r;
	r = mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (r < 0)
		return r;
	return mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* Remove what is left of the initramfs (frees its memory), staying on its device. */
static void delete_tree_at(int dfd, dev_t dev, int depth)
{
	DIR *d;
	struct dirent *de;
	int fd;

	if (depth > 32)
		return;
	fd = dup(dfd);
	if (fd < 0)
		return;
	d = dir_from_fd(fd);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (depth == 0 && !strcmp(de->d_name, NEWROOT + 1))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			struct stat sst;

			if (sub < 0)
				continue;
			/* A mount point has another st_dev: leave it and its contents alone. */
			if (fstat(sub, &sst) == 0 && sst.st_dev == dev) {
				delete_tree_at(sub, dev, depth + 1);
				(void)unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
			}
			close(sub);
		} else {
			(void)unlinkat(dirfd(d), de->d_name, 0);
		}
	}
	closedir(d);
}

static bool wait_for_root(void)
{
	uint64_t end = now_ms() + ROOT_WAIT_MS;
	struct stat st;

	for (;;) {
		if (stat(ROOT_DEV, &st) == 0 && S_ISBLK(st.st_mode))
			return true;
		if (now_ms() >= end)
			return false;
		nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
	}
}

int mounts_switch_root(char **ret_err)
{
	static const char *const moved[] = { "/dev", "/proc", "/sys" };
	_cleanup_close_ int rootfd = -1;
	struct stat st;

	if (!wait_for_root()) {
		console_line("SBX-GUEST-ERROR root disk %s did not appear within %u s", ROOT_DEV,
			     ROOT_WAIT_MS / 1000);
		*ret_err = xstrdup("no root disk");
		return -EIO;
	}
	if (mkdir(NEWROOT, 0755) < 0 && errno != EEXIST)
		log_warn("mkdir %s: %m", NEWROOT);
	/* noinit_itable: no lazy inode-table zeroing thread writing into the overlay. */
	if (mount(ROOT_DEV, NEWROOT, "ext4", MS_NOATIME, "noinit_itable") < 0 &&
	    mount(ROOT_DEV, NEWROOT, "ext4", MS_NOATIME, NULL) < 0) {
		console_line("SBX-GUEST-ERROR cannot mount root disk %s: %m", ROOT_DEV);
		*ret_err = xstrdup("root mount failed");
		return -EIO;
	}
	for (size_t i = 0; i < ARRAY_SIZE(moved); i++) {
		_cleanup_free_ char *dst = xasprintf(NEWROOT "%s", moved[i]);

		if (mkdir(dst, 0755) < 0 && errno != EEXIST)
			log_warn("mkdir %s: %m", dst);
		if (mount(moved[i], dst, NULL, MS_MOVE, NULL) < 0) {
			log_warn("move %s: %m", moved[i]);
			(void)umount2(moved[i], MNT_DETACH);
		}
	}
	rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd >= 0 && fstat(rootfd, &st) == 0)
		delete_tree_at(rootfd, st.st_dev, 0);
	if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0) {
		console_line("SBX-GUEST-ERROR switch root: %m");
		*ret_err = xstrdup("switch root failed");
		return -EIO;
	}
	return 0;
}

static void symlink_force(const char *target, const char *path)
{
	char buf[256];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	if (n >= 0) {
		buf[n] = 0;
		if (!strcmp(buf, target))
			return;
	}
	(void)unlink(path);
	if (symlink(target, path) < 0)
		log_warn("symlink %s: %m", path);
}

void mounts_late(void)
{
	static const struct {
		const char *src, *dst, *type;
		unsigned long flags;
		const char *data;
	} m[] = {
		{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,gid=5,mode=620" },
		{ "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
		{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
		{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
		{ "mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	};
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
		{ "/proc/kcore", "/dev/core" },
		{ "pts/ptmx", "/dev/ptmx" },
	};
	struct stat st;

	for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
		int r = mount_one(m[i].src, m[i].dst, m[i].type, m[i].flags, m[i].data);
		if (r < 0)
			log_warn("mount %s: %s", m[i].dst, strerror(-r));
	}
	if (mkdir("/run/lock", 01777) == 0)
		(void)chmod("/run/lock", 01777);
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		symlink_force(links[i][0], links[i][1]);
	if (lstat("/etc/mtab", &st) < 0 && errno == ENOENT)
		(void)!symlink("../proc/self/mounts", "/etc/mtab");
	if (mount_one("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		      "nsdelegate") < 0 &&
	    mount_one("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		log_debug("cgroup2: %m");
}

/* Undo the octal escapes of /proc/self/mountinfo (\040 for a space, ...). */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

int mounts_is_mountpoint(const char *path, const char *fstype)
{
	_cleanup_free_ char *info = NULL;
	char *cur, *line;
	int r;

	r = file_read_all("/proc/self/mountinfo", 4 * 1024 * 1024, &info, NULL);
	if (r < 0)
		return r;
	for (cur = info; (line = strsep(&cur, "\n"));) {
		char *f[5], *sep, *type, *save = NULL;
		int n = 0;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = 0;
		type = strtok_r(sep + 3, " ", &save);
		for (char *t = strtok_r(line, " ", &save); t && n < 5; t = strtok_r(NULL, " ", &save))
			f[n++] = t;
		if (n < 5 || !type)
			continue;
		unescape(f[4]);
		if (!strcmp(f[4], path) && (!fstype || !strcmp(type, fstype)))
			return 1;
	}
	return 0;
}

/* The agent must reach the workspace at its host path: a directory above it that the
 * VM's image keeps private (its /root, 0700) becomes searchable (o+x, not readable).
 * The agent is the VM's administrator anyway (sudo); this only opens the path. */
static int path_searchable(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
		struct stat st;

		*p = '\0';
		if (lstat(buf, &st) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH) && chmod(buf, (st.st_mode & 07777) | S_IXOTH) < 0)
			return -errno;
		*p = '/';
	}
	return 0;
}

int mounts_workspace(const char *path)
{
	int r;

	r = mounts_is_mountpoint(path, "virtiofs");
	if (r > 0)
		return 0; /* a reconnecting daemon sends the config again */
	r = mkdir_p(path, 0755);
	if (r == 0)
		r = path_searchable(path);
	if (r < 0)
		return r;
	if (mount(SBX_WS_TAG, path, "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0)
		return -errno;
	return 0;
}

#define SHARE_DIR "/run/sbx/share"

int mounts_share_paths(char *const *paths, size_t n)
{
	int r = mounts_is_mountpoint(SHARE_DIR, "virtiofs");

	if (r < 0)
		return r;
	if (r == 0) {
		r = mkdir_p(SHARE_DIR, 0700);
		if (r < 0)
			return r;
		if (mount(SBX_WS_TAG, SHARE_DIR, "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0)
			return -errno;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *src = xasprintf("%s%s", SHARE_DIR, paths[i]);

		if (mounts_is_mountpoint(paths[i], "virtiofs") > 0)
			continue;   /* a reconnecting daemon sends the config again */
		r = mkdir_p(paths[i], 0755);
		if (r == 0)
			r = path_searchable(paths[i]);
		if (r < 0)
			return r;
		if (mount(src, paths[i], NULL, MS_BIND, NULL) < 0)
			return -errno;
	}
	return 0;
}

void mounts_final(const char *workspace)
{
	sync();
	if (workspace && umount2(workspace, 0) < 0)
		(void)umount2(workspace, MNT_DETACH);
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		log_warn("remount / read-only: %m");
	sync();
}

int net_loopback_up(void)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}
