// SPDX-License-Identifier: MIT
/* test_wswriter.c: the sync-mode writer: its batch parser (hostile input) and its
 * application of items in a scratch workspace (expected states, symlinks never
 * followed, modes masked, the echo pairs of its answer). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "frame.h"
#include "proto.h"
#include "testlib.h"
#include "tlv.h"
#include "util.h"
#include "wswriter.h"
#include "wswriter_msg.h"

static struct ws_batch B;

static void put_item(struct tlv_writer *w, uint32_t kind, const char *path, const struct ws_state *expect,
		     int mode, int64_t mtime, const char *data)
{
	uint8_t st[WS_STATE_LEN], t8[8];

	ws_state_encode(expect, st);
	for (int i = 0; i < 8; i++)
		t8[i] = (uint8_t)((uint64_t)mtime >> (8 * i));
	tlv_put_u32(w, WS_ITEM, kind);
	if (path)
		tlv_put(w, WS_PATH, path, (uint32_t)strlen(path));
	tlv_put(w, WS_EXPECT, st, sizeof(st));
	if (mode >= 0)
		tlv_put_u32(w, WS_MODE, (uint32_t)mode);
	if (mtime)
		tlv_put(w, WS_MTIME, t8, 8);
	if (data)
		tlv_put(w, WS_DATA, data, (uint32_t)strlen(data));
}

static void begin(struct tlv_writer *w, uint8_t *buf, size_t cap)
{
	tlv_writer_init(w, buf, cap);
	tlv_put_u32(w, CTRL_OP, OP_WSYNC_PUT);
	tlv_put_u32(w, WS_BATCH, 9);
}

static int parse(const uint8_t *b, size_t n)
{
	const char *err = NULL;
	int r = wswriter_msg_parse(b, n, &B, &err);

	if (r < 0)
		CHECK(err && *err);
	return r;
}

static void test_parse(void)
{
	static uint8_t buf[FRAME_MAX_CTRL];
	struct tlv_writer w;
	const struct ws_state none = { 0 }, file = { .type = 'f', .mode = 0644, .size = 3, .mtime_ns = 5 };
	static const char *bad_paths[] = { "/abs", "a/../b", "..", ".", "a//b", "a/", "./a", "a/.sbx-wsync.x" };

	begin(&w, buf, sizeof(buf));
	put_item(&w, WSI_FILE, "src/a.c", &none, 0644, 1500000000123456789LL, "abc");
	put_item(&w, WSI_SYMLINK, "l", &file, -1, 7, "../t");
	put_item(&w, WSI_MKDIR, "d", &none, 0755, 0, NULL);
	put_item(&w, WSI_REMOVE, "old", &file, -1, 0, NULL);
	tlv_put_u32(&w, 999, 1);   /* unknown: skipped */
	CHECK(parse(buf, w.len) == 0);
	CHECK(B.id == 9 && B.n == 4);
	CHECK_STR(B.item[0].path, "src/a.c");
	CHECK(B.item[0].kind == WSI_FILE && B.item[0].mode == 0644 && B.item[0].mtime_ns == 1500000000123456789LL);
	CHECK(B.item[0].data_len == 3 && !memcmp(B.item[0].data, "abc", 3) && B.item[0].expect.type == 0);
	CHECK(B.item[1].expect.type == 'f' && B.item[1].expect.size == 3 && B.item[1].data_len == 4);
	CHECK(B.item[3].kind == WSI_REMOVE);

	for (size_t i = 0; i < ARRAY_SIZE(bad_paths); i++) {
		begin(&w, buf, sizeof(buf));
		put_item(&w, WSI_MKDIR, bad_paths[i], &none, 0755, 0, NULL);
		CHECK(parse(buf, w.len) == -EPROTO);
	}
	/* a path with NUL */
	begin(&w, buf, sizeof(buf));
	tlv_put_u32(&w, WS_ITEM, WSI_MKDIR);
	tlv_put(&w, WS_PATH, "a\0b", 3);
	CHECK(parse(buf, w.len) == -EPROTO);
	/* missing fields, fields of another kind, twice, bad values */
	begin(&w, buf, sizeof(buf));
	put_item(&w, WSI_FILE, "f", &none, 0644, 0, "x");   /* no mtime */
	CHECK(parse(buf, w.len) == -EPROTO);
	begin(&w, buf, sizeof(buf));
	put_item(&w, WSI_REMOVE, "f", &file, 0644, 0, NULL);   /* a mode on a remove */
	CHECK(parse(buf, w.len) == -EPROTO);
	begin(&w, buf, sizeof(buf));
	put_item(&w, WSI_MKDIR, "f", &none, 04755, 0, NULL);   /* setuid */
	CHECK(parse(buf, w.len) == -EPROTO);
	begin(&w, buf, sizeof(buf));
	put_item(&w, WSI_REMOVE, "f", &none, -1, 0, NULL);   /* remove of nothing */
	CHECK(parse(buf, w.len) == -EPROTO);
	begin(&w, buf, sizeof(buf));
	put_item(&w, WSI_SYMLINK, "f", &none, -1, 1, "");   /* empty target */
	CHECK(parse(buf, w.len) == -EPROTO);
	begin(&w, buf, sizeof(buf));
	put_item(&w, WSI_MKDIR, "f", &none, 0755, 0, NULL);
	tlv_put_u32(&w, WS_MODE, 0700);
	CHECK(parse(buf, w.len) == -EPROTO);
	begin(&w, buf, sizeof(buf));
	put_item(&w, 77, "f", &none, 0755, 0, NULL);
	CHECK(parse(buf, w.len) == -EPROTO);
	{
		uint8_t st[WS_STATE_LEN] = { 'x' };   /* unknown type */
		begin(&w, buf, sizeof(buf));
		tlv_put_u32(&w, WS_ITEM, WSI_REMOVE);
		tlv_put_str(&w, WS_PATH, "f");
		tlv_put(&w, WS_EXPECT, st, sizeof(st));
		CHECK(parse(buf, w.len) == -EPROTO);
	}
	/* data over the bound */
	{
		char *big = xmalloc(WS_INLINE_MAX + 2);
		memset(big, 'a', WS_INLINE_MAX + 1);
		big[WS_INLINE_MAX + 1] = 0;
		begin(&w, buf, sizeof(buf));
		put_item(&w, WSI_FILE, "f", &none, 0644, 1, big);
		CHECK(parse(buf, w.len) == -EPROTO);
		free(big);
	}
	/* too many items */
	begin(&w, buf, sizeof(buf));
	for (unsigned i = 0; i <= WS_ITEMS_PER_MSG; i++)
		put_item(&w, WSI_MKDIR, "d", &none, 0755, 0, NULL);
	CHECK(w.err == 0 && parse(buf, w.len) == -EPROTO);
	/* not a batch; a truncated TLV */
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, OP_WSYNC_PUT);
	CHECK(parse(buf, w.len) == -EPROTO);
	begin(&w, buf, sizeof(buf));
	put_item(&w, WSI_MKDIR, "d", &none, 0755, 0, NULL);
	CHECK(parse(buf, w.len - 1) == -EPROTO);
}

