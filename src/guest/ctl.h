// SPDX-License-Identifier: MIT
/* ctl.h: stream 0 control messages (HELLO/CONFIG/READY/POWEROFF) and control replies on any stream. */
#ifndef SBX_GUEST_CTL_H
#define SBX_GUEST_CTL_H

#include <stddef.h>
#include <stdint.h>

struct guest;

void ctl_on_ctrl(struct guest *g, const uint8_t *data, size_t len);
/* Send CTRL {OP=op, MSG=msg if not NULL} on id. */
int ctl_send(struct guest *g, uint32_t id, uint32_t op, const char *msg);

#endif
