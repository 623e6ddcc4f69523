// SPDX-License-Identifier: MIT
/* test_textesc.c: text_escape() for names, diff content and the CLI's error text. */
#include <stdlib.h>

#include "testlib.h"
#include "textesc.h"

static void test_escape(void)
{
	char *e;

	e = text_escape("a\x1b[31mb\n\t\\", 10, ESC_BACKSLASH);
	CHECK_STR(e, "a\\e[31mb\\n\\t\\\\");
	free(e);
	e = text_escape("l1\n\tl2\x07\r", 8, ESC_KEEP_NL_TAB);
	CHECK_STR(e, "l1\n\tl2\\x07\\r");
	free(e);
	/* UTF-8 passes; C1 controls, bidi overrides and invalid bytes do not */
	e = text_escape("caf\xc3\xa9 \xc2\x9b" "2J \xe2\x80\xae x\xff\xc0\xaf", 19, 0);
	CHECK_STR(e, "caf\xc3\xa9 \\u{009b}2J \\u{202e} x\\xff\\xc0\\xaf");
	free(e);
	e = text_escape("a\x1b\xff", 3, ESC_UTF8_ONLY);
	CHECK_STR(e, "a\x1b\\xff");
	free(e);
	/* an embedded NUL is escaped, not a terminator */
	e = text_escape("a\0b", 3, 0);
	CHECK_STR(e, "a\\x00b");
	free(e);
}

/* What a hostile guest puts in an OP_ERROR or its console for the CLI to print (the
 * CLI's flags: lines stay lines, nothing a terminal acts on passes). */
static void test_guest_error_text(void)
{
	static const char in[] = "exec: \x1b]0;owned\x07 \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x9b" "2J \xc2\x9b" "1m "
				 "\xc2\x9d" "52;c;Zm9v\xc2\x9c \xe2\x80\x8f\xe2\x81\xa6rtl \r\x7f\n2nd line\ttab";
	char *e = text_escape(in, sizeof(in) - 1, ESC_KEEP_NL_TAB);

	CHECK_STR(e, "exec: \\e]0;owned\\x07 \\e]8;;http://x\\e\\link\\e]8;;\\e\\ \\x9b2J \\u{009b}1m "
		     "\\u{009d}52;c;Zm9v\\u{009c} \\u{200f}\\u{2066}rtl \\r\\x7f\n2nd line\ttab");
	for (const char *p = e; *p; p++)
		CHECK((unsigned char)*p >= 0x20 || *p == '\n' || *p == '\t');
	free(e);
}

int main(void)
{
	test_escape();
	test_guest_error_text();
	TEST_DONE();
}
