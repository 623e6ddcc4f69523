// SPDX-License-Identifier: MIT
/* sbxd_conn.c: the CLI's connection to sbxd (in sbxd, a "client" is the other end):
 * start sbxd on demand, requests, attached exec sessions. */
#include "sbxd_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>

#include "frame.h"
#include "mux.h"
#include "progress.h"
#include "proto.h"
#include "sock.h"
#include "textesc.h"
#include "tlv.h"
#include "util.h"

#define DAEMON_START_TIMEOUT_MS 15000
#define EXIT_SBX_ERROR 125
#define BOOT_SPINNER_AFTER_MS 300

struct sbxd_conn {
	int fd;
	struct mux *mux;
	struct json_object *resp;   /* answer to the pending request */
	/* the "status" of sbxd_ask_stale() is unanswered: the next answer on stream 0 is
	 * its (sbxd answers in order) */
	bool status_pending;
	/* exec session */
	uint32_t id;
	bool ready, remote_closed, reset, local_closed;
	bool have_status, had_error;
	bool ws_share;      /* the session's READY said: no sync-mode workspace */
	int status;
	/* where the session's stdio goes: the terminal's, or sbxd_exec_fds()'s */
	int in_fd, out_fd;
	bool fds_mode;      /* out_fd failing resets the session; stderr is escaped */
	bool out_failed;
};

/* Error text from sbxd, often the guest's own words (an exec that failed, the console
 * of a VM that did not boot): never raw on the terminal. Lines stay lines. */
static void print_error(const char *msg, size_t len)
{
	_cleanup_free_ char *e = text_escape(msg, MIN(len, (size_t)8192), ESC_KEEP_NL_TAB);

	progress_clear(); /* a boot spinner */
	fprintf(stderr, "sbx: %s\n", e);
}

/* The answer to sbxd_ask_stale()'s "status": a note when sbxd runs an older build. */
static void status_answer(const uint8_t *data, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *resp = json_tokener_parse_ex(tok, (const char *)data, (int)len), *v;

	if (json_object_object_get_ex(resp, "stale", &v) && json_object_get_boolean(v) && !progress_quiet()) {
		progress_clear();
		fprintf(stderr, "sbx: note: the running daemon is from an older sbx build; "
			"'sbx daemon stop' restarts it (sandboxes keep running)\n");
	}
	json_object_put(resp);
	json_tokener_free(tok);
}

static void c_on_ctrl(void *ctx, uint32_t id, const uint8_t *data, size_t len)
{
	struct sbxd_conn *c = ctx;
	struct tlv_reader rd;
	uint16_t tag;
	const uint8_t *v;
	uint32_t vlen, op = 0;
	int32_t st;

	if (id == 0 && c->status_pending) {
		c->status_pending = false;
		status_answer(data, len);
		return;
	}
	if (id == 0) {
		struct json_tokener *tok = json_tokener_new();
		json_object_put(c->resp);
		c->resp = json_tokener_parse_ex(tok, (const char *)data, (int)len);
		if (!c->resp || json_tokener_get_error(tok) != json_tokener_success) {
			json_object_put(c->resp);
			c->resp = json_object_new_object();
			json_object_object_add(c->resp, "ok", json_object_new_boolean(0));
			json_object_object_add(c->resp, "error", json_object_new_string("malformed answer from sbxd"));
		}
		json_tokener_free(tok);
		return;
	}
	if (id != c->id)
		return;
	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &v, &vlen) > 0) {
		if (tag == CTRL_OP) {
			(void)tlv_u32(v, vlen, &op);
		} else if (tag == CTRL_MSG && op == OP_ERROR) {
			print_error((const char *)v, vlen);
			c->had_error = true;
		} else if (tag == CTRL_WS_SHARE && op == OP_READY) {
			c->ws_share = true;
		} else if (tag == CTRL_STATUS && op == OP_EXIT && tlv_i32(v, vlen, &st) == 0) {
			c->status = st < 0 || st > 255 ? 255 : st;
			c->have_status = true;
		}
	}
	if (op == OP_READY)
		c->ready = true;
}

