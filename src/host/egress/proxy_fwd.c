// SPDX-License-Identifier: MIT
/* proxy_fwd.c: the egress engine's forward path (CONNECT tunnels with the SNI check,
 * absolute-form HTTP/1.1 with keep-alive, each request checked on its own) and the
 * transparent path (name from SNI, Host or the sandbox's synthetic DNS answers).
 *
 * Plain HTTP is never relayed as raw bytes: whatever path it arrives on (absolute-form
 * requests, a transparent connection, the inside of a CONNECT tunnel) every request is
 * parsed, checked against the policy, framed strictly and audited. On a transparent
 * connection or inside a tunnel the connection is bound to one name (the CONNECT host,
 * the name of the synthetic address the guest dialled, else the first request's Host)
 * and a request whose Host names another gets 421. A connection whose first bytes are
 * neither a TLS ClientHello nor an HTTP request line (or that sends nothing first) is
 * relayed raw only when a policy rule names its port (rt.names_port). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy_int.h"
#include "proxy_tls.h"
#include "util.h"

static void exchange_done(struct pconn *c);

static uint16_t orig_port(const struct pconn *c)
{
	if (c->orig.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&c->orig)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&c->orig)->sin6_port);
}

/* ---- forward path ---- */

static void send_request_upstream(struct pconn *c)
{
	_cleanup_free_ char *head = NULL, *hosthdr = NULL;
	size_t hl;
	bool v6 = strchr(c->rt.host, ':') != NULL;

	if (c->rt.port == 80)
		hosthdr = xasprintf("%s%s%s", v6 ? "[" : "", c->rt.host, v6 ? "]" : "");
	else
		hosthdr = xasprintf("%s%s%s:%u", v6 ? "[" : "", c->rt.host, v6 ? "]" : "", c->rt.port);
	if (http_req_rewrite(&c->req, c->req_path, hosthdr, c->req_close, &head, &hl) < 0 ||
	    buf_append(&c->uout, head, hl) < 0) {
		proxy_send_error(c, 400, "request head too large");
		return;
	}
	c->st = PS_HTTP;
	c->deadline = 0;
	http_scan_init(&c->rscan, false);
	c->head_req = c->req.method_id == HTTP_HEAD;
	pconn_up_write(c);
	if (!c->dead)
		proxy_fwd_input(c);   /* frame and send request body bytes already here */
}

void proxy_route_connected(struct pconn *c)
{
	static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	int one = 1;

	setsockopt(c->uev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->rt.next > 0) {
		c->uss = c->rt.addrs[c->rt.next - 1];
		c->ulen = c->rt.alens[c->rt.next - 1];
		c->utrusted = c->rt.trusted;
	}
	c->deadline = 0;
	if (c->path == PROXY_TRANSPARENT && !c->bound_host) {
		proxy_audit(c, c->rt.host, c->rt.port, true, c->rt.rule, NULL, 0);
		c->st = PS_TUNNEL;   /* the peeked bytes go first */
		pconn_up_write(c);
		return;
	}
	if (c->is_connect) {
		char why[96] = "";

		c->intercept = proxy_tls_decide(c, why, sizeof(why));
		proxy_audit(c, c->rt.host, c->rt.port, true, c->rt.rule, c->intercept ? why : NULL, 0);
		c->st = PS_PEEK;
		pconn_out(c, established, sizeof(established) - 1);
		if (!c->dead)
			proxy_fwd_input(c);
		return;
	}
	send_request_upstream(c);
}

