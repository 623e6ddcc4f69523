// SPDX-License-Identifier: MIT
/* branch.h: `--branch`: a git worktree per sandbox, made and removed on the host. */
#ifndef SBX_BRANCH_H
#define SBX_BRANCH_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * `sbx run --branch B AGENT PATH` gives the sandbox its own working tree of PATH's
 * repository, checked out at branch B (made from HEAD when it does not exist), so
 * several agents work on one repository side by side. The worktree lives next to
 * the repository, in REPO.sbx/SANDBOX (visible to the user, listed by `git worktree
 * list`); the VM gets that worktree as its workspace and the repository's git
 * directory (objects, refs; hooks and config read-only) at their host paths, and
 * nothing else of the repository. Commits the agent makes are in the repository at
 * once. `sbx rm` removes the worktree (refusing uncommitted changes without -f); the
 * branch stays.
 *
 * git runs as the repository's owner (when sbx runs as root), through hostgit.h: with
 * its git directories pinned to the ones recorded here, and, for anything that reads
 * file content, on a shadow git directory that holds no config of the repository.
 * No hook, filter or fsmonitor of the repository ever runs; a new worktree's files
 * are written as git stores them (an LFS file stays a pointer).
 */

struct branch_ws {
	char *repo;         /* top of the main working tree */
	char *common_dir;   /* the repository's git directory (absolute) */
	char *worktree;     /* the sandbox's working tree: its workspace */
	char *worktree_id;  /* its git directory is common_dir/worktrees/ID; NULL for a
			     * worktree an older sbx made (not recorded) */
	bool created;       /* made now (not reused) */
};

void branch_ws_free(struct branch_ws *b);

/* A branch name git accepts and sbx can pass on (no leading '-', printable ASCII). */
bool branch_name_valid(const char *branch);

/* Make (or, when this sandbox already has it, reuse) the worktree. path: anywhere in
 * a non-bare repository's main working tree. owner/group: who git runs as. */
int branch_prepare(const char *path, const char *branch, const char *sandbox, uid_t owner, gid_t group,
		   struct branch_ws *ret, char **ret_err);

/* 1 when the worktree has uncommitted changes or untracked files, 0 when clean or
 * gone, < 0 when git cannot tell (with *ret_err). Reads only b's recorded paths: not
 * the worktree's `.git` file, not worktrees/ID/commondir, no config of the
 * repository. Only repo, common_dir, worktree and worktree_id of b are used. */
int branch_dirty(const struct branch_ws *b, uid_t owner, gid_t group, char **ret_err);

/* Remove the worktree, whatever it holds (check branch_dirty first), and its entry
 * common_dir/worktrees/ID, without git and without following a symlink or leaving
 * the file system, as the caller (so also what guest root made there); the branch
 * stays. A worktree already gone is fine. */
int branch_remove(const struct branch_ws *b, char **ret_err);

#endif
