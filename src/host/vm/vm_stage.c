// SPDX-License-Identifier: MIT
/* vm_stage.c: a claimed warm pool VM's workspace, bound into its virtiofsd's stage (docs/warm-pool.md). */
#include "vm_stage.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"
#include "vm_int.h"
#include "wsguard.h"

/* mkdir -p rel (no leading '/') beneath dirfd; an O_PATH fd of the last directory. */
int vm_mkdir_beneath(int dirfd, const char *rel)
{
	char comp[256];
	int cur = dup(dirfd);

	while (cur >= 0 && *rel) {
		size_t n = strcspn(rel, "/");
		int next;

		if (n >= sizeof(comp)) {
			close(cur);
			return -ENAMETOOLONG;
		}
		memcpy(comp, rel, n);
		comp[n] = '\0';
		rel += n;
		rel += *rel == '/';
		if (!n)
			continue;
		if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
			close(cur);
			return -errno;
		}
		next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(cur);
		cur = next;
	}
	return cur < 0 ? -errno : cur;
}

int vm_share_open(const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

int vm_share_clone(const char *path, int *tree)
{
	int src = vm_share_open(path);

	if (src < 0)
		return src;
	*tree = open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	close(src);
	return *tree < 0 ? -errno : 0;
}

int vm_attach_beneath(int root, const char *path, int tree)
{
	int dst = vm_mkdir_beneath(root, path + 1), r = 0;

	if (dst < 0)
		return dst;
	if (move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		r = -errno;
	close(dst);
	return r;
}

struct stage_attach {
	int userns, mntns;              /* virtiofsd's, opened by the parent */
	const char *paths[2];           /* workspace, git directory (may be NULL) */
	const struct wsguard *guards[2];
};

/* In a forked child (system calls only). virtiofsd's namespace (sandbox=namespace) has
 * the stage as its root, and no host path is visible there: the trees are cloned
 * first, in a mount namespace of our own owned by virtiofsd's user namespace (so the
 * clones may be attached in its mount namespace), then attached beneath its root, and
 * the git guards bound over them there. */
static int stage_attach_child(const struct stage_attach *a)
{
	int tree[2] = { -1, -1 }, root, r = 0;
	/* as root, cloned before we become virtiofsd's id, who may not search the
	 * directories above the workspace (a 0700 /root or mktemp -d) */
	bool early = geteuid() == 0;

	umask(022);   /* the stage's directories: searchable, as stage_build's */
	for (int i = 0; i < 2 && a->paths[i] && r == 0; i++)
		r = early ? vm_share_clone(a->paths[i], &tree[i]) : 0;
	if (r < 0)
		return r;
	if (setns(a->userns, CLONE_NEWUSER) < 0)
		return -errno;
	/* become the namespace's root (an unprivileged host id): its files are ours */
	(void)setgroups(0, NULL);
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return -errno;
	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	for (int i = 0; i < 2 && a->paths[i] && r == 0; i++)
		r = early ? 0 : vm_share_clone(a->paths[i], &tree[i]);
	if (r < 0)
		return r;
	if (setns(a->mntns, CLONE_NEWNS) < 0)
		return -errno;
	root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	for (int i = 0; i < 2 && a->paths[i] && r == 0; i++) {
		r = vm_attach_beneath(root, a->paths[i], tree[i]);
		if (r == 0 && a->guards[i] && a->guards[i]->n)
			r = wsguard_apply(a->paths[i], a->guards[i]);
	}
	close(root);
	return r;
}

int vm_stage_attach(const struct vm_procs *p, const char *workspace, const char *git_dir, uid_t ws_uid,
		    gid_t ws_gid, bool protect_git, char **ret_err)
{
	_cleanup_free_ char *warn = NULL, *gwarn = NULL, *err = NULL, *up = NULL, *mp = NULL;
	_cleanup_free_ struct wsguard *guard = xcalloc(2, sizeof(*guard)); /* 128 KiB each */
	struct wsguard *git_guard = guard + 1;
	struct stage_attach a = { .userns = -1, .mntns = -1, .paths = { workspace, git_dir } };
	pid_t pid;
	int st, r = 0;

	if (!workspace || workspace[0] != '/' || (git_dir && git_dir[0] != '/'))
		return -EINVAL;
	if (protect_git) {
		r = git_dir ? wsguard_plan_worktree(workspace, git_dir, ws_uid, ws_gid, guard, &warn, &err)
			    : wsguard_plan(workspace, ws_uid, ws_gid, guard, &warn, &err);
		if (r == 0 && git_dir)
			r = wsguard_plan_gitdir(git_dir, ws_uid, ws_gid, git_guard, &gwarn, &err);
		if (r < 0) {
			*ret_err = xasprintf("git metadata cannot be protected: %s", err ? err : strerror(-r));
			return r;
		}
		if (warn || gwarn)
			log_warn("git metadata of %s: %s%s", workspace, warn ? warn : "", gwarn ? gwarn : "");
		a.guards[0] = guard;
		a.guards[1] = git_guard;
	}
	/* the pid must still be that virtiofsd: a recycled pid is never entered */
	up = xasprintf("/proc/%d/ns/user", (int)p->vfsd_pid);
	mp = xasprintf("/proc/%d/ns/mnt", (int)p->vfsd_pid);
	a.userns = open(up, O_RDONLY | O_CLOEXEC);
	a.mntns = open(mp, O_RDONLY | O_CLOEXEC);
	if (a.userns < 0 || a.mntns < 0 || p->vfsd_pid <= 0 || !proc_alive(p->vfsd_pid, p->vfsd_start)) {
		r = a.userns < 0 || a.mntns < 0 ? -errno : -ESRCH;
		*ret_err = xasprintf("the pool VM's virtiofsd is gone (%s)", strerror(-r));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		*ret_err = xasprintf("fork: %s", strerror(-r));
		goto out;
	}
	if (pid == 0)
		_exit(-stage_attach_child(&a) & 0xff);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		r = WIFEXITED(st) ? -WEXITSTATUS(st) : -EIO;
		*ret_err = xasprintf("cannot attach the workspace to the pool VM: %s", strerror(-r));
	}
out:
	if (a.userns >= 0)
		close(a.userns);
	if (a.mntns >= 0)
		close(a.mntns);
	return r;
}
