// SPDX-License-Identifier: MIT
/* wswriter.h: the host's writer of a sync-mode workspace (docs/workspace-sync.md):
 * applies the guest engine's batches (OP_WSYNC_PUT) to the workspace, each change only
 * when the host path is still in the state the engine expected. */
#ifndef SBX_WSWRITER_H
#define SBX_WSWRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wswriter_msg.h"

/*
 * Theory of operation. sbxd spawns `sbx __wsync-writer SOCK ROOT` per sandbox
 * (wswriter_spawn): a fresh image (none of sbxd's memory or fds), in a mount namespace
 * of its own where wsguard's read-only binds cover the same protected paths as in
 * virtiofsd's (.git/hooks, .git/config, ...: writes there fail with EROFS or EBUSY, as
 * through the share), with the workspace owner's uid and gid (as root) or the user's
 * own (an ordinary user, in a user namespace mapping only those), no capabilities, an
 * empty bounding set and no_new_privs. sbxd relays the guest's batches to it over a
 * SOCK_SEQPACKET pair and its answers back. It resolves every path beneath ROOT with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), so neither a
 * symlink nor ".." the guest planted reaches outside; writes a temporary name
 * (WSYNC_OWN_PREFIX) and renames it in (RENAME_NOREPLACE when the expected state is
 * "absent", else RENAME_EXCHANGE and a check of what it displaced, swapped back if
 * that changed meanwhile); modes are masked to 0777.
 */

/* Apply one item beneath root: 0, WSR_MISMATCH, or a positive errno. When it was
 * applied, *ret_now is the host's state after it. */
uint32_t wswriter_apply(int root, const struct ws_item *it, struct ws_state *ret_now);

/* Parse and apply one message; the answer (OP_WSYNC_PUT_DONE) into out (at most cap
 * bytes, FRAME_MAX_CTRL is enough). b: scratch. The answer's length. */
size_t wswriter_handle(int root, const uint8_t *msg, size_t len, struct ws_batch *b, uint8_t *out, size_t cap);

/* The writer process's main loop: until sock closes. */
int wswriter_main(int sock, int root);

/* sbxd: start the writer for workspace (owner uid:gid; protect_git: wsguard's binds),
 * *ret_sock its end of the pair. 0 or -errno. */
int wswriter_spawn(const char *self_exe, const char *workspace, uid_t uid, gid_t gid, bool protect_git,
		   int log_fd, pid_t *ret_pid, int *ret_sock);

#endif
