// SPDX-License-Identifier: MIT
/* mux.h: stream multiplexer over one byte stream (virtio-serial port or unix socket).
 *
 * The mux owns stream state, per-stream credit and both byte buffers; it does no I/O.
 * The owner reads into mux_rx_buf()/mux_rx_done() and writes out what
 * mux_tx_peek()/mux_tx_advance() hand it. Callbacks run from inside mux_rx_done().
 *
 * Flow control: each direction of each stream starts with MUX_WINDOW_INIT bytes of
 * credit. A sender may send DATA only within its credit; the receiver returns credit
 * with mux_grant() once it has consumed the bytes. DATA beyond the credit, frames
 * that break the codec rules, OPEN with the wrong id parity or a reused id, and
 * DATA after CLOSE are protocol violations: mux_rx_done() returns -EPROTO and the
 * owner must end the session (mux_session_reset()) and resynchronise on a HELLO.
 *
 * Frames for unknown stream ids (e.g. in flight after we reset the stream) are
 * dropped silently. A HELLO received at any time starts a new session: every open
 * stream is reported through on_reset first.
 */
#ifndef SBX_MUX_H
#define SBX_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MUX_WINDOW_INIT (1024u * 1024u)
#define MUX_MAX_STREAMS 1024u   /* 500+ concurrent proxied connections per guest */
/* Frames that need no credit (OPEN, WINDOW, CLOSE, RESET, PING, HELLO, CTRL) may take
 * at most MUX_TX_CTL_MAX of the output buffer; queuing one past it fails with -ENOBUFS
 * (an automatic answer that does not fit is a violation). From MUX_TX_CTL_PAUSE on,
 * mux_rx_paused() asks the owner to stop reading the peer until the output drains:
 * most of these frames answer the peer's input (PING ACK, RESET, WINDOW), so a peer
 * that sends without reading stalls itself instead of growing our buffer. One parse
 * of a full input buffer adds well under MUX_TX_CTL_MAX - MUX_TX_CTL_PAUSE. */
#define MUX_TX_CTL_PAUSE (256u * 1024u)
#define MUX_TX_CTL_MAX (4u * 1024u * 1024u)
/* DATA is bounded by credit: MUX_MAX_STREAMS x MUX_WINDOW_INIT. */
#define MUX_TX_MAX (MUX_MAX_STREAMS * MUX_WINDOW_INIT + MUX_TX_CTL_MAX)

struct mux;

struct mux_ops {
	/* Peer opened stream id. Return 0 to accept (and mux_set_user() if wanted), <0
	 * to refuse: the mux answers RESET. */
	int (*on_open)(void *ctx, uint32_t id, const uint8_t *args, size_t len);
	/* DATA within credit. The callee must mux_grant() the bytes once consumed. */
	void (*on_data)(void *ctx, uint32_t id, uint16_t flags, const uint8_t *data, size_t len);
	/* CTRL frame; id 0 is the session's control channel. */
	void (*on_ctrl)(void *ctx, uint32_t id, const uint8_t *data, size_t len);
	/* Peer granted `credit` more bytes on id. */
	void (*on_window)(void *ctx, uint32_t id, uint32_t credit);
	/* Peer half-closed id: no more DATA will come. */
	void (*on_close)(void *ctx, uint32_t id);
	/* Stream id is gone (peer RESET, or session reset): forget it. */
	void (*on_reset)(void *ctx, uint32_t id);
	/* Peer started a new session; payload after the magic (TLV). */
	void (*on_hello)(void *ctx, const uint8_t *data, size_t len);
};

/* host_side: this end opens odd ids (the peer even ids). */
struct mux *mux_new(bool host_side, const struct mux_ops *ops, void *ctx);
void mux_free(struct mux *m);

/* Input. mux_rx_buf returns space for at least one read (never NULL, *avail > 0). */
uint8_t *mux_rx_buf(struct mux *m, size_t *avail);
/* n bytes were read into that space: parse and dispatch. 0, -EPROTO, or -ENOMEM when
 * the buffer could not grow for a large frame (the owner resets the session alike). */
int mux_rx_done(struct mux *m, size_t n);
/* Discard input until a valid HELLO (used after a reset, or before the first HELLO). */
void mux_set_hunting(struct mux *m, bool on);

/* Output: bytes waiting to be written. */
size_t mux_tx_peek(struct mux *m, const uint8_t **ret);
void mux_tx_advance(struct mux *m, size_t n);
/* True while frames without credit fill the output beyond MUX_TX_CTL_PAUSE: do not
 * read from the peer (and do not poll it for input) until mux_tx_advance() drained them. */
bool mux_rx_paused(const struct mux *m);

/* Drop all streams (on_reset for each), both buffers, and start hunting if asked. */
void mux_session_reset(struct mux *m, bool hunt);
/* Queue a HELLO (magic + payload). Receiving side treats it as a new session. */
int mux_send_hello(struct mux *m, const void *payload, size_t len);
int mux_send_ping(struct mux *m);

/* Open a stream with arguments; ret_id set on success. -EMFILE past MUX_MAX_STREAMS. */
int mux_open(struct mux *m, const void *args, size_t len, uint32_t *ret_id);
/* Queue up to len bytes of DATA within the send credit; returns the bytes taken (0 when
 * there is no credit), -EPIPE after our CLOSE, -ENOENT for an unknown id. */
long mux_write(struct mux *m, uint32_t id, uint16_t flags, const void *data, size_t len);
/* Credit left for sending on id (0 if unknown). */
size_t mux_credit(struct mux *m, uint32_t id);
int mux_grant(struct mux *m, uint32_t id, uint32_t bytes);
int mux_send_ctrl(struct mux *m, uint32_t id, const void *data, size_t len);
int mux_close(struct mux *m, uint32_t id);   /* half-close our direction */
int mux_reset(struct mux *m, uint32_t id);   /* RESET and forget (no on_reset call) */

void mux_set_user(struct mux *m, uint32_t id, void *user);
void *mux_get_user(struct mux *m, uint32_t id);
size_t mux_stream_count(struct mux *m);

#endif
