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

#endif
