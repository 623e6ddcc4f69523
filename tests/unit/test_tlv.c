// SPDX-License-Identifier: MIT
/* test_tlv.c: TLV writer/reader round trip, overflow, truncation and value helpers. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "tlv.h"
#include "util.h"

static void test_roundtrip(void)
{
	uint8_t buf[128];
	struct tlv_writer w;
	struct tlv_reader r;
	const uint8_t *val;
	uint32_t vlen, u;
	int32_t i;
	uint16_t tag;
	char *s = NULL;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_str(&w, 1, "exec");
	tlv_put_u32(&w, 2, 0xdeadbeef);
	tlv_put_i32(&w, 3, -5);
	tlv_put(&w, 4, NULL, 0);
	tlv_put_str(&w, 0xffff, "");
	CHECK_EQ(w.err, 0);
	CHECK_EQ(w.len, 5 * TLV_HDR_LEN + 4 + 4 + 4);
	/* wire layout of the first item */
	CHECK_EQ(get_le16(buf), 1);
	CHECK_EQ(get_le32(buf + 2), 4);
	CHECK(memcmp(buf + 6, "exec", 4) == 0);

	tlv_reader_init(&r, buf, w.len);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 1);
	CHECK_EQ(tag, 1);
	CHECK_EQ(tlv_str(val, vlen, &s), 0);
	CHECK_STR(s, "exec");
	free(s);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 1);
	CHECK_EQ(tag, 2);
	CHECK_EQ(tlv_u32(val, vlen, &u), 0);
	CHECK_EQ(u, 0xdeadbeef);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 1);
	CHECK_EQ(tag, 3);
	CHECK_EQ(tlv_i32(val, vlen, &i), 0);
	CHECK_EQ(i, -5);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 1);
	CHECK_EQ(tag, 4);
	CHECK_EQ(vlen, 0);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 1);
	CHECK_EQ(tag, 0xffff);
	s = NULL;
	CHECK_EQ(tlv_str(val, vlen, &s), 0);
	CHECK(s && s[0] == 0);
	free(s);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 0);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 0);

	/* empty input is a clean end */
	tlv_reader_init(&r, NULL, 0);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 0);
}

static void test_overflow(void)
{
	uint8_t buf[16];
	struct tlv_writer w;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, 1, 7);           /* 10 bytes */
	CHECK_EQ(w.err, 0);
	tlv_put_str(&w, 2, "abc");       /* 9 more: does not fit */
	CHECK_EQ(w.err, -ENOBUFS);
	CHECK_EQ(w.len, 10);
	tlv_put(&w, 3, NULL, 0);         /* would fit, but the writer is sticky */
	CHECK_EQ(w.len, 10);
	CHECK_EQ(w.err, -ENOBUFS);

	/* exact fit */
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put(&w, 1, "0123456789", 10);
	CHECK_EQ(w.err, 0);
	CHECK_EQ(w.len, 16);
	tlv_put(&w, 1, NULL, 0);
	CHECK_EQ(w.err, -ENOBUFS);

	/* huge length never wraps the bound */
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put(&w, 1, buf, 0xffffffffu);
	CHECK_EQ(w.err, -ENOBUFS);
	CHECK_EQ(w.len, 0);
}

static void test_truncation(void)
{
	uint8_t buf[64];
	struct tlv_writer w;
	struct tlv_reader r;
	const uint8_t *val;
	uint32_t vlen;
	uint16_t tag;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_str(&w, 1, "hello");
	tlv_put_u32(&w, 2, 1);
	CHECK_EQ(w.err, 0);
	/* every strict prefix that cuts an item is an error after the complete items */
	for (size_t n = 1; n < w.len; n++) {
		int got, items = 0;

		tlv_reader_init(&r, buf, n);
		while ((got = tlv_next(&r, &tag, &val, &vlen)) == 1)
			items++;
		if (n == 11) {
			CHECK_EQ(got, 0); /* exactly the first item */
			CHECK_EQ(items, 1);
		} else {
			CHECK_EQ(got, -EPROTO);
			CHECK_EQ(items, n < 11 ? 0 : 1);
		}
	}

	/* a length that points far past the end (and would wrap a 32-bit offset) */
	put_le16(buf, 9);
	put_le32(buf + 2, 0xfffffffau);
	tlv_reader_init(&r, buf, 20);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), -EPROTO);
}