static void c_on_data(void *ctx, uint32_t id, uint16_t flags, const uint8_t *data, size_t len)
{
	struct sbxd_conn *c = ctx;

	if (id != c->id || c->out_failed)
		return;
	if (c->fds_mode && (flags & FRAME_F_STDERR)) {
		_cleanup_free_ char *e = text_escape((const char *)data, len, ESC_KEEP_NL_TAB);
		(void)write_all(STDERR_FILENO, e, strlen(e));
	} else if (c->fds_mode) {
		/* the reader is gone (it refused the stream): stop the guest, take no more */
		if (write_all(c->out_fd, data, len) < 0) {
			c->out_failed = true;
			(void)mux_reset(c->mux, id);
			c->reset = true;
			return;
		}
	} else {
		/* Blocking write: a slow reader of our stdout slows the guest through credit. */
		(void)write_all(flags & FRAME_F_STDERR ? STDERR_FILENO : STDOUT_FILENO, data, len);
	}
	(void)mux_grant(c->mux, id, (uint32_t)len);
}

static void c_on_close(void *ctx, uint32_t id)
{
	struct sbxd_conn *c = ctx;
	if (id == c->id)
		c->remote_closed = true;
}

static void c_on_reset(void *ctx, uint32_t id)
{
	struct sbxd_conn *c = ctx;
	if (id == c->id)
		c->reset = true;
}

static int c_on_open(void *ctx, uint32_t id, const uint8_t *a, size_t l) { return -EOPNOTSUPP; }
static void c_on_window(void *ctx, uint32_t id, uint32_t credit) {}
static void c_on_hello(void *ctx, const uint8_t *d, size_t l) {}

static const struct mux_ops cli_ops = {
	.on_open = c_on_open, .on_data = c_on_data, .on_ctrl = c_on_ctrl, .on_window = c_on_window,
	.on_close = c_on_close, .on_reset = c_on_reset, .on_hello = c_on_hello,
};

