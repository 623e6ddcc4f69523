// SPDX-License-Identifier: MIT
/* fuzz_dns.c: libFuzzer target: a guest's DNS query through the host's parser
 * (dns_query_parse), the answer builder (dns_answer_build, for every outcome the
 * engine answers with) and the synthetic address table.
 *
 * Input: one flag byte (low 3 bits: the rcode to answer with; bit 3: fill the table
 * past its bound first, so eviction runs), then the query. Invariants: an answer is a
 * well-formed message with the query's id and QR set; a name maps to a synthetic
 * address that maps back to it.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "policy.h"
#include "proxy_dns.h"

static void answer(const uint8_t *msg, size_t len, int rcode, const uint32_t *a4)
{
	uint8_t *out = NULL;
	size_t olen = 0;

	if (dns_answer_build(msg, len, rcode, a4, 60, &out, &olen) < 0)
		return;
	assert(out && olen >= 12);
	assert(out[0] == msg[0] && out[1] == msg[1]);
	assert(out[2] & 0x80);
	assert((out[3] & 0x0f) == (rcode & 0x0f));
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t flags = fz_u8(&in);
	static const int rcodes[] = { DNS_NOERROR, DNS_FORMERR, DNS_SERVFAIL, DNS_NXDOMAIN,
				      DNS_NOTIMP, DNS_REFUSED, DNS_NOERROR, DNS_NOERROR };
	int rcode = rcodes[flags & 7];
	struct dns_query q;
	int r;

	if (size < 1 || in.n > DNS_MSG_MAX)
		return 0;
	r = dns_query_parse(in.p, in.n, &q);
	assert(r == 0 || r == -EBADMSG || r == -EPROTO || r == -EOPNOTSUPP);
	if (r == -EBADMSG)
		return 0;
	if (r < 0) {
		answer(in.p, in.n, r == -EPROTO ? DNS_FORMERR : DNS_NOTIMP, NULL);
		return 0;
	}
	assert(strlen(q.name) < sizeof(q.name));
	{
		char *norm = NULL;
		bool is_ip;
		uint32_t a = 0;

		if (host_normalize(q.name, &norm, &is_ip) == 0) {
			struct dns_table *t = dns_table_new();
			const char *back;

			if (flags & 8)
				for (unsigned i = 0; i < DNS_TABLE_MAX + 3; i++) {
					char n[32];

					snprintf(n, sizeof(n), "n%u.fill", i);
					(void)dns_table_addr(t, n);
				}
			a = dns_table_addr(t, norm);
			assert(dns_addr_is_synthetic(a));
			back = dns_table_name(t, a);
			assert(back && !strcmp(back, norm));
			assert(dns_table_addr(t, norm) == a);
			assert(dns_table_count(t) <= DNS_TABLE_MAX);
			dns_table_free(t);
			free(norm);
		}
		answer(in.p, in.n, rcode, rcode == DNS_NOERROR && (flags & 0x10) ? &a : NULL);
	}
	return 0;
}
