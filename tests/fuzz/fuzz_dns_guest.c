// SPDX-License-Identifier: MIT
/* fuzz_dns_guest.c: libFuzzer target: the guest's DNS stub (src/guest/egress_dns.c):
 * queries from UDP and TCP clients (TCP framing, pipelining), answers from the host
 * arriving in pieces, resets, closes and timeouts, in an order chosen by the input.
 *
 * egress_dns.c is included so that its static functions run as in sbx-guest; the
 * rest of sbx-guest (epoll watches, sockets) is stubbed below, the mux is the real one
 * (with no peer: its output is dropped). A TCP client is a socketpair whose far end
 * the harness writes to; after each operation one poll() over the connections and the
 * clients plays sbx-guest's epoll loop (pump()).
 *
 * Input: a sequence of operations, each one byte (op) plus its data:
 *   0 UDP query: u16 length, bytes         1 TCP: new connection
 *   2 TCP bytes: u16 length, bytes         3 TCP client EOF
 *   4 host answer bytes to query k: u8 k, u16 length, bytes
 *   5 host CLOSE of query k                6 host RESET of query k
 *   7 timers fire                          8 session down / up
 */
#include <assert.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include "../../src/guest/egress_dns.c"
#include "fuzzlib.h"

/* ---- stubs for the parts of sbx-guest egress_dns.c calls ---- */

void egress_set_rst(int fd)
{
	(void)fd;
}

void egress_abort_fd(int fd)
{
	close(fd);
}

/* Set when a connection did I/O, changed its events or closed (conn_update and
 * conn_close always end in one of the two below), or the harness wrote to a client:
 * until then, a poll that found nothing ready would find nothing again. */
static bool fz_dirty;

int watch_set(struct guest *g, struct watch *w, uint32_t events)
{
	w->events = events;
	fz_dirty = true;
	return 0;
}

void watch_close(struct guest *g, struct watch *w)
{
	fz_dirty = true;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->events = 0;
}

static const struct mux_ops no_ops;

#define FZ_CONNS 4

struct h {
	struct guest g;
	struct egress e;
	int peer[FZ_CONNS];     /* client ends of the TCP connections */
	bool peer_eof[FZ_CONNS];/* the client read the end of its connection */
	unsigned nconn;
	bool ready;             /* the last poll found something ready */
};

static struct dnsq *nth_query(struct egress *e, unsigned k)
{
	struct dnsq *q = e->queries;

	for (unsigned i = 0; q && i < k; i++)
		q = q->next;
	return q;
}

