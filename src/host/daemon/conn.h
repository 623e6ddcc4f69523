// SPDX-License-Identifier: MIT
/* conn.h: a mux on a non-blocking stream socket in sbxd's loop (clients, guest channels). */
#ifndef SBX_CONN_H
#define SBX_CONN_H

#include <stdbool.h>

#include "ev.h"

struct mux;

/* Fairness: one wake-up reads at most CONN_READ_BUDGET bytes from a peer, in recv()s
 * of at most CONN_READ_CHUNK; the rest waits for the next loop turn (the fd stays
 * readable, level-triggered), after every other ready fd had its turn. */
#define CONN_READ_BUDGET (256u * 1024u)
#define CONN_READ_CHUNK (32u * 1024u)

struct conn {
	struct evsrc ev;   /* fd -1 when not connected */
	struct mux *mux;   /* owned */
	bool eof;
	bool rx_hold;      /* the owner does not want input now (e.g. a rate limit) */
};

/* Whether to read from the peer now: not held by the owner, mux not paused. */
bool conn_want_read(const struct conn *c);

/* Drop the fd from the loop, close it and free the mux. */
void conn_close(int epfd, struct conn *c);
/* Write what the mux has queued; keep EPOLLOUT only while bytes remain, EPOLLIN only
 * while conn_want_read(). 0 or -errno. */
int conn_flush(int epfd, struct conn *c);

#endif
