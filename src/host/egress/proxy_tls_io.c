// SPDX-License-Identifier: MIT
/* proxy_tls_io.c: the non-blocking I/O of an intercepted connection's two TLS sessions:
 * the guest side (an SSL over a BIO that reads the guest's bytes and writes records
 * straight to the stream) and the upstream side (an SSL on the connected socket).
 * proxy_tls.c drives them (proxy_tls_pump) and owns set-up and lifecycle. */
#include "proxy_tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ca.h"
#include "util.h"

static const char *ssl_err_text(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;

	return s ? s : "TLS error";
}

/* ---- guest side ---- */

/*
 * The guest side's transport: a BIO that reads the client's bytes straight from c->in
 * and writes records straight to ops->write, so no byte is copied through a BIO pair.
 * With nothing to read, or no room toward the client, it asks OpenSSL to retry: the
 * core calls proxy_tls_pump() again when bytes or room arrive. EOF is never reported
 * to OpenSSL: g_read and g_handshake check c->in_eof themselves.
 */
static BIO_METHOD *guest_bio_method;

static int gbio_write(BIO *b, const char *data, int len)
{
	struct pconn *c = BIO_get_data(b);
	size_t w;

	BIO_clear_retry_flags(b);
	if (!c || c->dead || !c->down)
		return -1;
	pconn_flush(c);   /* the 200 answer first */
	if (c->dead)
		return -1;
	if (c->out.len || len <= 0) {
		BIO_set_retry_write(b);
		return -1;
	}
	w = c->ops->write(c->down, (const uint8_t *)data, (size_t)len);
	if (c->dead)
		return -1;
	if (!w) {
		BIO_set_retry_write(b);
		return -1;
	}
	return (int)MIN(w, (size_t)len);
}

static int gbio_read(BIO *b, char *buf, int len)
{
	struct pconn *c = BIO_get_data(b);
	size_t n;

	BIO_clear_retry_flags(b);
	if (!c || c->dead)
		return -1;
	if (!c->in.len || len <= 0 || c->tls->x == X_CLOSING) {
		BIO_set_retry_read(b);
		return -1;
	}
	n = MIN(c->in.len, (size_t)len);
	memcpy(buf, c->in.data + c->in.off, n);
	pconn_consume(c, n);
	return (int)n;
}

static long gbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct pconn *c = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return c ? (long)MIN(c->in.len, (size_t)LONG_MAX) : 0;
	default:
		return 0;
	}
}

static int gbio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

BIO *ptls_guest_bio_new(struct pconn *c)
{
	BIO *b;

	if (!guest_bio_method) {
		guest_bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sbx guest stream");
		if (!guest_bio_method || !BIO_meth_set_write(guest_bio_method, gbio_write) ||
		    !BIO_meth_set_read(guest_bio_method, gbio_read) || !BIO_meth_set_ctrl(guest_bio_method, gbio_ctrl) ||
		    !BIO_meth_set_create(guest_bio_method, gbio_create)) {
			BIO_meth_free(guest_bio_method);
			guest_bio_method = NULL;
			return NULL;
		}
	}
	b = BIO_new(guest_bio_method);
	if (b)
		BIO_set_data(b, c);
	return b;
}

/* Closing: bytes still arriving from the client are dropped, its credit kept flowing. */
bool ptls_g_drop_input(struct pconn *c)
{
	if (c->tls->x != X_CLOSING || !c->tls->g_hs || !c->in.len)
		return false;
	pconn_consume(c, c->in.len);
	return !c->dead;
}