/* CONNECT: look at the first client bytes before they go upstream. */
static void connect_peek(struct pconn *c)
{
	const uint8_t *p = c->in.data + c->in.off;
	char sni[256];
	int k, r;

	k = peek_classify(p, c->in.len);
	if (k == -EAGAIN && !c->in_eof)
		return;
	if (k == 1) {
		r = tls_sni_parse(p, c->in.len, sni, sizeof(sni));
		if (r == -EAGAIN && !c->in_eof && c->in.len < TLS_PEEK_MAX)
			return;
		if (r == 1) {
			_cleanup_free_ char *norm = NULL;
			bool ip;
			if (host_normalize(sni, &norm, &ip) < 0 || strcmp(norm, c->rt.host)) {
				char reason[320];
				snprintf(reason, sizeof(reason), "TLS server name %.255s differs from the CONNECT host", sni);
				proxy_audit(c, c->rt.host, c->rt.port, false, c->rt.rule, reason, 0);
				pconn_reset(c);
				return;
			}
		} else if (r < 0) {
			proxy_audit(c, c->rt.host, c->rt.port, false, c->rt.rule, "malformed TLS ClientHello", 0);
			pconn_reset(c);
			return;
		}
	}
	if (c->intercept) {
		if (k != 1) {
			/* credentials never go over plain text, nor does an inspected tunnel carry it */
			proxy_audit(c, c->rt.host, c->rt.port, false, c->rt.rule, "not TLS on an intercepted tunnel", 0);
			pconn_reset(c);
			return;
		}
		proxy_tls_start(c);
		return;
	}
	if (k == 2) {
		/* plain HTTP in the tunnel: request by request, each bound to the CONNECT host */
		c->bound_host = xstrdup(c->rt.host);
		c->bound_port = c->rt.port;
		pconn_exchange_clear(c);
		c->u_idle_since = now_ms();
		c->st = PS_HEAD;
		c->deadline = now_ms() + PROXY_HEAD_TIMEOUT_MS;
		proxy_fwd_input(c);
		return;
	}
	if (k != 1 && !c->rt.names_port) {
		char reason[96];
		snprintf(reason, sizeof(reason), "neither TLS nor HTTP in the tunnel: needs a rule naming port %u",
			 c->rt.port);
		proxy_audit(c, c->rt.host, c->rt.port, false, c->rt.rule, reason, 0);
		pconn_reset(c);
		return;
	}
	c->st = PS_TUNNEL;
	pconn_up_write(c);
}

/* Refuse one request of a bound connection: audited, answered, closed. */
static void bound_refuse(struct pconn *c, int status, const char *host, uint16_t port, const char *reason)
{
	proxy_audit(c, host, port, false, "", reason, status);
	proxy_send_error(c, status, reason);
}

/* A request on a connection bound to one name (or, transparent, about to be bound by
 * its Host): origin-form, Host naming that name, then the usual policy route. */
static void bound_head(struct pconn *c)
{
	const struct http_hdr *h = http_msg_header(&c->req, "host", NULL);
	_cleanup_free_ char *name = NULL;
	uint16_t port = c->bound_host ? c->bound_port : orig_port(c);
	int hport = -1;

	c->req_path = strndup(c->req.url, c->req.url_len);
	c->req_close = !c->req.keep_alive || c->in_eof;
	if (c->is_connect || !c->req.url_len ||
	    !(c->req.url[0] == '/' || (c->req.method_id == HTTP_OPTIONS && c->req.url_len == 1 && c->req.url[0] == '*'))) {
		bound_refuse(c, 400, c->bound_host ? c->bound_host : "", port,
			     "send origin-form requests (GET /path) on this connection");
		return;
	}
	if ((!h || !h->value_len) && c->bound_host) {
		/* (HTTP/1.0) no Host: the upstream gets one naming the connection's name */
		proxy_route_start(c, c->bound_host, c->bound_port);
		return;
	}
	if (!h || !h->value_len) {
		bound_refuse(c, 400, "", port, "the request has no Host header");
		return;
	}
	if (http_host_parse(h->value, h->value_len, &name, &hport) < 0) {
		_cleanup_free_ char *raw = strndup(h->value, MIN(h->value_len, (size_t)255));
		bound_refuse(c, 400, raw ? raw : "", port, "malformed Host header");
		return;
	}
	if (!c->bound_host) {
		c->bound_host = xstrdup(name);   /* transparent, no synthetic name: the first Host */
		c->bound_port = port;
	}
	if (strcmp(name, c->bound_host) || (hport >= 0 && hport != c->bound_port)) {
		char reason[400];
		snprintf(reason, sizeof(reason), "Host %.255s differs from the connection's name %s", name, c->bound_host);
		bound_refuse(c, 421, name, hport >= 0 ? (uint16_t)hport : c->bound_port, reason);
		return;
	}
	proxy_route_start(c, c->bound_host, c->bound_port);
}

static void fwd_head(struct pconn *c)
{
	_cleanup_free_ char *host = NULL;
	size_t hl = 0;
	uint16_t port = 0;
	int r;

	if (!c->in.len) {
		if (c->in_eof) {
			c->st = PS_CLOSING;
			pconn_finish(c);
		}
		return;
	}
	r = http_scan(&c->scan, c->in.data + c->in.off, c->in.len, &hl);
	if (r < 0) {
		proxy_send_error(c, 400, r == -E2BIG ? "request head too large" : "malformed request");
		return;
	}
	if (r == 0) {
		if (c->in_eof) {
			c->st = PS_CLOSING;
			pconn_finish(c);
		}
		return;
	}
	if (http_msg_parse(&c->req, true, false, c->in.data + c->in.off, hl) < 0) {
		proxy_send_error(c, 400, "malformed request");
		return;
	}
	c->have_req = true;
	pconn_consume(c, hl);
	c->is_connect = c->req.method_id == HTTP_CONNECT;
	if (c->bound_host || c->path == PROXY_TRANSPARENT) {
		bound_head(c);
		return;
	}
	r = http_target_parse(&c->req, &host, &port, &c->req_path);
	if (r < 0) {
		proxy_send_error(c, 400, r == -EPROTONOSUPPORT ? "only http:// URLs can be proxied (use CONNECT for https)"
							 : "this is a proxy: send absolute-form requests or CONNECT");
		return;
	}
	c->req_close = !c->req.keep_alive || c->in_eof;
	proxy_route_start(c, host, port);
}

