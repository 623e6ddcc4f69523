// SPDX-License-Identifier: MIT
/* exec.c: exec sessions: a child process per "exec" stream, its stdio over the mux, its exit status. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"
#include "exec.h"
#include "frame.h"
#include "guest.h"
#include "loop.h"
#include "mux.h"
#include "proto.h"
#include "spawn.h"
#include "tlv.h"
#include "users.h"
#include "util.h"

#define EXEC_MAX_ARGS 4096u
#define EXEC_MAX_ENV 4096u
#define EXEC_QUEUE_MAX (2u * MUX_WINDOW_INIT) /* the mux holds the host to MUX_WINDOW_INIT */
#define EXEC_QUEUE_KEEP (256u * 1024u)
#define EXEC_PTY_LINGER_MS 200u /* after the child exits, wait this long for pty EIO */
#define EXEC_MSG_MAX SPAWN_MSG_MAX

struct exec {
	enum stream_owner owner;   /* STREAM_OWNER_EXEC: first, see guest.h */
	struct guest *g;
	struct exec *next;
	uint32_t id;
	pid_t pid;            /* > 0 once forked; the child leads its own session and group */
	bool reaped;
	int status;           /* exit code, or 128 + signal */
	uint64_t exit_ms;
	bool tty;
	struct watch out, err, in, st;

	/* host -> child stdin, bounded by the credit we give the host */
	uint8_t *q;
	size_t q_off, q_len, q_cap;

	bool peer_closed;     /* host sent CLOSE */
	bool stdin_closed;    /* child's stdin is closed or unwritable: input is dropped */
	bool out_eof, err_eof, st_eof;
	char msg[EXEC_MSG_MAX];
	size_t msg_len;
	bool done;            /* OP_EXIT and CLOSE sent */
};

struct exec_req {
	char *kind;
	char **argv;
	size_t argc;
	char **env;
	size_t envc;
	char *cwd;
	char *user;
	bool tty;
	uint32_t winsz;
};

/* ---- request parsing ---- */

static void req_done(struct exec_req *q)
{
	free(q->kind);
	strv_free(q->argv, q->argc);
	strv_free(q->env, q->envc);
	free(q->cwd);
	free(q->user);
}

static int req_parse(const uint8_t *args, size_t len, struct exec_req *q)
{
	struct tlv_reader rd;
	const uint8_t *val;
	uint32_t vlen;
	uint16_t tag;
	int r;

	tlv_reader_init(&rd, args, len);
	while ((r = tlv_next(&rd, &tag, &val, &vlen)) > 0) {
		char *s = NULL;

		switch (tag) {
		case OPEN_KIND:
		case OPEN_CWD:
		case OPEN_USER: {
			char **slot = tag == OPEN_KIND ? &q->kind : tag == OPEN_CWD ? &q->cwd : &q->user;

			if (tlv_str(val, vlen, &s) < 0)
				return -EPROTO;
			free(*slot);
			*slot = s;
			break;
		}
		case OPEN_ARG:
		case OPEN_ENV:
			if ((tag == OPEN_ARG ? q->argc : q->envc) >= EXEC_MAX_ARGS)
				return -E2BIG;
			if (tlv_str(val, vlen, &s) < 0)
				return -EPROTO;
			r = tag == OPEN_ARG ? strv_push(&q->argv, &q->argc, s) : strv_push(&q->env, &q->envc, s);
			if (r < 0) {
				free(s);
				return r;
			}
			break;
		case OPEN_TTY:
			if (tlv_u32(val, vlen, &q->winsz) < 0)
				return -EPROTO;
			q->tty = true;
			break;
		default:
			break;
		}
	}
	return r;
}

/* ---- session bookkeeping ---- */

static struct exec *exec_get(struct guest *g, uint32_t id)
{
	return id ? mux_get_user(g->mux, id) : NULL;
}

static void exec_unlink(struct exec *e)
{
	struct guest *g = e->g;

	for (struct exec **p = &g->execs; *p; p = &(*p)->next) {
		if (*p == e) {
			*p = e->next;
			g->exec_count--;
			break;
		}
	}
	e->next = g->graveyard;
	g->graveyard = e;
}

