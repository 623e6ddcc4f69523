// SPDX-License-Identifier: MIT
/* mux.c: stream multiplexer over one byte stream: stream table, credit, rx/tx buffers. */
#include "mux.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "util.h"

/*
 * Theory of operation.
 *
 * rx: one buffer; mux_rx_done() parses every whole frame, keeps a trailing partial
 * frame and moves it to the front. Payload pointers handed to callbacks point into this
 * buffer and stay valid until the callback returns. It starts at MUX_RX_INIT (most
 * sessions never see a large frame, and there are hundreds of clients); once the parse
 * is over, a partial frame whose header announces more than the buffer holds grows it
 * (frame plus read slack, at most MUX_RX_CAP), and an empty buffer after a read that
 * would have fit the small one shrinks it back. Bulk transfers of large frames keep the
 * large buffer. Old buffers are zeroed before they are freed.
 *
 * tx: one contiguous buffer of whole frames, grown on demand up to MUX_TX_MAX.
 * tx_start..tx_end is unsent; tx_cur_rem counts the bytes of the frame at tx_start that
 * the owner has not written yet when it stopped in the middle of a frame, so that a
 * session reset can keep that remainder and the peer still sees whole frames.
 * tx_ctl counts the bytes of queued frames that carry no credit (everything but DATA);
 * a frame leaves the count when the owner starts writing it. It is what
 * MUX_TX_CTL_MAX bounds and what mux_rx_paused() looks at.
 *
 * Streams: a fixed array of MUX_MAX_STREAMS slots plus an open-addressing index keyed by
 * id. Callbacks may call any mux_* function except mux_free() and mux_rx_done(), so the
 * parser never keeps a stream pointer across a callback: it looks the id up again.
 * A callback that resets the session (mux_session_reset()) bumps `gen`, and the parser
 * then drops the rest of the input.
 *
 * A stream whose both directions are closed is forgotten silently after on_close has
 * been delivered. A stream that is reset (peer RESET, HELLO, session reset) is removed
 * from the table before on_reset runs; during that callback mux_get_user() still
 * returns its user pointer so the owner can free its state.
 */

#define MUX_RX_SLACK (64u * 1024u)
#define MUX_RX_CAP (FRAME_HDR_LEN + FRAME_MAX_PAYLOAD + MUX_RX_SLACK)
#define MUX_RX_INIT (64u * 1024u) /* below malloc's mmap threshold (and ASan's) */
#define MUX_HUNT_TAIL (FRAME_HDR_LEN + FRAME_MAGIC_LEN - 1u)
#define MUX_CREDIT_MAX (1ull << 31)
#define MUX_IDX_SIZE (2u * MUX_MAX_STREAMS) /* power of two, load <= 1/2 */
#define MUX_TX_KEEP (1024u * 1024u)          /* free a larger empty tx buffer */

struct mux_stream {
	uint32_t id;
	bool used;
	bool local_closed;  /* we sent CLOSE */
	bool remote_closed; /* peer sent CLOSE */
	uint64_t tx_credit; /* bytes we may still send */
	uint64_t rx_allow;  /* bytes the peer may still send */
	void *user;
};

struct mux {
	const struct mux_ops *ops;
	void *ctx;
	bool host_side;
	bool hunting;
	bool failed;   /* a violation was reported; input is dropped until reset/hunt */
	bool in_rx;
	unsigned gen;  /* bumped by mux_session_reset() */

	uint8_t *rx;
	size_t rx_len, rx_cap;
	size_t rx_hi;  /* rx[0..rx_hi) ever held input: what must be zeroed */

	uint8_t *tx;
	size_t tx_cap, tx_start, tx_end, tx_cur_rem;
	size_t tx_ctl;   /* bytes of queued non-DATA frames not yet started */

	uint32_t next_id;      /* next id we open */
	uint32_t peer_max_id;  /* highest id the peer has opened this session */
	uint64_t ping_seq;

