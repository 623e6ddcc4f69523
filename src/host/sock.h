// SPDX-License-Identifier: MIT
/* sock.h: unix stream sockets addressed as (directory, name), for paths longer than sun_path. */
#ifndef SBX_SOCK_H
#define SBX_SOCK_H

#include <sys/types.h>

/*
 * Both go through "/proc/self/fd/DIRFD/NAME", so only NAME (no '/') has to fit
 * into sun_path, whatever the length of dir. Returned fds are SOCK_CLOEXEC.
 */

/* Bind and listen on dir/name with the given mode (set before the name appears,
 * via a temporary name and rename). A stale socket at dir/name is replaced; any
 * other kind of file there is left alone (-EEXIST). */
int sock_listen_at(const char *dir, const char *name, int backlog, mode_t mode, int *ret_fd);
/* Blocking connect to dir/name. */
int sock_connect_at(const char *dir, const char *name, int *ret_fd);

#endif
