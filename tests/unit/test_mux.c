// SPDX-License-Identifier: MIT
/* test_mux.c: two muxes back to back (random chunking), credit, violations, resync, limits. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "mux.h"
#include "testlib.h"
#include "tlv.h"
#include "util.h"

#define MAX_ID 8192

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* What one side saw, per stream id. */
struct rec {
	uint8_t *data;
	size_t len, cap;
	size_t n_stderr;
	bool opened, closed, reset;
	size_t window;
	char args[64];
	void *user_at_reset;
};

enum mode {
	M_PLAIN,
	M_ECHO,          /* on_data: write the bytes back, grant them */
	M_RESET_ON_DATA, /* on_data: mux_reset the stream */
	M_SESSION_RESET_ON_DATA,
	M_OPEN_WRITES,   /* on_open: set user, write a greeting, close our side */
	M_OPEN_RESETS,   /* on_open: mux_reset itself, return 0 */
	M_CLOSE_ON_CLOSE,
	M_OPEN_ON_RESET, /* on_reset: open a new stream */
	M_OPEN_ON_HELLO, /* on_hello: open a stream */
	M_RX_IN_CB,      /* on_ctrl: call mux_rx_done (refused) */
};

struct peer {
	const char *name;
	struct mux *m;
	struct rec rec[MAX_ID];
	bool auto_grant;
	bool refuse;
	enum mode mode;
	size_t n_open, n_data, n_close, n_reset, n_window, n_ctrl, n_hello;
	char order[256]; /* sequence of event letters */
	size_t order_len;
	uint8_t hello[64];
	size_t hello_len;
	uint8_t ctrl[64];
	size_t ctrl_len;
	uint32_t ctrl_id;
};

static void ev(struct peer *p, char c)
{
	if (p->order_len + 1 < sizeof(p->order))
		p->order[p->order_len++] = c;
}

static struct rec *R(struct peer *p, uint32_t id)
{
	if (id >= MAX_ID) {
		fprintf(stderr, "id %u out of test range\n", id);
		abort();
	}
	return &p->rec[id];
}

static int cb_open(void *ctx, uint32_t id, const uint8_t *args, size_t len)
{
	struct peer *p = ctx;
	struct rec *r = R(p, id);

	p->n_open++;
	ev(p, 'o');
	/* a new session may reuse the id: start the record afresh */
	r->len = 0;
	r->n_stderr = 0;
	r->closed = r->reset = false;
	r->window = 0;
	memset(r->args, 0, sizeof(r->args));
	r->opened = true;
	memcpy(r->args, args, MIN(len, sizeof(r->args) - 1));
	if (p->refuse)
		return -EPERM;
	mux_set_user(p->m, id, r);
	if (p->mode == M_OPEN_WRITES) {
		CHECK_EQ(mux_write(p->m, id, 0, "greet", 5), 5);
		CHECK_EQ(mux_close(p->m, id), 0);
	}
	if (p->mode == M_OPEN_RESETS)
		CHECK_EQ(mux_reset(p->m, id), 0);
	return 0;
}

static void cb_data(void *ctx, uint32_t id, uint16_t flags, const uint8_t *d, size_t len)
{
	struct peer *p = ctx;
	struct rec *r = R(p, id);

	p->n_data++;
	ev(p, 'd');
	CHECK(len > 0);
	CHECK(len <= FRAME_MAX_PAYLOAD);
	if (r->len + len > r->cap) {
		r->cap = MAX(r->cap * 2, r->len + len);
		r->data = realloc(r->data, r->cap);
	}
	memcpy(r->data + r->len, d, len);
	r->len += len;
	if (flags & FRAME_F_STDERR)
		r->n_stderr += len;
	switch (p->mode) {
	case M_ECHO:
		CHECK_EQ(mux_write(p->m, id, flags, d, len), (long)len);
		CHECK_EQ(mux_grant(p->m, id, (uint32_t)len), 0);
		break;
	case M_RESET_ON_DATA:
		CHECK_EQ(mux_reset(p->m, id), 0);
		CHECK(mux_get_user(p->m, id) == NULL);
		break;
	case M_SESSION_RESET_ON_DATA:
		mux_session_reset(p->m, false);
		break;
	default:
		if (p->auto_grant)
			CHECK_EQ(mux_grant(p->m, id, (uint32_t)len), 0);
	}
}

static void cb_ctrl(void *ctx, uint32_t id, const uint8_t *d, size_t len)
{
	struct peer *p = ctx;

	p->n_ctrl++;
	ev(p, 'c');
	p->ctrl_id = id;
	p->ctrl_len = MIN(len, sizeof(p->ctrl));
	memcpy(p->ctrl, d, p->ctrl_len);
	if (p->mode == M_RX_IN_CB)
		CHECK_EQ(mux_rx_done(p->m, 0), -EBUSY);
}

static void cb_window(void *ctx, uint32_t id, uint32_t credit)
{
	struct peer *p = ctx;

	p->n_window++;
	R(p, id)->window += credit;
}

static void cb_close(void *ctx, uint32_t id)
{
	struct peer *p = ctx;

	p->n_close++;
	ev(p, 'C');
	CHECK(!R(p, id)->closed);
	R(p, id)->closed = true;
	if (p->mode == M_CLOSE_ON_CLOSE)
		CHECK_EQ(mux_close(p->m, id), 0);
}

static void cb_reset(void *ctx, uint32_t id)
{
	struct peer *p = ctx;
	uint32_t nid;

	p->n_reset++;
	ev(p, 'R');
	R(p, id)->reset = true;
	R(p, id)->user_at_reset = mux_get_user(p->m, id);
	/* the stream is already gone for everything but mux_get_user */
	CHECK_EQ(mux_write(p->m, id, 0, "x", 1), -ENOENT);
	CHECK_EQ(mux_reset(p->m, id), -ENOENT);
	if (p->mode == M_OPEN_ON_RESET)
		CHECK_EQ(mux_open(p->m, "again", 5, &nid), 0);
}

