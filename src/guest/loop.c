// SPDX-License-Identifier: MIT
/* loop.c: registering watched fds in the guest's epoll set (the loop itself is in main.c). */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "guest.h"
#include "loop.h"
#include "util.h"

int watch_set(struct guest *g, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	int r;

	if (w->fd < 0 || events == w->events)
		return 0;
	if (events == 0)
		r = epoll_ctl(g->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	else
		r = epoll_ctl(g->epfd, w->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd, &ev);
	if (r < 0) {
		log_debug("epoll_ctl fd %d: %m", w->fd);
		return -errno;
	}
	w->events = events;
	return 0;
}

void watch_close(struct guest *g, struct watch *w)
{
	if (w->fd < 0)
		return;
	(void)watch_set(g, w, 0);
	close(w->fd);
	w->fd = -1;
	w->events = 0;
}
