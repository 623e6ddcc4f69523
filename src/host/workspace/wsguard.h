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
 * (a bind mount follows it): it is reported and left; `sbx review` shows changes. A
 * symlink inside a protected hooks directory makes the workspace file it names
 * read-only too (host git follows it); a missing one is only reported.
 * Every parent directory of a protected path up to the workspace (.git itself, for
 * one) is bound read-write over itself: a mount point cannot be renamed or removed,
 * so the guest cannot move .git aside and make a new one with its own hooks.
 *
 * Git directories the guest could make later:
 * - .git/modules (of every git directory) is read-only as a whole, created empty when
 *   missing; each submodule git directory already in it is bound read-write on top
 *   (its objects, refs, index and lock files), with its own hooks/config/modules
 *   read-only again. So the guest can use existing submodules but not clone a new one
 *   into .git/modules (`git submodule update --init` of a new one fails with EROFS).
 * - A workspace without .git gets an empty read-only .git directory (created, owned by
 *   the agent, left in place): host git skips a .git that is not a repository, and the
 *   guest cannot `git init` the workspace itself. A .git directory without HEAD (such
 *   a placeholder, or anything else that is not a repository) is read-only as a whole.
 * - A .git file (gitdir: elsewhere) is read-only, so it cannot be pointed at a git
 *   directory the guest wrote.
 *
 * Refused (the plan fails with -EMLINK and a reason naming the file and the fix): a
 * regular file that is to be read-only, or lies in a read-only directory, with more
 * than one hard link: its other name may be writable in the VM. Also refused: more
 * paths than WSGUARD_MAX, or a read-only directory too big to check.
 *
 * Not covered (no barrier; `sbx review` is the detection): git repositories nested
 * elsewhere in the workspace, made before or during the session, including an
 * embedded submodule (a gitlink whose directory holds its own .git, which host git
 * status recurses into); a bare repository (HEAD, objects/, refs/) the guest makes in
 * any directory, the workspace root included; a git directory in the workspace that
 * a .git file names (it is not followed); files git reads from .git that name
 * another directory, above all .git/commondir (git takes config and hooks from the
 * directory it names, and it cannot be pre-created: git refuses an empty one).
 */

#define WSGUARD_MAX 256
#define WSGUARD_PATH_MAX 512
#define WSGUARD_DEPTH 6

struct wsguard {
	size_t n;
	char rel[WSGUARD_MAX][WSGUARD_PATH_MAX];   /* relative to the workspace, parents first */
	bool ro[WSGUARD_MAX];                      /* false: a parent, bound only to pin it */
};

/* Decide what to protect (sbxd, before the VM starts; no guest runs then). May create
 * .git (no .git at all), .git/hooks, .git/config or .git/modules owned by uid:gid.
 * *ret_warn (malloc'd, may be NULL): what could not be protected, one line per path.
 * -EMLINK: refused (see above), *ret_err (malloc'd) says why, one line per file;
 * ret_err may be NULL. Each function below sets *ret_warn and *ret_err alike. */
int wsguard_plan(const char *workspace, uid_t uid, gid_t gid, struct wsguard *g, char **ret_warn, char **ret_err);

/* The same for a --branch sandbox's shared git directory (paths relative to it:
 * ".", "./hooks", "./config", ...) and for its worktree (a relative core.hooksPath of
 * that git directory's config, which git resolves in the worktree). */
int wsguard_plan_gitdir(const char *gitdir, uid_t uid, gid_t gid, struct wsguard *g, char **ret_warn,
			char **ret_err);
int wsguard_plan_worktree(const char *worktree, const char *gitdir, uid_t uid, gid_t gid, struct wsguard *g,
			  char **ret_warn, char **ret_err);

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