bool ptls_g_handshake(struct pconn *c)
{
	struct ptls *t = c->tls;
	const char *why;
	char reason[300];
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(t->g);
	if (r == 1) {
		t->g_hs = true;
		t->g_deadline = now_ms() + PROXY_HEAD_TIMEOUT_MS;
		return true;
	}
	e = SSL_get_error(t->g, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if (e == SSL_ERROR_WANT_READ && c->in_eof && !c->in.len) {
			ptls_audit(c, true, "the client closed during the TLS handshake", 0);
			pconn_reset(c);
		}
		return false;
	}
	/* e.g. "tlsv1 alert unknown ca": a tool with its own trust store */
	why = ssl_err_text();
	snprintf(reason, sizeof(reason), "TLS handshake with the client failed (%s)%s", why,
		 strstr(why, "alert") && (strstr(why, "unknown ca") || strstr(why, "certificate"))
			 ? ": it does not trust sbx's CA" : "");
	ERR_clear_error();
	ptls_audit(c, true, reason, 0);
	if (!c->dead)
		pconn_reset(c);
	return false;
}

bool ptls_g_read(struct pconn *c)
{
	struct ptls *t = c->tls;
	bool moved = false;

	if (!t->g_hs || t->g_eof || t->x == X_CLOSING)
		return false;
	while (buf_room(&t->gin) > 0) {
		size_t room;
		int n, e;

		if (buf_reserve(&t->gin, MIN(buf_room(&t->gin), (size_t)(32 * 1024))) < 0)
			break;
		room = MIN(buf_room(&t->gin), t->gin.cap - t->gin.off - t->gin.len);
		ERR_clear_error();
		n = SSL_read(t->g, t->gin.data + t->gin.off + t->gin.len, (int)MIN(room, (size_t)INT_MAX));
		if (n > 0) {
			t->gin.len += (size_t)n;
			moved = true;
			continue;
		}
		e = SSL_get_error(t->g, n);
		if (e == SSL_ERROR_WANT_READ) {
			if (c->in_eof && !c->in.len) {
				t->g_eof = true;   /* the stream ended without close_notify */
				moved = true;
			}
			break;
		}
		if (e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			t->g_eof = true;
			moved = true;
			break;
		}
		log_debug("proxy: %s: TLS from the client: %s", c->sandbox, ssl_err_text());
		ERR_clear_error();
		pconn_reset(c);
		return false;
	}
	return moved;
}

/* Our answers, then relayed response bytes. */
bool ptls_g_write(struct pconn *c)
{
	struct ptls *t = c->tls;
	bool moved = false;

	if (!t->g_hs)
		return false;
	for (;;) {
		struct buf *b;
		size_t n;
		int w, e;

		if (t->gout.len) {
			b = &t->gout;
			n = t->gout.len;
		} else if (t->resp_pending) {
			b = &t->uin;
			n = t->resp_pending;
		} else {
			break;
		}
		ERR_clear_error();
		w = SSL_write(t->g, b->data + b->off, (int)MIN(n, (size_t)INT_MAX));
		if (w > 0) {
			buf_consume(b, (size_t)w);
			if (b == &t->uin)
				t->resp_pending -= (size_t)w;
			moved = true;
			continue;
		}
		e = SSL_get_error(t->g, w);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			break;   /* no room toward the client: pumped again when there is */
		log_debug("proxy: %s: TLS to the client: %s", c->sandbox, ssl_err_text());
		ERR_clear_error();
		pconn_reset(c);
		return false;
	}
	if (t->x == X_CLOSING && !t->gout.len && !t->g_shut) {
		int r, e;

		ERR_clear_error();
		r = SSL_shutdown(t->g);   /* close_notify */
		e = r < 0 ? SSL_get_error(t->g, r) : SSL_ERROR_NONE;
		ERR_clear_error();
		if (c->dead)
			return false;
		if (e == SSL_ERROR_WANT_WRITE)
			return moved;   /* again when there is room */
		t->g_shut = true;
		moved = true;
	}
	return moved;
}

/* ---- upstream side ---- */

void ptls_up_failed(struct pconn *c, const char *why)
{
	struct ptls *t = c->tls;

	snprintf(t->u_err, sizeof(t->u_err), "%s", why);
	t->u_failed = true;
	ptls_up_close(c);
}

