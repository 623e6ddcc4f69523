// SPDX-License-Identifier: MIT
/* wsstate.h: what one side of a sync-mode workspace has at a path, as the guest's
 * engine and the host's writer both compare it (docs/workspace-sync.md), and its wire
 * form (WS_EXPECT). */
#ifndef SBX_WSSTATE_H
#define SBX_WSSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

/* type: 0 nothing, 'f' file, 'd' directory, 'l' symlink, 'o' anything else (not
 * synchronised). Directories compare by mode only, symlinks by their target (a hash of
 * it in size), files by size, mtime (ns) and mode. */
struct ws_state {
	uint8_t type;
	uint32_t mode;
	uint64_t size;
	int64_t mtime_ns;
};
bool ws_state_same(const struct ws_state *a, const struct ws_state *b);
/* The state of name in the directory pfd (pfd < 0: nothing), never following a
 * symlink; 0 (a missing entry or parent is type 0) or -errno. */
int ws_state_at(int pfd, const char *name, struct ws_state *ret);
/* A symlink's comparison value: a 64-bit FNV-1a hash of its target. */
uint64_t ws_target_hash(const char *t, uint64_t n);
void ws_state_encode(const struct ws_state *st, uint8_t out[WS_STATE_LEN]);
/* -EPROTO unless len is WS_STATE_LEN and the type is one of the above. */
int ws_state_decode(const uint8_t *v, uint32_t len, struct ws_state *ret);

#endif