/* Request body: frame what arrived and send it on. */
static void fwd_body(struct pconn *c)
{
	if (!c->body_pending && !c->req.body_done && c->in.len) {
		size_t used = 0;
		if (http_msg_body(&c->req, c->in.data + c->in.off, c->in.len, &used) < 0) {
			proxy_audit(c, c->rt.host, c->rt.port, true, c->rt.rule, "malformed request body", 0);
			pconn_reset(c);
			return;
		}
		c->body_pending = used;
	}
	pconn_up_write(c);
	if (c->dead)
		return;
	if (c->in_eof && !c->req.body_done && !c->body_pending && !c->in.len) {
		pconn_reset(c);   /* the client went away in the middle of its body */
		return;
	}
	if (c->resp_done && c->req.body_done && !c->body_pending)
		exchange_done(c);
}

void proxy_fwd_input(struct pconn *c)
{
	switch (c->st) {
	case PS_HEAD:
		fwd_head(c);
		break;
	case PS_HTTP:
		fwd_body(c);
		break;
	case PS_PEEK:
		connect_peek(c);
		break;
	case PS_TUNNEL:
		pconn_up_write(c);
		break;
	case PS_CLOSING:
		pconn_consume(c, c->in.len);
		break;
	case PS_TLS:
		proxy_tls_pump(c);
		break;
	default:
		break;
	}
}

/* Response and request both complete: next request, or close. */
static void exchange_done(struct pconn *c)
{
	bool close_client = c->req_close || c->resp.until_eof || c->in_eof;

	if (!c->resp.keep_alive || c->resp.until_eof || c->uin.len)
		pconn_up_close(c);   /* the server closes, or sent more than one response */
	if (close_client) {
		c->st = PS_CLOSING;
		pconn_consume(c, c->in.len);
		pconn_up_close(c);
		c->deadline = now_ms() + PROXY_LINGER_TIMEOUT_MS;
		pconn_finish(c);
		return;
	}
	pconn_exchange_clear(c);
	c->u_idle_since = now_ms();
	c->st = PS_HEAD;
	c->deadline = now_ms() + PROXY_HEAD_TIMEOUT_MS;
	proxy_fwd_input(c);
}

void proxy_fwd_response(struct pconn *c)
{
	for (;;) {
		if (c->dead)
			return;
		if (!c->have_resp) {
			size_t hl = c->resp_hl;
			int r = hl ? 1 : c->uin.len ? http_scan(&c->rscan, c->uin.data + c->uin.off, c->uin.len, &hl) : 0;

			if (r == 0 && !c->u_eof)
				return;
			if (r <= 0) {
				proxy_route_fail(c, 502, r < 0 ? "malformed response head" : "the server closed the connection");
				return;
			}
			if (buf_room(&c->out) < hl) {
				c->resp_hl = hl;   /* complete: wait for the client to take what is queued */
				return;
			}
			c->resp_hl = 0;
			if (http_msg_parse(&c->resp, false, c->head_req, c->uin.data + c->uin.off, hl) < 0) {
				proxy_route_fail(c, 502, "malformed response head");
				return;
			}
			buf_append(&c->out, c->uin.data + c->uin.off, hl);
			buf_consume(&c->uin, hl);
			c->status = c->resp.status;
			if (c->status / 100 == 1 && c->status != 101) {
				/* interim response: relay, then wait for the final one */
				http_msg_clear(&c->resp);
				http_scan_init(&c->rscan, false);
				pconn_flush(c);
				continue;
			}
			c->have_resp = true;
			proxy_audit(c, c->rt.host, c->rt.port, true, c->rt.rule, NULL, c->status);
			if (c->status == 101) {
				/* protocol switch (websocket): raw bytes both ways from here */
				buf_append(&c->out, c->uin.data + c->uin.off, MIN(c->uin.len, buf_room(&c->out)));
				buf_free(&c->uin);
				c->st = PS_TUNNEL;
				pconn_flush(c);
				if (!c->dead)
					pconn_up_write(c);
				return;
			}
		}
		if (!c->resp.body_done) {
			size_t n = MIN(c->uin.len, buf_room(&c->out)), used = 0;

			if (n) {
				if (http_msg_body(&c->resp, c->uin.data + c->uin.off, n, &used) < 0) {
					pconn_reset(c);   /* malformed: the client must not take it as complete */
					return;
				}
				buf_append(&c->out, c->uin.data + c->uin.off, used);
				buf_consume(&c->uin, used);
			}
			/* upstream EOF ends a close-delimited body; any other is truncated */
			if (!c->resp.body_done && c->u_eof && !c->uin.len &&
			    http_msg_body(&c->resp, NULL, 0, &used) < 0) {
				pconn_flush(c);
				if (!c->dead)
					pconn_reset(c);
				return;
			}
		}
		pconn_flush(c);
		if (c->dead)
			return;
		if (c->resp.body_done && !c->resp_done) {
			c->resp_done = true;
			if (!c->req.body_done) {
				/* answered before the request body ended: cannot continue the stream */
				c->req_close = true;
				c->st = PS_CLOSING;
				pconn_consume(c, c->in.len);
				pconn_up_close(c);
				pconn_finish(c);
				return;
			}
			if (!c->body_pending)
				exchange_done(c);
		}
		return;
	}
}

