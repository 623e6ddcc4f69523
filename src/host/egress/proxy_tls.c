// SPDX-License-Identifier: MIT
/* proxy_tls.c: TLS interception for the egress engine: the decision, the two TLS
 * sessions of an intercepted CONNECT (a leaf from sbx's CA toward the guest, verified
 * TLS upstream), upstream session resumption, set-up and lifecycle. Their non-blocking
 * I/O: proxy_tls_io.c; requests: proxy_tls_http.c. */
#include "proxy_tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ca.h"
#include "proxy_int.h"
#include "secrets.h"
#include "services.h"
#include "util.h"

/*
 * Theory of operation. An intercepted connection has two TLS sessions and four
 * plaintext streams, each bounded:
 *
 *   guest  --c->in--> guest_bio --SSL g--> gin  --(head rewritten: uhead, body as is)--> SSL u --> socket
 *   guest <--ops->write-- guest_bio <--SSL g-- (resp relayed from uin, or gout) <-- uin <-- SSL u
 *
 * Requests (proxy_tls_http.c) are handled one at a time, in order (a pipelined request waits in gin): the
 * head is parsed with the strict framing of proxy_http.c, its Host checked, the auth
 * headers of the service replaced, and its body framed and forwarded byte for byte; the
 * response is framed the same way, so the next request's head is parsed (and
 * re-injected) again. One upstream TLS connection serves one guest connection; when
 * either ends the other is closed. Framed bytes waiting to go out are counted
 * (req_pending at the front of gin, resp_pending at the front of uin): nothing further
 * is framed until they went, so a partial write never loses track of a boundary.
 *
 * The credential lives in three places, each zeroed when done: the value from the
 * secret store (secret_free), the header value built from it (service_header), and the
 * rewritten head (uhead, exactly sized, never grown, zeroed once sent or dropped).
 * Values never reach logs or the audit log (it says "injected SERVICE").
 */

static void sess_flush(struct pxicpt *ic);

static const char *const src_names[] = { "stored for the sandbox", "stored globally", "caller environment" };

/* ---- engine set-up ---- */

void proxy_set_interception(struct proxy *px, struct ca *ca,
			    const char *const *(*env_lookup)(void *ctx, const char *sandbox), void *ctx)
{
	if (!px->icpt)
		px->icpt = xcalloc(1, sizeof(*px->icpt));
	/* ca NULL disables new interceptions; live ones keep their sessions */
	px->icpt->ca = ca;
	px->icpt->env_lookup = env_lookup;
	px->icpt->env_ctx = ctx;
}

void proxy_tls_engine_free(struct proxy *px)
{
	struct pxicpt *ic = px->icpt;

	if (!ic)
		return;
	sess_flush(ic);
	SSL_CTX_free(ic->up_ctx);
	free(ic->up_path);
	free(ic->up_err);
	free(ic);
	px->icpt = NULL;
}

/* ---- upstream session resumption ---- */

static int sess_ctx_idx = -1, sess_ssl_idx = -1;

static void sess_flush(struct pxicpt *ic)
{
	for (size_t i = 0; i < TLS_SESS_MAX; i++) {
		SSL_SESSION_free(ic->sess[i].sess);
		free(ic->sess[i].key);
		ic->sess[i] = (struct up_sess){ 0 };
	}
}

/* OpenSSL hands us each new session (a TLS 1.3 ticket arrives after the handshake). */
static int sess_new_cb(SSL *ssl, SSL_SESSION *s)
{
	struct pxicpt *ic = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sess_ctx_idx);
	const char *key = SSL_get_ex_data(ssl, sess_ssl_idx);
	size_t slot = 0;

	if (!ic || !key || !SSL_SESSION_is_resumable(s))
		return 0;
	for (size_t i = 0; i < TLS_SESS_MAX; i++) {
		if (!ic->sess[i].sess) {
			slot = i;
			break;
		}
		if (ic->sess[i].stamp < ic->sess[slot].stamp)
			slot = i;   /* the oldest goes */
	}
	SSL_SESSION_free(ic->sess[slot].sess);
	free(ic->sess[slot].key);
	ic->sess[slot] = (struct up_sess){ .key = xstrdup(key), .sess = s, .stamp = ++ic->sess_clock };
	return 1;   /* the reference is ours */
}

