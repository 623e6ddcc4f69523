// SPDX-License-Identifier: MIT
/* textesc.c: untrusted text made safe for a terminal (names, diffs, guest and daemon
 * error messages). */
#include "textesc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code point; 0 if
 * invalid (overlong, surrogate, past U+10FFFF, truncated). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	if (s[0] == 0xe0) lo = 0xa0;
	if (s[0] == 0xed) hi = 0x9f;
	if (s[0] == 0xf0) lo = 0x90;
	if (s[0] == 0xf4) hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	*cp = len == 2 ? (uint32_t)(s[0] & 0x1f) : len == 3 ? (uint32_t)(s[0] & 0x0f) : (uint32_t)(s[0] & 0x07);
	for (size_t i = 1; i < len; i++)
		*cp = *cp << 6 | (s[i] & 0x3f);
	return len;
}

/* Code points a terminal may act on or that reorder what is shown. */
static bool cp_dangerous(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

char *text_escape(const char *str, size_t len, unsigned flags)
{
	const unsigned char *s = (const unsigned char *)str;
	char *out = xmalloc(len * 4 + 1), *o = out;

	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		uint32_t cp = 0;
		size_t n;

		if (c < 0x80) {
			bool ctl = c < 0x20 || c == 0x7f;
			if (ctl && !(flags & ESC_UTF8_ONLY) && !((flags & ESC_KEEP_NL_TAB) && (c == '\n' || c == '\t'))) {
				switch (c) {
				case '\n': o += sprintf(o, "\\n"); break;
				case '\t': o += sprintf(o, "\\t"); break;
				case '\r': o += sprintf(o, "\\r"); break;
				case 0x1b: o += sprintf(o, "\\e"); break;
				default: o += sprintf(o, "\\x%02x", c); break;
				}
			} else if (c == '\\' && (flags & ESC_BACKSLASH)) {
				*o++ = '\\';
				*o++ = '\\';
			} else {
				*o++ = (char)c;
			}
			i++;
			continue;
		}
		n = utf8_seq(s + i, len - i, &cp);
		if (n == 0) {
			o += sprintf(o, "\\x%02x", c);
			i++;
		} else if (cp_dangerous(cp) && !(flags & ESC_UTF8_ONLY)) {
			o += sprintf(o, "\\u{%04x}", (unsigned)cp);   /* at most 8 bytes for 2-3 input bytes */
			i += n;
		} else {
			memcpy(o, s + i, n);
			o += n;
			i += n;
		}
	}
	*o = 0;
	return out;
}
