// SPDX-License-Identifier: MIT
/* idmap.c: subordinate id ranges and the id maps of virtiofsd's user namespace (see idmap.h). */
#include "idmap.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* A decimal u32 of [s, end), digits only. */
static bool parse_u32(const char *s, const char *end, uint32_t *ret)
{
	uint64_t v = 0;

	if (s == end || end - s > 10)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/* The range of one line "owner:start:count"; false when it does not have that shape. */
static bool subid_line(const char *line, const char *eol, struct subid_range *ret)
{
	const char *c1 = memchr(line, ':', (size_t)(eol - line)), *c2;

	if (!c1)
		return false;
	c2 = memchr(c1 + 1, ':', (size_t)(eol - c1 - 1));
	if (!c2 || !parse_u32(c1 + 1, c2, &ret->start) || !parse_u32(c2 + 1, eol, &ret->count))
		return false;
	return ret->count > 0 && (uint64_t)ret->start + ret->count <= (uint64_t)UINT32_MAX + 1;
}

/* The line at *pos ([*pos, *ret_eol), without "\r\n"), advancing *pos; NULL at the end. */
static const char *line_next(const char **pos, const char *end, const char **ret_eol)
{
	const char *line = *pos, *eol;

	if (line >= end)
		return NULL;
	eol = memchr(line, '\n', (size_t)(end - line));
	*pos = eol ? eol + 1 : end;
	if (!eol)
		eol = end;
	if (eol > line && eol[-1] == '\r')
		eol--;
	*ret_eol = eol;
	return line;
}

int subid_parse(const char *text, size_t len, const char *name, uint32_t id, struct subid_range *ret)
{
	const char *end = text + len;
	char idtxt[16];
	struct subid_range best = { 0 };
	bool bad = false;

	snprintf(idtxt, sizeof(idtxt), "%u", id);
	for (const char *pos = text, *line, *eol; (line = line_next(&pos, end, &eol));) {
		struct subid_range r;
		bool mine;

		if (line < eol && *line != '#') {
			const char *c = memchr(line, ':', (size_t)(eol - line));
			size_t n = c ? (size_t)(c - line) : 0;

			mine = c && ((name && n == strlen(name) && !memcmp(line, name, n)) ||
				     (n == strlen(idtxt) && !memcmp(line, idtxt, n)));
			if (mine && !subid_line(line, eol, &r))
				bad = true;
			else if (mine && r.count > best.count)
				best = r;
		}
	}
	if (best.count) {
		*ret = best;
		return 0;
	}
	return bad ? -EINVAL : -ENOENT;
}

uint32_t subid_free_start(const char *text, size_t len)
{
	const char *end = text + len;
	uint64_t next = 0;

	for (const char *pos = text, *line, *eol; (line = line_next(&pos, end, &eol));) {
		struct subid_range r;

		if (subid_line(line, eol, &r) && (uint64_t)r.start + r.count > next)
			next = (uint64_t)r.start + r.count;
	}
	/* after IDMAP_ROOT_BASE, on a multiple of 65536 like useradd's ranges */
	next = next <= IDMAP_ROOT_BASE ? IDMAP_ROOT_BASE : (next + 65535) / 65536 * 65536;
	return next > UINT32_MAX - IDMAP_ROOT_COUNT ? 0 : (uint32_t)next;
}

int subid_lookup(const char *file, const char *name, uint32_t id, struct subid_range *ret)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = file_read_all(file, IDMAP_FILE_MAX, &text, &len);

	if (r < 0)
		return r;
	return subid_parse(text, len, name, id, ret);
}

