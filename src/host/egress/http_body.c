// SPDX-License-Identifier: MIT
/* http_body.c: strict incremental body framing (Content-Length, chunked with trailers,
 * close-delimited) for the egress proxy; replaces http-parser's lenient chunk parser. */
#include "http_body.h"

#include <errno.h>
#include <string.h>

#include "util.h"

enum {
	CK_SIZE,          /* first hex digit of chunk-size */
	CK_SIZE_MORE,     /* more digits, BWS, ';' or CR */
	CK_BWS,           /* whitespace after the size: only ';' may follow */
	CK_EXT,           /* chunk extensions up to CR */
	CK_SIZE_LF,       /* LF ending the chunk-size line */
	CK_DATA,
	CK_DATA_CR,       /* CRLF after chunk data */
	CK_DATA_LF,
	CK_TRAILER,       /* start of a trailer line, or CR of the final empty line */
	CK_TNAME,
	CK_TVALUE,
	CK_TLF,
	CK_END_LF,
};

bool http_is_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

void http_body_init(struct http_body *b, enum http_body_kind kind, uint64_t length)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->st = CK_SIZE;
	b->left = length;
	b->done = kind == HTTP_BODY_NONE || (kind == HTTP_BODY_LENGTH && length == 0);
}

/* Fields that would change framing or routing if a recipient merged trailers. */
static bool trailer_name_forbidden(const struct http_body *b)
{
	static const char *const names[] = { "content-length", "transfer-encoding", "host" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (b->name_len == strlen(names[i]) && !memcmp(b->name, names[i], b->name_len))
			return true;
	return false;
}

/* One byte of a chunk-size line (with its extensions) or of the CRLF after chunk data. */
static int chunk_line_step(struct http_body *b, uint8_t c)
{
	int h;

	switch (b->st) {
	case CK_SIZE:
	case CK_SIZE_MORE:
		h = hex_digit_value(c);
		if (h >= 0) {
			if (++b->digits > 15)
				return -E2BIG;
			b->left = b->left << 4 | (uint64_t)h;
			b->st = CK_SIZE_MORE;
		} else if (b->st == CK_SIZE) {
			return -EBADMSG;
		} else if (c == ' ' || c == '\t') {
			b->st = CK_BWS;
		} else if (c == ';') {
			b->st = CK_EXT;
		} else if (c == '\r') {
			b->st = CK_SIZE_LF;
		} else {
			return -EBADMSG;
		}
		break;
	case CK_BWS:
		if (c == ';')
			b->st = CK_EXT;
		else if (c != ' ' && c != '\t')
			return -EBADMSG;
		break;
	case CK_EXT:
		if (c == '\r')
			b->st = CK_SIZE_LF;
		else if (c != '\t' && (c < 0x20 || c > 0x7e))
			return -EBADMSG;
		break;
	case CK_SIZE_LF:
		if (c != '\n')
			return -EBADMSG;
		b->line = 0;
		b->digits = 0;
		b->st = b->left ? CK_DATA : CK_TRAILER;
		break;
	case CK_DATA_CR:
		if (c != '\r')
			return -EBADMSG;
		b->st = CK_DATA_LF;
		break;
	case CK_DATA_LF:
		if (c != '\n')
			return -EBADMSG;
		b->st = CK_SIZE;
		break;
	default:
		return -EBADMSG;
	}
	return 0;
}

/* One byte of the trailer section, up to the CRLF that ends the body. */
static int chunk_trailer_step(struct http_body *b, uint8_t c)
{
	switch (b->st) {
	case CK_TRAILER:
		if (c == '\r') {
			b->st = CK_END_LF;
		} else if (http_is_tchar(c)) {
			if (++b->trailer_lines > HTTP_TRAILER_LINES_MAX)
				return -E2BIG;
			b->name[0] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			b->name_len = 1;
			b->st = CK_TNAME;
		} else {
			return -EBADMSG;   /* obs-fold, bare LF, anything else */
		}
		break;
	case CK_TNAME:
		if (c == ':') {
			if (trailer_name_forbidden(b))
				return -EBADMSG;
			b->st = CK_TVALUE;
		} else if (http_is_tchar(c)) {
			if (b->name_len < sizeof(b->name))
				b->name[b->name_len] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			b->name_len++;
		} else {
			return -EBADMSG;
		}
		break;
	case CK_TVALUE:
		if (c == '\r')
			b->st = CK_TLF;
		else if (c != '\t' && (c < 0x20 || c == 0x7f))
			return -EBADMSG;
		break;
	case CK_TLF:
		if (c != '\n')
			return -EBADMSG;
		b->st = CK_TRAILER;
		break;
	case CK_END_LF:
		if (c != '\n')
			return -EBADMSG;
		b->done = true;
		break;
	default:
		return -EBADMSG;
	}
	return 0;
}

static int chunked_feed(struct http_body *b, const uint8_t *buf, size_t len, size_t *ret_used)
{
	size_t i = 0;

	while (i < len && !b->done) {
		uint8_t c = buf[i];
		int r;

		if (b->st == CK_DATA) {
			size_t n = len - i;
			if (n > b->left)
				n = (size_t)b->left;
			b->left -= n;
			i += n;
			if (!b->left)
				b->st = CK_DATA_CR;
			continue;
		}
		if (b->st <= CK_SIZE_LF && ++b->line > HTTP_CHUNK_LINE_MAX)
			return -E2BIG;
		if (b->st >= CK_TRAILER && ++b->trailer_bytes > HTTP_TRAILER_MAX)
			return -E2BIG;
		r = b->st < CK_TRAILER ? chunk_line_step(b, c) : chunk_trailer_step(b, c);
		if (r < 0)
			return r;
		i++;
	}
	*ret_used = i;
	return 0;
}

int http_body_feed(struct http_body *b, const uint8_t *buf, size_t len, bool eof, size_t *ret_used)
{
	size_t used = 0;
	int r;

	if (!b->done) {
		switch (b->kind) {
		case HTTP_BODY_NONE:
			break;
		case HTTP_BODY_LENGTH:
			used = len < b->left ? len : (size_t)b->left;
			b->left -= used;
			b->done = !b->left;
			break;
		case HTTP_BODY_CHUNKED:
			r = chunked_feed(b, buf, len, &used);
			if (r < 0)
				return r;
			break;
		case HTTP_BODY_EOF:
			used = len;
			b->done = eof;
			break;
		}
	}
	if (eof && !b->done)
		return -EBADMSG;   /* the peer closed inside a delimited body */
	*ret_used = used;
	return 0;
}
