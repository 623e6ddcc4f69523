// SPDX-License-Identifier: MIT
/* wsync.c: --workspace-mode sync in sbx-guest: the share mounted out of the agent's
 * reach, the local copy bound at the workspace path, and the sync engine started as
 * the agent user, with its messages relayed to and from the host. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "guest.h"
#include "loop.h"
#include "mounts.h"
#include "mux.h"
#include "proto.h"
#include "tlv.h"
#include "util.h"
#include "wsync.h"
#include "wsync_int.h"

#define WSYNC_DIR "/var/lib/sbx/wsync"
#define WSYNC_TREE WSYNC_DIR "/tree"     /* the local copy, on the VM's disk */
#define WSYNC_STATE WSYNC_DIR "/engine"  /* the engine's own files */
#define WSYNC_STOP_MS 15000u             /* its last pass at power off */
#define WSYNC_MSG_MAX (64u * 1024u)
/* Host messages held while the engine is busy (a burst of its own copies comes back as
 * sbxd's events): paths beyond WSYNC_Q_BYTES are dropped for one full comparison
 * (WS_RESCAN), which on the uncached share costs ~5 ms per path; a request with WS_SEQ
 * is always kept (the host sends one per waiting client, up to WSYNC_Q_MAX). */
#define WSYNC_Q_BYTES (8u << 20)
#define WSYNC_Q_MAX 4096u

struct wsync_q {
	uint8_t *msg[WSYNC_Q_MAX];
	size_t len[WSYNC_Q_MAX];
	size_t head, n, bytes;
	bool rescan;
};

static void sysctl_at_least(const char *path, unsigned long want)
{
	_cleanup_free_ char *cur = NULL;
	char v[32];

	if (file_read_all(path, 64, &cur, NULL) == 0 && strtoul(cur, NULL, 10) >= want)
		return;
	snprintf(v, sizeof(v), "%lu\n", want);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write_all(fd, v, strlen(v)) < 0)
		log_warn("wsync: cannot raise %s", path);
}

static int dir_for(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	int r = mkdir_p(path, mode);

	if (r < 0)
		return r;
	if (chown(path, uid, gid) < 0 || chmod(path, mode) < 0)
		return -errno;
	return 0;
}

static void __attribute__((noreturn)) engine_child(int lroot, int sroot, int statedir, int sock, uid_t uid, gid_t gid,
						   bool writer)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void)prctl(PR_SET_NAME, "sbx-wsync");
	if (dup2(lroot, 3) < 0 || dup2(sroot, 4) < 0 || dup2(statedir, 5) < 0 || dup2(sock, 6) < 0)
		_exit(1);
	(void)syscall(SYS_close_range, 7u, ~0u, 0u);
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		log_err("wsync: cannot become the agent user: %m");
		_exit(1);
	}
	/* the agent (same uid) may not ptrace it nor reach the share through /proc/PID/fd */
	(void)prctl(PR_SET_DUMPABLE, 0);
	umask(0);   /* files are created with the mode they are copied with: one round trip less */
	_exit(wsync_engine_run(3, 4, 5, 6, writer));
}

int wsync_setup(struct guest *g, const char *workspace, uint32_t uid, uint32_t gid, bool writer)
{
	_cleanup_close_ int lroot = -1, sroot = -1, statedir = -1;
	int sv[2], r;
	pid_t pid;

	if (g->wsync_pid > 0)
		return 0;   /* a reconnecting daemon sends the config again */
	r = mounts_share_paths(NULL, 0);   /* the share at /run/sbx/share, root only */
	if (r < 0)
		return r;
	if ((r = mkdir_p(WSYNC_DIR, 0711)) < 0 || (r = dir_for(WSYNC_STATE, 0700, uid, gid)) < 0)
		return r;
	if (mkdir(WSYNC_TREE, 0755) == 0) {
		struct stat st;
		/* a new copy: the share's root's owner and mode, as the agent would see them */
		if (stat("/run/sbx/share", &st) == 0)
			(void)chmod(WSYNC_TREE, st.st_mode & 07777);
		if (chown(WSYNC_TREE, uid, gid) < 0)
			return -errno;
	} else if (errno != EEXIST) {
		return -errno;
	}
	if (mounts_is_mountpoint(workspace, NULL) <= 0) {
		if ((r = mkdir_p(workspace, 0755)) < 0)
			return r;
		if (mount(WSYNC_TREE, workspace, NULL, MS_BIND, NULL) < 0)
			return -errno;
	}
	lroot = open(WSYNC_TREE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	sroot = open("/run/sbx/share", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	statedir = open(WSYNC_STATE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lroot < 0 || sroot < 0 || statedir < 0)
		return -errno;
	sysctl_at_least("/proc/sys/fs/inotify/max_user_watches", 2 * WSYNC_WATCH_MAX);
	sysctl_at_least("/proc/sys/fs/inotify/max_queued_events", 65536);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0)
		engine_child(lroot, sroot, statedir, sv[1], uid, gid, writer);
	close(sv[1]);
	(void)fd_set_nonblock(sv[0], true);
	g->wsync_pid = pid;
	g->wsync = (struct watch){ .fd = sv[0], .kind = WATCH_WSYNC };
	g->wsync_ready_wait = true;
	if (watch_set(g, &g->wsync, EPOLLIN) < 0)
		log_warn("wsync: cannot watch the engine: %m");
	log_info("wsync: engine %d started for %s", (int)pid, workspace);
	return 0;
}

bool wsync_waiting(struct guest *g)
{
	return g->wsync_ready_wait;
}

static void engine_gone(struct guest *g, const char *why)
{
	watch_close(g, &g->wsync);
	log_err("wsync: engine gone: %s", why);
	if (g->wsync_ready_wait) {
		g->wsync_ready_wait = false;
		(void)ctl_send(g, 0, OP_ERROR, "sbx-guest: config: the workspace sync engine stopped");
	} else {
		(void)ctl_send(g, 0, OP_ERROR, "sbx-guest: the workspace sync engine stopped; workspace changes are no longer synchronised");
	}
}

static void queue_flush(struct guest *g);

void wsync_on_event(struct guest *g, uint32_t events)
{
	static uint8_t buf[WSYNC_MSG_MAX];

	if ((events & EPOLLOUT) && g->wsync_q)
		queue_flush(g);

	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(g->wsync.fd, buf, sizeof(buf), MSG_DONTWAIT);
		struct tlv_reader rd;
		const uint8_t *v;
		uint32_t vlen, op = 0;
		uint16_t tag;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			engine_gone(g, n == 0 ? "end of file" : strerror(errno));
			return;
		}
		tlv_reader_init(&rd, buf, (size_t)n);
		if (tlv_next(&rd, &tag, &v, &vlen) > 0 && tag == CTRL_OP)
			(void)tlv_u32(v, vlen, &op);
		if (op != OP_WSYNC_STATE && op != OP_WSYNC_EVENT && op != OP_WSYNC_PUT)
			continue;
		if (op == OP_WSYNC_STATE && g->wsync_ready_wait) {
			g->wsync_ready_wait = false;
			(void)ctl_send(g, 0, OP_READY, NULL);
		}
		if (g->mux)
			(void)mux_send_ctrl(g->mux, 0, buf, (size_t)n);
	}
}

