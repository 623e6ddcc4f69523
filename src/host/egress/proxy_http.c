// SPDX-License-Identifier: MIT
/* proxy_http.c: strict HTTP/1.1 head scanning and framing (over http-parser) and the
 * TLS ClientHello SNI peek, for the egress proxy. */
#include "proxy_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"
#include "util.h"

void http_scan_init(struct http_scan *s, bool request)
{
	*s = (struct http_scan){ .request = request };
}

/* Value bytes: HTAB, SP, VCHAR, obs-text. */
static bool is_field_byte(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int scan_line(const struct http_scan *s, const uint8_t *l, size_t n)
{
	if (s->lines == 0 && s->request) {
		/* request-line: visible ASCII and single spaces only */
		for (size_t i = 0; i < n; i++)
			if (l[i] < 0x20 || l[i] > 0x7e)
				return -EBADMSG;
		return 0;
	}
	if (s->lines == 0) {
		for (size_t i = 0; i < n; i++)
			if (!is_field_byte(l[i]))
				return -EBADMSG;
		return 0;
	}
	/* field-name ":" OWS field-value OWS; a leading SP/HTAB is obs-fold (refused) */
	size_t i = 0;
	while (i < n && http_is_tchar(l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ':')
		return -EBADMSG;
	for (i++; i < n; i++)
		if (!is_field_byte(l[i]))
			return -EBADMSG;
	return 0;
}

int http_scan(struct http_scan *s, const uint8_t *buf, size_t len, size_t *ret_len)
{
	size_t i;

	for (i = s->pos; i < len; i++) {
		uint8_t c = buf[i];

		if (i >= HTTP_HEAD_MAX)
			return -E2BIG;
		if (c == '\n')
			return -EBADMSG;   /* bare LF */
		if (c != '\r') {
			if (i - s->line_start >= HTTP_LINE_MAX)
				return -E2BIG;
			continue;
		}
		if (i + 1 >= len)
			break;              /* need the LF */
		if (buf[i + 1] != '\n')
			return -EBADMSG;   /* bare CR */
		if (i + 2 > HTTP_HEAD_MAX)
			return -E2BIG;
		if (i == s->line_start) {
			if (s->lines == 0 && s->request) {
				/* empty lines before the request line */
				s->line_start = i + 2;
				i++;
				continue;
			}
			if (s->lines == 0)
				return -EBADMSG;
			s->pos = i + 2;
			*ret_len = i + 2;
			return 1;
		}
		int r = scan_line(s, buf + s->line_start, i - s->line_start);
		if (r < 0)
			return r;
		if (++s->lines > HTTP_HEADERS_MAX + 1)
			return -E2BIG;
		s->line_start = i + 2;
		i++;
	}
	s->pos = i;
	return 0;
}

/* ---- http-parser glue ---- */

enum { CB_NONE, CB_FIELD, CB_VALUE };

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_msg *m = p->data;

	if (!m->url)
		m->url = at;
	m->url_len = (size_t)(at + len - m->url);
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_msg *m = p->data;

	if (m->cb_last == CB_FIELD) {
		m->hdrs[m->nhdrs - 1].name_len += len;
		return 0;
	}
	if (m->nhdrs >= HTTP_HEADERS_MAX) {
		m->cb_error = true;
		return 1;
	}
	m->hdrs[m->nhdrs++] = (struct http_hdr){ .name = at, .name_len = len, .value = at + len };
	m->cb_last = CB_FIELD;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_msg *m = p->data;
	struct http_hdr *h;

	if (!m->nhdrs) {
		m->cb_error = true;
		return 1;
	}
	h = &m->hdrs[m->nhdrs - 1];
	if (m->cb_last == CB_VALUE)
		h->value_len += len;
	else {
		h->value = at;
		h->value_len = len;
	}
	m->cb_last = CB_VALUE;
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_msg *m = p->data;

	m->keep_alive = http_should_keep_alive(p);
	m->chunked = p->flags & F_CHUNKED;
	m->major = p->http_major;
	m->minor = p->http_minor;
	if (m->request) {
		m->method_id = p->method;
		m->method = http_method_str(p->method);
	} else {
		m->status = p->status_code;
	}
	/* A response to HEAD has no body whatever its headers say. */
	return m->skip_body ? 1 : 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_msg *m = p->data;

	m->body_done = true;
	http_parser_pause(p, 1);   /* stop exactly at the message boundary */
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

static bool token_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && !strncasecmp(s, lit, n);
}

const struct http_hdr *http_msg_header(const struct http_msg *m, const char *name, unsigned *ret_count)
{
	const struct http_hdr *first = NULL;
	unsigned count = 0;

	for (size_t i = 0; i < m->nhdrs; i++)
		if (token_eq(m->hdrs[i].name, m->hdrs[i].name_len, name)) {
			if (!first)
				first = &m->hdrs[i];
			count++;
		}
	if (ret_count)
		*ret_count = count;
	return first;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Content-Length: 1*DIGIT, at most 18 digits (no sign, no list, no spaces inside). */
static int parse_length(const struct http_hdr *h, uint64_t *ret)
{
	uint64_t v = 0;

	if (!h || !h->value_len || h->value_len > 18)
		return -EBADMSG;
	for (size_t i = 0; i < h->value_len; i++) {
		if (h->value[i] < '0' || h->value[i] > '9')
			return -EBADMSG;
		v = v * 10 + (uint64_t)(h->value[i] - '0');
	}
	*ret = v;
	return 0;
}

void http_msg_clear(struct http_msg *m)
{
	free(m->head);
	memset(m, 0, sizeof(*m));
}

int http_msg_parse(struct http_msg *m, bool request, bool head_request, const uint8_t *head, size_t len)
{
	const struct http_hdr *h;
	unsigned n_cl, n_te, n_host;
	size_t used;

	memset(m, 0, sizeof(*m));
	if (len == 0 || len > HTTP_HEAD_MAX)
		return -EBADMSG;
	m->head = xmalloc(len + 1);
	memcpy(m->head, head, len);
	m->head[len] = '\0';
	m->head_len = len;
	m->request = request;
	http_parser_init(&m->parser, request ? HTTP_REQUEST : HTTP_RESPONSE);
	m->parser.data = m;
	m->skip_body = head_request;
	used = http_parser_execute(&m->parser, &parser_settings, m->head, len);
	if (m->cb_error)
		goto bad;
	if (HTTP_PARSER_ERRNO(&m->parser) != HPE_OK && HTTP_PARSER_ERRNO(&m->parser) != HPE_PAUSED)
		goto bad;
	if (used != len && !(m->parser.upgrade || m->body_done))
		goto bad;
	if (m->major != 1 || m->minor > 1)
		goto bad;
	for (size_t i = 0; i < m->nhdrs; i++) {
		trim(&m->hdrs[i].value, &m->hdrs[i].value_len);
		if (!m->hdrs[i].name_len)
			goto bad;
	}
	m->upgrade = m->parser.upgrade;
	http_msg_header(m, "content-length", &n_cl);
	h = http_msg_header(m, "transfer-encoding", &n_te);
	if (n_cl > 1 || n_te > 1 || (n_cl && n_te))
		goto bad;
	if (m->chunked != (n_te == 1))
		goto bad;   /* http-parser and we disagree about the framing */
	if (request) {
		http_msg_header(m, "host", &n_host);
		if (n_host > 1)
			goto bad;
		if (m->method_id == HTTP_CONNECT && (n_cl || n_te))
			goto bad;
	}
	/* Transfer-Encoding is HTTP/1.1 only (RFC 9112 6.1), and "chunked" is all we frame */
	if (n_te && (m->minor == 0 || !token_eq(h->value, h->value_len, "chunked")))
		goto bad;
	m->has_length = n_cl == 1;
	if (m->has_length && parse_length(http_msg_header(m, "content-length", NULL), &m->content_length) < 0)
		goto bad;
	if (!request) {
		bool no_body = head_request || m->status / 100 == 1 || m->status == 204 || m->status == 304;
		m->until_eof = !no_body && !m->chunked && !m->has_length && !m->upgrade;
		if (m->status < 100 || m->status > 999)
			goto bad;
		http_body_init(&m->body, no_body ? HTTP_BODY_NONE : m->chunked ? HTTP_BODY_CHUNKED
						 : m->has_length ? HTTP_BODY_LENGTH
						 : m->upgrade ? HTTP_BODY_NONE : HTTP_BODY_EOF, m->content_length);
	} else {
		http_body_init(&m->body, m->chunked ? HTTP_BODY_CHUNKED : m->has_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE,
			       m->content_length);
	}
	m->body_done = m->body.done;
	m->cb_last = CB_NONE;
	return 0;
bad:
	http_msg_clear(m);
	return -EBADMSG;
}

int http_msg_body(struct http_msg *m, const uint8_t *buf, size_t len, size_t *ret_used)
{
	size_t used = 0;

	if (m->body_done) {
		*ret_used = 0;
		return 0;
	}
	if (http_body_feed(&m->body, buf, len, len == 0, &used) < 0)
		return -EBADMSG;
	m->body_done = m->body.done;
	*ret_used = used;
	return 0;
}

int http_target_parse(const struct http_msg *m, char **ret_host, uint16_t *ret_port, char **ret_path)
{
	struct http_parser_url u;
	const char *url = m->url;
	size_t n = m->url_len;
	_cleanup_free_ char *host = NULL, *path = NULL;
	uint16_t port;

	if (!url || !n || n > HTTP_LINE_MAX)
		return -EINVAL;
	http_parser_url_init(&u);
	if (m->method_id == HTTP_CONNECT) {
		if (http_parser_parse_url(url, n, 1, &u) != 0)
			return -EINVAL;
		if (u.field_set != ((1 << UF_HOST) | (1 << UF_PORT)) || u.port == 0)
			return -EINVAL;
		host = strndup(url + u.field_data[UF_HOST].off, u.field_data[UF_HOST].len);
		if (!host)
			return -ENOMEM;
		*ret_host = TAKE_PTR(host);
		*ret_port = u.port;
		if (ret_path)
			*ret_path = NULL;
		return 0;
	}
	if (url[0] == '/' || url[0] == '*')
		return -EINVAL;                 /* origin or asterisk form: not for a proxy */
	if (http_parser_parse_url(url, n, 0, &u) != 0)
		return -EINVAL;
	if (!(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST)))
		return -EINVAL;
	if (u.field_set & ((1 << UF_USERINFO) | (1 << UF_FRAGMENT)))
		return -EINVAL;
	if (!token_eq(url + u.field_data[UF_SCHEMA].off, u.field_data[UF_SCHEMA].len, "http"))
		return -EPROTONOSUPPORT;
	port = 80;
	if (u.field_set & (1 << UF_PORT)) {
		if (u.port == 0)
			return -EINVAL;
		port = u.port;
	}
	if (!u.field_data[UF_HOST].len)
		return -EINVAL;
	host = strndup(url + u.field_data[UF_HOST].off, u.field_data[UF_HOST].len);
	if (!host)
		return -ENOMEM;
	{
		const char *p = "/";
		size_t plen = 1, qlen = 0;
		const char *q = "";

		if (u.field_set & (1 << UF_PATH)) {
			p = url + u.field_data[UF_PATH].off;
			plen = u.field_data[UF_PATH].len;
		}
		if (u.field_set & (1 << UF_QUERY)) {
			q = url + u.field_data[UF_QUERY].off;
			qlen = u.field_data[UF_QUERY].len;
		}
		path = xasprintf("%.*s%s%.*s", (int)plen, p, (u.field_set & (1 << UF_QUERY)) ? "?" : "",
				 (int)qlen, q);
	}
	*ret_host = TAKE_PTR(host);
	*ret_port = port;
	*ret_path = TAKE_PTR(path);
	return 0;
}

int http_host_parse(const char *value, size_t len, char **ret_name, int *ret_port)
{
	char buf[300];
	const char *name = buf, *port = NULL;
	char *colon, *norm = NULL;
	bool is_ip;
	long p = -1;

	if (!len || len >= sizeof(buf) || memchr(value, '\0', len))
		return -EINVAL;
	memcpy(buf, value, len);
	buf[len] = '\0';
	if (buf[0] == '[') {
		char *e = strchr(buf, ']');
		if (!e || (e[1] && e[1] != ':'))
			return -EINVAL;
		*e = '\0';
		name = buf + 1;
		if (e[1])
			port = e + 2;
	} else if ((colon = strchr(buf, ':'))) {
		if (strchr(colon + 1, ':'))
			return -EINVAL;
		*colon = '\0';
		port = colon + 1;
	}
	if (port) {
		size_t n = strlen(port);
		if (!n || n > 5 || strspn(port, "0123456789") != n)
			return -EINVAL;
		p = strtol(port, NULL, 10);
		if (p < 1 || p > 65535)
			return -EINVAL;
	}
	if (!*name || host_normalize(name, &norm, &is_ip) < 0)
		return -EINVAL;
	*ret_name = norm;
	*ret_port = (int)p;
	return 0;
}

bool http_host_matches(const char *value, size_t len, const char *name, uint16_t port)
{
	_cleanup_free_ char *n = NULL;
	int p;

	if (http_host_parse(value, len, &n, &p) < 0)
		return false;
	return !strcmp(n, name) && (p < 0 || p == port);
}

/* Does the comma-separated list s contain token tok? */
static bool list_has(const char *s, size_t n, const char *tok, size_t toklen)
{
	size_t i = 0;

	while (i < n) {
		size_t start, end;

		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		start = i;
		while (i < n && s[i] != ',')
			i++;
		end = i;
		while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
			end--;
		if (end > start && end - start == toklen && !strncasecmp(s + start, tok, toklen))
			return true;
	}
	return false;
}

/* Named by a Connection or Proxy-Connection header of m? */
static bool conn_names(const struct http_msg *m, const char *name, size_t len)
{
	for (size_t i = 0; i < m->nhdrs; i++) {
		const struct http_hdr *h = &m->hdrs[i];
		if ((token_eq(h->name, h->name_len, "connection") || token_eq(h->name, h->name_len, "proxy-connection")) &&
		    list_has(h->value, h->value_len, name, len))
			return true;
	}
	return false;
}

static const char *const hop_by_hop[] = {
	"connection", "proxy-connection", "keep-alive", "proxy-authorization", "proxy-authenticate",
	"te", "trailer", "upgrade", "host",
};

int http_req_rewrite(const struct http_msg *m, const char *path, const char *host_hdr, bool close,
		     char **ret, size_t *ret_len)
{
	const struct http_hdr *up = http_msg_header(m, "upgrade", NULL);
	bool websocket = up && list_has(up->value, up->value_len, "websocket", 9) && conn_names(m, "upgrade", 7);
	size_t cap = m->head_len + strlen(path) + strlen(host_hdr) + 128, len = 0;
	_cleanup_free_ char *out = NULL;
	int n;

	if (!m->request || !m->method)
		return -EINVAL;
	out = xmalloc(cap);
	n = snprintf(out, cap, "%s %s HTTP/%u.%u\r\nHost: %s\r\n", m->method, path, m->major, m->minor, host_hdr);
	if (n < 0 || (size_t)n >= cap)
		return -E2BIG;
	len = (size_t)n;
	for (size_t i = 0; i < m->nhdrs; i++) {
		const struct http_hdr *h = &m->hdrs[i];
		bool drop = false;

		for (size_t k = 0; k < ARRAY_SIZE(hop_by_hop); k++)
			if (token_eq(h->name, h->name_len, hop_by_hop[k]))
				drop = true;
		/* headers the client declared hop-by-hop (but never the framing ones) */
		if (!drop && conn_names(m, h->name, h->name_len) &&
		    !token_eq(h->name, h->name_len, "content-length") &&
		    !token_eq(h->name, h->name_len, "transfer-encoding"))
			drop = true;
		if (websocket && token_eq(h->name, h->name_len, "upgrade"))
			drop = false;
		if (drop)
			continue;
		n = snprintf(out + len, cap - len, "%.*s: %.*s\r\n", (int)h->name_len, h->name, (int)h->value_len,
			     h->value);
		if (n < 0 || (size_t)n >= cap - len)
			return -E2BIG;
		len += (size_t)n;
	}
	n = snprintf(out + len, cap - len, "%s\r\n",
		     websocket ? "Connection: Upgrade\r\n" : close ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= cap - len)
		return -E2BIG;
	len += (size_t)n;
	*ret_len = len;
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- first-bytes peek ---- */

int peek_classify(const uint8_t *buf, size_t len)
{
	size_t i;

	if (len == 0)
		return -EAGAIN;
	if (buf[0] == 0x16) {
		if (len < 2)
			return -EAGAIN;
		return buf[1] == 3 ? 1 : 0;
	}
	for (i = 0; i < len && i < 17; i++) {
		if (buf[i] == ' ')
			return i > 0 ? 2 : 0;
		if (buf[i] < 'A' || buf[i] > 'Z')
			return 0;
	}
	return i < 17 ? -EAGAIN : 0;
}

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t rd24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }

/* A bounded cursor: every read checks the remaining length. */
struct cur {
	const uint8_t *p;
	size_t n;
};

static bool cur_skip(struct cur *c, size_t k)
{
	if (c->n < k)
		return false;
	c->p += k;
	c->n -= k;
	return true;
}

static bool cur_vec(struct cur *c, size_t lenbytes, struct cur *ret)
{
	size_t l;

	if (c->n < lenbytes)
		return false;
	l = lenbytes == 1 ? c->p[0] : lenbytes == 2 ? rd16(c->p) : rd24(c->p);
	if (!cur_skip(c, lenbytes) || c->n < l)
		return false;
	*ret = (struct cur){ c->p, l };
	c->p += l;
	c->n -= l;
	return true;
}

static int parse_client_hello(const uint8_t *b, size_t n, char *out, size_t outsz)
{
	struct cur c = { b, n }, v, exts;
	bool seen_sni = false;
	int found = 0;

	if (!cur_skip(&c, 2 + 32))                      /* legacy_version, random */
		return -EBADMSG;
	if (!cur_vec(&c, 1, &v) || v.n > 32)             /* session id */
		return -EBADMSG;
	if (!cur_vec(&c, 2, &v) || v.n < 2 || v.n % 2)   /* cipher suites */
		return -EBADMSG;
	if (!cur_vec(&c, 1, &v) || v.n < 1)              /* compression methods */
		return -EBADMSG;
	if (c.n == 0)
		return 0;                                /* no extensions */
	if (!cur_vec(&c, 2, &exts) || c.n != 0)
		return -EBADMSG;
	while (exts.n) {
		uint32_t type;
		struct cur e, list;

		if (exts.n < 2)
			return -EBADMSG;
		type = rd16(exts.p);
		cur_skip(&exts, 2);
		if (!cur_vec(&exts, 2, &e))
			return -EBADMSG;
		if (type != 0)
			continue;
		if (seen_sni)
			return -EBADMSG;             /* duplicate extension */
		seen_sni = true;
		if (!cur_vec(&e, 2, &list) || e.n != 0)
			return -EBADMSG;
		while (list.n) {
			uint8_t nt;
			struct cur name;

			nt = list.p[0];
			cur_skip(&list, 1);
			if (!cur_vec(&list, 2, &name))
				return -EBADMSG;
			if (nt != 0)
				continue;
			if (found || name.n == 0 || name.n >= outsz || name.n > 255)
				return -EBADMSG;     /* one host_name only (RFC 6066 3) */
			for (size_t i = 0; i < name.n; i++)
				if (name.p[i] <= 0x20 || name.p[i] >= 0x7f)
					return -EBADMSG;
			memcpy(out, name.p, name.n);
			out[name.n] = '\0';
			found = 1;
		}
	}
	return found;
}

int tls_sni_parse(const uint8_t *buf, size_t len, char *out, size_t outsz)
{
	uint8_t hs[16384];
	size_t have = 0, off = 0;

	if (outsz < 2)
		return -EINVAL;
	for (;;) {
		uint32_t rlen;

		if (len - off < 5)
			return -EAGAIN;
		if (buf[off] != 0x16 || buf[off + 1] != 3)
			return -EBADMSG;
		rlen = rd16(buf + off + 3);
		if (rlen == 0 || rlen > 16384)
			return -EBADMSG;
		if (len - off - 5 < rlen)
			return -EAGAIN;
		if (have + rlen > sizeof(hs))
			return -EBADMSG;
		memcpy(hs + have, buf + off + 5, rlen);
		have += rlen;
		off += 5 + rlen;
		if (have >= 4) {
			uint32_t hlen = rd24(hs + 1);

			if (hs[0] != 1 || hlen + 4 > sizeof(hs))
				return -EBADMSG;   /* not a ClientHello, or too large */
			if (have >= hlen + 4)
				return parse_client_hello(hs + 4, hlen, out, outsz);
		}
	}
}
