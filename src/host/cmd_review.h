// SPDX-License-Identifier: MIT
/* cmd_review.h: sbx review: what changed in workspace files that run on the host. */
#ifndef SBX_CMD_REVIEW_H
#define SBX_CMD_REVIEW_H

#include "paths.h"

/* Exit status: 0 nothing changed, 1 something changed (or the review is incomplete),
 * 2 error. Works from the state on disk alone; no daemon needed. */
int cmd_review(struct sbx_paths *p, int argc, char **argv);

#endif
