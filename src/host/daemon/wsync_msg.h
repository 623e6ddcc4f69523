// SPDX-License-Identifier: MIT
/* wsync_msg.h: the guest's workspace sync messages (OP_WSYNC_STATE, OP_WSYNC_EVENT),
 * parsed from hostile bytes into bounded values; pure, fuzzed (tests/fuzz/fuzz_wsync_msg.c). */
#ifndef SBX_WSYNC_MSG_H
#define SBX_WSYNC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define WSYNC_MSG_TEXT_MAX 1024u   /* an event's message, bytes */

struct wsync_msg {
	uint32_t op;            /* OP_WSYNC_STATE or OP_WSYNC_EVENT */
	/* state */
	uint32_t seq, pending, conflicts, errors, last_sync;
	bool flushed;
	/* event */
	uint32_t kind;          /* WSEV_* */
	char path[WS_PATH_MAX]; /* NUL-terminated, relative, no "..", at most WS_PATH_MAX - 1 bytes */
	char text[WSYNC_MSG_TEXT_MAX];
};

/* 0, or -EPROTO with *ret_err (static text): not one of the two ops, a value of the
 * wrong size, a path that is not a plain relative path, an unknown event kind, text
 * too long or holding NUL. Unknown tags are skipped. */
int wsync_msg_parse(const uint8_t *data, size_t len, struct wsync_msg *ret, const char **ret_err);
/* A path relative to the workspace: not empty, no leading or trailing "/", no empty,
 * "." or ".." component. */
bool wsync_rel_ok(const char *p, size_t len);

#endif
