// SPDX-License-Identifier: MIT
/* egress_streams.c: guest-opened egress streams (proxy, tproxy, dns) handed to the proxy engine.
 *
 * Ownership: a struct egress lives while its guest stream does. The engine's pconn is
 * freed either by the engine itself right after it calls ops->reset, or by us with
 * proxy_conn_abort() when the stream ends (both sides closed, peer RESET, session end).
 * Both sides closing can complete inside an engine callback, where freeing the pconn
 * would pull it from under the engine: such egresses are parked on a list and freed
 * from egress_reap() at the end of the loop turn. A stream that ends from the guest's
 * side (RESET, CLOSE, session end) is seen from the mux's parser, outside any engine
 * callback: its pconn, and so its upstream socket, goes at once, so a guest that loops
 * OPEN + CONNECT + RESET cannot pile sockets up within a turn.
 *
 * Bounds: a sandbox has at most EGRESS_MAX_PER_SANDBOX live egress streams, the daemon
 * at most d->egress_max (EGRESS_MAX_TOTAL, lower when RLIMIT_NOFILE is low). Each holds
 * at most one upstream socket (or pending connect, or agent connection). An OPEN past
 * either cap is accepted only to be answered with OP_ERROR (the reason) and RESET; it is
 * logged and audited at most once a second per sandbox, with a count.
 */
#include "egress_streams.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "daemon.h"
#include "idle.h"
#include "mux.h"
#include "proto.h"
#include "proxy.h"
#include "sshagent.h"
#include "tlv.h"
#include "util.h"

struct egress {
	struct egress *next_dead;
	struct egress *live_next, *live_prev;   /* sb->egresses while not dead */
	struct sandbox *sb;
	uint32_t id;
	struct pconn *pc;            /* proxy, tproxy, dns */
	struct sshagent_conn *ac;    /* ssh-agent */
	bool local_closed, remote_closed, dead;
	bool tx_waiting;             /* a write found the channel's output full */
};

#define EGRESS_REFUSE_LOG_MS 1000u

static struct mux *egress_mux(struct egress *e)
{
	return e->sb->chan.mux;
}

static size_t mux_tx_len(struct mux *m)
{
	const uint8_t *p;

	return mux_tx_peek(m, &p);
}

static void egress_kill(struct egress *e)
{
	struct sbxd *d = e->sb->d;

	if (e->dead)
		return;
	e->dead = true;
	e->sb->egress_n--;
	d->egress_n--;
	if (e->live_prev)
		e->live_prev->live_next = e->live_next;
	else
		e->sb->egresses = e->live_next;
	if (e->live_next)
		e->live_next->live_prev = e->live_prev;
	if (egress_mux(e))
		mux_set_user(egress_mux(e), e->id, NULL);
	e->next_dead = d->egress_dead;
	d->egress_dead = e;
}

/* Outside engine callbacks only: the upstream side of a dead egress goes now. */
static void egress_drop_upstream(struct egress *e)
{
	if (e->dead && e->pc) {
		proxy_conn_abort(e->pc);
		e->pc = NULL;
	}
}

/* Over a cap: explain on the stream, reset it; log and audit at most once a second. */
static void egress_refuse(struct sandbox *sb, uint32_t id, const char *path, const char *why)
{
	struct sbxd *d = sb->d;
	_cleanup_free_ char *reason = NULL;
	uint64_t now = now_ms();
	uint8_t buf[256];
	struct tlv_writer w;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, OP_ERROR);
	tlv_put(&w, CTRL_MSG, why, (uint32_t)strlen(why));
	(void)mux_send_ctrl(sb->chan.mux, id, buf, w.len);
	(void)mux_reset(sb->chan.mux, id);
	sb->egress_refused++;
	if (sb->egress_refused_ms && now - sb->egress_refused_ms < EGRESS_REFUSE_LOG_MS)
		return;
	reason = xasprintf("%s (%lu refused)", why, sb->egress_refused);
	log_warn("%s: %s", sb->spec.name, reason);
	audit_write(d->audit, &(struct audit_entry){ .sandbox = sb->spec.name, .path = path, .allowed = false,
						     .reason = reason });
	sb->egress_refused_ms = now;
	sb->egress_refused = 0;
}

