// SPDX-License-Identifier: MIT
/* textesc.h: untrusted text made safe for a terminal: workspace names and content
 * (sbx review), error text from the guest or the daemon (the CLI). */
#ifndef SBX_TEXTESC_H
#define SBX_TEXTESC_H

#include <stddef.h>

enum {
	ESC_KEEP_NL_TAB = 1 << 0,   /* '\n' and '\t' pass (content); else escaped (names) */
	ESC_BACKSLASH = 1 << 1,     /* '\' becomes "\\", so the escaping is unambiguous */
	ESC_UTF8_ONLY = 1 << 2,     /* only invalid UTF-8 is escaped (text for JSON) */
};

/*
 * Escape bytes for a terminal: C0 controls and DEL become \xNN (\n, \t, \r, \e by
 * name), C1 controls, bidirectional formatting characters and line/paragraph
 * separators become \u{NNNN}, bytes that are not valid UTF-8 become \xNN. Other
 * UTF-8 passes. Returns a malloc'd NUL-terminated string.
 */
char *text_escape(const char *s, size_t len, unsigned flags);

#endif
