// SPDX-License-Identifier: MIT
/* dockerd.h: the VM's own Docker Engine, started on the first connection to its socket. */
#ifndef SBX_GUEST_DOCKERD_H
#define SBX_GUEST_DOCKERD_H

#include <stdbool.h>
#include <sys/types.h>

struct guest;

struct watch;

/* When the root disk has dockerd: listen on /var/run/docker.sock (root:docker 0660)
 * for the first client. Called after each configuration; idempotent. */
void dockerd_arm(struct guest *g);
/* WATCH_DOCKER_LISTEN: a client waits in the backlog; start dockerd with the socket. */
void dockerd_on_event(struct guest *g, struct watch *w, uint32_t events);
/* The reaper saw pid exit: true when it was dockerd (then the socket is watched again,
 * or given up after repeated quick exits). */
bool dockerd_exited(struct guest *g, pid_t pid, int wstatus);

#endif
