// SPDX-License-Identifier: MIT
/* proxy_tls_http.c: the requests of an intercepted connection: strict framing, the Host
 * check, the auth headers replaced with the real credential, responses relayed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "proxy_tls.h"
#include "secrets.h"
#include "services.h"
#include "util.h"

/* Host header value equal to the CONNECT host, alone or with the CONNECT port (443). */
static bool host_matches(const struct pconn *c, const struct http_hdr *h)
{
	return http_host_matches(h->value, h->value_len, c->rt.host, c->rt.port);
}

static bool name_is(const struct http_hdr *h, const char *lit)
{
	return strlen(lit) == h->name_len && !strncasecmp(h->name, lit, h->name_len);
}

/* The head sent upstream: the request line and headers as received (validated), minus
 * Proxy-* headers and, when a credential is injected, minus every auth header of the
 * service, plus the real one. -EPERM with *ret_err when the store cannot be used. */
static int build_head(struct pconn *c, char **ret_err)
{
	struct ptls *t = c->tls;
	struct pxicpt *ic = c->px->icpt;
	const struct http_msg *m = &t->req;
	const struct service_host *sh = c->svc_host;
	_cleanup_secret_ char *key = NULL;
	char *hname = NULL, *hval = NULL;
	size_t cap, len = 0;
	char *out;
	int n, r;

	if (sh && ic) {
		const char *const *env = ic->env_lookup ? ic->env_lookup(ic->env_ctx, c->sandbox) : NULL;

		r = secrets_resolve(c->px->paths, c->sandbox, sh->service->name, (char *const *)env, &key, NULL);
		if (r < 0 && r != -ENOENT) {
			_cleanup_free_ char *err = NULL;
			secrets_check(c->px->paths, &err);
			*ret_err = xasprintf("cannot use the secret store: %s", err ? err : strerror(-r));
			return -EPERM;
		}
		if (r == 0 && service_header(sh, key, &hname, &hval) < 0) {
			*ret_err = xasprintf("the stored %s credential cannot be sent in a header", sh->service->name);
			return -EINVAL;
		}
	}
	cap = m->head_len + 64 + (hval ? strlen(hname) + strlen(hval) + 4 : 0);
	out = xmalloc(cap);
	n = snprintf(out, cap, "%s %.*s HTTP/%u.%u\r\n", m->method, (int)m->url_len, m->url, m->major, m->minor);
	if (n < 0 || (size_t)n >= cap)
		goto too_big;
	len = (size_t)n;
	for (size_t i = 0; i < m->nhdrs; i++) {
		const struct http_hdr *h = &m->hdrs[i];

		if (name_is(h, "proxy-connection") || name_is(h, "proxy-authorization"))
			continue;
		if (hval && h->name_len < TLS_HDR_NAME_MAX) {
			char nm[TLS_HDR_NAME_MAX];
			memcpy(nm, h->name, h->name_len);
			nm[h->name_len] = '\0';
			if (service_is_auth_header(sh, nm))
				continue;
		}
		n = snprintf(out + len, cap - len, "%.*s: %.*s\r\n", (int)h->name_len, h->name, (int)h->value_len,
			     h->value);
		if (n < 0 || (size_t)n >= cap - len)
			goto too_big;
		len += (size_t)n;
	}
	if (hval) {
		n = snprintf(out + len, cap - len, "%s: %s\r\n", hname, hval);
		if (n < 0 || (size_t)n >= cap - len)
			goto too_big;
		len += (size_t)n;
		t->injected = sh->service->name;
	}
	if (cap - len < 3)
		goto too_big;
	memcpy(out + len, "\r\n", 3);
	len += 2;
	if (hval) {
		OPENSSL_cleanse(hval, strlen(hval));
		free(hval);
		free(hname);
	}
	t->uhead = out;
	t->uhead_len = len;
	t->uhead_off = 0;
	return 0;
too_big:
	OPENSSL_cleanse(out, cap);
	free(out);
	if (hval) {
		OPENSSL_cleanse(hval, strlen(hval));
		free(hval);
		free(hname);
	}
	t->injected = NULL;
	*ret_err = xstrdup("request head too large");
	return -E2BIG;
}