	/* Stream being reported through on_reset (already out of the table). */
	bool zombie;
	uint32_t zombie_id;
	void *zombie_user;

	size_t nstreams;
	struct mux_stream slots[MUX_MAX_STREAMS];
	uint16_t idx[MUX_IDX_SIZE]; /* 0 = empty, else slot + 1 */
};

/* ---- stream table ---- */

static unsigned mux_hash(uint32_t id)
{
	return (unsigned)((id * 2654435761u) >> 16) & (MUX_IDX_SIZE - 1);
}

static struct mux_stream *mux_find(struct mux *m, uint32_t id)
{
	if (id == 0)
		return NULL;
	for (unsigned i = mux_hash(id), n = 0; n < MUX_IDX_SIZE; i = (i + 1) & (MUX_IDX_SIZE - 1), n++) {
		uint16_t v = m->idx[i];

		if (v == 0)
			return NULL;
		if (m->slots[v - 1].id == id)
			return &m->slots[v - 1];
	}
	return NULL;
}

static struct mux_stream *mux_insert(struct mux *m, uint32_t id)
{
	struct mux_stream *s = NULL;
	unsigned i;

	if (m->nstreams >= MUX_MAX_STREAMS)
		return NULL;
	for (size_t k = 0; k < MUX_MAX_STREAMS; k++) {
		if (!m->slots[k].used) {
			s = &m->slots[k];
			break;
		}
	}
	if (!s)
		return NULL;
	for (i = mux_hash(id); m->idx[i]; i = (i + 1) & (MUX_IDX_SIZE - 1))
		;
	m->idx[i] = (uint16_t)(s - m->slots + 1);
	*s = (struct mux_stream){
		.id = id,
		.used = true,
		.tx_credit = MUX_WINDOW_INIT,
		.rx_allow = MUX_WINDOW_INIT,
	};
	m->nstreams++;
	return s;
}

/* Remove s from the table (backward-shift deletion keeps probe chains intact). */
static void mux_remove(struct mux *m, struct mux_stream *s)
{
	uint16_t v = (uint16_t)(s - m->slots + 1);
	unsigned i, j;

	for (i = mux_hash(s->id); m->idx[i] != v; i = (i + 1) & (MUX_IDX_SIZE - 1))
		;
	m->idx[i] = 0;
	for (j = (i + 1) & (MUX_IDX_SIZE - 1); m->idx[j]; j = (j + 1) & (MUX_IDX_SIZE - 1)) {
		unsigned h = mux_hash(m->slots[m->idx[j] - 1].id);

		/* Move idx[j] into the hole at i unless its home lies cyclically in (i, j]. */
		if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
			m->idx[i] = m->idx[j];
			m->idx[j] = 0;
			i = j;
		}
	}
	memset(s, 0, sizeof(*s));
	m->nstreams--;
}

/* ---- tx buffer ---- */

static int mux_tx_reserve(struct mux *m, size_t add, uint8_t **ret)
{
	size_t pending = m->tx_end - m->tx_start;

	if (add > MUX_TX_MAX || pending > MUX_TX_MAX - add)
		return -ENOBUFS;
	if (m->tx_cap - m->tx_end < add) {
		if (m->tx_start > 0) {
			memmove(m->tx, m->tx + m->tx_start, pending);
			m->tx_start = 0;
			m->tx_end = pending;
		}
		if (m->tx_cap - m->tx_end < add) {
			size_t cap = MAX(m->tx_cap * 2, (size_t)64 * 1024);
			uint8_t *p;

			cap = MAX(cap, pending + add);
			cap = MIN(cap, (size_t)MUX_TX_MAX);
			/* not realloc: the old buffer is zeroed before it is freed (see mux_free) */
			p = malloc(cap);
			if (!p)
				return -ENOMEM;
			if (m->tx) {
				memcpy(p, m->tx, m->tx_end);
				explicit_bzero(m->tx, m->tx_cap);
				free(m->tx);
			}
			m->tx = p;
			m->tx_cap = cap;
		}
	}
	*ret = m->tx + m->tx_end;
	return 0;
}