/* The dns_conn a new fd became (dns_accept pushes it at the head). */
static void tcp_new(struct h *h)
{
	int sv[2];

	if (h->nconn == FZ_CONNS || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	dns_accept(&h->e, sv[0]);
	if (h->e.dconns && h->e.dconns->w.fd == sv[0])
		h->peer[h->nconn++] = sv[1];
	else
		close(sv[1]);
}

/* One turn of the event loop: poll() stands in for sbx-guest's epoll (level-triggered,
 * only the events each watch asks for, ERR and HUP always), then the clients read what
 * they were sent. One syscall when nothing is ready, none when nothing happened since
 * a poll found nothing (fz_dirty): calling every connection with EPOLLIN | EPOLLOUT and
 * draining every client until EAGAIN cost ~10 syscalls per operation. */
static void pump(struct h *h)
{
	struct pollfd pf[DNS_TCP_MAX_CONNS + FZ_CONNS];
	struct dns_conn *cs[DNS_TCP_MAX_CONNS];
	unsigned pk[FZ_CONNS];
	nfds_t n = 0, nc, np = 0;
	char sink[4096];

	if (!fz_dirty && !h->ready)
		return;
	fz_dirty = false;
	h->ready = false;

	for (struct dns_conn *c = h->e.dconns; c && n < DNS_TCP_MAX_CONNS; c = c->next) {
		if (c->w.fd < 0)
			continue;
		pf[n] = (struct pollfd){ .fd = c->w.fd, .events = (short)(c->w.events & (EPOLLIN | EPOLLOUT)) };
		cs[n++] = c;
	}
	nc = n;
	for (unsigned k = 0; k < h->nconn; k++) {
		if (h->peer_eof[k])
			continue;
		pf[n++] = (struct pollfd){ .fd = h->peer[k], .events = POLLIN };
		pk[np++] = k;
	}
	if (n == 0 || poll(pf, n, 0) <= 0)
		return;
	h->ready = true;   /* what it does may make others ready (a drained client) */
	/* A connection closed by an earlier one's event (never in practice) has fd -1;
	 * conn_close only moves it to the grave, so the pointer stays valid. */
	for (nfds_t i = 0; i < nc; i++)
		if (pf[i].revents && cs[i]->w.fd == pf[i].fd)
			dns_on_event(&h->e, &cs[i]->w, (uint32_t)pf[i].revents);
	for (nfds_t i = nc; i < n; i++) {
		ssize_t r;

		if (!pf[i].revents)
			continue;
		while ((r = read(pf[i].fd, sink, sizeof(sink))) == (ssize_t)sizeof(sink))
			;
		if (r == 0)
			h->peer_eof[pk[i - nc]] = true;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	signal(SIGPIPE, SIG_IGN);   /* as sbx-guest does: a client gone is EPIPE, not death */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct h h = { 0 };
	unsigned ops = 0;

	fz_dirty = false;

	h.g.mux = mux_new(false, &no_ops, &h);
	h.g.egress = &h.e;
	h.e.g = &h.g;
	h.e.session = true;
	h.e.dns_udp.fd = -1;
	h.e.buf = NULL;
	while (in.n && ops++ < 200) {
		uint8_t op = fz_u8(&in) % 9;
		unsigned i = h.nconn ? fz_u8(&in) % h.nconn : 0;
		struct fz_in d;
		struct dnsq *q;

		switch (op) {
		case 0:
			d = fz_take(&in, fz_u16(&in) % (DNS_MAX_QUERY + 1));
			if (d.n >= DNS_HDR_LEN && h.e.query_n < EGRESS_DNS_MAX_INFLIGHT) {
				union egress_addr peer = { 0 };
				dnsq_start(&h.e, d.p, d.n, NULL, &peer, sizeof(peer.in));
			}
			break;
		case 1:
			tcp_new(&h);
			break;
		case 2:
			d = fz_take(&in, fz_u16(&in) % 8192);
			if (h.nconn) {
				if (write(h.peer[i], d.p, d.n) < 0)
					break;
				fz_dirty = true;
			}
			break;
		case 3:
			if (h.nconn) {
				shutdown(h.peer[i], SHUT_WR);
				fz_dirty = true;
			}
			break;
		case 4:
			q = nth_query(&h.e, fz_u8(&in) % 64);
			d = fz_take(&in, fz_u16(&in) % 8192);
			if (q && q->id)
				dnsq_on_data(&h.e, q, d.p, d.n);
			break;
		case 5:
		case 6:
			q = nth_query(&h.e, fz_u8(&in) % 64);
			if (q && q->id) {
				/* the mux forgets the stream before it calls back */
				(void)mux_reset(h.g.mux, q->id);
				if (op == 5)
					dnsq_on_close(&h.e, q);
				else
					dnsq_on_reset(&h.e, q);
			}
			break;
		case 7:
			dns_tick(&h.e, now_ms() + DNS_TCP_IDLE_MS + 1);
			(void)dns_deadline(&h.e);
			break;
		case 8:
			h.e.session = !h.e.session;
			break;
		}
		pump(&h);
		dns_collect(&h.e);
		assert(h.e.query_n <= EGRESS_DNS_MAX_INFLIGHT + DNS_TCP_MAX_CONNS * DNS_TCP_PIPELINE);
	}
	/* Tear down as a session end does: every stream reset, every connection closed. */
	for (;;) {
		struct dnsq *q = h.e.queries;

		while (q && !q->id)
			q = q->next;
		if (!q)
			break;
		(void)mux_reset(h.g.mux, q->id);
		dnsq_on_reset(&h.e, q);
	}
	while (h.e.dconns)
		conn_close(h.e.dconns, true);
	dns_tick(&h.e, UINT64_MAX);
	dns_collect(&h.e);
	assert(!h.e.queries && h.e.query_n == 0 && !h.e.dconns);
	for (unsigned k = 0; k < h.nconn; k++)
		close(h.peer[k]);
	mux_free(h.g.mux);
	return 0;
}
