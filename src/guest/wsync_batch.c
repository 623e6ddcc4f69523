// SPDX-License-Identifier: MIT
/* wsync_batch.c: guest changes to the host in batches (OP_WSYNC_PUT) for sbxd's writer,
 * which applies each only if the host path is still in the agreed state; what it
 * refuses is compared again the usual way (a conflict then keeps both versions). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "proto.h"
#include "tlv.h"
#include "util.h"
#include "wsync_int.h"

#define OUT_MAX 4u                 /* batches awaiting an answer (sbxd's socket to the writer holds them) */
#define ANSWER_TIMEOUT_MS 30000u   /* then the share again, for good */
#define DEFER_MAX 4096u            /* host messages held meanwhile (beyond: a full comparison) */
#define SLOW_DEEP ((void *)1)
#define SLOW_FLAT ((void *)2)

struct witem {
	char *rel;
	uint32_t kind;
	struct ws_state st;   /* the local state sent: agreed once written */
};

struct wbatch {
	struct wbatch *next;
	uint32_t id;
	size_t n;
	struct witem it[WS_ITEMS_PER_MSG];
	struct tlv_writer tw;
	uint8_t buf[FRAME_MAX_CTRL];
};

struct wdefer {
	uint8_t *msg;
	size_t len;
};

static void slow_add(struct wsync *w, const char *rel, bool deep)
{
	void *old = wmap_get(&w->slow, rel);

	if (old != SLOW_DEEP)
		wmap_put(&w->slow, rel, deep ? SLOW_DEEP : SLOW_FLAT);
}

static bool pass_busy(const struct wsync *w)
{
	return (w->cur && w->cur->n) || w->nout;
}

static void batch_free(struct wbatch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->it[i].rel);
	free(b);
}

/* The writer is gone or silent: everything sent goes the usual way, from now on. */
static void give_up(struct wsync *w, const char *why)
{
	log_warn("wsync: the host's writer %s: guest changes go through the share from now on", why);
	w->fast = false;
	while (w->out) {
		struct wbatch *b = w->out;

		w->out = b->next;
		for (size_t i = 0; i < b->n; i++) {
			slow_add(w, b->it[i].rel, false);
			free(wmap_del(&w->inflight, b->it[i].rel));
		}
		batch_free(b);
	}
	w->nout = 0;
}

static void on_done(struct wsync *w, const uint8_t *data, size_t len)
{
	struct tlv_reader rd;
	const uint8_t *v;
	uint32_t vlen, id = 0, res;
	uint16_t tag;
	struct wbatch **pb, *b;
	size_t i = 0;

	(void)tlv_find_u32(data, len, WS_BATCH, &id);
	for (pb = &w->out; *pb && (*pb)->id != id; pb = &(*pb)->next)
		;
	if (!*pb)
		return;   /* an answer given up on */
	b = *pb;
	*pb = b->next;
	w->nout--;
	/* results in item order; missing ones count as not done */
	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &v, &vlen) > 0 && i < b->n) {
		if (tag != WS_RESULT || tlv_u32(v, vlen, &res) < 0)
			continue;
		if (res == 0 && b->it[i].kind == WSI_REMOVE)
			wsync_base_del(w, b->it[i].rel);
		else if (res == 0)
			wsync_base_set(w, b->it[i].rel, &b->it[i].st);
		else
			slow_add(w, b->it[i].rel, false);
		b->it[i++].kind = 0;
	}
	for (i = 0; i < b->n; i++) {
		if (b->it[i].kind)
			slow_add(w, b->it[i].rel, false);
		free(wmap_del(&w->inflight, b->it[i].rel));
	}
	batch_free(b);
}

bool wsync_msg_awaited(const uint8_t *data, size_t len)
{
	uint32_t seq = 0;

	return tlv_find_u32(data, len, WS_SEQ, &seq) == 0 && seq;
}

static void defer(struct wsync *w, const uint8_t *data, size_t len)
{
	if (w->ndefer >= DEFER_MAX && !wsync_msg_awaited(data, len)) {
		w->rescan = true;   /* its paths are dropped: a full comparison instead */
		return;
	}
	if (w->ndefer % 64 == 0) {
		w->defer = realloc(w->defer, (w->ndefer + 64) * sizeof(*w->defer));
		if (!w->defer)
			die("out of memory");
	}
	w->defer[w->ndefer].msg = xmalloc(len);
	memcpy(w->defer[w->ndefer].msg, data, len);
	w->defer[w->ndefer++].len = len;
}

bool wsync_batch_deferred(struct wsync *w, uint8_t **ret_msg, size_t *ret_len)
{
	if (!w->ndefer)
		return false;
	*ret_msg = w->defer[0].msg;
	*ret_len = w->defer[0].len;
	memmove(w->defer, w->defer + 1, --w->ndefer * sizeof(*w->defer));
	return true;
}

