// SPDX-License-Identifier: MIT
/* egress.c: guest egress: listeners, the plumbing child, proxy/tproxy relays, stream dispatch. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "egress.h"
#include "guest.h"
#include "loop.h"
#include "mux.h"
#include "proto.h"
#include "tlv.h"
#include "util.h"

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80      /* linux/netfilter_ipv4.h */
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80 /* linux/netfilter_ipv6/ip6_tables.h */
#endif

#define ACCEPT_BATCH 32
#define LISTEN_BACKLOG 256
#define NET_WAIT_MS 15000u          /* OP_CONFIG waits this long for the plumbing child */
#define RELAY_QUEUE_MAX (2u * MUX_WINDOW_INIT) /* the mux holds the host to MUX_WINDOW_INIT */
#define RELAY_QUEUE_KEEP (256u * 1024u)

static const char *const relay_kinds[] = { "proxy", "tproxy", "ssh-agent", "tcp" }; /* OPEN_KIND */

static const char *const default_env[] = {
	"HTTP_PROXY=" EGRESS_PROXY_URL, "HTTPS_PROXY=" EGRESS_PROXY_URL,
	"http_proxy=" EGRESS_PROXY_URL, "https_proxy=" EGRESS_PROXY_URL,
	"NO_PROXY=" EGRESS_NO_PROXY,    "no_proxy=" EGRESS_NO_PROXY,
};

size_t egress_default_env(const char *const **ret)
{
	*ret = default_env;
	return ARRAY_SIZE(default_env);
}

/* ---- sockets ---- */

