// SPDX-License-Identifier: MIT
/* exec_relay.h: exec sessions: a client's stream relayed 1:1 to a guest stream (struct
 * relay, in sbxd.h). The relay calls nothing above itself: the sandbox starts the
 * VM (sandbox_exec) and the guest channel tells it when the guest is ready. */
#ifndef SBX_RELAY_H
#define SBX_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "sbxd.h"

struct json_object;

/* 0 when req is an exec request the guest can be given, else -errno and *ret_err. */
int relay_check(struct json_object *req, char **ret_err);
/* A relay for a checked request (taken) on client stream cid; opened at once when
 * the sandbox runs, else by relay_open_guest once the guest is ready. */
void relay_new(struct client *cl, uint32_t cid, struct sandbox *sb, struct json_object *req);
/* What the client's stream carried. */
void relay_client_data(struct relay *r, uint16_t flags, const uint8_t *data, size_t len);
void relay_client_ctrl(struct relay *r, const uint8_t *data, size_t len);
void relay_client_window(struct relay *r, uint32_t credit);
void relay_client_close(struct relay *r);
void relay_client_gone(struct relay *r);   /* client reset the stream or disconnected */
void relays_detach_client(struct sbxd *d, struct client *cl);
/* For the guest channel (guestchan.c) and the lifecycle (sandbox.c). */
void relay_open_guest(struct relay *r);   /* the guest is ready: open its stream */
void relay_fail(struct relay *r, const char *msg);   /* tell the client, end both streams */
void relay_free(struct relay *r);

#endif
