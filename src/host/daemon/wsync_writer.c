// SPDX-License-Identifier: MIT
/* wsync_writer.c: sbxd's side of the sync-mode writer: its start and stop, the relay of
 * batches and answers, and the paths it wrote (the watcher's echo filter). */
#include "wsync_writer.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ev.h"
#include "frame.h"
#include "mux.h"
#include "paths.h"
#include "proc.h"
#include "proto.h"
#include "sbxd.h"
#include "tlv.h"
#include "util.h"
#include "wswriter.h"
#include "wswriter_msg.h"

#define ECHO_BUCKETS 4096u

struct echo {
	struct echo *next;
	uint64_t at_ms;
	struct ws_state st;
	char rel[];
};

struct wsync_writer {
	struct evsrc ev;        /* EV_WSYNC_WRITER: our end of the pair */
	struct sandbox *sb;
	pid_t pid;
	uint64_t start_time;
	struct echo *echo[ECHO_BUCKETS];
	unsigned necho;
	uint8_t *buf;
	struct wsync_writer *next_dead;   /* on sbxd.wsync_writers_dead once stopped */
};

static void writer_free(struct wsync_writer *w);

static unsigned echo_hash(const char *s)
{
	unsigned h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % ECHO_BUCKETS;
}

/* Drop the expired entries of a chain, then find rel there. */
static struct echo **echo_find(struct wsync_writer *w, const char *rel)
{
	struct echo **e = &w->echo[echo_hash(rel)];
	uint64_t now = now_ms();

	while (*e) {
		if ((*e)->at_ms + WSYNC_ECHO_MS < now) {
			struct echo *x = *e;
			*e = x->next;
			free(x);
			w->necho--;
			continue;
		}
		if (!strcmp((*e)->rel, rel))
			return e;
		e = &(*e)->next;
	}
	return e;
}

static void echo_add(void *arg, const char *rel, const struct ws_state *st)
{
	struct wsync_writer *w = arg;
	struct echo **e = echo_find(w, rel);
	size_t n = strlen(rel);

	if (!*e) {
		if (w->necho >= WSYNC_ECHO_MAX)
			return;
		*e = xcalloc(1, sizeof(**e) + n + 1);
		memcpy((*e)->rel, rel, n + 1);
		w->necho++;
	}
	(*e)->st = *st;
	(*e)->at_ms = now_ms();
}

const struct ws_state *wsync_writer_wrote(struct wsync_writer *w, const char *rel)
{
	struct echo **e;

	if (!w || !w->necho)
		return NULL;
	e = echo_find(w, rel);
	return *e ? &(*e)->st : NULL;
}

struct wsync_writer *wsync_writer_start(struct sandbox *sb)
{
	struct wsync_writer *w = xcalloc(1, sizeof(*w));
	int sock = -1, r;

	r = wswriter_spawn(sb->d->p->self_exe, sb->spec.workspace, sb->spec.uid, sb->spec.gid, sb->protect_git,
			   STDERR_FILENO, &w->pid, &sock);
	if (r < 0) {
		log_warn("%s: workspace sync: the host writer did not start (%s): guest changes go through the share",
			 sb->spec.name, strerror(-r));
		free(w);
		return NULL;
	}
	w->sb = sb;
	w->start_time = proc_start_time(w->pid);
	w->buf = xmalloc(FRAME_MAX_CTRL);
	w->ev = (struct evsrc){ .kind = EV_WSYNC_WRITER, .fd = sock, .obj = w };
	(void)fd_set_nonblock(sock, true);
	if (ev_set(sb->d->epfd, &w->ev, EPOLLIN) < 0) {
		log_warn("%s: workspace sync: cannot watch the host writer: %m", sb->spec.name);
		wsync_writer_stop(w);
		return NULL;
	}
	return w;
}

void wsync_writer_stop(struct wsync_writer *w)
{
	if (!w)
		return;
	if (w->ev.fd >= 0) {
		ev_del(w->sb->d->epfd, &w->ev);
		close(w->ev.fd);   /* the writer ends at end of file */
		w->ev.fd = -1;
	}
	if (w->pid > 0 && proc_alive(w->pid, w->start_time))
		(void)kill(w->pid, SIGKILL);   /* sbxd reaps it (subreaper) */
	w->next_dead = w->sb->d->wsync_writers_dead;
	w->sb->d->wsync_writers_dead = w;
}

void wsync_writer_reap(struct sbxd *d)
{
	while (d->wsync_writers_dead) {
		struct wsync_writer *w = d->wsync_writers_dead;

		d->wsync_writers_dead = w->next_dead;
		writer_free(w);
	}
}

static void writer_free(struct wsync_writer *w)
{
	for (unsigned i = 0; i < ECHO_BUCKETS; i++)
		for (struct echo *e = w->echo[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	free(w->buf);
	free(w);
}

/* No writer, or it would not take the batch: an answer without results, so the engine
 * takes each item through the share. */
static void answer_none(struct sandbox *sb, const uint8_t *data, size_t len)
{
	struct tlv_writer tw;
	uint32_t id = 0;
	uint8_t out[64];

	(void)tlv_find_u32(data, len, WS_BATCH, &id);
	tlv_writer_init(&tw, out, sizeof(out));
	tlv_put_u32(&tw, CTRL_OP, OP_WSYNC_PUT_DONE);
	tlv_put_u32(&tw, WS_BATCH, id);
	if (sb->chan.mux)
		(void)mux_send_ctrl(sb->chan.mux, 0, out, tw.len);
}

void wsync_writer_on_put(struct sandbox *sb, struct wsync_writer *w, const uint8_t *data, size_t len)
{
	if (w && w->ev.fd >= 0 && send(w->ev.fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len)
		return;
	if (w)
		log_debug("%s: workspace sync: the writer did not take a batch: %m", sb->spec.name);
	answer_none(sb, data, len);
}

void wsync_writer_on_event(struct evsrc *ev, uint32_t events)
{
	struct wsync_writer *w = ev->obj;
	struct sandbox *sb = w->sb;

	if (w->ev.fd < 0)
		return;   /* stopped earlier in this loop turn */
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(w->ev.fd, w->buf, FRAME_MAX_CTRL, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			log_warn("%s: workspace sync: the host writer stopped; guest changes go through the share",
				 sb->spec.name);
			ev_del(sb->d->epfd, &w->ev);
			close(w->ev.fd);
			w->ev.fd = -1;
			return;
		}
		(void)wswriter_done_written(w->buf, (size_t)n, echo_add, w);
		if (sb->chan.mux)
			(void)mux_send_ctrl(sb->chan.mux, 0, w->buf, (size_t)n);
	}
}
