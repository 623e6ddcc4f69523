// SPDX-License-Identifier: MIT
/* test_proxy_http.c: HTTP/1.1 framing, request rewriting, the TLS SNI peek and the
 * DNS messages and synthetic address table of the egress engine. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_dns.h"
#include "proxy_http.h"
#include "testlib.h"
#include "util.h"

/* Scan (fed in one piece and byte by byte), then parse a request head. */
static int parse_req(const char *s, struct http_msg *m, size_t *ret_hl)
{
	struct http_scan sc;
	size_t hl = 0, hl2 = 0, len = strlen(s);
	int r, r2 = 0;

	http_scan_init(&sc, true);
	r = http_scan(&sc, (const uint8_t *)s, len, &hl);
	http_scan_init(&sc, true);
	for (size_t i = 1; i <= len; i++) {
		r2 = http_scan(&sc, (const uint8_t *)s, i, &hl2);
		if (r2 != 0)
			break;
	}
	CHECK_EQ(r, r2);
	if (r != 1)
		return r < 0 ? r : -EAGAIN;
	CHECK_EQ(hl, hl2);
	if (ret_hl)
		*ret_hl = hl;
	return http_msg_parse(m, true, false, (const uint8_t *)s, hl);
}

static void test_scan_and_parse(void)
{
	struct http_msg m;
	size_t hl;
	const struct http_hdr *h;
	unsigned n;

	CHECK_EQ(parse_req("GET http://a.test/x HTTP/1.1\r\nHost: a\r\nX-Y:  v w \r\n\r\nrest", &m, &hl), 0);
	CHECK_EQ(hl, strlen("GET http://a.test/x HTTP/1.1\r\nHost: a\r\nX-Y:  v w \r\n\r\n"));
	CHECK_STR(m.method, "GET");
	CHECK(m.url_len == 15 && !memcmp(m.url, "http://a.test/x", 15));
	CHECK_EQ(m.nhdrs, 2);
	h = http_msg_header(&m, "x-y", &n);
	CHECK(h && n == 1 && h->value_len == 3 && !memcmp(h->value, "v w", 3));
	CHECK(m.body_done && m.keep_alive && !m.chunked && !m.has_length);
	http_msg_clear(&m);

	CHECK_EQ(parse_req("GET http://a/ HTTP/1.1\r\nHost: a", &m, NULL), -EAGAIN);
	CHECK_EQ(parse_req("\r\n\r\nGET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", &m, NULL), 0);
	http_msg_clear(&m);
	CHECK_EQ(parse_req("GET http://a/ HTTP/1.0\r\n\r\n", &m, NULL), 0);
	CHECK(!m.keep_alive);
	http_msg_clear(&m);

	/* framing refusals */
	static const char *const bad[] = {
		"POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nContent-Length: 5x\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET http://a/ HTTP/1.1\nHost: a\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\rb\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\n: a\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nX: a\x01\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nX: a\x7f\r\n\r\n",
		"GET http://a/\x80 HTTP/1.1\r\n\r\n",
		"GET http://a/\tx HTTP/1.1\r\n\r\n",
		"GET http://a/ HTTP/2.0\r\n\r\n",
		"GET http://a/\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = parse_req(bad[i], &m, NULL);
		if (r >= 0 || r == -EAGAIN) {
			fprintf(stderr, "accepted bad head #%zu\n", i);
			CHECK(0);
			if (r == 0)
				http_msg_clear(&m);
		}
	}
	/* obs-text in a value is fine */
	CHECK_EQ(parse_req("GET http://a/ HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", &m, NULL), 0);
	http_msg_clear(&m);
}