static void cb_hello(void *ctx, const uint8_t *d, size_t len)
{
	struct peer *p = ctx;
	uint32_t nid;

	p->n_hello++;
	ev(p, 'H');
	p->hello_len = MIN(len, sizeof(p->hello));
	memcpy(p->hello, d, p->hello_len);
	if (p->mode == M_OPEN_ON_HELLO)
		CHECK_EQ(mux_open(p->m, "post-hello", 10, &nid), 0);
}

static const struct mux_ops test_ops = {
	.on_open = cb_open,
	.on_data = cb_data,
	.on_ctrl = cb_ctrl,
	.on_window = cb_window,
	.on_close = cb_close,
	.on_reset = cb_reset,
	.on_hello = cb_hello,
};

static struct peer *peer_new(const char *name, bool host_side)
{
	struct peer *p = calloc(1, sizeof(*p));

	p->name = name;
	p->m = mux_new(host_side, &test_ops, p);
	CHECK(p->m != NULL);
	return p;
}

static void peer_free(struct peer *p)
{
	mux_free(p->m);
	for (size_t i = 0; i < MAX_ID; i++)
		free(p->rec[i].data);
	free(p);
}

/* Chunking of the simulated byte stream: 0 = random 1..4096, 1 = one byte, else fixed. */
static size_t chunk_mode;

static size_t next_chunk(void)
{
	if (chunk_mode == 0)
		return (rnd() & 1) ? 1 + rnd() % 16 : 1 + rnd() % 4096;
	return chunk_mode;
}

/* Move up to `limit` bytes of a's output into b's input. Returns the first rx error. */
static int xfer(struct peer *a, struct peer *b, size_t limit)
{
	size_t moved = 0;

	while (moved < limit) {
		const uint8_t *out;
		size_t n = mux_tx_peek(a->m, &out), avail;
		uint8_t *in;
		int r;

		if (n == 0)
			break;
		size_t chunk = next_chunk(); /* MIN evaluates its arguments twice */

		n = MIN(n, chunk);
		n = MIN(n, limit - moved);
		in = mux_rx_buf(b->m, &avail);
		CHECK(avail > 0);
		n = MIN(n, avail);
		memcpy(in, out, n);
		mux_tx_advance(a->m, n);
		moved += n;
		r = mux_rx_done(b->m, n);
		if (r < 0) {
			if (getenv("TEST_DEBUG"))
				fprintf(stderr, "xfer %s->%s: %d\n", a->name, b->name, r);
			return r;
		}
	}
	return 0;
}

/* Shuttle both ways until both output buffers are empty. */
static int pump(struct peer *a, struct peer *b)
{
	for (int i = 0; i < 100000; i++) {
		const uint8_t *o;
		int r;

		if (mux_tx_peek(a->m, &o) == 0 && mux_tx_peek(b->m, &o) == 0)
			return 0;
		r = xfer(a, b, 1 + rnd() % 100000);
		if (r < 0)
			return r;
		r = xfer(b, a, 1 + rnd() % 100000);
		if (r < 0)
			return r;
	}
	CHECK(!"pump did not settle");
	return -ELOOP;
}

/* Raw input: feed bytes into p as the peer would (split in the current chunk mode). */
static int feed(struct peer *p, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	while (len > 0) {
		size_t avail, chunk = next_chunk(), n = MIN(len, chunk);
		uint8_t *in = mux_rx_buf(p->m, &avail);
		int r;

		CHECK(avail > 0);
		n = MIN(n, avail);
		memcpy(in, b, n);
		r = mux_rx_done(p->m, n);
		if (r < 0)
			return r;
		b += n;
		len -= n;
	}
	return 0;
}

static int feed_frame(struct peer *p, uint16_t type, uint16_t flags, uint32_t stream,
		      const void *pl, size_t len)
{
	struct frame_hdr h = { .len = (uint32_t)len, .type = type, .flags = flags, .stream = stream };
	uint8_t *buf = malloc(FRAME_HDR_LEN + len);
	int r;

	frame_hdr_encode(buf, &h);
	if (len)
		memcpy(buf + FRAME_HDR_LEN, pl, len);
	r = feed(p, buf, FRAME_HDR_LEN + len);
	free(buf);
	return r;
}

static int feed_window(struct peer *p, uint32_t id, uint32_t n)
{
	uint8_t b[4];

	put_le32(b, n);
	return feed_frame(p, FRAME_WINDOW, 0, id, b, 4);
}

static void drain(struct peer *p)
{
	const uint8_t *o;

	mux_tx_advance(p->m, mux_tx_peek(p->m, &o));
}

/* Count frames of a type in p's pending output (which must hold whole frames). */
static size_t count_tx(struct peer *p, uint16_t type, uint32_t *last_stream)
{
	const uint8_t *o;
	size_t n = mux_tx_peek(p->m, &o), off = 0, cnt = 0;

	while (off + FRAME_HDR_LEN <= n) {
		struct frame_hdr h;

		CHECK_EQ(frame_hdr_decode(o + off, &h), 0);
		if (h.type == type) {
			cnt++;
			if (last_stream)
				*last_stream = h.stream;
		}
		off += FRAME_HDR_LEN + h.len;
	}
	CHECK_EQ(off, n);
	return cnt;
}

