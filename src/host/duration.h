// SPDX-License-Identifier: MIT
/* duration.h: spans of time as people type them ("90s", "30m", "12h", "7d", "2w"). */
#ifndef SBX_DURATION_H
#define SBX_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* 100 years: every product with a unit stays far below UINT64_MAX and time_t. */
#define DURATION_MAX_S (100ull * 366 * 86400)
/* Longest text duration_format() writes, NUL included. */
#define DURATION_TEXT_MAX 24

/* "N" or "N<unit>" with N decimal digits (no sign, no spaces, at most 12 digits) and
 * unit s, m, h, d or w. A bare N counts in default_unit_s seconds; with default_unit_s
 * 0 a bare N is refused unless it is "0". Pure: on a refusal -EINVAL and *ret_err says
 * why (static text); *ret_s is set only on success, never above DURATION_MAX_S. */
int duration_parse(const char *s, uint64_t default_unit_s, uint64_t *ret_s, const char **ret_err);

/* secs in the largest unit that divides it exactly: "7d", "90m", "45s", "0s". */
void duration_format(uint64_t secs, char *buf, size_t n);

#endif
