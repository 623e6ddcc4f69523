// SPDX-License-Identifier: MIT
/* fuzz_gitcfg.c: libFuzzer target: a hostile git config through the reader `sbx review`
 * uses to list the keys that run programs (review_repos.c).
 *
 * Built by `make fuzz` (review_repos.c is included below, so only src/common is needed):
 *   build/fuzz/fuzz_gitcfg -max_total_time=60 build/fuzz-corpus/fuzz_gitcfg
 *
 * Invariants: at most REVIEW_REPO_LIST_MAX lines, each "key = value" with the prefix,
 * values cut at their bound; nothing read outside the input.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/host/workspace/review_repos.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so that ASan sees any read past the end */
	char *text = malloc(size ? size : 1);
	char **v = NULL;
	size_t n = 0;
	bool ok;

	memcpy(text, data, size);
	ok = review_gitcfg_runs(text, size, "p: ", &v, &n);
	assert(n <= REVIEW_REPO_LIST_MAX);
	assert(ok || n == REVIEW_REPO_LIST_MAX);
	for (size_t i = 0; i < n; i++) {
		assert(!strncmp(v[i], "p: ", 3) && strstr(v[i], " = "));
		assert(strlen(v[i]) < 3 + 64 + 1 + size + 1 + 64 + 3 + VALUE_SHOWN_MAX + 4);
		free(v[i]);
	}
	free(v);
	free(text);
	return 0;
}