/* Offer a stored session for key, and drop it from the store (single use). */
static void sess_offer(struct pxicpt *ic, SSL *ssl, const char *key)
{
	size_t best = TLS_SESS_MAX;

	for (size_t i = 0; i < TLS_SESS_MAX; i++)
		if (ic->sess[i].sess && !strcmp(ic->sess[i].key, key) &&
		    (best == TLS_SESS_MAX || ic->sess[i].stamp > ic->sess[best].stamp))
			best = i;
	if (best == TLS_SESS_MAX)
		return;
	(void)SSL_set_session(ssl, ic->sess[best].sess);   /* takes its own reference */
	SSL_SESSION_free(ic->sess[best].sess);
	free(ic->sess[best].key);
	ic->sess[best] = (struct up_sess){ 0 };
}

static void sess_setup(struct pxicpt *ic, SSL_CTX *ctx)
{
	if (sess_ctx_idx < 0)
		sess_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (sess_ssl_idx < 0)
		sess_ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (sess_ctx_idx < 0 || sess_ssl_idx < 0 || SSL_CTX_set_ex_data(ctx, sess_ctx_idx, ic) != 1)
		return;   /* no resumption: every handshake is a full one */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, sess_new_cb);
}

/* The upstream client context for the current proxy.upstreamCA (rebuilt when the
 * setting or the file changes). NULL with ic->up_err set when it cannot be built. */
static SSL_CTX *up_ctx_get(struct proxy *px)
{
	struct pxicpt *ic = px->icpt;
	const char *path = settings_get(px->set, "proxy.upstreamCA");
	struct stat st = { 0 };
	bool same;

	if (path && stat(path, &st) < 0)
		memset(&st, 0, sizeof(st));
	same = (ic->up_ctx || ic->up_err) && ((!path && !ic->up_path) || (path && ic->up_path && !strcmp(path, ic->up_path))) &&
	       st.st_mtim.tv_sec == ic->up_mtime.tv_sec && st.st_mtim.tv_nsec == ic->up_mtime.tv_nsec &&
	       st.st_size == ic->up_size;
	if (same)
		return ic->up_ctx;
	sess_flush(ic);
	SSL_CTX_free(ic->up_ctx);
	ic->up_ctx = NULL;
	free(ic->up_err);
	ic->up_err = NULL;
	free(ic->up_path);
	ic->up_path = path ? xstrdup(path) : NULL;
	ic->up_mtime = st.st_mtim;
	ic->up_size = st.st_size;
	if (ca_upstream_ctx(path, &ic->up_ctx, &ic->up_err) == 0) {
		sess_setup(ic, ic->up_ctx);
	} else {
		ic->up_ctx = NULL;
		if (!ic->up_err)
			ic->up_err = xstrdup("cannot create the upstream TLS context");
		log_warn("proxy: %s", ic->up_err);
	}
	return ic->up_ctx;
}

/* ---- decision ---- */

bool proxy_tls_decide(struct pconn *c, char *why, size_t whylen)
{
	struct proxy *px = c->px;
	struct pxicpt *ic = px->icpt;
	const struct service *svc;
	const struct service_host *sh;
	const char *inspect;
	int r;

	c->intercept = false;
	c->svc_host = NULL;
	if (!ic || !ic->ca || c->path != PROXY_FORWARD || !c->is_connect || c->rt.port != 443 || !c->rt.host)
		return false;
	if (service_for_host(c->rt.host, &svc, &sh) == 0) {
		_cleanup_secret_ char *v = NULL;
		const char *const *env = ic->env_lookup ? ic->env_lookup(ic->env_ctx, c->sandbox) : NULL;
		enum secret_source src = SECRET_SOURCE_GLOBAL;

		r = secrets_resolve(px->paths, c->sandbox, svc->name, (char *const *)env, &v, &src);
		if (r == 0) {
			c->svc_host = sh;
			snprintf(why, whylen, "intercepted: %s credential (%s)", svc->name, src_names[src]);
			return true;
		}
		if (r != -ENOENT) {
			/* intercept anyway: each request is answered with what is wrong */
			_cleanup_free_ char *err = NULL;
			secrets_check(px->paths, &err);
			if (!ic->store_warned)
				log_warn("proxy: cannot use the secret store: %s", err ? err : strerror(-r));
			ic->store_warned = true;
			c->svc_host = sh;
			snprintf(why, whylen, "intercepted: secret store unusable");
			return true;
		}
		ic->store_warned = false;
	}
	inspect = settings_get_or_default(px->set, "proxy.inspect");
	if (inspect && !strcmp(inspect, "all")) {
		snprintf(why, whylen, "intercepted: proxy.inspect is all");
		return true;
	}
	return false;
}

