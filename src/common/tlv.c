// SPDX-License-Identifier: MIT
/* tlv.c: bounded tag-length-value writer and reader for channel arguments. */
#include "tlv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void tlv_writer_init(struct tlv_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf ? cap : 0;
	w->len = 0;
	w->err = 0;
}

void tlv_put(struct tlv_writer *w, uint16_t tag, const void *val, uint32_t len)
{
	if (w->err)
		return;
	if (len > 0 && !val) {
		w->err = -EINVAL;
		return;
	}
	if (w->cap - w->len < TLV_HDR_LEN || w->cap - w->len - TLV_HDR_LEN < len) {
		w->err = -ENOBUFS;
		return;
	}
	put_le16(w->buf + w->len, tag);
	put_le32(w->buf + w->len + 2, len);
	if (len > 0)
		memcpy(w->buf + w->len + TLV_HDR_LEN, val, len);
	w->len += TLV_HDR_LEN + len;
}

void tlv_put_str(struct tlv_writer *w, uint16_t tag, const char *s)
{
	size_t n;

	if (w->err)
		return;
	if (!s) {
		w->err = -EINVAL;
		return;
	}
	n = strlen(s);
	if (n > UINT32_MAX) {
		w->err = -ENOBUFS;
		return;
	}
	tlv_put(w, tag, s, (uint32_t)n);
}

void tlv_put_u32(struct tlv_writer *w, uint16_t tag, uint32_t v)
{
	uint8_t b[4];

	put_le32(b, v);
	tlv_put(w, tag, b, sizeof(b));
}

void tlv_put_i32(struct tlv_writer *w, uint16_t tag, int32_t v)
{
	tlv_put_u32(w, tag, (uint32_t)v);
}

void tlv_reader_init(struct tlv_reader *r, const void *buf, size_t len)
{
	r->p = buf;
	r->len = buf ? len : 0;
	r->off = 0;
}

int tlv_next(struct tlv_reader *r, uint16_t *tag, const uint8_t **val, uint32_t *vlen)
{
	size_t left;
	uint32_t n;

	if (r->off >= r->len)
		return 0;
	left = r->len - r->off;
	if (left < TLV_HDR_LEN)
		return -EPROTO;
	n = get_le32(r->p + r->off + 2);
	if (left - TLV_HDR_LEN < n)
		return -EPROTO;
	*tag = get_le16(r->p + r->off);
	*val = r->p + r->off + TLV_HDR_LEN;
	*vlen = n;
	r->off += TLV_HDR_LEN + n;
	return 1;
}

int tlv_u32(const uint8_t *val, uint32_t vlen, uint32_t *ret)
{
	if (vlen != 4 || !val)
		return -EPROTO;
	*ret = get_le32(val);
	return 0;
}

int tlv_find_u32(const void *buf, size_t len, uint16_t tag, uint32_t *ret)
{
	struct tlv_reader r;
	const uint8_t *v;
	uint32_t vlen;
	uint16_t t;

	tlv_reader_init(&r, buf, len);
	while (tlv_next(&r, &t, &v, &vlen) > 0)
		if (t == tag && tlv_u32(v, vlen, ret) == 0)
			return 0;
	return -ENOENT;
}

int tlv_i32(const uint8_t *val, uint32_t vlen, int32_t *ret)
{
	if (vlen != 4 || !val)
		return -EPROTO;
	*ret = (int32_t)get_le32(val);
	return 0;
}

int tlv_str(const uint8_t *val, uint32_t vlen, char **ret)
{
	char *s;

	if (vlen > 0 && (!val || memchr(val, 0, vlen)))
		return -EPROTO;
	s = malloc((size_t)vlen + 1);
	if (!s)
		return -ENOMEM;
	if (vlen > 0)
		memcpy(s, val, vlen);
	s[vlen] = 0;
	*ret = s;
	return 0;
}
