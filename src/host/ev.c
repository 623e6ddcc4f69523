// SPDX-License-Identifier: MIT
/* ev.c: registering the loop's fds in its epoll set (used by every module of sbxd). */
#include "ev.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "util.h"

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

int ev_listen_accept(int epfd, struct ev_listen *l, int *ret_fd)
{
	uint64_t now;
	int fd, err;

	if (l->resume_ms)
		return -EAGAIN;
	fd = accept4(l->ev.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0) {
		*ret_fd = fd;
		return 0;
	}
	err = errno;
	if (err == EAGAIN || err == EINTR || err == ECONNABORTED || err == EPROTO)
		return err == EAGAIN ? -EAGAIN : -err;
	/* EMFILE, ENFILE, ENOBUFS, ENOMEM: retrying now fails the same way. */
	now = now_ms();
	l->failed++;
	l->resume_ms = now + EV_LISTEN_PAUSE_MS;
	(void)ev_set(epfd, &l->ev, 0);
	if (!l->logged_ms || now - l->logged_ms >= EV_LISTEN_LOG_MS) {
		log_warn("%s: cannot accept connections: %s; pausing it for %u ms at a time (%lu failed attempts)",
			 l->what, strerror(err), EV_LISTEN_PAUSE_MS, l->failed);
		l->logged_ms = now;
		l->failed = 0;
	}
	return -EAGAIN;
}

void ev_listen_tick(int epfd, struct ev_listen *l, uint64_t now)
{
	if (!l->resume_ms || now < l->resume_ms)
		return;
	if (ev_set(epfd, &l->ev, EPOLLIN) == 0)
		l->resume_ms = 0;
}
