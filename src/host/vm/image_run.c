// SPDX-License-Identifier: MIT
/* image_run.c: the commands an image build runs (apt-get, dpkg-deb, depmod, mmdebstrap,
 * tar, npm): their output shown or kept, ^C and SIGTERM turned into -EINTR, the build
 * lock, and the "sbx: ..." progress lines. */
#include "image.h"
#include "idmap.h"
#include "progress.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

#define TAIL_LINES 20
#define LINE_MAX_LEN 512

/* ---- signals: a build in a CLI process stops cleanly on ^C or SIGTERM ---- */

static volatile sig_atomic_t sig_seen;       /* last signal caught */
static struct sigaction sig_old[3];
static const int sig_list[3] = { SIGINT, SIGTERM, SIGHUP };
static int sig_depth;

static void on_signal(int sig)
{
	sig_seen = sig;
}

void image_signals_catch(void)
{
	struct sigaction sa = { 0 };

	if (sig_depth++ > 0)
		return;
	sig_seen = 0;
	sa.sa_handler = on_signal;
	sa.sa_flags = 0; /* no SA_RESTART: poll() and flock() return EINTR */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sig_list); i++)
		sigaction(sig_list[i], &sa, &sig_old[i]);
}

void image_signals_release(void)
{
	if (sig_depth == 0 || --sig_depth > 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(sig_list); i++)
		sigaction(sig_list[i], &sig_old[i], NULL);
}

bool image_interrupted(void)
{
	return sig_seen != 0;
}

/* ---- running commands ---- */

int image_spawn(const char *const *argv, const char *cwd, int in, int out, int err, const struct idmap_ns *ns,
		pid_t *ret)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fds[3] = { in, out, err };
		/*
		 * Own process group, so a stop request reaches the command and all its
		 * helpers at once (apt, dpkg under mmdebstrap); die with the parent.
		 */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		for (size_t i = 0; i < ARRAY_SIZE(sig_list); i++)
			signal(sig_list[i], SIG_DFL);
		for (int i = 0; i < 3; i++) {
			if (fds[i] < 0)
				fds[i] = open("/dev/null", O_RDWR);
		}
		for (int i = 0; i < 3; i++)
			if (dup2(fds[i], i) < 0)
				_exit(127);
		if (ns) {
			int r = idmap_enter(ns);
			if (r < 0) {
				dprintf(2, "cannot enter a user namespace for %s: %s\n", argv[0], strerror(-r));
				_exit(127);
			}
		}
		if (cwd && chdir(cwd) < 0)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		/* depmod, mke2fs and friends live in sbin, which a user's PATH may lack. */
		if (errno == ENOENT && !strchr(argv[0], '/')) {
			static const char *const sbin[] = { "/usr/sbin", "/sbin" };
			for (size_t i = 0; i < ARRAY_SIZE(sbin); i++) {
				char path[256];
				if (snprintf(path, sizeof(path), "%s/%s", sbin[i], argv[0]) < (int)sizeof(path))
					execv(path, (char *const *)argv);
			}
			errno = ENOENT;
		}
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* also here: a signal may come before the child runs */
	*ret = pid;
	return 0;
}

struct outbuf {
	enum run_output mode;
	const struct run_watch *watch;
	char line[LINE_MAX_LEN];
	size_t len;
	char *tail[TAIL_LINES];
	size_t ntail;
	bool cont;  /* the current line continues an overlong one */
};

static void out_line(struct outbuf *o)
{
	char *l = o->line;

	o->line[o->len] = 0;
	o->len = 0;
	if (!l[0])
		return;
	if (o->ntail == TAIL_LINES) {
		free(o->tail[0]);
		memmove(o->tail, o->tail + 1, (TAIL_LINES - 1) * sizeof(char *));
		o->ntail--;
	}
	o->tail[o->ntail++] = xstrdup(l);
	if (o->mode == RUN_STREAM)
		dprintf(STDERR_FILENO, "  | %s\n", l);
	/* the start of each line only: an overlong one is not split into fake lines */
	if (o->watch && o->watch->on_line && !o->cont)
		o->watch->on_line(o->watch->ctx, l);
}

