// SPDX-License-Identifier: MIT
/* mounts.h: the guest's file systems: early pseudo-fs, the root disk, the workspace, the final unmount. */
#ifndef SBX_GUEST_MOUNTS_H
#define SBX_GUEST_MOUNTS_H

#include <stddef.h>

int mounts_early(void);
/* Wait for the root disk, mount it and make it "/". On failure the console has the
 * SBX-GUEST-ERROR marker and *ret_err (allocated) says why; the caller powers off. */
int mounts_switch_root(char **ret_err);
void mounts_late(void);
int mounts_workspace(const char *path);
/* A --branch share: SBX_WS_TAG holds these absolute paths (at most 4); bind each. */
int mounts_share_paths(char *const *paths, size_t n);
int mounts_is_mountpoint(const char *path, const char *fstype);
void mounts_final(const char *workspace);
int net_loopback_up(void);

#endif
