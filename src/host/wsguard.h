// SPDX-License-Identifier: MIT
/* wsguard.h: the parts of a workspace the VM may read but never change: the git
 * metadata that git on the host runs (hooks) or obeys (config). */
#ifndef SBX_WSGUARD_H
#define SBX_WSGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * An agent that could write .git/hooks/pre-commit or .git/config (core.hooksPath,
 * core.fsmonitor, filter drivers, aliases, ...) would run code on the host the next
 * time the user runs git in the workspace. So virtiofsd serves these paths from
 * read-only bind mounts made in its own mount namespace (inside its user namespace,
 * before it starts): guest root gets EROFS, and EBUSY on renaming or removing them.
 *
 * Protected, for the workspace's own .git directory and every git directory under
 * .git/modules (submodules, any depth up to WSGUARD_DEPTH): hooks/ and config; plus the
 * directory core.hooksPath names when it lies inside the workspace (e.g. husky's
 * .husky). A missing hooks/ or config is created first (empty, owned by the agent's
 * uid) so the guest cannot create one. A hooks/ that is a symlink cannot be protected
 * (a bind mount follows it): it is reported and left; `sbx review` shows changes.
 * Every parent directory of a protected path up to the workspace (.git itself, for
 * one) is bound read-write over itself: a mount point cannot be renamed or removed,
 * so the guest cannot move .git aside and make a new one with its own hooks.
 * Not covered: git repositories nested elsewhere in the workspace; a .git that is a
 * file pointing elsewhere (that git directory is not shared with the VM at all); and
 * files git reads from .git that name another directory, above all .git/commondir
 * (git takes config and hooks from the directory it names, and it cannot be
 * pre-created: git refuses an empty one): `sbx review` reports them.
 */

#define WSGUARD_MAX 64
#define WSGUARD_PATH_MAX 512
#define WSGUARD_DEPTH 6

struct wsguard {
	size_t n;
	char rel[WSGUARD_MAX][WSGUARD_PATH_MAX];   /* relative to the workspace, parents first */
	bool ro[WSGUARD_MAX];                      /* false: a parent, bound only to pin it */
};

/* Decide what to protect (sbxd, before the VM starts; no guest runs then). May create
 * .git/hooks or .git/config owned by uid:gid. *ret_warn (malloc'd, may be NULL): what
 * could not be protected, one line per path. 0 also when there is no .git. */
int wsguard_plan(const char *workspace, uid_t uid, gid_t gid, struct wsguard *g, char **ret_warn);

/* The same for a --branch sandbox's shared git directory (paths relative to it:
 * ".", "./hooks", "./config", ...) and for its worktree (a relative core.hooksPath of
 * that git directory's config, which git resolves in the worktree). */
int wsguard_plan_gitdir(const char *gitdir, uid_t uid, gid_t gid, struct wsguard *g, char **ret_warn);
int wsguard_plan_worktree(const char *worktree, const char *gitdir, uid_t uid, gid_t gid, struct wsguard *g,
			  char **ret_warn);

/* In virtiofsd's child before exec, as root of a user namespace: a mount namespace of
 * its own, nothing in it propagating anywhere. */
int wsguard_unshare(void);
/* Then bind every planned path over itself (read-only, or read-write to pin a parent),
 * resolving each beneath root without following any symlink. System calls only (safe
 * after fork). */
int wsguard_apply(const char *root, const struct wsguard *g);

struct mount_attr;
/* Bind the tree at fd src (recursive: with its submounts) onto fd dst, with attr
 * (NULL: as it is) set on the new mount. System calls only. */
int wsguard_bind(int src, int dst, const struct mount_attr *attr, bool recursive);

/* core.hooksPath of a git config text, or NULL: the last value in a [core] section,
 * unquoted. Exposed for tests. */
char *wsguard_hooks_path(const char *text, size_t len);

#endif
