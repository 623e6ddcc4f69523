// SPDX-License-Identifier: MIT
/* fuzz_http_chunked.c: libFuzzer target: a chunked body (request or response) through
 * http_msg_body, in chunks whose sizes come from the input, then EOF.
 *
 * Input: one flag byte (bit 0: request, else response), two bytes seeding the chunk
 * sizes, then the body bytes that follow a fixed chunked head. Invariants: the framer
 * never claims more bytes than it was given, and once the message is complete it
 * takes no more.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "proxy_http.h"

static const char req_head[] = "POST http://example.com/up HTTP/1.1\r\nHost: example.com\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n";
static const char resp_head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t flags = fz_u8(&in);
	uint32_t seed = fz_u16(&in);
	const char *head = flags & 1 ? req_head : resp_head;
	struct http_msg m;

	if (size < 3)
		return 0;
	if (http_msg_parse(&m, flags & 1, false, (const uint8_t *)head, strlen(head)) < 0)
		abort();
	assert(m.chunked && !m.body_done);
	for (;;) {
		size_t n = in.n ? fz_chunk(&seed, flags & 2 ? 7 : 200) : 0, used = 0;
		bool was_done = m.body_done;

		if (n > in.n)
			n = in.n;
		if (http_msg_body(&m, in.p, n, &used) < 0)
			break;
		assert(used <= n);
		if (was_done)
			assert(used == 0);
		if (n == 0 || m.body_done || used == 0)
			break;
		in.p += used;
		in.n -= used;
	}
	http_msg_clear(&m);
	return 0;
}
