// SPDX-License-Identifier: MIT
/* loop.h: the event loop's registrations: what a watched fd is, and adding, changing, removing one. */
#ifndef SBX_GUEST_LOOP_H
#define SBX_GUEST_LOOP_H

#include <stdint.h>

struct guest;

/*
 * One thread, one epoll set, level-triggered. Every registered fd carries a
 * struct watch (epoll data.ptr) that says what it is and who owns it. main.c owns
 * the loop and dispatches on the kind; the handlers use only this file to register,
 * so no handler calls up into main.c. Owners that go away during an iteration are
 * unlinked at once but freed only at the end of the iteration (exec_collect(),
 * egress_collect()), so events already fetched for them are skipped safely (their
 * watch fd is -1).
 */
enum watch_kind {
	WATCH_SIGNAL,
	WATCH_PORT,
	WATCH_EXEC_OUT,    /* child's stdout pipe, or the pty master (also stdin then) */
	WATCH_EXEC_ERR,    /* child's stderr pipe */
	WATCH_EXEC_IN,     /* child's stdin pipe (write end) */
	WATCH_EXEC_STATUS, /* CLOEXEC pipe: EOF = exec succeeded; data = failure message */
	WATCH_EGRESS_LISTEN,   /* egress listener (proxy, transparent, DNS over TCP) */
	WATCH_EGRESS_RELAY,    /* a relayed proxy/tproxy connection */
	WATCH_EGRESS_DNS_UDP,  /* the DNS stub's UDP socket */
	WATCH_EGRESS_DNS_CONN, /* a DNS-over-TCP client connection */
	WATCH_SSH_AGENT_LISTEN, /* SSH_AUTH_SOCK (sshagent.c) */
	WATCH_WSYNC,           /* the workspace sync engine's socket (wsync.c) */
	WATCH_DOCKER_LISTEN,   /* /var/run/docker.sock until dockerd runs (dockerd.c) */
};

struct watch {
	int fd;               /* -1 when closed */
	enum watch_kind kind;
	uint32_t events;      /* currently registered events; 0 = not in epoll */
	void *owner;
};

/* Register w->fd in g's epoll set for events (0 = remove). No-op when w is closed
 * or already registered for exactly these events. */
int watch_set(struct guest *g, struct watch *w, uint32_t events);
/* Remove from epoll and close; w->fd becomes -1. Idempotent. */
void watch_close(struct guest *g, struct watch *w);

#endif
