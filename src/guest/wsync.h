// SPDX-License-Identifier: MIT
/* wsync.h: --workspace-mode sync in sbx-guest (docs/workspace-sync.md): the hidden
 * share, the local copy at the workspace path, the engine child and its messages. */
#ifndef SBX_GUEST_WSYNC_H
#define SBX_GUEST_WSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct guest;

/* Mount the share at /run/sbx/share (root only), bind the local copy at workspace and
 * start the engine as uid/gid. READY waits for its first comparison (wsync_waiting). */
int wsync_setup(struct guest *g, const char *workspace, uint32_t uid, uint32_t gid, bool writer);
/* The engine's first comparison is not done: it, not ctl.c, says READY. */
bool wsync_waiting(struct guest *g);
/* WATCH_WSYNC: the engine's messages, relayed to the host. */
void wsync_on_event(struct guest *g, uint32_t events);
/* OP_WSYNC from the host, handed to the engine as it is. */
void wsync_from_host(struct guest *g, const uint8_t *data, size_t len);
bool wsync_child_exited(struct guest *g, pid_t pid, int wstatus);
/* Power off: let the engine make its last pass (bounded), then reap it. */
void wsync_stop(struct guest *g);

#endif
