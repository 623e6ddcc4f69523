// SPDX-License-Identifier: MIT
/* ev.h: the typed epoll reference every fd of sbxd's loop carries (data.ptr). */
#ifndef SBX_EV_H
#define SBX_EV_H

#include <stdint.h>
#include <stdbool.h>

enum ev_kind {
	EV_LISTEN,   /* control socket */
	EV_SIGNAL,
	EV_TIMER,
	EV_CLIENT,   /* obj: struct client */
	EV_CHAN,     /* obj: struct sandbox (guest channel) */
	EV_QEMU,     /* obj: struct sandbox (pidfd) */
	EV_PROXY,    /* obj: owned by proxy.c; dispatched to proxy_on_event() */
	EV_AGENT,    /* obj: owned by sshagent.c; dispatched to sshagent_on_event() */
	EV_PORT_LISTEN, /* obj: owned by ports.c (a published port); to ports_on_event() */
	EV_PORT_CONN,   /* obj: owned by ports.c (one of its connections); to ports_on_event() */
	EV_WSYNC,       /* obj: owned by wsync_host.c (a sync-mode workspace's inotify); to wsync_host_on_event() */
	EV_WSYNC_WRITER, /* obj: owned by wsync_writer.c (the writer's socket); to wsync_writer_on_event() */
};

struct evsrc {
	enum ev_kind kind;
	int fd;
	void *obj;
	uint32_t events;   /* currently registered; 0 = not in the epoll set */
};

/*
 * A listening socket in a level-triggered loop. When the process runs out of fds,
 * accept4() fails with EMFILE/ENFILE and leaves the connection queued, so the listener
 * stays readable and would wake the loop forever. ev_listen_accept() then takes the
 * listener out of the loop for EV_LISTEN_PAUSE_MS (ev_listen_tick() puts it back; a
 * freed fd is used by the next attempt) and logs at most once per EV_LISTEN_LOG_MS.
 */
#define EV_LISTEN_PAUSE_MS 100u
#define EV_LISTEN_LOG_MS 10000u
#define EV_LISTEN_BATCH 32   /* accepts per wake-up, so a connect flood cannot hog a turn */

struct ev_listen {
	struct evsrc ev;
	const char *what;     /* for the log: "control socket", "proxy-bench listener" */
	uint64_t resume_ms;   /* paused until then; 0 = in the loop */
	uint64_t logged_ms;   /* last warning */
	unsigned long failed; /* accepts that failed for lack of fds since that warning */
};

/* One accept4() (non-blocking, close-on-exec). 0 and *ret_fd; -EAGAIN when nothing is
 * queued or the listener is paused; another -errno for a connection that failed. */
int ev_listen_accept(int epfd, struct ev_listen *l, int *ret_fd);
/* From the loop's periodic timer: resume a paused listener whose pause is over. */
void ev_listen_tick(int epfd, struct ev_listen *l, uint64_t now);

/* ev.c. Register, change or drop (events 0) an fd in the loop; 0 or -errno. */
int ev_set(int epfd, struct evsrc *ev, uint32_t events);
/* Drop an fd from the loop (before closing it); never fails. */
void ev_del(int epfd, struct evsrc *ev);

#endif
