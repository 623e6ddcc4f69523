// SPDX-License-Identifier: MIT
/* wswriter_msg.c: parsing OP_WSYNC_PUT batches and OP_WSYNC_PUT_DONE answers (hostile
 * input, bounded; see wswriter_msg.h). */
#include "wswriter_msg.h"

#include <errno.h>
#include <string.h>

#include "tlv.h"
#include "wsync_msg.h"

/* fields seen in the current item */
enum { F_PATH = 1, F_EXPECT = 2, F_MODE = 4, F_MTIME = 8, F_DATA = 16 };

static int need(uint32_t kind)
{
	switch (kind) {
	case WSI_FILE: return F_PATH | F_EXPECT | F_MODE | F_MTIME | F_DATA;
	case WSI_SYMLINK: return F_PATH | F_EXPECT | F_MTIME | F_DATA;
	case WSI_MKDIR: return F_PATH | F_EXPECT | F_MODE;
	case WSI_REMOVE: return F_PATH | F_EXPECT;
	default: return -1;
	}
}

static bool own_name(const char *rel)
{
	const char *base = strrchr(rel, '/');

	base = base ? base + 1 : rel;
	return !strncmp(base, WSYNC_OWN_PREFIX, strlen(WSYNC_OWN_PREFIX));
}

/* The item just ended: complete for its kind, its values within bounds. */
static int item_check(const struct ws_item *it, int seen, const char **ret_err)
{
	if (seen != need(it->kind))
		return *ret_err = "an item without a field its kind needs", -EPROTO;
	if (own_name(it->path))
		return *ret_err = "a path with the engine's own prefix", -EPROTO;
	if (it->kind == WSI_SYMLINK && (it->data_len == 0 || it->data_len >= WS_PATH_MAX ||
					memchr(it->data, 0, it->data_len)))
		return *ret_err = "a bad symlink target", -EPROTO;
	if (it->kind == WSI_REMOVE && it->expect.type == 0)
		return *ret_err = "a remove of nothing", -EPROTO;
	return 0;
}

static int field(struct ws_item *it, int *seen, uint16_t tag, const uint8_t *v, uint32_t vlen, const char **ret_err)
{
	int f;

	switch (tag) {
	case WS_PATH: f = F_PATH; break;
	case WS_EXPECT: f = F_EXPECT; break;
	case WS_MODE: f = F_MODE; break;
	case WS_MTIME: f = F_MTIME; break;
	case WS_DATA: f = F_DATA; break;
	default: return 0;   /* unknown: skipped */
	}
	if (*seen & f)
		return *ret_err = "a field given twice", -EPROTO;
	if (!(need(it->kind) & f))
		return *ret_err = "a field its kind does not take", -EPROTO;
	*seen |= f;
	switch (tag) {
	case WS_PATH:
		if (!wsync_rel_ok((const char *)v, vlen))
			return *ret_err = "bad path", -EPROTO;
		memcpy(it->path, v, vlen);
		it->path[vlen] = 0;
		return 0;
	case WS_EXPECT:
		return ws_state_decode(v, vlen, &it->expect) < 0 ? (*ret_err = "bad expected state", -EPROTO) : 0;
	case WS_MODE:
		if (tlv_u32(v, vlen, &it->mode) < 0 || it->mode > 0777)
			return *ret_err = "bad mode", -EPROTO;
		return 0;
	case WS_MTIME: {
		uint64_t t = 0;
		if (vlen != 8)
			return *ret_err = "bad mtime", -EPROTO;
		for (int i = 0; i < 8; i++)
			t |= (uint64_t)v[i] << (8 * i);
		it->mtime_ns = (int64_t)t;
		return 0;
	}
	default:   /* WS_DATA */
		if (vlen > WS_INLINE_MAX)
			return *ret_err = "data too long", -EPROTO;
		it->data = v;
		it->data_len = vlen;
		return 0;
	}
}

int wswriter_msg_parse(const uint8_t *data, size_t len, struct ws_batch *b, const char **ret_err)
{
	struct tlv_reader rd;
	const uint8_t *v;
	uint32_t vlen, op = 0;
	uint16_t tag;
	bool have_id = false;
	struct ws_item *it = NULL;
	int seen = 0, r;

	b->id = 0;
	b->n = 0;
	tlv_reader_init(&rd, data, len);
	while ((r = tlv_next(&rd, &tag, &v, &vlen)) > 0) {
		if (tag == CTRL_OP || tag == WS_BATCH) {
			if (it || tlv_u32(v, vlen, tag == CTRL_OP ? &op : &b->id) < 0)
				return *ret_err = "a header field out of place", -EPROTO;
			have_id |= tag == WS_BATCH;
			continue;
		}
		if (tag == WS_ITEM) {
			if (it && (r = item_check(it, seen, ret_err)) < 0)
				return r;
			if (b->n >= WS_ITEMS_PER_MSG)
				return *ret_err = "too many items", -EPROTO;
			it = &b->item[b->n++];
			memset(it, 0, sizeof(*it));
			seen = 0;
			if (tlv_u32(v, vlen, &it->kind) < 0 || need(it->kind) < 0)
				return *ret_err = "unknown item kind", -EPROTO;
			continue;
		}
		if (!it)
			continue;   /* unknown header tags are skipped */
		if ((r = field(it, &seen, tag, v, vlen, ret_err)) < 0)
			return r;
	}
	if (r < 0)
		return *ret_err = "malformed TLV", -EPROTO;
	if (op != OP_WSYNC_PUT || !have_id)
		return *ret_err = "not a batch", -EPROTO;
	if (it && (r = item_check(it, seen, ret_err)) < 0)
		return r;
	return 0;
}

size_t wswriter_done_written(const uint8_t *data, size_t len,
			     void (*fn)(void *arg, const char *path, const struct ws_state *st), void *arg)
{
	struct tlv_reader rd;
	const uint8_t *v;
	uint32_t vlen;
	uint16_t tag;
	char path[WS_PATH_MAX];
	bool have_path = false;
	size_t n = 0;

	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &v, &vlen) > 0) {
		struct ws_state st;

		if (tag == WS_PATH) {
			have_path = wsync_rel_ok((const char *)v, vlen);
			if (have_path) {
				memcpy(path, v, vlen);
				path[vlen] = 0;
			}
		} else if (tag == WS_EXPECT && have_path && ws_state_decode(v, vlen, &st) == 0) {
			fn(arg, path, &st);
			n++;
			have_path = false;
		}
	}
	return n;
}