static void out_feed(struct outbuf *o, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (c == '\n' || c == '\r') {
			out_line(o);
			o->cont = false;
			continue;
		}
		if (o->len == sizeof(o->line) - 1) {
			out_line(o);
			o->cont = true;
		}
		o->line[o->len++] = c;
	}
}

static void out_done(struct outbuf *o, bool failed, const char *what)
{
	if (o->len)
		out_line(o);
	if (failed && o->mode != RUN_STREAM && o->ntail) {
		progress_clear();
		log_err("%s failed; its last output:", what);
		for (size_t i = 0; i < o->ntail; i++)
			log_err("  | %s", o->tail[i]);
	}
	for (size_t i = 0; i < o->ntail; i++)
		free(o->tail[i]);
	o->ntail = 0;
}

/*
 * Stop requests (image_signals_catch) go to the child's whole process group,
 * and SIGKILL follows 30 s later if it lingers.
 */
int image_run(const char *const *argv, const char *cwd, enum run_output mode)
{
	return image_run_ns(argv, cwd, mode, NULL);
}

int image_run_ns(const char *const *argv, const char *cwd, enum run_output mode, const struct idmap_ns *ns)
{
	return image_run_watch(argv, cwd, mode, ns, NULL);
}

int image_run_watch(const char *const *argv, const char *cwd, enum run_output mode, const struct idmap_ns *ns,
		    const struct run_watch *w)
{
	struct outbuf o = { .mode = mode, .watch = w };
	_cleanup_close_ int rd = -1;
	int pfd[2], status = 0, r;
	uint64_t stop_at = 0;
	size_t drained = 0;
	bool exited = false;
	pid_t pid;

	if (image_interrupted())
		return -EINTR;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	r = image_spawn(argv, cwd, w ? w->in : -1, pfd[1], pfd[1], ns, &pid);
	close(pfd[1]);
	rd = pfd[0];
	if (r < 0)
		return r;
	fd_set_nonblock(rd, true);
	for (;;) {
		struct pollfd pf = { .fd = rd, .events = POLLIN };
		char buf[4096];
		ssize_t n;

		if (image_interrupted() && !stop_at) {
			/* The child's group is not the TTY's foreground group: pass the signal on. */
			kill(-pid, sig_seen == SIGINT ? SIGINT : SIGTERM);
			stop_at = now_ms() + 30000;
		}
		if (stop_at && now_ms() > stop_at) {
			kill(-pid, SIGKILL);
			stop_at = UINT64_MAX;
		}
		if (!exited) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				exited = true;
		}
		if (w && w->on_tick)
			w->on_tick(w->ctx);
		if (rd >= 0 && poll(&pf, 1, exited ? 0 : PROGRESS_REDRAW_MS) > 0) {
			n = read(rd, buf, sizeof(buf));
			if (n > 0) {
				out_feed(&o, buf, (size_t)n);
				/* After the exit, only a straggler writes: read a bounded amount. */
				if (!exited || (drained += (size_t)n) < (1u << 20))
					continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(rd);
				rd = -1;
			}
		}
		/* Done when the child is gone and its output drained (or held by a straggler). */
		if (exited)
			break;
		if (rd < 0 && !exited) {
			if (waitpid(pid, &status, 0) == pid)
				exited = true;
			else if (errno != EINTR)
				break;
		}
	}
	if (image_interrupted()) {
		/* Helpers left behind by the stopped command must not touch what we remove next. */
		kill(-pid, SIGKILL);
		out_done(&o, false, argv[0]);
		return -EINTR;
	}
	if (WIFEXITED(status))
		r = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r = 128 + WTERMSIG(status);
	else
		r = 128;
	out_done(&o, r != 0, argv[0]);
	return r;
}

/* ---- watching a command's progress ---- */

#define WATCH_NOTES_MAX 64

