// SPDX-License-Identifier: MIT
/* wsync_host.c: the host side of --workspace-mode sync: inotify on the workspace (every
 * directory opened beneath the workspace's dirfd with O_NOFOLLOW, so a symlink the guest
 * made never steers it), changed paths to the guest, flush/status requests and the
 * engine's reports. */
#include "wsync_host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"
#include "frame.h"
#include "mux.h"
#include "proto.h"
#include "sbxd.h"
#include "textesc.h"
#include "tlv.h"
#include "util.h"
#include "wsync_msg.h"
#include "wsync_writer.h"

#define WD_BUCKETS 4096u
#define DEPTH_MAX 128
#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | \
		    IN_MODIFY | IN_ONLYDIR | IN_EXCL_UNLINK)   /* no IN_DONT_FOLLOW: the path is /proc/self/fd/N of a directory opened O_NOFOLLOW */
#define READ_BUDGET 16   /* inotify reads per wake-up */
#define LOG_WINDOW_MS 10000u
#define LOG_MAX 20u

struct wd_ent {
	int wd;
	char *rel;             /* "" for the root */
	struct wd_ent *next;
};

struct wsync_host {
	struct evsrc ev;       /* EV_WSYNC: the inotify fd */
	struct sandbox *sb;
	int root;              /* the workspace, O_DIRECTORY */
	struct wd_ent *wds[WD_BUCKETS];
	unsigned nwatch;
	bool watch_full;       /* past WSYNC_HOST_WATCH_MAX or the kernel's limit */
	bool rescan_owed;      /* a message did not fit the channel: the engine compares all */
	uint32_t seq_sent, seq_done, seq_failed;
	uint64_t deadline_ms;  /* of the newest outstanding request */
	struct wsync_msg last; /* the engine's last state */
	bool have_state;
	char *recent[WSYNC_HOST_RECENT];
	unsigned nrecent;      /* total; recent[] is a ring */
	uint64_t log_window_ms;  /* a guest cannot flood sbxd's log: LOG_MAX events per window */
	unsigned logged, unlogged;
	/* the paths of one batch */
	uint8_t *buf;
	struct tlv_writer w;
	unsigned npaths;
	char *last_path;       /* the batch's last path: a file's burst of events is sent once */
	struct wsync_writer *writer;   /* applies the guest's batches; NULL: they take the share */
	struct wsync_host *next_dead;  /* on sbxd.wsync_hosts_dead once stopped */
};

static struct wd_ent **wd_find(struct wsync_host *h, int wd)
{
	struct wd_ent **e = &h->wds[(unsigned)wd % WD_BUCKETS];

	while (*e && (*e)->wd != wd)
		e = &(*e)->next;
	return e;
}

static void batch_begin(struct wsync_host *h)
{
	tlv_writer_init(&h->w, h->buf, FRAME_MAX_CTRL);
	tlv_put_u32(&h->w, CTRL_OP, OP_WSYNC);
	h->npaths = 0;
	free(h->last_path);
	h->last_path = NULL;
}

static void batch_send(struct wsync_host *h)
{
	struct mux *m = h->sb->chan.mux;

	if (h->rescan_owed)
		tlv_put_u32(&h->w, WS_RESCAN, 1);
	if (!h->npaths && !h->rescan_owed)
		return;
	if (!m || h->w.err || mux_send_ctrl(m, 0, h->buf, h->w.len) < 0)
		h->rescan_owed = true;
	else
		h->rescan_owed = false;
	batch_begin(h);
}

static void batch_add(struct wsync_host *h, const char *rel)
{
	size_t n = strlen(rel);

	const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;

	if (!wsync_rel_ok(rel, n) || (h->last_path && !strcmp(h->last_path, rel)))
		return;
	if (!strncmp(base, WSYNC_OWN_PREFIX, strlen(WSYNC_OWN_PREFIX)))
		return;   /* the engine's own temporary copies */
	if (h->npaths >= WS_PATHS_PER_MSG || h->w.len + n + 64 > FRAME_MAX_CTRL)
		batch_send(h);
	tlv_put_str(&h->w, WS_PATH, rel);
	h->npaths++;
	free(h->last_path);
	h->last_path = xstrdup(rel);
}