/* Until at most max batches await an answer. */
static void wait_answers(struct wsync *w, unsigned max)
{
	static uint8_t buf[FRAME_MAX_CTRL];
	uint64_t deadline = now_ms() + ANSWER_TIMEOUT_MS;

	while (w->nout > max) {
		struct pollfd p = { .fd = w->sock, .events = POLLIN };
		uint64_t now = now_ms();
		uint32_t op = 0;
		ssize_t n;

		if (now >= deadline) {
			give_up(w, "did not answer in time");
			return;
		}
		if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR) {
			give_up(w, "cannot be waited for");
			return;
		}
		n = recv(w->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0) {
			give_up(w, "is unreachable");
			return;
		}
		if (n < 0)
			continue;
		(void)tlv_find_u32(buf, (size_t)n, CTRL_OP, &op);
		if (op == OP_WSYNC_PUT_DONE) {
			on_done(w, buf, (size_t)n);
			deadline = now_ms() + ANSWER_TIMEOUT_MS;
		} else {
			defer(w, buf, (size_t)n);
		}
	}
}

static void batch_send(struct wsync *w)
{
	struct wbatch *b = w->cur, **end;

	if (!b)
		return;
	w->cur = NULL;
	if (!b->n) {
		free(b);
		return;
	}
	if (w->nout >= OUT_MAX)
		wait_answers(w, OUT_MAX - 1);
	if (!w->fast || send(w->sock, b->buf, b->tw.len, MSG_NOSIGNAL) < 0) {
		for (size_t i = 0; i < b->n; i++) {
			slow_add(w, b->it[i].rel, false);
			free(wmap_del(&w->inflight, b->it[i].rel));
		}
		batch_free(b);
		return;
	}
	for (end = &w->out; *end; end = &(*end)->next)
		;
	*end = b;
	w->nout++;
}

/* Room for an item of about need bytes in the current batch. */
static struct wbatch *batch_room(struct wsync *w, size_t need)
{
	if (w->cur && (w->cur->n >= WS_ITEMS_PER_MSG || w->cur->tw.len + need > FRAME_MAX_CTRL))
		batch_send(w);
	if (!w->cur) {
		w->cur = xcalloc(1, sizeof(*w->cur));
		w->cur->id = ++w->next_id;
		tlv_writer_init(&w->cur->tw, w->cur->buf, sizeof(w->cur->buf));
		tlv_put_u32(&w->cur->tw, CTRL_OP, OP_WSYNC_PUT);
		tlv_put_u32(&w->cur->tw, WS_BATCH, w->cur->id);
	}
	return w->cur;
}

static void put_item(struct wsync *w, const char *rel, uint32_t kind, const struct ws_state *l,
		     const struct ws_state *expect, const void *data, size_t len)
{
	struct wbatch *b = batch_room(w, 128 + strlen(rel) + len);
	uint8_t st[WS_STATE_LEN], t8[8];
	struct tlv_writer save = b->tw;

	ws_state_encode(expect, st);
	for (int i = 0; i < 8; i++)
		t8[i] = (uint8_t)((uint64_t)l->mtime_ns >> (8 * i));
	tlv_put_u32(&b->tw, WS_ITEM, kind);
	tlv_put_str(&b->tw, WS_PATH, rel);
	tlv_put(&b->tw, WS_EXPECT, st, sizeof(st));
	if (kind == WSI_FILE || kind == WSI_MKDIR)
		tlv_put_u32(&b->tw, WS_MODE, l->mode);
	if (kind == WSI_FILE || kind == WSI_SYMLINK) {
		tlv_put(&b->tw, WS_MTIME, t8, 8);
		tlv_put(&b->tw, WS_DATA, data, (uint32_t)len);
	}
	if (b->tw.err) {   /* cannot happen with batch_room's margin; the usual way then */
		b->tw = save;
		slow_add(w, rel, false);
		return;
	}
	b->it[b->n++] = (struct witem){ .rel = xstrdup(rel), .kind = kind, .st = *l };
	wmap_put(&w->inflight, rel, NULL);
}

/* A regular file's contents, if it is still l (else the usual way copies it). */
static ssize_t read_file(int pfd, const char *name, const struct ws_state *l, uint8_t *buf)
{
	_cleanup_close_ int fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != l->size)
		return -1;
	n = read(fd, buf, l->size + 1);
	if (n < 0 || (uint64_t)n != l->size || fstat(fd, &st) < 0 ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != l->mtime_ns)
		return -1;
	return n;
}

/* A directory gone from the local copy: what the host has of it as agreed, deepest
 * first, then itself. */
