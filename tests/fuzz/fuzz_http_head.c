// SPDX-License-Identifier: MIT
/* fuzz_http_head.c: libFuzzer target: a peer's bytes through the HTTP head scanner, the
 * head parser, the request target parser, the upstream rewrite and the body framer.
 *
 * Input: one flag byte (bit 0: a request, bit 1: a response to HEAD, bit 2: rewrite
 * with "Connection: close"), two bytes seeding the chunk sizes, then the stream. The
 * head is scanned incrementally over a growing buffer, as proxy.c does; what follows
 * it is framed as the body, in chunks, then EOF.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "proxy_http.h"

static void check_msg(const struct http_msg *m)
{
	assert(m->nhdrs <= HTTP_HEADERS_MAX);
	for (size_t i = 0; i < m->nhdrs; i++) {
		const struct http_hdr *h = &m->hdrs[i];

		assert(h->name >= m->head && h->name + h->name_len <= m->head + m->head_len);
		assert(h->value >= m->head && h->value + h->value_len <= m->head + m->head_len);
	}
	if (m->url)
		assert(m->url >= m->head && m->url + m->url_len <= m->head + m->head_len);
	(void)http_msg_header(m, "host", NULL);
	(void)http_msg_header(m, "content-length", NULL);
}

static void try_rewrite(const struct http_msg *m, bool close)
{
	char *host = NULL, *path = NULL, *out = NULL;
	uint16_t port = 0;
	size_t len = 0;
	int r = http_target_parse(m, &host, &port, &path);

	if (r < 0)
		return;
	assert(host && port > 0);
	if (path && http_req_rewrite(m, path, host, close, &out, &len) == 0) {
		assert(strlen(out) == len);
		assert(len >= 4 && !memcmp(out + len - 4, "\r\n\r\n", 4));
		free(out);
	}
	free(host);
	free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t flags = fz_u8(&in);
	uint32_t seed = fz_u16(&in);
	bool request = flags & 1, head_req = flags & 2;
	struct http_scan s;
	struct http_msg m;
	size_t have = 0, head_len = 0;
	int r = 0;

	if (size < 3)
		return 0;
	http_scan_init(&s, request);
	/* The proxy feeds the scanner the same buffer, grown by each read. */
	while (have < in.n) {
		have += fz_chunk(&seed, 512);
		if (have > in.n)
			have = in.n;
		r = http_scan(&s, in.p, have, &head_len);
		if (r != 0)
			break;
	}
	if (r != 1)
		return 0;
	assert(head_len > 0 && head_len <= have && head_len <= HTTP_HEAD_MAX);
	if (http_msg_parse(&m, request, head_req, in.p, head_len) < 0)
		return 0;
	check_msg(&m);
	if (request)
		try_rewrite(&m, flags & 4);
	in.p += head_len;
	in.n -= head_len;
	while (!m.body_done) {
		size_t n = in.n ? fz_chunk(&seed, 300) : 0, used = 0;

		if (n > in.n)
			n = in.n;
		if (http_msg_body(&m, in.p, n, &used) < 0)
			break;
		assert(used <= n);
		if (n == 0)
			break;   /* EOF */
		if (used == 0 && !m.body_done)
			break;   /* an upgrade: the rest is not HTTP */
		in.p += used;
		in.n -= used;
	}
	http_msg_clear(&m);
	return 0;
}
