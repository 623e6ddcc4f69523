// SPDX-License-Identifier: MIT
/* egress_dns.c: the DNS stub on 127.0.0.1:53 (UDP and TCP): one "dns" stream per query. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "egress.h"
#include "guest.h"
#include "loop.h"
#include "mux.h"
#include "proto.h"
#include "tlv.h"
#include "util.h"

#define DNS_TIMEOUT_MS 5000u
#define DNS_UDP_BATCH 32
#define DNS_TCP_MAX_CONNS 32u
#define DNS_TCP_PIPELINE 8u       /* queries in flight per TCP connection */
#define DNS_TCP_IDLE_MS 30000u
#define DNS_TCP_OUT_MAX (128u * 1024u) /* stop reading queries while this much is unsent */

/*
 * A query lives until it is answered (the host's answer, or a synthetic SERVFAIL on
 * RESET, timeout or no host) AND its stream is gone AND, over TCP, its answer has
 * been queued in order. The stream is half-closed by us right after the query, so
 * the host's CLOSE ends it; a host that never closes is reset at the timeout.
 */
struct dnsq {
	struct estream s;           /* ESTREAM_DNS */
	struct dnsq *next;          /* e->queries */
	struct dnsq *cnext;         /* next query of the same TCP connection, arrival order */
	struct dns_conn *conn;      /* TCP connection still waiting for this answer, or NULL */
	bool tcp;
	uint32_t id;                /* stream id while the stream lives, else 0 */
	uint64_t deadline;
	union egress_addr peer;     /* UDP client */
	socklen_t peer_len;
	uint8_t *query;
	size_t qlen;
	struct dns_answer ans;      /* the host's answer, as it arrives (or a SERVFAIL) */
	bool answered;
	bool dead;                  /* settled: in e->query_grave */
};

struct dns_conn {
	struct egress *e;
	struct dns_conn *next;
	struct watch w;
	uint8_t in[2 + DNS_MAX_QUERY];
	size_t in_len;
	struct dnsq *head, *tail;   /* queries in arrival order, answers leave in this order */
	unsigned pending;
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	bool rd_eof;
	bool parsing;               /* conn_parse() is on the stack */
	uint64_t idle_deadline;
};

static void dnsconn_flush(struct dns_conn *c);

size_t dns_servfail(const uint8_t *q, size_t qlen, uint8_t *out)
{
	size_t end = DNS_HDR_LEN, p = DNS_HDR_LEN;
	bool question = false;

	if (qlen < DNS_HDR_LEN)
		return 0;
	if (q[4] == 0 && q[5] == 1) {
		while (p < qlen && q[p] != 0 && !(q[p] & 0xc0))
			p += 1u + q[p];
		if (p < qlen && q[p] == 0 && p + 1 + 4 <= qlen) {
			end = p + 1 + 4;
			question = true;
		}
	}
	memcpy(out, q, end);
	out[2] = (uint8_t)(0x80 | (q[2] & 0x79)); /* QR, same opcode and RD */
	out[3] = 0x80 | 2;                        /* RA, RCODE 2 = SERVFAIL */
	out[4] = 0;
	out[5] = question ? 1 : 0;
	memset(out + 6, 0, 6);
	return end;
}

/* Free q once nothing refers to it any more; the memory goes at the end of the loop
 * iteration (dns_collect), so callers up the stack may still look at it. */
static void dnsq_settle(struct egress *e, struct dnsq *q)
{
	if (q->dead || !q->answered || q->id || q->conn)
		return;
	for (struct dnsq **p = &e->queries; *p; p = &(*p)->next) {
		if (*p == q) {
			*p = q->next;
			e->query_n--;
			break;
		}
	}
	q->dead = true;
	q->next = e->query_grave;
	e->query_grave = q;
}

/* The answer is complete (ok) or the query failed: answer the client. */
static void dnsq_deliver(struct egress *e, struct dnsq *q, bool ok)
{
	if (q->answered)
		return;
	q->answered = true;
	if (!ok) {
		free(q->ans.msg);
		q->ans.msg = xmalloc(MAX(q->qlen, (size_t)DNS_HDR_LEN));
		q->ans.len = q->ans.got = dns_servfail(q->query, q->qlen, q->ans.msg);
	}
	if (!q->tcp) {
		if (q->ans.len && e->dns_udp.fd >= 0 &&
		    sendto(e->dns_udp.fd, q->ans.msg, q->ans.len, MSG_DONTWAIT, &q->peer.sa, q->peer_len) < 0)
			log_debug("egress: dns answer: sendto: %m");
	} else if (q->conn) {
		dnsconn_flush(q->conn);
	}
}

