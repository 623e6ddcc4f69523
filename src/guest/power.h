// SPDX-License-Identifier: MIT
/* power.h: powering the VM off (PID 1 never exits). */
#ifndef SBX_GUEST_POWER_H
#define SBX_GUEST_POWER_H

struct guest;

/* Stop everything (SIGTERM, then SIGKILL, reaping), sync, unmount, power off.
 * g may be NULL before the guest is set up. Never returns. */
void guest_poweroff(struct guest *g, const char *why) __attribute__((noreturn));

#endif