static void test_limits(void)
{
	struct http_scan sc;
	size_t hl, n = 0;
	char *buf = xmalloc(HTTP_HEAD_MAX + 16384);

	/* 100 headers with a long one: fine; 101: too many */
	for (int k = 0; k < 2; k++) {
		n = (size_t)sprintf(buf, "GET http://a/ HTTP/1.1\r\n");
		for (int i = 0; i < 99 + k; i++)
			n += (size_t)sprintf(buf + n, "X-%d: v\r\n", i);
		n += (size_t)sprintf(buf + n, "X-Long: ");
		memset(buf + n, 'v', 8000);
		n += 8000;
		n += (size_t)sprintf(buf + n, "\r\n\r\n");
		http_scan_init(&sc, true);
		CHECK_EQ(http_scan(&sc, (uint8_t *)buf, n, &hl), k == 0 ? 1 : -E2BIG);
	}
	/* a line over 8 KiB */
	n = (size_t)sprintf(buf, "GET http://a/");
	memset(buf + n, 'a', HTTP_LINE_MAX);
	n += HTTP_LINE_MAX;
	n += (size_t)sprintf(buf + n, " HTTP/1.1\r\n\r\n");
	http_scan_init(&sc, true);
	CHECK_EQ(http_scan(&sc, (uint8_t *)buf, n, &hl), -E2BIG);
	/* a head over 64 KiB in short lines */
	n = (size_t)sprintf(buf, "GET http://a/ HTTP/1.1\r\n");
	for (int i = 0; n < HTTP_HEAD_MAX + 100; i++)
		n += (size_t)sprintf(buf + n, "X-%d: %07000d\r\n", i, 0);
	http_scan_init(&sc, true);
	CHECK_EQ(http_scan(&sc, (uint8_t *)buf, n, &hl), -E2BIG);
	free(buf);
}

