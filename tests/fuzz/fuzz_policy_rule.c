// SPDX-License-Identifier: MIT
/* fuzz_policy_rule.c: libFuzzer target: the policy rule grammar (policy_resource_normalize,
 * policy_add) and matching against destinations.
 *
 * Input: NUL-separated strings: a rule, then destinations ("host" or "host\tport").
 * Invariants: a rule that parses normalises to a fixed point; once added, every check
 * returns a decision and a deny rule's own resource is never allowed.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t flags = fz_u8(&in);
	char *rule = fz_str(&in), *norm = NULL, *again = NULL;
	const char *err = NULL;
	struct policy *pol;
	struct policy_decision d;
	int id = -1;

	if (policy_resource_normalize(rule, &norm, &err) < 0) {
		assert(err && err[0]);
		free(rule);
		return 0;
	}
	assert(strlen(norm) <= POLICY_RESOURCE_MAX);
	assert(policy_resource_normalize(norm, &again, &err) == 0 && !strcmp(norm, again));
	pol = policy_new();
	assert(policy_add(pol, flags & 1 ? POLICY_DENY : POLICY_ALLOW, rule, flags & 2 ? "sb" : NULL, false, &id,
			  &err) == 0);
	assert(policy_add(pol, POLICY_ALLOW, "**", NULL, true, NULL, &err) == 0);
	for (int k = 0; k < 8 && in.n; k++) {
		char *dst = fz_str(&in), *tab = strchr(dst, '\t');
		uint16_t port = 443;
		struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6 };
		struct sockaddr_in sa4 = { .sin_family = AF_INET };

		if (tab) {
			*tab = 0;
			port = (uint16_t)atoi(tab + 1);
		}
		policy_check(pol, "sb", dst, port, &d);
		assert(d.action == POLICY_DENY || d.action == POLICY_ALLOW);
		if (inet_pton(AF_INET, dst, &sa4.sin_addr) == 1)
			policy_check_dest(pol, "sb", dst, (struct sockaddr *)&sa4, port, &d);
		else if (inet_pton(AF_INET6, dst, &sa6.sin6_addr) == 1)
			policy_check_dest(pol, "sb", dst, (struct sockaddr *)&sa6, port, &d);
		(void)addr_classify((struct sockaddr *)&sa6);
		free(dst);
	}
	/* the normalised text of a deny rule names a destination it denies (no wildcard, no
	 * port); "localhost" names the host's aliases, not the name localhost (test_policy) */
	if ((flags & 1) && !strchr(norm, '*') && !strchr(norm, ':') && !strchr(norm, '/')) {
		policy_check(pol, "sb", !strcmp(norm, "localhost") ? "host.sbx.internal" : norm, 443, &d);
		assert(d.action == POLICY_DENY);
	}
	assert(policy_remove_id(pol, id) == 0);
	policy_free(pol);
	free(norm);
	free(again);
	free(rule);
	return 0;
}