/* Printable ASCII of at most len - 1 bytes: a child's line, before it is shown. */
static void line_clean(char *dst, size_t len, const char *src)
{
	size_t n = 0;

	for (; *src && n + 1 < len; src++)
		dst[n++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	dst[n] = 0;
}

static void watch_line(void *ctx, const char *line)
{
	struct image_watch *iw = ctx;
	size_t pl = iw->notes ? strlen(iw->notes) : 0;
	char clean[160];

	if (!iw->pg)
		return;
	if (progress_mode() == PROGRESS_TTY) {
		progress_status(iw->pg, line);
	} else if (pl && !strncmp(line, iw->notes, pl) && iw->n_notes < WATCH_NOTES_MAX) {
		iw->n_notes++;
		line_clean(clean, sizeof(clean), line + pl);
		progress_say("  %s", clean);
	}
}

/* Bytes of the regular files in dir (one level) and dir/partial (at most 1000 entries each). */
static uint64_t dir_bytes(const char *dir, bool sub)
{
	uint64_t sum = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (e = readdir(d)) && n++ < 1000) {
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			sum += (uint64_t)st.st_size;
		} else if (sub && S_ISDIR(st.st_mode) && !strcmp(e->d_name, "partial")) {
			_cleanup_free_ char *p = xasprintf("%s/partial", dir);
			sum += dir_bytes(p, false);
		}
	}
	if (d)
		closedir(d);
	return sum;
}

static void watch_tick(void *ctx)
{
	struct image_watch *iw = ctx;
	struct stat st;
	off_t pos;

	if (!iw->pg || progress_mode() != PROGRESS_TTY || now_ms() - iw->last < PROGRESS_REDRAW_MS)
		return;
	iw->last = now_ms();
	switch (iw->how) {
	case WATCH_BLOCKS:
		if (fstat(iw->fd, &st) == 0)
			progress_set(iw->pg, (uint64_t)st.st_blocks * 512u);
		break;
	case WATCH_POS:
		pos = lseek(iw->fd, 0, SEEK_CUR);
		if (pos >= 0)
			progress_set(iw->pg, (uint64_t)pos);
		break;
	case WATCH_DIR: {
		uint64_t b = dir_bytes(iw->dir, true);
		progress_set(iw->pg, b > iw->base ? b - iw->base : 0);
		break;
	}
	case WATCH_NONE:
		progress_tick(iw->pg);
		break;
	}
}

void image_watch_init(struct image_watch *iw, struct progress *pg, enum image_watch_how how, int fd,
		      const char *dir)
{
	*iw = (struct image_watch){
		.w = { .in = how == WATCH_POS ? fd : -1, .on_line = watch_line, .on_tick = watch_tick, .ctx = iw },
		.pg = pg, .how = how, .fd = fd, .dir = dir,
	};
	if (how == WATCH_DIR && pg)
		iw->base = dir_bytes(dir, true);
}

int image_run_capture(const char *const *argv, const char *cwd, size_t max, char **ret)
{
	_cleanup_free_ char *buf = xmalloc(max + 1);
	_cleanup_close_ int rd = -1;
	size_t len = 0;
	int pfd[2], status, r;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	r = image_spawn(argv, cwd, -1, pfd[1], -1, NULL, &pid);
	close(pfd[1]);
	rd = pfd[0];
	if (r < 0)
		return r;
	for (;;) {
		ssize_t n = read(rd, buf + len, max - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == max)
			break;
	}
	close(rd);
	rd = -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
	buf[len] = 0;
	*ret = TAKE_PTR(buf);
	return 0;
}

int image_lock(const char *path, bool verbose)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return TAKE_FD(fd);
	if (errno != EWOULDBLOCK)
		return -errno;
	if (verbose)
		log_info("waiting for another sbx process (lock %s)", path);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return -errno;
		if (image_interrupted())
			return -EINTR;
	}
	return TAKE_FD(fd);
}

/* "sbx: ..." on stderr when level >= 1 (image.h). */
void image_say(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level < 1)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	progress_say("%s", line);
}

/* Verbose builds stream every command's output, which is their progress: no bars. */
struct progress *image_progress(int level, const char *label, uint64_t total)
{
	if (level != 1 || progress_quiet())
		return NULL;
	return progress_begin(label, total);
}
