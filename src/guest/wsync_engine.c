// SPDX-License-Identifier: MIT
/* wsync_engine.c: the workspace sync engine's loop: inotify on the local copy, the
 * host's changed paths and requests from sbx-guest, debounce, rescans, flushes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "tlv.h"
#include "util.h"
#include "wsync_int.h"

#define QUIET_MS 150u         /* a burst of changes is taken once it pauses this long */
#define MAX_WAIT_MS 700u      /* ... or after this long anyway */
#define SCAN_EVERY_MS 300000u /* a full comparison as a fallback (on the uncached share it
				* costs ~5 ms per path under TCG and holds up flushes meanwhile) */
#define SCAN_FULL_MS 10000u   /* ... more often when the watches ran out */
#define SAVE_EVERY_MS 2000u
#define MSG_MAX (64u * 1024u)
#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | \
		    IN_MODIFY | IN_ONLYDIR | IN_EXCL_UNLINK)   /* no IN_DONT_FOLLOW: the path is /proc/self/fd/N of a directory opened O_NOFOLLOW */

static void send_msg(struct wsync *w, const uint8_t *buf, size_t len)
{
	if (send(w->sock, buf, len, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
		log_warn("wsync: send: %m");
}

void wsync_event(struct wsync *w, uint32_t kind, const char *rel, const char *msg)
{
	uint8_t buf[2 * WS_PATH_MAX + 256];
	struct tlv_writer tw;

	log_info("wsync: %s: %s", rel, msg);
	tlv_writer_init(&tw, buf, sizeof(buf));
	tlv_put_u32(&tw, CTRL_OP, OP_WSYNC_EVENT);
	tlv_put_u32(&tw, WS_KIND, kind);
	tlv_put_str(&tw, WS_PATH, rel);
	tlv_put(&tw, CTRL_MSG, msg, (uint32_t)MIN(strlen(msg), (size_t)WS_PATH_MAX));
	if (tw.err == 0)
		send_msg(w, buf, tw.len);
}

static void send_state(struct wsync *w, uint32_t seq, bool flushed)
{
	uint8_t buf[256];
	struct tlv_writer tw;

	tlv_writer_init(&tw, buf, sizeof(buf));
	tlv_put_u32(&tw, CTRL_OP, OP_WSYNC_STATE);
	tlv_put_u32(&tw, WS_SEQ, seq);
	tlv_put_u32(&tw, WS_PENDING, (uint32_t)w->dirty.n);
	tlv_put_u32(&tw, WS_CONFLICTS, w->conflicts);
	tlv_put_u32(&tw, WS_ERRORS, (uint32_t)w->failed.n);
	tlv_put_u32(&tw, WS_LAST_SYNC, (uint32_t)w->last_sync);
	tlv_put_u32(&tw, WS_FLUSHED, flushed);
	if (tw.err == 0)
		send_msg(w, buf, tw.len);
}

static void dirty_add(struct wsync *w, const char *rel)
{
	uint64_t now = now_ms();

	if (wsync_is_own(rel))
		return;
	if (!w->dirty.n)
		w->first_dirty_ms = now;
	w->last_dirty_ms = now;
	if (!wmap_has(&w->dirty, rel))
		wmap_put(&w->dirty, rel, NULL);
}

/* Watch the local directory rel and every directory below it (a moved directory's
 * watches get their new paths: inotify hands back the same wd for the same inode). */
static void watch_tree(struct wsync *w, const char *rel, int depth)
{
	int fd;
	char proc[64];
	DIR *d;
	struct dirent *de;
	int wd;

	if (depth > WSYNC_DEPTH_MAX || w->nwatch >= WSYNC_WATCH_MAX) {
		w->watch_full = true;
		return;
	}
	fd = wsync_open_dir(w->lroot, rel);
	if (fd < 0)
		return;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(w->ino, proc, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOSPC)
			w->watch_full = true;
		close(fd);
		return;
	}
	{
		char key[16];
		char *old;

		snprintf(key, sizeof(key), "%d", wd);
		old = wmap_put(&w->wds, key, xstrdup(rel));
		if (!old)
			w->nwatch++;
		free(old);
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *c = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		watch_tree(w, c, depth + 1);
	}
	closedir(d);
}

static void read_inotify(struct wsync *w)
{
	_Alignas(struct inotify_event) char buf[64 * 1024];

	for (;;) {
		ssize_t n = read(w->ino, buf, sizeof(buf));

		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			char key[16];
			const char *dir;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				w->rescan = true;
				continue;
			}
			snprintf(key, sizeof(key), "%d", ev->wd);
			if (ev->mask & IN_IGNORED) {
				free(wmap_del(&w->wds, key));
				w->nwatch--;
				continue;
			}
			dir = wmap_get(&w->wds, key);
			if (!dir || !ev->len || !ev->name[0])
				continue;
			_cleanup_free_ char *rel = *dir ? xasprintf("%s/%s", dir, ev->name) : xstrdup(ev->name);
			dirty_add(w, rel);
			if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR))
				watch_tree(w, rel, 0);
		}
	}
}