/* Watch rel and the directories below it; every step beneath the workspace's dirfd,
 * never through a symlink. */
static void watch_tree(struct wsync_host *h, int pfd, const char *name, const char *rel, int depth)
{
	_cleanup_close_ int fd = -1;
	char proc[64];
	DIR *d;
	struct dirent *de;
	struct wd_ent **e;
	int wd;

	if (depth > DEPTH_MAX || h->nwatch >= WSYNC_HOST_WATCH_MAX) {
		h->watch_full = true;
		return;
	}
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(h->ev.fd, proc, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOSPC)
			h->watch_full = true;
		return;
	}
	e = wd_find(h, wd);
	if (*e) {
		free((*e)->rel);
	} else {
		*e = xcalloc(1, sizeof(**e));
		(*e)->wd = wd;
		h->nwatch++;
	}
	(*e)->rel = xstrdup(rel);
	d = fdopendir(TAKE_FD(fd));
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *c = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		if (strlen(c) < WS_PATH_MAX)
			watch_tree(h, dirfd(d), de->d_name, c, depth + 1);
	}
	closedir(d);
}

/* The directory rel's parent, opened beneath the root without following symlinks. */
static int open_parent(struct wsync_host *h, const char *rel, const char **ret_name)
{
	_cleanup_free_ char *copy = xstrdup(rel);
	char *slash = strrchr(copy, '/'), *save = NULL;
	int fd = dup(h->root);

	*ret_name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	if (!slash || fd < 0)
		return fd < 0 ? -errno : fd;
	*slash = 0;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return -errno;
		fd = next;
	}
	return fd;
}

/* The event is the writer's own write: the path is in the state the writer left it
 * (which the engine already counts as agreed), so the guest need not compare it. */
static bool is_echo(struct wsync_host *h, const char *rel)
{
	const struct ws_state *wrote = wsync_writer_wrote(h->writer, rel);
	struct ws_state now;
	const char *name;
	int pfd;
	bool same;

	if (!wrote)
		return false;
	pfd = open_parent(h, rel, &name);
	same = ws_state_at(pfd, name, &now) == 0 && ws_state_same(&now, wrote);
	if (pfd >= 0)
		close(pfd);
	return same;
}

static void free_wds(struct wsync_host *h)
{
	for (unsigned i = 0; i < WD_BUCKETS; i++)
		for (struct wd_ent *e = h->wds[i], *next; e; e = next) {
			next = e->next;
			free(e->rel);
			free(e);
		}
	memset(h->wds, 0, sizeof(h->wds));
	h->nwatch = 0;
}

void wsync_host_start(struct sandbox *sb)
{
	struct wsync_host *h;

	if (!sb->spec.ws_sync || sb->ws)
		return;
	h = xcalloc(1, sizeof(*h));
	h->sb = sb;
	h->buf = xmalloc(FRAME_MAX_CTRL);
	h->root = open(sb->spec.workspace, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	h->ev = (struct evsrc){ .kind = EV_WSYNC, .fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), .obj = h };
	sb->ws = h;
	batch_begin(h);
	if (h->root < 0 || h->ev.fd < 0 || ev_set(sb->d->epfd, &h->ev, EPOLLIN) < 0) {
		log_warn("%s: workspace sync: cannot watch %s (%m); the guest compares everything every 10 s",
			 sb->spec.name, sb->spec.workspace);
		h->watch_full = true;
		return;
	}
	watch_tree(h, h->root, ".", "", 0);
	h->writer = wsync_writer_start(sb);
	if (h->watch_full)
		log_warn("%s: workspace sync: more than %u directories (or the inotify limit): host changes "
			 "reach the guest by periodic comparison", sb->spec.name, h->nwatch);
	/* the guest compared everything before READY; what changed since is caught here */
	h->rescan_owed = true;
	batch_send(h);
}

