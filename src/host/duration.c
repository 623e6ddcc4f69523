// SPDX-License-Identifier: MIT
/* duration.c: parse and print spans of time ("7d", "30m"); see duration.h. */
#include "duration.h"

#include <errno.h>
#include <stdio.h>

static const struct {
	char c;
	uint64_t secs;
} units[] = { { 'w', 7 * 86400 }, { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };

int duration_parse(const char *s, uint64_t default_unit_s, uint64_t *ret_s, const char **ret_err)
{
	uint64_t n = 0, unit = default_unit_s;
	size_t digits = 0;
	const char *c = s;

	if (!s || !*s)
		return *ret_err = "empty duration", -EINVAL;
	for (; *c >= '0' && *c <= '9'; c++) {
		if (++digits > 12)
			return *ret_err = "duration too long", -EINVAL;
		n = n * 10 + (uint64_t)(*c - '0');
	}
	if (!digits)
		return *ret_err = "a duration starts with a number (e.g. 30m, 12h, 7d)", -EINVAL;
	if (*c) {
		unit = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*c == units[i].c)
				unit = units[i].secs;
		if (!unit || c[1])
			return *ret_err = "unknown unit (want s, m, h, d or w, e.g. 7d)", -EINVAL;
	} else if (!unit && n) {
		return *ret_err = "a duration needs a unit (s, m, h, d or w, e.g. 7d)", -EINVAL;
	}
	/* n < 10^12 and unit <= 604800: the product fits in 64 bits */
	if (n * unit > DURATION_MAX_S)
		return *ret_err = "duration longer than 100 years", -EINVAL;
	*ret_s = n * unit;
	return 0;
}

void duration_format(uint64_t secs, char *buf, size_t n)
{
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (secs && secs % units[i].secs == 0) {
			snprintf(buf, n, "%llu%c", (unsigned long long)(secs / units[i].secs), units[i].c);
			return;
		}
	snprintf(buf, n, "0s");
}
