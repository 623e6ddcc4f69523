// SPDX-License-Identifier: MIT
/* chan.h: the channel port to the host: finding it, the mux session on it, routing streams. */
#ifndef SBX_GUEST_CHAN_H
#define SBX_GUEST_CHAN_H

#include <stdint.h>

struct guest;

/*
 * The channel port has three states: NONE (not found yet, rescanned on a timer),
 * WAIT (open, but no host connected: the port reports POLLHUP and read() gives 0,
 * so it stays out of epoll and is polled on a timer) and UP (in epoll; input is
 * fed to the mux, output is flushed after every iteration).
 */
int chan_init(struct guest *g);
void chan_on_event(struct guest *g, uint32_t events);
/* Timer work: rescan/poll the port. */
void chan_tick(struct guest *g, uint64_t now);
/* ms until chan_tick wants to run, or -1. */
int chan_timeout(struct guest *g, uint64_t now);
void chan_flush(struct guest *g);

#endif
