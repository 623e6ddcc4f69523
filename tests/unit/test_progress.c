// SPDX-License-Identifier: MIT
/* test_progress.c: the progress display's formatting (sizes, durations, ETA, bar lines)
 * and the colour decision (NO_COLOR, TERM=dumb, not a terminal). */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "progress.h"
#include "testlib.h"

static void check_size(uint64_t b, const char *want)
{
	char buf[16];

	progress_fmt_size(b, buf, sizeof(buf));
	CHECK_STR(buf, want);
	if (strcmp(buf, want))
		fprintf(stderr, "  size %llu: got '%s', want '%s'\n", (unsigned long long)b, buf, want);
}

static void test_sizes(void)
{
	char tiny[6];

	check_size(0, "0 B");
	check_size(1, "1 B");
	check_size(1023, "1023 B");
	check_size(1024, "1.0 KiB");
	check_size(1536, "1.5 KiB");
	check_size(99 * 1024 + 900, "99.9 KiB");
	check_size(100 * 1024, "100 KiB");
	check_size(1023 * 1024, "1023 KiB");
	/* 1023.99 KiB would print "1024 KiB": it is 1.0 MiB */
	check_size(1024 * 1024 - 1, "1.0 MiB");
	check_size(26705532, "25.5 MiB");
	check_size(4ull << 30, "4.0 GiB");
	check_size(1ull << 40, "1.0 TiB");
	check_size(UINT64_MAX, "16.0 EiB");
	/* a short buffer is truncated, never overrun */
	progress_fmt_size(26705532, tiny, sizeof(tiny));
	CHECK_STR(tiny, "25.5 ");
}

static void check_dur(uint64_t s, const char *want)
{
	char buf[16];

	progress_fmt_duration(s, buf, sizeof(buf));
	CHECK_STR(buf, want);
	if (strcmp(buf, want))
		fprintf(stderr, "  duration %llu: got '%s', want '%s'\n", (unsigned long long)s, buf, want);
}

static void test_durations(void)
{
	check_dur(0, "0:00");
	check_dur(7, "0:07");
	check_dur(59, "0:59");
	check_dur(60, "1:00");
	check_dur(754, "12:34");
	check_dur(3599, "59:59");
	check_dur(3600, "1:00:00");
	check_dur(3723, "1:02:03");
	check_dur(99 * 3600 + 3599, "99:59:59");
	check_dur(100 * 3600, "--:--");
	check_dur(UINT64_MAX, "--:--");
}

static void test_eta(void)
{
	/* 10 MiB of 40 in 2 s: 30 MiB left at 5 MiB/s */
	CHECK_EQ(progress_eta(10u << 20, 40u << 20, 2000), 6);
	/* rounded up: 1 byte left is a second, not zero */
	CHECK_EQ(progress_eta(999, 1000, 1000), 1);
	CHECK_EQ(progress_eta(1000, 1000, 1000), 0);
	CHECK_EQ(progress_eta(2000, 1000, 1000), 0);     /* past the estimate */
	CHECK_EQ(progress_eta(0, 1000, 5000), -1);       /* nothing moved yet */
	CHECK_EQ(progress_eta(500, 1000, 100), -1);      /* too early to tell */
	CHECK_EQ(progress_eta(1, UINT64_MAX, 1000) > 0, 1); /* no overflow to negative */
}

