// SPDX-License-Identifier: MIT
/* testlib.h: minimal assertion helpers for the C unit tests. */
#ifndef SBX_TESTLIB_H
#define SBX_TESTLIB_H

#include <stdio.h>
#include <string.h>

#include "util.h"

static int t_pass, t_fail;
#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (cond) {                                                           \
			t_pass++;                                                     \
		} else {                                                              \
			t_fail++;                                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                     \
	} while (0)
#define CHECK_EQ(a, b) CHECK((long long)(a) == (long long)(b))
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)
/* A file's content (at most 1 MiB), "" when it cannot be read; free it. */
static inline char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len;
	if (file_read_all(path, 1 << 20, &buf, &len) < 0)
		return xstrdup("");
	return buf;
}

/* Last line of every test binary, in the form CI reads. */
#define TEST_DONE()                                                                   \
	do {                                                                          \
		printf("%s: %d passed, %d failed\n", __FILE__, t_pass, t_fail);      \
		return t_fail ? 1 : 0;                                                \
	} while (0)

#endif
