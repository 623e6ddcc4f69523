// SPDX-License-Identifier: MIT
/* wsync_writer.h: sbxd's side of the sync-mode writer (wswriter.h): starts it, relays
 * the guest's batches to it and its answers back, and remembers what it wrote so that
 * the workspace watcher can drop the echo of those writes. */
#ifndef SBX_WSYNC_WRITER_H
#define SBX_WSYNC_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsstate.h"

struct sandbox;
struct evsrc;
struct wsync_writer;

#define WSYNC_ECHO_MS 5000u       /* how long a written path's echo is recognised */
#define WSYNC_ECHO_MAX 65536u     /* paths remembered at once; past it, echoes go through */

/* The writer for sb's workspace, or NULL when it cannot start (logged once; the
 * guest's batches are then answered "not done" and take the share). */
struct wsync_writer *wsync_writer_start(struct sandbox *sb);
/* Stops it; the memory stays until wsync_writer_reap (an event of this loop turn may
 * still name it). */
void wsync_writer_stop(struct wsync_writer *w);
/* At the end of sbxd's loop turn (and at exit): frees the stopped writers. */
struct sbxd;
void wsync_writer_reap(struct sbxd *d);
/* OP_WSYNC_PUT from the guest (hostile bytes, relayed as they are; w may be NULL). */
void wsync_writer_on_put(struct sandbox *sb, struct wsync_writer *w, const uint8_t *data, size_t len);
/* EV_WSYNC_WRITER: answers to relay. */
void wsync_writer_on_event(struct evsrc *ev, uint32_t events);
/* The state the writer left at rel in the last WSYNC_ECHO_MS, or NULL. */
const struct ws_state *wsync_writer_wrote(struct wsync_writer *w, const char *rel);

#endif