static void test_lines(void)
{
	struct progress_view v = {
		.label = "download", .done = 10u << 20, .total = 40u << 20, .elapsed_ms = 2500, .rate_ms = 2000,
	};
	char buf[256];

	progress_fmt_line(&v, 80, buf, sizeof(buf));
	/* 79 columns: the bar takes what the numbers leave, up to 24 */
	CHECK_STR(buf, "download [#####----------------]  25%  10.0 MiB / 40.0 MiB  5.0 MiB/s  ETA 0:06");
	CHECK_EQ(strlen(buf), 79);
	progress_fmt_line(&v, 120, buf, sizeof(buf));
	CHECK_STR(buf, "download [######------------------]  25%  10.0 MiB / 40.0 MiB  5.0 MiB/s  ETA 0:06");
	/* not moving yet: no rate, unknown ETA */
	v.done = 0;
	v.rate_ms = 0;
	progress_fmt_line(&v, 80, buf, sizeof(buf));
	CHECK_STR(buf, "download [------------------------]   0%  0 B / 40.0 MiB  ETA --:--");
	/* done past total (an estimate): 100%, a full bar */
	v.done = 50u << 20;
	v.rate_ms = 1000;
	progress_fmt_line(&v, 80, buf, sizeof(buf));
	CHECK(strstr(buf, "#] 100%  40.0 MiB / 40.0 MiB  40.0 MiB/s") != NULL);
	CHECK(strchr(buf, '-') == NULL);
	CHECK(strstr(buf, "ETA 0:00") != NULL);
	/* narrow terminals: the numbers stay, the label and the bar give way, never past cols - 1 */
	v.done = 10u << 20;
	v.rate_ms = 2000;
	v.label = "linux-image-6.1.0-57-cloud-amd64";
	for (unsigned cols = 20; cols <= 120; cols++) {
		progress_fmt_line(&v, cols, buf, sizeof(buf));
		CHECK(strlen(buf) <= cols - 1);
		if (cols >= 60)
			CHECK(strstr(buf, "10.0 MiB / 40.0 MiB  5.0 MiB/s  ETA 0:06") != NULL);
	}
	/* a spinner: elapsed time, what is known, the status */
	v = (struct progress_view){ .label = "mmdebstrap", .status = "I: extracting archives...",
				    .elapsed_ms = 65000, .spin = 1 };
	progress_fmt_line(&v, 80, buf, sizeof(buf));
	CHECK_STR(buf, "mmdebstrap / 1:05  I: extracting archives...");
	v.done = 3u << 20;
	v.status = NULL;
	progress_fmt_line(&v, 80, buf, sizeof(buf));
	CHECK_STR(buf, "mmdebstrap / 1:05  3.0 MiB");
	/* a small buffer: truncated and terminated */
	progress_fmt_line(&v, 80, buf, 8);
	CHECK_STR(buf, "mmdebst");
	/* no control character ever reaches the line */
	v.label = "download";
	v.total = 40u << 20;
	progress_fmt_line(&v, 200, buf, sizeof(buf));
	for (const char *p = buf; *p; p++)
		CHECK(*p >= 0x20 && *p < 0x7f);
}

/* The one colour decision: this test's stdout is a pipe or a file under make, so
 * term_colour() is false whatever the variables say; what it must never do is say
 * yes under NO_COLOR or TERM=dumb, even on a terminal. */
static void test_colour(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	setenv("TERM", "xterm", 1);
	unsetenv("NO_COLOR");
	CHECK(!term_colour(-1));
	CHECK_STR(term_sgr(-1, TERM_BOLD), "");
	if (fd >= 0) {
		CHECK(term_colour(fd));
		CHECK_STR(term_sgr(fd, TERM_BOLD), "\033[1m");
		setenv("NO_COLOR", "", 1);    /* empty: as if unset (no-color.org) */
		CHECK(term_colour(fd));
	}
	setenv("NO_COLOR", "1", 1);
	CHECK(fd < 0 || !term_colour(fd));
	CHECK_STR(term_sgr(fd, TERM_RED), "");
	unsetenv("NO_COLOR");
	setenv("TERM", "dumb", 1);
	CHECK(fd < 0 || !term_colour(fd));
	if (fd >= 0)
		close(fd);
	/* quiet wins over everything */
	progress_init(true);
	CHECK(progress_quiet());
	CHECK_EQ(progress_mode(), PROGRESS_QUIET);
	progress_init(false);
	CHECK(!progress_quiet());
	CHECK_EQ(progress_mode(), PROGRESS_LINES);   /* TERM=dumb */
}

int main(void)
{
	test_sizes();
	test_durations();
	test_eta();
	test_lines();
	test_colour();
	TEST_DONE();
}