/* false when one more egress stream fits, else true and the reason in why. */
static bool egress_over_cap(struct sandbox *sb, char *why, size_t n)
{
	if (sb->egress_n >= EGRESS_MAX_PER_SANDBOX)
		snprintf(why, n, "too many connections from this sandbox (%u at once)", EGRESS_MAX_PER_SANDBOX);
	else if (sb->d->egress_n >= sb->d->egress_max)
		snprintf(why, n, "too many connections through sbxd (%u at once for all sandboxes)", sb->d->egress_max);
	else
		return false;
	return true;
}

static void egress_refill(struct sandbox *sb, uint64_t now)
{
	uint64_t add;

	if (!sb->open_refill_ms) {
		sb->open_tokens = EGRESS_OPEN_BURST;
		sb->open_refill_ms = now;
		return;
	}
	add = (now - sb->open_refill_ms) * EGRESS_OPEN_RATE / 1000;
	if (add > 0) {
		/* a debt (OPENs read past the bucket) is paid off first */
		add = MIN(add, (uint64_t)EGRESS_OPEN_BURST * 4);
		sb->open_tokens = MIN((int64_t)EGRESS_OPEN_BURST, sb->open_tokens + (int64_t)add);
		sb->open_refill_ms = now;
	}
}

/* Every OPEN takes a token; with none left the channel is not read until egress_tick()
 * finds the bucket refilled. The OPENs already read are still served. */
static void egress_take_open(struct sandbox *sb)
{
	egress_refill(sb, now_ms());
	if (--sb->open_tokens <= 0)
		sb->chan.rx_hold = true;
}

void egress_tick(struct sandbox *sb, uint64_t now)
{
	if (!sb->chan.rx_hold)
		return;
	egress_refill(sb, now);
	if (sb->open_tokens > 0)
		sb->chan.rx_hold = false;   /* the loop's flush polls the channel again */
}

bool egress_tx_room(struct sandbox *sb)
{
	struct egress *e, *next;

	if (!sb->egress_tx_waiting || !sb->chan.mux || mux_tx_len(sb->chan.mux) >= EGRESS_TX_HIGH / 2)
		return false;
	sb->egress_tx_waiting = false;
	for (e = sb->egresses; e; e = next) {
		next = e->live_next;   /* only e's own callbacks run below */
		if (e->tx_waiting) {
			e->tx_waiting = false;
			egress_window(e);
		}
	}
	return true;
}

static void egress_add(struct sandbox *sb, struct egress *e)
{
	e->live_next = sb->egresses;
	if (sb->egresses)
		sb->egresses->live_prev = e;
	sb->egresses = e;
	sb->egress_n++;
	sb->d->egress_n++;
	idle_touch(sb, now_ms());
	mux_set_user(sb->chan.mux, e->id, e);
}

static size_t down_write(void *down, const uint8_t *data, size_t len)
{
	struct egress *e = down;
	long w;

	if (e->dead || e->local_closed || !egress_mux(e))
		return 0;
	if (mux_tx_len(egress_mux(e)) >= EGRESS_TX_HIGH) {
		/* The guest is not reading: wait like for credit; egress_tx_room() wakes us. */
		e->tx_waiting = true;
		e->sb->egress_tx_waiting = true;
		return 0;
	}
	w = mux_write(egress_mux(e), e->id, 0, data, len);
	return w > 0 ? (size_t)w : 0;
}

static void down_consumed(void *down, size_t n)
{
	struct egress *e = down;

	while (!e->dead && egress_mux(e) && n > 0) {
		uint32_t g = (uint32_t)MIN(n, (size_t)UINT32_MAX / 2);
		(void)mux_grant(egress_mux(e), e->id, g);
		n -= g;
	}
}

static void down_close(void *down)
{
	struct egress *e = down;

	if (e->dead || e->local_closed)
		return;
	e->local_closed = true;
	if (egress_mux(e))
		(void)mux_close(egress_mux(e), e->id);
	if (e->remote_closed)
		egress_kill(e);
}

static void down_reset(void *down)
{
	struct egress *e = down;

	if (e->dead)
		return;
	if (egress_mux(e))
		(void)mux_reset(egress_mux(e), e->id);
	e->pc = NULL; /* the engine frees it; an agent conn is freed by egress_reap() */
	egress_kill(e);
}

static const struct proxy_down_ops down_ops = {
	.write = down_write,
	.consumed = down_consumed,
	.close = down_close,
	.reset = down_reset,
};