static int dnsq_open(struct egress *e, struct dnsq *q)
{
	struct guest *g = e->g;
	uint8_t args[64], msg[2 + DNS_MAX_QUERY];
	struct tlv_writer w;
	uint32_t id;
	long taken;
	int r;

	tlv_writer_init(&w, args, sizeof(args));
	tlv_put_str(&w, OPEN_KIND, "dns");
	if (q->tcp)
		tlv_put_u32(&w, OPEN_DNS_TCP, 1);
	if (w.err)
		return w.err;
	r = mux_open(g->mux, args, w.len, &id);
	if (r < 0)
		return r;
	msg[0] = (uint8_t)(q->qlen >> 8);
	msg[1] = (uint8_t)q->qlen;
	memcpy(msg + 2, q->query, q->qlen);
	taken = mux_write(g->mux, id, 0, msg, 2 + q->qlen);
	if (taken != (long)(2 + q->qlen)) {
		(void)mux_reset(g->mux, id);
		return taken < 0 ? (int)taken : -ENOBUFS;
	}
	(void)mux_close(g->mux, id);
	mux_set_user(g->mux, id, q);
	q->id = id;
	return 0;
}

/* A new query from a UDP client (conn NULL) or a TCP connection. */
static void dnsq_start(struct egress *e, const uint8_t *msg, size_t len, struct dns_conn *c,
		       const union egress_addr *peer, socklen_t peer_len)
{
	struct dnsq *q = xcalloc(1, sizeof(*q));
	int r = -ENOTCONN;

	q->s.owner = STREAM_OWNER_EGRESS;
	q->s.kind = ESTREAM_DNS;
	q->query = xmalloc(len);
	memcpy(q->query, msg, len);
	q->qlen = len;
	q->deadline = now_ms() + DNS_TIMEOUT_MS;
	if (c) {
		q->tcp = true;
		q->conn = c;
		if (c->tail)
			c->tail->cnext = q;
		else
			c->head = q;
		c->tail = q;
		c->pending++;
	} else {
		q->peer = *peer;
		q->peer_len = peer_len;
	}
	q->next = e->queries;
	e->queries = q;
	e->query_n++;
	if (e->session && e->query_n <= EGRESS_DNS_MAX_INFLIGHT)
		r = dnsq_open(e, q);
	if (r < 0) {
		log_debug("egress: dns query failed at once: %s", e->session ? strerror(-r) : "no host session");
		dnsq_deliver(e, q, false);
		dnsq_settle(e, q);
	}
}

int dns_answer_feed(struct dns_answer *a, const uint8_t *data, size_t len)
{
	while (len > 0) {
		size_t take;

		if (a->pfx_got < 2) {
			a->pfx[a->pfx_got++] = *data++;
			len--;
			if (a->pfx_got == 2) {
				a->len = (size_t)a->pfx[0] << 8 | a->pfx[1];
				if (a->len < DNS_HDR_LEN)
					return -EBADMSG;
				a->msg = xmalloc(a->len);
			}
			continue;
		}
		take = MIN(len, a->len - a->got);
		memcpy(a->msg + a->got, data, take);
		a->got += take;
		data += take;
		len -= take;
		if (a->got == a->len)
			return 1;
	}
	return 0;
}

void dnsq_on_data(struct egress *e, struct dnsq *q, const uint8_t *data, size_t len)
{
	int r;

	(void)mux_grant(e->g->mux, q->id, (uint32_t)len);
	if (q->answered)
		return;
	r = dns_answer_feed(&q->ans, data, len);
	if (r != 0)
		dnsq_deliver(e, q, r > 0);
}

/* Both directions are closed now: the mux forgets the stream. */
void dnsq_on_close(struct egress *e, struct dnsq *q)
{
	q->id = 0;
	dnsq_deliver(e, q, false); /* no-op when answered */
	dnsq_settle(e, q);
}

void dnsq_on_reset(struct egress *e, struct dnsq *q)
{
	log_debug("egress: dns stream %u: reset", q->id);
	q->id = 0;
	dnsq_deliver(e, q, false);
	dnsq_settle(e, q);
}

/* ---- UDP ---- */