static int egress_listen(int family, int type, const char *addr, uint16_t port, int *ret_fd)
{
	_cleanup_close_ int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	union egress_addr a = { 0 };
	socklen_t alen;
	int one = 1;

	if (fd < 0)
		return -errno;
	if (family == AF_INET6) {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(port);
		alen = sizeof(a.in6);
		if (inet_pton(AF_INET6, addr, &a.in6.sin6_addr) != 1)
			return -EINVAL;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
			return -errno;
	} else {
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(port);
		alen = sizeof(a.in);
		if (inet_pton(AF_INET, addr, &a.in.sin_addr) != 1)
			return -EINVAL;
	}
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, &a.sa, alen) < 0)
		return -errno;
	if (type == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

void egress_set_rst(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	if (fd >= 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

void egress_abort_fd(int fd)
{
	if (fd < 0)
		return;
	egress_set_rst(fd);
	close(fd);
}

static void listener_open(struct egress *e, struct watch *w, enum watch_kind kind, int family, int type,
			  const char *addr, uint16_t port)
{
	int fd = -1, r;

	*w = (struct watch){ .fd = -1, .kind = kind, .owner = e };
	r = egress_listen(family, type, addr, port, &fd);
	if (r < 0) {
		log_warn("egress: cannot listen on %s%s%s:%u (%s): %s", family == AF_INET6 ? "[" : "", addr,
			 family == AF_INET6 ? "]" : "", port, type == SOCK_STREAM ? "tcp" : "udp", strerror(-r));
		return;
	}
	w->fd = fd;
	if (watch_set(e->g, w, EPOLLIN) < 0)
		watch_close(e->g, w);
}

/* ---- relays ---- */

static void relay_destroy(struct relay *r, bool reset, bool abort)
{
	struct egress *e = r->e;
	struct guest *g = e->g;

	if (r->live) {
		if (reset)
			(void)mux_reset(g->mux, r->id);
		else
			mux_set_user(g->mux, r->id, NULL);
		r->live = false;
	}
	if (abort)
		egress_set_rst(r->w.fd);
	watch_close(g, &r->w);
	free(r->q);
	r->q = NULL;
	r->q_len = r->q_off = r->q_cap = 0;
	for (struct relay **p = &e->relays; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			if (r->kind == RELAY_PORT)
				e->port_n--;
			else
				e->relay_n--;
			break;
		}
	}
	r->next = e->relay_grave;
	e->relay_grave = r;
}

/* A local I/O error: RESET the stream, RST the client. */
void relay_abort(struct relay *r)
{
	relay_destroy(r, true, true);
}

void relay_update(struct relay *r)
{
	struct guest *g = r->e->g;
	uint32_t ev = 0;

	if (r->w.fd < 0)
		return;
	if (r->rd_eof && r->wr_shut) {
		relay_destroy(r, false, false); /* both directions done; the mux forgot the stream */
		return;
	}
	if (r->connecting) {
		(void)watch_set(g, &r->w, EPOLLOUT);
		return;
	}
	if (!r->rd_eof && r->live && mux_credit(g->mux, r->id) > 0)
		ev |= EPOLLIN;
	if (r->q_len)
		ev |= EPOLLOUT;
	(void)watch_set(g, &r->w, ev);
}

/* Write as much of buf to the relay's (non-blocking) socket as it takes now; how much,
 * or -1 after failing the relay. */
static ssize_t relay_write(struct relay *r, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(r->w.fd, buf + off, len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		log_debug("egress: stream %u: write: %s", r->id, n < 0 ? strerror(errno) : "short");
		relay_abort(r);
		return -1;
	}
	return (ssize_t)off;
}

/* Write queued host bytes to the local socket; forward the host's CLOSE once empty. */
void relay_drain(struct relay *r)
{
	struct guest *g = r->e->g;

	if (r->connecting) {
		relay_update(r);
		return;
	}
	if (r->q_len > 0) {
		ssize_t n = relay_write(r, r->q + r->q_off, r->q_len);

		if (n < 0)
			return;
		r->q_off += (size_t)n;
		r->q_len -= (size_t)n;
		if (r->live && n > 0)
			(void)mux_grant(g->mux, r->id, (uint32_t)n);
	}
	if (r->q_len == 0) {
		r->q_off = 0;
		if (r->q_cap > RELAY_QUEUE_KEEP) {
			free(r->q);
			r->q = NULL;
			r->q_cap = 0;
		}
		if (r->peer_closed && !r->wr_shut) {
			(void)shutdown(r->w.fd, SHUT_WR);
			r->wr_shut = true;
		}
	}
	relay_update(r);
}

/* Local -> host: gather up to EGRESS_READ_MAX within the credit into one DATA frame. */
static void relay_read(struct relay *r)
{
	struct egress *e = r->e;
	struct guest *g = e->g;
	size_t want, got = 0;
	bool eof = false;

	if (!r->live || r->rd_eof) {
		relay_update(r);
		return;
	}
	want = MIN(mux_credit(g->mux, r->id), (size_t)EGRESS_READ_MAX);
	while (got < want) {
		ssize_t n = read(r->w.fd, e->buf + got, want - got);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			eof = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break;
		log_debug("egress: stream %u: read: %m", r->id);
		relay_abort(r);
		return;
	}
	if (got > 0) {
		long taken = mux_write(g->mux, r->id, 0, e->buf, got);

		if (taken != (long)got) {
			log_debug("egress: stream %u: mux took %ld of %zu bytes", r->id, taken, got);
			relay_abort(r);
			return;
		}
	}
	if (eof) {
		r->rd_eof = true;
		(void)mux_close(g->mux, r->id);
		if (r->peer_closed)
			r->live = false;
	}
	relay_update(r);
}

int egress_dst_put(struct tlv_writer *w, const union egress_addr *local, const union egress_addr *dst)
{
	uint16_t port;

	if (local->sa.sa_family == AF_INET) {
		if (dst->in.sin_family != AF_INET)
			return -EAFNOSUPPORT;
		if (dst->in.sin_addr.s_addr == local->in.sin_addr.s_addr && dst->in.sin_port == local->in.sin_port)
			return -EDESTADDRREQ;
		port = ntohs(dst->in.sin_port);
		tlv_put(w, OPEN_DST_ADDR, &dst->in.sin_addr, 4);
	} else if (local->sa.sa_family == AF_INET6) {
		if (dst->in6.sin6_family != AF_INET6)
			return -EAFNOSUPPORT;
		if (!memcmp(&dst->in6.sin6_addr, &local->in6.sin6_addr, 16) && dst->in6.sin6_port == local->in6.sin6_port)
			return -EDESTADDRREQ;
		port = ntohs(dst->in6.sin6_port);
		tlv_put(w, OPEN_DST_ADDR, &dst->in6.sin6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	tlv_put_u32(w, OPEN_DST_PORT, port);
	return 0;
}

/* The original destination of a redirected connection, as OPEN_DST_ADDR/PORT. A connection
 * that was not redirected (made to the listener itself) has none: refused. */
static int tproxy_dst(int fd, struct tlv_writer *w)
{
	union egress_addr local = { 0 }, dst = { 0 };
	socklen_t llen = sizeof(local), dlen;
	char txt[INET6_ADDRSTRLEN] = "?";
	bool v4;
	int r;

	if (getsockname(fd, &local.sa, &llen) < 0)
		return -errno;
	v4 = local.sa.sa_family == AF_INET;
	if (v4) {
		dlen = sizeof(dst.in);
		if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst.in, &dlen) < 0)
			return -errno;
		if (dlen != sizeof(dst.in))
			return -EAFNOSUPPORT;
	} else if (local.sa.sa_family == AF_INET6) {
		dlen = sizeof(dst.in6);
		if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst.in6, &dlen) < 0)
			return -errno;
		if (dlen != sizeof(dst.in6))
			return -EAFNOSUPPORT;
	}
	r = egress_dst_put(w, &local, &dst);
	if (r < 0)
		return r;
	inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? (const void *)&dst.in.sin_addr : (const void *)&dst.in6.sin6_addr,
		  txt, sizeof(txt));
	log_debug("egress: transparent connection to %s port %u", txt,
		  (unsigned)ntohs(v4 ? dst.in.sin_port : dst.in6.sin6_port));
	return 0;
}

