// SPDX-License-Identifier: MIT
/* test_wsync_msg.c: the guest's workspace sync messages as sbxd parses them (hostile
 * input), and the sandbox spec's workspace_mode. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "spec.h"
#include "testlib.h"
#include "tlv.h"
#include "util.h"
#include "wsync_msg.h"

static size_t msg(uint8_t *buf, size_t cap, uint32_t op, uint32_t kind, const char *path, const char *text)
{
	struct tlv_writer w;

	tlv_writer_init(&w, buf, cap);
	tlv_put_u32(&w, CTRL_OP, op);
	if (kind)
		tlv_put_u32(&w, WS_KIND, kind);
	if (path)
		tlv_put(&w, WS_PATH, path, (uint32_t)strlen(path));
	if (text)
		tlv_put_str(&w, CTRL_MSG, text);
	return w.err ? 0 : w.len;
}

static int parse(const uint8_t *b, size_t n, struct wsync_msg *m)
{
	const char *err = NULL;
	int r = wsync_msg_parse(b, n, m, &err);

	if (r < 0)
		CHECK(err && *err);
	return r;
}

static void test_state(void)
{
	uint8_t buf[256];
	struct tlv_writer w;
	struct wsync_msg m;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, OP_WSYNC_STATE);
	tlv_put_u32(&w, WS_SEQ, 7);
	tlv_put_u32(&w, WS_PENDING, 3);
	tlv_put_u32(&w, WS_CONFLICTS, 2);
	tlv_put_u32(&w, WS_ERRORS, 1);
	tlv_put_u32(&w, WS_LAST_SYNC, 1700000000);
	tlv_put_u32(&w, WS_FLUSHED, 1);
	tlv_put_u32(&w, 999, 5);   /* unknown: skipped */
	CHECK(parse(buf, w.len, &m) == 0);
	CHECK(m.op == OP_WSYNC_STATE && m.seq == 7 && m.pending == 3 && m.conflicts == 2 && m.errors == 1);
	CHECK(m.last_sync == 1700000000 && m.flushed);
	/* a u32 of the wrong size */
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, OP_WSYNC_STATE);
	tlv_put(&w, WS_SEQ, "ab", 2);
	CHECK(parse(buf, w.len, &m) == -EPROTO);
	/* truncated */
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, OP_WSYNC_STATE);
	tlv_put_u32(&w, WS_SEQ, 1);
	CHECK(parse(buf, w.len - 1, &m) == -EPROTO);
}