int egress_open(struct sandbox *sb, uint32_t id, const uint8_t *args, size_t len)
{
	struct tlv_reader rd;
	uint16_t tag;
	const uint8_t *v;
	uint32_t vlen, port = 0, dns_tcp = 0;
	_cleanup_free_ char *kind = NULL;
	struct sockaddr_storage dst = { 0 };
	bool have_addr = false;
	enum proxy_path path;
	struct egress *e;
	char over[128];
	int r;

	egress_take_open(sb);
	if (!sb->d->proxy)
		return -EOPNOTSUPP;
	tlv_reader_init(&rd, args, len);
	while ((r = tlv_next(&rd, &tag, &v, &vlen)) > 0) {
		if (tag == OPEN_KIND && !kind) {
			if (tlv_str(v, vlen, &kind) < 0)
				return -EPROTO;
		} else if (tag == OPEN_DST_ADDR && vlen == 4) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&dst;
			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, v, 4);
			have_addr = true;
		} else if (tag == OPEN_DST_ADDR && vlen == 16) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&dst;
			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, v, 16);
			have_addr = true;
		} else if (tag == OPEN_DST_PORT) {
			if (tlv_u32(v, vlen, &port) < 0 || port == 0 || port > 65535)
				return -EPROTO;
		} else if (tag == OPEN_DNS_TCP) {
			if (tlv_u32(v, vlen, &dns_tcp) < 0)
				return -EPROTO;
		}
	}
	if (r < 0 || !kind)
		return -EPROTO;
	if (egress_over_cap(sb, over, sizeof(over))) {
		egress_refuse(sb, id, !strcmp(kind, "tproxy") ? "transparent" : !strcmp(kind, "dns") ? "dns" : "forward", over);
		return 0;
	}
	if (!strcmp(kind, "proxy")) {
		path = PROXY_FORWARD;
	} else if (!strcmp(kind, "tproxy")) {
		if (!have_addr || !port)
			return -EPROTO;
		path = PROXY_TRANSPARENT;
		if (dst.ss_family == AF_INET)
			((struct sockaddr_in *)&dst)->sin_port = htons((uint16_t)port);
		else
			((struct sockaddr_in6 *)&dst)->sin6_port = htons((uint16_t)port);
	} else if (!strcmp(kind, "dns")) {
		path = PROXY_DNS;
	} else if (!strcmp(kind, "ssh-agent")) {
		if (!sb->agent_sock || !sb->agent_enabled)
			return -EOPNOTSUPP;
		e = xcalloc(1, sizeof(*e));
		e->sb = sb;
		e->id = id;
		e->ac = sshagent_conn_new(sb->d->epfd, sb->agent_sock, sb->spec.name, sb->d->audit, &down_ops, e);
		if (!e->ac) {
			free(e);
			return -ENOMEM;
		}
		egress_add(sb, e);
		return 0;
	} else {
		return -EOPNOTSUPP;
	}
	e = xcalloc(1, sizeof(*e));
	e->sb = sb;
	e->id = id;
	e->pc = proxy_conn_new(sb->d->proxy, path, sb->spec.name, path == PROXY_TRANSPARENT ? (struct sockaddr *)&dst : NULL,
			       dns_tcp != 0, &down_ops, e);
	if (!e->pc) {
		free(e);
		return -ENOMEM;
	}
	egress_add(sb, e);
	return 0;
}

void egress_data(struct egress *e, const uint8_t *data, size_t len)
{
	if (!e->dead && e->pc)
		proxy_conn_input(e->pc, data, len);
	else if (!e->dead && e->ac)
		sshagent_conn_input(e->ac, data, len);
}

void egress_window(struct egress *e)
{
	if (!e->dead && e->pc)
		proxy_conn_writable(e->pc);
	else if (!e->dead && e->ac)
		sshagent_conn_writable(e->ac);
}

void egress_close(struct egress *e)
{
	if (e->dead)
		return;
	e->remote_closed = true;
	if (e->pc)
		proxy_conn_input_eof(e->pc);
	else if (e->ac)
		sshagent_conn_input_eof(e->ac);
	if (e->local_closed)
		egress_kill(e);
	egress_drop_upstream(e);   /* the engine's callbacks have returned */
}

void egress_reset(struct egress *e)
{
	/* The guest stream is gone (peer RESET or session end): so is its upstream. */
	egress_kill(e);
	egress_drop_upstream(e);
}

void egress_reap(struct sbxd *d)
{
	while (d->egress_dead) {
		struct egress *e = d->egress_dead;
		d->egress_dead = e->next_dead;
		if (e->pc)
			proxy_conn_abort(e->pc);
		if (e->ac)
			sshagent_conn_abort(e->ac);
		free(e);
	}
}
