// SPDX-License-Identifier: MIT
/* fuzz_sshagent.c: libFuzzer target: arbitrary bytes through the SSH agent framer and filter.
 *
 * Built by `make fuzz` (the pure filter is included below, so only src/common is needed):
 *   build/fuzz/fuzz_sshagent -max_total_time=60 build/fuzz-corpus/fuzz_sshagent
 *
 * The input is a guest's byte stream, delivered in chunks whose sizes come from the
 * first two bytes, reassembled the way sshagent.c does it (bounded buffer, one message
 * at a time). Invariants: a bad length stops the stream; only list-identities and
 * well-formed sign requests are forwarded; the key blob lies inside its message.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/host/egress/sshagent_msg.c"

static uint8_t buf[SSHAGENT_MSG_MAX + 4 + 65536];

static void check_msg(const uint8_t *msg, size_t len)
{
	struct sshagent_req q;

	sshagent_msg_filter(msg, len, &q);
	assert(q.type == msg[0]);
	if (q.forward) {
		assert(q.type == SSH_AGENTC_REQUEST_IDENTITIES || q.type == SSH_AGENTC_SIGN_REQUEST);
		assert(q.why == NULL);
		if (q.type == SSH_AGENTC_REQUEST_IDENTITIES)
			assert(len == 1);
		if (q.type == SSH_AGENTC_SIGN_REQUEST) {
			assert(q.key > msg && q.key_len > 0);
			assert(q.key + q.key_len <= msg + len);
		}
	} else {
		assert(q.why != NULL && q.why[0]);
	}
	(void)sshagent_type_name(msg[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed;
	size_t have = 0, off;

	if (size < 2)
		return 0;
	seed = (uint32_t)data[0] << 8 | data[1];
	off = 2;
	while (off < size) {
		size_t chunk, total = 0;
		int r;

		seed = seed * 1103515245u + 12345u;
		chunk = 1 + (seed >> 16) % 97;
		if (chunk > size - off)
			chunk = size - off;
		if (chunk > sizeof(buf) - have)
			return 0; /* the real relay bounds input by the stream's credit */
		memcpy(buf + have, data + off, chunk);
		have += chunk;
		off += chunk;
		for (;;) {
			r = sshagent_msg_frame(buf, have, SSHAGENT_MSG_MAX, &total);
			if (r < 0)
				return 0; /* stream reset */
			if (total)
				assert(total >= 5 && total <= SSHAGENT_MSG_MAX + 4);
			if (r == 0)
				break;
			assert(total <= have);
			check_msg(buf + 4, total - 4);
			memmove(buf, buf + total, have - total);
			have -= total;
		}
	}
	return 0;
}
