// SPDX-License-Identifier: MIT
/* test_frame.c: frame header codec, every validation rule, frame_encode and HELLO search. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"
#include "testlib.h"
#include "util.h"

/* Encode without validation, then decode: returns frame_hdr_decode's result. */
static int dec(uint32_t len, uint16_t type, uint16_t flags, uint32_t stream)
{
	struct frame_hdr h = { .len = len, .type = type, .flags = flags, .stream = stream };
	struct frame_hdr out = { .len = 0xdead };
	uint8_t b[FRAME_HDR_LEN];
	int r;

	frame_hdr_encode(b, &h);
	r = frame_hdr_decode(b, &out);
	if (r == 0) {
		CHECK_EQ(out.len, len);
		CHECK_EQ(out.type, type);
		CHECK_EQ(out.flags, flags);
		CHECK_EQ(out.stream, stream);
	} else {
		CHECK_EQ(out.len, 0xdead); /* untouched on failure */
	}
	return r;
}

static void test_layout(void)
{
	struct frame_hdr h = { .len = 0x04030201, .type = 0x0605, .flags = 0x0807, .stream = 0x0c0b0a09 };
	uint8_t b[FRAME_HDR_LEN];
	static const uint8_t want[FRAME_HDR_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

	frame_hdr_encode(b, &h);
	CHECK(memcmp(b, want, sizeof(want)) == 0);
}

static void test_roundtrip(void)
{
	CHECK_EQ(dec(5, FRAME_OPEN, 0, 1), 0);
	CHECK_EQ(dec(FRAME_MAX_CTRL, FRAME_OPEN, 0, 0xffffffffu), 0);
	CHECK_EQ(dec(0, FRAME_DATA, 0, 2), 0);
	CHECK_EQ(dec(FRAME_MAX_PAYLOAD, FRAME_DATA, FRAME_F_STDERR, 7), 0);
	CHECK_EQ(dec(4, FRAME_WINDOW, 0, 3), 0);
	CHECK_EQ(dec(0, FRAME_CLOSE, 0, 3), 0);
	CHECK_EQ(dec(0, FRAME_RESET, 0, 4), 0);
	CHECK_EQ(dec(0, FRAME_PING, 0, 0), 0);
	CHECK_EQ(dec(64, FRAME_PING, FRAME_F_ACK, 0), 0);
	CHECK_EQ(dec(FRAME_MAGIC_LEN, FRAME_HELLO, 0, 0), 0);
	CHECK_EQ(dec(FRAME_MAX_CTRL, FRAME_HELLO, 0, 0), 0);
	CHECK_EQ(dec(0, FRAME_CTRL, 0, 0), 0);
	CHECK_EQ(dec(FRAME_MAX_CTRL, FRAME_CTRL, 0, 9), 0);
}

static void test_reject(void)
{
	/* unknown types */
	CHECK_EQ(dec(0, 0, 0, 1), -EPROTO);
	CHECK_EQ(dec(0, FRAME_TYPE_MAX + 1, 0, 1), -EPROTO);
	CHECK_EQ(dec(0, 0xffff, 0, 0), -EPROTO);
	/* global length limit */
	CHECK_EQ(dec(FRAME_MAX_PAYLOAD + 1, FRAME_DATA, 0, 1), -EPROTO);
	CHECK_EQ(dec(0xffffffffu, FRAME_DATA, 0, 1), -EPROTO);
	/* control-sized types */
	CHECK_EQ(dec(FRAME_MAX_CTRL + 1, FRAME_OPEN, 0, 1), -EPROTO);
	CHECK_EQ(dec(FRAME_MAX_CTRL + 1, FRAME_CTRL, 0, 1), -EPROTO);
	CHECK_EQ(dec(FRAME_MAX_CTRL + 1, FRAME_HELLO, 0, 0), -EPROTO);
	/* PING <= 64 */
	CHECK_EQ(dec(65, FRAME_PING, 0, 0), -EPROTO);
	/* WINDOW exactly 4 */
	CHECK_EQ(dec(0, FRAME_WINDOW, 0, 1), -EPROTO);
	CHECK_EQ(dec(3, FRAME_WINDOW, 0, 1), -EPROTO);
	CHECK_EQ(dec(5, FRAME_WINDOW, 0, 1), -EPROTO);
	/* CLOSE/RESET empty */
	CHECK_EQ(dec(1, FRAME_CLOSE, 0, 1), -EPROTO);
	CHECK_EQ(dec(1, FRAME_RESET, 0, 1), -EPROTO);
	/* stream 0 not allowed */
	CHECK_EQ(dec(0, FRAME_OPEN, 0, 0), -EPROTO);
	CHECK_EQ(dec(0, FRAME_DATA, 0, 0), -EPROTO);
	CHECK_EQ(dec(4, FRAME_WINDOW, 0, 0), -EPROTO);
	CHECK_EQ(dec(0, FRAME_CLOSE, 0, 0), -EPROTO);
	CHECK_EQ(dec(0, FRAME_RESET, 0, 0), -EPROTO);
	/* stream 0 required */
	CHECK_EQ(dec(0, FRAME_PING, 0, 1), -EPROTO);
	CHECK_EQ(dec(FRAME_MAGIC_LEN, FRAME_HELLO, 0, 1), -EPROTO);
	/* HELLO carries at least the magic */
	CHECK_EQ(dec(FRAME_MAGIC_LEN - 1, FRAME_HELLO, 0, 0), -EPROTO);
	CHECK_EQ(dec(0, FRAME_HELLO, 0, 0), -EPROTO);
	/* flags */
	CHECK_EQ(dec(0, FRAME_DATA, 0x2, 1), -EPROTO);
	CHECK_EQ(dec(0, FRAME_DATA, 0x8000, 1), -EPROTO);
	CHECK_EQ(dec(0, FRAME_PING, 0x2, 0), -EPROTO);
	CHECK_EQ(dec(0, FRAME_OPEN, 1, 1), -EPROTO);
	CHECK_EQ(dec(4, FRAME_WINDOW, 1, 1), -EPROTO);
	CHECK_EQ(dec(0, FRAME_CLOSE, 1, 1), -EPROTO);
	CHECK_EQ(dec(0, FRAME_RESET, 1, 1), -EPROTO);
	CHECK_EQ(dec(FRAME_MAGIC_LEN, FRAME_HELLO, 1, 0), -EPROTO);
	CHECK_EQ(dec(0, FRAME_CTRL, 1, 0), -EPROTO);
}

static void test_encode(void)
{
	uint8_t buf[64];
	struct frame_hdr h = { .len = 3, .type = FRAME_DATA, .stream = 5 }, out;
	int r;

	r = frame_encode(buf, sizeof(buf), &h, "abc");
	CHECK_EQ(r, FRAME_HDR_LEN + 3);
	CHECK_EQ(frame_hdr_decode(buf, &out), 0);
	CHECK_EQ(out.len, 3);
	CHECK(memcmp(buf + FRAME_HDR_LEN, "abc", 3) == 0);
	CHECK_EQ(frame_encode(buf, FRAME_HDR_LEN + 2, &h, "abc"), -ENOBUFS);
	CHECK_EQ(frame_encode(buf, 4, &h, "abc"), -ENOBUFS);
	CHECK_EQ(frame_encode(buf, FRAME_HDR_LEN + 3, &h, "abc"), FRAME_HDR_LEN + 3);
	CHECK_EQ(frame_encode(buf, sizeof(buf), &h, NULL), -EINVAL);
	h.stream = 0; /* invalid header */
	CHECK_EQ(frame_encode(buf, sizeof(buf), &h, "abc"), -EINVAL);
	h = (struct frame_hdr){ .type = FRAME_CLOSE, .stream = 1 };
	CHECK_EQ(frame_encode(buf, FRAME_HDR_LEN, &h, NULL), FRAME_HDR_LEN);
}

static size_t put_hello(uint8_t *p, const char *extra)
{
	struct frame_hdr h = { .len = FRAME_MAGIC_LEN + (uint32_t)strlen(extra), .type = FRAME_HELLO };

	frame_hdr_encode(p, &h);
	memcpy(p + FRAME_HDR_LEN, FRAME_MAGIC, FRAME_MAGIC_LEN);
	memcpy(p + FRAME_HDR_LEN + FRAME_MAGIC_LEN, extra, strlen(extra));
	return FRAME_HDR_LEN + h.len;
}

static void test_find_hello(void)
{
	uint8_t buf[256];
	size_t n;

	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ(frame_find_hello(buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(frame_find_hello(buf, 0), -ENOENT);
	CHECK_EQ(frame_find_hello(NULL, 0), -ENOENT);

	n = put_hello(buf, "xy");
	CHECK_EQ(frame_find_hello(buf, n), 0);
	CHECK_EQ(frame_find_hello(buf, FRAME_HDR_LEN + FRAME_MAGIC_LEN), 0);
	CHECK_EQ(frame_find_hello(buf, FRAME_HDR_LEN + FRAME_MAGIC_LEN - 1), -ENOENT);

	memset(buf, 0xaa, sizeof(buf));
	put_hello(buf + 37, "");
	CHECK_EQ(frame_find_hello(buf, sizeof(buf)), 37);
	CHECK_EQ(frame_find_hello(buf, 37 + FRAME_HDR_LEN + FRAME_MAGIC_LEN), 37);
	CHECK_EQ(frame_find_hello(buf, 37 + FRAME_HDR_LEN + FRAME_MAGIC_LEN - 1), -ENOENT);

	/* header OK but wrong magic; magic OK but bad header (stream != 0, bad flags) */
	memset(buf, 0xaa, sizeof(buf));
	put_hello(buf + 3, "");
	buf[3 + FRAME_HDR_LEN] = 'X';
	put_hello(buf + 40, "");
	put_le32(buf + 40 + 8, 1);
	put_hello(buf + 80, "");
	put_le16(buf + 80 + 6, 1);
	put_hello(buf + 120, "");
	put_le32(buf + 120, FRAME_MAGIC_LEN - 1);
	CHECK_EQ(frame_find_hello(buf, sizeof(buf)), -ENOENT);
	put_hello(buf + 160, "zz");
	CHECK_EQ(frame_find_hello(buf, sizeof(buf)), 160);
	/* the first of two */
	put_hello(buf + 100, "");
	CHECK_EQ(frame_find_hello(buf, sizeof(buf)), 100);
}

int main(void)
{
	test_layout();
	test_roundtrip();
	test_reject();
	test_encode();
	test_find_hello();
	TEST_DONE();
}