static void relay_accept(struct egress *e, enum relay_kind kind, int fd)
{
	struct guest *g = e->g;
	const char *kname = relay_kinds[kind];
	uint8_t args[128];
	struct tlv_writer w;
	struct relay *r;
	uint32_t id;
	int rc;

	if (!e->session || e->relay_n >= EGRESS_MAX_RELAYS) {
		log_debug("egress: %s connection refused: %s", kname,
			  e->session ? "too many connections" : "no host session");
		egress_abort_fd(fd);
		return;
	}
	tlv_writer_init(&w, args, sizeof(args));
	tlv_put_str(&w, OPEN_KIND, kname);
	if (kind == RELAY_TPROXY && (rc = tproxy_dst(fd, &w)) < 0) {
		log_debug("egress: transparent connection refused: no original destination (%s)", strerror(-rc));
		egress_abort_fd(fd);
		return;
	}
	if (w.err || (rc = mux_open(g->mux, args, w.len, &id)) < 0) {
		log_debug("egress: %s connection refused: open stream: %s", kname, strerror(w.err ? -w.err : -rc));
		egress_abort_fd(fd);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->s.owner = STREAM_OWNER_EGRESS;
	r->s.kind = ESTREAM_RELAY;
	r->e = e;
	r->kind = kind;
	r->id = id;
	r->live = true;
	r->w = (struct watch){ .fd = fd, .kind = WATCH_EGRESS_RELAY, .owner = r };
	r->next = e->relays;
	e->relays = r;
	e->relay_n++;
	mux_set_user(g->mux, id, r);
	log_debug("egress: stream %u: %s connection", id, kname);
	relay_update(r);
}

void egress_agent_accept(struct guest *g, int fd)
{
	if (!g->egress) {
		close(fd);
		return;
	}
	relay_accept(g->egress, RELAY_AGENT, fd);
}

static void relay_on_data(struct relay *r, const uint8_t *data, size_t len)
{
	struct guest *g = r->e->g;
	size_t off = 0;

	if (r->w.fd < 0 || r->wr_shut) {
		(void)mux_grant(g->mux, r->id, (uint32_t)len);
		return;
	}
	if (r->q_len == 0 && !r->connecting) {
		ssize_t n = relay_write(r, data, len);

		if (n < 0)
			return;
		off = (size_t)n;
		if (off)
			(void)mux_grant(g->mux, r->id, (uint32_t)off);
	}
	if (off < len) {
		size_t rest = len - off;

		if (r->q_len + rest > RELAY_QUEUE_MAX) {
			relay_abort(r); /* more than the credit we gave: cannot happen */
			return;
		}
		if (r->q_off + r->q_len + rest > r->q_cap) {
			if (r->q_off) {
				memmove(r->q, r->q + r->q_off, r->q_len);
				r->q_off = 0;
			}
			if (r->q_len + rest > r->q_cap) {
				size_t cap = MAX(MAX(r->q_cap * 2, (size_t)64 * 1024), r->q_len + rest);
				uint8_t *nq = realloc(r->q, cap);

				if (!nq) {
					relay_abort(r);
					return;
				}
				r->q = nq;
				r->q_cap = cap;
			}
		}
		memcpy(r->q + r->q_off + r->q_len, data + off, rest);
		r->q_len += rest;
	}
	relay_update(r);
}

static void relay_on_close(struct relay *r)
{
	r->peer_closed = true;
	if (r->rd_eof)
		r->live = false; /* both sides closed: the mux forgets the stream after this callback */
	relay_drain(r);
}

/* ---- listeners ---- */

static void egress_accept(struct egress *e, struct watch *l)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_debug("egress: accept: %m");
			return;
		}
		if (l == &e->dns_tcp)
			dns_accept(e, fd);
		else
			relay_accept(e, l == &e->proxy ? RELAY_PROXY : RELAY_TPROXY, fd);
	}
}