static void dns_udp_read(struct egress *e)
{
	for (int i = 0; i < DNS_UDP_BATCH && e->dns_udp.fd >= 0; i++) {
		union egress_addr peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(e->dns_udp.fd, e->buf, DNS_MAX_QUERY, MSG_TRUNC, &peer.sa, &plen);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_debug("egress: dns recvfrom: %m");
			return;
		}
		if ((size_t)n > DNS_MAX_QUERY || (size_t)n < DNS_HDR_LEN) {
			log_debug("egress: dns: dropped a %zd-byte datagram", n);
			continue;
		}
		if (e->query_n >= EGRESS_DNS_MAX_INFLIGHT) {
			log_debug("egress: dns: too many queries in flight, dropped one");
			continue;
		}
		dnsq_start(e, e->buf, (size_t)n, NULL, &peer, plen);
	}
}

/* ---- TCP ---- */

static void dnsconn_close(struct dns_conn *c, bool abort)
{
	struct egress *e = c->e;
	struct guest *g = e->g;

	for (struct dnsq *q = c->head, *next; q; q = next) {
		next = q->cnext;
		q->cnext = NULL;
		q->conn = NULL;
		q->answered = true; /* nobody to answer */
		if (q->id) {
			(void)mux_reset(g->mux, q->id);
			q->id = 0;
		}
		dnsq_settle(e, q);
	}
	c->head = c->tail = NULL;
	c->pending = 0;
	if (abort)
		egress_set_rst(c->w.fd);
	watch_close(g, &c->w);
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
	for (struct dns_conn **p = &e->dconns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			e->dconn_n--;
			break;
		}
	}
	c->next = e->dconn_grave;
	e->dconn_grave = c;
}

static void conn_update(struct dns_conn *c)
{
	uint32_t ev = 0;

	if (c->w.fd < 0)
		return;
	if (c->rd_eof && c->pending == 0 && c->out_len == 0) {
		dnsconn_close(c, false);
		return;
	}
	if (!c->rd_eof && c->pending < DNS_TCP_PIPELINE && c->out_len < DNS_TCP_OUT_MAX)
		ev |= EPOLLIN;
	if (c->out_len)
		ev |= EPOLLOUT;
	(void)watch_set(c->e->g, &c->w, ev);
}

