// SPDX-License-Identifier: MIT
/* fuzzlib.h: helpers shared by the libFuzzer targets: input slicing, a per-process
 * scratch directory for the parsers that read files. */
#ifndef SBX_FUZZLIB_H
#define SBX_FUZZLIB_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* A cursor over the fuzzer's input. */
struct fz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz_in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = in->p[0];
		in->p++;
		in->n--;
	}
	return v;
}

static inline uint16_t fz_u16(struct fz_in *in)
{
	return (uint16_t)(fz_u8(in) << 8 | fz_u8(in));
}

/* Up to max bytes (fewer at the end of the input). */
static inline struct fz_in fz_take(struct fz_in *in, size_t max)
{
	struct fz_in r = { in->p, max < in->n ? max : in->n };

	in->p += r.n;
	in->n -= r.n;
	return r;
}

/* The next piece up to a NUL byte (or the end), as a malloc'd NUL-terminated string. */
static inline char *fz_str(struct fz_in *in)
{
	const uint8_t *z = memchr(in->p, 0, in->n);
	size_t len = z ? (size_t)(z - in->p) : in->n;
	char *s = xmalloc(len + 1);

	memcpy(s, in->p, len);
	s[len] = 0;
	in->p += len + (z ? 1 : 0);
	in->n -= len + (z ? 1 : 0);
	return s;
}

/* Deterministic chunk sizes from a seed taken from the input. */
static inline size_t fz_chunk(uint32_t *seed, size_t max)
{
	*seed = *seed * 1103515245u + 12345u;
	return 1 + (*seed >> 8) % max;
}

static char fz_dir[64];

static void fz_dir_rm(void)
{
	if (fz_dir[0])
		rm_rf(fz_dir);
}

/* A private directory for this process (removed at exit), created on first use: in
 * $FUZZ_TMPDIR, else /dev/shm (on ext4, rewriting a truncated file waits for the disk
 * at close: 1 ms per run), else /tmp. */
static inline const char *fz_tmpdir(void)
{
	if (!fz_dir[0]) {
		const char *t = getenv("FUZZ_TMPDIR");

		if (!t || strlen(t) >= 40)
			t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(fz_dir, sizeof(fz_dir), "%s/sbx-fuzz-XXXXXX", t);
		if (!mkdtemp(fz_dir))
			abort();
		atexit(fz_dir_rm);
	}
	return fz_dir;
}

/* Replace path's content with data (mode), or abort: the harness must not fail silently. */
static inline void fz_write(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0)
		abort();
	close(fd);
}

#endif