bool ptls_u_handshake(struct pconn *c)
{
	struct ptls *t = c->tls;
	const char *why;
	char msg[400];
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(t->u);
	if (r == 1) {
		t->u_hs = true;
		t->u_hs_want = 0;
		t->u_deadline = 0;
		return true;
	}
	e = SSL_get_error(t->u, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		t->u_hs_want = e;
		return false;
	}
	why = ca_upstream_verify_reason(t->u);
	if (why)
		snprintf(msg, sizeof(msg), "TLS certificate of %.255s not accepted: %s", c->rt.host, why);
	else if (e == SSL_ERROR_SYSCALL && !ERR_peek_last_error())
		snprintf(msg, sizeof(msg), "%.255s closed the connection during the TLS handshake", c->rt.host);
	else
		snprintf(msg, sizeof(msg), "TLS handshake with %.255s failed: %s", c->rt.host, ssl_err_text());
	log_warn("proxy: %s: %s (address %s)", c->sandbox, msg, c->rt.addr);
	ptls_up_failed(c, msg);
	return true;
}

bool ptls_u_write(struct pconn *c)
{
	struct ptls *t = c->tls;
	bool moved = false;

	if (!t->u || !t->u_hs)
		return false;
	t->u_wr_want = 0;
	for (;;) {
		const uint8_t *p;
		size_t n;
		bool head = false;
		int w, e;

		if (t->uhead) {
			p = (const uint8_t *)t->uhead + t->uhead_off;
			n = t->uhead_len - t->uhead_off;
			head = true;
		} else if (t->req_pending) {
			p = t->gin.data + t->gin.off;
			n = t->req_pending;
		} else {
			break;
		}
		ERR_clear_error();
		w = SSL_write(t->u, p, (int)MIN(n, (size_t)INT_MAX));
		if (w > 0) {
			if (head) {
				t->uhead_off += (size_t)w;
				if (t->uhead_off == t->uhead_len) {
					ptls_uhead_drop(t);
					t->head_sent = true;
				}
			} else {
				buf_consume(&t->gin, (size_t)w);
				t->req_pending -= (size_t)w;
			}
			moved = true;
			continue;
		}
		e = SSL_get_error(t->u, w);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			t->u_wr_want = e;
			break;
		}
		log_debug("proxy: %s: write to %s: %s", c->sandbox, c->rt.host, ssl_err_text());
		ptls_up_failed(c, "the server closed the connection");
		return true;
	}
	return moved;
}

bool ptls_u_read(struct pconn *c)
{
	struct ptls *t = c->tls;
	bool moved = false;

	if (!t->u || !t->u_hs || t->u_eof)
		return false;
	t->u_rd_want = 0;
	while (buf_room(&t->uin) > 0) {
		size_t room;
		int n, e;

		if (buf_reserve(&t->uin, MIN(buf_room(&t->uin), (size_t)(64 * 1024))) < 0)
			break;
		room = MIN(buf_room(&t->uin), t->uin.cap - t->uin.off - t->uin.len);
		ERR_clear_error();
		n = SSL_read(t->u, t->uin.data + t->uin.off + t->uin.len, (int)MIN(room, (size_t)INT_MAX));
		if (n > 0) {
			t->uin.len += (size_t)n;
			moved = true;
			continue;
		}
		e = SSL_get_error(t->u, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			t->u_rd_want = e;
			break;
		}
		/* close_notify, EOF (accepted without close_notify: bodies are framed), or an error */
		if (e != SSL_ERROR_ZERO_RETURN)
			log_debug("proxy: %s: read from %s: %s", c->sandbox, c->rt.host, ssl_err_text());
		ERR_clear_error();
		t->u_eof = true;
		moved = true;
		break;
	}
	return moved;
}

/* X_CLOSING and everything toward the guest flushed: hand over to PS_CLOSING. */
bool ptls_closing_done(struct pconn *c)
{
	struct ptls *t = c->tls;

	if (t->x != X_CLOSING || !t->g_shut || t->gout.len || c->out.len)
		return false;
	proxy_tls_conn_free(c);
	c->st = PS_CLOSING;
	c->deadline = now_ms() + PROXY_LINGER_TIMEOUT_MS;
	pconn_consume(c, c->in.len);
	pconn_finish(c);
	return true;
}