static void test_basic(void)
{
	struct peer *a = peer_new("host", true), *b = peer_new("guest", false);
	uint32_t id, id2, gid;

	CHECK_EQ(mux_open(a->m, "exec", 4, &id), 0);
	CHECK_EQ(id, 1);
	CHECK_EQ(mux_open(a->m, "two", 3, &id2), 0);
	CHECK_EQ(id2, 3);
	CHECK_EQ(mux_write(a->m, id, 0, "hello", 5), 5);
	CHECK_EQ(mux_write(a->m, id, FRAME_F_STDERR, "err", 3), 3);
	CHECK_EQ(mux_write(a->m, id, 0, "", 0), 0);
	CHECK_EQ(mux_write(a->m, id, 0x2, "x", 1), -EINVAL);
	CHECK_EQ(mux_write(a->m, 5, 0, "x", 1), -ENOENT);
	CHECK_EQ(mux_send_ctrl(a->m, 0, "cfg", 3), 0);
	CHECK_EQ(mux_send_ctrl(a->m, 77, "cfg", 3), -ENOENT);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(b->n_open, 2);
	CHECK_STR(R(b, 1)->args, "exec");
	CHECK_STR(R(b, 3)->args, "two");
	CHECK_EQ(R(b, 1)->len, 8);
	CHECK(memcmp(R(b, 1)->data, "helloerr", 8) == 0);
	CHECK_EQ(R(b, 1)->n_stderr, 3);
	CHECK_EQ(b->n_ctrl, 1);
	CHECK_EQ(b->ctrl_id, 0);
	CHECK(b->ctrl_len == 3 && memcmp(b->ctrl, "cfg", 3) == 0);
	CHECK(mux_get_user(b->m, 1) == R(b, 1));
	CHECK_EQ(mux_stream_count(b->m), 2);
	CHECK_EQ(mux_credit(a->m, id), MUX_WINDOW_INIT - 8);

	/* guest opens its own (even) stream, answers on the host's stream */
	CHECK_EQ(mux_open(b->m, NULL, 0, &gid), 0);
	CHECK_EQ(gid, 2);
	CHECK_EQ(mux_write(b->m, 1, 0, "world", 5), 5);
	CHECK_EQ(mux_send_ctrl(b->m, 1, "exit", 4), 0);
	CHECK_EQ(mux_grant(b->m, 1, 8), 0);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(a->n_open, 1);
	CHECK_EQ(R(a, 1)->len, 5);
	CHECK_EQ(a->n_ctrl, 1);
	CHECK_EQ(a->ctrl_id, 1);
	CHECK_EQ(R(a, 1)->window, 8);
	CHECK_EQ(mux_credit(a->m, id), MUX_WINDOW_INIT);

	/* half-close both ways: forgotten on both sides after on_close */
	CHECK_EQ(mux_close(a->m, id), 0);
	CHECK_EQ(mux_close(a->m, id), 0); /* idempotent */
	CHECK_EQ(mux_write(a->m, id, 0, "x", 1), -EPIPE);
	CHECK_EQ(mux_credit(a->m, id), 0);
	CHECK_EQ(pump(a, b), 0);
	CHECK(R(b, 1)->closed);
	CHECK_EQ(mux_stream_count(b->m), 3);
	CHECK_EQ(mux_write(b->m, 1, 0, "late", 4), 4); /* other direction still open */
	CHECK_EQ(mux_close(b->m, 1), 0);
	CHECK_EQ(mux_stream_count(b->m), 2);            /* both closed: gone on b */
	CHECK_EQ(mux_write(b->m, 1, 0, "x", 1), -ENOENT);
	CHECK_EQ(pump(a, b), 0);
	CHECK(R(a, 1)->closed);
	CHECK_EQ(R(a, 1)->len, 9);
	CHECK_EQ(mux_stream_count(a->m), 2);            /* gone on a after on_close */
	CHECK_EQ(mux_credit(a->m, id), 0);
	CHECK_EQ(a->n_reset + b->n_reset, 0);

	/* new ids never reuse old ones */
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	CHECK_EQ(id, 5);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(b->n_open, 3);
	peer_free(a);
	peer_free(b);
}

static void test_reset(void)
{
	struct peer *a = peer_new("host", true), *b = peer_new("guest", false);
	uint32_t id;
	int marker;

	CHECK_EQ(mux_open(a->m, "x", 1, &id), 0);
	mux_set_user(a->m, id, &marker);
	CHECK_EQ(pump(a, b), 0);
	/* a writes while b's RESET is in flight: b drops the DATA silently */
	CHECK_EQ(mux_reset(b->m, id), 0);
	CHECK_EQ(mux_stream_count(b->m), 0);
	CHECK_EQ(mux_reset(b->m, id), -ENOENT);
	CHECK_EQ(mux_write(a->m, id, 0, "data", 4), 4);
	CHECK_EQ(mux_close(a->m, id), 0);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(b->n_reset, 0);  /* mux_reset never calls back */
	CHECK_EQ(b->n_data, 0);
	CHECK_EQ(b->n_close, 0);
	CHECK_EQ(a->n_reset, 1);
	CHECK(R(a, id)->reset);
	CHECK(R(a, id)->user_at_reset == &marker);
	CHECK(mux_get_user(a->m, id) == NULL);
	CHECK_EQ(mux_stream_count(a->m), 0);

	/* refused open: RESET back to the opener */
	b->refuse = true;
	CHECK_EQ(mux_open(a->m, "no", 2, &id), 0);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(b->n_open, 2);
	CHECK_EQ(mux_stream_count(b->m), 0);
	CHECK_EQ(a->n_reset, 2);
	CHECK_EQ(mux_stream_count(a->m), 0);

	/* a mux without on_open refuses everything */
	{
		static const struct mux_ops none = { 0 };
		struct mux *m = mux_new(false, &none, NULL);
		struct peer tmp = { .m = m };
		uint32_t s;

		CHECK_EQ(feed_frame(&tmp, FRAME_OPEN, 0, 1, NULL, 0), 0);
		CHECK_EQ(mux_stream_count(m), 0);
		CHECK_EQ(count_tx(&tmp, FRAME_RESET, &s), 1);
		CHECK_EQ(s, 1);
		mux_free(m);
	}
	peer_free(a);
	peer_free(b);
}