static bool x_head(struct pconn *c)
{
	struct ptls *t = c->tls;
	const struct http_hdr *host;
	unsigned nhost;
	size_t hl = 0;
	char msg[600];
	int r;

	if (!t->g_hs)
		return false;
	if (t->u_eof && !t->u_failed) {
		/* the upstream ended its side of an idle keep-alive connection: end ours too
		 * (an unanswered request in gin is retried by the client) */
		ptls_start_close(c);
		return true;
	}
	if (t->uin.len) {
		ptls_start_close(c);   /* the upstream spoke out of turn */
		return true;
	}
	if (!t->gin.len) {
		if (t->g_eof) {
			ptls_start_close(c);
			return true;
		}
		return false;
	}
	r = http_scan(&t->scan, t->gin.data + t->gin.off, t->gin.len, &hl);
	if (r < 0) {
		ptls_error(c, 400, r == -E2BIG ? "request head too large" : "malformed request", true);
		return true;
	}
	if (r == 0) {
		if (t->g_eof) {
			ptls_start_close(c);
			return true;
		}
		return false;
	}
	if (http_msg_parse(&t->req, true, false, t->gin.data + t->gin.off, hl) < 0) {
		ptls_error(c, 400, "malformed request", true);
		return true;
	}
	buf_consume(&t->gin, hl);
	t->have_req = true;
	t->g_deadline = 0;
	t->url_path = strndup(t->req.url ? t->req.url : "", MIN(t->req.url_len, (size_t)AUDIT_URL_PATH_MAX));
	t->head_req = t->req.method_id == HTTP_HEAD;
	t->req_close = !t->req.keep_alive;
	if (t->req.method_id == HTTP_CONNECT || !t->req.url_len ||
	    !(t->req.url[0] == '/' || (t->req.url_len == 1 && t->req.url[0] == '*'))) {
		ptls_error(c, 400, "send origin-form requests (GET /path) inside the tunnel", true);
		return true;
	}
	host = http_msg_header(&t->req, "host", &nhost);
	if (!host) {
		ptls_error(c, 400, "the request has no Host header", true);
		return true;
	}
	if (!host_matches(c, host)) {
		snprintf(msg, sizeof(msg), "Host %.*s does not match the CONNECT host %.255s", (int)MIN(host->value_len, (size_t)255),
			 host->value, c->rt.host);
		ptls_error(c, 421, msg, false);
		return true;
	}
	if (t->u_failed) {
		ptls_error(c, 502, t->u_err, true);
		return true;
	}
	{
		_cleanup_free_ char *err = NULL;
		if (build_head(c, &err) < 0) {
			ptls_error(c, 502, err ? err : "cannot build the request", true);
			return true;
		}
	}
	t->x = X_EXCHANGE;
	http_scan_init(&t->rscan, false);
	return true;
}

static void exchange_done(struct pconn *c)
{
	struct ptls *t = c->tls;
	bool close = t->req_close || !t->resp.keep_alive || t->resp.until_eof || t->g_eof || t->u_eof || t->uin.len;

	ptls_exchange_clear(t);
	if (close) {
		ptls_start_close(c);
		return;
	}
	/* idle keep-alive connections keep no large buffers */
	if (!t->gin.len)
		buf_free(&t->gin);
	if (!t->uin.len)
		buf_free(&t->uin);
	t->x = X_HEAD;
	t->g_deadline = now_ms() + PROXY_HEAD_TIMEOUT_MS;
}

