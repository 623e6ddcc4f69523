// SPDX-License-Identifier: MIT
/* progress.c: step lines, progress bars and spinners on stderr; --quiet; the colour decision. */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util.h"

#define STATUS_MAX 120
#define BAR_WIDTH 24
#define LINE_MAX_BYTES 512

struct progress {
	char label[64];
	char status[STATUS_MAX + 1];
	uint64_t done, total;
	uint64_t t0, last_draw;
	uint64_t t_moving;  /* when done was first seen above 0; 0: not yet */
};

/* The CLI is one short-lived process writing to one stderr: this is its state. */
static struct {
	bool init;
	enum progress_mode mode;
	size_t drawn;     /* columns of a bar line on the terminal now; 0: the line is clean */
} st;

static bool term_dumb(void)
{
	const char *t = getenv("TERM");

	return t && !strcmp(t, "dumb");
}

void progress_init(bool quiet)
{
	st.init = true;
	if (quiet)
		st.mode = PROGRESS_QUIET;
	else if (isatty(STDERR_FILENO) && !term_dumb())
		st.mode = PROGRESS_TTY;
	else
		st.mode = PROGRESS_LINES;
}

enum progress_mode progress_mode(void)
{
	if (!st.init)
		progress_init(false);
	return st.mode;
}

bool progress_quiet(void)
{
	return progress_mode() == PROGRESS_QUIET;
}

bool term_colour(int fd)
{
	const char *nc = getenv("NO_COLOR");

	return !(nc && nc[0]) && !term_dumb() && isatty(fd);
}

const char *term_sgr(int fd, enum term_style s)
{
	static const char *const sgr[] = {
		[TERM_RESET] = "\033[0m", [TERM_BOLD] = "\033[1m", [TERM_DIM] = "\033[2m",
		[TERM_RED] = "\033[31m", [TERM_GREEN] = "\033[32m", [TERM_YELLOW] = "\033[33m",
	};

	if ((unsigned)s >= ARRAY_SIZE(sgr) || !term_colour(fd))
		return "";
	return sgr[s];
}

/* ---- formatting ---- */

void progress_fmt_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, len, "%u B", (unsigned)bytes);
		return;
	}
	v /= 1024.0;
	while (v >= 1023.95 && u + 1 < ARRAY_SIZE(unit)) {
		v /= 1024.0;
		u++;
	}
	if (v < 99.95)
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	else
		snprintf(buf, len, "%.0f %s", v, unit[u]);
}

void progress_fmt_duration(uint64_t secs, char *buf, size_t len)
{
	if (secs >= 100 * 3600)
		snprintf(buf, len, "--:--");
	else if (secs >= 3600)
		snprintf(buf, len, "%u:%02u:%02u", (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60),
			 (unsigned)(secs % 60));
	else
		snprintf(buf, len, "%u:%02u", (unsigned)(secs / 60), (unsigned)(secs % 60));
}

int64_t progress_eta(uint64_t done, uint64_t total, uint64_t rate_ms)
{
	double rate, left;

	if (done >= total)
		return 0;
	if (done == 0 || rate_ms < 200)
		return -1;
	rate = (double)done / ((double)rate_ms / 1000.0);
	left = (double)(total - done) / rate + 0.999;
	return left > 1e9 ? (int64_t)1e9 : (int64_t)left; /* past what anyone waits for, never overflowing */
}

/* Append to a bounded line; never past len - 1. */
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = MIN(*off + (size_t)n, len - 1);
}

/* "  45%  12.3 MiB / 40.0 MiB  3.1 MiB/s  ETA 0:09" */
static void fmt_known_tail(const struct progress_view *v, char *t, size_t len)
{
	char d[16], tot[16], rate[16], eta[16];
	uint64_t done = MIN(v->done, v->total);
	int64_t left = progress_eta(done, v->total, v->rate_ms);
	unsigned pct = (unsigned)((double)done * 100.0 / (double)v->total);
	size_t off = 0;

	progress_fmt_size(done, d, sizeof(d));
	progress_fmt_size(v->total, tot, sizeof(tot));
	put(t, len, &off, " %3u%%  %s / %s", pct, d, tot);
	if (done && v->rate_ms >= 200) {
		progress_fmt_size((uint64_t)((double)done * 1000.0 / (double)v->rate_ms), rate, sizeof(rate));
		put(t, len, &off, "  %s/s", rate);
	}
	if (left >= 0)
		progress_fmt_duration((uint64_t)left, eta, sizeof(eta));
	else
		snprintf(eta, sizeof(eta), "--:--");
	put(t, len, &off, "  ETA %s", eta);
}