static void test_credit(void)
{
	struct peer *a = peer_new("host", true), *b = peer_new("guest", false);
	size_t big = MUX_WINDOW_INIT + 100;
	uint8_t *buf = malloc(3 * MUX_WINDOW_INIT);
	uint32_t id;
	long n;

	for (size_t i = 0; i < 3 * MUX_WINDOW_INIT; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 11));
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	n = mux_write(a->m, id, 0, buf, big);
	CHECK_EQ(n, MUX_WINDOW_INIT);
	CHECK_EQ(mux_credit(a->m, id), 0);
	CHECK_EQ(mux_write(a->m, id, 0, buf + n, big - n), 0);
	/* the data went out in frames of at most FRAME_MAX_PAYLOAD */
	CHECK_EQ(count_tx(a, FRAME_DATA, NULL), MUX_WINDOW_INIT / FRAME_MAX_PAYLOAD);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(R(b, id)->len, MUX_WINDOW_INIT);
	CHECK_EQ(mux_write(a->m, id, 0, buf + n, big - n), 0);
	CHECK_EQ(mux_grant(b->m, id, 4096), 0);
	CHECK_EQ(mux_grant(b->m, id, 0), 0);
	CHECK_EQ(mux_grant(b->m, 99, 1), -ENOENT);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(R(a, id)->window, 4096);
	CHECK_EQ(mux_credit(a->m, id), 4096);
	CHECK_EQ(mux_write(a->m, id, 0, buf + n, big - n), 100);
	CHECK_EQ(mux_credit(a->m, id), 3996);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(R(b, id)->len, big);
	CHECK(memcmp(R(b, id)->data, buf, big) == 0);
	/* granting beyond 2^31 outstanding is refused locally */
	CHECK_EQ(mux_grant(b->m, id, 0x80000000u), -EINVAL);

	/* streaming 3 windows' worth with an auto-granting receiver */
	{
		size_t sent = 0, total = 3 * MUX_WINDOW_INIT;
		uint32_t id2;

		b->auto_grant = true;
		CHECK_EQ(mux_open(a->m, NULL, 0, &id2), 0);
		while (sent < total) {
			size_t want = 1 + rnd() % 500000;
			long w = mux_write(a->m, id2, 0, buf + sent, MIN(total - sent, want));

			CHECK(w >= 0);
			if (w < 0 || pump(a, b) < 0)
				break;
			sent += (size_t)w;
		}
		CHECK_EQ(R(b, id2)->len, total);
		CHECK(memcmp(R(b, id2)->data, buf, total) == 0);
		CHECK_EQ(mux_credit(a->m, id2), MUX_WINDOW_INIT);
	}
	free(buf);
	peer_free(a);
	peer_free(b);
}

static void test_violations(void)
{
	static uint8_t blob[FRAME_MAX_PAYLOAD];
	struct peer *b;
	uint32_t id;

	/* DATA beyond the window */
	b = peer_new("guest", false);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 1, NULL, 0), 0);
	for (unsigned i = 0; i < MUX_WINDOW_INIT / FRAME_MAX_PAYLOAD; i++)
		CHECK_EQ(feed_frame(b, FRAME_DATA, 0, 1, blob, sizeof(blob)), 0);
	CHECK_EQ(feed_frame(b, FRAME_DATA, 0, 1, NULL, 0), 0); /* empty DATA is fine */
	CHECK_EQ(feed_frame(b, FRAME_DATA, 0, 1, "x", 1), -EPROTO);
	/* input is refused until the owner resets */
	CHECK_EQ(feed_frame(b, FRAME_PING, 0, 0, NULL, 0), -EPROTO);
	mux_session_reset(b->m, false);
	CHECK_EQ(b->n_reset, 1);
	CHECK_EQ(mux_stream_count(b->m), 0);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 1, NULL, 0), 0);  /* ids start over */
	/* a grant extends the allowance */
	for (unsigned i = 0; i < MUX_WINDOW_INIT / FRAME_MAX_PAYLOAD; i++)
		CHECK_EQ(feed_frame(b, FRAME_DATA, 0, 1, blob, sizeof(blob)), 0);
	CHECK_EQ(mux_grant(b->m, 1, 10), 0);
	CHECK_EQ(feed_frame(b, FRAME_DATA, 0, 1, blob, 10), 0);
	CHECK_EQ(feed_frame(b, FRAME_DATA, 0, 1, blob, 1), -EPROTO);
	peer_free(b);

	/* DATA after CLOSE, double CLOSE */
	b = peer_new("guest", false);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 1, NULL, 0), 0);
	CHECK_EQ(feed_frame(b, FRAME_CLOSE, 0, 1, NULL, 0), 0);
	CHECK_EQ(feed_frame(b, FRAME_DATA, 0, 1, NULL, 0), -EPROTO);
	mux_session_reset(b->m, false);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 1, NULL, 0), 0);
	CHECK_EQ(feed_frame(b, FRAME_CLOSE, 0, 1, NULL, 0), 0);
	CHECK_EQ(feed_frame(b, FRAME_CLOSE, 0, 1, NULL, 0), -EPROTO);
	peer_free(b);

	/* WINDOW of 0, WINDOW past 2^31 */
	b = peer_new("guest", false);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 1, NULL, 0), 0);
	CHECK_EQ(feed_window(b, 1, 0), -EPROTO);
	mux_session_reset(b->m, false);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 1, NULL, 0), 0);
	CHECK_EQ(feed_window(b, 1, 0x80000000u - MUX_WINDOW_INIT), 0);
	CHECK_EQ(mux_credit(b->m, 1), 0x80000000u);
	CHECK_EQ(b->n_window, 1);
	CHECK_EQ(feed_window(b, 1, 1), -EPROTO);
	peer_free(b);

	/* parity: the guest side must not receive even OPENs, the host side odd ones */
	b = peer_new("guest", false);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 2, NULL, 0), -EPROTO);
	CHECK_EQ(b->n_open, 0);
	peer_free(b);
	b = peer_new("host", true);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 1, NULL, 0), -EPROTO);
	mux_session_reset(b->m, false);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 2, NULL, 0), 0);
	/* reuse: same id while open, an older id after it closed */
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 2, NULL, 0), -EPROTO);
	mux_session_reset(b->m, false);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 4, NULL, 0), 0);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 8, NULL, 0), 0);
	CHECK_EQ(mux_reset(b->m, 4), 0);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 4, NULL, 0), -EPROTO);
	peer_free(b);

	/* codec errors and a bad HELLO magic */
	b = peer_new("guest", false);
	CHECK_EQ(feed_frame(b, FRAME_DATA, 0, 0, NULL, 0), -EPROTO);
	mux_session_reset(b->m, false);
	CHECK_EQ(feed_frame(b, 9, 0, 1, NULL, 0), -EPROTO);
	mux_session_reset(b->m, false);
	CHECK_EQ(feed_frame(b, FRAME_HELLO, 0, 0, "SBXMUX02", 8), -EPROTO);
	mux_session_reset(b->m, false);
	{
		uint8_t junk[64];

		memset(junk, 0xff, sizeof(junk)); /* a new mux is not hunting */
		CHECK_EQ(feed(b, junk, sizeof(junk)), -EPROTO);
	}
	/* a header claiming too much is refused before the payload arrives */
	mux_session_reset(b->m, false);
	{
		struct frame_hdr h = { .len = FRAME_MAX_PAYLOAD + 1, .type = FRAME_DATA, .stream = 1 };
		uint8_t hb[FRAME_HDR_LEN];

		frame_hdr_encode(hb, &h);
		CHECK_EQ(feed(b, hb, sizeof(hb)), -EPROTO);
	}
	peer_free(b);

	/* misuse of mux_rx_done */
	b = peer_new("guest", false);
	{
		size_t avail;

		(void)mux_rx_buf(b->m, &avail);
		CHECK_EQ(mux_rx_done(b->m, avail + 1), -EINVAL);
		CHECK_EQ(mux_rx_done(b->m, 0), 0);
	}
	CHECK_EQ(mux_open(b->m, NULL, FRAME_MAX_CTRL + 1, &id), -EMSGSIZE);
	CHECK_EQ(mux_send_ctrl(b->m, 0, blob, FRAME_MAX_CTRL + 1), -EMSGSIZE);
	CHECK_EQ(mux_send_hello(b->m, blob, FRAME_MAX_CTRL), -EMSGSIZE);
	peer_free(b);
}

