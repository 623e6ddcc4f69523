// SPDX-License-Identifier: MIT
/* proxy_http.h: strict HTTP/1.1 framing for the egress proxy, and the first-bytes peek
 * (TLS ClientHello SNI). Pure: no I/O, no logging above debug. */
#ifndef SBX_PROXY_HTTP_H
#define SBX_PROXY_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_body.h"

#define HTTP_LINE_MAX 8192u          /* request/status line or one header line */
#define HTTP_HEAD_MAX (64u * 1024u)  /* whole head, CRLFs included */
#define HTTP_HEADERS_MAX 100u

/*
 * Head scanner: run over the bytes received so far (the same growing buffer each
 * time; progress is kept in the struct, so the total work is linear). It finds the
 * end of the head and refuses, before any parser sees them: bare CR or LF, obsolete
 * line folding, whitespace before a header's colon, control bytes, bytes outside
 * visible ASCII in the request line, over-long lines and heads, too many headers.
 * Empty lines before a request line (allowed by RFC 9112 2.2) are skipped but count
 * toward the limits.
 */
struct http_scan {
	size_t pos;         /* bytes examined */
	size_t line_start;  /* offset of the current line */
	unsigned lines;     /* complete non-empty lines */
	bool request;
};
void http_scan_init(struct http_scan *s, bool request);
/* 1 and *ret_len (head length incl. the final CRLF) when complete, 0 when more bytes
 * are needed, -EBADMSG for bad bytes or syntax, -E2BIG for a limit. */
int http_scan(struct http_scan *s, const uint8_t *buf, size_t len, size_t *ret_len);

struct http_hdr {
	const char *name;
	size_t name_len;
	const char *value;   /* leading and trailing whitespace trimmed */
	size_t value_len;
};

/* One parsed message head plus the parser that keeps framing its body. */
struct http_msg {
	http_parser parser;
	char *head;               /* owned copy; hdrs[] and url point into it */
	size_t head_len;
	bool request;
	const char *method;       /* static string from http-parser (requests) */
	int method_id;            /* enum http_method */
	const char *url;          /* request target, not NUL-terminated */
	size_t url_len;
	int status;               /* responses */
	unsigned short major, minor;
	struct http_hdr hdrs[HTTP_HEADERS_MAX];
	size_t nhdrs;
	bool chunked;
	bool has_length;
	uint64_t content_length;
	bool keep_alive;          /* http_should_keep_alive() after the head */
	bool upgrade;             /* CONNECT, or an Upgrade the parser accepted */
	bool until_eof;           /* response body delimited by connection close */
	bool body_done;           /* the message is complete */
	struct http_body body;    /* body framing (http_body.h), never http-parser's */
	/* private */
	int cb_last;
	bool cb_error;
	bool skip_body;
};

/* Parse a complete head (as found by http_scan) with http-parser and apply the
 * framing rules: exactly one of Content-Length (1*DIGIT) / Transfer-Encoding: chunked
 * (or neither), no duplicate or malformed length, Transfer-Encoding only "chunked" and
 * never in an HTTP/1.0 message (requests and responses alike), at most one Host,
 * HTTP/1.0 or 1.1. head_request: a response to HEAD (no body).
 * Returns 0 or -EBADMSG; on success m owns a copy of the head (http_msg_clear). */
int http_msg_parse(struct http_msg *m, bool request, bool head_request, const uint8_t *head, size_t len);
void http_msg_clear(struct http_msg *m);
/* Frame body bytes with http_body.h's strict rules: *ret_used bytes of buf belong to
 * this message (forward them as they are); m->body_done once complete. -EBADMSG on a
 * framing error (nothing of buf may be forwarded then). Call with len 0 at the peer's
 * EOF: it ends an until_eof body and is an error for any other incomplete body. */
int http_msg_body(struct http_msg *m, const uint8_t *buf, size_t len, size_t *ret_used);
/* First header named `name` (case-insensitive), or NULL; *ret_count if not NULL. */
const struct http_hdr *http_msg_header(const struct http_msg *m, const char *name, unsigned *ret_count);

/* The request target of a proxy request. CONNECT: authority form "host:port" (port
 * required). Otherwise absolute form "http://host[:port]/path?query" (no userinfo, no
 * fragment): -EPROTONOSUPPORT for another scheme, -EINVAL for origin form. *ret_host is
 * the host text (brackets removed for IPv6), *ret_path the origin-form target. */
int http_target_parse(const struct http_msg *m, char **ret_host, uint16_t *ret_port, char **ret_path);

/* A Host header value: "name", "name:port", "[v6]" or "[v6]:port" (port 1*5 DIGIT,
 * 1-65535). *ret_name is host_normalize()d (malloc), *ret_port -1 when absent.
 * -EINVAL for anything else. */
int http_host_parse(const char *value, size_t len, char **ret_name, int *ret_port);
/* Does the Host header value name `name` (normalised) with no port or with `port`? */
bool http_host_matches(const char *value, size_t len, const char *name, uint16_t port);

/* Build the head sent upstream for an absolute-form request: origin-form request line,
 * Host: host_hdr, the client's headers minus hop-by-hop ones (Connection and what it
 * names, Proxy-Connection, Keep-Alive, Proxy-Authorization, Proxy-Authenticate, TE,
 * Trailer, Upgrade unless a websocket upgrade, Host), then "Connection: close" when
 * close, or the websocket Connection/Upgrade pair. *ret is NUL-terminated (malloc). */
int http_req_rewrite(const struct http_msg *m, const char *path, const char *host_hdr, bool close,
		     char **ret, size_t *ret_len);

/*
 * TLS ClientHello peek: parse the server_name extension from the first bytes of a
 * connection. Handshake fragments over several records are reassembled up to 16 KiB.
 * Returns 1 with the host name in out (validated: printable ASCII, no NUL), 0 for a
 * complete ClientHello without SNI, -EAGAIN when more bytes are needed, -EBADMSG when
 * the bytes are not a well-formed ClientHello.
 */
#define TLS_PEEK_MAX (16u * 1024u + 5u * 8u)
int tls_sni_parse(const uint8_t *buf, size_t len, char *out, size_t outsz);
/* Looks like the start of a TLS handshake record (1) or of an HTTP request line (2),
 * neither (0), or too short to say (-EAGAIN). */
int peek_classify(const uint8_t *buf, size_t len);

#endif
