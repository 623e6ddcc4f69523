// SPDX-License-Identifier: MIT
/* egress_streams.h: glue between guest egress streams (even ids) and the proxy engine. */
#ifndef SBX_EGRESS_STREAMS_H
#define SBX_EGRESS_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Live egress streams (each holds at most one upstream socket or pending connect). */
#define EGRESS_MAX_PER_SANDBOX 768u
#define EGRESS_MAX_TOTAL 4096u
/* New streams (OPENs of any kind) a sandbox may sustain per second, and its burst:
 * past them sbxd stops reading that sandbox's channel until the bucket refills, so a
 * connect flood costs the loop a bounded share. */
#define EGRESS_OPEN_RATE 2000u
#define EGRESS_OPEN_BURST 512

struct egress;
struct sandbox;
struct sbxd;

/* The guest opened stream id with these OPEN arguments: 0, or <0 to refuse (RESET). */
int egress_open(struct sandbox *sb, uint32_t id, const uint8_t *args, size_t len);
void egress_data(struct egress *e, const uint8_t *data, size_t len);
void egress_window(struct egress *e);
void egress_close(struct egress *e);
void egress_reset(struct egress *e);
/* DATA queued toward one guest beyond which egress streams wait (their writes take
 * nothing, as without credit) until the channel drained below half of it: credit
 * alone would allow 1 MiB per stream, 768 MiB for a guest that stops reading. */
#define EGRESS_TX_HIGH (8u * 1024u * 1024u)

/* From the loop, right after it flushed the guest channel: wake the egress streams that
 * waited for room, once there is. true when it woke any (they may have queued more,
 * to be flushed before the loop sleeps: the flush that made the room may also have
 * emptied the queue and dropped EPOLLOUT, and then nothing else would wake the loop). */
bool egress_tx_room(struct sandbox *sb);
/* From the loop's periodic tick: resume reading a sandbox held by its OPEN rate. */
void egress_tick(struct sandbox *sb, uint64_t now);
/* Free egresses that ended during this loop turn. */
void egress_reap(struct sbxd *d);

#endif
