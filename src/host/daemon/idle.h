// SPDX-License-Identifier: MIT
/* idle.h: when a running sandbox has been idle long enough to stop (sandbox.idleStop). */
#ifndef SBX_IDLE_H
#define SBX_IDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "sbxd.h"

/* How often the guest's CPU use is sampled, and above what share of one CPU (per mille)
 * a guest counts as busy: an idle TCG guest uses well under 2% (its timer ticks), a
 * background build or test run outside any exec session uses tens of percent. */
#define IDLE_CPU_SAMPLE_MS 5000u
#define IDLE_CPU_BUSY_PERMILLE 100u

/* The sandbox is busy now (an exec session or egress stream opened). */
void idle_touch(struct sandbox *sb, uint64_t now);
/* Its guest came up: busy now, and CPU sampling starts over (a new cgroup). */
void idle_start(struct sandbox *sb, uint64_t now);
/* From sandbox_tick, for a running sandbox: true when it has had no exec session, no
 * egress stream, and no CPU use above IDLE_CPU_BUSY_PERMILLE for idle_stop_ms (0: never).
 * A sandbox that publishes ports is never idle: it serves visitors sbx cannot foresee. */
bool idle_due(struct sandbox *sb, uint64_t now, uint64_t idle_stop_ms);

#endif
