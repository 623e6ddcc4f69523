// SPDX-License-Identifier: MIT
/* proxy.c: sbxd's egress engine: connections, upstream sockets, c-ares, routing
 * decisions, the forward (CONNECT / absolute-form HTTP) and transparent paths. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "proxy_int.h"
#include "proxy_tls.h"
#include "util.h"

/*
 * Theory of operation. Every connection (struct pconn) has a downstream (a guest
 * stream, reached through proxy_down_ops) and at most one upstream socket. Each
 * destination is decided on the host: the name is normalised, the policy checked
 * for host:port, the name resolved once (proxy.resolve first, then c-ares), every
 * address classified, and the socket connected to exactly an address that passed.
 * The guest never chooses an address. A CONNECT that is to receive a credential is
 * intercepted after these checks (proxy_tls.c, state PS_TLS); every other TLS tunnel
 * stays end to end. Plain HTTP, on any path, is parsed and checked request by request
 * (proxy_fwd.c); other bytes are relayed raw only to a port a rule names. Buffers are
 * bounded both ways: client bytes
 * are consumed (credit returned) only once written upstream, upstream bytes are read
 * only while the client has room for them.
 *
 * Lifetime: a connection ends when the engine calls ops->reset (the engine drops the
 * downstream) or when the downstream calls proxy_conn_abort(). Either way it is only
 * marked dead and its upstream closed; the memory goes two ticks later, so an epoll
 * event already fetched for it in the same batch finds a dead object, not freed memory.
 * ops callbacks must not call back into the engine except proxy_conn_abort().
 */

static const char *const path_names[] = { "forward", "transparent", "dns" };

/* ---- engine ---- */

static void ares_sock_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct proxy *px = data;
	struct ares_slot *slot = NULL, *free_slot = NULL;
	uint32_t events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

	for (size_t i = 0; i < px->nslots; i++) {
		if (px->slots[i]->ev.fd == fd)
			slot = px->slots[i];
		else if (px->slots[i]->ev.fd < 0 && !free_slot)
			free_slot = px->slots[i];
	}
	if (!slot) {
		if (!events)
			return;
		if (!free_slot) {
			struct ares_slot **v = realloc(px->slots, (px->nslots + 1) * sizeof(*v));
			if (!v)
				return;
			px->slots = v;
			free_slot = xcalloc(1, sizeof(*free_slot));
			px->slots[px->nslots++] = free_slot;
		}
		slot = free_slot;
		slot->ev = (struct evsrc){ .kind = EV_PROXY, .fd = fd, .obj = px };
	}
	if (ev_set(px->epfd, &slot->ev, events) < 0)
		log_debug("proxy: epoll for resolver socket %d: %m", fd);
	if (!events) {
		slot->ev.fd = -1;
		slot->ev.events = 0;
	}
}

static int ares_channel_new(struct proxy *px, ares_channel *ret);

/* Point c-ares at proxy.dnsServers (or back at the system's resolv.conf). c-ares
 * refuses to change servers while queries are pending: then retry at the next tick. */
static void dns_servers_apply(struct proxy *px)
{
	ares_channel ch;

	if (!px->dns_pending)
		return;
	if (px->dns_csv) {
		if (ares_set_servers_ports_csv(px->ares, px->dns_csv) == ARES_SUCCESS)
			px->dns_pending = false;
		return;
	}
	for (struct pconn *c = px->conns; c; c = c->next)
		if (c->lk)
			return;
	if (ares_channel_new(px, &ch) == 0) {
		ares_destroy(px->ares);
		px->ares = ch;
		px->dns_pending = false;
	}
}

static void apply_settings(struct proxy *px)
{
	char *csv = NULL;

	settings_dns_servers(px->set, &csv);
	if ((!csv && !px->dns_csv) || (csv && px->dns_csv && !strcmp(csv, px->dns_csv))) {
		free(csv);
		return;
	}
	free(px->dns_csv);
	px->dns_csv = csv;
	px->dns_pending = true;
	dns_servers_apply(px);
}

static int ares_channel_new(struct proxy *px, ares_channel *ret)
{
	struct ares_options o = {
		.sock_state_cb = ares_sock_cb,
		.sock_state_cb_data = px,
		.timeout = 2000,
		.tries = 2,
	};

	if (ares_init_options(ret, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS)
		return -ENOMEM;
	return 0;
}

static void load_policy(struct proxy *px)
{
	struct policy *pol = NULL;
	const char *err = NULL;
	int r;

	r = policy_load_ex(px->paths, &pol, &err);
	policy_free(px->pol);
	px->pol = r < 0 ? NULL : pol;
	/* fail closed, and say so once */
	if (r < 0 && r != -ENOENT && !px->pol_warned)
		log_warn("proxy: policy file unusable (%s): denying everything until it is fixed",
			 err ? err : strerror(-r));
	px->pol_warned = r < 0 && r != -ENOENT;
}

static void load_settings(struct proxy *px)
{
	struct settings *s = NULL;

	if (settings_load(px->paths, &s) < 0) {
		if (!px->set_warned)
			log_warn("proxy: settings file unusable: ignoring proxy settings until it is fixed");
		px->set_warned = true;
		s = NULL;
	} else {
		px->set_warned = false;
	}
	settings_free(px->set);
	px->set = s;
	apply_settings(px);
}

int proxy_new(const struct sbx_paths *p, int epfd, struct proxy **ret)
{
	struct proxy *px = xcalloc(1, sizeof(*px));
	int r;

	px->paths = p;
	px->epfd = epfd;
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		free(px);
		return -ENOMEM;
	}
	r = ares_channel_new(px, &px->ares);
	if (r < 0) {
		free(px);
		return r;
	}
	r = hostaddr_new(&px->hosts);
	if (r < 0) {
		ares_destroy(px->ares);
		free(px);
		return r;
	}
	load_policy(px);
	load_settings(px);
	r = audit_open(p, &px->audit);
	if (r < 0) {
		log_warn("proxy: cannot open the audit log: %s", strerror(-r));
		px->audit = NULL;
	}
	*ret = px;
	return 0;
}