int idmap_build(uint32_t ws_id, uint32_t ws_host, struct subid_range range, struct idmap *ret)
{
	struct idmap m = { .n = 0 };
	uint64_t end = (uint64_t)range.start + range.count;

	if (ws_id == 0 || range.count == 0 || end > (uint64_t)UINT32_MAX + 1)
		return -EINVAL;
	if (ws_host >= range.start && ws_host < end)
		return -EINVAL;
	if (ws_id < range.count) {
		/* ns i -> start + i; ws_id's own slot of the range stays unused */
		m.e[m.n++] = (struct idmap_extent){ 0, range.start, ws_id };
		m.e[m.n++] = (struct idmap_extent){ ws_id, ws_host, 1 };
		if (range.count - ws_id - 1 > 0)
			m.e[m.n++] = (struct idmap_extent){ ws_id + 1, range.start + ws_id + 1, range.count - ws_id - 1 };
	} else {
		m.e[m.n++] = (struct idmap_extent){ 0, range.start, range.count };
		m.e[m.n++] = (struct idmap_extent){ ws_id, ws_host, 1 };
	}
	*ret = m;
	return 0;
}

int idmap_format(const struct idmap *m, char *buf, size_t size)
{
	size_t off = 0;

	if (!size)
		return -ENOBUFS;
	buf[0] = '\0';
	for (unsigned i = 0; i < m->n; i++) {
		int w = snprintf(buf + off, size - off, "%u %u %u\n", m->e[i].inside, m->e[i].outside, m->e[i].count);

		if (w < 0 || (size_t)w >= size - off)
			return -ENOBUFS;
		off += (size_t)w;
	}
	return (int)off;
}

/* The fix for a missing range: a usermod line with a range nobody else has. */
static char *subid_fix(const char *user)
{
	_cleanup_free_ char *u = NULL, *g = NULL;
	size_t ul = 0, gl = 0;
	uint32_t start = IDMAP_ROOT_BASE, gs;

	if (file_read_all(IDMAP_SUBUID_FILE, IDMAP_FILE_MAX, &u, &ul) >= 0)
		start = subid_free_start(u, ul);
	if (file_read_all(IDMAP_SUBGID_FILE, IDMAP_FILE_MAX, &g, &gl) >= 0 && (gs = subid_free_start(g, gl)) > start)
		start = gs;
	if (!start)
		start = IDMAP_ROOT_BASE;
	return xasprintf("sudo usermod --add-subuids %u-%u --add-subgids %u-%u %s", start, start + 65535, start,
			 start + 65535, user);
}

int idmap_user_ranges(struct subid_range *ret_uid, struct subid_range *ret_gid, char **ret_err)
{
	struct passwd *pw = getpwuid(getuid());
	_cleanup_free_ char *name = NULL;
	struct subid_range ur, gr;
	int r, q;

	if (!pw || !pw->pw_name) {
		*ret_err = xasprintf("uid %u has no passwd entry; newuidmap needs one", (unsigned)getuid());
		return -ENOENT;
	}
	name = xstrdup(pw->pw_name);
	if (access(IDMAP_NEWUIDMAP, X_OK) < 0 || access(IDMAP_NEWGIDMAP, X_OK) < 0) {
		*ret_err = xasprintf("%s or %s is missing (the workspace share of an ordinary user needs them); "
				     "fix: sudo apt-get install uidmap",
				     IDMAP_NEWUIDMAP, IDMAP_NEWGIDMAP);
		return -ENOENT;
	}
	r = subid_lookup(IDMAP_SUBUID_FILE, name, (uint32_t)getuid(), &ur);
	q = subid_lookup(IDMAP_SUBGID_FILE, name, (uint32_t)getuid(), &gr);
	if (r < 0 || q < 0) {
		_cleanup_free_ char *fix = subid_fix(name);
		const char *what = r < 0 && q < 0 ? "subordinate uids and gids" : r < 0 ? "subordinate uids" : "subordinate gids";
		const char *file = r < 0 ? IDMAP_SUBUID_FILE : IDMAP_SUBGID_FILE;
		int e = r < 0 ? r : q;

		*ret_err = xasprintf("user %s has no %s (%s: %s); the workspace share runs under them. fix: %s", name, what,
				     file, e == -ENOENT ? "none" : e == -EINVAL ? "malformed entry" : strerror(-e), fix);
		return e == -EINVAL ? -EINVAL : -ENOENT;
	}
	*ret_uid = ur;
	*ret_gid = gr;
	return 0;
}
