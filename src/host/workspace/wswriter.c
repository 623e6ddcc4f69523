// SPDX-License-Identifier: MIT
/* wswriter.c: applying the guest engine's batches to the host workspace (the writer
 * process; see wswriter.h for its isolation). Every byte of a batch is hostile. */
#include "wswriter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "tlv.h"
#include "util.h"

/* The directory of rel's parent beneath root, never through a symlink or out of it. */
static int open_parent(int root, const char *rel, const char **ret_name)
{
	const char *slash = strrchr(rel, '/');
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	char parent[WS_PATH_MAX];
	long fd;

	*ret_name = slash ? slash + 1 : rel;
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - rel), rel);
	fd = syscall(SYS_openat2, root, parent, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

static void tmp_name(char out[64])
{
	static unsigned counter;

	snprintf(out, 64, WSYNC_OWN_PREFIX "w%d.%u.tmp", (int)getpid(), ++counter);
}

static struct timespec mtime_of(int64_t ns)
{
	struct timespec t = { .tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000) };

	if (t.tv_nsec < 0) {
		t.tv_sec--;
		t.tv_nsec += 1000000000;
	}
	return t;
}

/* The host path is (still) what the engine compared against. */
static int still(int pfd, const char *name, const struct ws_state *expect)
{
	struct ws_state cur;
	int r = ws_state_at(pfd, name, &cur);

	if (r < 0)
		return r;
	return ws_state_same(&cur, expect) ? 0 : (int)WSR_MISMATCH;
}

/* Move tmp over name, only if name is still as expected. */
static int install(int pfd, const char *tmp, const char *name, const struct ws_state *expect)
{
	int r = still(pfd, name, expect);

	if (r != 0)
		return r;
	if (expect->type == 0) {
		if (renameat2(pfd, tmp, pfd, name, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST)
			return WSR_MISMATCH;
	} else if (renameat2(pfd, tmp, pfd, name, RENAME_EXCHANGE) == 0) {
		/* tmp is now what we displaced: the expected entry, unless the host changed it
		 * between the check and the exchange */
		if ((r = still(pfd, tmp, expect)) != 0) {
			if (renameat2(pfd, tmp, pfd, name, RENAME_EXCHANGE) < 0)
				log_warn("wsync writer: %s: cannot put the host's version back: %m", name);
			return r < 0 ? r : (int)WSR_MISMATCH;
		}
		(void)unlinkat(pfd, tmp, 0);
		return 0;
	}
	if (errno != EINVAL)
		return -errno;
	/* a file system without renameat2's flags: the check above is the last word */
	return renameat(pfd, tmp, pfd, name) < 0 ? -errno : 0;
}

static int put_entry(int pfd, const char *name, const struct ws_item *it)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, mtime_of(it->mtime_ns) };
	char tmp[64];
	int r = 0;

	if (it->expect.type != 0 && it->expect.type != 'f' && it->expect.type != 'l')
		return WSR_MISMATCH;   /* a directory or device: the engine's own comparison decides */
	tmp_name(tmp);
	if (it->kind == WSI_SYMLINK) {
		char target[WS_PATH_MAX];

		memcpy(target, it->data, it->data_len);
		target[it->data_len] = 0;
		if (symlinkat(target, pfd, tmp) < 0)
			return -errno;
		(void)utimensat(pfd, tmp, ts, AT_SYMLINK_NOFOLLOW);   /* best effort, as the engine */
	} else {
		int fd = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0)
			return -errno;
		r = write_all(fd, it->data, it->data_len);
		if (r == 0 && fchmod(fd, it->mode & 0777) < 0)
			r = -errno;
		if (r == 0 && futimens(fd, ts) < 0)
			r = -errno;
		if (close(fd) < 0 && r == 0)
			r = -errno;
	}
	if (r == 0)
		r = install(pfd, tmp, name, &it->expect);
	if (r != 0)
		(void)unlinkat(pfd, tmp, 0);
	return r;
}

