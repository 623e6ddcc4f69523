// SPDX-License-Identifier: MIT
/* vm_int.h: what the VM modules (vm*.c) share. Not for sbxd. */
#ifndef SBX_VM_INT_H
#define SBX_VM_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct vm_config;

#define VM_VIRTIOFSD_DEFAULT "/usr/lib/qemu/virtiofsd"

/* An absolute path QEMU's option syntax can carry (no newline). */
bool vm_path_ok(const char *p);
/* Wait until QEMU answers QMP on fd (0), or it exited (-ECONNRESET), misbehaved
 * (-EPROTO) or took longer than timeout_ms (-ETIMEDOUT). */
int qmp_wait_ready(int fd, int timeout_ms);
/* QEMU reads kernel and initramfs by path under its own ids: make path readable by
 * others if we own it, else -EACCES with *ret_err naming the chmod that fixes it. */
int vmm_readable(const char *path, char **ret_err);
/* Start the sandbox's virtiofsd on listen_fd (vm_vfsd.c); *ret_err says why not, where
 * more than an errno can. */
int vfsd_spawn(const struct vm_config *c, int listen_fd, int log_fd, pid_t *ret_pid, char **ret_err);

#endif
