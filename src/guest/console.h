// SPDX-License-Identifier: MIT
/* console.h: the VM console: stdio on /dev/console and the boot markers the host waits for. */
#ifndef SBX_GUEST_CONSOLE_H
#define SBX_GUEST_CONSOLE_H

#include <stdint.h>

/* Make fds 0-2 the console (or /dev/null when there is none). */
void console_setup(void);
/* Write one line to the console, without prefix (boot markers: SBX-GUEST-*). */
void console_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Milliseconds since the kernel booted (CLOCK_BOOTTIME), for markers and HELLO. */
uint64_t uptime_ms(void);

#endif