static void written(void *arg, const char *path, const struct ws_state *st)
{
	int *n = arg;

	(*n)++;
	CHECK(strlen(path) > 0 && st->type != 'o');
}

static void test_apply(void)
{
	char tmpl[] = "/tmp/sbx-wswriter-XXXXXX", ws[4096], out[4096], p[4096 * 2];
	static uint8_t buf[FRAME_MAX_CTRL], ans[FRAME_MAX_CTRL];
	struct tlv_writer w;
	struct ws_state now, none = { 0 };
	struct stat st;
	int root, n = 0;
	size_t alen;
	char lt[64];

	CHECK(mkdtemp(tmpl) != NULL);
	snprintf(ws, sizeof(ws), "%s/ws", tmpl);
	snprintf(out, sizeof(out), "%s/outside", tmpl);
	CHECK(mkdir(ws, 0755) == 0 && mkdir(out, 0755) == 0);
	snprintf(p, sizeof(p), "%s/d", ws);
	CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/evil", ws);
	CHECK(symlink(out, p) == 0);   /* a directory the guest replaced by a link outside */
	root = open(ws, O_RDONLY | O_DIRECTORY);
	CHECK(root >= 0);

	begin(&w, buf, sizeof(buf));
	put_item(&w, WSI_FILE, "d/new", &none, 04755, 1500000000000000007LL, "hello");   /* mode masked below */
	CHECK(parse(buf, w.len) == -EPROTO);   /* setuid refused by the parser */
	begin(&w, buf, sizeof(buf));
	put_item(&w, WSI_FILE, "d/new", &none, 0751, 1500000000000000007LL, "hello");
	put_item(&w, WSI_FILE, "evil/planted", &none, 0644, 1, "x");        /* through the link: refused */
	put_item(&w, WSI_SYMLINK, "d/link", &none, -1, 1, "/etc/passwd");   /* a link stays a link */
	put_item(&w, WSI_FILE, "d/link/x", &none, 0644, 1, "x");            /* not through it */
	put_item(&w, WSI_MKDIR, "d/sub", &none, 0700, 0, NULL);
	put_item(&w, WSI_FILE, "d/sub/f", &none, 0600, 1, "in sub");
	alen = wswriter_handle(root, buf, w.len, &B, ans, sizeof(ans));
	CHECK(alen > 0 && B.n == 6);
	{
		struct tlv_reader rd;
		const uint8_t *v;
		uint32_t vlen, res[8], k = 0;
		uint16_t tag;

		tlv_reader_init(&rd, ans, alen);
		while (tlv_next(&rd, &tag, &v, &vlen) > 0)
			if (tag == WS_RESULT && k < 8)
				CHECK(tlv_u32(v, vlen, &res[k++]) == 0);
		CHECK(k == 6);
		CHECK(res[0] == 0 && res[1] == ELOOP && res[2] == 0 && (res[3] == ELOOP || res[3] == ENOTDIR));
		CHECK(res[4] == 0 && res[5] == 0);
	}
	CHECK(wswriter_done_written(ans, alen, written, &n) == 4 && n == 4);
	snprintf(p, sizeof(p), "%s/d/new", ws);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0751 && st.st_size == 5);
	CHECK(st.st_mtim.tv_sec == 1500000000 && st.st_mtim.tv_nsec == 7);
	snprintf(p, sizeof(p), "%s/d/link", ws);
	CHECK(readlink(p, lt, sizeof(lt)) == 11 && !memcmp(lt, "/etc/passwd", 11));
	snprintf(p, sizeof(p), "%s/planted", out);
	CHECK(access(p, F_OK) < 0);
	{
		DIR *d = opendir(out);
		struct dirent *de;
		int entries = 0;
		while ((de = readdir(d)))
			entries += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
		closedir(d);
		CHECK(entries == 0);
	}

	/* expected states: a host change since the engine compared is never overwritten */
	{
		int dfd = openat(root, "d", O_RDONLY | O_DIRECTORY);
		struct ws_state agreed;
		struct ws_item it = { .kind = WSI_FILE, .mode = 0644, .mtime_ns = 2, .data = (const uint8_t *)"guest",
				      .data_len = 5 };

		CHECK(ws_state_at(dfd, "new", &agreed) == 0 && agreed.type == 'f');
		snprintf(it.path, sizeof(it.path), "d/new");
		it.expect = none;   /* the engine thinks it is new: it is not */
		CHECK(wswriter_apply(root, &it, &now) == WSR_MISMATCH);
		it.expect = agreed;
		snprintf(p, sizeof(p), "%s/d/new", ws);
		{
			FILE *f = fopen(p, "w");   /* the host changes it meanwhile */
			fputs("host!", f);
			fclose(f);
		}
		CHECK(wswriter_apply(root, &it, &now) == WSR_MISMATCH);
		{
			char c[16] = { 0 };
			FILE *f = fopen(p, "r");
			CHECK(fread(c, 1, sizeof(c), f) == 5 && !strcmp(c, "host!"));
			fclose(f);
		}
		CHECK(ws_state_at(dfd, "new", &agreed) == 0);
		it.expect = agreed;
		CHECK(wswriter_apply(root, &it, &now) == 0 && now.type == 'f' && now.size == 5 && now.mode == 0644);
		/* removes: only what was agreed; a directory only when empty */
		it = (struct ws_item){ .kind = WSI_REMOVE, .expect = agreed };
		snprintf(it.path, sizeof(it.path), "d/new");
		CHECK(wswriter_apply(root, &it, &now) == WSR_MISMATCH);
		it.expect = now;
		{
			struct ws_state cur;
			CHECK(ws_state_at(dfd, "new", &cur) == 0);
			it.expect = cur;
		}
		CHECK(wswriter_apply(root, &it, &now) == 0 && now.type == 0);
		CHECK(ws_state_at(dfd, "sub", &agreed) == 0 && agreed.type == 'd');
		it.expect = agreed;
		snprintf(it.path, sizeof(it.path), "d/sub");
		CHECK(wswriter_apply(root, &it, &now) == ENOTEMPTY);
		close(dfd);
	}
	close(root);
	{
		char cmd[4096 + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
		CHECK(system(cmd) == 0);
	}
}

int main(void)
{
	test_parse();
	test_apply();
	TEST_DONE();
}
