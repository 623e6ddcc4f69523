// SPDX-License-Identifier: MIT
/* progress.h: what the CLI tells a person while it works (step lines, progress bars,
 * spinners), --quiet, and the one place that decides whether output gets colour. */
#ifndef SBX_PROGRESS_H
#define SBX_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Three ways to report, chosen once per process by progress_init() (main.c):
 *   PROGRESS_QUIET  --quiet: nothing but errors on stderr.
 *   PROGRESS_LINES  stderr is not a terminal, or TERM=dumb: one line per step, no
 *                   carriage returns, no escape sequences; bars and spinners are silent.
 *   PROGRESS_TTY    stderr is a terminal: step lines, and bars/spinners redrawn in place
 *                   with "\r" (at most every PROGRESS_REDRAW_MS), never an escape sequence.
 * A process that never calls progress_init() (sbxd) gets LINES or TTY as if it had
 * called progress_init(false). All output goes to stderr; stdout stays for data.
 */
enum progress_mode { PROGRESS_QUIET, PROGRESS_LINES, PROGRESS_TTY };
#define PROGRESS_REDRAW_MS 100

void progress_init(bool quiet);
enum progress_mode progress_mode(void);
bool progress_quiet(void);

/*
 * Colour, decided here only: on fd when it is a terminal, TERM is not "dumb" and
 * NO_COLOR is unset or empty (https://no-color.org). term_sgr() gives the escape
 * sequence for a style, or "" when fd gets no colour; TERM_RESET ends any style.
 */
enum term_style { TERM_RESET, TERM_BOLD, TERM_DIM, TERM_RED, TERM_GREEN, TERM_YELLOW };
bool term_colour(int fd);
const char *term_sgr(int fd, enum term_style s);

/* "sbx: [n/total] TEXT" (a step of a long operation) and "sbx: TEXT" (a note within
 * one), on stderr unless quiet. They end a bar or spinner line being drawn first. */
void progress_step(unsigned n, unsigned total, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void progress_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Erase a bar or spinner being drawn (TTY), so that an error line starts clean. */
void progress_clear(void);

/*
 * One bar (total > 0: bytes or units of known size) or spinner (total 0: unknown
 * size, shows elapsed time and whatever is known). progress_set/status/tick redraw
 * at most every PROGRESS_REDRAW_MS on a terminal and do nothing otherwise; end()
 * leaves one summary line on a terminal ("LABEL: 41.2 MiB in 12.3 s") and frees.
 * Not thread-safe; one at a time per process. NULL is accepted everywhere (no-op).
 */
struct progress;
struct progress *progress_begin(const char *label, uint64_t total);
void progress_set(struct progress *pg, uint64_t done);
void progress_total(struct progress *pg, uint64_t total);   /* learnt late */
/* A short status (a child's last line): sanitised to printable ASCII, bounded. */
void progress_status(struct progress *pg, const char *text);
void progress_tick(struct progress *pg);
void progress_end(struct progress *pg, bool ok);
/* The same without the summary line: the line is left clean. */
void progress_drop(struct progress *pg);

/* ---- formatting (pure, unit-tested) ---- */

/* "0 B", "1023 B", "1.0 KiB", "12.3 MiB", "123 MiB", "4.0 GiB": always fits 12 bytes. */
void progress_fmt_size(uint64_t bytes, char *buf, size_t len);
/* "0:07", "12:34", "1:02:03"; "--:--" past 99 hours. */
void progress_fmt_duration(uint64_t secs, char *buf, size_t len);
/* Seconds left when done bytes took rate_ms, or -1 when unknown (nothing done yet, or
 * too early to tell: under 200 ms). */
int64_t progress_eta(uint64_t done, uint64_t total, uint64_t rate_ms);

/* What one redraw shows; progress_fmt_line() makes the line, at most cols - 1
 * characters (so it never wraps) and at most len - 1 bytes. */
struct progress_view {
	const char *label;
	const char *status;  /* NULL: none */
	uint64_t done, total; /* total 0: unknown (spinner) */
	uint64_t elapsed_ms;  /* since it began */
	uint64_t rate_ms;     /* since the work was first seen moving: the rate is done / rate_ms */
	unsigned spin;       /* spinner phase */
};
void progress_fmt_line(const struct progress_view *v, unsigned cols, char *buf, size_t len);

#endif
