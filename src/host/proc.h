// SPDX-License-Identifier: MIT
/* proc.h: detached child processes and identifying/terminating them by (pid, start time). */
#ifndef SBX_PROC_H
#define SBX_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A pid alone is not an identity (pids are reused); (pid, start time) is. The
 * start time is field 22 of /proc/PID/stat, in clock ticks since boot.
 */

/* Start time of pid, 0 if it does not exist. */
uint64_t proc_start_time(pid_t pid);
/* The same process (start_time 0 = any) exists and is not a zombie. */
bool proc_alive(pid_t pid, uint64_t start_time);
/* SIGTERM, wait up to grace_ms, then SIGKILL and wait up to 5 s more. Works for
 * processes that are not our children (pidfd). 0 when gone (or already gone),
 * -ETIMEDOUT if it survived SIGKILL, other -errno on failure. */
int proc_terminate(pid_t pid, uint64_t start_time, int grace_ms);

/* Parse the text of /proc/PID/stat: state letter and start time. Pure. */
int proc_parse_stat(const char *text, char *ret_state, uint64_t *ret_start);

#define PROC_KEEP_FDS_MAX 16

/*
 * Start argv[0] (PATH is searched) double-forked in a new session: it is not our
 * child and outlives us. In the new process: signal mask and dispositions reset,
 * stdin /dev/null, stdout and stderr to stdout_fd (/dev/null when -1), every fd
 * closed except 0-2 and keep_fds (each >= 3, at most PROC_KEEP_FDS_MAX, inherited
 * at the same numbers with FD_CLOEXEC cleared), then child_setup(arg) (may be NULL;
 * returns >= 0 or -errno, runs after fork in a single-threaded process: only
 * async-signal-safe work), then exec. Returns the pid once exec succeeded; a failure
 * of fork, child_setup or exec comes back as -errno.
 */
int proc_spawn_detached(char *const argv[], int stdout_fd, const int *keep_fds, size_t nkeep,
			int (*child_setup)(void *), void *arg, pid_t *ret_pid);
/* The same; on failure *ret_step says where: the last step child_setup named with
 * proc_setup_step() (> 0) when it failed there, 0 when fork or exec failed. */
int proc_spawn_detached_step(char *const argv[], int stdout_fd, const int *keep_fds, size_t nkeep,
			     int (*child_setup)(void *), void *arg, pid_t *ret_pid, int *ret_step);
/* In child_setup: the work that follows is step (> 0), for the caller's error message. */
void proc_setup_step(int step);
/* child_setup's answer after it unshared CLONE_NEWPID: fork once more, so that the
 * program runs as pid 1 of the new namespace; its pid (in ours) is the one returned. */
#define PROC_SETUP_FORK 1

#endif
