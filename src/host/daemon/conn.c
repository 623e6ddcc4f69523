// SPDX-License-Identifier: MIT
/* conn.c: a mux on a non-blocking stream socket in sbxd's loop (clients, guest channels). */
#include "conn.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mux.h"

void conn_close(int epfd, struct conn *c)
{
	ev_del(epfd, &c->ev);
	if (c->ev.fd >= 0)
		close(c->ev.fd);
	c->ev.fd = -1;
	if (c->mux)
		mux_free(c->mux);
	c->mux = NULL;
	c->eof = false;
	c->rx_hold = false;
}

bool conn_want_read(const struct conn *c)
{
	return c->mux && !c->rx_hold && !mux_rx_paused(c->mux);
}

int conn_flush(int epfd, struct conn *c)
{
	const uint8_t *p;
	size_t n;

	if (c->ev.fd < 0 || !c->mux)
		return 0;
	while ((n = mux_tx_peek(c->mux, &p)) > 0) {
		ssize_t w = send(c->ev.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		mux_tx_advance(c->mux, (size_t)w);
	}
	/* Not polling for input while held or paused: level-triggered, it would spin. */
	return ev_set(epfd, &c->ev, (conn_want_read(c) ? EPOLLIN : 0) | (n ? EPOLLOUT : 0));
}
