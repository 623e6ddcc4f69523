// SPDX-License-Identifier: MIT
/* vm_vfsd.c: virtiofsd, the workspace's file server: its mount namespace (the git
 * guards, the --branch and warm pool stages), its user namespace and its start. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgroup.h"
#include "idmap.h"
#include "proc.h"
#include "vm.h"
#include "vm_int.h"
#include "vm_stage.h"
#include "vmm_jail.h"
#include "util.h"
#include "wsguard.h"

#define VM_NOFILE_WANT 1048576u
#define VM_NOFILE_WARN 65536u   /* below this, a node_modules can exhaust virtiofsd's fds */

/* virtiofsd's -o values: ',' separates options, '\\' escapes. */
static char *fuse_opt_escape(const char *prefix, const char *s)
{
	size_t pl = strlen(prefix), n = strlen(s);
	char *out = xmalloc(pl + 2 * n + 1), *d = out + pl;

	memcpy(out, prefix, pl);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ',' || s[i] == '\\')
			*d++ = '\\';
		*d++ = s[i];
	}
	*d = '\0';
	return out;
}

/* ---- child set-up (runs after fork: plain syscalls only) ---- */

/* Where a failed set-up stopped (proc_setup_step), for vfsd_spawn's message. */
enum { VFSD_STEP_NS = 1, VFSD_STEP_SHARE = 2 };

struct vfsd_setup {
	bool root;
	struct idmap_ns ns;     /* virtiofsd's user namespace */
	rlim_t nofile;
	const char *workspace;
	struct wsguard guard;   /* read-only bind mounts in virtiofsd's mount namespace */
	/* --branch: virtiofsd serves stage, a tmpfs holding the worktree and the git
	 * directory at their host paths (and nothing else) */
	const char *git_dir;
	struct wsguard git_guard;
	const char *stage;
	bool pool;              /* an empty stage, shared so that binds added at claim reach virtiofsd */
	/* As root the workspace is served from the stage too, so that virtiofsd (an id of
	 * its own) need not search the directories above it: the trees are cloned as root
	 * before the user namespace, and the workspace (no --branch) is the stage itself. */
	bool clone_early;
	char at[2][PATH_MAX];   /* where the workspace and the git directory are in the stage */
	char *const *cgroup_procs;
};

/* Where virtiofsd's stage is mounted in its own namespace: an empty directory every
 * host has (covered there by a tmpfs, never touched on the host). */
static const char *stage_dir(void)
{
	static const char *const stages[] = { "/mnt", "/media", "/srv", "/opt" };
	struct stat st;

	for (size_t i = 0; i < ARRAY_SIZE(stages); i++)
		if (lstat(stages[i], &st) == 0 && S_ISDIR(st.st_mode))
			return stages[i];
	return NULL;
}

/* The workspace's and the git directory's trees, for the stage. */
static int share_trees(const struct vfsd_setup *s, int tree[2])
{
	int r = vm_share_clone(s->workspace, &tree[0]);

	return r == 0 && s->git_dir ? vm_share_clone(s->git_dir, &tree[1]) : r;
}

/* Attach the trees: the workspace alone is the stage; with a git directory the stage is
 * a tmpfs holding both at their host paths (and nothing else). Then the guards, in place. */