static void conn_write(struct dns_conn *c)
{
	while (c->out_len > 0) {
		ssize_t n = write(c->w.fd, c->out + c->out_off, c->out_len);

		if (n > 0) {
			c->out_off += (size_t)n;
			c->out_len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		dnsconn_close(c, true);
		return;
	}
	if (c->out_len == 0)
		c->out_off = 0;
	c->idle_deadline = now_ms() + DNS_TCP_IDLE_MS;
	conn_update(c);
}

long dns_tcp_query_len(const uint8_t *in, size_t in_len)
{
	size_t len;

	if (in_len < 2)
		return 0;
	len = (size_t)in[0] << 8 | in[1];
	if (len < DNS_HDR_LEN || len > DNS_MAX_QUERY)
		return -EBADMSG;
	return in_len < 2 + len ? 0 : (long)len;
}

/* Start the complete queries in the input buffer, within the pipeline limit. */
static void conn_parse(struct dns_conn *c)
{
	if (c->parsing)
		return;
	c->parsing = true;
	while (c->w.fd >= 0 && c->pending < DNS_TCP_PIPELINE) {
		long len = dns_tcp_query_len(c->in, c->in_len);

		if (len < 0) {
			log_debug("egress: dns over tcp: bad query length %u", (unsigned)c->in[0] << 8 | c->in[1]);
			dnsconn_close(c, true);
			break;
		}
		if (len == 0)
			break;
		dnsq_start(c->e, c->in + 2, (size_t)len, c, NULL, 0);
		c->in_len -= 2 + (size_t)len;
		memmove(c->in, c->in + 2 + len, c->in_len);
	}
	c->parsing = false;
}

/* Queue the answers at the head that are ready, in order. */
static void dnsconn_flush(struct dns_conn *c)
{
	struct egress *e = c->e;

	while (c->head && c->head->answered) {
		struct dnsq *q = c->head;

		c->head = q->cnext;
		if (!c->head)
			c->tail = NULL;
		c->pending--;
		q->cnext = NULL;
		q->conn = NULL;
		if (q->ans.len) {
			size_t need = c->out_off + c->out_len + 2 + q->ans.len;

			if (need > c->out_cap) {
				if (c->out_off) {
					memmove(c->out, c->out + c->out_off, c->out_len);
					c->out_off = 0;
					need = c->out_len + 2 + q->ans.len;
				}
				if (need > c->out_cap) {
					uint8_t *n = realloc(c->out, need);

					if (!n) {
						dnsq_settle(e, q);
						dnsconn_close(c, true);
						return;
					}
					c->out = n;
					c->out_cap = need;
				}
			}
			c->out[c->out_off + c->out_len] = (uint8_t)(q->ans.len >> 8);
			c->out[c->out_off + c->out_len + 1] = (uint8_t)q->ans.len;
			memcpy(c->out + c->out_off + c->out_len + 2, q->ans.msg, q->ans.len);
			c->out_len += 2 + q->ans.len;
		}
		dnsq_settle(e, q);
	}
	if (c->w.fd >= 0 && !c->parsing)
		conn_parse(c);
	if (c->w.fd >= 0)
		conn_write(c);
}

static void conn_read(struct dns_conn *c)
{
	for (int i = 0; i < 16 && c->w.fd >= 0; i++) {
		ssize_t n;

		if (c->rd_eof || c->pending >= DNS_TCP_PIPELINE || c->out_len >= DNS_TCP_OUT_MAX ||
		    c->in_len == sizeof(c->in))
			break;
		n = read(c->w.fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (n == 0) {
			c->rd_eof = true;
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			dnsconn_close(c, true);
			return;
		}
		c->in_len += (size_t)n;
		c->idle_deadline = now_ms() + DNS_TCP_IDLE_MS;
		conn_parse(c);
	}
	if (c->w.fd >= 0)
		conn_update(c);
}

void dns_accept(struct egress *e, int fd)
{
	struct dns_conn *c;

	if (e->dconn_n >= DNS_TCP_MAX_CONNS) {
		log_debug("egress: dns over tcp: too many connections");
		egress_abort_fd(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->e = e;
	c->w = (struct watch){ .fd = fd, .kind = WATCH_EGRESS_DNS_CONN, .owner = c };
	c->idle_deadline = now_ms() + DNS_TCP_IDLE_MS;
	c->next = e->dconns;
	e->dconns = c;
	e->dconn_n++;
	conn_update(c);
}

void dns_on_event(struct egress *e, struct watch *w, uint32_t events)
{
	struct dns_conn *c;

	if (w->kind == WATCH_EGRESS_DNS_UDP) {
		dns_udp_read(e);
		return;
	}
	c = w->owner;
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->out_len)
		conn_write(c);
	if (c->w.fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && (c->w.events & EPOLLIN))
		conn_read(c);
}

/* ---- timers ---- */

static bool dnsq_expires(const struct dnsq *q)
{
	return q->id || !q->answered;
}

void dns_tick(struct egress *e, uint64_t now)
{
	struct dns_conn *c, *next;
	bool again = true;

	/* Answering one query may settle others (TCP order): rescan after each. */
	while (again) {
		again = false;
		for (struct dnsq *q = e->queries; q; q = q->next) {
			if (!dnsq_expires(q) || now < q->deadline)
				continue;
			log_debug("egress: dns stream %u: no answer after %u ms", q->id, DNS_TIMEOUT_MS);
			if (q->id) {
				(void)mux_reset(e->g->mux, q->id);
				q->id = 0;
			}
			dnsq_deliver(e, q, false);
			dnsq_settle(e, q);
			again = true;
			break;
		}
	}
	for (c = e->dconns; c; c = next) {
		next = c->next;
		if (c->pending == 0 && c->out_len == 0 && now >= c->idle_deadline)
			dnsconn_close(c, false);
	}
}

uint64_t dns_deadline(struct egress *e)
{
	uint64_t best = UINT64_MAX;

	for (struct dnsq *q = e->queries; q; q = q->next)
		if (dnsq_expires(q))
			best = MIN(best, q->deadline);
	for (struct dns_conn *c = e->dconns; c; c = c->next)
		if (c->pending == 0 && c->out_len == 0)
			best = MIN(best, c->idle_deadline);
	return best;
}

void dns_collect(struct egress *e)
{
	while (e->query_grave) {
		struct dnsq *q = e->query_grave;

		e->query_grave = q->next;
		free(q->query);
		free(q->ans.msg);
		free(q);
	}
	while (e->dconn_grave) {
		struct dns_conn *c = e->dconn_grave;

		e->dconn_grave = c->next;
		free(c);
	}
}
