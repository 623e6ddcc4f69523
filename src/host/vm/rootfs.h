// SPDX-License-Identifier: MIT
/* rootfs.h: build a template's root file system image (rootfs.c). */
#ifndef SBX_ROOTFS_H
#define SBX_ROOTFS_H

#include "image.h"
#include "recipe.h"

/* Install rc into build/ (an empty directory) and make the ext4 image img of rc->size
 * bytes; as an ordinary user in a user namespace of the caller's subordinate ids.
 * level: template_verbosity. Errors are logged. Its steps are numbered from step on,
 * of step - 1 + rootfs_steps(rc) in all (progress.h). *ret_versions: "node@V" and each
 * npm package's "NAME@V" as installed (NULL-terminated, NULL when none), for meta.json. */
int rootfs_build(const struct recipe *rc, const struct kernel_info *k, const char *build, const char *img,
		 int level, unsigned step, char ***ret_versions);
/* How many steps rootfs_build() reports for rc (npm, mmdebstrap, unpacking, image). */
unsigned rootfs_steps(const struct recipe *rc);

#endif
