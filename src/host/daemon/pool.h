// SPDX-License-Identifier: MIT
/* pool.h: the warm pool: booted, unclaimed VMs kept ready for new sandboxes
 * (docs/warm-pool.md). The VMs are struct sandbox with pooled set, on sbxd.pool. */
#ifndef SBX_POOL_H
#define SBX_POOL_H

#include <stdint.h>

#include "sbxd.h"

/* Before any sandbox was made: `sbx run shell`'s template and size (cmd_run.c). */
#define POOL_TEMPLATE "minimal"
#define POOL_CPUS 2
#define POOL_MEMORY_MIB 1024
/* A kind of sandbox not made for this long gets no pool VM. */
#define POOL_SHAPE_TTL_S (7 * 24 * 3600)
#define POOL_RETRY_MS 10000u        /* after a failed pool boot, doubling */
#define POOL_RETRY_MAX_MS 600000u

/* At sbxd's start: kill the pool VMs a previous sbxd left (recorded in run/pool/ID/vm.json)
 * and remove their files; they are never adopted. */
void pool_discard_stale(struct sbxd *d);
/* At sbxd's start, after the sandboxes are loaded: the kinds of sandbox the pool
 * serves are those of the POOL_SHAPES_MAX sandboxes made last (within
 * POOL_SHAPE_TTL_S), else `sbx run shell`'s. */
void pool_seed(struct sbxd *d);
/* A new sandbox of spec is being made: its kind goes first in what the pool serves. */
void pool_note(struct sbxd *d, const struct spec *spec, int64_t when);
/* Once a loop tick: free the dead, discard what no longer fits (template rebuilt,
 * pool.size lowered), boot one more when the pool is short and no sandbox is
 * starting (a boot never competes with a user's). */
void pool_tick(struct sbxd *d, uint64_t now);
/* A ready pool VM a new sandbox of spec can take (same template image, cpus, memory
 * and agent ids; --branch too), or NULL. */
struct sandbox *pool_take(struct sbxd *d, const struct spec *spec, const char *base);
/* sbxd stops: every pool VM is killed and its files removed. */
void pool_shutdown(struct sbxd *d);
/* The pool VMs, for `sbx ls`: [{name, template, status: ready|booting, memory_bytes}]. */
struct json_object *pool_json(struct sbxd *d);

#endif
