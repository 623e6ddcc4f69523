// SPDX-License-Identifier: MIT
/* wsstate.c: a sync-mode path's state, its comparison and wire form (see wsstate.h). */
#include "wsstate.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool ws_state_same(const struct ws_state *a, const struct ws_state *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case 'd':
		return a->mode == b->mode;
	case 'l':
		return a->size == b->size;
	case 'f':
		return a->size == b->size && a->mtime_ns == b->mtime_ns && a->mode == b->mode;
	default:
		return true;
	}
}

uint64_t ws_target_hash(const char *t, uint64_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (uint64_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)t[i]) * 1099511628211ull;
	return h;
}

int ws_state_at(int pfd, const char *name, struct ws_state *ret)
{
	struct stat st;

	memset(ret, 0, sizeof(*ret));
	if (pfd < 0)
		return 0;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	if (S_ISREG(st.st_mode)) {
		ret->type = 'f';
		ret->size = (uint64_t)st.st_size;
		ret->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		ret->mode = st.st_mode & 07777;
	} else if (S_ISDIR(st.st_mode)) {
		ret->type = 'd';
		ret->mode = st.st_mode & 07777;
	} else if (S_ISLNK(st.st_mode)) {
		char t[4096];
		ssize_t n = readlinkat(pfd, name, t, sizeof(t));

		if (n < 0)
			return errno == ENOENT ? 0 : -errno;
		ret->type = 'l';
		ret->size = ws_target_hash(t, (uint64_t)n);
		ret->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	} else {
		ret->type = 'o';
	}
	return 0;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void ws_state_encode(const struct ws_state *st, uint8_t out[WS_STATE_LEN])
{
	out[0] = st->type;
	put_le(out + 1, st->mode, 4);
	put_le(out + 5, st->size, 8);
	put_le(out + 13, (uint64_t)st->mtime_ns, 8);
}

int ws_state_decode(const uint8_t *v, uint32_t len, struct ws_state *ret)
{
	if (len != WS_STATE_LEN || !memchr("\0fdlo", v[0], 5))
		return -EPROTO;
	ret->type = v[0];
	ret->mode = (uint32_t)get_le(v + 1, 4);
	ret->size = get_le(v + 5, 8);
	ret->mtime_ns = (int64_t)get_le(v + 13, 8);
	return 0;
}