static int make_dir(int pfd, const char *name, const struct ws_item *it)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (it->expect.type == 0) {
		if (mkdirat(pfd, name, 0700) < 0)
			return errno == EEXIST ? (int)WSR_MISMATCH : -errno;
	} else if (it->expect.type != 'd' || (r = still(pfd, name, &it->expect)) != 0) {
		return it->expect.type != 'd' ? (int)WSR_MISMATCH : r;
	}
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fchmod(fd, it->mode & 0777) < 0 ? -errno : 0;
}

static int remove_entry(int pfd, const char *name, const struct ws_item *it)
{
	int r = still(pfd, name, &it->expect);

	if (r != 0)
		return r;
	if (unlinkat(pfd, name, it->expect.type == 'd' ? AT_REMOVEDIR : 0) == 0 || errno == ENOENT)
		return 0;
	return errno == EEXIST ? -ENOTEMPTY : -errno;
}

uint32_t wswriter_apply(int root, const struct ws_item *it, struct ws_state *ret_now)
{
	const char *name;
	int pfd = open_parent(root, it->path, &name), r;

	if (pfd < 0)
		return (uint32_t)-pfd;
	switch (it->kind) {
	case WSI_FILE:
	case WSI_SYMLINK: r = put_entry(pfd, name, it); break;
	case WSI_MKDIR: r = make_dir(pfd, name, it); break;
	case WSI_REMOVE: r = remove_entry(pfd, name, it); break;
	default: r = -EINVAL; break;
	}
	if (r == 0 && ws_state_at(pfd, name, ret_now) < 0)
		memset(ret_now, 0, sizeof(*ret_now));
	close(pfd);
	return r < 0 ? (uint32_t)-r : (uint32_t)r;
}

size_t wswriter_handle(int root, const uint8_t *msg, size_t len, struct ws_batch *b, uint8_t *out, size_t cap)
{
	struct tlv_writer w, wr;
	const char *err = NULL;
	static struct ws_state now[WS_ITEMS_PER_MSG];
	static uint32_t res[WS_ITEMS_PER_MSG];
	size_t n;

	if (wswriter_msg_parse(msg, len, b, &err) < 0) {
		/* no results: the engine takes every item of the batch its own slow way */
		log_warn("wsync writer: a malformed batch (%s), refused", err);
		b->n = 0;
	}
	n = b->n;
	for (size_t i = 0; i < n; i++)
		res[i] = wswriter_apply(root, &b->item[i], &now[i]);
	tlv_writer_init(&w, out, cap);
	tlv_put_u32(&w, CTRL_OP, OP_WSYNC_PUT_DONE);
	tlv_put_u32(&w, WS_BATCH, b->id);
	for (size_t i = 0; i < n; i++)
		tlv_put_u32(&w, WS_RESULT, res[i]);
	/* what was written, for sbxd's echo filter, as long as it fits */
	for (size_t i = 0; i < n && w.err == 0; i++) {
		uint8_t st[WS_STATE_LEN];

		if (res[i] != 0)
			continue;
		wr = w;
		ws_state_encode(&now[i], st);
		tlv_put_str(&w, WS_PATH, b->item[i].path);
		tlv_put(&w, WS_EXPECT, st, sizeof(st));
		if (w.err)
			w = wr;   /* the pairs that fit; the results are all there */
		if (w.err == 0 && w.len + WS_PATH_MAX + 64 > cap)
			break;
	}
	return w.err ? 0 : w.len;
}

int wswriter_main(int sock, int root)
{
	uint8_t *in = xmalloc(FRAME_MAX_CTRL), *out = xmalloc(FRAME_MAX_CTRL);
	struct ws_batch *b = xmalloc(sizeof(*b));

	umask(077);
	for (;;) {
		ssize_t n = recv(sock, in, FRAME_MAX_CTRL, 0);
		size_t m;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		m = wswriter_handle(root, in, (size_t)n, b, out, FRAME_MAX_CTRL);
		if (m && send(sock, out, m, MSG_NOSIGNAL) < 0)
			break;
	}
	free(in);
	free(out);
	free(b);
	return 0;
}
