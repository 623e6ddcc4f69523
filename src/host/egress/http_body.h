// SPDX-License-Identifier: MIT
/* http_body.h: strict, bounded, incremental framing of HTTP/1.1 message bodies
 * (Content-Length, chunked, close-delimited) for the egress proxy. Pure: no I/O, no
 * allocation, no logging. */
#ifndef SBX_HTTP_BODY_H
#define SBX_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_CHUNK_LINE_MAX 4096u         /* chunk-size line, extensions included */
#define HTTP_TRAILER_MAX (16u * 1024u)    /* whole trailer section */
#define HTTP_TRAILER_LINES_MAX 32u

enum http_body_kind {
	HTTP_BODY_NONE,      /* no body: complete at once */
	HTTP_BODY_LENGTH,    /* Content-Length */
	HTTP_BODY_CHUNKED,   /* Transfer-Encoding: chunked */
	HTTP_BODY_EOF,       /* response delimited by the connection's close */
};

/*
 * Chunked bodies are checked byte by byte against RFC 9112 7.1 with no leniency:
 * chunk-size is 1*HEXDIG (at most 15 digits); after it only "; ext" with optional
 * whitespace before each ';' (extension bytes: visible ASCII, SP, HTAB); every line
 * ends in CRLF (a CR must be followed by LF, an LF must follow a CR); exactly CRLF
 * after chunk data; trailer fields are `token ":" value` (no folding, no control
 * bytes) and never Content-Length, Transfer-Encoding or Host; an empty line ends the
 * body. Lines, trailer bytes and trailer count are bounded.
 */
struct http_body {
	enum http_body_kind kind;
	int st;              /* private: chunk parser state */
	uint64_t left;       /* LENGTH: bytes still to come; CHUNKED: of the current chunk */
	size_t line;         /* bytes in the current chunk-size or trailer line */
	size_t name_len;     /* trailer: bytes of the field name so far */
	char name[20];       /* trailer: the name's first bytes, lower case */
	size_t trailer_bytes;
	unsigned trailer_lines;
	unsigned digits;
	bool done;
};

/* RFC 9110 tchar: the bytes of a token (header field names, methods). */
bool http_is_tchar(uint8_t c);

void http_body_init(struct http_body *b, enum http_body_kind kind, uint64_t length);
/*
 * Frame the next len bytes. On success *ret_used bytes (a prefix of buf, every one of
 * them valid) belong to this message: forward exactly those; b->done once the body is
 * complete (the bytes after it belong to the next message). eof: the peer closed after
 * these bytes; it completes an HTTP_BODY_EOF body and is an error for any other body
 * still incomplete. -EBADMSG for framing the rules above refuse, -E2BIG for a limit;
 * nothing of buf may be forwarded then, and the stream must be aborted.
 */
int http_body_feed(struct http_body *b, const uint8_t *buf, size_t len, bool eof, size_t *ret_used);

#endif