/* ---- helpers ---- */

void ptls_audit(struct pconn *c, bool allowed, const char *reason, int status)
{
	struct ptls *t = c->tls;
	char rbuf[64];
	struct audit_entry e = {
		.sandbox = c->sandbox,
		.path = "forward",
		.host = c->rt.host ? c->rt.host : "",
		.port = c->rt.port,
		.addr = c->rt.addr[0] ? c->rt.addr : NULL,
		.allowed = allowed,
		.rule = c->rt.rule[0] ? c->rt.rule : NULL,
		.method = t && t->have_req ? t->req.method : NULL,
		.url_path = t && t->have_req ? t->url_path : NULL,
		.status = status,
	};

	if (!reason && t && t->injected) {
		snprintf(rbuf, sizeof(rbuf), "injected %s", t->injected);
		reason = rbuf;
	}
	e.reason = reason ? reason : t && t->have_req ? "intercepted" : NULL;
	if (t && t->have_req)
		t->audited = true;
	log_debug("proxy: %s intercepted %s:%u %s %s (%s)", c->sandbox, e.host, e.port, e.method ? e.method : "-",
		  e.url_path ? e.url_path : "-", e.reason ? e.reason : "");
	if (c->px->audit)
		audit_write(c->px->audit, &e);
}

void ptls_uhead_drop(struct ptls *t)
{
	if (t->uhead) {
		OPENSSL_cleanse(t->uhead, t->uhead_len);
		free(t->uhead);
	}
	t->uhead = NULL;
	t->uhead_len = t->uhead_off = 0;
}

void ptls_exchange_clear(struct ptls *t)
{
	ptls_uhead_drop(t);
	http_msg_clear(&t->req);
	http_msg_clear(&t->resp);
	free(t->url_path);
	t->url_path = NULL;
	t->have_req = t->have_resp = t->head_req = t->req_close = t->resp_started = t->audited = false;
	t->head_sent = false;
	t->injected = NULL;
	t->req_pending = t->resp_pending = 0;
	http_scan_init(&t->scan, true);
	http_scan_init(&t->rscan, false);
}

void ptls_up_close(struct pconn *c)
{
	struct ptls *t = c->tls;

	if (t->u) {
		if (t->u_hs && !t->u_failed && !t->u_shut) {
			ERR_clear_error();
			(void)SSL_shutdown(t->u);   /* best effort close_notify */
		}
		SSL_free(t->u);
		t->u = NULL;
	}
	ERR_clear_error();
	pconn_up_close(c);
	t->u_eof = true;
}

void proxy_tls_conn_free(struct pconn *c)
{
	struct ptls *t = c->tls;

	if (!t)
		return;
	if (t->have_req && !t->audited) {
		/* the connection ended before the answer: the request still gets its line */
		char why[64];
		if (t->injected && t->head_sent)
			snprintf(why, sizeof(why), "injected %s, no response", t->injected);
		else
			snprintf(why, sizeof(why), "intercepted, no response");
		ptls_audit(c, true, why, 0);
	}
	if (t->u) {
		SSL_free(t->u);
		t->u = NULL;
	}
	free(t->u_key);
	SSL_free(t->g);   /* and its BIO */
	ptls_exchange_clear(t);
	buf_free(&t->gin);
	buf_free(&t->uin);
	buf_free(&t->gout);
	ERR_clear_error();
	free(t);
	c->tls = NULL;
}