static int stage_build(const struct vfsd_setup *s, const int tree[2])
{
	int root, r = 0;

	if (!s->git_dir) {
		if (move_mount(tree[0], "", AT_FDCWD, s->stage, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return -errno;
		return wsguard_apply(s->at[0], &s->guard);
	}
	if (mount("sbx-share", s->stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
		return -errno;
	root = open(s->stage, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	for (int i = 0; i < 2 && r == 0; i++)
		r = vm_attach_beneath(root, i ? s->git_dir : s->workspace, tree[i]);
	close(root);
	if (r == 0)
		r = wsguard_apply(s->at[0], &s->guard);
	if (r == 0)
		r = wsguard_apply(s->at[1], &s->git_guard);
	return r;
}

/* virtiofsd's mount namespace: the guards, and the stage where there is one. tree:
 * the early clones (as root), or -1. */
static int vfsd_mounts(const struct vfsd_setup *s, int tree[2])
{
	int r;

	if (!s->guard.n && !s->stage)
		return 0;
	r = wsguard_unshare();
	if (r == 0 && s->pool) {
		/* virtiofsd's own namespace (sandbox=namespace) is made a slave of this one:
		 * binds that vm_stage_attach() adds under a shared stage show there too */
		if (mount("sbx-share", s->stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0 ||
		    mount(NULL, s->stage, NULL, MS_SHARED, NULL) < 0)
			r = -errno;
		return r;
	}
	if (r < 0)
		return r;
	if (!s->stage)   /* an ordinary user's workspace, served where it is */
		return wsguard_apply(s->workspace, &s->guard);
	/* an ordinary user's --branch: the paths are the user's to walk, from here */
	if (tree[0] < 0 && (r = share_trees(s, tree)) < 0)
		return r;
	return stage_build(s, tree);
}

static int vfsd_child_setup(void *arg)
{
	const struct vfsd_setup *s = arg;
	struct rlimit rl;
	int tree[2] = { -1, -1 }, r;

	/* virtiofsd holds an O_PATH fd per inode the guest knows; raise the limit while
	 * we still may (the hard limit only as real root). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t hard = rl.rlim_max;

		if (s->root && rl.rlim_max < s->nofile)
			rl.rlim_max = s->nofile;
		rl.rlim_cur = rl.rlim_max;
		/* root without CAP_SYS_RESOURCE may not raise the hard limit: the soft one
		 * still goes up to it (vfsd_nofile_check warned) */
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && rl.rlim_max != hard) {
			rl.rlim_max = rl.rlim_cur = hard;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	/* its sandbox's cgroup first, as we are (a user's delegated cgroup is the user's) */
	r = cgroup_join(s->cgroup_procs);
	/* as root, while we may still search every directory (exec closes the trees) */
	proc_setup_step(VFSD_STEP_SHARE);
	if (r == 0 && s->clone_early)
		r = share_trees(s, tree);
	proc_setup_step(VFSD_STEP_NS);
	if (r == 0)
		r = idmap_enter(&s->ns);
	/* virtiofsd makes its own mount, pid and network namespaces (sandbox=namespace) */
	if (r == 0 && unshare(CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0)
		r = -errno;
	proc_setup_step(VFSD_STEP_SHARE);
	if (r == 0)
		r = vfsd_mounts(s, tree);
	proc_setup_step(VFSD_STEP_NS);
	/* virtiofsd needs its capabilities (in its own user namespace) to build its
	 * sandbox and to serve files as the guest's users: the bounding set stays. */
	return r < 0 ? r : vmm_lockdown(~0ULL);
}

static bool have_cap_sys_resource(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return d[CAP_TO_INDEX(CAP_SYS_RESOURCE)].effective & CAP_TO_MASK(CAP_SYS_RESOURCE);
}

/* virtiofsd keeps an O_PATH fd for every inode the guest holds (in its dentry
 * cache, not only open files): past its RLIMIT_NOFILE, creating or opening files in
 * the workspace fails in the guest with EMFILE. Say so when the limit it will get
 * is low (seen: a root without CAP_SYS_RESOURCE and a hard limit of 20000 failed
 * `tar -x` of 20000 files). */
static void vfsd_nofile_check(const struct vm_config *c, const struct vfsd_setup *s)
{
	struct rlimit rl;
	rlim_t eff;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	eff = rl.rlim_max;
	if (s->root && eff < s->nofile && have_cap_sys_resource())
		eff = s->nofile;
	if (eff < VM_NOFILE_WARN)
		log_warn("vm %s: virtiofsd may keep only %llu files open (the hard RLIMIT_NOFILE; raising it "
			 "needs CAP_SYS_RESOURCE): once the guest knows more files of the workspace than that, "
			 "creating or opening files there fails with \"Too many open files\"",
			 c->name, (unsigned long long)eff);
}

/* The shared directories can be opened as the child will (no symbolic link on their
 * paths), and their places in the stage fit; otherwise *ret_err says which and why. */
static int vfsd_share_check(const struct vm_config *c, struct vfsd_setup *s, char **ret_err)
{
	const char *paths[2] = { c->workspace, c->git_dir };

	for (int i = 0; i < 2 && paths[i]; i++) {
		const char *what = i ? "its git directory" : "the workspace";
		int fd = vm_share_open(paths[i]);
		int n;

		if (fd < 0) {
			*ret_err = xasprintf("%s %s cannot be shared: %s", what, paths[i],
					     fd == -ELOOP ? "a directory on its path is now a symbolic link, which sbx "
							    "does not follow (it resolved the path at create)"
					     : fd == -ENOENT ? "it no longer exists"
					     : fd == -ENOTDIR ? "it is no longer a directory"
					     : strerror(-fd));
			return fd;
		}
		close(fd);
		n = s->stage ? snprintf(s->at[i], sizeof(s->at[i]), "%s%s", s->stage, c->git_dir ? paths[i] : "") : 0;
		if (n < 0 || (size_t)n >= sizeof(s->at[i])) {
			*ret_err = xasprintf("%s %s cannot be shared: its path is too long", what, paths[i]);
			return -ENAMETOOLONG;
		}
	}
	return 0;
}

int vfsd_spawn(const struct vm_config *c, int listen_fd, int log_fd, pid_t *ret_pid, char **ret_err)
{
	_cleanup_free_ struct vfsd_setup *s = xcalloc(1, sizeof(*s));
	_cleanup_free_ char *nr_open = NULL, *source = NULL;
	char *argv[16];
	char fdarg[32], nofile[48];
	size_t n = 0;
	int r, step;

	s->root = geteuid() == 0;
	s->nofile = VM_NOFILE_WANT;
	s->cgroup_procs = c->cgroup_procs;
	s->workspace = c->workspace;
	s->git_dir = c->git_dir;
	s->pool = c->pool_stage;
	s->clone_early = s->root && c->workspace && !c->pool_stage;
	if (c->git_dir || c->pool_stage || s->clone_early) {
		s->stage = stage_dir();
		if (!s->stage)
			return -ENOENT;
	}
	if (c->workspace && (r = vfsd_share_check(c, s, ret_err)) < 0)
		return r;
	if (c->protect_git && c->workspace) {
		_cleanup_free_ char *warn = NULL, *gwarn = NULL, *err = NULL;
		r = c->git_dir ? wsguard_plan_worktree(c->workspace, c->git_dir, c->ws_uid, c->ws_gid, &s->guard, &warn,
						       &err)
			       : wsguard_plan(c->workspace, c->ws_uid, c->ws_gid, &s->guard, &warn, &err);
		if (r == 0 && c->git_dir)
			r = wsguard_plan_gitdir(c->git_dir, c->ws_uid, c->ws_gid, &s->git_guard, &gwarn, &err);
		if (r < 0) {
			if (err) {
				size_t len = strlen(err);
				if (len && err[len - 1] == '\n')
					err[len - 1] = '\0';   /* the last line's newline */
				*ret_err = xasprintf("git metadata cannot be protected: %s", err);
				log_warn("vm %s: not started: %s", c->name, *ret_err);
			}
			return r;
		}
		if (warn || gwarn)
			log_warn("vm %s: git metadata of %s: %s%s", c->name, c->workspace, warn ? warn : "",
				 gwarn ? gwarn : "");
	}
	if (file_read_all("/proc/sys/fs/nr_open", 64, &nr_open, NULL) >= 0) {
		unsigned long v = strtoul(nr_open, NULL, 10);
		if (v > 0 && v < s->nofile)
			s->nofile = v;
	}
	vfsd_nofile_check(c, s);
	/* as root the agent's ids keep their numbers; otherwise they are ours */
	r = idmap_ns_make(c->ws_uid, s->root ? c->ws_uid : (uint32_t)geteuid(), c->uid_range, c->ws_gid,
			  s->root ? c->ws_gid : (uint32_t)getegid(), c->gid_range, &s->ns);
	if (r < 0)
		return r;

	snprintf(fdarg, sizeof(fdarg), "--fd=%d", listen_fd);
	/* As root we raised the hard limit for it; otherwise leave the (raised) soft limit. */
	snprintf(nofile, sizeof(nofile), "--rlimit-nofile=%lu", s->root ? (unsigned long)s->nofile : 0UL);
	argv[n++] = (char *)(c->virtiofsd_bin ? c->virtiofsd_bin : VM_VIRTIOFSD_DEFAULT);
	argv[n++] = fdarg;
	argv[n++] = nofile;
	argv[n++] = (char *)"-o";
	source = fuse_opt_escape("source=", s->stage ? s->stage : c->workspace);
	argv[n++] = source;
	argv[n++] = (char *)"-o";
	argv[n++] = (char *)(c->share_uncached ? "cache=none" : "cache=auto");
	argv[n++] = (char *)"-o";
	argv[n++] = (char *)"sandbox=namespace";
	argv[n++] = (char *)"-o";
	argv[n++] = (char *)"log_level=warn";
	argv[n] = NULL;
	r = proc_spawn_detached_step(argv, log_fd, &listen_fd, 1, vfsd_child_setup, s, ret_pid, &step);
	if (r < 0 && step == VFSD_STEP_SHARE)
		*ret_err = xasprintf("virtiofsd (%s) did not start: the workspace %s%s%s could not be mounted in its "
				     "namespace: %s\nfix: %s", argv[0], c->workspace, c->git_dir ? " or " : "",
				     c->git_dir ? c->git_dir : "", strerror(-r),
				     r == -EACCES && !s->root
					     ? "virtiofsd runs as an id of its own, which must be able to search every "
					       "directory above the workspace: make them searchable for others "
					       "(chmod o+x), or keep the project under your home directory"
					     : "run `sbx diagnose`; sbxd's log says more");
	return r;
}