static void test_nested(void)
{
	uint8_t inner[32], outer[64];
	struct tlv_writer w;
	struct tlv_reader r, ri;
	const uint8_t *val, *v2;
	uint32_t vlen, l2;
	uint16_t tag;

	tlv_writer_init(&w, inner, sizeof(inner));
	tlv_put_u32(&w, 7, 42);
	CHECK_EQ(w.err, 0);
	/* corrupt the inner length to claim one more byte than the inner value holds */
	put_le32(inner + 2, 5);
	tlv_writer_init(&w, outer, sizeof(outer));
	tlv_put(&w, 1, inner, 10);
	tlv_put_u32(&w, 2, 3);  /* the inner reader must not read into this */
	CHECK_EQ(w.err, 0);

	tlv_reader_init(&r, outer, w.len);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 1);
	CHECK_EQ(vlen, 10);
	tlv_reader_init(&ri, val, vlen);
	CHECK_EQ(tlv_next(&ri, &tag, &v2, &l2), -EPROTO);
	/* the outer reader continues fine */
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 1);
	CHECK_EQ(tag, 2);
	CHECK_EQ(tlv_next(&r, &tag, &val, &vlen), 0);

	/* correct inner length: one item, clean end */
	put_le32(inner + 2, 4);
	tlv_reader_init(&ri, inner, 10);
	CHECK_EQ(tlv_next(&ri, &tag, &v2, &l2), 1);
	CHECK_EQ(tag, 7);
	CHECK_EQ(tlv_next(&ri, &tag, &v2, &l2), 0);
}

static void test_values(void)
{
	static const uint8_t four[4] = { 1, 0, 0, 0x80 };
	uint32_t u = 99;
	int32_t i = 99;
	char *s = NULL;

	CHECK_EQ(tlv_u32(four, 3, &u), -EPROTO);
	CHECK_EQ(tlv_u32(four, 5, &u), -EPROTO);
	CHECK_EQ(u, 99);
	CHECK_EQ(tlv_i32(four, 0, &i), -EPROTO);
	CHECK_EQ(i, 99);
	CHECK_EQ(tlv_u32(four, 4, &u), 0);
	CHECK_EQ(u, 0x80000001u);
	CHECK_EQ(tlv_i32(four, 4, &i), 0);
	CHECK_EQ(i, (int32_t)0x80000001u);

	CHECK_EQ(tlv_str((const uint8_t *)"a\0b", 3, &s), -EPROTO);
	CHECK(s == NULL);
	CHECK_EQ(tlv_str((const uint8_t *)"ab\0", 3, &s), -EPROTO);
	CHECK_EQ(tlv_str((const uint8_t *)"\0", 1, &s), -EPROTO);
	CHECK(s == NULL);
	CHECK_EQ(tlv_str((const uint8_t *)"abcdef", 3, &s), 0);
	CHECK_STR(s, "abc");
	free(s);
}

static void test_find_u32(void)
{
	uint8_t buf[64];
	struct tlv_writer w;
	uint32_t v = 0;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put(&w, 7, "ab", 2);      /* tag 7, but not a u32: skipped */
	tlv_put_u32(&w, 7, 42);
	tlv_put_u32(&w, 7, 43);
	CHECK(tlv_find_u32(buf, w.len, 7, &v) == 0 && v == 42);
	CHECK(tlv_find_u32(buf, w.len, 8, &v) == -ENOENT);
	CHECK(tlv_find_u32(buf, 8, 7, &v) == -ENOENT);   /* truncated before it */
}

int main(void)
{
	test_find_u32();
	test_roundtrip();
	test_overflow();
	test_truncation();
	test_nested();
	test_values();
	TEST_DONE();
}