static int mux_queue2(struct mux *m, uint16_t type, uint16_t flags, uint32_t stream,
		      const void *p1, size_t n1, const void *p2, size_t n2)
{
	struct frame_hdr h = { .len = (uint32_t)(n1 + n2), .type = type, .flags = flags, .stream = stream };
	uint8_t *out;
	int r;

	if (n1 > FRAME_MAX_PAYLOAD || n2 > FRAME_MAX_PAYLOAD - n1)
		return -EMSGSIZE;
	if (type != FRAME_DATA && m->tx_ctl + FRAME_HDR_LEN + h.len > MUX_TX_CTL_MAX)
		return -ENOBUFS;
	r = mux_tx_reserve(m, FRAME_HDR_LEN + h.len, &out);
	if (r < 0)
		return r;
	frame_hdr_encode(out, &h);
	if (n1)
		memcpy(out + FRAME_HDR_LEN, p1, n1);
	if (n2)
		memcpy(out + FRAME_HDR_LEN + n1, p2, n2);
	m->tx_end += FRAME_HDR_LEN + h.len;
	if (type != FRAME_DATA)
		m->tx_ctl += FRAME_HDR_LEN + h.len;
	return 0;
}

static int mux_queue(struct mux *m, uint16_t type, uint16_t flags, uint32_t stream,
		     const void *payload, size_t len)
{
	return mux_queue2(m, type, flags, stream, payload, len, NULL, 0);
}

size_t mux_tx_peek(struct mux *m, const uint8_t **ret)
{
	*ret = m->tx ? m->tx + m->tx_start : NULL;
	return m->tx_end - m->tx_start;
}

void mux_tx_advance(struct mux *m, size_t n)
{
	n = MIN(n, m->tx_end - m->tx_start);
	while (n > 0) {
		size_t take;

		if (m->tx_cur_rem == 0) { /* at a frame boundary: whole frames only in tx */
			m->tx_cur_rem = FRAME_HDR_LEN + get_le32(m->tx + m->tx_start);
			if (get_le16(m->tx + m->tx_start + 4) != FRAME_DATA)
				m->tx_ctl -= MIN(m->tx_ctl, m->tx_cur_rem);
		}
		take = MIN(n, m->tx_cur_rem);
		m->tx_start += take;
		m->tx_cur_rem -= take;
		n -= take;
	}
	if (m->tx_start == m->tx_end) {
		m->tx_start = m->tx_end = 0;
		m->tx_cur_rem = 0;
		m->tx_ctl = 0;
		if (m->tx_cap > MUX_TX_KEEP) {
			explicit_bzero(m->tx, m->tx_cap);
			free(m->tx);
			m->tx = NULL;
			m->tx_cap = 0;
		}
	}
}

bool mux_rx_paused(const struct mux *m)
{
	return m->tx_ctl >= MUX_TX_CTL_PAUSE;
}

/* ---- lifecycle ---- */

struct mux *mux_new(bool host_side, const struct mux_ops *ops, void *ctx)
{
	struct mux *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->rx = malloc(MUX_RX_INIT);
	if (!m->rx) {
		free(m);
		return NULL;
	}
	m->rx_cap = MUX_RX_INIT;
	m->ops = ops;
	m->ctx = ctx;
	m->host_side = host_side;
	m->next_id = host_side ? 1 : 2;
	return m;
}

void mux_free(struct mux *m)
{
	if (!m)
		return;
	/* they may have carried credentials (OP_CRED_ENV) */
	if (m->rx)
		explicit_bzero(m->rx, m->rx_hi);
	if (m->tx)
		explicit_bzero(m->tx, m->tx_cap);
	free(m->rx);
	free(m->tx);
	free(m);
}