/* Graceful end: our pending answer, then close_notify, then the stream's close. */
void ptls_start_close(struct pconn *c)
{
	struct ptls *t = c->tls;

	if (t->x == X_CLOSING)
		return;
	t->x = X_CLOSING;
	ptls_up_close(c);
	buf_consume(&t->gin, t->gin.len);
	buf_consume(&t->uin, t->uin.len);
	t->req_pending = t->resp_pending = 0;
	ptls_uhead_drop(t);
	t->g_deadline = now_ms() + PROXY_LINGER_TIMEOUT_MS;
}

static const char *status_phrase(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 421: return "Misdirected Request";
	case 502: return "Bad Gateway";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

/* Answer the current request ourselves and close; reset when that is no longer
 * possible (no TLS toward the guest yet, or the upstream's answer already started). */
void ptls_error(struct pconn *c, int status, const char *text, bool allowed)
{
	struct ptls *t = c->tls;
	char body[600], head[200];
	int bl, hl;

	if (!t->audited)
		ptls_audit(c, allowed, text, status);
	if (!t->g_hs || t->resp_started || t->x == X_CLOSING) {
		pconn_reset(c);
		return;
	}
	bl = snprintf(body, sizeof(body), "sbx: %s\n", text);
	if (bl < 0 || (size_t)bl >= sizeof(body))
		bl = (int)sizeof(body) - 1;
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
		      "Connection: close\r\n\r\n",
		      status, status_phrase(status), bl);
	ptls_start_close(c);
	if (buf_append(&t->gout, head, (size_t)hl) < 0 || buf_append(&t->gout, body, (size_t)bl) < 0)
		pconn_reset(c);
}

/* ---- entry points ---- */

