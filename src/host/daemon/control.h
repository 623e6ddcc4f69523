// SPDX-License-Identifier: MIT
/* control.h: sbxd's control socket and its clients (struct client, in sbxd.h); the
 * loop (daemon.c) hands their events here and reaps the dead ones. */
#ifndef SBX_CONTROL_H
#define SBX_CONTROL_H

#include <stdbool.h>

#include "sbxd.h"

/* The listener is readable: accept a batch of clients (the owner's uid only). */
void control_accept(struct sbxd *d);
/* The client's socket is readable; hup: the peer hung up (or errored): read on even
 * when paused, to see the end, rather than leave a level-triggered EPOLLHUP waking
 * the loop. A client that must go is marked dead, for the loop to free. */
void control_read(struct client *cl, bool hup);
/* Free a dead client (unlinked by the caller); its exec relays end. */
void control_free(struct sbxd *d, struct client *cl);
/* A sandbox's state changed: answer the clients waiting for it (sbxd.sandbox_changed). */
void control_notify(struct sbxd *d, struct sandbox *sb);
/* sb is about to be freed: the clients waiting for it are told it was removed. */
void control_sandbox_removed(struct sbxd *d, struct sandbox *sb);

#endif
