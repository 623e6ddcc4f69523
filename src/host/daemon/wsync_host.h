// SPDX-License-Identifier: MIT
/* wsync_host.h: the host side of --workspace-mode sync (docs/workspace-sync.md): an
 * inotify watch of the workspace whose changed paths go to the guest's engine
 * (OP_WSYNC), flush and status requests, and the engine's reports. */
#ifndef SBX_WSYNC_HOST_H
#define SBX_WSYNC_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sandbox;
struct json_object;
struct evsrc;

#define WSYNC_HOST_WATCH_MAX 65536u   /* inotify watches per sandbox; past it: rescans */
#define WSYNC_HOST_RECENT 16u         /* conflicts and refusals kept for `sbx sync status` */
#define WSYNC_FLUSH_TIMEOUT_MS 60000u /* default of a flush request */

/* The guest said READY: watch the workspace (bounded), from now on. */
void wsync_host_start(struct sandbox *sb);
/* The channel is gone: stop watching; waiting requests fail. The memory stays until
 * wsync_host_reap (an event of this loop turn may still name it). */
void wsync_host_stop(struct sandbox *sb);
/* At the end of sbxd's loop turn (and at exit): frees what was stopped, writers too. */
struct sbxd;
void wsync_host_reap(struct sbxd *d);
/* EV_WSYNC: the inotify fd is readable. */
void wsync_host_on_event(struct evsrc *ev, uint32_t events);
/* A status (flush false) or flush request to the engine; the sequence number whose
 * answer completes it, or -errno. timeout_ms: 0 = WSYNC_FLUSH_TIMEOUT_MS. */
int wsync_host_request(struct sandbox *sb, bool flush, uint32_t timeout_ms);
/* 1: the request seq was answered, 0: not yet, -ETIMEDOUT: it will not be. */
int wsync_host_answered(struct sandbox *sb, uint32_t seq);
/* From the periodic timer: requests past their deadline. */
void wsync_host_tick(struct sandbox *sb, uint64_t now);
/* OP_WSYNC_STATE / OP_WSYNC_EVENT from the guest (hostile bytes). */
void wsync_host_on_msg(struct sandbox *sb, const uint8_t *data, size_t len);
/* OP_WSYNC_PUT from the guest: to the writer (hostile bytes, relayed). */
void wsync_host_on_put(struct sandbox *sb, const uint8_t *data, size_t len);
/* {"pending", "conflicts", "errors", "last_sync", "flushed", "recent": [...]} */
struct json_object *wsync_host_json(struct sandbox *sb);

#endif
