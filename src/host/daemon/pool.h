// SPDX-License-Identifier: MIT
/* pool.h: the warm pool: booted, unclaimed VMs kept ready for new sandboxes
 * (docs/warm-pool.md). The VMs are struct sandbox with pooled set, on sbxd.pool. */
#ifndef SBX_POOL_H
#define SBX_POOL_H

#include <stdint.h>

#include "sbxd.h"

/* The one template the prototype keeps a pool for: `sbx run shell`'s. */
#define POOL_TEMPLATE "minimal"
#define POOL_RETRY_MS 10000u        /* after a failed pool boot, doubling */
#define POOL_RETRY_MAX_MS 600000u

/* At sbxd's start: kill the pool VMs a previous sbxd left (recorded in run/pool/ID/vm.json)
 * and remove their files; they are never adopted. */
void pool_discard_stale(struct sbxd *d);
/* Once a loop tick: free the dead, discard what no longer fits (template rebuilt,
 * pool.size lowered), boot one more when the pool is short and no sandbox is
 * starting (a boot never competes with a user's). */
void pool_tick(struct sbxd *d, uint64_t now);
/* A ready pool VM a new sandbox of spec can take (same template image, cpus, memory
 * and agent ids), or NULL. */
struct sandbox *pool_take(struct sbxd *d, const struct spec *spec, const char *base);
/* sbxd stops: every pool VM is killed and its files removed. */
void pool_shutdown(struct sbxd *d);

#endif
