// SPDX-License-Identifier: MIT
/* fuzz_recipe.c: libFuzzer target: a template recipe (recipe_parse in recipe.c) and the
 * apt sources text a template build reads (apt_mirrors_scan in apt_mirror.c).
 *
 * Input: one byte choosing the parser (0: recipe, 1: sources.list lines, 2: deb822
 * .sources stanzas), then the text. Invariants: a parsed recipe has a suite and a
 * variant, a size within its bounds, at most RECIPE_NPM_MAX npm packages and
 * RECIPE_COPY_MAX copies whose destinations are absolute; a mirror found is a URI made
 * only of the characters the scanner admits.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "apt_mirror.h"
#include "fuzzlib.h"
#include "recipe.h"

#define URI_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/._-~+%@"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1 || size > (64u << 10))
		return 0;
	text = malloc(size);
	assert(text);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	if (data[0] % 3 == 0) {
		struct recipe rc = { 0 };

		if (recipe_parse(text, "fuzz", &rc) == 0) {
			assert(rc.suite[0] && rc.variant[0]);
			assert(rc.size >= RECIPE_SIZE_MIN && rc.size <= RECIPE_SIZE_MAX);
			assert(rc.n_npm <= RECIPE_NPM_MAX && rc.n_copy <= RECIPE_COPY_MAX);
			for (size_t i = 0; i < rc.n_copy; i++)
				assert(rc.copy_dst[i][0] == '/');
			recipe_free(&rc);
		}
	} else {
		struct apt_mirrors m = { 0 };

		apt_mirrors_scan(&m, text, data[0] % 3 == 2, "bookworm");
		if (m.main)
			assert(strspn(m.main, URI_CHARS) == strlen(m.main));
		if (m.security)
			assert(strspn(m.security, URI_CHARS) == strlen(m.security));
		free(m.main);
		free(m.security);
	}
	free(text);
	return 0;
}