/* Report every stream through on_reset and empty the table; start id numbering over. */
static void mux_reset_streams(struct mux *m)
{
	uint32_t ids[MUX_MAX_STREAMS];
	size_t n = 0;

	m->next_id = m->host_side ? 1 : 2;
	m->peer_max_id = 0;
	/* Most resets find few streams or none: stop once all live ones are seen. */
	for (size_t k = 0; k < MUX_MAX_STREAMS && n < m->nstreams; k++)
		if (m->slots[k].used)
			ids[n++] = m->slots[k].id;
	for (size_t k = 0; k < n; k++) {
		struct mux_stream *s = mux_find(m, ids[k]);
		bool was_zombie = m->zombie;
		uint32_t zid = m->zombie_id;
		void *zuser = m->zombie_user;

		if (!s)
			continue; /* a callback already reset it */
		m->zombie = true;
		m->zombie_id = s->id;
		m->zombie_user = s->user;
		mux_remove(m, s);
		if (m->ops && m->ops->on_reset)
			m->ops->on_reset(m->ctx, ids[k]);
		m->zombie = was_zombie;
		m->zombie_id = zid;
		m->zombie_user = zuser;
	}
}

void mux_session_reset(struct mux *m, bool hunt)
{
	m->gen++;
	m->rx_len = 0;
	/* Keep only the unwritten rest of a frame the owner started writing (already out
	 * of tx_ctl). */
	m->tx_end = m->tx_start + m->tx_cur_rem;
	m->tx_ctl = 0;
	if (m->tx_start == m->tx_end) {
		m->tx_start = m->tx_end = 0;
		m->tx_cur_rem = 0;
	}
	m->hunting = hunt;
	m->failed = false;
	mux_reset_streams(m);
}

void mux_set_hunting(struct mux *m, bool on)
{
	m->hunting = on;
	if (on)
		m->failed = false;
}

int mux_send_hello(struct mux *m, const void *payload, size_t len)
{
	if (len > FRAME_MAX_CTRL - FRAME_MAGIC_LEN)
		return -EMSGSIZE;
	if (len > 0 && !payload)
		return -EINVAL;
	return mux_queue2(m, FRAME_HELLO, 0, 0, FRAME_MAGIC, FRAME_MAGIC_LEN, payload, len);
}

int mux_send_ping(struct mux *m)
{
	uint8_t b[8];

	m->ping_seq++;
	put_le32(b, (uint32_t)m->ping_seq);
	put_le32(b + 4, (uint32_t)(m->ping_seq >> 32));
	return mux_queue(m, FRAME_PING, 0, 0, b, sizeof(b));
}

/* ---- streams, local side ---- */

int mux_open(struct mux *m, const void *args, size_t len, uint32_t *ret_id)
{
	struct mux_stream *s;
	uint32_t id;
	int r;

	if (len > FRAME_MAX_CTRL)
		return -EMSGSIZE;
	if (len > 0 && !args)
		return -EINVAL;
	if (m->nstreams >= MUX_MAX_STREAMS)
		return -EMFILE;
	if (m->next_id > UINT32_MAX - 2)
		return -ENOSPC; /* ids are never reused within a session */
	id = m->next_id;
	r = mux_queue(m, FRAME_OPEN, 0, id, args, len);
	if (r < 0)
		return r;
	m->next_id += 2;
	s = mux_insert(m, id);
	if (!s)
		return -EMFILE; /* cannot happen: checked above */
	if (ret_id)
		*ret_id = id;
	return 0;
}

long mux_write(struct mux *m, uint32_t id, uint16_t flags, const void *data, size_t len)
{
	const uint8_t *p = data;
	struct mux_stream *s = mux_find(m, id);
	size_t n, done = 0;

	if (!s)
		return -ENOENT;
	if (s->local_closed)
		return -EPIPE;
	if (flags & ~FRAME_F_STDERR)
		return -EINVAL;
	if (len > 0 && !data)
		return -EINVAL;
	n = (size_t)MIN((uint64_t)len, s->tx_credit);
	while (done < n) {
		size_t chunk = MIN(n - done, (size_t)FRAME_MAX_PAYLOAD);
		int r = mux_queue(m, FRAME_DATA, flags, id, p + done, chunk);

		if (r < 0) {
			if (done > 0)
				break;
			return r;
		}
		done += chunk;
		s->tx_credit -= chunk;
	}
	return (long)done;
}