int sbxd_spawn(const struct sbx_paths *p)
{
	_cleanup_free_ char *log = xasprintf("%s/sbxd.log", p->state);
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd;
		setsid();
		if (fork() != 0)
			_exit(0);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0)
			dup2(nul, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* Hold no caller's pipes open and no caller's directory busy. */
		close_range(3, ~0U, 0);
		if (chdir("/") < 0)
			_exit(127);
		execl(p->self_exe, "sbx", "daemon", "run", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

int sbxd_connect(const struct sbx_paths *p, bool autostart, struct sbxd_conn **ret)
{
	struct sbxd_conn *c;
	int fd = -1, r;
	uint64_t deadline;

	r = sock_connect_at(p->run, "sbxd.sock", &fd);
	if (r < 0 && autostart && (r == -ENOENT || r == -ECONNREFUSED)) {
		r = sbxd_spawn(p);
		if (r < 0)
			return r;
		deadline = now_ms() + DAEMON_START_TIMEOUT_MS;
		do {
			usleep(10000);
			r = sock_connect_at(p->run, "sbxd.sock", &fd);
		} while (r < 0 && now_ms() < deadline);
	}
	if (r < 0)
		return r;
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->mux = mux_new(false, &cli_ops, c);
	c->in_fd = STDIN_FILENO;
	c->out_fd = STDOUT_FILENO;
	*ret = c;
	return 0;
}

void sbxd_conn_free(struct sbxd_conn *c)
{
	if (!c)
		return;
	json_object_put(c->resp);
	mux_free(c->mux);
	close(c->fd);
	free(c);
}

static int c_flush(struct sbxd_conn *c)
{
	const uint8_t *p;
	size_t n;

	while ((n = mux_tx_peek(c->mux, &p)) > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			return -errno;
		}
		mux_tx_advance(c->mux, (size_t)w);
	}
	return 0;
}

static int c_read(struct sbxd_conn *c)
{
	size_t avail;
	uint8_t *buf = mux_rx_buf(c->mux, &avail);
	ssize_t n = recv(c->fd, buf, avail, MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	return mux_rx_done(c->mux, (size_t)n) < 0 ? -EPROTO : 1;
}

int sbxd_send_cred_env(struct sbxd_conn *c, char *const *env)
{
	size_t cap = 16;
	struct tlv_writer w;
	uint8_t *buf;
	int r;

	for (char *const *e = env; e && *e; e++)
		cap += TLV_HDR_LEN + strlen(*e);
	buf = xmalloc(cap);
	tlv_writer_init(&w, buf, cap);
	tlv_put_u32(&w, CTRL_OP, OP_CRED_ENV);
	for (char *const *e = env; e && *e; e++)
		tlv_put_str(&w, CTRL_ENV, *e);
	r = w.err ? w.err : mux_send_ctrl(c->mux, 0, buf, w.len);
	explicit_bzero(buf, cap);
	free(buf);
	return r;
}

int sbxd_ask_stale(struct sbxd_conn *c)
{
	static const char req[] = "{\"op\":\"status\"}";
	int r = mux_send_ctrl(c->mux, 0, req, sizeof(req) - 1);

	if (r == 0)
		c->status_pending = true;
	return r;
}

bool sbxd_exec_ws_share(const struct sbxd_conn *c)
{
	return c->ws_share;
}

int sbxd_request(struct sbxd_conn *c, struct json_object *req, struct json_object **ret_resp)
{
	const char *txt = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	int r = mux_send_ctrl(c->mux, 0, txt, strlen(txt));

	json_object_put(req);
	if (r < 0)
		return r;
	json_object_put(c->resp);
	c->resp = NULL;
	while (!c->resp) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		r = c_flush(c);
		if (r < 0)
			return r;
		if (r > 0)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			r = c_read(c);
			if (r < 0)
				return r;
		}
	}
	*ret_resp = TAKE_PTR(c->resp);
	return 0;
}

int sbxd_call(struct sbxd_conn *c, struct json_object *req, struct json_object **ret_resp)
{
	struct json_object *resp = NULL, *ok, *err;
	int r = sbxd_request(c, req, &resp);

	if (r < 0) {
		fprintf(stderr, "sbx: lost the connection to sbxd: %s\n", strerror(-r));
		return -1;
	}
	if (!json_object_object_get_ex(resp, "ok", &ok) || !json_object_get_boolean(ok)) {
		if (json_object_object_get_ex(resp, "error", &err) && json_object_is_type(err, json_type_string))
			print_error(json_object_get_string(err), (size_t)json_object_get_string_len(err));
		else
			fprintf(stderr, "sbx: request failed\n");
		json_object_put(resp);
		return -1;
	}
	if (ret_resp)
		*ret_resp = resp;
	else
		json_object_put(resp);
	return 0;
}

static void send_op(struct sbxd_conn *c, uint32_t op, uint16_t t1, uint32_t v1, uint16_t t2, uint32_t v2)
{
	uint8_t buf[64];
	struct tlv_writer w;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, op);
	if (t1)
		tlv_put_u32(&w, t1, v1);
	if (t2)
		tlv_put_u32(&w, t2, v2);
	(void)mux_send_ctrl(c->mux, c->id, buf, w.len);
}

static void send_resize(struct sbxd_conn *c)
{
	struct winsize ws;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		send_op(c, OP_RESIZE, CTRL_ROWS, ws.ws_row, CTRL_COLS, ws.ws_col);
}