/* A request the host waits for, or the writer's answer the engine waits for: never
 * dropped. */
static bool must_keep(const uint8_t *data, size_t len)
{
	uint32_t op = 0;

	return (tlv_find_u32(data, len, CTRL_OP, &op) == 0 && op == OP_WSYNC_PUT_DONE) || wsync_msg_awaited(data, len);
}

/* Hand the held messages to the engine while it takes them; then a rescan if paths
 * were dropped. */
static void queue_flush(struct guest *g)
{
	struct wsync_q *q = g->wsync_q;

	while (q->n) {
		size_t i = q->head;

		if (send(g->wsync.fd, q->msg[i], q->len[i], MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("wsync: to the engine: %m");
			if (errno == EAGAIN || errno == EINTR)
				break;
		}
		free(q->msg[i]);
		q->bytes -= q->len[i];
		q->head = (i + 1) % WSYNC_Q_MAX;
		q->n--;
	}
	if (!q->n && q->rescan) {
		uint8_t buf[32];
		struct tlv_writer w;

		tlv_writer_init(&w, buf, sizeof(buf));
		tlv_put_u32(&w, CTRL_OP, OP_WSYNC);
		tlv_put_u32(&w, WS_RESCAN, 1);
		if (send(g->wsync.fd, buf, w.len, MSG_DONTWAIT | MSG_NOSIGNAL) == 0 || errno != EAGAIN)
			q->rescan = false;
	}
	(void)watch_set(g, &g->wsync, EPOLLIN | (q->n || q->rescan ? EPOLLOUT : 0));
}

void wsync_from_host(struct guest *g, const uint8_t *data, size_t len)
{
	struct wsync_q *q;

	if (g->wsync.fd < 0) {
		(void)ctl_send(g, 0, OP_ERROR, "sbx-guest: no workspace sync engine runs");
		return;
	}
	if (!g->wsync_q)
		g->wsync_q = xcalloc(1, sizeof(*g->wsync_q));
	q = g->wsync_q;
	if (!q->n && !q->rescan && send(g->wsync.fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) == 0)
		return;
	if (q->n < WSYNC_Q_MAX && (must_keep(data, len) || q->bytes + len <= WSYNC_Q_BYTES)) {
		size_t i = (q->head + q->n) % WSYNC_Q_MAX;
		q->msg[i] = xmalloc(len);
		memcpy(q->msg[i], data, len);
		q->len[i] = len;
		q->bytes += len;
		q->n++;
	} else {
		q->rescan = true;   /* its paths are dropped: the engine compares everything */
	}
	queue_flush(g);
}

bool wsync_child_exited(struct guest *g, pid_t pid, int wstatus)
{
	if (pid != g->wsync_pid || pid <= 0)
		return false;
	g->wsync_pid = 0;
	log_warn("wsync: engine exited (status %d)", wstatus);
	return true;
}

void wsync_stop(struct guest *g)
{
	uint64_t deadline = now_ms() + WSYNC_STOP_MS;

	if (g->wsync_pid <= 0)
		return;
	(void)kill(g->wsync_pid, SIGTERM);
	while (now_ms() < deadline) {
		pid_t p = waitpid(g->wsync_pid, NULL, WNOHANG);

		if (p == g->wsync_pid || (p < 0 && errno == ECHILD))
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	g->wsync_pid = 0;
}
