// SPDX-License-Identifier: MIT
/* vm_stage.h: what virtiofsd serves from a stage (a tmpfs in its own mount namespace):
 * the directories under it, and a claimed pool VM's workspace bound in after start. */
#ifndef SBX_VM_STAGE_H
#define SBX_VM_STAGE_H

#include <stdbool.h>
#include <sys/types.h>

#include "vm.h"

/* mkdir -p rel (no leading '/') beneath dirfd, never following a symlink; an O_PATH
 * fd of the last directory, or -errno. System calls only (safe after fork). */
int vm_mkdir_beneath(int dirfd, const char *rel);
/* An O_PATH fd of a directory to share: an absolute path with no symbolic link anywhere
 * on it (sbx resolved it once, at create; one made since is not followed), or -errno. */
int vm_share_open(const char *path);
/* A detached copy (open_tree) of the directory at path, with what is mounted beneath it. */
int vm_share_clone(const char *path, int *tree);
/* Attach the detached tree (open_tree) at the absolute path's place beneath root,
 * made with vm_mkdir_beneath. 0 or -errno; system calls only. */
int vm_attach_beneath(int root, const char *path, int tree);

/* Claim of a pool VM: bind the workspace (and git_dir, may be NULL) at their absolute
 * paths into the stage its virtiofsd serves, git guards first (protect_git), from a
 * child that enters virtiofsd's user and mount namespaces. *ret_err: why (malloc'd). */
int vm_stage_attach(const struct vm_procs *p, const char *workspace, const char *git_dir, uid_t ws_uid,
		    gid_t ws_gid, bool protect_git, char **ret_err);

#endif
