// SPDX-License-Identifier: MIT
/* egress_port.c: published ports in the guest: a host-opened "tcp" stream becomes a
 * connection to 127.0.0.1 (then ::1) at its port, relayed like an egress connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "egress.h"
#include "guest.h"
#include "loop.h"
#include "mux.h"
#include "proto.h"
#include "tlv.h"
#include "util.h"

/* Start a non-blocking connect to the loopback address of the family at r->port. */
static int port_connect(struct relay *r, int family)
{
	union egress_addr a = { 0 };
	socklen_t alen;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (family == AF_INET6) {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(r->port);
		a.in6.sin6_addr = in6addr_loopback;
		alen = sizeof(a.in6);
	} else {
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(r->port);
		a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		alen = sizeof(a.in);
	}
	r->w = (struct watch){ .fd = fd, .kind = WATCH_EGRESS_RELAY, .owner = r };
	r->tried_v6 = family == AF_INET6;
	if (connect(fd, &a.sa, alen) == 0) {
		r->connecting = false;
		return 0;
	}
	if (errno == EINPROGRESS) {
		r->connecting = true;
		return 0;
	}
	return -errno;
}

/* The connection failed for good: tell the host why, RESET the stream. */
static void port_fail(struct relay *r, int err)
{
	struct guest *g = r->e->g;
	uint8_t buf[160];
	char msg[96];
	struct tlv_writer w;

	snprintf(msg, sizeof(msg), "cannot connect to port %u in the sandbox: %s", (unsigned)r->port, strerror(err));
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, OP_ERROR);
	tlv_put_str(&w, CTRL_MSG, msg);
	if (r->live && !w.err)
		(void)mux_send_ctrl(g->mux, r->id, buf, w.len);
	log_debug("egress: stream %u: %s", r->id, msg);
	relay_abort(r);
}

/* An attempt failed with err: after 127.0.0.1 try ::1 once; after ::1, fail. A ::1
 * that fails at once (no IPv6) reports the 127.0.0.1 error, the one that says more. */
static void port_retry(struct relay *r, int err)
{
	bool was_v6 = r->tried_v6;

	watch_close(r->e->g, &r->w);
	r->connecting = false;
	if (was_v6 || port_connect(r, AF_INET6) < 0) {
		port_fail(r, err);
		return;
	}
	relay_drain(r);
}

void egress_port_connected(struct relay *r)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(r->w.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	if (err) {
		port_retry(r, err);
		return;
	}
	r->connecting = false;
	relay_drain(r);   /* what the host sent while we connected, then poll for input */
}

bool egress_owns(struct guest *g, uint32_t id)
{
	struct estream *s = g->egress && id ? mux_get_user(g->mux, id) : NULL;

	return s && s->owner == STREAM_OWNER_EGRESS;
}

int egress_port_open(struct guest *g, uint32_t id, const uint8_t *args, size_t len)
{
	struct egress *e = g->egress;
	struct tlv_reader rd;
	const uint8_t *val;
	uint32_t vlen, port = 0;
	uint16_t tag;
	struct relay *r;
	int rc;

	if (!e)
		return -EOPNOTSUPP;
	tlv_reader_init(&rd, args, len);
	while ((rc = tlv_next(&rd, &tag, &val, &vlen)) > 0)
		if (tag == OPEN_DST_PORT && tlv_u32(val, vlen, &port) < 0)
			return -EPROTO;
	if (rc < 0 || port == 0 || port > 65535)
		return -EPROTO;
	r = xcalloc(1, sizeof(*r));
	r->s.owner = STREAM_OWNER_EGRESS;
	r->s.kind = ESTREAM_RELAY;
	r->e = e;
	r->kind = RELAY_PORT;
	r->id = id;
	r->live = true;
	r->port = (uint16_t)port;
	r->w = (struct watch){ .fd = -1, .kind = WATCH_EGRESS_RELAY, .owner = r };
	r->next = e->relays;
	e->relays = r;
	e->port_n++;
	mux_set_user(g->mux, id, r);
	if (e->port_n > EGRESS_MAX_PORT_RELAYS) {
		port_fail(r, EMFILE);
		return 0;
	}
	rc = port_connect(r, AF_INET);
	if (rc < 0) {
		port_retry(r, -rc);
		return 0;
	}
	log_debug("egress: stream %u: published port %u%s", id, (unsigned)port, r->connecting ? " (connecting)" : "");
	relay_update(r);
	return 0;
}