static void test_unknown(void)
{
	struct peer *b = peer_new("guest", false);
	const uint8_t *o;

	CHECK_EQ(feed_frame(b, FRAME_DATA, 0, 99, "abc", 3), 0);
	CHECK_EQ(feed_window(b, 99, 5), 0);
	CHECK_EQ(feed_frame(b, FRAME_CLOSE, 0, 99, NULL, 0), 0);
	CHECK_EQ(feed_frame(b, FRAME_RESET, 0, 99, NULL, 0), 0);
	CHECK_EQ(feed_frame(b, FRAME_CTRL, 0, 99, "z", 1), 0);
	CHECK_EQ(feed_frame(b, FRAME_DATA, 0, 2, "abc", 3), 0);  /* our parity, never opened */
	CHECK_EQ(b->n_data + b->n_window + b->n_close + b->n_reset + b->n_ctrl, 0);
	CHECK_EQ(mux_tx_peek(b->m, &o), 0);
	CHECK_EQ(mux_stream_count(b->m), 0);
	peer_free(b);
}

static void test_ping(void)
{
	struct peer *a = peer_new("host", true), *b = peer_new("guest", false);
	uint8_t payload[64];
	const uint8_t *o;
	struct frame_hdr h;
	size_t n;

	CHECK_EQ(mux_send_ping(a->m), 0);
	CHECK_EQ(xfer(a, b, SIZE_MAX), 0);
	n = mux_tx_peek(b->m, &o);
	CHECK_EQ(n, FRAME_HDR_LEN + 8);
	CHECK_EQ(frame_hdr_decode(o, &h), 0);
	CHECK_EQ(h.type, FRAME_PING);
	CHECK_EQ(h.flags, FRAME_F_ACK);
	CHECK_EQ(h.len, 8);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(mux_tx_peek(a->m, &o), 0); /* an ACK is not answered */

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	CHECK_EQ(feed_frame(b, FRAME_PING, 0, 0, payload, sizeof(payload)), 0);
	n = mux_tx_peek(b->m, &o);
	CHECK_EQ(n, FRAME_HDR_LEN + 64);
	CHECK_EQ(frame_hdr_decode(o, &h), 0);
	CHECK(h.type == FRAME_PING && h.flags == FRAME_F_ACK && h.len == 64);
	CHECK(memcmp(o + FRAME_HDR_LEN, payload, 64) == 0);
	peer_free(a);
	peer_free(b);
}

