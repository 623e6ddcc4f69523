// SPDX-License-Identifier: MIT
/* review_diff.h: turning what `sbx review` found into text: unified diffs (a `diff -u`
 * child), package.json scripts; escaping is textesc.h's. */
#ifndef SBX_REVIEW_DIFF_H
#define SBX_REVIEW_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "textesc.h"

#define REVIEW_DIFF_OUT_MAX (4u << 20)
#define REVIEW_DIFF_TIMEOUT_MS 10000

/*
 * Unified diff of a and b (NULL = empty) labelled la and lb, computed by running
 * diff -u (diffutils) as a child with an argv (no shell) that reads both sides from
 * memfds: no file of the workspace is opened by path. Output is capped at
 * REVIEW_DIFF_OUT_MAX (then "[diff truncated]") and the child is killed after
 * REVIEW_DIFF_TIMEOUT_MS. Returns 0 (same) or 1 (different) with *ret malloc'd, or
 * -errno (-ENOENT: no diff program).
 */
int review_diff_run(const char *a, size_t alen, const char *b, size_t blen, const char *la, const char *lb,
		    char **ret);

/* Lines added and removed in a unified diff (its hunks only). */
void review_diff_count(const char *diff, unsigned *ret_add, unsigned *ret_del);

/* Did the "scripts" object of a package.json change? 1 yes, 0 no, -1 cannot tell
 * (a side is missing or is not a JSON object). NULL = the file does not exist. */
int review_pkg_scripts_changed(const char *a, size_t alen, const char *b, size_t blen);

#endif