void progress_fmt_line(const struct progress_view *v, unsigned cols, char *buf, size_t len)
{
	static const char spin[] = "|/-\\";
	size_t max = cols > 1 ? MIN((size_t)cols - 1, len - 1) : len - 1;
	char tail[128], el[16];
	size_t off = 0;

	if (!len)
		return;
	buf[0] = 0;
	if (v->total) {
		size_t room, w = 0, fill, lab;
		fmt_known_tail(v, tail, sizeof(tail));
		/* the numbers matter most, then the bar (at least 5 wide), then the label */
		lab = MIN(strlen(v->label), max > strlen(tail) + 8 ? max - strlen(tail) - 8 : 0);
		room = lab + strlen(tail) + 3; /* " [" "]" */
		if (max > room)
			w = MIN((size_t)BAR_WIDTH, max - room);
		put(buf, len, &off, "%.*s", (int)lab, v->label);
		if (w >= 5) {
			fill = (size_t)((double)MIN(v->done, v->total) * (double)w / (double)v->total);
			put(buf, len, &off, " [");
			for (size_t i = 0; i < w; i++)
				put(buf, len, &off, "%c", i < fill ? '#' : '-');
			put(buf, len, &off, "]");
		}
		put(buf, len, &off, "%s", tail);
	} else {
		progress_fmt_duration(v->elapsed_ms / 1000, el, sizeof(el));
		put(buf, len, &off, "%s %c %s", v->label, spin[v->spin % 4], el);
		if (v->done) {
			char d[16];
			progress_fmt_size(v->done, d, sizeof(d));
			put(buf, len, &off, "  %s", d);
		}
		if (v->status && v->status[0])
			put(buf, len, &off, "  %s", v->status);
	}
	if (off > max)
		buf[max] = 0;
}

/* ---- drawing ---- */

static unsigned term_cols(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return MIN(ws.ws_col, (unsigned)LINE_MAX_BYTES - 1);
	return 80;
}

void progress_clear(void)
{
	char blank[LINE_MAX_BYTES + 2];
	size_t n = MIN(st.drawn, (size_t)LINE_MAX_BYTES);

	if (!st.drawn)
		return;
	blank[0] = '\r';
	memset(blank + 1, ' ', n);
	blank[n + 1] = '\r';
	(void)write_all(STDERR_FILENO, blank, n + 2);
	st.drawn = 0;
}

static void draw(struct progress *pg, bool force)
{
	char line[LINE_MAX_BYTES], out[2 * LINE_MAX_BYTES + 2];
	uint64_t now = now_ms();
	struct progress_view v = {
		.label = pg->label, .status = pg->status, .done = pg->done, .total = pg->total,
		.elapsed_ms = now - pg->t0, .spin = (unsigned)((now - pg->t0) / 250),
		/* the first bytes came some time in the interval before they were seen */
		.rate_ms = pg->t_moving ? now - pg->t_moving + PROGRESS_REDRAW_MS : 0,
	};
	size_t n, o = 0;

	if (progress_mode() != PROGRESS_TTY || (!force && now - pg->last_draw < PROGRESS_REDRAW_MS))
		return;
	pg->last_draw = now;
	progress_fmt_line(&v, term_cols(), line, sizeof(line));
	n = strlen(line);
	out[o++] = '\r';
	memcpy(out + o, line, n);
	o += n;
	/* blank what a longer line before left behind */
	for (size_t i = n; i < st.drawn; i++)
		out[o++] = ' ';
	(void)write_all(STDERR_FILENO, out, o);
	st.drawn = MAX(n, st.drawn);
}

static void vsay(const char *pre, const char *fmt, va_list ap)
{
	if (progress_quiet())
		return;
	progress_clear();
	fprintf(stderr, "sbx: %s", pre);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void progress_step(unsigned n, unsigned total, const char *fmt, ...)
{
	char pre[64];
	va_list ap;

	snprintf(pre, sizeof(pre), "%s[%u/%u]%s ", term_sgr(STDERR_FILENO, TERM_BOLD), n, total,
		 term_sgr(STDERR_FILENO, TERM_RESET));
	va_start(ap, fmt);
	vsay(pre, fmt, ap);
	va_end(ap);
}

void progress_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay("", fmt, ap);
	va_end(ap);
}

struct progress *progress_begin(const char *label, uint64_t total)
{
	struct progress *pg = xcalloc(1, sizeof(*pg));

	snprintf(pg->label, sizeof(pg->label), "%s", label);
	pg->total = total;
	pg->t0 = now_ms();
	draw(pg, true);
	return pg;
}

void progress_set(struct progress *pg, uint64_t done)
{
	if (!pg)
		return;
	if (done && !pg->t_moving)
		pg->t_moving = now_ms();
	pg->done = done;
	draw(pg, false);
}

void progress_total(struct progress *pg, uint64_t total)
{
	if (!pg)
		return;
	pg->total = total;
	draw(pg, true); /* a spinner turns into a bar */
}

void progress_status(struct progress *pg, const char *text)
{
	size_t n = 0;

	if (!pg)
		return;
	for (const char *s = text; s && *s && n < STATUS_MAX; s++)
		pg->status[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	pg->status[n] = 0;
	draw(pg, false);
}

void progress_tick(struct progress *pg)
{
	if (pg)
		draw(pg, false);
}

void progress_end(struct progress *pg, bool ok)
{
	char d[16], line[160];
	double secs;

	if (!pg)
		return;
	secs = (double)(now_ms() - pg->t0) / 1000.0;
	if (progress_mode() == PROGRESS_TTY) {
		progress_clear();
		progress_fmt_size(pg->total ? MAX(pg->done, pg->total) : pg->done, d, sizeof(d));
		if (!ok)
			snprintf(line, sizeof(line), "  %s: failed after %.1f s\n", pg->label, secs);
		else if (pg->total || pg->done)
			snprintf(line, sizeof(line), "  %s: %s in %.1f s\n", pg->label, d, secs);
		else
			snprintf(line, sizeof(line), "  %s: done in %.1f s\n", pg->label, secs);
		(void)write_all(STDERR_FILENO, line, strlen(line));
	}
	free(pg);
}

void progress_drop(struct progress *pg)
{
	if (!pg)
		return;
	progress_clear();
	free(pg);
}
