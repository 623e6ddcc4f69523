// SPDX-License-Identifier: MIT
/* sshagent.c: sbxd's SSH agent filter: one guest agent connection relayed to the host agent. */
#include "sshagent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "buf.h"
#include "sshagent_msg.h"
#include "util.h"

/* Guest bytes buffered before the filter looks at them: the stream's credit (1 MiB)
 * bounds them already; this only guards against a downstream without credit. */
#define SSHAGENT_IN_MAX (4u * 1024u * 1024u)
#define SSHAGENT_MSG_BUF (SSHAGENT_MSG_MAX + 4u)
/* Toward the host agent: our session-bind (208 bytes), then one guest request. */
#define SSHAGENT_REQ_BUF (SSHAGENT_MSG_BUF + 512u)

enum agent_state {
	AG_IDLE,        /* not connected yet */
	AG_CONNECTING,
	AG_UP,
	AG_DEAD,        /* failed or closed: allowed requests get FAILURE */
};

struct sshagent_conn {
	struct evsrc ev;        /* EV_AGENT: the host agent socket, fd -1 when none */
	int epfd;
	char *agent_sock;
	char *sandbox;
	struct audit *au;
	const struct proxy_down_ops *ops;
	void *down;             /* NULL after ops->reset */

	struct buf in;         /* guest bytes, messages taken from the front */
	bool in_eof;
	struct buf out;        /* one answer on its way to the guest */
	bool down_closed;       /* ops->close called */

	enum agent_state ag;
	int ag_err;             /* why AG_DEAD */
	struct buf req;        /* the request being written to the host agent */
	struct buf resp;       /* the answer being read from it */
	bool pending;           /* a forwarded request awaits its answer */
	bool bind_pending;      /* our own session-bind awaits its answer (not the guest's) */

	unsigned deny_logged;
	unsigned busy;          /* nesting depth of public calls */
	bool aborted;           /* sshagent_conn_abort() seen while busy */
};

/* ---- audit ---- */