void egress_on_event(struct guest *g, struct watch *w, uint32_t events)
{
	struct egress *e = g->egress;
	struct relay *r;

	switch (w->kind) {
	case WATCH_EGRESS_LISTEN:
		egress_accept(e, w);
		break;
	case WATCH_EGRESS_RELAY:
		r = w->owner;
		if (r->connecting) {
			if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				egress_port_connected(r);
			break;
		}
		if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && r->q_len)
			relay_drain(r);
		if (r->w.fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && (r->w.events & EPOLLIN))
			relay_read(r);
		break;
	case WATCH_EGRESS_DNS_UDP:
	case WATCH_EGRESS_DNS_CONN:
		dns_on_event(e, w, events);
		break;
	default:
		break;
	}
}

/* ---- mux callbacks for our streams ---- */

static struct estream *estream_get(struct guest *g, uint32_t id)
{
	return g->egress && id ? mux_get_user(g->mux, id) : NULL;
}

void egress_on_data(struct guest *g, uint32_t id, const uint8_t *data, size_t len)
{
	struct estream *s = estream_get(g, id);

	if (!s)
		(void)mux_grant(g->mux, id, (uint32_t)len);
	else if (s->kind == ESTREAM_RELAY)
		relay_on_data((struct relay *)s, data, len);
	else
		dnsq_on_data(g->egress, (struct dnsq *)s, data, len);
}

void egress_on_ctrl(struct guest *g, uint32_t id, const uint8_t *data, size_t len)
{
	struct tlv_reader rd;
	const uint8_t *val;
	uint32_t vlen;
	uint16_t tag;

	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &val, &vlen) > 0)
		if (tag == CTRL_MSG)
			log_debug("egress: stream %u: host says: %.*s", id, (int)MIN(vlen, 512u), (const char *)val);
}

void egress_on_window(struct guest *g, uint32_t id)
{
	struct estream *s = estream_get(g, id);

	if (s && s->kind == ESTREAM_RELAY)
		relay_update((struct relay *)s);
}

void egress_on_close(struct guest *g, uint32_t id)
{
	struct estream *s = estream_get(g, id);

	if (!s)
		return;
	if (s->kind == ESTREAM_RELAY)
		relay_on_close((struct relay *)s);
	else
		dnsq_on_close(g->egress, (struct dnsq *)s);
}

void egress_on_reset(struct guest *g, uint32_t id)
{
	struct estream *s = estream_get(g, id);
	struct relay *r;

	if (!s)
		return;
	if (s->kind == ESTREAM_DNS) {
		dnsq_on_reset(g->egress, (struct dnsq *)s);
		return;
	}
	r = (struct relay *)s;
	log_debug("egress: stream %u: reset", r->id);
	r->live = false;
	relay_destroy(r, false, true);
}

/* ---- sessions ---- */

void egress_session_start(struct guest *g)
{
	if (g->egress)
		g->egress->session = true;
}

void egress_session_end(struct guest *g)
{
	struct egress *e = g->egress;

	if (!e)
		return;
	e->session = false;
	/* Streams were reset (and their relays closed) by the session reset; what is left
	 * only drains to a client, and belongs to the old session: close it too. */
	while (e->relays) {
		e->relays->live = false;
		relay_destroy(e->relays, false, true);
	}
}

