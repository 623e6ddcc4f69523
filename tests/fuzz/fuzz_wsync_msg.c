// SPDX-License-Identifier: MIT
/* fuzz_wsync_msg.c: libFuzzer target: the guest's workspace sync messages as sbxd reads
 * them (OP_WSYNC_STATE, OP_WSYNC_EVENT; wsync_msg.c).
 *
 * Input: the TLV payload of one control message, as the guest sends it. Invariants: a
 * message that parses is one of the two ops; an event has a known kind, a NUL-terminated
 * path shorter than WS_PATH_MAX that wsync_rel_ok accepts (no leading "/", no "." or ".."
 * component) and text shorter than WSYNC_MSG_TEXT_MAX; a refusal names its reason.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "wsync_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wsync_msg *m = malloc(sizeof(*m));
	const char *err = NULL;

	assert(m);
	if (wsync_msg_parse(data, size, m, &err) == 0) {
		assert(m->op == OP_WSYNC_STATE || m->op == OP_WSYNC_EVENT);
		if (m->op == OP_WSYNC_EVENT) {
			size_t n = strnlen(m->path, sizeof(m->path));
			assert(m->kind == WSEV_CONFLICT || m->kind == WSEV_NOT_SYNCED);
			assert(n > 0 && n < WS_PATH_MAX && wsync_rel_ok(m->path, n));
			assert(m->path[0] != '/' && !strstr(m->path, "/../") && strncmp(m->path, "../", 3));
			assert(strnlen(m->text, sizeof(m->text)) < WSYNC_MSG_TEXT_MAX);
		}
	} else {
		assert(err && *err);
	}
	free(m);
	return 0;
}