static void test_body_framing(void)
{
	struct http_msg m;
	const char *chunked = "5\r\nhello\r\n0\r\n\r\nGET http://next/ HTTP/1.1\r\n";
	size_t used = 0, total = 0;

	CHECK_EQ(parse_req("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &m, NULL), 0);
	CHECK(m.chunked && !m.body_done);
	/* byte by byte: stops exactly at the end of the body */
	for (size_t i = 0; i < strlen(chunked) && !m.body_done; i++) {
		CHECK_EQ(http_msg_body(&m, (const uint8_t *)chunked + i, 1, &used), 0);
		total += used;
	}
	CHECK(m.body_done);
	CHECK_EQ(total, strlen("5\r\nhello\r\n0\r\n\r\n"));
	http_msg_clear(&m);

	CHECK_EQ(parse_req("POST http://a/ HTTP/1.1\r\nContent-Length: 3\r\n\r\n", &m, NULL), 0);
	CHECK(m.has_length && m.content_length == 3);
	CHECK_EQ(http_msg_body(&m, (const uint8_t *)"abcdef", 6, &used), 0);
	CHECK(m.body_done && used == 3);
	http_msg_clear(&m);

	CHECK_EQ(parse_req("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &m, NULL), 0);
	CHECK_EQ(http_msg_body(&m, (const uint8_t *)"zz\r\n", 4, &used), -EBADMSG);
	http_msg_clear(&m);

	/* responses: HEAD, close-delimited, 1xx */
	{
		const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
		CHECK_EQ(http_msg_parse(&m, false, true, (const uint8_t *)r, strlen(r)), 0);
		CHECK(m.body_done && m.status == 200);
		http_msg_clear(&m);
		r = "HTTP/1.1 200 OK\r\n\r\n";
		CHECK_EQ(http_msg_parse(&m, false, false, (const uint8_t *)r, strlen(r)), 0);
		CHECK(m.until_eof && !m.body_done);
		CHECK_EQ(http_msg_body(&m, (const uint8_t *)"data", 4, &used), 0);
		CHECK(used == 4 && !m.body_done);
		CHECK_EQ(http_msg_body(&m, NULL, 0, &used), 0);
		CHECK(m.body_done);
		http_msg_clear(&m);
		r = "HTTP/1.1 100 Continue\r\n\r\n";
		CHECK_EQ(http_msg_parse(&m, false, false, (const uint8_t *)r, strlen(r)), 0);
		CHECK(m.status == 100 && !m.until_eof);
		http_msg_clear(&m);
		r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
		CHECK_EQ(http_msg_parse(&m, false, false, (const uint8_t *)r, strlen(r)), 0);
		CHECK_EQ(http_msg_body(&m, (const uint8_t *)"ab", 2, &used), 0);
		CHECK_EQ(http_msg_body(&m, NULL, 0, &used), -EBADMSG);   /* truncated */
		http_msg_clear(&m);
	}
	/* http-parser's leniency is not ours: these frame the body or the head wrongly */
	CHECK_EQ(parse_req("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &m, NULL), 0);
	CHECK_EQ(http_msg_body(&m, (const uint8_t *)"5\r\nhelloXY0\r\n\r\n", 17, &used), -EBADMSG);
	http_msg_clear(&m);
	CHECK_EQ(parse_req("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &m, NULL), 0);
	CHECK_EQ(http_msg_body(&m, (const uint8_t *)"0\r\n\n", 4, &used), -EBADMSG);
	http_msg_clear(&m);
	CHECK_EQ(parse_req("POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &m, NULL), -EBADMSG);
	CHECK_EQ(parse_req("POST http://a/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n", &m, NULL), -EBADMSG);
	CHECK_EQ(parse_req("POST http://a/ HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n", &m, NULL), -EBADMSG);
	{
		static const char *const bad[] = {
			"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n",
		};
		for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
			CHECK_EQ(http_msg_parse(&m, false, false, (const uint8_t *)bad[i], strlen(bad[i])), -EBADMSG);
	}
}

static void test_target(void)
{
	struct http_msg m;
	char *host = NULL, *path = NULL;
	uint16_t port = 0;

	CHECK_EQ(parse_req("CONNECT Example.COM:443 HTTP/1.1\r\n\r\n", &m, NULL), 0);
	CHECK_EQ(http_target_parse(&m, &host, &port, &path), 0);
	CHECK_STR(host, "Example.COM");
	CHECK(port == 443 && path == NULL);
	free(host);
	http_msg_clear(&m);

	CHECK_EQ(parse_req("CONNECT [::1]:8443 HTTP/1.1\r\n\r\n", &m, NULL), 0);
	CHECK_EQ(http_target_parse(&m, &host, &port, &path), 0);
	CHECK_STR(host, "::1");
	CHECK_EQ(port, 8443);
	free(host);
	http_msg_clear(&m);

	CHECK_EQ(parse_req("CONNECT a.test HTTP/1.1\r\n\r\n", &m, NULL) == 0 &&
		 http_target_parse(&m, &host, &port, &path) == -EINVAL, 1);
	http_msg_clear(&m);

	CHECK_EQ(parse_req("GET http://a.test:8080/p?q=1 HTTP/1.1\r\n\r\n", &m, NULL), 0);
	CHECK_EQ(http_target_parse(&m, &host, &port, &path), 0);
	CHECK_STR(host, "a.test");
	CHECK_STR(path, "/p?q=1");
	CHECK_EQ(port, 8080);
	free(host);
	free(path);
	http_msg_clear(&m);

	CHECK_EQ(parse_req("GET http://a.test HTTP/1.1\r\n\r\n", &m, NULL), 0);
	CHECK_EQ(http_target_parse(&m, &host, &port, &path), 0);
	CHECK_STR(path, "/");
	CHECK_EQ(port, 80);
	free(host);
	free(path);
	http_msg_clear(&m);

	static const struct {
		const char *req;
		int err;
	} refused[] = {
		{ "GET /x HTTP/1.1\r\n\r\n", -EINVAL },
		{ "OPTIONS * HTTP/1.1\r\n\r\n", -EINVAL },
		{ "GET https://a.test/ HTTP/1.1\r\n\r\n", -EPROTONOSUPPORT },
		{ "GET ftp://a.test/ HTTP/1.1\r\n\r\n", -EPROTONOSUPPORT },
		{ "GET http://u:p@a.test/ HTTP/1.1\r\n\r\n", -EINVAL },
		{ "GET http://a.test:0/ HTTP/1.1\r\n\r\n", -EINVAL },
		{ "GET http://a.test/#frag HTTP/1.1\r\n\r\n", -EINVAL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		if (parse_req(refused[i].req, &m, NULL) < 0)
			continue;   /* refused by the parser already: fine */
		CHECK_EQ(http_target_parse(&m, &host, &port, &path), refused[i].err);
		http_msg_clear(&m);
	}
}

static void test_host_header(void)
{
	char *n = NULL;
	int port = 0;

	CHECK_EQ(http_host_parse("A.Test.", 7, &n, &port), 0);
	CHECK_STR(n, "a.test");
	CHECK_EQ(port, -1);
	free(n);
	CHECK_EQ(http_host_parse("a.test:8080", 11, &n, &port), 0);
	CHECK_STR(n, "a.test");
	CHECK_EQ(port, 8080);
	free(n);
	CHECK_EQ(http_host_parse("[2001:db8::1]:443", 17, &n, &port), 0);
	CHECK_STR(n, "2001:db8::1");
	CHECK_EQ(port, 443);
	free(n);
	static const char *const bad[] = {
		"", "a.test:", "a.test:0", "a.test:65536", "a.test:+80", "a.test:80:80", "2001:db8::1",
		"[2001:db8::1", "[::1]x", "a b", "a.test:123456", ":80", "a..test", "a%2e.test", "user@a.test",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		n = NULL;
		CHECK_EQ(http_host_parse(bad[i], strlen(bad[i]), &n, &port), -EINVAL);
		CHECK(n == NULL);
	}
	CHECK(http_host_matches("a.test", 6, "a.test", 80));
	CHECK(http_host_matches("A.TEST:8080", 11, "a.test", 8080));
	CHECK(!http_host_matches("a.test:80", 9, "a.test", 8080));
	CHECK(!http_host_matches("b.test", 6, "a.test", 80));
	CHECK(!http_host_matches("a.test.evil", 11, "a.test", 80));
}

static void test_rewrite(void)
{
	struct http_msg m;
	char *out = NULL;
	size_t len;

	CHECK_EQ(parse_req("GET http://a.test/x HTTP/1.1\r\nHost: evil\r\nProxy-Connection: keep-alive\r\n"
			   "Connection: X-Drop, close\r\nX-Drop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
			   "Proxy-Authorization: Basic x\r\nUpgrade: h2c\r\nAccept: */*\r\n\r\n",
			   &m, NULL),
		 0);
	CHECK_EQ(http_req_rewrite(&m, "/x", "a.test", true, &out, &len), 0);
	CHECK_STR(out, "GET /x HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\nConnection: close\r\n\r\n");
	CHECK_EQ(len, strlen(out));
	free(out);
	http_msg_clear(&m);

	CHECK_EQ(parse_req("GET http://a.test/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Content-Length: 0\r\n\r\n",
			   &m, NULL),
		 0);
	CHECK_EQ(http_req_rewrite(&m, "/ws", "a.test:81", false, &out, &len), 0);
	CHECK_STR(out, "GET /ws HTTP/1.1\r\nHost: a.test:81\r\nUpgrade: websocket\r\nContent-Length: 0\r\n"
		       "Connection: Upgrade\r\n\r\n");
	free(out);
	http_msg_clear(&m);
}

/* A minimal ClientHello with the given SNI entries (each "name" or NULL for none). */
static size_t build_hello(uint8_t *b, const char *sni, bool dup, size_t frag)
{
	uint8_t hs[1024];
	size_t n = 0, ext_start, sni_len = sni ? strlen(sni) : 0;

	hs[n++] = 1;   /* ClientHello */
	n += 3;        /* length later */
	hs[n++] = 3;
	hs[n++] = 3;
	memset(hs + n, 0xab, 32);
	n += 32;
	hs[n++] = 0;                   /* session id */
	hs[n++] = 0;
	hs[n++] = 2;
	hs[n++] = 0x13;
	hs[n++] = 0x01;                /* one suite */
	hs[n++] = 1;
	hs[n++] = 0;                   /* null compression */
	ext_start = n;
	n += 2;
	for (int k = 0; k < (dup ? 2 : 1) && sni; k++) {
		hs[n++] = 0;
		hs[n++] = 0;                                  /* server_name */
		hs[n++] = (uint8_t)((sni_len + 5) >> 8);
		hs[n++] = (uint8_t)(sni_len + 5);
		hs[n++] = (uint8_t)((sni_len + 3) >> 8);
		hs[n++] = (uint8_t)(sni_len + 3);
		hs[n++] = 0;                                  /* host_name */
		hs[n++] = (uint8_t)(sni_len >> 8);
		hs[n++] = (uint8_t)sni_len;
		memcpy(hs + n, sni, sni_len);
		n += sni_len;
	}
	hs[n++] = 0x00;
	hs[n++] = 0x2b;                /* supported_versions, empty-ish */
	hs[n++] = 0;
	hs[n++] = 0;
	hs[ext_start] = (uint8_t)((n - ext_start - 2) >> 8);
	hs[ext_start + 1] = (uint8_t)(n - ext_start - 2);
	hs[1] = 0;
	hs[2] = (uint8_t)((n - 4) >> 8);
	hs[3] = (uint8_t)(n - 4);
	/* records of at most frag bytes */
	size_t out = 0;
	for (size_t off = 0; off < n; off += frag) {
		size_t k = MIN(frag, n - off);
		b[out++] = 0x16;
		b[out++] = 3;
		b[out++] = 1;
		b[out++] = (uint8_t)(k >> 8);
		b[out++] = (uint8_t)k;
		memcpy(b + out, hs + off, k);
		out += k;
	}
	return out;
}

static void test_sni(void)
{
	uint8_t b[4096];
	char name[256];
	size_t n;

	n = build_hello(b, "secure.test", false, 1000);
	CHECK_EQ(peek_classify(b, n), 1);
	CHECK_EQ(tls_sni_parse(b, n, name, sizeof(name)), 1);
	CHECK_STR(name, "secure.test");
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(tls_sni_parse(b, i, name, sizeof(name)), -EAGAIN);
	n = build_hello(b, "frag.test", false, 7);   /* handshake over many records */
	CHECK_EQ(tls_sni_parse(b, n, name, sizeof(name)), 1);
	CHECK_STR(name, "frag.test");
	n = build_hello(b, NULL, false, 1000);
	CHECK_EQ(tls_sni_parse(b, n, name, sizeof(name)), 0);
	n = build_hello(b, "dup.test", true, 1000);
	CHECK_EQ(tls_sni_parse(b, n, name, sizeof(name)), -EBADMSG);
	n = build_hello(b, "bad name", false, 1000);
	CHECK_EQ(tls_sni_parse(b, n, name, sizeof(name)), -EBADMSG);
	/* lengths that lie */
	n = build_hello(b, "secure.test", false, 1000);
	b[5 + 1 + 2] += 1;   /* handshake length one more than the record holds */
	CHECK_EQ(tls_sni_parse(b, n, name, sizeof(name)), -EAGAIN);
	n = build_hello(b, "secure.test", false, 1000);
	b[0] = 0x17;
	CHECK_EQ(tls_sni_parse(b, n, name, sizeof(name)), -EBADMSG);
	/* every truncation of the inner structure is caught, never read past */
	for (size_t cut = 1; cut < 60; cut++) {
		uint8_t t[4096];
		n = build_hello(t, "secure.test", false, 1000);
		size_t hl = n - 5 - 4;
		if (cut >= hl)
			break;
		/* shrink both lengths: the parser sees a ClientHello cut short */
		t[3] = (uint8_t)((n - 5 - cut) >> 8);
		t[4] = (uint8_t)(n - 5 - cut);
		t[6] = 0;
		t[7] = (uint8_t)((hl - cut) >> 8);
		t[8] = (uint8_t)(hl - cut);
		CHECK(tls_sni_parse(t, n - cut, name, sizeof(name)) <= 0);
	}
	CHECK_EQ(peek_classify((const uint8_t *)"GET / HTTP/1.1", 14), 2);
	CHECK_EQ(peek_classify((const uint8_t *)"GE", 2), -EAGAIN);
	CHECK_EQ(peek_classify((const uint8_t *)"SSH-2.0", 7), 0);
	CHECK_EQ(peek_classify((const uint8_t *)"\x00\x01", 2), 0);
}

static size_t mkquery(uint8_t *q, const char *name, uint16_t type)
{
	size_t n = 12;

	memset(q, 0, 12);
	q[0] = 0xbe;
	q[1] = 0xef;
	q[2] = 0x01;   /* RD */
	q[5] = 1;
	for (const char *p = name; *p;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
		p += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = (uint8_t)(type >> 8);
	q[n++] = (uint8_t)type;
	q[n++] = 0;
	q[n++] = 1;
	return n;
}

static void test_dns(void)
{
	uint8_t q[512], *a = NULL;
	size_t n, alen;
	struct dns_query dq;
	uint32_t addr = 0xc6120a0b;

	n = mkquery(q, "Example.Test", DNS_TYPE_A);
	CHECK_EQ(dns_query_parse(q, n, &dq), 0);
	CHECK_STR(dq.name, "Example.Test");
	CHECK(dq.id == 0xbeef && dq.qtype == DNS_TYPE_A);
	CHECK_EQ(dns_answer_build(q, n, DNS_NOERROR, &addr, 60, &a, &alen), 0);
	CHECK(alen == n + 16);
	CHECK(a[0] == 0xbe && a[1] == 0xef && (a[2] & 0x80) && (a[2] & 0x01) && (a[3] & 0x0f) == 0);
	CHECK(a[7] == 1);   /* one answer */
	CHECK(!memcmp(a + alen - 4, "\xc6\x12\x0a\x0b", 4));
	CHECK(!memcmp(a + alen - 10, "\x00\x00\x00\x3c", 4));   /* TTL 60 */
	free(a);
	CHECK_EQ(dns_answer_build(q, n, DNS_NXDOMAIN, NULL, 60, &a, &alen), 0);
	CHECK(alen == n && (a[3] & 0x0f) == 3 && a[7] == 0);
	free(a);

	n = mkquery(q, "a b.test", DNS_TYPE_A);
	CHECK_EQ(dns_query_parse(q, n, &dq), -EPROTO);
	n = mkquery(q, "x.test", DNS_TYPE_A);
	q[2] |= 0x80;   /* a response */
	CHECK_EQ(dns_query_parse(q, n, &dq), -EBADMSG);
	q[2] = 0x01 | (2 << 3);   /* opcode STATUS */
	CHECK_EQ(dns_query_parse(q, n, &dq), -EOPNOTSUPP);
	q[2] = 0x01;
	q[n - 1] = 3;   /* class CH */
	CHECK_EQ(dns_query_parse(q, n, &dq), -EOPNOTSUPP);
	CHECK_EQ(dns_query_parse(q, 5, &dq), -EBADMSG);
	CHECK_EQ(dns_query_parse(q, n - 3, &dq), -EPROTO);
	/* a compression pointer loop */
	memcpy(q + 12, "\xc0\x0c\x00\x01\x00\x01", 6);
	CHECK(dns_query_parse(q, 18, &dq) < 0);
	CHECK_EQ(dns_answer_build(q, 18, DNS_FORMERR, NULL, 60, &a, &alen), 0);
	CHECK(alen == 12 && a[0] == 0xbe && (a[3] & 0x0f) == 1);
	free(a);
}

static void test_table(void)
{
	struct dns_table *t = dns_table_new();
	uint32_t a1 = dns_table_addr(t, "one.test"), a2 = dns_table_addr(t, "two.test");
	char name[64];

	CHECK(dns_addr_is_synthetic(a1) && dns_addr_is_synthetic(a2) && a1 != a2);
	CHECK((a1 & 0xff) != 0 && (a1 & 0xff) != 0xff);
	CHECK_EQ(dns_table_addr(t, "one.test"), a1);
	CHECK_STR(dns_table_name(t, a1), "one.test");
	CHECK(dns_table_name(t, 0xc6120000u ^ 0x1ffffu) == NULL || 1);
	/* fill past the bound: the least recently used go, one.test stays (refreshed) */
	for (unsigned i = 0; i < DNS_TABLE_MAX + 10; i++) {
		snprintf(name, sizeof(name), "n%u.test", i);
		dns_table_addr(t, name);
		if (i % 100 == 0)
			dns_table_name(t, a1);
	}
	CHECK_EQ(dns_table_count(t), DNS_TABLE_MAX);
	CHECK_STR(dns_table_name(t, a1), "one.test");
	CHECK(dns_table_name(t, a2) == NULL || strcmp(dns_table_name(t, a2), "two.test"));
	/* every address in the table is unique and maps back */
	for (unsigned i = DNS_TABLE_MAX - 100; i < DNS_TABLE_MAX + 10; i++) {
		snprintf(name, sizeof(name), "n%u.test", i);
		uint32_t a = dns_table_addr(t, name);
		CHECK_STR(dns_table_name(t, a), name);
	}
	/* stable across tables (an sbxd restart) */
	struct dns_table *t2 = dns_table_new();
	CHECK_EQ(dns_table_addr(t2, "one.test"), a1);
	/* the entries grow on demand: what came before a growth is still found */
	uint32_t grown[300];
	for (unsigned i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "g%u.test", i);
		grown[i] = dns_table_addr(t2, name);
	}
	for (unsigned i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "g%u.test", i);
		CHECK_EQ(dns_table_addr(t2, name), grown[i]);
		CHECK_STR(dns_table_name(t2, grown[i]), name);
	}
	CHECK_EQ(dns_table_count(t2), 301);
	CHECK_STR(dns_table_name(t2, a1), "one.test");
	dns_table_free(t2);
	dns_table_free(t);
}

int main(void)
{
	test_scan_and_parse();
	test_limits();
	test_body_framing();
	test_target();
	test_host_header();
	test_rewrite();
	test_sni();
	test_dns();
	test_table();
	TEST_DONE();
}
