// SPDX-License-Identifier: MIT
/* ports.c: published ports: host listeners of a running sandbox, each connection relayed
 * to a host-opened "tcp" stream on the guest channel (see the theory in ports.h). */
#include "ports.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "egress_streams.h"
#include "mux.h"
#include "proto.h"
#include "sbxd.h"
#include "textesc.h"
#include "tlv.h"
#include "util.h"

#define PORTS_BACKLOG 128
#define PORTS_READ_CHUNK (64u * 1024u)

struct port_listener {
	struct ev_listen l;            /* ev.kind EV_PORT_LISTEN, ev.obj = this; fd -1 when not bound */
	struct port_listener *next;    /* sb->port_listeners, or d->port_ldead */
	struct sandbox *sb;
	struct portspec spec;
	int err;                       /* last bind error (-errno), 0 when listening */
	uint64_t retry_ms;
	char what[PORTSPEC_TEXT_MAX + 32];
};

struct port_conn {
	enum chan_owner owner;         /* CHAN_OWNER_PORT: first, see sbxd.h */
	struct evsrc ev;               /* EV_PORT_CONN; fd -1 once closed */
	struct port_conn *next, *prev; /* sb->port_conns */
	struct port_conn *next_dead;
	struct sandbox *sb;
	struct port_listener *l;       /* NULL once its listener is gone */
	uint32_t id;                   /* guest stream */
	bool live;                     /* the mux still knows id */
	struct buf q;                  /* guest -> host bytes not written yet (<= the credit we gave) */
	bool rd_eof;                   /* host EOF seen, our CLOSE sent */
	bool peer_closed;              /* guest CLOSE received */
	bool wr_shut;                  /* ... and passed on with shutdown(SHUT_WR) */
	bool tx_waiting;               /* the channel's output was full */
	bool dead;
};

static struct mux *pc_mux(struct port_conn *pc)
{
	return pc->sb->chan.mux;
}

static size_t mux_tx_len(struct mux *m)
{
	const uint8_t *p;

	return mux_tx_peek(m, &p);
}

/* ---- binding ---- */

