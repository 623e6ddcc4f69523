// SPDX-License-Identifier: MIT
/* fuzz_policy_file.c: libFuzzer target: config/policy.json through policy_load_ex (the
 * file is written to a private directory each run), then the loaded rules are listed,
 * checked against, saved and loaded again.
 *
 * Invariants: a refused file says why; a loaded policy survives save + load with the
 * same rules.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sbx_paths p;
	static char *file;
	struct policy *pol = NULL, *pol2 = NULL;
	struct policy_decision d;
	const char *err = NULL;
	int r;

	if (!file) {
		p.config = xstrdup(fz_tmpdir());
		p.recipes = xstrdup("recipes");
		file = xasprintf("%s/policy.json", p.config);
	}
	fz_write(file, data, size, 0600);
	r = policy_load_ex(&p, &pol, &err);
	if (r < 0) {
		assert(r != -EINVAL || (err && err[0]));
		return 0;
	}
	(void)policy_preset(pol);
	for (size_t i = 0; i < policy_rule_count(pol); i++) {
		struct policy_rule_info ri;

		policy_rule_get(pol, i, &ri);
		assert(ri.resource && ri.id > 0);
		policy_check(pol, ri.sandbox, ri.resource, 443, &d);
	}
	policy_check(pol, NULL, "example.com", 443, &d);
	if (policy_save(&p, pol) == 0) {
		assert(policy_load_ex(&p, &pol2, &err) == 0);
		assert(policy_rule_count(pol2) == policy_rule_count(pol));
		policy_free(pol2);
	}
	policy_free(pol);
	return 0;
}
