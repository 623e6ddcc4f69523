// SPDX-License-Identifier: MIT
/* ports.h: published ports: the listening sockets sbxd holds on the host for a running
 * sandbox, and every accepted connection relayed to a host-opened "tcp" stream on the
 * guest channel (the guest connects to 127.0.0.1 or ::1 at the guest port). */
#ifndef SBX_PORTS_H
#define SBX_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portspec.h"

/*
 * Theory of operation.
 *
 * A sandbox's spec lists its published ports. While it runs (SB_RUNNING, from the
 * guest's READY to the stop), sbxd listens on each; ports_listen() binds what is not
 * bound yet and ports_close() closes listeners and connections when it stops. A bind
 * that fails while the sandbox runs (a daemon restart that lost a race for the port)
 * is retried every PORTS_RETRY_MS and shown by `sbx ports`; starts and publishes check
 * first (ports_check_free) so that a port in use is an error before anything changes.
 *
 * Each accepted connection opens one stream (OPEN_KIND "tcp", OPEN_DST_PORT); bytes
 * move within the mux's credit both ways: the host socket is read only while the
 * stream has credit and the channel's output holds less than EGRESS_TX_HIGH, and the
 * guest's bytes wait in a queue bounded by the credit we gave (MUX_WINDOW_INIT) until
 * the host socket takes them. EOF becomes CLOSE and CLOSE becomes shutdown(SHUT_WR);
 * a RESET either way aborts the connection (RST to the host client).
 *
 * The listeners relay host -> guest only: nothing the guest sends can open a stream to
 * them, and they are bound on the address the user named (127.0.0.1 by default).
 *
 * Bounds: PORTSPEC_MAX listeners per sandbox; PORTS_CONN_MAX live connections per
 * sandbox (host-opened streams share MUX_MAX_STREAMS with exec sessions and the
 * guest's EGRESS_MAX_RELAYS) and PORTS_CONN_MAX_TOTAL for sbxd; past them a connection
 * is accepted and closed at once.
 */
#define PORTS_CONN_MAX 128u
#define PORTS_CONN_MAX_TOTAL 1024u
#define PORTS_RETRY_MS 5000u

struct port_conn;
struct sandbox;
struct sbxd;
struct evsrc;

/* 0 when every port of list[0..n) can be bound now (each is bound and closed again),
 * else -errno and *ret_err (malloc'd) naming the first that cannot. Ports sb already
 * listens on count as free (sb may be NULL). */
int ports_check_free(struct sandbox *sb, const struct portspec *list, size_t n, char **ret_err);
/* The sandbox runs: listen on every published port not listened on yet. */
void ports_listen(struct sandbox *sb);
/* The sandbox stops: close every listener and connection. */
void ports_close(struct sandbox *sb);
/* Unpublish del[0..ndel) (matched by address and host port; a guest port of 0 matches
 * any), then publish add[0..nadd), listening at once when sb runs; spec.json is saved.
 * All or nothing: 0, or -errno and *ret_err with nothing changed. */
int ports_update(struct sandbox *sb, const struct portspec *add, size_t nadd, const struct portspec *del, size_t ndel,
		 char **ret_err);
/* Whether spec port i is listened on now; when not and it failed, *ret_why (static). */
bool ports_listening(struct sandbox *sb, const struct portspec *p, const char **ret_why);

/* From the loop: a listener or connection fd (EV_PORT). */
void ports_on_event(struct evsrc *ev, uint32_t events);
/* Right after the loop flushed sb's channel: wake connections that waited for room. */
bool ports_tx_room(struct sandbox *sb);
/* Periodic: retry failed binds, resume listeners paused for lack of fds. */
void ports_tick(struct sandbox *sb, uint64_t now);
/* Free what ended during this loop turn. */
void ports_reap(struct sbxd *d);

/* The guest channel's callbacks for a stream a connection owns (guestchan.c). */
void ports_guest_data(struct port_conn *pc, const uint8_t *data, size_t len);
void ports_guest_ctrl(struct port_conn *pc, const uint8_t *data, size_t len);
void ports_guest_window(struct port_conn *pc);
void ports_guest_close(struct port_conn *pc);
void ports_guest_reset(struct port_conn *pc);

#endif
