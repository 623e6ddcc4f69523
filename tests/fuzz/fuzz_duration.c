// SPDX-License-Identifier: MIT
/* fuzz_duration.c: libFuzzer target: durations as typed (`sbx prune --older-than`) and
 * as read from settings.json (`sandbox.idleStop`): duration_parse in duration.c.
 *
 * Input: one selector byte (the default unit: none, seconds or minutes), then the
 * text. Invariants: a refusal gives a reason and leaves the result untouched; a parsed
 * duration is at most DURATION_MAX_S, its formatted text fits DURATION_TEXT_MAX and
 * parses again (with no default unit) to the same number of seconds.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t defunit[] = { 0, 1, 60 };
	struct fz_in in = { data, size };
	uint8_t sel = fz_u8(&in);
	char *s = fz_str(&in);
	const char *err = NULL;
	uint64_t secs = 12345, again = 0;
	char t[DURATION_TEXT_MAX];

	if (duration_parse(s, defunit[sel % 3], &secs, &err) == 0) {
		assert(secs <= DURATION_MAX_S);
		duration_format(secs, t, sizeof(t));
		assert(strlen(t) < sizeof(t) - 1);
		assert(duration_parse(t, 0, &again, &err) == 0 && again == secs);
	} else {
		assert(err && *err && secs == 12345);
	}
	free(s);
	return 0;
}