size_t mux_credit(struct mux *m, uint32_t id)
{
	struct mux_stream *s = mux_find(m, id);

	if (!s || s->local_closed)
		return 0;
	return (size_t)s->tx_credit;
}

int mux_grant(struct mux *m, uint32_t id, uint32_t bytes)
{
	struct mux_stream *s = mux_find(m, id);
	uint8_t b[4];
	int r;

	if (!s)
		return -ENOENT;
	if (bytes == 0 || s->remote_closed)
		return 0; /* nothing more will come: no need to tell the peer */
	if (s->rx_allow + bytes > MUX_CREDIT_MAX)
		return -EINVAL;
	put_le32(b, bytes);
	r = mux_queue(m, FRAME_WINDOW, 0, id, b, sizeof(b));
	if (r < 0)
		return r;
	s->rx_allow += bytes;
	return 0;
}

int mux_send_ctrl(struct mux *m, uint32_t id, const void *data, size_t len)
{
	if (len > FRAME_MAX_CTRL)
		return -EMSGSIZE;
	if (len > 0 && !data)
		return -EINVAL;
	if (id != 0 && !mux_find(m, id))
		return -ENOENT;
	return mux_queue(m, FRAME_CTRL, 0, id, data, len);
}

int mux_close(struct mux *m, uint32_t id)
{
	struct mux_stream *s = mux_find(m, id);
	int r;

	if (!s)
		return -ENOENT;
	if (s->local_closed)
		return 0;
	r = mux_queue(m, FRAME_CLOSE, 0, id, NULL, 0);
	if (r < 0)
		return r;
	s->local_closed = true;
	if (s->remote_closed)
		mux_remove(m, s);
	return 0;
}

int mux_reset(struct mux *m, uint32_t id)
{
	struct mux_stream *s = mux_find(m, id);

	if (!s)
		return -ENOENT;
	mux_remove(m, s);
	/* Forgotten even if the RESET cannot be queued: the session is in trouble then. */
	return mux_queue(m, FRAME_RESET, 0, id, NULL, 0);
}

void mux_set_user(struct mux *m, uint32_t id, void *user)
{
	struct mux_stream *s = mux_find(m, id);

	if (s)
		s->user = user;
}

void *mux_get_user(struct mux *m, uint32_t id)
{
	struct mux_stream *s = mux_find(m, id);

	if (s)
		return s->user;
	if (m->zombie && m->zombie_id == id)
		return m->zombie_user;
	return NULL;
}

size_t mux_stream_count(struct mux *m)
{
	return m->nstreams;
}

/* ---- input ---- */

uint8_t *mux_rx_buf(struct mux *m, size_t *avail)
{
	*avail = m->rx_cap - m->rx_len;
	return m->rx + m->rx_len;
}

static bool peer_parity_ok(struct mux *m, uint32_t id)
{
	/* The host side opens odd ids, so its peer opens even ones. */
	return (id & 1) != (m->host_side ? 1u : 0u);
}

static int mux_rx_open(struct mux *m, const struct frame_hdr *h, const uint8_t *pl)
{
	struct mux_stream *s;
	int r = -ECONNREFUSED;

	if (!peer_parity_ok(m, h->stream) || h->stream <= m->peer_max_id)
		return -EPROTO; /* wrong parity, or an id used before in this session */
	m->peer_max_id = h->stream;
	s = mux_insert(m, h->stream);
	if (!s)
		return mux_queue(m, FRAME_RESET, 0, h->stream, NULL, 0) < 0 ? -EPROTO : 0;
	if (m->ops && m->ops->on_open)
		r = m->ops->on_open(m->ctx, h->stream, pl, h->len);
	if (r < 0) {
		s = mux_find(m, h->stream);
		if (s) /* the callback may have reset it already */
			(void)mux_reset(m, h->stream);
	}
	return 0;
}