static void test_hello(void)
{
	struct peer *a = peer_new("host", true), *b = peer_new("guest", false);
	uint8_t junk[5000], tl[32];
	struct tlv_writer w;
	uint32_t id, id2;
	int marker;

	/* open streams on both sides, then a HELLO from a resets b's */
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	CHECK_EQ(mux_open(a->m, NULL, 0, &id2), 0);
	CHECK_EQ(pump(a, b), 0);
	mux_set_user(b->m, id2, &marker);
	CHECK_EQ(mux_stream_count(b->m), 2);
	b->order_len = 0;
	tlv_writer_init(&w, tl, sizeof(tl));
	tlv_put_u32(&w, 1, 1);
	mux_session_reset(a->m, false);
	CHECK_EQ(a->n_reset, 2);
	CHECK_EQ(mux_send_hello(a->m, tl, w.len), 0);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(b->n_hello, 1);
	CHECK_EQ(b->n_reset, 2);
	CHECK(R(b, id2)->user_at_reset == &marker);
	CHECK(b->order_len == 3 && memcmp(b->order, "RRH", 3) == 0);
	CHECK(b->hello_len == w.len && memcmp(b->hello, tl, w.len) == 0);
	CHECK_EQ(mux_stream_count(b->m), 0);
	/* both sides start numbering again */
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	CHECK_EQ(id, 1);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(mux_stream_count(b->m), 1);

	/* b hunts: garbage (including a header-like prefix and a fake magic) then HELLO */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rnd();
	memcpy(junk + 100, FRAME_MAGIC, FRAME_MAGIC_LEN);
	mux_session_reset(b->m, true);
	CHECK_EQ(feed(b, junk, sizeof(junk)), 0);
	CHECK_EQ(b->n_hello, 1);
	mux_session_reset(a->m, false);
	CHECK_EQ(mux_send_hello(a->m, "hi", 2), 0);
	CHECK_EQ(mux_open(a->m, "after", 5, &id), 0); /* right behind the HELLO */
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(b->n_hello, 2);
	CHECK(b->hello_len == 2 && memcmp(b->hello, "hi", 2) == 0);
	CHECK_EQ(mux_stream_count(b->m), 1);
	CHECK_STR(R(b, 1)->args, "after");

	/* after a violation: reset + hunt, the peer's HELLO (after garbage) recovers */
	CHECK_EQ(feed(b, junk, 64), -EPROTO);
	mux_session_reset(b->m, true);
	CHECK_EQ(feed(b, junk, sizeof(junk)), 0);
	mux_session_reset(a->m, false);
	CHECK_EQ(mux_send_hello(a->m, NULL, 0), 0);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(b->n_hello, 3);
	CHECK_EQ(b->hello_len, 0);

	/* a session reset keeps the unwritten rest of a partly written frame */
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	CHECK_EQ(mux_write(a->m, id, 0, junk, 1000), 1000);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(mux_write(a->m, id, 0, junk, 1000), 1000);
	CHECK_EQ(mux_write(a->m, id, 0, junk, 1000), 1000);
	CHECK_EQ(xfer(a, b, 500), 0);
	mux_session_reset(a->m, false);
	{
		const uint8_t *o;

		CHECK_EQ(mux_tx_peek(a->m, &o), FRAME_HDR_LEN + 1000 - 500);
	}
	CHECK_EQ(mux_send_hello(a->m, "x", 1), 0);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(b->n_hello, 4);
	CHECK_EQ(R(b, id)->len, 2000);
	peer_free(a);
	peer_free(b);
}

/* A HELLO split across two reads at every offset, after garbage, is still found. */
static void test_hunt_split(void)
{
	uint8_t buf[200];
	size_t junk = 37, n;
	struct frame_hdr h = { .len = FRAME_MAGIC_LEN + 3, .type = FRAME_HELLO };

	memset(buf, 0x5a, junk);
	frame_hdr_encode(buf + junk, &h);
	memcpy(buf + junk + FRAME_HDR_LEN, FRAME_MAGIC "abc", FRAME_MAGIC_LEN + 3);
	n = junk + FRAME_HDR_LEN + h.len;
	for (size_t cut = 1; cut < n; cut++) {
		struct peer *b = peer_new("guest", false);
		size_t avail;
		uint8_t *in;

		mux_set_hunting(b->m, true);
		in = mux_rx_buf(b->m, &avail);
		memcpy(in, buf, cut);
		CHECK_EQ(mux_rx_done(b->m, cut), 0);
		in = mux_rx_buf(b->m, &avail);
		memcpy(in, buf + cut, n - cut);
		CHECK_EQ(mux_rx_done(b->m, n - cut), 0);
		CHECK_EQ(b->n_hello, 1);
		CHECK(b->hello_len == 3 && memcmp(b->hello, "abc", 3) == 0);
		peer_free(b);
	}
}

static void test_many_streams(void)
{
	struct peer *a = peer_new("host", true), *b = peer_new("guest", false);
	uint32_t ids[MUX_MAX_STREAMS], id, last = 0;
	size_t live;

	/* local limit */
	for (size_t i = 0; i < MUX_MAX_STREAMS; i++) {
		CHECK_EQ(mux_open(a->m, NULL, 0, &ids[i]), 0);
		mux_set_user(a->m, ids[i], &ids[i]);
	}
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), -EMFILE);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(mux_stream_count(b->m), MUX_MAX_STREAMS);
	/* random removals and re-opens keep every lookup right */
	for (int round = 0; round < 2000; round++) {
		size_t k = rnd() % MUX_MAX_STREAMS;

		CHECK_EQ(mux_reset(a->m, ids[k]), 0);
		CHECK_EQ(mux_open(a->m, NULL, 0, &ids[k]), 0);
		mux_set_user(a->m, ids[k], &ids[k]);
	}
	live = 0;
	for (size_t i = 0; i < MUX_MAX_STREAMS; i++) {
		live += mux_get_user(a->m, ids[i]) == &ids[i];
		CHECK_EQ(mux_credit(a->m, ids[i]), MUX_WINDOW_INIT);
	}
	CHECK_EQ(live, MUX_MAX_STREAMS);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(mux_stream_count(b->m), MUX_MAX_STREAMS);
	peer_free(a);
	peer_free(b);

	/* peer limit: 44 OPENs too many, the ones past the limit get RESET (not a violation) */
	b = peer_new("guest", false);
	for (uint32_t i = 0; i < MUX_MAX_STREAMS + 44; i++)
		CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 2 * i + 1, NULL, 0), 0);
	CHECK_EQ(b->n_open, MUX_MAX_STREAMS);
	CHECK_EQ(mux_stream_count(b->m), MUX_MAX_STREAMS);
	CHECK_EQ(count_tx(b, FRAME_RESET, &last), 44);
	CHECK_EQ(last, 2 * (MUX_MAX_STREAMS + 43) + 1);
	drain(b);
	/* the refused ids are used up; a freed slot takes a new stream */
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 2 * (MUX_MAX_STREAMS + 43) + 1, NULL, 0), -EPROTO);
	mux_session_reset(b->m, false);
	CHECK_EQ(b->n_reset, MUX_MAX_STREAMS);
	CHECK_EQ(mux_stream_count(b->m), 0);
	peer_free(b);
}

