// SPDX-License-Identifier: MIT
/* test_http_body.c: the strict incremental body framer (http_body.c): valid bodies fed
 * whole and byte by byte, every refused shape, limits, EOF handling. */
#include <errno.h>
#include <string.h>

#include "http_body.h"
#include "testlib.h"

/* Feed s (chunked) in pieces of `step` bytes; returns the result and the bytes used. */
static int feed(const char *s, size_t len, size_t step, bool eof_at_end, size_t *ret_used, bool *ret_done)
{
	struct http_body b;
	size_t off = 0;

	http_body_init(&b, HTTP_BODY_CHUNKED, 0);
	while (off < len && !b.done) {
		size_t n = len - off < step ? len - off : step, used = 0;
		int r = http_body_feed(&b, (const uint8_t *)s + off, n, false, &used);
		if (r < 0)
			return r;
		off += used;
		if (used < n && !b.done)
			return -EPROTO;   /* a framer that stops early without being done */
	}
	if (eof_at_end) {
		size_t used;
		int r = http_body_feed(&b, NULL, 0, true, &used);
		if (r < 0)
			return r;
	}
	*ret_used = off;
	*ret_done = b.done;
	return 0;
}

static void ok(const char *s, size_t expect_used)
{
	for (size_t step = 1; step <= strlen(s); step += step < 4 ? 1 : 7) {
		size_t used = 0;
		bool done = false;
		int r = feed(s, strlen(s), step, false, &used, &done);
		CHECK_EQ(r, 0);
		CHECK(done);
		CHECK_EQ(used, expect_used);
		if (r || !done || used != expect_used)
			fprintf(stderr, "  ok(%s) step %zu: r=%d done=%d used=%zu\n", s, step, r, done, used);
	}
}

static void bad(const char *s, size_t len, int want)
{
	for (size_t step = 1; step <= len; step++) {
		size_t used = 0;
		bool done = false;
		int r = feed(s, len, step, true, &used, &done);
		CHECK_EQ(r, want);
		if (r != want) {
			fprintf(stderr, "  bad(%.*s) step %zu: r=%d\n", (int)len, s, step, r);
			return;
		}
	}
}
#define BAD(lit) bad(lit, sizeof(lit) - 1, -EBADMSG)