void wsync_host_stop(struct sandbox *sb)
{
	struct wsync_host *h = sb->ws;

	if (!h)
		return;
	if (h->ev.fd >= 0) {
		ev_del(sb->d->epfd, &h->ev);
		close(h->ev.fd);
		h->ev.fd = -1;
	}
	if (h->root >= 0)
		close(h->root);
	free_wds(h);
	wsync_writer_stop(h->writer);
	for (unsigned i = 0; i < WSYNC_HOST_RECENT; i++)
		free(h->recent[i]);
	free(h->buf);
	free(h->last_path);
	/* an inotify event of this loop turn may still name it: freed at the turn's end */
	h->next_dead = sb->d->wsync_hosts_dead;
	sb->d->wsync_hosts_dead = h;
	sb->ws = NULL;
}

void wsync_host_reap(struct sbxd *d)
{
	while (d->wsync_hosts_dead) {
		struct wsync_host *h = d->wsync_hosts_dead;

		d->wsync_hosts_dead = h->next_dead;
		free(h);
	}
	wsync_writer_reap(d);
}

static void on_inotify_event(struct wsync_host *h, const struct inotify_event *ev)
{
	struct wd_ent **e;

	if (ev->mask & IN_Q_OVERFLOW) {
		h->rescan_owed = true;
		return;
	}
	e = wd_find(h, ev->wd);
	if (!*e)
		return;
	if (ev->mask & IN_IGNORED) {
		struct wd_ent *x = *e;
		*e = x->next;
		free(x->rel);
		free(x);
		h->nwatch--;
		return;
	}
	if (!ev->len || !ev->name[0])
		return;
	_cleanup_free_ char *rel = *(*e)->rel ? xasprintf("%s/%s", (*e)->rel, ev->name) : xstrdup(ev->name);
	if (strlen(rel) >= WS_PATH_MAX)
		return;
	if (!is_echo(h, rel))
		batch_add(h, rel);
	if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR)) {
		const char *name;
		_cleanup_close_ int pfd = open_parent(h, rel, &name);
		if (pfd >= 0)
			watch_tree(h, pfd, name, rel, 1);
	}
}

void wsync_host_on_event(struct evsrc *ev, uint32_t events)
{
	struct wsync_host *h = ev->obj;
	_Alignas(struct inotify_event) char buf[64 * 1024];

	if (h->ev.fd < 0)
		return;   /* stopped earlier in this loop turn */
	for (int i = 0; i < READ_BUDGET; i++) {
		ssize_t n = read(h->ev.fd, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (char *p = buf; p + sizeof(struct inotify_event) <= buf + n;) {
			const struct inotify_event *ie = (const struct inotify_event *)p;

			p += sizeof(*ie) + ie->len;
			on_inotify_event(h, ie);
		}
	}
	batch_send(h);
}

int wsync_host_request(struct sandbox *sb, bool flush, uint32_t timeout_ms)
{
	struct wsync_host *h = sb->ws;
	uint8_t buf[64];
	struct tlv_writer w;
	int r;

	if (!h || !sb->chan.mux)
		return -ENOTCONN;
	if (h->ev.fd >= 0)
		wsync_host_on_event(&h->ev, EPOLLIN);   /* host changes first, in order */
	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, OP_WSYNC);
	tlv_put_u32(&w, WS_SEQ, h->seq_sent + 1);
	tlv_put_u32(&w, WS_FLUSH, flush);
	r = mux_send_ctrl(sb->chan.mux, 0, buf, w.len);
	if (r < 0)
		return r;
	h->deadline_ms = now_ms() + (timeout_ms ? timeout_ms : WSYNC_FLUSH_TIMEOUT_MS);
	return (int)++h->seq_sent;
}

int wsync_host_answered(struct sandbox *sb, uint32_t seq)
{
	struct wsync_host *h = sb->ws;

	if (!h)
		return -ENOTCONN;
	if (h->seq_done >= seq)
		return 1;
	return h->seq_failed >= seq ? -ETIMEDOUT : 0;
}

