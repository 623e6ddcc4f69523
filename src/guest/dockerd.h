// SPDX-License-Identifier: MIT
/* dockerd.h: the VM's own Docker Engine, started once when the root disk has one. */
#ifndef SBX_GUEST_DOCKERD_H
#define SBX_GUEST_DOCKERD_H

#include <stdbool.h>
#include <sys/types.h>

struct guest;

void dockerd_start(struct guest *g);
/* The reaper saw pid exit: true when it was dockerd. */
bool dockerd_exited(struct guest *g, pid_t pid, int wstatus);

#endif
