// SPDX-License-Identifier: MIT
/* ev.h: the typed epoll reference every fd of sbxd's loop carries (data.ptr). */
#ifndef SBX_EV_H
#define SBX_EV_H

#include <stdint.h>

enum ev_kind {
	EV_LISTEN,   /* control socket */
	EV_SIGNAL,
	EV_TIMER,
	EV_CLIENT,   /* obj: struct client */
	EV_CHAN,     /* obj: struct sandbox (guest channel) */
	EV_QEMU,     /* obj: struct sandbox (pidfd) */
	EV_PROXY,    /* obj: owned by proxy.c; dispatched to proxy_on_event() */
	EV_AGENT,    /* obj: owned by sshagent.c; dispatched to sshagent_on_event() */
};

struct evsrc {
	enum ev_kind kind;
	int fd;
	void *obj;
	uint32_t events;   /* currently registered; 0 = not in the epoll set */
};

/* ev.c. Register, change or drop (events 0) an fd in the loop; 0 or -errno. */
int ev_set(int epfd, struct evsrc *ev, uint32_t events);
/* Drop an fd from the loop (before closing it); never fails. */
void ev_del(int epfd, struct evsrc *ev);

#endif
