// SPDX-License-Identifier: MIT
/* wswriter_spawn.c: starting the sync-mode writer (`sbx __wsync-writer`) in a jail of
 * its own: wsguard's read-only binds, the owner's ids, no capabilities (wswriter.h). */
#include "wswriter.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "idmap.h"
#include "proc.h"
#include "util.h"
#include "vmm_jail.h"
#include "wsguard.h"

#define WRITER_SNDBUF (1u << 20)

struct writer_setup {
	const char *workspace;
	uid_t uid;
	gid_t gid;
	bool root;
	struct wsguard *guard;   /* NULL: nothing protected */
	char *rootarg;           /* argv's slot for the workspace's fd number (set in the child) */
};

static void fd_text(int fd, char out[16])
{
	char tmp[16];
	int n = 0, i = 0;

	do
		tmp[n++] = (char)('0' + fd % 10);
	while ((fd /= 10) && n < 15);
	while (n)
		out[i++] = tmp[--n];
	out[i] = 0;
}

/* After fork, before exec: plain system calls only. */
static int writer_child_setup(void *arg)
{
	const struct writer_setup *s = arg;
	int fd, r;

	if (s->root)
		r = wsguard_unshare();
	else if ((r = idmap_enter_self(CLONE_NEWNS)) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		r = -errno;
	if (r == 0 && s->guard)
		r = wsguard_apply(s->workspace, s->guard);
	if (r < 0)
		return r;
	/* opened after the binds, so that lookups beneath it meet them */
	fd = open(s->workspace, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	fd_text(fd, s->rootarg);
	/* the bounding set and no_new_privs first: they need the capabilities we drop next */
	if ((r = vmm_lockdown(0)) < 0)
		return r;
	if (s->root && (setgroups(0, NULL) < 0 || setresgid(s->gid, s->gid, s->gid) < 0 ||
			setresuid(s->uid, s->uid, s->uid) < 0))
		return -errno;
	return 0;
}

int wswriter_spawn(const char *self_exe, const char *workspace, uid_t uid, gid_t gid, bool protect_git,
		   int log_fd, pid_t *ret_pid, int *ret_sock)
{
	_cleanup_free_ struct writer_setup *s = xcalloc(1, sizeof(*s));
	_cleanup_free_ struct wsguard *guard = NULL;
	char sockarg[16], rootarg[16];
	char *argv[] = { (char *)self_exe, (char *)"__wsync-writer", sockarg, rootarg, NULL };
	int sv[2], sndbuf = WRITER_SNDBUF, r;

	if (protect_git) {
		_cleanup_free_ char *warn = NULL, *err = NULL;

		guard = xcalloc(1, sizeof(*guard));
		r = wsguard_plan(workspace, uid, gid, guard, &warn, &err);
		if (r < 0)
			return r;   /* virtiofsd was refused the same way: the sandbox did not start */
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* a batch in flight per message the engine may have outstanding */
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	*s = (struct writer_setup){ .workspace = workspace, .uid = uid, .gid = gid, .root = geteuid() == 0,
				    .guard = guard, .rootarg = rootarg };
	snprintf(sockarg, sizeof(sockarg), "%d", sv[1]);
	snprintf(rootarg, sizeof(rootarg), "-1");
	r = proc_spawn_detached(argv, log_fd, &sv[1], 1, writer_child_setup, s, ret_pid);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	*ret_sock = sv[0];
	return 0;
}