int sshagent_fingerprint(const uint8_t *key, size_t len, char *buf, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	unsigned int mdlen = 0;
	int n;

	if (size < SSHAGENT_FP_MAX)
		return -ENOBUFS;
	if (!EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	n = EVP_EncodeBlock(b64, md, (int)mdlen);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	snprintf(buf, size, "SHA256:%.*s", n, (const char *)b64);
	return 0;
}

static void conn_audit(struct sshagent_conn *c, bool allowed, const char *reason)
{
	struct audit_entry e = {
		.sandbox = c->sandbox,
		.path = "ssh-agent",
		.host = "",
		.allowed = allowed,
		.reason = reason,
	};

	audit_write(c->au, &e);
}

/* ---- the host agent side ---- */

static void agent_update(struct sshagent_conn *c)
{
	uint32_t ev = 0;

	if (c->ev.fd < 0)
		return;
	if (c->ag == AG_CONNECTING)
		ev = EPOLLOUT;
	else if (c->ag == AG_UP)
		ev = EPOLLIN | (c->req.len ? EPOLLOUT : 0);
	if (ev_set(c->epfd, &c->ev, ev) < 0)
		log_debug("ssh-agent: epoll: %m");
}

static void agent_close(struct sshagent_conn *c)
{
	if (c->ev.fd >= 0) {
		(void)ev_set(c->epfd, &c->ev, 0);
		close(c->ev.fd);
		c->ev.fd = -1;
		c->ev.events = 0;
	}
	buf_free(&c->req);
	buf_free(&c->resp);
	c->bind_pending = false;
}

static void out_failure(struct sshagent_conn *c)
{
	/* out is empty whenever a request is taken or answered (one at a time) */
	if (buf_append(&c->out, sshagent_failure_msg, sizeof(sshagent_failure_msg)) < 0)
		log_debug("ssh-agent: cannot queue an answer");
}

/* The host connection is unusable from now on; a request in flight is answered FAILURE. */
static void agent_fail(struct sshagent_conn *c, int err)
{
	log_debug("ssh-agent: %s: host agent %s: %s", c->sandbox, c->agent_sock ? c->agent_sock : "(none)",
		  strerror(err));
	agent_close(c);
	c->ag = AG_DEAD;
	c->ag_err = err;
	if (c->pending) {
		c->pending = false;
		out_failure(c);
	}
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint8_t *put_str(uint8_t *p, const void *d, uint32_t n)
{
	put_u32(p, n);
	memcpy(p + 4, d, n);
	return p + 4 + n;
}

/* session-bind@openssh.com, forwarding, for a fresh Ed25519 "host key" and session id
 * of our own (see sshagent.h): the host agent then treats this connection as an agent
 * forwarded to a host no destination constraint names. 0 or -errno. */
static int bind_msg(uint8_t *buf, size_t size, size_t *ret_len)
{
	static const char ext[] = "session-bind@openssh.com", kt[] = "ssh-ed25519";
	uint8_t sid[32], pk[32], sig[64], blob[51], sigblob[83], *p = buf + 4;
	size_t pklen = sizeof(pk), siglen = sizeof(sig), len;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	int r = -EIO;

	if (size < 256)
		return -ENOBUFS;
	if (RAND_bytes(sid, sizeof(sid)) != 1 || !(key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) ||
	    EVP_PKEY_get_raw_public_key(key, pk, &pklen) != 1 || pklen != 32 || !(md = EVP_MD_CTX_new()) ||
	    EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, sid, sizeof(sid)) != 1 || siglen != 64)
		goto out;
	put_str(put_str(blob, kt, 11), pk, 32);
	put_str(put_str(sigblob, kt, 11), sig, 64);
	*p++ = SSH_AGENTC_EXTENSION;
	p = put_str(p, ext, sizeof(ext) - 1);
	p = put_str(p, blob, sizeof(blob));
	p = put_str(p, sid, sizeof(sid));
	p = put_str(p, sigblob, sizeof(sigblob));
	*p++ = 1;   /* is_forwarding */
	len = (size_t)(p - buf);
	put_u32(buf, (uint32_t)(len - 4));
	*ret_len = len;
	r = 0;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return r;
}

/* Non-blocking connect; a path longer than sun_path goes through /proc/self/fd/DIR.
 * AG_UP or AG_CONNECTING on success. */
static int agent_connect(struct sshagent_conn *c)
{
	_cleanup_close_ int fd = -1, dirfd = -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = c->agent_sock;
	enum agent_state st;
	size_t plen;
	int n;

	if (!path || path[0] != '/')
		return -EINVAL;
	plen = strlen(path);
	if (plen < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, plen + 1);
	} else {
		const char *slash = strrchr(path, '/');
		_cleanup_free_ char *dir = strndup(path, (size_t)(slash - path));

		if (!dir)
			return -ENOMEM;
		dirfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return -errno;
		n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, slash + 1);
		if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EISCONN) {
			st = AG_UP;
			break;
		}
		if (errno == EINPROGRESS || errno == EALREADY) {
			st = AG_CONNECTING;
			break;
		}
		if (errno != EINTR)
			return -errno; /* EAGAIN: the agent's backlog is full */
	}
	c->ev = (struct evsrc){ .kind = EV_AGENT, .fd = TAKE_FD(fd), .obj = c };
	c->ag = st;
	agent_update(c);
	return 0;
}

/* Our session-bind goes first on every host connection; without it, no guest request. */
static int agent_bind(struct sshagent_conn *c)
{
	uint8_t msg[256];
	size_t len = 0;
	int r = bind_msg(msg, sizeof(msg), &len);

	if (r < 0)
		return r;
	if (buf_append(&c->req, msg, len) < 0)
		return -ENOMEM;
	c->bind_pending = true;
	return 0;
}