static int mux_rx_data(struct mux *m, const struct frame_hdr *h, const uint8_t *pl)
{
	struct mux_stream *s = mux_find(m, h->stream);

	if (!s)
		return 0;
	if (s->remote_closed || h->len > s->rx_allow)
		return -EPROTO;
	s->rx_allow -= h->len;
	if (h->len > 0 && m->ops && m->ops->on_data)
		m->ops->on_data(m->ctx, h->stream, h->flags, pl, h->len);
	return 0;
}

static int mux_rx_window(struct mux *m, const struct frame_hdr *h, const uint8_t *pl)
{
	struct mux_stream *s = mux_find(m, h->stream);
	uint32_t n = get_le32(pl);

	if (n == 0)
		return -EPROTO;
	if (!s)
		return 0;
	if (s->tx_credit + n > MUX_CREDIT_MAX)
		return -EPROTO;
	s->tx_credit += n;
	if (m->ops && m->ops->on_window)
		m->ops->on_window(m->ctx, h->stream, n);
	return 0;
}

static int mux_rx_close(struct mux *m, const struct frame_hdr *h)
{
	struct mux_stream *s = mux_find(m, h->stream);

	if (!s)
		return 0;
	if (s->remote_closed)
		return -EPROTO;
	s->remote_closed = true;
	if (m->ops && m->ops->on_close)
		m->ops->on_close(m->ctx, h->stream);
	s = mux_find(m, h->stream);
	if (s && s->local_closed && s->remote_closed)
		mux_remove(m, s);
	return 0;
}

static int mux_rx_reset(struct mux *m, const struct frame_hdr *h)
{
	struct mux_stream *s = mux_find(m, h->stream);
	bool was_zombie = m->zombie;
	uint32_t zid = m->zombie_id;
	void *zuser = m->zombie_user;

	if (!s)
		return 0;
	m->zombie = true;
	m->zombie_id = s->id;
	m->zombie_user = s->user;
	mux_remove(m, s);
	if (m->ops && m->ops->on_reset)
		m->ops->on_reset(m->ctx, h->stream);
	m->zombie = was_zombie;
	m->zombie_id = zid;
	m->zombie_user = zuser;
	return 0;
}

static int mux_rx_hello(struct mux *m, const struct frame_hdr *h, const uint8_t *pl)
{
	unsigned gen = m->gen;

	if (memcmp(pl, FRAME_MAGIC, FRAME_MAGIC_LEN) != 0)
		return -EPROTO;
	m->hunting = false;
	mux_reset_streams(m);
	if (m->gen != gen)
		return 0; /* a callback reset the session: it decides what comes next */
	if (m->ops && m->ops->on_hello)
		m->ops->on_hello(m->ctx, pl + FRAME_MAGIC_LEN, h->len - FRAME_MAGIC_LEN);
	return 0;
}

static int mux_dispatch(struct mux *m, const struct frame_hdr *h, const uint8_t *pl)
{
	switch (h->type) {
	case FRAME_OPEN:
		return mux_rx_open(m, h, pl);
	case FRAME_DATA:
		return mux_rx_data(m, h, pl);
	case FRAME_WINDOW:
		return mux_rx_window(m, h, pl);
	case FRAME_CLOSE:
		return mux_rx_close(m, h);
	case FRAME_RESET:
		return mux_rx_reset(m, h);
	case FRAME_PING:
		if (!(h->flags & FRAME_F_ACK))
			return mux_queue(m, FRAME_PING, FRAME_F_ACK, 0, pl, h->len) < 0 ? -EPROTO : 0;
		return 0;
	case FRAME_HELLO:
		return mux_rx_hello(m, h, pl);
	case FRAME_CTRL:
		if (h->stream != 0 && !mux_find(m, h->stream))
			return 0;
		if (m->ops && m->ops->on_ctrl)
			m->ops->on_ctrl(m->ctx, h->stream, pl, h->len);
		return 0;
	}
	return -EPROTO; /* unreachable: frame_hdr_decode checked the type */
}

