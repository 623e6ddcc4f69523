// SPDX-License-Identifier: MIT
/* frame.h: the channel's frame codec. Pure: no I/O, no allocation, no logging. */
#ifndef SBX_FRAME_H
#define SBX_FRAME_H

#include <stddef.h>
#include <stdint.h>

/*
 * Wire format, little-endian:  u32 len | u16 type | u16 flags | u32 stream | payload[len]
 * len counts the payload only and is checked against FRAME_MAX_PAYLOAD before anything
 * is buffered. Stream 0 is the session itself (HELLO, PING, CTRL); every other type
 * needs a stream != 0. Odd stream ids are opened by the host side of a session, even
 * ids by the guest side (for the CLI<->daemon session the CLI is the "guest" side).
 */
#define FRAME_HDR_LEN 12u
#define FRAME_MAX_PAYLOAD (256u * 1024u)
#define FRAME_MAX_CTRL (64u * 1024u)    /* OPEN, CTRL and HELLO payloads */
#define FRAME_MAGIC "SBXMUX01"          /* first 8 bytes of every HELLO payload */
#define FRAME_MAGIC_LEN 8u

enum frame_type {
	FRAME_OPEN = 1,   /* stream != 0; payload: stream arguments (TLV or JSON) */
	FRAME_DATA = 2,   /* stream != 0; flags: FRAME_F_STDERR for exec's stderr */
	FRAME_WINDOW = 3, /* stream != 0; payload: u32 credit increment (> 0) */
	FRAME_CLOSE = 4,  /* stream != 0; half-close: no more DATA from the sender; empty */
	FRAME_RESET = 5,  /* stream != 0; stream is gone in both directions; empty */
	FRAME_PING = 6,   /* stream 0; flags FRAME_F_ACK on the answer; payload echoed, <= 64 */
	FRAME_HELLO = 7,  /* stream 0; starts a new session; payload: FRAME_MAGIC + TLV */
	FRAME_CTRL = 8,   /* any stream; control message (TLV on the guest channel) */
	FRAME_TYPE_MAX = 8,
};

#define FRAME_F_STDERR 0x1u
#define FRAME_F_ACK 0x1u

struct frame_hdr {
	uint32_t len;
	uint16_t type;
	uint16_t flags;
	uint32_t stream;
};

void frame_hdr_encode(uint8_t out[FRAME_HDR_LEN], const struct frame_hdr *h);
/* Decode and validate a header (type, stream rules, per-type length limits).
 * Returns 0 or -EPROTO; *ret is set only on success. */
int frame_hdr_decode(const uint8_t in[FRAME_HDR_LEN], struct frame_hdr *ret);
/* Encode header + payload into out (cap bytes). Returns bytes written or -ENOBUFS/-EINVAL. */
int frame_encode(uint8_t *out, size_t cap, const struct frame_hdr *h, const void *payload);
/* Find the first valid HELLO frame (header + magic) in buf; returns its offset or -ENOENT.
 * Used to resynchronise a byte stream after a session reset. */
long frame_find_hello(const uint8_t *buf, size_t len);

#endif
