// SPDX-License-Identifier: MIT
/* proxy_tls.h: the egress engine's TLS interception (credential injection), internal to
 * the engine: entry points for proxy.c and proxy_fwd.c, and the state shared by
 * proxy_tls.c (TLS sessions, I/O, lifecycle) and proxy_tls_http.c (requests). */
#ifndef SBX_PROXY_TLS_H
#define SBX_PROXY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/ssl.h>

#include "proxy_int.h"

/*
 * Lifecycle of an intercepted CONNECT:
 *  1. proxy_route_connected(): the policy and address checks passed and the upstream
 *     socket is connected; proxy_tls_decide() says whether to intercept (c->intercept,
 *     c->svc_host). The 200 goes out as for any tunnel.
 *  2. connect_peek(): the ClientHello passed the SNI check (server name equal to the
 *     CONNECT host, or none); proxy_tls_start() takes the connection over: st = PS_TLS,
 *     c->tls set. The guest side is an SSL over a BIO that reads c->in and writes to
 *     ops->write; the upstream side an SSL on the connected socket.
 *  3. Until the connection ends, the core hands every event to proxy_tls_pump() /
 *     proxy_tls_up_event() / proxy_tls_timeout(); epoll interest comes from
 *     proxy_tls_update(). A graceful end switches to PS_CLOSING with c->tls freed.
 */

/* For an allowed CONNECT: true to intercept it, with why (for the audit line) set. */
bool proxy_tls_decide(struct pconn *c, char *why, size_t whylen);
void proxy_tls_start(struct pconn *c);
/* Make every possible progress (client bytes, room toward the client, upstream). */
void proxy_tls_pump(struct pconn *c);
void proxy_tls_up_event(struct pconn *c, uint32_t events);
void proxy_tls_update(struct pconn *c);
void proxy_tls_timeout(struct pconn *c);
/* Release c->tls (zeroing anything that held a credential); the core then closes the
 * upstream socket. */
void proxy_tls_conn_free(struct pconn *c);
void proxy_tls_engine_free(struct proxy *px);

/* ---- shared by proxy_tls.c and proxy_tls_http.c ---- */

#define TLS_UP_READ_BUF (64u * 1024u)                /* upstream SSL read-ahead buffer */
#define TLS_PLAIN_MAX (HTTP_HEAD_MAX + 64u * 1024u)  /* gin, uin */
#define TLS_GOUT_MAX 4096u                           /* our own answers */
#define TLS_HDR_NAME_MAX 64u                         /* longer names are no auth header */
#define TLS_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

#define TLS_SESS_MAX 256u   /* upstream sessions kept for resumption */

struct up_sess {
	char *key;                /* "host|port|address" */
	SSL_SESSION *sess;
	uint64_t stamp;
};

/* Per engine. */
struct pxicpt {
	struct ca *ca;
	const char *const *(*env_lookup)(void *ctx, const char *sandbox);
	void *env_ctx;
	SSL_CTX *up_ctx;          /* NULL: not built yet, or up_err says why not */
	char *up_path;            /* proxy.upstreamCA it was built with (NULL: none) */
	struct timespec up_mtime;
	off_t up_size;
	char *up_err;
	bool store_warned;
	/* TLS session tickets from upstreams, each used once (RFC 8446 C.4): a new
	 * connection to the same host, port and address resumes instead of verifying
	 * the certificate chain again; forgotten when up_ctx is rebuilt */
	struct up_sess sess[TLS_SESS_MAX];
	uint64_t sess_clock;
};

enum xstate {
	X_HEAD,       /* waiting for a request head */
	X_EXCHANGE,   /* request body and response in flight */
	X_RAW,        /* after 101 Switching Protocols: bytes both ways */
	X_CLOSING,    /* our answer or close_notify draining toward the guest */
};

struct ptls {
	SSL *g;                   /* toward the guest: server, over a guest_bio (c->in, ops->write) */
	SSL *u;                   /* toward the upstream: client, on c->uev.fd */
	bool g_hs, u_hs;          /* handshakes done */
	bool u_failed;            /* upstream unusable: u_err says why */
	char u_err[400];
	char *u_key;              /* session cache key of this upstream connection */
	int u_hs_want, u_rd_want, u_wr_want;   /* SSL_ERROR_WANT_* of the last blocked call */
	bool g_eof, u_eof, u_shut, g_shut;
	uint64_t g_deadline, u_deadline;

	enum xstate x;
	struct buf gin, uin, gout;
	char *uhead;              /* rewritten request head (may hold the credential) */
	size_t uhead_len, uhead_off;
	size_t req_pending, resp_pending;
	struct http_scan scan, rscan;
	struct http_msg req, resp;
	bool have_req, have_resp, head_req, req_close, resp_started, audited;
	bool head_sent;           /* the whole rewritten head went upstream */
	char *url_path;
	const char *injected;     /* service name when this request carries the credential */
};

/* proxy_tls.c */
/* One audit line for the current request (reason NULL: "injected SERVICE" or
 * "intercepted"). */
void ptls_audit(struct pconn *c, bool allowed, const char *reason, int status);
/* Answer the current request ourselves (status, "sbx: text") and close; a reset when
 * that is no longer possible. */
void ptls_error(struct pconn *c, int status, const char *text, bool allowed);
/* Graceful end: upstream closed, then our answer and close_notify toward the guest. */
void ptls_start_close(struct pconn *c);
void ptls_exchange_clear(struct ptls *t);
/* Zero and free the rewritten head (it holds the credential). */
void ptls_uhead_drop(struct ptls *t);
/* close_notify when possible, free the upstream SSL, close its socket. */
void ptls_up_close(struct pconn *c);

/* proxy_tls_io.c: each step true on progress. */
BIO *ptls_guest_bio_new(struct pconn *c);    /* the guest side's BIO over c->in and ops->write */
bool ptls_g_drop_input(struct pconn *c);     /* discard guest bytes while closing */
bool ptls_g_handshake(struct pconn *c);
bool ptls_g_read(struct pconn *c);           /* guest records -> gin */
bool ptls_g_write(struct pconn *c);          /* uin/gout -> guest records */
bool ptls_u_handshake(struct pconn *c);
bool ptls_u_read(struct pconn *c);           /* upstream records -> uin */
bool ptls_u_write(struct pconn *c);          /* the rewritten head and gin -> upstream */
bool ptls_closing_done(struct pconn *c);     /* PS_CLOSING: everything flushed */
void ptls_up_failed(struct pconn *c, const char *why); /* the upstream failed: 502 or reset */

/* proxy_tls_http.c: advance the request/response state machine; true on progress. */
bool proxy_tls_step(struct pconn *c);

#endif