static void test_reentrant(void)
{
	struct peer *a, *b;
	uint32_t id, id2;

	/* echo from inside on_data (write + grant), big payload, tiny chunks */
	a = peer_new("host", true);
	b = peer_new("guest", false);
	b->mode = M_ECHO;
	a->auto_grant = true;
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	{
		static uint8_t buf[300000];
		size_t sent = 0;

		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)rnd();
		while (sent < sizeof(buf)) {
			long w = mux_write(a->m, id, 0, buf + sent, sizeof(buf) - sent);

			CHECK(w >= 0);
			if (w < 0 || pump(a, b) < 0)
				break;
			sent += (size_t)w;
		}
		CHECK_EQ(R(a, id)->len, sizeof(buf));
		CHECK(R(a, id)->len == sizeof(buf) && memcmp(R(a, id)->data, buf, sizeof(buf)) == 0);
	}
	peer_free(a);
	peer_free(b);

	/* on_open writes and closes; on_close answers with close: all gone on both sides */
	a = peer_new("host", true);
	b = peer_new("guest", false);
	b->mode = M_OPEN_WRITES;
	a->mode = M_CLOSE_ON_CLOSE;
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(R(a, id)->len, 5);
	CHECK(R(a, id)->closed);
	CHECK(R(b, id)->closed);
	CHECK_EQ(mux_stream_count(a->m), 0);
	CHECK_EQ(mux_stream_count(b->m), 0);
	CHECK_EQ(a->n_reset + b->n_reset, 0);
	peer_free(a);
	peer_free(b);

	/* on_open resets the new stream itself; the following DATA is dropped */
	a = peer_new("host", true);
	b = peer_new("guest", false);
	b->mode = M_OPEN_RESETS;
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	CHECK_EQ(mux_write(a->m, id, 0, "abc", 3), 3);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(b->n_data, 0);
	CHECK_EQ(a->n_reset, 1);
	CHECK_EQ(mux_stream_count(b->m), 0);
	peer_free(a);
	peer_free(b);

	/* on_data resets the stream; more DATA for it in the same buffer is dropped */
	a = peer_new("host", true);
	b = peer_new("guest", false);
	b->mode = M_RESET_ON_DATA;
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	CHECK_EQ(mux_open(a->m, NULL, 0, &id2), 0);
	CHECK_EQ(mux_write(a->m, id, 0, "one", 3), 3);
	CHECK_EQ(mux_write(a->m, id, 0, "two", 3), 3);
	CHECK_EQ(mux_close(a->m, id), 0);
	CHECK_EQ(mux_send_ctrl(a->m, id2, "c", 1), 0);
	chunk_mode = 100000; /* everything in one read */
	CHECK_EQ(pump(a, b), 0);
	chunk_mode = 0;
	CHECK_EQ(b->n_data, 1);
	CHECK_EQ(b->n_close, 0);
	CHECK_EQ(b->n_ctrl, 1);
	CHECK_EQ(a->n_reset, 1);
	CHECK_EQ(mux_stream_count(b->m), 1);
	peer_free(a);
	peer_free(b);

	/* on_data resets the whole session: the rest of that input is not parsed */
	a = peer_new("host", true);
	b = peer_new("guest", false);
	b->mode = M_SESSION_RESET_ON_DATA;
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	CHECK_EQ(mux_open(a->m, NULL, 0, &id2), 0);
	CHECK_EQ(mux_write(a->m, id, 0, "one", 3), 3);
	CHECK_EQ(mux_write(a->m, id2, 0, "two", 3), 3);
	CHECK_EQ(mux_send_ctrl(a->m, 0, "c", 1), 0);
	chunk_mode = 100000;
	CHECK_EQ(xfer(a, b, SIZE_MAX), 0);
	chunk_mode = 0;
	CHECK_EQ(b->n_data, 1);
	CHECK_EQ(b->n_reset, 2);
	CHECK_EQ(b->n_ctrl, 0);
	CHECK_EQ(mux_stream_count(b->m), 0);
	peer_free(a);
	peer_free(b);

	/* on_reset (from a HELLO) opens a stream; on_hello opens one too */
	a = peer_new("host", true);
	b = peer_new("guest", false);
	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	CHECK_EQ(pump(a, b), 0);
	b->mode = M_OPEN_ON_RESET;
	mux_session_reset(a->m, false);
	CHECK_EQ(mux_send_hello(a->m, NULL, 0), 0);
	CHECK_EQ(xfer(a, b, SIZE_MAX), 0);
	CHECK_EQ(b->n_reset, 1);
	CHECK_EQ(mux_stream_count(b->m), 1);
	b->mode = M_OPEN_ON_HELLO;
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(a->n_open, 1);
	CHECK_STR(R(a, 2)->args, "again");
	mux_session_reset(a->m, false);
	CHECK_EQ(mux_send_hello(a->m, NULL, 0), 0);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(b->n_reset, 2);  /* stream 2 reset by the HELLO */
	CHECK_EQ(mux_stream_count(b->m), 1);
	CHECK_EQ(a->n_open, 2);
	CHECK_STR(R(a, 2)->args, "post-hello");
	peer_free(a);
	peer_free(b);

	/* rx_done from inside a callback is refused */
	{
		struct peer *c = peer_new("guest", false);

		c->mode = M_RX_IN_CB;
		CHECK_EQ(feed_frame(c, FRAME_CTRL, 0, 0, "x", 1), 0);
		CHECK_EQ(c->n_ctrl, 1);
		CHECK_EQ(feed_frame(c, FRAME_CTRL, 0, 0, "y", 1), 0);
		CHECK_EQ(c->n_ctrl, 2);
		peer_free(c);
	}
}

/* Frames without credit have a bound of their own: a peer that sends PINGs without
 * reading the answers pauses our input at MUX_TX_CTL_PAUSE and, if the owner ignored
 * that, is a violation at MUX_TX_CTL_MAX: never the ~1 GiB of MUX_TX_MAX. */