static void put_remove_tree(struct wsync *w, const char *rel, const struct ws_state *b)
{
	size_t n, m = 0, rl = strlen(rel);
	const char **keys = wmap_keys_sorted(&w->base, &n);
	struct witem *sub = xcalloc(n + 1, sizeof(*sub));
	const struct ws_state none = { 0 };

	/* copied first: answers that come while batches are sent change the map */
	for (size_t i = n; i-- > 0;) {
		struct wbase *kb;

		if (strncmp(keys[i], rel, rl) || keys[i][rl] != '/' || wmap_has(&w->inflight, keys[i]))
			continue;
		kb = wmap_get(&w->base, keys[i]);
		if (kb->st.type) {
			kb->gen = w->gen;
			sub[m++] = (struct witem){ .rel = xstrdup(keys[i]), .st = kb->st };
		}
	}
	free(keys);
	for (size_t i = 0; i < m; i++) {
		put_item(w, sub[i].rel, WSI_REMOVE, &none, &sub[i].st, NULL, 0);
		free(sub[i].rel);
	}
	free(sub);
	put_item(w, rel, WSI_REMOVE, &none, b, NULL, 0);
}

int wsync_batch_try(struct wsync *w, const char *rel, int depth, bool deep)
{
	static uint8_t data[WS_INLINE_MAX + 1];
	const char *slash = strrchr(rel, '/'), *name = slash ? slash + 1 : rel;
	_cleanup_free_ char *parent = slash ? strndup(rel, (size_t)(slash - rel)) : xstrdup("");
	_cleanup_close_ int lfd = -1;
	struct wbase *wb;
	struct ws_state l, b = { 0 }, *f;
	uint32_t kind = 0;
	ssize_t n = 0;

	if (wmap_has(&w->inflight, rel))
		return 1;   /* already in this pass's batches */
	lfd = wsync_open_dir(w->lroot, parent);
	if ((lfd < 0 && lfd != -ENOENT && lfd != -ENOTDIR && lfd != -ELOOP) || ws_state_at(lfd, name, &l) < 0)
		goto usual;
	wb = wmap_get(&w->base, rel);
	if (wb)
		b = wb->st;
	f = wmap_get(&w->failed, rel);
	if (ws_state_same(&l, &b) || l.type == 'o' || (f && ws_state_same(f, &l)))
		goto usual;   /* nothing new here, or the host refused it already: compare */
	if (l.type == 'f' && l.size <= WS_INLINE_MAX && !(l.mode & 07000) && b.type != 'd' && b.type != 'o')
		kind = WSI_FILE;
	else if (l.type == 'l' && b.type != 'd' && b.type != 'o')
		kind = WSI_SYMLINK;
	else if (l.type == 'd' && !(l.mode & 07000) && (b.type == 0 || b.type == 'd'))
		kind = WSI_MKDIR;
	else if (l.type == 0 && (b.type == 'f' || b.type == 'l' || b.type == 'd'))
		kind = WSI_REMOVE;
	if (!kind)
		goto usual;
	if (kind == WSI_FILE && (n = read_file(lfd, name, &l, data)) < 0)
		goto usual;
	if (kind == WSI_SYMLINK) {
		n = readlinkat(lfd, name, (char *)data, WS_PATH_MAX);
		if (n <= 0 || n >= (ssize_t)WS_PATH_MAX || ws_target_hash((char *)data, (uint64_t)n) != l.size)
			goto usual;
	}
	if (wb)
		wb->gen = w->gen;
	if (kind == WSI_REMOVE && b.type == 'd') {
		put_remove_tree(w, rel, &b);
		return 1;
	}
	put_item(w, rel, kind, &l, &b, data, (size_t)n);
	if (kind == WSI_MKDIR && b.type == 0) {
		/* a new directory: what is in it (made before its watch was) */
		_cleanup_close_ int dfd = wsync_open_dir(w->lroot, rel);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;

		if (d)
			dfd = -1;
		while (d && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			_cleanup_free_ char *c = wsync_child_rel(rel, de->d_name);
			(void)wsync_sync_one(w, c, depth + 1, true);
		}
		if (d)
			closedir(d);
	}
	return 1;
usual:
	if (!pass_busy(w))
		return 0;
	slow_add(w, rel, deep);   /* it may need what is batched: after the answers */
	return 1;
}

void wsync_batch_finish(struct wsync *w)
{
	size_t n;
	const char **keys;

	batch_send(w);
	wait_answers(w, 0);
	if (!w->slow.n)
		return;
	keys = wmap_keys_sorted(&w->slow, &n);
	wsync_parents_drop(w);   /* the writer changed directories meanwhile */
	w->no_fast++;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *k = xstrdup(keys[i]);
		bool deep = wmap_get(&w->slow, k) == SLOW_DEEP;
		(void)wsync_sync_one(w, k, 0, deep);
	}
	w->no_fast--;
	free(keys);
	wmap_clear(&w->slow, NULL);
}