static void exec_kill(struct exec *e)
{
	if (e->pid > 0 && !e->reaped) {
		(void)kill(-e->pid, SIGKILL);
		(void)kill(e->pid, SIGKILL); /* before its setsid() the group does not exist yet */
	} else if (e->pid > 0 && (!e->out_eof || (!e->tty && !e->err_eof))) {
		(void)kill(-e->pid, SIGKILL); /* the group still holds our pipes */
	}
}

static void exec_release_io(struct exec *e)
{
	watch_close(e->g, &e->out);
	watch_close(e->g, &e->err);
	watch_close(e->g, &e->in);
	watch_close(e->g, &e->st);
	free(e->q);
	e->q = NULL;
	e->q_off = e->q_len = e->q_cap = 0;
	e->stdin_closed = true;
}

/* Forget the session: kill what runs, close everything; freed in exec_collect(). */
static void exec_destroy(struct exec *e)
{
	exec_kill(e);
	exec_release_io(e);
	mux_set_user(e->g->mux, e->id, NULL);
	exec_unlink(e);
}

void exec_collect(struct guest *g)
{
	while (g->graveyard) {
		struct exec *e = g->graveyard;

		g->graveyard = e->next;
		free(e);
	}
}

static void exec_update(struct exec *e)
{
	struct guest *g = e->g;
	size_t credit;

	if (e->done)
		return;
	credit = mux_credit(g->mux, e->id);
	if (e->tty) {
		uint32_t ev = 0;

		if (!e->out_eof && credit > 0)
			ev |= EPOLLIN;
		if (!e->stdin_closed && e->q_len > 0)
			ev |= EPOLLOUT;
		(void)watch_set(g, &e->out, ev);
	} else {
		(void)watch_set(g, &e->out, !e->out_eof && credit > 0 ? EPOLLIN : 0);
		(void)watch_set(g, &e->err, !e->err_eof && credit > 0 ? EPOLLIN : 0);
		(void)watch_set(g, &e->in, e->q_len > 0 ? EPOLLOUT : 0);
	}
	(void)watch_set(g, &e->st, e->st_eof ? 0 : EPOLLIN);
}

static void exec_send_exit(struct exec *e, int status)
{
	uint8_t buf[32];
	struct tlv_writer w;

	tlv_writer_init(&w, buf, sizeof(buf));
	tlv_put_u32(&w, CTRL_OP, OP_EXIT);
	tlv_put_i32(&w, CTRL_STATUS, status);
	(void)mux_send_ctrl(e->g->mux, e->id, buf, w.len);
}

/* Our side is finished: status sent, stream half-closed. Freed when the host closes too. */
static void exec_finish(struct exec *e, const char *msg, int status)
{
	struct guest *g = e->g;

	if (e->done)
		return;
	if (msg)
		(void)ctl_send(g, e->id, OP_ERROR, msg);
	exec_send_exit(e, status);
	/* Whatever input is still queued will never be read: give its credit back. */
	if (e->q_len)
		(void)mux_grant(g->mux, e->id, (uint32_t)e->q_len);
	exec_release_io(e);
	e->done = true;
	(void)mux_close(g->mux, e->id);
	if (e->peer_closed)
		exec_destroy(e); /* the mux forgot the stream when both sides had closed */
}

static void exec_maybe_finish(struct exec *e)
{
	_cleanup_free_ char *msg = NULL;

	if (e->done || !e->reaped || !e->out_eof || (!e->tty && !e->err_eof) || !e->st_eof)
		return;
	if (e->msg_len)
		msg = xasprintf("sbx-guest: %.*s", (int)e->msg_len, e->msg);
	exec_finish(e, msg, e->status);
}

/* ---- child stdin ---- */

static int exec_in_fd(struct exec *e)
{
	return e->tty ? e->out.fd : e->in.fd;
}

/* The child cannot take input any more: drop the queue, return its credit. */
static void exec_stdin_gone(struct exec *e)
{
	if (e->q_len)
		(void)mux_grant(e->g->mux, e->id, (uint32_t)e->q_len);
	free(e->q);
	e->q = NULL;
	e->q_off = e->q_len = e->q_cap = 0;
	e->stdin_closed = true;
	if (!e->tty)
		watch_close(e->g, &e->in);
}