static void test_ctl_bound(void)
{
	struct peer *b = peer_new("host", true);
	const size_t fl = FRAME_HDR_LEN + 64;
	uint8_t pl[64] = { 0 };
	const uint8_t *o;
	size_t i, n;
	int r = 0;

	CHECK(!mux_rx_paused(b->m));
	for (i = 0; !mux_rx_paused(b->m) && i < MUX_TX_CTL_MAX; i++)
		CHECK_EQ(feed_frame(b, FRAME_PING, 0, 0, pl, sizeof(pl)), 0);
	CHECK_EQ(i, (MUX_TX_CTL_PAUSE + fl - 1) / fl);
	/* the owner starts writing: the frame leaves the count, reading may go on */
	mux_tx_advance(b->m, 1);
	CHECK(!mux_rx_paused(b->m));
	mux_tx_advance(b->m, fl - 1);
	/* an owner that reads on regardless: a violation at the bound */
	for (i = 0; i < MUX_TX_MAX / fl && (r = feed_frame(b, FRAME_PING, 0, 0, pl, sizeof(pl))) == 0; i++)
		;
	CHECK_EQ(r, -EPROTO);
	n = mux_tx_peek(b->m, &o);
	CHECK(n <= MUX_TX_CTL_MAX && n > MUX_TX_CTL_MAX - fl);
	CHECK(mux_rx_paused(b->m));
	/* the owner's own frames without credit are refused too */
	CHECK_EQ(mux_send_ctrl(b->m, 0, pl, sizeof(pl)), -ENOBUFS);
	drain(b);
	CHECK(!mux_rx_paused(b->m));
	CHECK_EQ(mux_send_ctrl(b->m, 0, "x", 1), 0);
	/* a session reset forgets the count with the frames */
	for (i = 0; i < 10; i++)
		CHECK_EQ(mux_send_ctrl(b->m, 0, pl, sizeof(pl)), 0);
	mux_session_reset(b->m, false);
	CHECK_EQ(mux_tx_peek(b->m, &o), 0);
	for (i = 0; i < MUX_TX_CTL_PAUSE / fl; i++)
		CHECK_EQ(mux_send_ctrl(b->m, 0, pl, sizeof(pl)), 0);
	CHECK(!mux_rx_paused(b->m));
	peer_free(b);
}

/* The receive buffer starts small, grows when a header announces a larger frame (split
 * anywhere, up to the largest frame), and shrinks back once small frames follow. */
static void test_rx_grow(void)
{
	struct peer *a = peer_new("host", true), *b = peer_new("guest", false);
	const size_t max = FRAME_MAX_PAYLOAD;
	uint8_t *big = malloc(max), hdr[FRAME_HDR_LEN], *in;
	struct frame_hdr h = { .len = FRAME_MAX_PAYLOAD, .type = FRAME_DATA, .stream = 1 };
	size_t small, avail, len1;
	uint32_t id;

	for (size_t i = 0; i < max; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 11));
	(void)mux_rx_buf(b->m, &small);
	CHECK(small < FRAME_HDR_LEN + max);
	len1 = small + 100; /* bigger than the whole initial buffer */

	CHECK_EQ(mux_open(a->m, NULL, 0, &id), 0);
	CHECK_EQ(mux_write(a->m, id, 0, big, len1), (long)len1);
	CHECK_EQ(mux_write(a->m, id, 0, big, max), (long)max);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(R(b, id)->len, len1 + max);
	CHECK(memcmp(R(b, id)->data, big, len1) == 0);
	CHECK(memcmp(R(b, id)->data + len1, big, max) == 0);
	CHECK_EQ(mux_grant(b->m, id, (uint32_t)(len1 + max)), 0);
	(void)mux_rx_buf(b->m, &avail);
	CHECK(avail >= FRAME_HDR_LEN + max); /* kept while large frames arrive */

	/* small traffic again: back to the initial size */
	CHECK_EQ(mux_write(a->m, id, 0, "x", 1), 1);
	CHECK_EQ(pump(a, b), 0);
	CHECK_EQ(R(b, id)->len, len1 + max + 1);
	(void)mux_rx_buf(b->m, &avail);
	CHECK_EQ(avail, small);
	peer_free(a);
	peer_free(b);

	/* a largest frame whose header is split: room only once the header is whole */
	b = peer_new("guest", false);
	CHECK_EQ(feed_frame(b, FRAME_OPEN, 0, 1, NULL, 0), 0);
	frame_hdr_encode(hdr, &h);
	in = mux_rx_buf(b->m, &avail);
	memcpy(in, hdr, 5);
	CHECK_EQ(mux_rx_done(b->m, 5), 0);
	(void)mux_rx_buf(b->m, &avail);
	CHECK_EQ(avail, small - 5);
	in = mux_rx_buf(b->m, &avail);
	memcpy(in, hdr + 5, FRAME_HDR_LEN - 5);
	CHECK_EQ(mux_rx_done(b->m, FRAME_HDR_LEN - 5), 0);
	in = mux_rx_buf(b->m, &avail);
	CHECK(avail >= max);
	memcpy(in, big, 1000); /* payload in two reads */
	CHECK_EQ(mux_rx_done(b->m, 1000), 0);
	CHECK_EQ(R(b, 1)->len, 0);
	in = mux_rx_buf(b->m, &avail);
	CHECK(avail >= max - 1000);
	memcpy(in, big + 1000, max - 1000);
	CHECK_EQ(mux_rx_done(b->m, max - 1000), 0);
	CHECK_EQ(R(b, 1)->len, max);
	CHECK(memcmp(R(b, 1)->data, big, max) == 0);

	/* one past the largest frame is still a violation, not a reason to grow */
	h.len = FRAME_MAX_PAYLOAD + 1;
	frame_hdr_encode(hdr, &h);
	CHECK_EQ(feed(b, hdr, sizeof(hdr)), -EPROTO);
	peer_free(b);
	free(big);
}

static void run_all(void)
{
	test_basic();
	test_reset();
	test_credit();
	test_violations();
	test_unknown();
	test_ping();
	test_hello();
	test_hunt_split();
	test_many_streams();
	test_reentrant();
	test_ctl_bound();
	test_rx_grow();
}

int main(void)
{
	const size_t modes[] = { 0, 1, 7, 0 };

	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		chunk_mode = modes[i];
		run_all();
	}
	TEST_DONE();
}
