// SPDX-License-Identifier: MIT
/* guestchan.h: the host side of a sandbox's guest channel: the mux session with
 * sbx-guest over the VM's ctl.sock, its handshake and control messages, and the
 * dispatch of its streams to exec relays (odd ids) and egress (even ids). */
#ifndef SBX_GUESTCHAN_H
#define SBX_GUESTCHAN_H

#include <stdint.h>

struct sandbox;

/* What the channel tells the owner of the sandbox's lifecycle (sandbox.c), which
 * hands these to guestchan_connect: the guest said READY while the sandbox was
 * starting, or it cannot come up (why is taken). The channel calls nothing else
 * above itself. */
struct guestchan_events {
	void (*ready)(struct sandbox *sb);
	void (*failed)(struct sandbox *sb, char *why);
	/* a warm pool VM (sb->pooled) said HELLO: it is booted; nothing is sent to it */
	void (*pool_ready)(struct sandbox *sb);
};

/* Connect to the VM's channel socket and say HELLO; the guest answers once it runs. */
int guestchan_connect(struct sandbox *sb, const struct guestchan_events *events);
/* Close the channel; every stream still open (egress ones included) is reset first. */
void guestchan_drop(struct sandbox *sb);
/* The channel's fd is readable (EV_CHAN): read within the loop's budget. */
void guestchan_on_event(struct sandbox *sb, uint32_t events);
/* Send OP_CONFIG: the name, workspace, users, environment, CA, seed (at HELLO, and
 * for a claimed pool VM at its claim). */
void guestchan_configure(struct sandbox *sb);
/* Ask the guest to power off (OP_POWEROFF). */
void guestchan_poweroff(struct sandbox *sb);

#endif
