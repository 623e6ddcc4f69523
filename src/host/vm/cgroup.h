// SPDX-License-Identifier: MIT
/* cgroup.h: one cgroup per running sandbox, holding its QEMU and virtiofsd, with limits. */
#ifndef SBX_CGROUP_H
#define SBX_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * cgroup v2 (Debian's default): a child of sbxd's own cgroup when sbxd may write it
 * (root, or an ordinary user whose systemd delegated the user manager's subtree);
 * sbxd first moves itself into a leaf "sbxd" beside the sandboxes' (cgroup v2 puts
 * processes only in leaves). cgroup v1 (older hosts, containers): the memory, cpu and
 * pids hierarchies, as root. Limits: memory = guest RAM + the VMMs' overhead,
 * cpu = --cpus cores, pids, and io weight where the controller is there. Where no
 * cgroup can be made, the sandbox runs without, and sbxd says why once.
 */
#define CG_PIDS_MAX 1024
#define CG_FILES_MAX 3

struct sb_cgroup {
	int version;                     /* 0: none; 1 or 2 */
	char *dir[CG_FILES_MAX];         /* v2: dir[0]; v1: memory, cpu, pids */
	char *procs[CG_FILES_MAX + 1];   /* their cgroup.procs, NULL-terminated */
	uint64_t memory_max;             /* bytes */
};

struct cg_stat {
	uint64_t memory_bytes;           /* now */
	uint64_t cpu_usec;               /* since it was made */
	uint64_t oom_kills;
};

/* The memory limit for a guest of mem_mib: RAM + a quarter + 512 MiB (virtiofsd,
 * thread stacks, page cache) + extra_mib (under TCG CG_TCG_EXTRA_MIB: QEMU's
 * translated-code cache, capped at VM_TCG_TB_MIB = 128 MiB, and TCG's tables around
 * it; it was 1024 while QEMU's default 1 GiB cache grew unbounded). Pure. */
#define CG_TCG_EXTRA_MIB 256
uint64_t cgroup_memory_for(unsigned mem_mib, unsigned extra_mib);
/* Make NAME's cgroup with its limits; version 0 and *ret_why (once per reason) when
 * none can be had. 0, or -errno when one should have been made but failed. */
int cgroup_make(const char *name, unsigned cpus, unsigned mem_mib, unsigned extra_mib, struct sb_cgroup *ret,
		char **ret_why);
/* A running sandbox's cgroup found again after sbxd restarted, from its QEMU's
 * /proc/PID/cgroup (version 0 if it is in none of sbx's). */
void cgroup_find(pid_t pid, struct sb_cgroup *ret);
/* In a child after fork: move ourselves in (write "0" to each procs file). */
int cgroup_join(char *const procs[]);
/* Its use now: memory from the cgroup, CPU from it (v2) or from pid's /proc (v1:
 * the cpu hierarchy counts none; pid 0: none); -ENOENT without a cgroup. */
int cgroup_stat(const struct sb_cgroup *cg, pid_t pid, struct cg_stat *ret);
/* utime + stime of pid (its threads included) from /proc, in microseconds; 0 if
 * unreadable. Where there is no cgroup, QEMU's is the guest's CPU use. */
uint64_t cgroup_proc_cpu_usec(pid_t pid);
/* CPU share against the other sandboxes: low (v2 cpu.weight 1, v1 cpu.shares 2), for
 * a warm pool VM, so that its boot yields to every sandbox in use; or the default. */
int cgroup_set_low_priority(const struct sb_cgroup *cg, bool low);
/* Remove it (it must be empty: after its processes exited) and free the paths. */
void cgroup_remove(struct sb_cgroup *cg);
void cgroup_free(struct sb_cgroup *cg);
/* At sbxd's start: remove the empty cgroups of VMs that ended while no sbxd watched
 * them (their sbxd, named in the directory, is gone). How many went. */
unsigned cgroup_sweep(void);

#endif
