// SPDX-License-Identifier: MIT
/* wsync_map.c: the sync engine's string map and its saved state (the last state both
 * sides agreed on, per path), kept outside the workspace. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "wsync_int.h"

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

void wmap_init(struct wmap *m)
{
	m->nb = 1024;
	m->n = 0;
	m->b = xcalloc(m->nb, sizeof(*m->b));
}

static struct wmap_ent **find(const struct wmap *m, const char *k)
{
	struct wmap_ent **e = &m->b[hash_str(k) & (m->nb - 1)];

	while (*e && strcmp((*e)->key, k))
		e = &(*e)->next;
	return e;
}

void *wmap_get(const struct wmap *m, const char *k)
{
	struct wmap_ent *e = *find(m, k);

	return e ? e->val : NULL;
}

bool wmap_has(const struct wmap *m, const char *k)
{
	return *find(m, k) != NULL;
}

static void grow(struct wmap *m)
{
	size_t nb = m->nb * 2;
	struct wmap_ent **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < m->nb; i++)
		for (struct wmap_ent *e = m->b[i], *next; e; e = next) {
			size_t h = hash_str(e->key) & (nb - 1);

			next = e->next;
			e->next = b[h];
			b[h] = e;
		}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

void *wmap_put(struct wmap *m, const char *k, void *v)
{
	struct wmap_ent **e = find(m, k), *n;
	void *old;

	if (*e) {
		old = (*e)->val;
		(*e)->val = v;
		return old;
	}
	n = xmalloc(sizeof(*n));
	n->key = xstrdup(k);
	n->val = v;
	n->next = NULL;
	*e = n;
	if (++m->n > m->nb)
		grow(m);
	return NULL;
}

void *wmap_del(struct wmap *m, const char *k)
{
	struct wmap_ent **e = find(m, k), *x = *e;
	void *v;

	if (!x)
		return NULL;
	*e = x->next;
	v = x->val;
	free(x->key);
	free(x);
	m->n--;
	return v;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

const char **wmap_keys_sorted(const struct wmap *m, size_t *ret_n)
{
	const char **k = xcalloc(m->n + 1, sizeof(*k));
	size_t n = 0;

	for (size_t i = 0; i < m->nb; i++)
		for (struct wmap_ent *e = m->b[i]; e; e = e->next)
			k[n++] = e->key;
	qsort(k, n, sizeof(*k), cmp_str);
	*ret_n = n;
	return k;
}

void wmap_clear(struct wmap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->nb; i++) {
		for (struct wmap_ent *e = m->b[i], *next; e; e = next) {
			next = e->next;
			if (free_val)
				free_val(e->val);
			free(e->key);
			free(e);
		}
		m->b[i] = NULL;
	}
	m->n = 0;
}

/* The state file: "SBXWS1\n", then per path: type (1), mode (4), size (8), mtime (8),
 * path length (2), path; little-endian. Written whole and renamed into place. */
#define STATE_MAGIC "SBXWS1\n"
#define STATE_FILE "state"
#define STATE_MAX (256u << 20)

int wsync_state_save(struct wsync *w)
{
	size_t n, cap = sizeof(STATE_MAGIC), len = 0;
	const char **keys = wmap_keys_sorted(&w->base, &n);
	uint8_t *buf;
	int fd, r = 0;

	for (size_t i = 0; i < n; i++)
		cap += 23 + strlen(keys[i]);
	buf = xmalloc(cap);
	memcpy(buf, STATE_MAGIC, sizeof(STATE_MAGIC) - 1);
	len = sizeof(STATE_MAGIC) - 1;
	for (size_t i = 0; i < n; i++) {
		const struct wbase *b = wmap_get(&w->base, keys[i]);
		size_t kl = strlen(keys[i]);

		if (kl > 0xffff)
			continue;
		buf[len] = b->st.type;
		put_le32(buf + len + 1, b->st.mode);
		put_le32(buf + len + 5, (uint32_t)b->st.size);
		put_le32(buf + len + 9, (uint32_t)(b->st.size >> 32));
		put_le32(buf + len + 13, (uint32_t)(uint64_t)b->st.mtime_ns);
		put_le32(buf + len + 17, (uint32_t)((uint64_t)b->st.mtime_ns >> 32));
		put_le16(buf + len + 21, (uint16_t)kl);
		memcpy(buf + len + 23, keys[i], kl);
		len += 23 + kl;
	}
	free(keys);
	fd = openat(w->statedir, STATE_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		r = -errno;
	else {
		r = write_all(fd, buf, len);
		if (close(fd) < 0 && r == 0)
			r = -errno;
		if (r == 0 && renameat(w->statedir, STATE_FILE ".tmp", w->statedir, STATE_FILE) < 0)
			r = -errno;
	}
	free(buf);
	if (r == 0)
		w->base_changed = false;
	return r;
}

int wsync_state_load(struct wsync *w)
{
	_cleanup_close_ int fd = openat(w->statedir, STATE_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *data = NULL;
	size_t len, off = sizeof(STATE_MAGIC) - 1;
	int r;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = fd_read_all(fd, STATE_MAX, &data, &len);
	if (r < 0)
		return r;
	if (len < off || memcmp(data, STATE_MAGIC, off))
		return -EINVAL;
	while (off + 23 <= len) {
		const uint8_t *p = (const uint8_t *)data + off;
		size_t kl = get_le16(p + 21);
		struct wbase *b;
		char *k;

		if (off + 23 + kl > len || kl == 0)
			return -EINVAL;
		k = strndup((const char *)p + 23, kl);
		if (!k || strlen(k) != kl || !wsync_rel_valid(k)) {
			free(k);
			return -EINVAL;
		}
		b = xcalloc(1, sizeof(*b));
		b->st.type = p[0];
		b->st.mode = get_le32(p + 1);
		b->st.size = (uint64_t)get_le32(p + 5) | (uint64_t)get_le32(p + 9) << 32;
		b->st.mtime_ns = (int64_t)((uint64_t)get_le32(p + 13) | (uint64_t)get_le32(p + 17) << 32);
		free(wmap_put(&w->base, k, b));
		free(k);
		off += 23 + kl;
	}
	return 0;
}
