// SPDX-License-Identifier: MIT
/* test_fuzz_crashes.c: one test per crash the libFuzzer targets found (tests/fuzz/crashes/),
 * each reproducing it through the public function, so a regression fails here too,
 * also without clang. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "review.h"
#include "testlib.h"
#include "util.h"

static char root[64];

static void put(const char *rel, const char *content)
{
	char *path = xasprintf("%s/%s", root, rel);

	CHECK(file_write_atomic(path, content, strlen(content), 0600) == 0);
	free(path);
}

/* fuzz_review_store: a null in "incomplete" made strcmp() read NULL. */
static void test_review_incomplete_null(void)
{
	struct review_snap s = { 0 };
	char *bdir = xasprintf("%s/baseline", root);

	mkdir_p(bdir, 0700);
	put("baseline/manifest.json", "{\"version\": 1, \"files\": [], \"incomplete\": [null]}");
	CHECK(review_baseline_load(root, &s) == -EBADMSG);
	put("baseline/manifest.json", "{\"version\": 1, \"files\": [], \"incomplete\": [5]}");
	CHECK(review_baseline_load(root, &s) == -EBADMSG);
	put("baseline/manifest.json", "{\"version\": 1, \"files\": [], \"incomplete\": [\"depth\"]}");
	CHECK(review_baseline_load(root, &s) == 0);
	CHECK(s.hits == REVIEW_HIT_DEPTH);
	review_snap_free(&s);
	free(bdir);
}

/* fuzz_policy_rule: "deny localhost" with "allow **" left the name localhost allowed.
 * Not a bug in policy.c: a localhost rule names host.docker.internal and
 * host.sbx.internal, never the name localhost (the guest's own); the target's invariant
 * now checks an alias. */
static void test_policy_deny_localhost(void)
{
	struct policy *pol = policy_new();
	struct policy_decision d;
	const char *err = NULL;

	CHECK(policy_add(pol, POLICY_DENY, "localhost", NULL, false, NULL, &err) == 0);
	CHECK(policy_add(pol, POLICY_ALLOW, "**", NULL, true, NULL, &err) == 0);
	policy_check(pol, "sb", "localhost", 443, &d);
	CHECK(d.action == POLICY_ALLOW && !d.names_address);
	policy_check(pol, "sb", "host.sbx.internal", 443, &d);
	CHECK(d.action == POLICY_DENY);
	policy_check(pol, "sb", "host.docker.internal", 443, &d);
	CHECK(d.action == POLICY_DENY);
	policy_free(pol);
}

int main(void)
{
	strcpy(root, "/tmp/sbx-test-fuzz-XXXXXX");
	if (!mkdtemp(root))
		abort();
	test_review_incomplete_null();
	test_policy_deny_localhost();
	rm_rf(root);
	TEST_DONE();
}