/* A sandbox that is not ready at once is booting: a spinner on a terminal until it is. */
static void boot_spinner(struct sbxd_conn *c, struct progress **boot, uint64_t t0, const char *label)
{
	if (!c->ready && !*boot && now_ms() - t0 >= BOOT_SPINNER_AFTER_MS && progress_mode() == PROGRESS_TTY)
		*boot = progress_begin(label, 0);
	if (*boot && c->ready) {
		progress_drop(*boot);
		*boot = NULL;
	}
	progress_tick(*boot);
}

int sbxd_exec(struct sbxd_conn *c, struct json_object *req, bool forward_stdin, bool tty)
{
	const char *txt = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	struct termios saved, raw;
	bool raw_set = false, stdin_open = forward_stdin;
	sigset_t mask, old;
	int sfd, r;
	uint8_t *inbuf = xmalloc(FRAME_MAX_PAYLOAD);

	struct json_object *jn;
	char label[96];
	struct progress *boot = NULL;
	uint64_t t0 = now_ms();

	snprintf(label, sizeof(label), "starting %s",
		 json_object_object_get_ex(req, "name", &jn) ? json_object_get_string(jn) : "the sandbox");
	r = mux_open(c->mux, txt, strlen(txt), &c->id);
	json_object_put(req);
	if (r < 0) {
		free(inbuf);
		fprintf(stderr, "sbx: cannot open an exec session: %s\n", strerror(-r));
		return EXIT_SBX_ERROR;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	while (!c->remote_closed && !c->reset) {
		struct pollfd pfd[3] = {
			{ .fd = c->fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = -1, .events = POLLIN },
		};
		if (c->ready && !c->local_closed && !stdin_open) {
			(void)mux_close(c->mux, c->id);
			c->local_closed = true;
		}
		boot_spinner(c, &boot, t0, label);
		if (c->ready && tty && !raw_set && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
			raw = saved;
			cfmakeraw(&raw);
			tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
			raw_set = true;
			send_resize(c);
		}
		/* Flush after queuing, so nothing waits behind the poll below. */
		r = c_flush(c);
		if (r < 0)
			break;
		if (r > 0)
			pfd[0].events |= POLLOUT;
		if (c->ready && !c->local_closed && stdin_open && r == 0 && mux_credit(c->mux, c->id) > 0)
			pfd[2].fd = c->in_fd;
		if (poll(pfd, 3, c->ready ? -1 : PROGRESS_REDRAW_MS) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH) {
					if (tty && c->ready)
						send_resize(c);
				} else if (c->ready) {
					send_op(c, OP_SIGNAL, CTRL_SIGNO, si.ssi_signo, 0, 0);
				} else {
					/* Interrupted while the sandbox boots: give up the session. */
					(void)mux_reset(c->mux, c->id);
					c->reset = true;
					c->had_error = true;
				}
			}
		}
		if (pfd[2].fd >= 0 && (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))) {
			size_t want = MIN(mux_credit(c->mux, c->id), (size_t)FRAME_MAX_PAYLOAD);
			ssize_t n = read(c->in_fd, inbuf, want);
			if (n > 0) {
				(void)mux_write(c->mux, c->id, 0, inbuf, (size_t)n);
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				stdin_open = false;
			}
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = c_read(c);
			if (r < 0) {
				fprintf(stderr, "sbx: lost the connection to sbxd\n");
				c->had_error = true;
				break;
			}
		}
	}
	if (c->remote_closed && !c->local_closed && !c->reset) {
		(void)mux_close(c->mux, c->id);
		c->local_closed = true;
	}
	progress_drop(boot);
	(void)c_flush(c);
	if (raw_set)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(inbuf);
	if (c->have_status)
		return c->status;
	return EXIT_SBX_ERROR;
}

int sbxd_exec_fds(struct sbxd_conn *c, struct json_object *req, int in_fd, int out_fd)
{
	int r;

	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->fds_mode = true;
	r = sbxd_exec(c, req, in_fd >= 0, false);
	if (c->out_failed)
		return EXIT_SBX_ERROR;
	return r;
}
