// SPDX-License-Identifier: MIT
/* fuzz_frame.c: libFuzzer target: arbitrary bytes into mux_rx_done, with re-entrant callbacks.
 *
 * Built by `make fuzz`; run: build/fuzz/fuzz_frame -max_total_time=60 build/fuzz-corpus/fuzz_frame
 *
 * The first input byte picks the side and the hunting mode; the next two bytes seed the
 * chunking of the rest, so partial headers and payloads split at every offset are met.
 * Callbacks take actions chosen by the data itself (write, grant, close, reset, open,
 * session reset), the way a real owner reacts to its peer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "mux.h"
#include "tlv.h"

struct fz {
	struct mux *m;
	uint32_t seed;
	int depth;
};

static uint32_t fz_next(struct fz *f)
{
	f->seed = f->seed * 1103515245u + 12345u;
	return f->seed >> 8;
}

static void fz_act(struct fz *f, uint32_t id, const uint8_t *d, size_t len)
{
	uint32_t nid;
	uint8_t v = len ? d[0] : (uint8_t)fz_next(f);

	if (f->depth > 2)
		return;
	f->depth++;
	switch (v % 11) {
	case 0:
		(void)mux_write(f->m, id, v & 1, d, len);
		break;
	case 1:
		(void)mux_grant(f->m, id, (uint32_t)len + 1);
		break;
	case 2:
		(void)mux_close(f->m, id);
		break;
	case 3:
		(void)mux_reset(f->m, id);
		break;
	case 4:
		(void)mux_open(f->m, d, len, &nid);
		break;
	case 5:
		if ((fz_next(f) & 7) == 0)
			mux_session_reset(f->m, v & 0x10);
		break;
	case 6:
		(void)mux_send_ctrl(f->m, id, d, len);
		break;
	case 7:
		(void)mux_send_ping(f->m);
		break;
	case 8:
		mux_set_hunting(f->m, v & 0x20);
		break;
	case 9: {
		/* Parse the payload as TLV the way the owners do. */
		struct tlv_reader r;
		const uint8_t *val;
		uint32_t vlen, u;
		uint16_t tag;
		char *s;

		tlv_reader_init(&r, d, len);
		while (tlv_next(&r, &tag, &val, &vlen) > 0) {
			(void)tlv_u32(val, vlen, &u);
			if (tlv_str(val, vlen, &s) == 0)
				free(s);
		}
		break;
	}
	default:
		mux_set_user(f->m, id, f);
		break;
	}
	(void)mux_get_user(f->m, id);
	(void)mux_credit(f->m, id);
	f->depth--;
}

static int cb_open(void *ctx, uint32_t id, const uint8_t *args, size_t len)
{
	struct fz *f = ctx;

	fz_act(f, id, args, len);
	return (fz_next(f) & 3) == 0 ? -EPERM : 0;
}

static void cb_data(void *ctx, uint32_t id, uint16_t flags, const uint8_t *d, size_t len)
{
	fz_act(ctx, id, d, len);
}

static void cb_ctrl(void *ctx, uint32_t id, const uint8_t *d, size_t len)
{
	fz_act(ctx, id, d, len);
}

static void cb_window(void *ctx, uint32_t id, uint32_t credit)
{
	fz_act(ctx, id, NULL, 0);
}

static void cb_close(void *ctx, uint32_t id)
{
	fz_act(ctx, id, NULL, 0);
}

static void cb_reset(void *ctx, uint32_t id)
{
	struct fz *f = ctx;

	(void)mux_get_user(f->m, id);
	fz_act(ctx, id, NULL, 0);
}

static void cb_hello(void *ctx, const uint8_t *d, size_t len)
{
	fz_act(ctx, 0, d, len);
}

static const struct mux_ops fz_ops = {
	.on_open = cb_open, .on_data = cb_data, .on_ctrl = cb_ctrl, .on_window = cb_window,
	.on_close = cb_close, .on_reset = cb_reset, .on_hello = cb_hello,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { 0 };
	const uint8_t *tx;

	if (size < 3)
		return 0;
	f.m = mux_new(data[0] & 1, &fz_ops, &f);
	if (!f.m)
		return 0;
	mux_set_hunting(f.m, data[0] & 2);
	f.seed = (uint32_t)data[1] << 8 | data[2];
	data += 3;
	size -= 3;
	while (size > 0) {
		size_t avail, n;
		uint8_t *buf = mux_rx_buf(f.m, &avail);

		if (!buf || avail == 0)
			abort(); /* contract: always room for a read */
		n = fz_next(&f) % 64 == 0 ? size : 1 + fz_next(&f) % 97;
		n = n < size ? n : size;
		n = n < avail ? n : avail;
		memcpy(buf, data, n);
		if (mux_rx_done(f.m, n) < 0)
			mux_session_reset(f.m, true);
		data += n;
		size -= n;
		/* Drain output in odd-sized pieces; the pending bytes must stay readable. */
		n = mux_tx_peek(f.m, &tx);
		if (n > 0) {
			volatile uint8_t sink = tx[0] ^ tx[n - 1];
			(void)sink;
			mux_tx_advance(f.m, fz_next(&f) % 2 ? n : n / 2 + 1);
		}
	}
	mux_free(f.m);
	return 0;
}
