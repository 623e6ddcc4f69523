// SPDX-License-Identifier: MIT
/* fuzz_tls_sni.c: libFuzzer target: the first bytes of a transparent connection through
 * peek_classify and the TLS ClientHello SNI peek.
 *
 * Input: one byte choosing the output buffer size, then the connection's first bytes.
 * Every prefix is peeked too, as the proxy does while bytes trickle in. Invariants: a
 * name fits the buffer, is NUL-terminated and printable ASCII without spaces.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "fuzzlib.h"
#include "proxy_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	size_t outsz = 2 + fz_u8(&in) * 2;
	char out[2 + 255 * 2 + 1];
	uint32_t seed = 1;

	if (in.n > TLS_PEEK_MAX)
		return 0;
	for (size_t have = 0; have <= in.n;) {
		int r;

		(void)peek_classify(in.p, have);
		memset(out, 'X', sizeof(out));
		r = tls_sni_parse(in.p, have, out, outsz);
		assert(r == 1 || r == 0 || r == -EAGAIN || r == -EBADMSG);
		if (r == 1) {
			size_t n = strnlen(out, outsz);

			assert(n > 0 && n < outsz);
			for (size_t i = 0; i < n; i++)
				assert(out[i] > 0x20 && out[i] < 0x7f);
		}
		if (r != -EAGAIN || have == in.n)
			break;
		have += fz_chunk(&seed, 600);
		if (have > in.n)
			have = in.n;
	}
	return 0;
}
