// SPDX-License-Identifier: MIT
/* fuzz_wswriter_msg.c: libFuzzer target: the guest's batches for the sync-mode writer as
 * the writer reads them (OP_WSYNC_PUT, wswriter_msg.c), and the written pairs sbxd reads
 * from the writer's answer (wswriter_done_written).
 *
 * Input: the TLV payload of one control message. Invariants: a batch that parses is
 * OP_WSYNC_PUT with at most WS_ITEMS_PER_MSG items; each item has a known kind, a path
 * wsync_rel_ok accepts (no leading "/", no "."/".."/empty component, no NUL) whose last
 * component is not the engine's own name, a mode of at most 0777, data within
 * WS_INLINE_MAX (a symlink target: not empty, no NUL) that lies inside the input; a
 * refusal names its reason. Every written pair has such a path.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "wsync_msg.h"
#include "wswriter_msg.h"

static const uint8_t *in_lo, *in_hi;

static void pair(void *arg, const char *path, const struct ws_state *st)
{
	size_t n = strlen(path);

	assert(n > 0 && n < WS_PATH_MAX && wsync_rel_ok(path, n));
	assert(st->type == 0 || st->type == 'f' || st->type == 'd' || st->type == 'l' || st->type == 'o');
	(*(size_t *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_batch *b = malloc(sizeof(*b));
	const char *err = NULL;
	size_t pairs = 0;

	assert(b);
	in_lo = data;
	in_hi = data + size;
	if (wswriter_msg_parse(data, size, b, &err) == 0) {
		assert(b->n <= WS_ITEMS_PER_MSG);
		for (size_t i = 0; i < b->n; i++) {
			const struct ws_item *it = &b->item[i];
			size_t n = strnlen(it->path, sizeof(it->path));
			const char *base = strrchr(it->path, '/');

			base = base ? base + 1 : it->path;
			assert(it->kind >= WSI_FILE && it->kind <= WSI_REMOVE);
			assert(n > 0 && n < WS_PATH_MAX && wsync_rel_ok(it->path, n));
			assert(strncmp(base, WSYNC_OWN_PREFIX, strlen(WSYNC_OWN_PREFIX)));
			assert(it->mode <= 0777);
			if (it->kind == WSI_FILE || it->kind == WSI_SYMLINK) {
				assert(it->data_len <= WS_INLINE_MAX);
				assert(it->data >= in_lo && it->data + it->data_len <= in_hi);
			}
			if (it->kind == WSI_SYMLINK)
				assert(it->data_len > 0 && !memchr(it->data, 0, it->data_len));
			if (it->kind == WSI_REMOVE)
				assert(it->expect.type != 0);
		}
	} else {
		assert(err && *err);
	}
	(void)wswriter_done_written(data, size, pair, &pairs);
	free(b);
	return 0;
}