static bool x_exchange(struct pconn *c)
{
	struct ptls *t = c->tls;
	bool moved = false;
	size_t used = 0;

	if (t->u_failed) {
		ptls_error(c, 502, t->u_err, true);
		return true;
	}
	/* request body */
	if (!t->req.body_done && !t->req_pending && t->gin.len) {
		if (http_msg_body(&t->req, t->gin.data + t->gin.off, t->gin.len, &used) < 0) {
			ptls_audit(c, true, "malformed request body", 0);
			pconn_reset(c);
			return false;
		}
		t->req_pending = used;
		moved |= used > 0 || t->req.body_done;
	}
	if (!t->req.body_done && !t->req_pending && !t->gin.len && t->g_eof) {
		pconn_reset(c);   /* the client went away in the middle of its body */
		return false;
	}
	/* response */
	if (!t->resp_pending) {
		if (!t->have_resp) {
			size_t hl = 0;
			int r = t->uin.len ? http_scan(&t->rscan, t->uin.data + t->uin.off, t->uin.len, &hl) : 0;

			if (r < 0 || (r == 0 && t->u_eof)) {
				ptls_error(c, 502, r < 0 ? "malformed response head" : "the server closed the connection",
					  true);
				return true;
			}
			if (r == 1) {
				if (http_msg_parse(&t->resp, false, t->head_req, t->uin.data + t->uin.off, hl) < 0) {
					ptls_error(c, 502, "malformed response head", true);
					return true;
				}
				t->resp_pending = hl;
				t->resp_started = true;
				moved = true;
				if (t->resp.status / 100 == 1 && t->resp.status != 101) {
					http_msg_clear(&t->resp);   /* interim: relay, wait for the final one */
					http_scan_init(&t->rscan, false);
					return true;
				}
				t->have_resp = true;
				ptls_audit(c, true, NULL, t->resp.status);
				if (t->resp.status == 101) {
					t->x = X_RAW;
					return true;
				}
			}
		} else if (!t->resp.body_done) {
			if (t->uin.len) {
				if (http_msg_body(&t->resp, t->uin.data + t->uin.off, t->uin.len, &used) < 0) {
					pconn_reset(c);   /* the client must not take it as complete */
					return false;
				}
				t->resp_pending = used;
				moved |= used > 0 || t->resp.body_done;
			} else if (t->u_eof) {
				/* EOF ends a close-delimited body; any other is truncated */
				if (http_msg_body(&t->resp, NULL, 0, &used) < 0) {
					pconn_reset(c);
					return false;
				}
				moved = true;
			}
		}
	}
	if (t->have_resp && t->resp.body_done && !t->resp_pending) {
		if (!t->req.body_done) {
			/* answered before the request body ended: the stream cannot continue */
			ptls_exchange_clear(t);
			ptls_start_close(c);
			return true;
		}
		if (!t->req_pending && !t->uhead) {
			exchange_done(c);
			return true;
		}
	}
	return moved;
}

/* After 101: bytes both ways until either side ends. */
static bool x_raw(struct pconn *c)
{
	struct ptls *t = c->tls;
	bool moved = false;

	if (t->u_failed) {
		pconn_reset(c);
		return false;
	}
	if (!t->uhead)
		t->req_pending = t->gin.len;
	t->resp_pending = t->uin.len;
	if (t->g_eof && !t->gin.len && t->u && !t->u_shut) {
		ERR_clear_error();
		(void)SSL_shutdown(t->u);
		ERR_clear_error();
		t->u_shut = true;
		moved = true;
	}
	if (t->u_eof && !t->uin.len) {
		ptls_exchange_clear(t);
		ptls_start_close(c);
		return true;
	}
	return moved;
}

bool proxy_tls_step(struct pconn *c)
{
	switch (c->tls->x) {
	case X_HEAD:
		return x_head(c);
	case X_EXCHANGE:
		return x_exchange(c);
	case X_RAW:
		return x_raw(c);
	case X_CLOSING:
		break;
	}
	return false;
}