static int port_bind(const struct portspec *p, int *ret_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = portspec_sockaddr(p, &ss);
	_cleanup_close_ int fd = socket(p->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if (p->family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static char *bind_error(const struct portspec *p, int err)
{
	char h[PORTSPEC_TEXT_MAX];

	portspec_format_host(p, h, sizeof(h));
	if (err == -EADDRINUSE)
		return xasprintf("host port %s is already in use", h);
	if (err == -EACCES)
		return xasprintf("cannot listen on %s: %s (ports below 1024 need privileges)", h, strerror(-err));
	return xasprintf("cannot listen on %s: %s", h, strerror(-err));
}

static struct port_listener *listener_find(struct sandbox *sb, const struct portspec *p)
{
	for (struct port_listener *l = sb ? sb->port_listeners : NULL; l; l = l->next)
		if (portspec_same_host(&l->spec, p))
			return l;
	return NULL;
}

int ports_check_free(struct sandbox *sb, const struct portspec *list, size_t n, char **ret_err)
{
	for (size_t i = 0; i < n; i++) {
		struct port_listener *l = listener_find(sb, &list[i]);
		int fd, r;

		if (l && l->l.ev.fd >= 0)
			continue;
		r = port_bind(&list[i], &fd);
		if (r < 0) {
			*ret_err = bind_error(&list[i], r);
			return r;
		}
		close(fd);
	}
	return 0;
}

/* Bind and listen; on failure l->err says why and a retry is due later. */
static int listener_open(struct port_listener *l)
{
	struct sandbox *sb = l->sb;
	int fd, r = port_bind(&l->spec, &fd);

	if (r == 0 && listen(fd, PORTS_BACKLOG) < 0) {
		r = -errno;
		close(fd);
	}
	if (r == 0) {
		l->l.ev.fd = fd;
		if ((r = ev_set(sb->d->epfd, &l->l.ev, EPOLLIN)) < 0) {
			close(fd);
			l->l.ev.fd = -1;
		}
	}
	if (r < 0 && r != l->err) {
		_cleanup_free_ char *why = bind_error(&l->spec, r);
		log_warn("%s: published port: %s; retrying every %u s", sb->spec.name, why, PORTS_RETRY_MS / 1000);
	}
	l->err = r < 0 ? r : 0;
	l->retry_ms = now_ms() + PORTS_RETRY_MS;
	if (r == 0)
		log_debug("%s: listening on %s", sb->spec.name, l->what);
	return r;
}

static struct port_listener *listener_new(struct sandbox *sb, const struct portspec *p)
{
	struct port_listener *l = xcalloc(1, sizeof(*l));
	char h[PORTSPEC_TEXT_MAX];

	l->sb = sb;
	l->spec = *p;
	portspec_format_host(p, h, sizeof(h));
	snprintf(l->what, sizeof(l->what), "published port %s", h);
	l->l = (struct ev_listen){ .ev = { .kind = EV_PORT_LISTEN, .fd = -1, .obj = l }, .what = l->what };
	l->next = sb->port_listeners;
	sb->port_listeners = l;
	return l;
}

/* ---- connections ---- */

static void conn_kill(struct port_conn *pc, bool reset, bool rst)
{
	struct sandbox *sb = pc->sb;

	if (pc->dead)
		return;
	pc->dead = true;
	if (pc->live && pc_mux(pc)) {
		if (reset)
			(void)mux_reset(pc_mux(pc), pc->id);
		else
			mux_set_user(pc_mux(pc), pc->id, NULL);
	}
	pc->live = false;
	if (pc->ev.fd >= 0) {
		if (rst) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			(void)setsockopt(pc->ev.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		ev_del(sb->d->epfd, &pc->ev);
		close(pc->ev.fd);
		pc->ev.fd = -1;
	}
	buf_free(&pc->q);
	if (pc->prev)
		pc->prev->next = pc->next;
	else
		sb->port_conns = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	sb->port_conn_n--;
	sb->d->port_conn_n--;
	pc->next_dead = sb->d->port_dead;
	sb->d->port_dead = pc;
}

static void conn_update(struct port_conn *pc)
{
	struct mux *m = pc_mux(pc);
	uint32_t ev = 0;

	if (pc->dead)
		return;
	if (pc->rd_eof && pc->wr_shut) {
		conn_kill(pc, false, false);   /* both directions done; the mux forgot the stream */
		return;
	}
	if (!pc->rd_eof && pc->live && m && mux_credit(m, pc->id) > 0) {
		if (mux_tx_len(m) < EGRESS_TX_HIGH) {
			ev |= EPOLLIN;
		} else {
			pc->tx_waiting = true;
			pc->sb->ports_tx_waiting = true;
		}
	}
	if (pc->q.len)
		ev |= EPOLLOUT;
	if (ev_set(pc->sb->d->epfd, &pc->ev, ev) < 0)
		conn_kill(pc, true, true);
}

/* Host socket -> guest: within the credit and CONN_READ_BUDGET per wake-up. */
static void conn_read(struct port_conn *pc)
{
	uint8_t chunk[PORTS_READ_CHUNK];
	struct mux *m = pc_mux(pc);
	size_t got = 0;

	while (!pc->dead && !pc->rd_eof && pc->live && got < CONN_READ_BUDGET && mux_tx_len(m) < EGRESS_TX_HIGH) {
		size_t want = MIN(mux_credit(m, pc->id), sizeof(chunk));
		ssize_t n;

		if (want == 0)
			break;
		n = recv(pc->ev.fd, chunk, want, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			conn_kill(pc, true, true);
			return;
		}
		if (n == 0) {
			pc->rd_eof = true;
			(void)mux_close(m, pc->id);
			if (pc->peer_closed)
				pc->live = false;   /* both closed: the mux forgot it */
			break;
		}
		if (mux_write(m, pc->id, 0, chunk, (size_t)n) != n) {
			conn_kill(pc, true, true);
			return;
		}
		got += (size_t)n;
	}
	conn_update(pc);
}

/* Queued guest bytes -> host socket; the guest's CLOSE follows once they are out. */
static void conn_drain(struct port_conn *pc)
{
	while (pc->q.len > 0) {
		ssize_t n = send(pc->ev.fd, buf_head(&pc->q), pc->q.len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_kill(pc, true, true);
			return;
		}
		buf_consume(&pc->q, (size_t)n);
		if (pc->live)
			(void)mux_grant(pc_mux(pc), pc->id, (uint32_t)n);
	}
	if (pc->q.len == 0) {
		buf_free(&pc->q);
		if (pc->peer_closed && !pc->wr_shut) {
			(void)shutdown(pc->ev.fd, SHUT_WR);
			pc->wr_shut = true;
		}
	}
	conn_update(pc);
}

static void conn_new(struct port_listener *l, int fd)
{
	struct sandbox *sb = l->sb;
	struct mux *m = sb->chan.mux;
	uint8_t args[64];
	struct tlv_writer w;
	struct port_conn *pc;
	uint32_t id;

	if (sb->state != SB_RUNNING || !m || sb->port_conn_n >= PORTS_CONN_MAX ||
	    sb->d->port_conn_n >= PORTS_CONN_MAX_TOTAL) {
		log_debug("%s: %s: connection refused (%s)", sb->spec.name, l->what,
			  sb->state != SB_RUNNING || !m ? "not running" : "too many connections");
		close(fd);
		return;
	}
	tlv_writer_init(&w, args, sizeof(args));
	tlv_put_str(&w, OPEN_KIND, "tcp");
	tlv_put_u32(&w, OPEN_DST_PORT, l->spec.guest_port);
	if (w.err || mux_open(m, args, w.len, &id) < 0) {
		close(fd);
		return;
	}
	pc = xcalloc(1, sizeof(*pc));
	pc->owner = CHAN_OWNER_PORT;
	pc->ev = (struct evsrc){ .kind = EV_PORT_CONN, .fd = fd, .obj = pc };
	pc->sb = sb;
	pc->l = l;
	pc->id = id;
	pc->live = true;
	buf_init(&pc->q, MUX_WINDOW_INIT);
	pc->next = sb->port_conns;
	if (pc->next)
		pc->next->prev = pc;
	sb->port_conns = pc;
	sb->port_conn_n++;
	sb->d->port_conn_n++;
	mux_set_user(m, id, pc);
	conn_update(pc);
}

static void listener_accept(struct port_listener *l)
{
	for (int i = 0; i < EV_LISTEN_BATCH; i++) {
		int fd, r = ev_listen_accept(l->sb->d->epfd, &l->l, &fd);

		if (r == -EAGAIN)
			return;
		if (r == 0)
			conn_new(l, fd);
	}
}

/* Close a listener (its connections go too) and park it until the end of the turn. */
static void listener_kill(struct port_listener *l)
{
	struct sandbox *sb = l->sb;
	struct port_conn *pc, *next;

	for (struct port_listener **pp = &sb->port_listeners; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	for (pc = sb->port_conns; pc; pc = next) {
		next = pc->next;
		if (pc->l == l)
			conn_kill(pc, true, true);
	}
	if (l->l.ev.fd >= 0) {
		ev_del(sb->d->epfd, &l->l.ev);
		close(l->l.ev.fd);
		l->l.ev.fd = -1;
	}
	l->sb = NULL;
	l->next = sb->d->port_ldead;
	sb->d->port_ldead = l;
}

void ports_listen(struct sandbox *sb)
{
	for (size_t i = 0; i < sb->spec.n_ports; i++) {
		struct port_listener *l = listener_find(sb, &sb->spec.ports[i]);
		if (!l)
			l = listener_new(sb, &sb->spec.ports[i]);
		l->spec.guest_port = sb->spec.ports[i].guest_port;
		if (l->l.ev.fd < 0)
			(void)listener_open(l);
	}
}

void ports_close(struct sandbox *sb)
{
	while (sb->port_conns)
		conn_kill(sb->port_conns, true, true);
	while (sb->port_listeners)
		listener_kill(sb->port_listeners);
	sb->ports_tx_waiting = false;
}

bool ports_listening(struct sandbox *sb, const struct portspec *p, const char **ret_why)
{
	struct port_listener *l = listener_find(sb, p);

	if (l && l->l.ev.fd >= 0)
		return true;
	*ret_why = !l ? "the sandbox is not running" : l->err == -EADDRINUSE ? "the host port is in use" : "cannot listen";
	return false;
}

static bool spec_matches(const struct portspec *have, const struct portspec *del)
{
	return portspec_same_host(have, del) && (!del->guest_port || have->guest_port == del->guest_port);
}

static bool host_port_matches(const struct portspec *have, const struct portspec *del)
{
	/* a bare HOSTPORT (family 0) names the port on whatever address */
	return del->family == 0 ? have->host_port == del->host_port : spec_matches(have, del);
}

int ports_update(struct sandbox *sb, const struct portspec *add, size_t nadd, const struct portspec *del, size_t ndel,
		 char **ret_err)
{
	_cleanup_free_ char *specp = xasprintf("%s/spec.json", sb->dir);
	struct portspec next[PORTSPEC_MAX * 2];
	size_t n = 0;
	const char *verr = NULL;
	struct spec saved;
	int r;

	for (size_t j = 0; j < ndel; j++) {
		bool found = false;
		for (size_t i = 0; i < sb->spec.n_ports; i++)
			found |= host_port_matches(&sb->spec.ports[i], &del[j]);
		if (!found) {
			char t[PORTSPEC_TEXT_MAX];
			if (del[j].family && del[j].guest_port)
				portspec_format(&del[j], t, sizeof(t));
			else if (del[j].family)
				portspec_format_host(&del[j], t, sizeof(t));
			else
				snprintf(t, sizeof(t), "%u", (unsigned)del[j].host_port);
			return *ret_err = xasprintf("%s is not published by sandbox '%s'", t, sb->spec.name), -ENOENT;
		}
	}
	for (size_t i = 0; i < sb->spec.n_ports; i++) {
		bool drop = false;
		for (size_t j = 0; j < ndel; j++)
			drop |= host_port_matches(&sb->spec.ports[i], &del[j]);
		if (!drop)
			next[n++] = sb->spec.ports[i];
	}
	for (size_t j = 0; j < nadd && n < ARRAY_SIZE(next); j++) {
		bool have = false;
		for (size_t i = 0; i < n; i++)
			have |= portspec_equal(&next[i], &add[j]);
		if (!have)
			next[n++] = add[j];
	}
	if (n > PORTSPEC_MAX || portspec_list_check(next, n, &verr) < 0)
		return *ret_err = xstrdup(verr ? verr : "too many published ports (32 at most)"), -EINVAL;
	/* New ones must be free now (ours count as free), whether or not it runs. */
	for (size_t i = 0; i < n; i++) {
		bool old = false;
		for (size_t k = 0; k < sb->spec.n_ports; k++)
			old |= portspec_same_host(&sb->spec.ports[k], &next[i]);
		if (!old && (r = ports_check_free(sb, &next[i], 1, ret_err)) < 0)
			return r;
	}
	saved = sb->spec;
	memcpy(sb->spec.ports, next, n * sizeof(next[0]));
	sb->spec.n_ports = n;
	r = spec_save(&sb->spec, specp);
	if (r < 0) {
		memcpy(sb->spec.ports, saved.ports, sizeof(saved.ports));
		sb->spec.n_ports = saved.n_ports;
		return *ret_err = xasprintf("cannot write %s: %s", specp, strerror(-r)), r;
	}
	/* Listeners follow the spec: the removed ones close, the new ones open. */
	for (struct port_listener *l = sb->port_listeners, *nl; l; l = nl) {
		bool keep = false;
		nl = l->next;
		for (size_t i = 0; i < n; i++)
			keep |= portspec_equal(&next[i], &l->spec);
		if (!keep)
			listener_kill(l);
	}
	if (sb->state == SB_RUNNING)
		ports_listen(sb);
	return 0;
}

/* ---- the loop ---- */

void ports_on_event(struct evsrc *ev, uint32_t events)
{
	if (ev->kind == EV_PORT_LISTEN) {
		struct port_listener *l = ev->obj;
		if (l->sb && l->l.ev.fd >= 0)
			listener_accept(l);
		return;
	}
	struct port_conn *pc = ev->obj;
	if (pc->dead)
		return;
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && pc->q.len)
		conn_drain(pc);
	if (!pc->dead && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && (pc->ev.events & EPOLLIN))
		conn_read(pc);
	else if (!pc->dead && (events & EPOLLERR))
		conn_kill(pc, true, true);
}

bool ports_tx_room(struct sandbox *sb)
{
	struct port_conn *pc, *next;

	if (!sb->ports_tx_waiting || !sb->chan.mux || mux_tx_len(sb->chan.mux) >= EGRESS_TX_HIGH / 2)
		return false;
	sb->ports_tx_waiting = false;
	for (pc = sb->port_conns; pc; pc = next) {
		next = pc->next;
		if (pc->tx_waiting) {
			pc->tx_waiting = false;
			conn_update(pc);
		}
	}
	return true;
}

void ports_tick(struct sandbox *sb, uint64_t now)
{
	for (struct port_listener *l = sb->port_listeners; l; l = l->next) {
		if (l->l.ev.fd < 0 && sb->state == SB_RUNNING && now >= l->retry_ms)
			(void)listener_open(l);
		else if (l->l.ev.fd >= 0)
			ev_listen_tick(sb->d->epfd, &l->l, now);
	}
}

void ports_reap(struct sbxd *d)
{
	while (d->port_dead) {
		struct port_conn *pc = d->port_dead;
		d->port_dead = pc->next_dead;
		free(pc);
	}
	while (d->port_ldead) {
		struct port_listener *l = d->port_ldead;
		d->port_ldead = l->next;
		free(l);
	}
}

/* ---- the guest's side of a connection's stream ---- */

void ports_guest_data(struct port_conn *pc, const uint8_t *data, size_t len)
{
	size_t off = 0;

	if (pc->dead || pc->wr_shut)
		return;
	if (pc->q.len == 0) {
		while (off < len) {
			ssize_t n = send(pc->ev.fd, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0) {
				conn_kill(pc, true, true);
				return;
			}
			off += (size_t)n;
		}
		if (off)
			(void)mux_grant(pc_mux(pc), pc->id, (uint32_t)off);
	}
	/* The mux holds the guest to the credit we gave, and the queue to that much. */
	if (off < len && buf_append(&pc->q, data + off, len - off) < 0) {
		conn_kill(pc, true, true);
		return;
	}
	conn_update(pc);
}

void ports_guest_ctrl(struct port_conn *pc, const uint8_t *data, size_t len)
{
	struct tlv_reader rd;
	const uint8_t *v;
	uint32_t vlen;
	uint16_t tag;

	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &v, &vlen) > 0)
		if (tag == CTRL_MSG && !pc->dead) {
			_cleanup_free_ char *msg = text_escape((const char *)v, MIN(vlen, 256u), ESC_BACKSLASH);
			log_debug("%s: %s: guest: %s", pc->sb->spec.name, pc->l ? pc->l->what : "published port", msg);
		}
}

void ports_guest_window(struct port_conn *pc)
{
	conn_update(pc);
}

void ports_guest_close(struct port_conn *pc)
{
	if (pc->dead)
		return;
	pc->peer_closed = true;
	if (pc->rd_eof)
		pc->live = false;   /* both closed: the mux forgets it after this callback */
	conn_drain(pc);
}

void ports_guest_reset(struct port_conn *pc)
{
	pc->live = false;   /* the stream is gone already */
	conn_kill(pc, false, true);
}