void proxy_tls_start(struct pconn *c)
{
	struct pxicpt *ic = c->px->icpt;
	struct ptls *t;
	SSL_CTX *leaf = NULL, *uctx;
	BIO *gbio = NULL;
	char reason[320];

	t = xcalloc(1, sizeof(*t));
	c->tls = t;
	c->st = PS_TLS;
	buf_init(&t->gin, TLS_PLAIN_MAX);
	buf_init(&t->uin, TLS_PLAIN_MAX);
	buf_init(&t->gout, TLS_GOUT_MAX);
	ptls_exchange_clear(t);
	t->g_deadline = now_ms() + PROXY_HEAD_TIMEOUT_MS;
	ERR_clear_error();
	if (!ic || !ic->ca || ca_leaf_for(ic->ca, c->rt.host, &leaf) < 0 || !(t->g = SSL_new(leaf)) ||
	    !(gbio = ptls_guest_bio_new(c))) {
		snprintf(reason, sizeof(reason), "cannot present a certificate for %.255s", c->rt.host);
		ERR_clear_error();
		ptls_audit(c, true, reason, 0);
		pconn_reset(c);
		return;
	}
	SSL_set_bio(t->g, gbio, gbio);
	SSL_set_accept_state(t->g);
	/* AES-128-GCM first, as browsers ask: the cheapest suite on CPUs with AES
	 * instructions, and the guest runs on the same CPU */
	SSL_set_ciphersuites(t->g, TLS_SUITES);
	SSL_set_options(t->g, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_set_mode(t->g, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

	uctx = up_ctx_get(c->px);
	if (!uctx) {
		snprintf(t->u_err, sizeof(t->u_err), "%s", ic->up_err ? ic->up_err : "no upstream TLS context");
		t->u_failed = true;
		ptls_up_close(c);
	} else if (ca_upstream_ssl_new(uctx, c->rt.host, &t->u) < 0 || SSL_set_fd(t->u, c->uev.fd) != 1) {
		if (t->u) {
			SSL_free(t->u);
			t->u = NULL;
		}
		snprintf(t->u_err, sizeof(t->u_err), "cannot start TLS toward %.255s", c->rt.host);
		t->u_failed = true;
		ptls_up_close(c);
	} else {
		t->u_key = xasprintf("%s|%u|%s", c->rt.host, (unsigned)c->rt.port, c->rt.addr);
		if (sess_ssl_idx >= 0 && SSL_set_ex_data(t->u, sess_ssl_idx, t->u_key) == 1)
			sess_offer(ic, t->u, t->u_key);
		SSL_set_connect_state(t->u);
		SSL_set_ciphersuites(t->u, TLS_SUITES);
		SSL_set_mode(t->u, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_set_options(t->u, SSL_OP_IGNORE_UNEXPECTED_EOF);
		/* whole socket reads instead of two per record (header, then body) */
		SSL_set_read_ahead(t->u, 1);
		SSL_set_default_read_buffer_len(t->u, TLS_UP_READ_BUF);
		t->u_deadline = now_ms() + PROXY_CONNECT_TIMEOUT_MS;
	}
	ERR_clear_error();
	proxy_tls_pump(c);
}

void proxy_tls_pump(struct pconn *c)
{
	struct ptls *t = c->tls;

	if (!t || c->dead || c->st != PS_TLS)
		return;
	for (;;) {
		bool p = false;

		p |= ptls_g_drop_input(c);
		if (c->dead)
			return;
		if (!t->g_hs)
			p |= ptls_g_handshake(c);
		if (c->dead)
			return;
		if (t->u && !t->u_hs && !t->u_failed)
			p |= ptls_u_handshake(c);
		p |= ptls_g_read(c);
		if (c->dead)
			return;
		p |= ptls_u_read(c);
		p |= proxy_tls_step(c);
		if (c->dead)
			return;
		p |= ptls_u_write(c);
		p |= ptls_g_write(c);
		if (c->dead)
			return;
		pconn_flush(c);   /* the 200 answer, when nothing else wrote it */
		if (c->dead)
			return;
		if (ptls_closing_done(c))
			return;
		if (!p)
			break;
	}
	proxy_tls_update(c);
}

void proxy_tls_up_event(struct pconn *c, uint32_t events)
{
	(void)events;   /* the SSL calls say what they wait for */
	proxy_tls_pump(c);
}

void proxy_tls_update(struct pconn *c)
{
	struct ptls *t = c->tls;
	uint32_t ev = 0;
	uint64_t dl = 0;

	if (!t || c->dead)
		return;
	if (t->g_deadline)
		dl = t->g_deadline;
	if (t->u && !t->u_hs && t->u_deadline && (!dl || t->u_deadline < dl))
		dl = t->u_deadline;
	c->deadline = dl;
	if (c->uev.fd < 0 || !t->u)
		return;
	if (!t->u_hs) {
		ev = t->u_hs_want == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN;
	} else {
		if (!t->u_eof && (buf_room(&t->uin) > 0 || t->u_wr_want == SSL_ERROR_WANT_READ))
			ev |= EPOLLIN | EPOLLRDHUP;
		if (t->u_wr_want == SSL_ERROR_WANT_WRITE || t->u_rd_want == SSL_ERROR_WANT_WRITE)
			ev |= EPOLLOUT;
	}
	if (ev_set(c->px->epfd, &c->uev, ev) < 0)
		pconn_reset(c);
}

void proxy_tls_timeout(struct pconn *c)
{
	struct ptls *t = c->tls;
	uint64_t now = now_ms();

	if (!t)
		return;
	if (t->u && !t->u_hs && t->u_deadline && now >= t->u_deadline) {
		char msg[320];
		snprintf(msg, sizeof(msg), "TLS handshake with %.255s timed out", c->rt.host);
		log_warn("proxy: %s: %s", c->sandbox, msg);
		ptls_up_failed(c, msg);
		t->u_deadline = 0;
	}
	if (t->g_deadline && now >= t->g_deadline) {
		t->g_deadline = 0;
		if (t->x == X_CLOSING || !t->g_hs) {
			pconn_reset(c);
			return;
		}
		if (t->x == X_HEAD) {
			if (t->gin.len)
				ptls_error(c, 408, "no complete request head within 30 s", true);
			else
				ptls_start_close(c);
		}
	}
	proxy_tls_pump(c);
	if (!c->dead && c->tls)
		proxy_tls_update(c);
}