/* ---- start-up, plumbing child, timers ---- */

static void net_done(struct egress *e, int wstatus)
{
	uint64_t ms = now_ms() - e->net_start_ms;

	e->net_pid = 0;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		log_debug("egress: plumbing done in %llu ms", (unsigned long long)ms);
	else if (WIFEXITED(wstatus))
		log_warn("egress: plumbing finished with %d failed step(s) after %llu ms (see above)",
			 WEXITSTATUS(wstatus), (unsigned long long)ms);
	else
		log_warn("egress: plumbing killed by signal %d", WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
}

void egress_init(struct guest *g, enum egress_net net)
{
	struct egress *e = xcalloc(1, sizeof(*e));
	pid_t pid;

	e->g = g;
	e->net = net;
	e->buf = xmalloc(EGRESS_READ_MAX);
	g->egress = e;
	if (net == EGRESS_NET_NONE)
		log_info("egress: sbx.noegress=1: no sbx0 interface, no nftables capture");

	/* Fork before the listeners exist, so the child holds none of them. */
	e->net_start_ms = now_ms();
	pid = fork();
	if (pid == 0) {
		int failed = egress_net_setup(net);

		_exit(MIN(failed, 100));
	}
	if (pid < 0)
		log_err("egress: fork: %m");
	else
		e->net_pid = pid;

	listener_open(e, &e->proxy, WATCH_EGRESS_LISTEN, AF_INET, SOCK_STREAM, "127.0.0.1", EGRESS_PROXY_PORT);
	listener_open(e, &e->tproxy4, WATCH_EGRESS_LISTEN, AF_INET, SOCK_STREAM, "0.0.0.0", EGRESS_TPROXY_PORT);
	listener_open(e, &e->tproxy6, WATCH_EGRESS_LISTEN, AF_INET6, SOCK_STREAM, "::", EGRESS_TPROXY_PORT);
	/* any address: nested containers' questions (to whatever resolver they were given)
	 * are redirected here too; the VM has no network device they could come from */
	listener_open(e, &e->dns_udp, WATCH_EGRESS_DNS_UDP, AF_INET, SOCK_DGRAM, "0.0.0.0", EGRESS_DNS_PORT);
	listener_open(e, &e->dns_tcp, WATCH_EGRESS_LISTEN, AF_INET, SOCK_STREAM, "0.0.0.0", EGRESS_DNS_PORT);
}

bool egress_child_exited(struct guest *g, pid_t pid, int wstatus)
{
	struct egress *e = g->egress;

	if (!e || e->net_pid <= 0 || pid != e->net_pid)
		return false;
	net_done(e, wstatus);
	return true;
}

void egress_configure(struct guest *g)
{
	struct egress *e = g->egress;
	uint64_t deadline = now_ms() + NET_WAIT_MS;

	if (!e || e->net_waited)
		return;
	e->net_waited = true; /* later configs (a host reconnecting) do not wait again */
	while (e->net_pid > 0) {
		int st;
		pid_t p = waitpid(e->net_pid, &st, WNOHANG);

		if (p == e->net_pid) {
			net_done(e, st);
			break;
		}
		if (p < 0 && errno != EINTR) {
			e->net_pid = 0; /* reaped elsewhere */
			break;
		}
		if (now_ms() >= deadline) {
			log_err("egress: plumbing still running after %u ms; not waiting for it", NET_WAIT_MS);
			break; /* the reaper collects it */
		}
		nanosleep(&(struct timespec){ .tv_nsec = 1000 * 1000 }, NULL);
	}
}

void egress_tick(struct guest *g, uint64_t now)
{
	if (g->egress)
		dns_tick(g->egress, now);
}

int egress_timeout(struct guest *g, uint64_t now)
{
	uint64_t d;

	if (!g->egress)
		return -1;
	d = dns_deadline(g->egress);
	if (d == UINT64_MAX)
		return -1;
	return d <= now ? 0 : (int)MIN(d - now, (uint64_t)1000);
}

void egress_collect(struct guest *g)
{
	struct egress *e = g->egress;

	if (!e)
		return;
	while (e->relay_grave) {
		struct relay *r = e->relay_grave;

		e->relay_grave = r->next;
		free(r);
	}
	dns_collect(e);
}
