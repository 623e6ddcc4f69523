// SPDX-License-Identifier: MIT
/* frame.c: encode, validate and locate channel frames (pure, no I/O, no allocation). */
#include "frame.h"

#include <errno.h>
#include <string.h>

#include "util.h"

#define FRAME_MAX_PING 64u

void frame_hdr_encode(uint8_t out[FRAME_HDR_LEN], const struct frame_hdr *h)
{
	put_le32(out, h->len);
	put_le16(out + 4, h->type);
	put_le16(out + 6, h->flags);
	put_le32(out + 8, h->stream);
}

/* Per-type rules; everything a header alone can tell. */
static int frame_hdr_check(const struct frame_hdr *h)
{
	uint16_t allowed_flags = 0;

	if (h->len > FRAME_MAX_PAYLOAD)
		return -EPROTO;
	switch (h->type) {
	case FRAME_OPEN:
		if (h->stream == 0 || h->len > FRAME_MAX_CTRL)
			return -EPROTO;
		break;
	case FRAME_DATA:
		if (h->stream == 0)
			return -EPROTO;
		allowed_flags = FRAME_F_STDERR;
		break;
	case FRAME_WINDOW:
		if (h->stream == 0 || h->len != 4)
			return -EPROTO;
		break;
	case FRAME_CLOSE:
	case FRAME_RESET:
		if (h->stream == 0 || h->len != 0)
			return -EPROTO;
		break;
	case FRAME_PING:
		if (h->stream != 0 || h->len > FRAME_MAX_PING)
			return -EPROTO;
		allowed_flags = FRAME_F_ACK;
		break;
	case FRAME_HELLO:
		if (h->stream != 0 || h->len < FRAME_MAGIC_LEN || h->len > FRAME_MAX_CTRL)
			return -EPROTO;
		break;
	case FRAME_CTRL:
		if (h->len > FRAME_MAX_CTRL)
			return -EPROTO;
		break;
	default:
		return -EPROTO;
	}
	if (h->flags & ~allowed_flags)
		return -EPROTO;
	return 0;
}

int frame_hdr_decode(const uint8_t in[FRAME_HDR_LEN], struct frame_hdr *ret)
{
	struct frame_hdr h = {
		.len = get_le32(in),
		.type = get_le16(in + 4),
		.flags = get_le16(in + 6),
		.stream = get_le32(in + 8),
	};
	int r = frame_hdr_check(&h);

	if (r < 0)
		return r;
	*ret = h;
	return 0;
}

int frame_encode(uint8_t *out, size_t cap, const struct frame_hdr *h, const void *payload)
{
	if (frame_hdr_check(h) < 0 || (h->len > 0 && !payload))
		return -EINVAL;
	if (cap < FRAME_HDR_LEN || cap - FRAME_HDR_LEN < h->len)
		return -ENOBUFS;
	frame_hdr_encode(out, h);
	if (h->len > 0)
		memcpy(out + FRAME_HDR_LEN, payload, h->len);
	return (int)(FRAME_HDR_LEN + h->len);
}

long frame_find_hello(const uint8_t *buf, size_t len)
{
	const size_t need = FRAME_HDR_LEN + FRAME_MAGIC_LEN;
	struct frame_hdr h;

	if (!buf || len < need)
		return -ENOENT;
	for (size_t i = 0; i <= len - need; i++) {
		const uint8_t *p = buf + i;

		/* Cheap filter on the type field before a full decode. */
		if (p[4] != FRAME_HELLO || p[5] != 0)
			continue;
		if (memcmp(p + FRAME_HDR_LEN, FRAME_MAGIC, FRAME_MAGIC_LEN) != 0)
			continue;
		if (frame_hdr_decode(p, &h) == 0 && h.type == FRAME_HELLO)
			return (long)i;
	}
	return -ENOENT;
}
