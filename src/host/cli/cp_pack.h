// SPDX-License-Identifier: MIT
/* cp_pack.h: `sbx cp` host -> guest: a host file or tree as a tar stream. */
#ifndef SBX_CP_PACK_H
#define SBX_CP_PACK_H

#include <stdbool.h>

/*
 * Write src (a host path; its last component is not followed: a symlink is sent as a
 * link, like cp -P) to out_fd as a GNU tar stream whose top entry is named top. A
 * directory needs recursive; inside it nothing is followed either (every entry is
 * opened relative to its directory with O_NOFOLLOW). Regular files, directories and
 * symlinks are sent with their permission bits (setuid, setgid, sticky dropped) and
 * owner "agent"; anything else is skipped with a warning on stderr. 0, or -errno with
 * *ret_err (malloc'd).
 */
int cp_pack(int out_fd, const char *src, const char *top, bool recursive, char **ret_err);

#endif