static void test_chunked_valid(void)
{
	ok("0\r\n\r\n", 5);
	ok("5\r\nhello\r\n0\r\n\r\n", 15);
	ok("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 15);   /* stops at the message end */
	ok("A\r\n0123456789\r\n00\r\n\r\n", 21);
	ok("5;a=b;c\r\nhello\r\n0;last\r\n\r\n", 26);
	ok("5 ;a=\"x y\"\t;b\r\nhello\r\n0\r\n\r\n", 27);
	ok("5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-E:\r\n\r\n", 33);
	ok("000000000000005\r\nhello\r\n0\r\n\r\n", 29);
}

static void test_chunked_refused(void)
{
	BAD("5\r\nhelloXY0\r\n\r\n");           /* any two bytes after data */
	BAD("5\r\nhello\rX0\r\n\r\n");
	BAD("5\r\nhello\n0\r\n\r\n");
	BAD("5\rXhello\r\n0\r\n\r\n");          /* bare CR in the size line */
	BAD("5\nhello\r\n0\r\n\r\n");           /* bare LF */
	BAD("5\r\nhello\r\n0\r\n\n");           /* LF alone as the end */
	BAD("5\r\nhello\r\n0\n\r\n");
	BAD("\r\n5\r\nhello\r\n0\r\n\r\n");     /* empty size */
	BAD(" 5\r\nhello\r\n0\r\n\r\n");
	BAD("+5\r\nhello\r\n0\r\n\r\n");
	BAD("0x5\r\nhello\r\n0\r\n\r\n");
	BAD("5 XY\r\nhello\r\n0\r\n\r\n");      /* junk after BWS */
	BAD("5 \r\nhello\r\n0\r\n\r\n");        /* BWS without an extension */
	BAD("5;a\x01z\r\nhello\r\n0\r\n\r\n");  /* control byte in an extension */
	BAD("5;a\x80z\r\nhello\r\n0\r\n\r\n");
	BAD("5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n");   /* obs-fold in trailers */
	BAD("5\r\nhello\r\n0\r\nX-T: a\nX: b\r\n\r\n");
	BAD("5\r\nhello\r\n0\r\nX T: a\r\n\r\n");
	BAD("5\r\nhello\r\n0\r\n: a\r\n\r\n");
	BAD("5\r\nhello\r\n0\r\nX-T: a\x01\r\n\r\n");
	BAD("5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n");
	BAD("5\r\nhello\r\n0\r\ntransfer-encoding: chunked\r\n\r\n");
	BAD("5\r\nhello\r\n0\r\nHOST: evil\r\n\r\n");
	BAD("5\r\nhello\r\n0\r\n\rX");
	bad("fffffffffffffffff\r\n", 19, -E2BIG);   /* 17 digits */
	bad("5\r\nhel", 6, -EBADMSG);               /* EOF inside */
}

static void test_chunked_limits(void)
{
	static char buf[HTTP_TRAILER_MAX + 200];
	size_t n;

	/* an extension line past the limit */
	n = (size_t)snprintf(buf, sizeof(buf), "5;");
	memset(buf + n, 'a', HTTP_CHUNK_LINE_MAX);
	n += HTTP_CHUNK_LINE_MAX;
	bad(buf, n, -E2BIG);
	/* too many trailer lines */
	n = (size_t)snprintf(buf, sizeof(buf), "0\r\n");
	for (unsigned i = 0; i <= HTTP_TRAILER_LINES_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X%u: v\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	bad(buf, n, -E2BIG);
	/* one long trailer */
	n = (size_t)snprintf(buf, sizeof(buf), "0\r\nX: ");
	memset(buf + n, 'v', HTTP_TRAILER_MAX);
	n += HTTP_TRAILER_MAX;
	{
		struct http_body b;
		size_t used;
		http_body_init(&b, HTTP_BODY_CHUNKED, 0);
		CHECK_EQ(http_body_feed(&b, (const uint8_t *)buf, n, false, &used), -E2BIG);
	}
}

static void test_other_kinds(void)
{
	struct http_body b;
	size_t used = 99;

	http_body_init(&b, HTTP_BODY_NONE, 0);
	CHECK(b.done);
	CHECK_EQ(http_body_feed(&b, (const uint8_t *)"GET", 3, false, &used), 0);
	CHECK_EQ(used, 0);

	http_body_init(&b, HTTP_BODY_LENGTH, 5);
	CHECK(!b.done);
	CHECK_EQ(http_body_feed(&b, (const uint8_t *)"hel", 3, false, &used), 0);
	CHECK_EQ(used, 3);
	CHECK_EQ(http_body_feed(&b, (const uint8_t *)"loGET", 5, false, &used), 0);
	CHECK_EQ(used, 2);
	CHECK(b.done);

	http_body_init(&b, HTTP_BODY_LENGTH, 5);
	CHECK_EQ(http_body_feed(&b, (const uint8_t *)"hel", 3, true, &used), -EBADMSG);   /* truncated */
	http_body_init(&b, HTTP_BODY_LENGTH, 0);
	CHECK(b.done);

	http_body_init(&b, HTTP_BODY_EOF, 0);
	CHECK_EQ(http_body_feed(&b, (const uint8_t *)"abc", 3, false, &used), 0);
	CHECK_EQ(used, 3);
	CHECK(!b.done);
	CHECK_EQ(http_body_feed(&b, NULL, 0, true, &used), 0);
	CHECK(b.done);
}

int main(void)
{
	test_chunked_valid();
	test_chunked_refused();
	test_chunked_limits();
	test_other_kinds();
	TEST_DONE();
}
