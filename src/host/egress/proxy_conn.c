// SPDX-License-Identifier: MIT
/* proxy_conn.c: the egress engine's connections: their life and death, the upstream
 * socket (connect, read, write, epoll interest), the downstream entry points and what
 * a deadline does in each state. The engine itself (policy, settings, resolver,
 * audit) is proxy.c; the theory of operation is at its top. */
#include "proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "proxy_int.h"
#include "proxy_tls.h"
#include "util.h"

/* ---- connections ---- */

struct pconn *proxy_conn_new(struct proxy *px, enum proxy_path path, const char *sandbox,
			     const struct sockaddr *orig_dst, bool dns_tcp,
			     const struct proxy_down_ops *ops, void *down)
{
	struct pconn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->sandbox = strdup(sandbox ? sandbox : "");
	if (!c->sandbox) {
		free(c);
		return NULL;
	}
	c->px = px;
	c->path = path;
	c->ops = ops;
	c->down = down;
	c->dns_tcp = dns_tcp;
	c->uev = (struct evsrc){ .kind = EV_PROXY, .fd = -1, .obj = c };
	buf_init(&c->in, PROXY_IN_MAX);
	buf_init(&c->out, PROXY_OUT_MAX);
	buf_init(&c->uout, PROXY_UOUT_MAX);
	buf_init(&c->uin, HTTP_HEAD_MAX + 64 * 1024);
	switch (path) {
	case PROXY_FORWARD:
		c->st = PS_HEAD;
		http_scan_init(&c->scan, true);
		c->deadline = now_ms() + PROXY_HEAD_TIMEOUT_MS;
		break;
	case PROXY_TRANSPARENT:
		c->st = PS_PEEK;
		http_scan_init(&c->scan, true);
		if (orig_dst && (orig_dst->sa_family == AF_INET || orig_dst->sa_family == AF_INET6)) {
			memcpy(&c->orig, orig_dst,
			       orig_dst->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
			c->have_orig = true;
		}
		c->deadline = now_ms() + PROXY_HEAD_TIMEOUT_MS;
		if (c->have_orig && c->orig.ss_family == AF_INET) {
			uint32_t a = ntohl(((struct sockaddr_in *)&c->orig)->sin_addr.s_addr);
			struct dns_table *t = proxy_sandbox_table(px, c->sandbox, false);
			/* a name we answered: server-first protocols need not wait long */
			if (dns_addr_is_synthetic(a) && t && dns_table_name(t, a))
				c->deadline = now_ms() + 1000;
		}
		break;
	case PROXY_DNS:
		c->st = PS_DNS_READ;
		c->deadline = now_ms() + 10000;
		break;
	}
	c->next = px->conns;
	if (px->conns)
		px->conns->prev = c;
	px->conns = c;
	return c;
}

void pconn_up_close(struct pconn *c)
{
	if (c->uev.fd >= 0) {
		ev_set(c->px->epfd, &c->uev, 0);
		close(c->uev.fd);
		c->uev.fd = -1;
		c->uev.events = 0;
	}
	c->u_connected = c->u_eof = c->u_shut = false;
	buf_free(&c->uout);
	buf_free(&c->uin);
	c->body_pending = 0;
	free(c->ukey);
	c->ukey = NULL;
}

void proxy_route_clear(struct proute *rt)
{
	free(rt->host);
	memset(rt, 0, sizeof(*rt));
}

void pconn_exchange_clear(struct pconn *c)
{
	http_msg_clear(&c->req);
	http_msg_clear(&c->resp);
	c->have_req = c->have_resp = c->resp_done = c->is_connect = c->head_req = false;
	c->status = 0;
	c->resp_hl = 0;
	free(c->req_path);
	c->req_path = NULL;
	http_scan_init(&c->scan, true);
}

void pconn_lookup_cancel(struct pconn *c)
{
	if (c->lk) {
		c->lk->conn = NULL;
		c->lk = NULL;
	}
}

/* Mark dead and release everything but the memory of c itself. */
static void conn_kill(struct pconn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	c->dead_gen = c->px->gen;
	c->down = NULL;
	pconn_lookup_cancel(c);
	proxy_tls_conn_free(c);   /* before its socket closes */
	pconn_up_close(c);
	buf_free(&c->in);
	buf_free(&c->out);
	pconn_exchange_clear(c);
}

void pconn_free(struct pconn *c)
{
	struct proxy *px = c->px;

	if (c->prev)
		c->prev->next = c->next;
	else
		px->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	proxy_route_clear(&c->rt);
	free(c->peek_name);
	free(c->bound_host);
	free(c->dns_q);
	free(c->sandbox);
	free(c);
}

void pconn_reset(struct pconn *c)
{
	void *down = c->down;

	if (c->dead)
		return;
	c->down = NULL;
	if (down)
		c->ops->reset(down);
	conn_kill(c);
}

void proxy_conn_abort(struct pconn *c)
{
	if (!c)
		return;
	c->down = NULL;
	conn_kill(c);
}

void pconn_consume(struct pconn *c, size_t n)
{
	if (!n)
		return;
	buf_consume(&c->in, n);
	if (c->down)
		c->ops->consumed(c->down, n);
}


void pconn_flush(struct pconn *c)
{
	while (c->out.len && c->down && !c->dead) {
		size_t n = c->ops->write(c->down, c->out.data + c->out.off, c->out.len);
		if (!n)
			break;
		buf_consume(&c->out, MIN(n, c->out.len));
	}
	if (c->dead)
		return;
	if (!c->out.len && c->close_after_flush && !c->down_closed && c->down) {
		c->down_closed = true;
		c->ops->close(c->down);
		if (c->dead)
			return;
		if (c->st == PS_CLOSING)
			c->deadline = now_ms() + PROXY_LINGER_TIMEOUT_MS;
	}
}

void pconn_out(struct pconn *c, const void *data, size_t len)
{
	/* engine messages are small; relayed data is only read when there is room */
	if (buf_append(&c->out, data, len) < 0) {
		pconn_reset(c);
		return;
	}
	pconn_flush(c);
}

void pconn_finish(struct pconn *c)
{
	c->close_after_flush = true;
	pconn_flush(c);
}

/* ---- upstream socket ---- */

static bool up_want_read(const struct pconn *c)
{
	if (!c->u_connected || c->u_eof)
		return false;
	switch (c->st) {
	case PS_TUNNEL:
	case PS_PEEK:
		return buf_room(&c->out) > 0;
	case PS_HTTP:
		return buf_room(&c->uin) > 0 && buf_room(&c->out) > 0;
	case PS_HEAD:
	case PS_ROUTE:
		return true;   /* idle keep-alive upstream: notice its close */
	default:
		return false;
	}
}

static size_t up_pending_in(const struct pconn *c)
{
	if (c->st == PS_TUNNEL)
		return c->in.len;
	if (c->st == PS_HTTP)
		return c->body_pending;
	return 0;
}

void pconn_up_update(struct pconn *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	if (c->st == PS_TLS) {
		proxy_tls_update(c);
		return;
	}
	if (c->uev.fd < 0)
		return;
	if (!c->u_connected)
		ev = EPOLLOUT;
	else {
		if (up_want_read(c))
			ev |= EPOLLIN | EPOLLRDHUP;
		if (c->uout.len || up_pending_in(c))
			ev |= EPOLLOUT;
	}
	if (ev_set(c->px->epfd, &c->uev, ev) < 0)
		pconn_reset(c);
}

void proxy_send_error(struct pconn *c, int status, const char *text);

void pconn_up_write(struct pconn *c)
{
	while (c->u_connected && !c->dead) {
		const uint8_t *p;
		size_t n;
		bool from_in = false;
		ssize_t w;

		if (c->uout.len) {
			p = c->uout.data + c->uout.off;
			n = c->uout.len;
		} else if ((n = up_pending_in(c)) > 0) {
			p = c->in.data + c->in.off;
			from_in = true;
		} else {
			break;
		}
		w = send(c->uev.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			log_debug("proxy: write to %s: %m", c->rt.host ? c->rt.host : "?");
			pconn_reset(c);
			return;
		}
		if (!from_in) {
			buf_consume(&c->uout, (size_t)w);
			continue;
		}
		if (c->st == PS_HTTP)
			c->body_pending -= (size_t)w;
		pconn_consume(c, (size_t)w);
	}
	if (c->dead)
		return;
	/* client finished and everything went out: pass the half-close on */
	if (c->st == PS_TUNNEL && c->in_eof && !c->in.len && !c->uout.len && !c->u_shut && c->u_connected) {
		shutdown(c->uev.fd, SHUT_WR);
		c->u_shut = true;
	}
}

static void tunnel_upstream_eof(struct pconn *c)
{
	if (!c->out.len)
		pconn_finish(c);
	else
		c->close_after_flush = true;
}

static void up_read(struct pconn *c)
{
	struct buf *b = c->st == PS_HTTP ? &c->uin : &c->out;
	ssize_t n;

	if (c->st == PS_HEAD || c->st == PS_ROUTE) {
		uint8_t junk[1];
		/* idle keep-alive upstream: EOF (or stray bytes) ends it */
		n = recv(c->uev.fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		pconn_up_close(c);
		return;
	}
	if (buf_room(b) == 0 || buf_reserve(b, MIN(buf_room(b), (size_t)(256 * 1024))) < 0)
		return;
	{
		size_t room = MIN(buf_room(b), b->cap - b->off - b->len);
		n = recv(c->uev.fd, b->data + b->off + b->len, room, MSG_DONTWAIT);
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("proxy: read from %s: %m", c->rt.host ? c->rt.host : "?");
		if (c->st == PS_HTTP && !c->have_resp && !c->out.len) {
			proxy_send_error(c, 502, "the server reset the connection");
			return;
		}
		pconn_reset(c);
		return;
	}
	if (n == 0) {
		c->u_eof = true;
		if (c->st == PS_HTTP)
			proxy_fwd_response(c);
		else
			tunnel_upstream_eof(c);
		return;
	}
	b->len += (size_t)n;
	if (c->st == PS_HTTP)
		proxy_fwd_response(c);
	else
		pconn_flush(c);
}

void proxy_route_fail(struct pconn *c, int status, const char *reason);

static void connect_done(struct pconn *c)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (getsockopt(c->uev.fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	if (err) {
		snprintf(c->rt.reason, sizeof(c->rt.reason), "connect to %s: %s", c->rt.addr, strerror(err));
		pconn_up_close(c);
		proxy_route_try_connect(c);
		return;
	}
	c->u_connected = true;
	proxy_route_connected(c);
}

void proxy_on_event(struct proxy *px, struct evsrc *ev, uint32_t events)
{
	struct pconn *c;

	if (ev->obj == px) {
		if (ev->fd < 0)
			return;
		ares_process_fd(px->ares, events & (EPOLLIN | EPOLLERR | EPOLLHUP) ? ev->fd : ARES_SOCKET_BAD,
				events & EPOLLOUT ? ev->fd : ARES_SOCKET_BAD);
		return;
	}
	c = ev->obj;
	if (c->dead || ev != &c->uev || c->uev.fd < 0)
		return;
	if (!c->u_connected) {
		connect_done(c);
		pconn_up_update(c);
		return;
	}
	if (c->st == PS_TLS) {
		proxy_tls_up_event(c, events);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		up_read(c);
	if (!c->dead && c->uev.fd >= 0 && (events & EPOLLOUT)) {
		pconn_up_write(c);
		if (!c->dead && c->st == PS_HTTP)
			proxy_fwd_input(c);   /* more request body may now be framed, or the exchange ended */
	}
	pconn_up_update(c);
}

/* ---- downstream entry points ---- */

static void conn_process(struct pconn *c)
{
	switch (c->path) {
	case PROXY_FORWARD:
		proxy_fwd_input(c);
		break;
	case PROXY_TRANSPARENT:
		if (c->st == PS_PEEK)
			proxy_tp_peek(c, false);
		else
			proxy_fwd_input(c);   /* tunnel, or plain HTTP request by request */
		break;
	case PROXY_DNS:
		proxy_dns_input(c);
		break;
	}
	if (!c->dead)
		pconn_up_update(c);
}

void proxy_conn_input(struct pconn *c, const uint8_t *data, size_t len)
{
	if (!c || c->dead)
		return;
	if (buf_append(&c->in, data, len) < 0) {
		log_debug("proxy: %s: client sent past its window", c->sandbox);
		pconn_reset(c);
		return;
	}
	conn_process(c);
}

void proxy_conn_input_eof(struct pconn *c)
{
	if (!c || c->dead)
		return;
	c->in_eof = true;
	if (c->path == PROXY_DNS && c->st == PS_DNS_READ) {
		pconn_reset(c);
		return;
	}
	if (c->st == PS_HTTP)
		c->req_close = true;
	conn_process(c);
}

void proxy_conn_writable(struct pconn *c)
{
	if (!c || c->dead)
		return;
	pconn_flush(c);
	if (!c->dead && c->st == PS_HTTP)
		proxy_fwd_response(c);
	if (!c->dead && c->st == PS_TLS)
		proxy_tls_pump(c);
	if (!c->dead)
		pconn_up_update(c);
}

void pconn_timeout(struct pconn *c)
{
	c->deadline = 0;
	switch (c->st) {
	case PS_HEAD:
		if (c->in.len)
			proxy_send_error(c, 408, "no complete request head within 30 s");
		else {
			c->st = PS_CLOSING;
			c->deadline = now_ms() + PROXY_LINGER_TIMEOUT_MS;
			pconn_finish(c);
		}
		break;
	case PS_ROUTE:
		proxy_route_fail(c, 504, c->lk ? "name resolution timed out" : "connect timed out");
		break;
	case PS_PEEK:
		if (c->path == PROXY_TRANSPARENT)
			proxy_tp_peek(c, true);
		break;
	case PS_DNS_LOOKUP:
		pconn_lookup_cancel(c);
		proxy_dns_lookup_done(c, ARES_ETIMEOUT);   /* SERVFAIL */
		break;
	case PS_TLS:
		proxy_tls_timeout(c);
		break;
	case PS_CLOSING:
	case PS_DNS_READ:
		pconn_reset(c);
		break;
	default:
		break;
	}
	if (!c->dead)
		pconn_up_update(c);
}
