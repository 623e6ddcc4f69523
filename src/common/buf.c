// SPDX-License-Identifier: MIT
/* buf.c: the bounded byte queue (buf.h). */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUF_INIT_CAP 16384u

int buf_reserve(struct buf *b, size_t n)
{
	size_t need;

	if (n > b->max || b->len > b->max - n)
		return -ENOBUFS;
	if (b->off && b->off + b->len + n > b->cap) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	need = b->off + b->len + n;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : BUF_INIT_CAP;
		uint8_t *d;

		while (cap < need)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	int r;

	if (!len)
		return 0;
	r = buf_reserve(b, len);
	if (r < 0)
		return r;
	memcpy(buf_tail(b), data, len);
	b->len += len;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->off = b->len = 0;
		return;
	}
	b->off += n;
	b->len -= n;
}

size_t buf_room(const struct buf *b)
{
	return b->max - b->len;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}
