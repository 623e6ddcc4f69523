// SPDX-License-Identifier: MIT
/* buf.h: the one bounded byte queue: bytes are appended at the tail and consumed from the
 * head; the bound is part of the buffer and mandatory (buf_init), so no caller can grow
 * one past what it was built for. Used by the egress engine and the SSH agent relay. */
#ifndef SBX_BUF_H
#define SBX_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t off, len, cap; /* the bytes are data[off .. off+len) */
	size_t max;           /* len never exceeds it */
};

/* An empty buffer that will hold at most max bytes. */
static inline void buf_init(struct buf *b, size_t max)
{
	*b = (struct buf){ .max = max };
}

/* Room for n more bytes after the data: 0, -ENOBUFS past max, -ENOMEM. */
int buf_reserve(struct buf *b, size_t n);
/* Where the next bytes go (after buf_reserve); buf_commit(n) counts them in. */
static inline uint8_t *buf_tail(struct buf *b)
{
	return b->data + b->off + b->len;
}
static inline void buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}
static inline uint8_t *buf_head(const struct buf *b)
{
	return b->data ? b->data + b->off : NULL;
}
/* Copy len bytes in: 0, -ENOBUFS (nothing copied) or -ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t len);
/* Drop n bytes from the head (all of them when n >= len). */
void buf_consume(struct buf *b, size_t n);
/* How many more bytes fit under max. */
size_t buf_room(const struct buf *b);
/* Release the memory; the bound stays. */
void buf_free(struct buf *b);

#endif