static int mux_parse(struct mux *m)
{
	unsigned gen = m->gen;
	size_t off = 0;
	int r = 0;

	for (;;) {
		struct frame_hdr h;
		size_t left = m->rx_len - off;

		if (m->hunting) {
			long at = frame_find_hello(m->rx + off, left);

			if (at < 0) {
				if (left > MUX_HUNT_TAIL)
					off = m->rx_len - MUX_HUNT_TAIL;
				break;
			}
			off += (size_t)at;
			left -= (size_t)at;
			m->hunting = false;
		}
		if (left < FRAME_HDR_LEN)
			break;
		r = frame_hdr_decode(m->rx + off, &h);
		if (r < 0)
			break;
		if (left - FRAME_HDR_LEN < h.len)
			break;
		r = mux_dispatch(m, &h, m->rx + off + FRAME_HDR_LEN);
		if (m->gen != gen)
			return 0; /* session reset from a callback: rx is already empty */
		if (r < 0)
			break;
		off += FRAME_HDR_LEN + h.len;
	}
	if (r < 0) {
		/* The owner must reset the session; drop input until it does (or hunts).
		 * A peer that makes our tx overflow (answers it never reads) counts as a
		 * violation too. */
		m->failed = true;
		m->rx_len = 0;
		return -EPROTO;
	}
	if (off > 0) {
		memmove(m->rx, m->rx + off, m->rx_len - off);
		m->rx_len -= off;
	}
	return 0;
}

/* Move rx into a new buffer of cap bytes (>= rx_len); the old one is zeroed. */
static int mux_rx_realloc(struct mux *m, size_t cap)
{
	uint8_t *p = malloc(cap);

	if (!p)
		return -ENOMEM;
	memcpy(p, m->rx, m->rx_len);
	explicit_bzero(m->rx, m->rx_hi);
	free(m->rx);
	m->rx = p;
	m->rx_cap = cap;
	m->rx_hi = m->rx_len;
	return 0;
}

/* After a parse: make room for the partial frame at the front, or shrink an empty
 * buffer when the bytes just parsed (seen) would have fit the small one. A frame that
 * cannot get its room costs the session, like a violation. */
static int mux_rx_fit(struct mux *m, size_t seen)
{
	struct frame_hdr h;
	size_t need;

	if (m->rx_len == 0) {
		if (m->rx_cap > MUX_RX_INIT && seen <= MUX_RX_INIT)
			(void)mux_rx_realloc(m, MUX_RX_INIT); /* failing to shrink is harmless */
		return 0;
	}
	if (m->hunting || m->rx_len < FRAME_HDR_LEN || frame_hdr_decode(m->rx, &h) < 0)
		return 0;
	need = FRAME_HDR_LEN + (size_t)h.len; /* h.len <= FRAME_MAX_PAYLOAD: need < MUX_RX_CAP */
	if (need <= m->rx_cap)
		return 0;
	if (mux_rx_realloc(m, MIN(need + MUX_RX_SLACK, (size_t)MUX_RX_CAP)) < 0) {
		m->failed = true;
		m->rx_len = 0;
		return -ENOMEM;
	}
	return 0;
}

int mux_rx_done(struct mux *m, size_t n)
{
	size_t seen;
	int r;

	if (m->in_rx)
		return -EBUSY;
	if (n > m->rx_cap - m->rx_len)
		return -EINVAL;
	m->rx_len += n;
	m->rx_hi = MAX(m->rx_hi, m->rx_len);
	if (m->failed) {
		m->rx_len = 0;
		return -EPROTO;
	}
	seen = m->rx_len;
	m->in_rx = true;
	r = mux_parse(m);
	m->in_rx = false;
	if (r == 0)
		r = mux_rx_fit(m, seen);
	return r;
}
