// SPDX-License-Identifier: MIT
/* localdir.h: workspace directories kept on the VM's own disk (sbx run --local). */
#ifndef SBX_GUEST_LOCALDIR_H
#define SBX_GUEST_LOCALDIR_H

#include <sys/types.h>

/* Where their contents live, under the guest's root disk (kept across stop/start). */
#define LOCALDIR_ROOT "/var/lib/sbx/local"

/* Bind LOCALDIR_ROOT/<workspace>/<rel> (made, the agent's) over workspace/<rel>, whose
 * missing directories are made in the workspace as the agent (uid, gid). No symbolic
 * link inside the workspace is followed. Already bound (a reconnecting daemon): 0.
 * rel must be local_dir_valid(). 0 or -errno. */
int localdir_mount(const char *workspace, const char *rel, uid_t uid, gid_t gid);

#endif
