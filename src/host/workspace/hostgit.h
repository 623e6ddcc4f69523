// SPDX-License-Identifier: MIT
/* hostgit.h: git on the host, run so that nothing a VM wrote can steer it. */
#ifndef SBX_HOSTGIT_H
#define SBX_HOSTGIT_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * A --branch VM can write its worktree's `.git` file, the repository's
 * `worktrees/ID/` (commondir, gitdir, config.worktree, index, HEAD),
 * `info/attributes`, every `.gitattributes`, and (with workspace.protectGit off)
 * the repository's config. git obeys all of them: they pick the git directory it
 * opens, the config it reads, and so the programs it runs on file content
 * (`filter.X.clean` while `git status` re-hashes a file). So every git sbx runs on
 * the host goes through here:
 *  - a clean environment: PATH, HOME, LC_ALL=C and the GIT_* below, nothing else of
 *    the caller's; no system or global config, no system attributes, hooks and
 *    fsmonitor off, no optional locks, no pager, no prompts; killed after
 *    HOSTGIT_TIMEOUT_MS (a fifo planted where git reads must not hang sbx);
 *  - GIT_DIR / GIT_COMMON_DIR / GIT_WORK_TREE pinned to paths sbx recorded when it
 *    made the worktree, never discovered in the workspace (git_dir NULL, discovery
 *    from cwd, is only for the user's own PATH before any VM ran);
 *  - for anything that reads file content (status, checkout) a shadow git
 *    directory (hostgit_shadow_open): private, written by sbx, holding a copy of
 *    the worktree's HEAD, links to the repository's refs and a config of sbx's own
 *    (the repository format, nothing else); objects and index are given by path.
 *    git then reads no config file the repository has, so no filter, textconv,
 *    fsmonitor or hook can be defined, whatever the attributes say.
 * As root, git runs as the repository's owner.
 */

#define HOSTGIT_TIMEOUT_MS 120000
#define HOSTGIT_OUT_MAX (64u * 1024u)

struct hostgit {
	uid_t owner;              /* who git runs as, when sbx runs as root */
	gid_t group;
	const char *cwd;          /* NULL: "/" */
	const char *git_dir;      /* GIT_DIR; NULL: discovered from cwd */
	const char *common_dir;   /* GIT_COMMON_DIR, or NULL */
	const char *work_tree;    /* GIT_WORK_TREE, or NULL */
	const char *index_file;   /* GIT_INDEX_FILE, or NULL */
	const char *object_dir;   /* GIT_OBJECT_DIRECTORY, or NULL */
};

/* git ARGS (at most 24). Returns git's exit status (>= 0) or -errno (-ETIMEDOUT when
 * it was killed); *ret_out / *ret_err (optional) get its stdout / stderr, bounded,
 * trailing newlines dropped. */
int hostgit_run(const struct hostgit *g, const char *const *args, char **ret_out, char **ret_err);

/* A shadow git directory for the linked worktree ID (a single path component) of the
 * repository whose git directory is common_dir, checked out at worktree. */
struct hostgit_shadow {
	char *dir;                /* private, removed by hostgit_shadow_close() */
	char *index, *objects;
	struct hostgit git;       /* ready for hostgit_run() */
};

int hostgit_shadow_open(const char *common_dir, const char *id, const char *worktree, uid_t owner, gid_t group,
			struct hostgit_shadow *ret, char **ret_err);
void hostgit_shadow_close(struct hostgit_shadow *s);

/* common_dir/worktrees (id NULL) or common_dir/worktrees/ID, opened as a directory
 * without following a symlink at any step (a VM can plant one): an fd or -errno. */
int hostgit_open_worktrees(const char *common_dir, const char *id);

#define HOSTGIT_SMALL_MAX 4096
/* A regular file at dirfd/name (not through a symlink, never a fifo), at most
 * HOSTGIT_SMALL_MAX bytes, no NUL; trailing newlines dropped. 0 or -errno. */
int hostgit_read_small(int dirfd, const char *name, char **ret);

/* fn(arg) in a child that runs as owner:group (when we are root and they are not);
 * its result (>= 0 or -errno). */
int hostgit_as_owner(uid_t owner, gid_t group, int (*fn)(void *), void *arg);

/* A single path component git could have named a worktree: no '/', not "." or "..",
 * printable ASCII, at most 255 bytes. */
bool hostgit_id_valid(const char *id);

#endif
