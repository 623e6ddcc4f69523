// SPDX-License-Identifier: MIT
/* wsync_msg.c: parsing the guest's workspace sync messages (hostile input, bounded). */
#include "wsync_msg.h"

#include <errno.h>
#include <string.h>

#include "tlv.h"

bool wsync_rel_ok(const char *p, size_t len)
{
	size_t start = 0;

	if (len == 0 || len >= WS_PATH_MAX || p[0] == '/' || p[len - 1] == '/')
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] == 0)
			return false;
		if (i == len || p[i] == '/') {
			size_t n = i - start;
			if (n == 0 || (n == 1 && p[start] == '.') || (n == 2 && p[start] == '.' && p[start + 1] == '.'))
				return false;
			start = i + 1;
		}
	}
	return true;
}

static int u32_of(const uint8_t *v, uint32_t vlen, uint32_t *ret)
{
	return tlv_u32(v, vlen, ret) < 0 ? -EPROTO : 0;
}

int wsync_msg_parse(const uint8_t *data, size_t len, struct wsync_msg *m, const char **ret_err)
{
	struct tlv_reader rd;
	const uint8_t *v;
	uint32_t vlen, x;
	uint16_t tag;
	bool have_path = false;
	int r;

	memset(m, 0, sizeof(*m));
	tlv_reader_init(&rd, data, len);
	while ((r = tlv_next(&rd, &tag, &v, &vlen)) > 0) {
		switch (tag) {
		case CTRL_OP:
			if (u32_of(v, vlen, &m->op) < 0)
				return *ret_err = "bad op", -EPROTO;
			break;
		case WS_SEQ: r = u32_of(v, vlen, &m->seq); break;
		case WS_PENDING: r = u32_of(v, vlen, &m->pending); break;
		case WS_CONFLICTS: r = u32_of(v, vlen, &m->conflicts); break;
		case WS_ERRORS: r = u32_of(v, vlen, &m->errors); break;
		case WS_LAST_SYNC: r = u32_of(v, vlen, &m->last_sync); break;
		case WS_FLUSHED:
			r = u32_of(v, vlen, &x);
			m->flushed = x == 1;
			break;
		case WS_KIND: r = u32_of(v, vlen, &m->kind); break;
		case WS_PATH:
			if (!wsync_rel_ok((const char *)v, vlen))
				return *ret_err = "bad path", -EPROTO;
			memcpy(m->path, v, vlen);
			m->path[vlen] = 0;
			have_path = true;
			break;
		case CTRL_MSG:
			if (vlen >= WSYNC_MSG_TEXT_MAX || memchr(v, 0, vlen))
				return *ret_err = "bad message text", -EPROTO;
			memcpy(m->text, v, vlen);
			m->text[vlen] = 0;
			break;
		default:
			break;
		}
		if (r < 0)
			return *ret_err = "a value of the wrong size", -EPROTO;
	}
	if (r < 0)
		return *ret_err = "malformed TLV", -EPROTO;
	if (m->op == OP_WSYNC_STATE)
		return 0;
	if (m->op != OP_WSYNC_EVENT)
		return *ret_err = "not a workspace sync message", -EPROTO;
	if (m->kind != WSEV_CONFLICT && m->kind != WSEV_NOT_SYNCED)
		return *ret_err = "unknown event kind", -EPROTO;
	if (!have_path)
		return *ret_err = "event without a path", -EPROTO;
	return 0;
}