static void conn_free(struct pconn *c);

void proxy_free(struct proxy *px)
{
	if (!px)
		return;
	while (px->conns) {
		struct pconn *c = px->conns;
		if (!c->dead) {
			c->down = NULL;
			proxy_conn_abort(c);
		}
		conn_free(c);
	}
	ares_destroy(px->ares);   /* pending lookups' callbacks see no connection */
	hostaddr_free(px->hosts);
	for (size_t i = 0; i < px->nslots; i++)
		free(px->slots[i]);
	free(px->slots);
	while (px->sandboxes) {
		struct psandbox *s = px->sandboxes;
		px->sandboxes = s->next;
		dns_table_free(s->table);
		free(s->name);
		free(s);
	}
	proxy_tls_engine_free(px);
	policy_free(px->pol);
	settings_free(px->set);
	free(px->dns_csv);
	if (px->audit)
		audit_close(px->audit);
	free(px);
}

struct dns_table *proxy_sandbox_table(struct proxy *px, const char *sandbox, bool create)
{
	struct psandbox *s;

	for (s = px->sandboxes; s; s = s->next)
		if (!strcmp(s->name, sandbox))
			return s->table;
	if (!create)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->name = xstrdup(sandbox);
	s->table = dns_table_new();
	s->next = px->sandboxes;
	px->sandboxes = s;
	return s->table;
}

void proxy_sandbox_gone(struct proxy *px, const char *sandbox)
{
	for (struct psandbox **pp = &px->sandboxes; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, sandbox)) {
			struct psandbox *s = *pp;
			*pp = s->next;
			dns_table_free(s->table);
			free(s->name);
			free(s);
			return;
		}
}

bool proxy_resolve_has_name(struct proxy *px, const char *name)
{
	const char *v = settings_get(px->set, "proxy.resolve");
	size_t nl = strlen(name);

	/* normalised by settings_validate: "host:port=ip:port,..." */
	while (v && *v) {
		const char *end = strchr(v, ','), *eq = strchr(v, '=');
		const char *colon;

		if (!end)
			end = v + strlen(v);
		if (eq && eq < end) {
			for (colon = eq; colon > v && *colon != ':'; colon--)
				;
			if (colon > v && (size_t)(colon - v) == nl && !strncmp(v, name, nl))
				return true;
		}
		v = *end ? end + 1 : end;
	}
	return false;
}

void proxy_audit(struct pconn *c, const char *host, uint16_t port, bool allowed, const char *rule,
		 const char *reason, int status)
{
	bool http = c->path != PROXY_DNS && c->have_req && !c->is_connect;
	struct audit_entry e = {
		.sandbox = c->sandbox,
		.path = path_names[c->path],
		.host = host ? host : "",
		.port = port,
		.addr = c->rt.addr[0] ? c->rt.addr : NULL,
		.allowed = allowed,
		.rule = rule && *rule ? rule : NULL,
		.reason = reason && *reason ? reason : NULL,
		.method = http ? c->req.method : NULL,
		.url_path = http ? c->req_path : NULL,
		.status = status,
	};

	log_debug("proxy: %s %s %s:%u %s (%s%s%s)", c->sandbox, path_names[c->path], e.host, port,
		  allowed ? "allow" : "deny", e.rule ? e.rule : "", e.reason ? ": " : "", e.reason ? e.reason : "");
	if (c->px->audit)
		audit_write(c->px->audit, &e);
}

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

static void conn_free(struct pconn *c)
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

/* ---- timers ---- */

static void conn_timeout(struct pconn *c)
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

void proxy_tick(struct proxy *px)
{
	uint64_t now = now_ms();
	struct pconn *c, *next;

	if (!px->pol || policy_stale(px->paths, px->pol))
		load_policy(px);
	if (!px->set || settings_stale(px->paths, px->set))
		load_settings(px);
	dns_servers_apply(px);
	ares_process_fd(px->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);   /* resolver timeouts */
	for (c = px->conns; c; c = next) {
		next = c->next;
		if (c->dead) {
			if (c->dead_gen + 1 < px->gen)
				conn_free(c);
			continue;
		}
		if (c->deadline && now >= c->deadline)
			conn_timeout(c);
	}
	px->gen++;
}