/* Host half-closed and everything queued was written: close the child's stdin. */
static void exec_stdin_eof(struct exec *e)
{
	struct termios t;

	if (e->stdin_closed)
		return;
	if (e->tty) {
		/* A pty has no half-close; in canonical mode VEOF is what a terminal sends. */
		if (e->out.fd >= 0 && tcgetattr(e->out.fd, &t) == 0 && (t.c_lflag & ICANON))
			(void)!write(e->out.fd, &t.c_cc[VEOF], 1);
	}
	exec_stdin_gone(e);
}

static void exec_stdin_drain(struct exec *e)
{
	int fd = exec_in_fd(e);

	while (e->q_len > 0 && fd >= 0) {
		ssize_t n = write(fd, e->q + e->q_off, e->q_len);

		if (n > 0) {
			e->q_off += (size_t)n;
			e->q_len -= (size_t)n;
			(void)mux_grant(e->g->mux, e->id, (uint32_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		exec_stdin_gone(e); /* EPIPE, EIO: the reader is gone */
		break;
	}
	if (e->q_len == 0) {
		e->q_off = 0;
		if (e->q_cap > EXEC_QUEUE_KEEP) {
			free(e->q);
			e->q = NULL;
			e->q_cap = 0;
		}
		if (e->peer_closed)
			exec_stdin_eof(e);
	}
	exec_update(e);
}

void exec_on_data(struct guest *g, uint32_t id, const uint8_t *data, size_t len)
{
	struct exec *e = exec_get(g, id);

	if (!e || e->done || e->stdin_closed) {
		(void)mux_grant(g->mux, id, (uint32_t)len);
		return;
	}
	if (e->q_len + len > EXEC_QUEUE_MAX) {
		(void)mux_grant(g->mux, id, (uint32_t)len); /* cannot happen within credit */
		return;
	}
	if (e->q_off + e->q_len + len > e->q_cap) {
		if (e->q_off) {
			memmove(e->q, e->q + e->q_off, e->q_len);
			e->q_off = 0;
		}
		if (e->q_len + len > e->q_cap) {
			size_t cap = MAX(MAX(e->q_cap * 2, (size_t)64 * 1024), e->q_len + len);
			uint8_t *nq = realloc(e->q, cap);

			if (!nq) {
				(void)mux_grant(g->mux, id, (uint32_t)len);
				return;
			}
			e->q = nq;
			e->q_cap = cap;
		}
	}
	memcpy(e->q + e->q_off + e->q_len, data, len);
	e->q_len += len;
	exec_stdin_drain(e);
}

/* ---- child output ---- */

static void exec_read_output(struct exec *e, struct watch *w)
{
	struct guest *g = e->g;
	size_t credit = mux_credit(g->mux, e->id);
	uint16_t flags = w == &e->err ? FRAME_F_STDERR : 0;
	ssize_t n;

	if (credit == 0) {
		exec_update(e);
		return;
	}
	n = read(w->fd, g->iobuf, MIN(credit, g->iobuf_size));
	if (n > 0) {
		long taken = mux_write(g->mux, e->id, flags, g->iobuf, (size_t)n);

		if (taken != n)
			log_debug("exec %u: output dropped (%ld of %zd)", e->id, taken, n);
		exec_update(e);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* EOF; EIO on a pty master once no process holds the slave any more */
	if (w == &e->err) {
		e->err_eof = true;
	} else {
		e->out_eof = true;
		if (e->tty)
			exec_stdin_gone(e);
	}
	watch_close(g, w);
	exec_update(e);
	exec_maybe_finish(e);
}

static void exec_read_status(struct exec *e)
{
	char buf[EXEC_MSG_MAX];
	ssize_t n = read(e->st.fd, buf, sizeof(buf));

	if (n > 0) {
		size_t take = MIN((size_t)n, sizeof(e->msg) - e->msg_len);

		memcpy(e->msg + e->msg_len, buf, take);
		e->msg_len += take;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	e->st_eof = true;
	watch_close(e->g, &e->st);
	exec_maybe_finish(e);
}

void exec_on_event(struct guest *g, struct watch *w, uint32_t events)
{
	struct exec *e = w->owner;

	switch (w->kind) {
	case WATCH_EXEC_OUT:
		if (e->tty && (events & EPOLLOUT))
			exec_stdin_drain(e);
		if (w->fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (w->events & EPOLLIN))
			exec_read_output(e, w);
		break;
	case WATCH_EXEC_ERR:
		exec_read_output(e, w);
		break;
	case WATCH_EXEC_IN:
		exec_stdin_drain(e);
		break;
	case WATCH_EXEC_STATUS:
		exec_read_status(e);
		break;
	default:
		break;
	}
}

/* ---- starting a session ---- */

static int exec_build_env(struct guest *g, const struct exec_req *q, const struct user_info *u,
			  char ***ret, size_t *ret_n)
{
	char **env = NULL;
	size_t n = 0;
	int r = 0;

	r |= env_set(&env, &n, xstrdup("PATH=" SPAWN_DEFAULT_PATH));
	r |= env_set(&env, &n, xasprintf("HOME=%s", u->home));
	r |= env_set(&env, &n, xasprintf("USER=%s", u->name));
	r |= env_set(&env, &n, xasprintf("LOGNAME=%s", u->name));
	r |= env_set(&env, &n, xasprintf("SHELL=%s", u->shell));
	r |= env_set(&env, &n, xstrdup("LANG=C.UTF-8"));
	if (q->tty)
		r |= env_set(&env, &n, xstrdup("TERM=xterm-256color"));
	for (size_t i = 0; i < g->cfg_env_n && r == 0; i++)
		r |= env_set(&env, &n, xstrdup(g->cfg_env[i]));
	for (size_t i = 0; i < q->envc && r == 0; i++)
		r |= env_set(&env, &n, xstrdup(q->env[i]));
	if (r < 0 || n > EXEC_MAX_ENV + 16) {
		strv_free(env, n);
		return -ENOMEM;
	}
	*ret = env;
	*ret_n = n;
	return 0;
}

/* Set up stdio, fork and exec. On failure *ret_msg says why (for OP_ERROR). */
static int exec_spawn(struct exec *e, struct exec_req *q, char **ret_msg, int *ret_status)
{
	struct guest *g = e->g;
	struct user_info u = { 0 };
	_cleanup_free_ gid_t *groups = NULL;
	size_t ngroups = 0, envc = 0;
	char **envp = NULL;
	const char *cwd;
	int fds[8] = { -1, -1, -1, -1, -1, -1, -1, -1 }; /* in r/w, out r/w, err r/w, status r/w */
	int pty_master = -1, pty_slave = -1;
	struct child_args a = { 0 };
	pid_t pid;
	int r;

	*ret_status = EXEC_STATUS_NOT_EXEC;
	r = user_lookup("", q->user ? q->user : AGENT_USER, &u);
	if (r < 0) {
		*ret_msg = xasprintf("sbx-guest: user %s: %s", q->user ? q->user : AGENT_USER,
				     r == -ENOENT ? "no such user" : strerror(-r));
		return r;
	}
	r = user_groups("", u.name, u.gid, &groups, &ngroups);
	if (r < 0) {
		*ret_msg = xasprintf("sbx-guest: groups of %s: %s", u.name, strerror(-r));
		goto out;
	}
	cwd = q->cwd ? q->cwd : g->workspace ? g->workspace : u.home;
	if (cwd[0] != '/') {
		*ret_msg = xasprintf("sbx-guest: working directory must be absolute: %s", cwd);
		r = -EINVAL;
		goto out;
	}
	r = exec_build_env(g, q, &u, &envp, &envc);
	if (r < 0) {
		*ret_msg = xstrdup("sbx-guest: environment too large");
		goto out;
	}
	if (q->tty) {
		r = spawn_open_pty(q->winsz, u.uid, &pty_master, &pty_slave);
		if (r < 0) {
			*ret_msg = xasprintf("sbx-guest: pty: %s", strerror(-r));
			goto out;
		}
	} else {
		for (int i = 0; i < 3; i++) {
			if (pipe2(fds + 2 * i, O_CLOEXEC) < 0) {
				r = -errno;
				*ret_msg = xasprintf("sbx-guest: pipe: %m");
				goto out;
			}
		}
	}
	if (pipe2(fds + 6, O_CLOEXEC) < 0) {
		r = -errno;
		*ret_msg = xasprintf("sbx-guest: pipe: %m");
		goto out;
	}

	a = (struct child_args){
		.argv = q->argv, .envp = envp, .envc = envc, .cwd = cwd,
		.uid = u.uid, .gid = u.gid, .groups = groups, .ngroups = ngroups,
		.tty = q->tty, .status_fd = fds[7],
	};
	if (q->tty) {
		a.stdio[0] = a.stdio[1] = a.stdio[2] = pty_slave;
	} else {
		a.stdio[0] = fds[0];
		a.stdio[1] = fds[3];
		a.stdio[2] = fds[5];
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		*ret_msg = xasprintf("sbx-guest: fork: %m");
		goto out;
	}
	if (pid == 0)
		child_run(&a);

	e->pid = pid;
	e->tty = q->tty;
	if (q->tty) {
		e->out.fd = TAKE_FD(pty_master);
		e->err_eof = true;
	} else {
		e->in.fd = TAKE_FD(fds[1]);
		e->out.fd = TAKE_FD(fds[2]);
		e->err.fd = TAKE_FD(fds[4]);
		(void)fd_set_nonblock(e->in.fd, true);
		(void)fd_set_nonblock(e->out.fd, true);
		(void)fd_set_nonblock(e->err.fd, true);
	}
	e->st.fd = TAKE_FD(fds[6]);
	(void)fd_set_nonblock(e->st.fd, true);
	r = 0;
out:
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (pty_master >= 0)
		close(pty_master);
	if (pty_slave >= 0)
		close(pty_slave);
	strv_free(envp, envc);
	user_info_done(&u);
	return r;
}

int exec_open(struct guest *g, uint32_t id, const uint8_t *args, size_t len)
{
	struct exec_req q = { 0 };
	_cleanup_free_ char *msg = NULL;
	struct exec *e;
	int r, status = EXEC_STATUS_NOT_EXEC;

	r = req_parse(args, len, &q);
	if (r < 0 || !q.kind || strcmp(q.kind, "exec") != 0) {
		log_debug("stream %u: refused OPEN (%s)", id, r < 0 ? strerror(-r) : "kind");
		req_done(&q);
		return r < 0 ? r : -EPROTONOSUPPORT;
	}
	e = xcalloc(1, sizeof(*e));
	e->owner = STREAM_OWNER_EXEC;
	e->g = g;
	e->id = id;
	e->out = (struct watch){ .fd = -1, .kind = WATCH_EXEC_OUT, .owner = e };
	e->err = (struct watch){ .fd = -1, .kind = WATCH_EXEC_ERR, .owner = e };
	e->in = (struct watch){ .fd = -1, .kind = WATCH_EXEC_IN, .owner = e };
	e->st = (struct watch){ .fd = -1, .kind = WATCH_EXEC_STATUS, .owner = e };
	e->next = g->execs;
	g->execs = e;
	g->exec_count++;
	mux_set_user(g->mux, id, e);

	if (q.argc == 0) {
		msg = xstrdup("sbx-guest: exec: no command");
		status = EXEC_STATUS_NOT_FOUND;
		r = -EINVAL;
	} else {
		r = exec_spawn(e, &q, &msg, &status);
	}
	if (r < 0) {
		log_debug("stream %u: %s", id, msg ? msg : strerror(-r));
		exec_finish(e, msg, status);
	} else {
		log_debug("stream %u: started %s (pid %d%s)", id, q.argv[0], (int)e->pid, q.tty ? ", tty" : "");
		exec_update(e);
	}
	req_done(&q);
	return 0;
}

/* ---- events from the host ---- */

void exec_on_ctrl(struct guest *g, uint32_t id, const uint8_t *data, size_t len)
{
	struct exec *e = exec_get(g, id);
	struct tlv_reader rd;
	const uint8_t *val;
	uint32_t vlen, op = 0, rows = 0, cols = 0, signo = 0;
	uint16_t tag;

	if (!e)
		return;
	tlv_reader_init(&rd, data, len);
	while (tlv_next(&rd, &tag, &val, &vlen) > 0) {
		uint32_t v;

		if (tlv_u32(val, vlen, &v) < 0)
			continue;
		if (tag == CTRL_OP)
			op = v;
		else if (tag == CTRL_ROWS)
			rows = v;
		else if (tag == CTRL_COLS)
			cols = v;
		else if (tag == CTRL_SIGNO)
			signo = v;
	}
	switch (op) {
	case OP_RESIZE:
		if (e->tty && e->out.fd >= 0 && rows > 0 && rows <= 0xffff && cols > 0 && cols <= 0xffff) {
			struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
			(void)ioctl(e->out.fd, TIOCSWINSZ, &ws);
		}
		break;
	case OP_SIGNAL:
		if (signo >= 1 && signo <= 64 && e->pid > 0 && !e->done) {
			if (kill(-e->pid, (int)signo) < 0 && !e->reaped)
				(void)kill(e->pid, (int)signo);
		}
		break;
	default:
		log_debug("stream %u: ignored control op %u", id, op);
		break;
	}
}

void exec_on_window(struct guest *g, uint32_t id)
{
	struct exec *e = exec_get(g, id);

	if (e)
		exec_update(e);
}

void exec_on_close(struct guest *g, uint32_t id)
{
	struct exec *e = exec_get(g, id);

	if (!e)
		return;
	e->peer_closed = true;
	if (e->done) {
		exec_destroy(e);
		return;
	}
	if (e->q_len == 0)
		exec_stdin_eof(e);
	exec_update(e);
}

void exec_on_reset(struct guest *g, uint32_t id)
{
	struct exec *e = exec_get(g, id);

	if (e)
		exec_destroy(e);
}

void exec_kill_all(struct guest *g)
{
	while (g->execs)
		exec_destroy(g->execs);
}

/* ---- children and timers ---- */

void exec_child_exited(struct guest *g, pid_t pid, int wstatus)
{
	for (struct exec *e = g->execs; e; e = e->next) {
		if (e->pid != pid || e->reaped)
			continue;
		e->reaped = true;
		e->exit_ms = now_ms();
		if (WIFEXITED(wstatus))
			e->status = WEXITSTATUS(wstatus);
		else if (WIFSIGNALED(wstatus))
			e->status = 128 + WTERMSIG(wstatus);
		else
			e->status = 255;
		log_debug("stream %u: pid %d exited, status %d", e->id, (int)pid, e->status);
		exec_maybe_finish(e);
		return;
	}
}

/* A pty whose child exited but whose slave stays open (a background process kept
 * it): once the master has nothing more to read, treat it as EOF. */
static bool exec_pty_lingering(struct exec *e, uint64_t now, uint64_t *ret_deadline)
{
	if (!e->tty || !e->reaped || e->out_eof || e->done || e->out.fd < 0)
		return false;
	if (mux_credit(e->g->mux, e->id) == 0)
		return false; /* waiting for the host to read; on_window wakes us */
	*ret_deadline = e->exit_ms + EXEC_PTY_LINGER_MS;
	return true;
}

void exec_tick(struct guest *g, uint64_t now)
{
	for (struct exec *e = g->execs, *next; e; e = next) {
		uint64_t deadline;

		next = e->next;
		if (!exec_pty_lingering(e, now, &deadline) || now < deadline)
			continue;
		for (int i = 0; i < 16 && !e->out_eof && mux_credit(g->mux, e->id) > 0; i++) {
			ssize_t n = read(e->out.fd, g->iobuf, MIN(mux_credit(g->mux, e->id), g->iobuf_size));

			if (n > 0) {
				(void)mux_write(g->mux, e->id, 0, g->iobuf, (size_t)n);
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			e->out_eof = true; /* EAGAIN: nothing left; EIO / 0: real end */
		}
		if (e->out_eof) {
			exec_stdin_gone(e);
			watch_close(g, &e->out);
			exec_maybe_finish(e);
		} else {
			exec_update(e);
		}
	}
}

int exec_timeout(struct guest *g, uint64_t now)
{
	uint64_t best = UINT64_MAX;

	for (struct exec *e = g->execs; e; e = e->next) {
		uint64_t deadline;

		if (exec_pty_lingering(e, now, &deadline))
			best = MIN(best, deadline);
	}
	if (best == UINT64_MAX)
		return -1;
	return best <= now ? 0 : (int)MIN(best - now, (uint64_t)1000);
}
