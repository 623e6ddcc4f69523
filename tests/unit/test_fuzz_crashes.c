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

int main(void)
{
	strcpy(root, "/tmp/sbx-test-fuzz-XXXXXX");
	if (!mkdtemp(root))
		abort();
	test_review_incomplete_null();
	rm_rf(root);
	TEST_DONE();
}
