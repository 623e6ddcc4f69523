// SPDX-License-Identifier: MIT
/* wswriter_msg.h: the guest's batches of changes for the host's writer (OP_WSYNC_PUT)
 * and the writer's answers (OP_WSYNC_PUT_DONE), parsed from hostile bytes; pure,
 * fuzzed (tests/fuzz/fuzz_wswriter_msg.c). */
#ifndef SBX_WSWRITER_MSG_H
#define SBX_WSWRITER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "wsstate.h"

/* One change. Pointers reach into the parsed message (valid while it is). */
struct ws_item {
	uint32_t kind;            /* WSI_* */
	char path[WS_PATH_MAX];   /* NUL-terminated; wsync_rel_ok; its last component is not the engine's own name */
	struct ws_state expect;   /* the host state the engine compared against */
	uint32_t mode;            /* FILE, SYMLINK, MKDIR: at most 0777 */
	int64_t mtime_ns;         /* FILE, SYMLINK */
	const uint8_t *data;      /* FILE: contents (<= WS_INLINE_MAX); SYMLINK: target (1..WS_PATH_MAX-1, no NUL) */
	uint32_t data_len;
};

struct ws_batch {
	uint32_t id;
	size_t n;
	struct ws_item item[WS_ITEMS_PER_MSG];
};

/* 0, or -EPROTO with *ret_err (static text): not OP_WSYNC_PUT, no WS_BATCH, more than
 * WS_ITEMS_PER_MSG items, an item missing a field its kind needs or holding one twice,
 * a path wsync_rel_ok refuses, a mode above 0777, data too long, a symlink target that
 * is empty or holds NUL, a remove of something absent. Unknown tags are skipped. */
int wswriter_msg_parse(const uint8_t *data, size_t len, struct ws_batch *ret, const char **ret_err);

/* The "written" pairs of an OP_WSYNC_PUT_DONE (WS_PATH then WS_EXPECT): fn(path, state)
 * for each well-formed pair, in order; the rest is skipped. The number of pairs. */
size_t wswriter_done_written(const uint8_t *data, size_t len,
			     void (*fn)(void *arg, const char *path, const struct ws_state *st), void *arg);

#endif
