// SPDX-License-Identifier: MIT
/* ev.c: registering the loop's fds in its epoll set (used by every module of sbxd). */
#include "ev.h"

#include <errno.h>
#include <stddef.h>
#include <sys/epoll.h>

int ev_set(int epfd, struct evsrc *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };
	int op;

	if (ev->fd < 0 || ev->events == events)
		return 0;
	op = ev->events ? (events ? EPOLL_CTL_MOD : EPOLL_CTL_DEL) : EPOLL_CTL_ADD;
	if (epoll_ctl(epfd, op, ev->fd, &e) < 0)
		return -errno;
	ev->events = events;
	return 0;
}

void ev_del(int epfd, struct evsrc *ev)
{
	if (ev->fd >= 0 && ev->events)
		(void)epoll_ctl(epfd, EPOLL_CTL_DEL, ev->fd, NULL);
	ev->events = 0;
}
