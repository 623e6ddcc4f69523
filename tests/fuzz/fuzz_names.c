// SPDX-License-Identifier: MIT
/* fuzz_names.c: libFuzzer target: destination host normalisation (case, trailing dots,
 * IDNA, IP literals in every spelling: host_normalize in policy.c) and the name and
 * size checks of names.c.
 *
 * Input: one selector byte, then a string. Invariants: a normalised name is
 * idempotent (normalising it again gives the same text), lower-case ASCII, at most 253
 * bytes; a sanitized sandbox name is valid.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "names.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t sel = fz_u8(&in);
	char *s = fz_str(&in), *norm = NULL, *again = NULL, *san;
	bool is_ip = false, is_ip2 = false;
	unsigned mib;

	switch (sel % 3) {
	case 0:
		if (host_normalize(s, &norm, &is_ip) == 0) {
			size_t n = strlen(norm);

			assert(n > 0 && (is_ip || n <= 253));
			for (size_t i = 0; i < n; i++)
				assert(norm[i] > 0x20 && norm[i] < 0x7f && !(norm[i] >= 'A' && norm[i] <= 'Z'));
			assert(host_normalize(norm, &again, &is_ip2) == 0);
			assert(!strcmp(norm, again) && is_ip == is_ip2);
		}
		break;
	case 1:
		(void)name_valid(s);
		san = name_sanitize(s);
		assert(name_valid(san));
		free(san);
		break;
	default:
		(void)size_parse_mib(s, &mib);
		(void)env_assignment_valid(s);
		break;
	}
	free(norm);
	free(again);
	free(s);
	return 0;
}
