// SPDX-License-Identifier: MIT
/* sock.c: unix sockets bound/connected through /proc/self/fd so long directories work. */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

static bool sock_name_ok(const char *name)
{
	return name && name[0] && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

static int sock_addr_at(int dirfd, const char *name, struct sockaddr_un *sa, socklen_t *ret_len)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dirfd, name);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}

int sock_listen_at(const char *dir, const char *name, int backlog, mode_t mode, int *ret_fd)
{
	_cleanup_close_ int dirfd = -1, fd = -1;
	struct sockaddr_un sa;
	socklen_t len;
	struct stat st;
	char tmp[64];
	int r;

	if (!sock_name_ok(name) || strlen(name) > 40)
		return -EINVAL;
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	/* Replace only a stale socket; never clobber another kind of file. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISSOCK(st.st_mode))
		return -EEXIST;

	snprintf(tmp, sizeof(tmp), ".%s.%d.tmp", name, (int)getpid());
	(void)unlinkat(dirfd, tmp, 0);
	r = sock_addr_at(dirfd, tmp, &sa, &len);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, len) < 0)
		return -errno;
	/* The socket inode's mode is what connect() checks; set it before the
	 * socket is reachable under its real name. */
	if (fchmodat(dirfd, tmp, mode, 0) < 0 || listen(fd, backlog) < 0 ||
	    renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int sock_connect_at(const char *dir, const char *name, int *ret_fd)
{
	_cleanup_close_ int dirfd = -1, fd = -1;
	struct sockaddr_un sa;
	socklen_t len;
	int r;

	if (!sock_name_ok(name))
		return -EINVAL;
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	r = sock_addr_at(dirfd, name, &sa, &len);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connect() interrupted on a unix socket may still complete; EISCONN then means done. */
	while (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		if (errno == EISCONN)
			break;
		if (errno != EINTR)
			return -errno;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}