/* Compare every path that changed on either side. */
static void process_dirty(struct wsync *w)
{
	size_t n;
	const char **keys;
	char **own;

	if (w->rescan) {
		w->rescan = false;
		wmap_clear(&w->dirty, NULL);
		(void)wsync_full_scan(w);
		w->last_sync = time(NULL);
		w->next_scan_ms = now_ms() + (w->watch_full ? SCAN_FULL_MS : SCAN_EVERY_MS);
		return;
	}
	if (!w->dirty.n)
		return;
	keys = wmap_keys_sorted(&w->dirty, &n);
	own = xcalloc(n + 1, sizeof(*own));
	for (size_t i = 0; i < n; i++)
		own[i] = xstrdup(keys[i]);
	free(keys);
	wmap_clear(&w->dirty, NULL);
	wsync_parents_drop(w);   /* what changed since the last pass may be a directory */
	/* sorted: a directory comes before what is in it */
	uint64_t t0 = now_ms();
	for (size_t i = 0; i < n; i++) {
		(void)wsync_path(w, own[i], false);
		free(own[i]);
	}
	free(own);
	wsync_batch_finish(w);
	log_debug("wsync: pass of %zu paths in %llu ms", n, (unsigned long long)(now_ms() - t0));
	w->last_sync = time(NULL);
}

static void on_request(struct wsync *w, const uint8_t *data, size_t len)
{
	struct tlv_reader rd;
	const uint8_t *v;
	uint32_t vlen, op = 0, seq = 0, flush = 0, x;
	uint16_t tag;

	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &v, &vlen) > 0) {
		if (tag == CTRL_OP)
			(void)tlv_u32(v, vlen, &op);
		else if (tag == WS_SEQ)
			(void)tlv_u32(v, vlen, &seq);
		else if (tag == WS_FLUSH && tlv_u32(v, vlen, &x) == 0)
			flush = x;
		else if (op != OP_WSYNC)
			continue;   /* a late answer of the writer: given up on */
		else if (tag == WS_RESCAN && tlv_u32(v, vlen, &x) == 0 && x)
			w->rescan = true;
		else if (tag == WS_PATH) {
			_cleanup_free_ char *p = NULL;
			if (tlv_str(v, vlen, &p) == 0 && wsync_rel_valid(p))
				dirty_add(w, p);
		}
	}
	if (op != OP_WSYNC || !seq)
		return;
	if (flush) {
		/* every change made before this request is in the inotify queue by now */
		read_inotify(w);
		process_dirty(w);
		if (w->base_changed)
			(void)wsync_state_save(w);
	}
	send_state(w, seq, flush && !w->rescan);
}

/* Host messages that came while the engine waited for its writer's answers. */
static void drain_deferred(struct wsync *w)
{
	uint8_t *m;
	size_t len;

	while (wsync_batch_deferred(w, &m, &len)) {
		on_request(w, m, len);
		free(m);
	}
}

static void read_sock(struct wsync *w, bool *gone)
{
	static uint8_t buf[MSG_MAX];

	for (;;) {
		ssize_t n = recv(w->sock, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			*gone = true;
			return;
		}
		if (n < 0)
			return;
		on_request(w, buf, (size_t)n);
	}
}

int wsync_engine_run(int lroot, int sroot, int statedir, int sock, bool writer)
{
	struct wsync w = { .lroot = lroot, .sroot = sroot, .statedir = statedir, .sock = sock };
	sigset_t mask;
	bool gone = false;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	w.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	w.ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w.sigfd < 0 || w.ino < 0) {
		log_err("wsync: signalfd/inotify: %m");
		return 1;
	}
	wmap_init(&w.base);
	wmap_init(&w.dirty);
	wmap_init(&w.wds);
	wmap_init(&w.failed);
	wmap_init(&w.inflight);
	wmap_init(&w.slow);
	r = wsync_state_load(&w);
	if (r < 0) {
		log_warn("wsync: state unreadable (%s): comparing from scratch", strerror(-r));
		wmap_clear(&w.base, free);
	}
	/* watches first, so that nothing written during the first comparison is missed */
	watch_tree(&w, "", 0);
	w.gen = 1;
	r = wsync_full_scan(&w);
	w.last_sync = time(NULL);
	(void)wsync_state_save(&w);
	w.saved_ms = now_ms();
	w.next_scan_ms = now_ms() + (w.watch_full ? SCAN_FULL_MS : SCAN_EVERY_MS);
	log_info("wsync: first comparison done (%zu paths%s)", w.base.n, r < 0 ? ", some left for later" : "");
	send_state(&w, 0, true);   /* sbx-guest says READY on this */
	w.fast = writer;           /* sbxd starts its writer on READY */

	while (!gone) {
		struct pollfd pfd[3] = { { .fd = w.sock, .events = POLLIN }, { .fd = w.ino, .events = POLLIN },
					 { .fd = w.sigfd, .events = POLLIN } };
		uint64_t now = now_ms(), due = w.next_scan_ms;
		int timeout;

		if (w.dirty.n)
			due = MIN(due, MIN(w.last_dirty_ms + QUIET_MS, w.first_dirty_ms + MAX_WAIT_MS));
		if (w.base_changed)
			due = MIN(due, w.saved_ms + SAVE_EVERY_MS);
		timeout = due <= now ? 0 : (int)MIN(due - now, (uint64_t)INT_MAX);
		if (poll(pfd, 3, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[2].revents) {
			log_info("wsync: stopping: a last pass");
			break;
		}
		if (pfd[1].revents)
			read_inotify(&w);
		if (pfd[0].revents)
			read_sock(&w, &gone);
		drain_deferred(&w);
		now = now_ms();
		if (now >= w.next_scan_ms)
			w.rescan = true;
		if (w.rescan || (w.dirty.n && (now >= w.last_dirty_ms + QUIET_MS || now >= w.first_dirty_ms + MAX_WAIT_MS)))
			process_dirty(&w);
		if (w.base_changed && now >= w.saved_ms + SAVE_EVERY_MS) {
			(void)wsync_state_save(&w);
			w.saved_ms = now;
		}
	}
	read_inotify(&w);
	process_dirty(&w);
	drain_deferred(&w);
	(void)wsync_state_save(&w);
	if (!gone)
		send_state(&w, 0, true);
	return 0;
}