void wsync_host_tick(struct sandbox *sb, uint64_t now)
{
	struct wsync_host *h = sb->ws;

	if (!h)
		return;
	if (h->rescan_owed)
		batch_send(h);
	if (h->seq_done < h->seq_sent && h->seq_failed < h->seq_sent && now > h->deadline_ms) {
		h->seq_failed = h->seq_sent;
		log_warn("%s: workspace sync: the guest did not answer request %u in time", sb->spec.name, h->seq_sent);
		if (sb->d->sandbox_changed)
			sb->d->sandbox_changed(sb->d, sb);
	}
}

static void recent_add(struct wsync_host *h, char *text)
{
	unsigned i = h->nrecent++ % WSYNC_HOST_RECENT;

	free(h->recent[i]);
	h->recent[i] = text;
}

void wsync_host_on_put(struct sandbox *sb, const uint8_t *data, size_t len)
{
	wsync_writer_on_put(sb, sb->ws ? sb->ws->writer : NULL, data, len);
}

void wsync_host_on_msg(struct sandbox *sb, const uint8_t *data, size_t len)
{
	struct wsync_host *h = sb->ws;
	struct wsync_msg *m = xmalloc(sizeof(*m));
	const char *err = NULL;

	if (wsync_msg_parse(data, len, m, &err) < 0) {
		log_warn("%s: workspace sync: a malformed message from the guest (%s), ignored", sb->spec.name, err);
		goto out;
	}
	if (!h)
		goto out;
	if (m->op == OP_WSYNC_EVENT) {
		_cleanup_free_ char *p = text_escape(m->path, strlen(m->path), 0);
		_cleanup_free_ char *t = text_escape(m->text, strlen(m->text), 0);
		char stamp[32];
		struct tm tm;
		time_t now = time(NULL);

		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (now_ms() >= h->log_window_ms + LOG_WINDOW_MS) {
			if (h->unlogged)
				log_warn("%s: workspace sync: %u more events not logged (see sbx sync status)",
					 sb->spec.name, h->unlogged);
			h->log_window_ms = now_ms();
			h->logged = h->unlogged = 0;
		}
		if (h->logged++ < LOG_MAX)
			log_warn("%s: workspace sync: %s %s: %s", sb->spec.name,
				 m->kind == WSEV_CONFLICT ? "conflict at" : "not synced:", p, t);
		else
			h->unlogged++;
		recent_add(h, xasprintf("%s %s %s: %s", stamp, m->kind == WSEV_CONFLICT ? "conflict" : "not-synced", p, t));
		goto out;
	}
	h->last = *m;
	h->have_state = true;
	if (m->seq && m->seq <= h->seq_sent && m->seq > h->seq_done) {
		h->seq_done = m->seq;
		if (sb->d->sandbox_changed)
			sb->d->sandbox_changed(sb->d, sb);
	}
out:
	free(m);
}

struct json_object *wsync_host_json(struct sandbox *sb)
{
	struct wsync_host *h = sb->ws;
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();

	if (!h) {
		json_object_put(arr);
		return o;
	}
	json_object_object_add(o, "pending", json_object_new_int64(h->last.pending));
	json_object_object_add(o, "conflicts", json_object_new_int64(h->last.conflicts));
	json_object_object_add(o, "errors", json_object_new_int64(h->last.errors));
	json_object_object_add(o, "last_sync", json_object_new_int64(h->last.last_sync));
	json_object_object_add(o, "flushed", json_object_new_boolean(h->last.flushed));
	json_object_object_add(o, "host_watches", json_object_new_int64(h->nwatch));
	json_object_object_add(o, "host_watch_full", json_object_new_boolean(h->watch_full));
	for (unsigned i = h->nrecent > WSYNC_HOST_RECENT ? h->nrecent - WSYNC_HOST_RECENT : 0; i < h->nrecent; i++)
		json_object_array_add(arr, json_object_new_string(h->recent[i % WSYNC_HOST_RECENT]));
	json_object_object_add(o, "recent", arr);
	return o;
}
