// SPDX-License-Identifier: MIT
/* conn.h: a mux on a non-blocking stream socket in sbxd's loop (clients, guest channels). */
#ifndef SBX_CONN_H
#define SBX_CONN_H

#include <stdbool.h>

#include "ev.h"

struct mux;

struct conn {
	struct evsrc ev;   /* fd -1 when not connected */
	struct mux *mux;   /* owned */
	bool eof;
};

/* Drop the fd from the loop, close it and free the mux. */
void conn_close(int epfd, struct conn *c);
/* Write what the mux has queued; keep EPOLLOUT only while bytes remain. 0 or -errno. */
int conn_flush(int epfd, struct conn *c);

#endif
