// SPDX-License-Identifier: MIT
/* test_duration.c: durations as typed and stored ("7d", "12h", "30m"): the parser's
 * units, its default unit, its refusals and bounds, and the formatter. */
#include <errno.h>

#include "duration.h"
#include "testlib.h"

static uint64_t parse(const char *s, uint64_t defunit)
{
	uint64_t v = 424242;
	const char *err = NULL;

	if (duration_parse(s, defunit, &v, &err) < 0)
		return 424242;
	return v;
}

static bool refused(const char *s, uint64_t defunit)
{
	uint64_t v = 7;
	const char *err = NULL;

	return duration_parse(s, defunit, &v, &err) == -EINVAL && err && *err && v == 7;
}

static void test_units(void)
{
	CHECK_EQ(parse("7d", 0), 7 * 86400);
	CHECK_EQ(parse("12h", 0), 12 * 3600);
	CHECK_EQ(parse("30m", 0), 30 * 60);
	CHECK_EQ(parse("90s", 0), 90);
	CHECK_EQ(parse("2w", 0), 14 * 86400);
	CHECK_EQ(parse("0", 0), 0);
	CHECK_EQ(parse("0d", 0), 0);
	CHECK_EQ(parse("007h", 0), 7 * 3600);
	/* a bare number counts in the default unit */
	CHECK_EQ(parse("30", 60), 1800);
	CHECK_EQ(parse("30", 1), 30);
	CHECK_EQ(parse("5s", 60), 5);
}

static void test_refusals(void)
{
	CHECK(refused("", 0));
	CHECK(refused("d", 0));
	CHECK(refused("7", 0));      /* no unit and none by default */
	CHECK(refused("-1d", 0));
	CHECK(refused("+1d", 0));
	CHECK(refused(" 1d", 0));
	CHECK(refused("1d ", 0));
	CHECK(refused("1 d", 0));
	CHECK(refused("1D", 0));
	CHECK(refused("1dd", 0));
	CHECK(refused("1d2h", 0));
	CHECK(refused("1.5h", 0));
	CHECK(refused("1y", 0));
	CHECK(refused("off", 60));
	CHECK(refused("1234567890123", 1));    /* 13 digits */
	CHECK(refused("5300w", 0));             /* past 100 years */
	CHECK(refused("999999999999w", 0));
	CHECK_EQ(parse("5200w", 0), 5200ull * 7 * 86400);
	CHECK_EQ(parse("3162240000s", 0), DURATION_MAX_S);
	CHECK(refused("3162240001s", 0));
}

static void test_format(void)
{
	char t[DURATION_TEXT_MAX];

	duration_format(7 * 86400, t, sizeof(t));
	CHECK_STR(t, "1w");
	duration_format(86400 * 3, t, sizeof(t));
	CHECK_STR(t, "3d");
	duration_format(5400, t, sizeof(t));
	CHECK_STR(t, "90m");
	duration_format(61, t, sizeof(t));
	CHECK_STR(t, "61s");
	duration_format(0, t, sizeof(t));
	CHECK_STR(t, "0s");
	duration_format(DURATION_MAX_S, t, sizeof(t));
	CHECK_EQ(parse(t, 0), DURATION_MAX_S);
}

int main(void)
{
	test_units();
	test_refusals();
	test_format();
	TEST_DONE();
}