static void agent_write(struct sshagent_conn *c)
{
	while (c->req.len) {
		ssize_t n = send(c->ev.fd, buf_head(&c->req), c->req.len, MSG_NOSIGNAL);

		if (n > 0) {
			buf_consume(&c->req, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		agent_fail(c, n < 0 ? errno : EPIPE);
		return;
	}
	agent_update(c);
}

/* Read the answer to the request in flight: the header, then exactly its length, so
 * nothing beyond one answer is ever taken. A complete answer moves to out. */
static void agent_read(struct sshagent_conn *c)
{
	for (;;) {
		size_t total = 0, need;
		uint8_t *p;
		ssize_t n;
		int r;

		r = sshagent_msg_frame(buf_head(&c->resp), c->resp.len, SSHAGENT_MSG_MAX, &total);
		if (r < 0) {
			agent_fail(c, EMSGSIZE);
			return;
		}
		if (r > 0 && c->bind_pending) {
			/* the answer to our session-bind, not for the guest: whatever it says, an
			 * OpenSSH agent now refuses destination-constrained keys here (a bind that
			 * failed counts too), and an agent without session-bind has no such keys */
			log_debug("ssh-agent: %s: session-bind answered %u", c->sandbox,
				  total > 4 ? buf_head(&c->resp)[4] : 0u);
			c->bind_pending = false;
			buf_consume(&c->resp, total);
			continue;
		}
		if (r > 0)
			break;
		need = c->resp.len < 4 ? 4 - c->resp.len : total - c->resp.len;
		if (buf_reserve(&c->resp, need) < 0) {
			agent_fail(c, ENOMEM);
			return;
		}
		p = buf_tail(&c->resp);
		n = read(c->ev.fd, p, need);
		if (n > 0) {
			if (!c->pending && !c->bind_pending) {
				agent_fail(c, EPROTO); /* bytes nobody asked for */
				return;
			}
			buf_commit(&c->resp, (size_t)n);
			continue;
		}
		if (n == 0) {
			agent_fail(c, ECONNRESET);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			agent_fail(c, errno);
		return;
	}
	buf_free(&c->out); /* empty: nothing is taken while an answer is queued */
	c->out = c->resp;
	buf_init(&c->resp, SSHAGENT_MSG_BUF); /* its memory is out's now */
	c->pending = false;
}

/* Connect on the first forwarded request; a failure makes the agent dead. */
static void agent_start(struct sshagent_conn *c)
{
	int r;

	if (c->ag != AG_IDLE)
		return;
	r = agent_connect(c);
	if (r == 0)
		r = agent_bind(c);
	if (r < 0)
		agent_fail(c, -r);
}

/* Forward one allowed request (with its length prefix). */
static void agent_forward(struct sshagent_conn *c, const uint8_t *msg, size_t total)
{
	agent_start(c);
	if (c->ag == AG_DEAD || buf_append(&c->req, msg, total) < 0) {
		out_failure(c);
		return;
	}
	c->pending = true;
	if (c->ag == AG_UP)
		agent_write(c); /* may fail the agent: then out holds the FAILURE */
}

/* ---- the guest side ---- */

static void down_reset(struct sshagent_conn *c, const char *why)
{
	void *down = c->down;

	log_debug("ssh-agent: %s: resetting the guest connection: %s", c->sandbox, why);
	c->down = NULL;
	agent_close(c);
	buf_free(&c->in);
	buf_free(&c->out);
	if (down)
		c->ops->reset(down);
}

/* Hand out as much of the current answer as the downstream takes. */
static void out_flush(struct sshagent_conn *c)
{
	while (c->down && c->out.len) {
		size_t n = c->ops->write(c->down, buf_head(&c->out), c->out.len);

		if (n == 0)
			break;
		buf_consume(&c->out, MIN(n, c->out.len));
	}
	if (!c->out.len && c->out.cap > 4096)
		buf_free(&c->out);
}

static void deny(struct sshagent_conn *c, const struct sshagent_req *q)
{
	char reason[96];

	if (c->deny_logged < SSHAGENT_DENY_LOG_MAX) {
		c->deny_logged++;
		snprintf(reason, sizeof(reason), "refused %s (%u)", q->why, q->type);
		conn_audit(c, false, reason);
	}
	out_failure(c);
}

/* Take the next message if the previous one is fully answered. */
static void conn_process(struct sshagent_conn *c)
{
	while (c->down) {
		struct sshagent_req q;
		size_t total = 0;
		uint8_t *msg;
		int r;

		out_flush(c);
		if (!c->down || c->out.len || c->pending)
			return;
		r = c->in.len ? sshagent_msg_frame(buf_head(&c->in), c->in.len, SSHAGENT_MSG_MAX, &total) : 0;
		if (r < 0) {
			down_reset(c, "message length 0 or over 256 KiB");
			return;
		}
		if (r == 0) {
			if (c->in_eof && !c->down_closed) {
				/* a truncated last message is dropped */
				c->down_closed = true;
				agent_close(c);
				c->ops->close(c->down);
			}
			return;
		}
		msg = buf_head(&c->in);
		sshagent_msg_filter(msg + 4, total - 4, &q);
		if (!q.forward) {
			deny(c, &q);
		} else if (q.type == SSH_AGENTC_SIGN_REQUEST) {
			char fp[SSHAGENT_FP_MAX] = "SHA256:?", reason[160];

			(void)sshagent_fingerprint(q.key, q.key_len, fp, sizeof(fp));
			agent_start(c);
			if (c->ag == AG_DEAD) {
				snprintf(reason, sizeof(reason), "sign %s: host agent unavailable (%s)", fp, strerror(c->ag_err));
				conn_audit(c, false, reason);
			} else {
				snprintf(reason, sizeof(reason), "sign %s", fp);
				conn_audit(c, true, reason);
			}
			agent_forward(c, msg, total);
		} else {
			agent_forward(c, msg, total);
		}
		buf_consume(&c->in, total);
		if (!c->in.len && c->in.cap > SSHAGENT_MSG_BUF)
			buf_free(&c->in); /* a burst of pipelined requests is over */
		if (c->down)
			c->ops->consumed(c->down, total);
	}
}

/* ---- public ---- */

struct sshagent_conn *sshagent_conn_new(int epfd, const char *agent_sock, const char *sandbox, struct audit *au,
					const struct proxy_down_ops *ops, void *down)
{
	struct sshagent_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->epfd = epfd;
	c->ev = (struct evsrc){ .kind = EV_AGENT, .fd = -1, .obj = c };
	c->agent_sock = agent_sock ? strdup(agent_sock) : NULL;
	c->sandbox = strdup(sandbox ? sandbox : "");
	if ((agent_sock && !c->agent_sock) || !c->sandbox) {
		free(c->agent_sock);
		free(c->sandbox);
		free(c);
		return NULL;
	}
	c->au = au;
	c->ops = ops;
	c->down = down;
	buf_init(&c->in, SSHAGENT_IN_MAX);
	buf_init(&c->out, SSHAGENT_MSG_BUF);
	buf_init(&c->req, SSHAGENT_REQ_BUF);
	buf_init(&c->resp, SSHAGENT_MSG_BUF);
	return c;
}

static void conn_free(struct sshagent_conn *c)
{
	agent_close(c);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->agent_sock);
	free(c->sandbox);
	free(c);
}

static void conn_enter(struct sshagent_conn *c)
{
	c->busy++;
}

/* Returns false when c was freed. */
static bool conn_leave(struct sshagent_conn *c)
{
	if (--c->busy == 0 && c->aborted) {
		conn_free(c);
		return false;
	}
	return true;
}

void sshagent_conn_input(struct sshagent_conn *c, const uint8_t *data, size_t len)
{
	if (!c || !c->down || c->in_eof || c->aborted)
		return;
	conn_enter(c);
	if (buf_append(&c->in, data, len) < 0)
		down_reset(c, "input beyond the stream's credit");
	else
		conn_process(c);
	conn_leave(c);
}

void sshagent_conn_input_eof(struct sshagent_conn *c)
{
	if (!c || !c->down || c->aborted)
		return;
	conn_enter(c);
	c->in_eof = true;
	conn_process(c);
	conn_leave(c);
}

void sshagent_conn_writable(struct sshagent_conn *c)
{
	if (!c || !c->down || c->aborted)
		return;
	conn_enter(c);
	conn_process(c);
	conn_leave(c);
}

void sshagent_conn_abort(struct sshagent_conn *c)
{
	if (!c)
		return;
	c->down = NULL;
	if (c->busy) {
		c->aborted = true;
		return;
	}
	conn_free(c);
}

void sshagent_on_event(struct evsrc *ev, uint32_t events)
{
	struct sshagent_conn *c = ev->obj;

	if (!c || ev->fd < 0 || c->aborted)
		return;
	conn_enter(c);
	if (c->ag == AG_CONNECTING) {
		int err = 0;
		socklen_t elen = sizeof(err);

		if (getsockopt(c->ev.fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err) {
			agent_fail(c, err);
		} else {
			c->ag = AG_UP;
			agent_update(c);
		}
	}
	if (c->ag == AG_UP && c->req.len && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		agent_write(c);
	if (c->ag == AG_UP && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		agent_read(c);
	if (c->ag == AG_UP)
		agent_update(c);
	conn_process(c);
	conn_leave(c);
}
