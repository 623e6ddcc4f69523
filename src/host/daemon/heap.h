// SPDX-License-Identifier: MIT
/* heap.h: give the heap's free pages back to the kernel after a burst of connections. */
#ifndef SBX_HEAP_H
#define SBX_HEAP_H

#include <stdint.h>

/* Called from sbxd's periodic tick: at most every few seconds, when the heap holds more
 * than a few MiB of freed memory, return it (malloc_trim). *last_ms is the caller's. */
void heap_trim_tick(uint64_t *last_ms, uint64_t now_ms);

#endif
