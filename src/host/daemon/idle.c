// SPDX-License-Identifier: MIT
/* idle.c: a running sandbox's activity, for stopping idle ones (sandbox.idleStop). */
#include "idle.h"

#include "cgroup.h"

void idle_touch(struct sandbox *sb, uint64_t now)
{
	sb->last_active_ms = now;
}

void idle_start(struct sandbox *sb, uint64_t now)
{
	sb->last_active_ms = now;
	sb->cpu_sample_ms = 0;
	sb->cpu_sample_usec = 0;
}

/* Busy since the last sample when its VMMs used more than the busy share of a CPU.
 * Sampled every IDLE_CPU_SAMPLE_MS, and at once (over at least a second) when the
 * sandbox is about to be stopped. */
static bool idle_cpu_busy(struct sandbox *sb, uint64_t now, bool due)
{
	struct cg_stat st;
	bool busy = false;

	if (now - sb->cpu_sample_ms < (due ? 1000u : IDLE_CPU_SAMPLE_MS))
		return false;
	/* no cgroup (cgroup v1 as a user, or v2 not delegated): QEMU's own CPU time,
	 * which is the guest's (virtiofsd idles when the guest does) */
	if (cgroup_stat(&sb->cg, sb->procs.qemu_pid, &st) < 0)
		st.cpu_usec = cgroup_proc_cpu_usec(sb->procs.qemu_pid);
	if (!st.cpu_usec) {
		sb->cpu_sample_ms = now;
		return false;   /* unreadable: activity is sessions and egress only */
	}
	if (sb->cpu_sample_ms && st.cpu_usec >= sb->cpu_sample_usec)
		/* usec per ms is per mille of one CPU */
		busy = st.cpu_usec - sb->cpu_sample_usec > (now - sb->cpu_sample_ms) * IDLE_CPU_BUSY_PERMILLE;
	sb->cpu_sample_ms = now;
	sb->cpu_sample_usec = st.cpu_usec;
	return busy;
}

bool idle_due(struct sandbox *sb, uint64_t now, uint64_t idle_stop_ms)
{
	bool due;

	if (sb->relays || sb->egress_n || sb->spec.n_ports)
		idle_touch(sb, now);
	due = idle_stop_ms && now - sb->last_active_ms >= idle_stop_ms;
	if (idle_cpu_busy(sb, now, due)) {
		idle_touch(sb, now);
		return false;
	}
	return due;
}
