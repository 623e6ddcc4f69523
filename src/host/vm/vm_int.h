// SPDX-License-Identifier: MIT
/* vm_int.h: what the VM modules (vm*.c) share. Not for sbxd. */
#ifndef SBX_VM_INT_H
#define SBX_VM_INT_H

#include <stdbool.h>

/* An absolute path QEMU's option syntax can carry (no newline). */
bool vm_path_ok(const char *p);
/* Wait until QEMU answers QMP on fd (0), or it exited (-ECONNRESET), misbehaved
 * (-EPROTO) or took longer than timeout_ms (-ETIMEDOUT). */
int qmp_wait_ready(int fd, int timeout_ms);
/* QEMU reads kernel and initramfs by path under its own ids: make path readable by
 * others if we own it, else -EACCES with *ret_err naming the chmod that fixes it. */
int vmm_readable(const char *path, char **ret_err);

#endif