/* ---- transparent path ---- */

/* The sandbox's synthetic DNS name for the address the guest dialled, or NULL. */
static const char *tp_synthetic_name(struct pconn *c)
{
	struct dns_table *t;
	uint32_t a;

	if (!c->have_orig || c->orig.ss_family != AF_INET)
		return NULL;
	a = ntohl(((struct sockaddr_in *)&c->orig)->sin_addr.s_addr);
	t = proxy_sandbox_table(c->px, c->sandbox, false);
	return dns_addr_is_synthetic(a) && t ? dns_table_name(t, a) : NULL;
}

/* TLS (name from SNI or the synthetic address) or raw bytes: one tunnel. */
static void tp_decide(struct pconn *c)
{
	const char *name = c->peek_name;
	char txt[INET6_ADDRSTRLEN] = "?";

	if (!name)
		name = tp_synthetic_name(c);
	if (!c->have_orig) {
		proxy_route_clear(&c->rt);
		c->rt.host = xstrdup("");
		proxy_route_fail(c, 403, "no original destination");
		return;
	}
	if (!name) {
		char reason[96];
		proxy_sa_text(&c->orig, txt, sizeof(txt));
		proxy_route_clear(&c->rt);
		c->rt.host = xstrdup(txt);
		c->rt.port = orig_port(c);
		snprintf(reason, sizeof(reason), "no name for %s", txt);
		proxy_route_fail(c, 403, reason);
		return;
	}
	{
		_cleanup_free_ char *n = xstrdup(name);   /* the table entry may move */
		c->deadline = 0;
		proxy_route_start(c, n, orig_port(c));
	}
}

/* Plain HTTP: bound to the synthetic address's name, else to the first request's Host
 * (bound_head), then request by request like the forward path. */
static void tp_http_start(struct pconn *c)
{
	const char *syn = tp_synthetic_name(c);

	if (!c->have_orig) {
		tp_decide(c);
		return;
	}
	if (syn) {
		_cleanup_free_ char *norm = NULL;
		bool is_ip;
		if (host_normalize(syn, &norm, &is_ip) == 0) {
			c->bound_host = TAKE_PTR(norm);
			c->bound_port = orig_port(c);
		}
	}
	c->st = PS_HEAD;
	c->deadline = now_ms() + PROXY_HEAD_TIMEOUT_MS;
	http_scan_init(&c->scan, true);
	proxy_fwd_input(c);
}

void proxy_tp_peek(struct pconn *c, bool timeout)
{
	const uint8_t *p = c->in.data + c->in.off;
	char sni[256];
	int k;

	if (c->st != PS_PEEK)
		return;
	k = peek_classify(p, c->in.len);
	if (k == -EAGAIN && !c->in_eof && !timeout)
		return;
	if (k == 1) {
		int r = tls_sni_parse(p, c->in.len, sni, sizeof(sni));
		if (r == -EAGAIN && !c->in_eof && !timeout && c->in.len < TLS_PEEK_MAX)
			return;
		if (r == 1)
			c->peek_name = xstrdup(sni);
		else if (r < 0)
			c->raw = true;   /* no well-formed ClientHello after all */
	} else if (k == 2) {
		tp_http_start(c);
		return;
	} else {
		c->raw = true;      /* other bytes, or none (server-first protocols) */
	}
	tp_decide(c);
}