static void test_event(void)
{
	uint8_t buf[2 * WS_PATH_MAX + 256];
	struct wsync_msg m;
	size_t n;
	char *longp, *longt;

	n = msg(buf, sizeof(buf), OP_WSYNC_EVENT, WSEV_CONFLICT, "src/a.c", "kept as a.c.sbx-conflict-guest-1");
	CHECK(parse(buf, n, &m) == 0);
	CHECK(m.kind == WSEV_CONFLICT && !strcmp(m.path, "src/a.c") && !strcmp(m.text, "kept as a.c.sbx-conflict-guest-1"));
	n = msg(buf, sizeof(buf), OP_WSYNC_EVENT, WSEV_NOT_SYNCED, ".git/hooks/pre-commit", "EROFS");
	CHECK(parse(buf, n, &m) == 0 && m.kind == WSEV_NOT_SYNCED);
	/* refusals: paths that are not plain relative paths, kinds, ops, text */
	static const char *const bad[] = { "/etc/passwd", "../x", "a/../b", "a/./b", ".", "..", "a//b", "a/", "", NULL };
	for (const char *const *b = bad; *b; b++) {
		n = msg(buf, sizeof(buf), OP_WSYNC_EVENT, WSEV_CONFLICT, *b, "x");
		CHECK(parse(buf, n, &m) == -EPROTO);
	}
	{
		uint8_t nul[] = "a\0b";
		struct tlv_writer w;
		tlv_writer_init(&w, buf, sizeof(buf));
		tlv_put_u32(&w, CTRL_OP, OP_WSYNC_EVENT);
		tlv_put_u32(&w, WS_KIND, WSEV_CONFLICT);
		tlv_put(&w, WS_PATH, nul, 3);
		CHECK(parse(buf, w.len, &m) == -EPROTO);
	}
	n = msg(buf, sizeof(buf), OP_WSYNC_EVENT, 9, "a", "x");
	CHECK(parse(buf, n, &m) == -EPROTO);
	n = msg(buf, sizeof(buf), OP_WSYNC_EVENT, WSEV_CONFLICT, NULL, "x");
	CHECK(parse(buf, n, &m) == -EPROTO);
	n = msg(buf, sizeof(buf), OP_READY, 0, NULL, NULL);
	CHECK(parse(buf, n, &m) == -EPROTO);
	longp = xmalloc(WS_PATH_MAX + 1);
	memset(longp, 'a', WS_PATH_MAX);
	longp[WS_PATH_MAX] = 0;
	n = msg(buf, sizeof(buf), OP_WSYNC_EVENT, WSEV_CONFLICT, longp, "x");
	CHECK(n > 0 && parse(buf, n, &m) == -EPROTO);
	longp[WS_PATH_MAX - 1] = 0;
	n = msg(buf, sizeof(buf), OP_WSYNC_EVENT, WSEV_CONFLICT, longp, "x");
	CHECK(n > 0 && parse(buf, n, &m) == 0 && strlen(m.path) == WS_PATH_MAX - 1);
	longt = xmalloc(WSYNC_MSG_TEXT_MAX + 1);
	memset(longt, 't', WSYNC_MSG_TEXT_MAX);
	longt[WSYNC_MSG_TEXT_MAX] = 0;
	n = msg(buf, sizeof(buf), OP_WSYNC_EVENT, WSEV_CONFLICT, "a", longt);
	CHECK(parse(buf, n, &m) == -EPROTO);
	free(longp);
	free(longt);
}

static void test_spec_mode(void)
{
	bool sync = true;

	CHECK(spec_ws_mode_parse("share", &sync) == 0 && !sync);
	CHECK(spec_ws_mode_parse("sync", &sync) == 0 && sync);
	CHECK(spec_ws_mode_parse("Sync", &sync) == -EINVAL);
	CHECK(spec_ws_mode_parse("", &sync) == -EINVAL);
	CHECK(spec_ws_mode_parse(NULL, &sync) == -EINVAL);
	{
		static const char base[] = "{\"name\":\"a\",\"agent\":\"shell\",\"template\":\"minimal\",\"workspace\":\"/w\","
					   "\"cpus\":1,\"memory_mib\":512,\"uid\":1000,\"gid\":1000%s}";
		const char *err = NULL;
		struct spec s = { 0 };
		char txt[512];
		struct json_object *o;

		snprintf(txt, sizeof(txt), base, "");
		o = json_tokener_parse(txt);
		CHECK(spec_from_json(o, &s, &err) == 0 && !s.ws_sync);
		spec_free(&s);
		json_object_put(o);
		snprintf(txt, sizeof(txt), base, ",\"workspace_mode\":\"sync\"");
		o = json_tokener_parse(txt);
		CHECK(spec_from_json(o, &s, &err) == 0 && s.ws_sync);
		{
			struct json_object *back = spec_to_json(&s);
			CHECK(!strcmp(json_object_get_string(json_object_object_get(back, "workspace_mode")), "sync"));
			json_object_put(back);
		}
		spec_free(&s);
		json_object_put(o);
		snprintf(txt, sizeof(txt), base, ",\"workspace_mode\":\"bogus\"");
		o = json_tokener_parse(txt);
		CHECK(spec_from_json(o, &s, &err) == -EINVAL && err && strstr(err, "workspace_mode"));
		json_object_put(o);
		snprintf(txt, sizeof(txt), base, ",\"workspace_mode\":3");
		o = json_tokener_parse(txt);
		CHECK(spec_from_json(o, &s, &err) == -EINVAL);
		json_object_put(o);
	}
}

int main(void)
{
	test_state();
	test_event();
	test_spec_mode();
	TEST_DONE();
}
