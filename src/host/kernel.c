// SPDX-License-Identifier: MIT
/* kernel.c: fetch and cache the guest kernel (.deb, never installed), vmlinux, initramfs; run helpers. */
#include "image.h"
#include "idmap.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

#define KERNEL_META_PKG "linux-image-cloud-amd64"
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

static int spawn(const char *const *argv, const char *cwd, int in, int out, int err, const struct idmap_ns *ns,
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
	char line[LINE_MAX_LEN];
	size_t len;
	char *tail[TAIL_LINES];
	size_t ntail;
	bool status_shown;
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
	if (o->mode == RUN_STREAM) {
		dprintf(STDERR_FILENO, "  | %s\n", l);
	} else if (o->mode == RUN_STATUS && !o->cont) {
		char s[77];
		size_t n = 0;
		for (size_t i = 0; l[i] && n < sizeof(s) - 1; i++)
			s[n++] = (l[i] >= 0x20 && l[i] < 0x7f) ? l[i] : '?';
		s[n] = 0;
		dprintf(STDERR_FILENO, "\r\033[K  %s", s);
		o->status_shown = true;
	}
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
	if (o->status_shown)
		dprintf(STDERR_FILENO, "\r\033[K");
	if (failed && o->mode != RUN_STREAM && o->ntail) {
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
	struct outbuf o = { .mode = mode };
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
	r = spawn(argv, cwd, -1, pfd[1], pfd[1], ns, &pid);
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
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid)
				exited = true;
		}
		if (rd >= 0 && poll(&pf, 1, exited ? 0 : 200) > 0) {
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

/* Run argv, collect up to max bytes of its stdout; stderr is dropped. */
static int run_capture(const char *const *argv, const char *cwd, size_t max, char **ret)
{
	_cleanup_free_ char *buf = xmalloc(max + 1);
	_cleanup_close_ int rd = -1;
	size_t len = 0;
	int pfd[2], status, r;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	r = spawn(argv, cwd, -1, pfd[1], -1, NULL, &pid);
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

/* ---- vmlinux from vmlinuz ---- */

/* The compressed payload of a bzImage, by magic; the first that yields a whole ELF wins. */
static const struct {
	const char *magic;
	size_t len;
	const char *tool;
} decompressors[] = {
	{ "\x02\x21\x4c\x18", 4, "lz4" },
	{ "\x28\xb5\x2f\xfd", 4, "zstd" },
	{ "\xfd\x37\x7a\x58\x5a\x00", 6, "xz" },
	{ "\x1f\x8b\x08", 3, "gzip" },
};

/* A complete x86-64 ELF: headers, segments and section headers all inside the file. */
static bool elf_complete(int fd)
{
	Elf64_Ehdr eh;
	struct stat st;
	uint64_t end;

	if (fstat(fd, &st) < 0 || pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
		return false;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0)
		return false;
	end = eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize;
	if (end > (uint64_t)st.st_size)
		return false;
	for (unsigned int i = 0; i < eh.e_phnum && i < 64; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != (ssize_t)sizeof(ph))
			return false;
		if (ph.p_offset + ph.p_filesz > (uint64_t)st.st_size)
			return false;
	}
	return true;
}

static int vmlinux_extract(const char *vmlinuz, const char *out)
{
	_cleanup_free_ char *img = NULL;
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", out, (int)getpid());
	_cleanup_close_ int ofd = -1;
	size_t len = 0;
	int tries = 0, r;

	r = file_read_all(vmlinuz, 256u << 20, &img, &len);
	if (r < 0)
		return r;
	ofd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (ofd < 0)
		return -errno;
	for (size_t d = 0; d < ARRAY_SIZE(decompressors); d++) {
		const char *p = img, *end = img + len;
		while (tries < 16 && (p = memmem(p, (size_t)(end - p), decompressors[d].magic, decompressors[d].len))) {
			const char *argv[] = { decompressors[d].tool, "-dc", NULL };
			_cleanup_close_ int ifd = open(vmlinuz, O_RDONLY | O_CLOEXEC);
			int status;
			pid_t pid;

			tries++;
			if (ifd < 0 || lseek(ifd, p - img, SEEK_SET) < 0 || ftruncate(ofd, 0) < 0 ||
			    lseek(ofd, 0, SEEK_SET) < 0) {
				r = -errno;
				goto fail;
			}
			r = spawn(argv, NULL, ifd, ofd, -1, NULL, &pid);
			if (r < 0)
				goto fail;
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			/* Trailing bytes after the stream make some tools exit non-zero: judge the ELF. */
			if (elf_complete(ofd)) {
				if (fsync(ofd) < 0 || rename(tmp, out) < 0) {
					r = -errno;
					goto fail;
				}
				return 0;
			}
			p++;
		}
	}
	r = -ENOEXEC;
fail:
	unlink(tmp);
	return r;
}

/* ---- the cache ---- */

static bool release_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 100 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-_~", s[i]))
			return false;
	return true;
}

static int read_release(const char *kdir, char **ret)
{
	_cleanup_free_ char *path = xasprintf("%s/release", kdir);
	_cleanup_free_ char *buf = NULL;
	int r;

	r = file_read_all(path, 256, &buf, NULL);
	if (r < 0)
		return r;
	buf[strcspn(buf, "\n")] = 0;
	if (!release_name_ok(buf))
		return -EINVAL;
	*ret = TAKE_PTR(buf);
	return 0;
}

static void kernel_info_fill(struct kernel_info *k, const char *kdir, const char *rel)
{
	k->release = xstrdup(rel);
	k->vmlinux = xasprintf("%s/%s/vmlinux", kdir, rel);
	k->initramfs = xasprintf("%s/%s/initramfs.cpio", kdir, rel);
	k->modules_dir = xasprintf("%s/%s/lib/modules/%s", kdir, rel, rel);
}

void kernel_info_free(struct kernel_info *k)
{
	if (!k)
		return;
	free(k->release);
	free(k->vmlinux);
	free(k->initramfs);
	free(k->modules_dir);
	*k = (struct kernel_info){ 0 };
}

/* What the initramfs was built from: the sbx-guest binary it holds and the module
 * list (a new sbx with another list rebuilds it). */
static int guest_stamp(const char *guest_bin, char **ret)
{
	static const char *const mods[] = { INITRAMFS_MODULES, NULL };
	char ml[512];
	size_t off = 0;
	struct stat st;

	if (stat(guest_bin, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	ml[0] = '\0';
	for (size_t i = 0; mods[i]; i++) {
		int n = snprintf(ml + off, sizeof(ml) - off, "%s%s", i ? " " : "", mods[i]);
		if (n < 0 || (size_t)n >= sizeof(ml) - off)
			return -ENAMETOOLONG;
		off += (size_t)n;
	}
	*ret = xasprintf("%s\n%lld\n%lld.%09ld\n%llu:%llu\nmodules %s\n", guest_bin, (long long)st.st_size,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, ml);
	return 0;
}

static bool kernel_complete(const struct kernel_info *k)
{
	_cleanup_free_ char *dep = xasprintf("%s/modules.dep", k->modules_dir);

	return access(k->vmlinux, R_OK) == 0 && access(dep, R_OK) == 0;
}

static bool initramfs_current(const struct kernel_info *k, const char *stamp)
{
	_cleanup_free_ char *spath = xasprintf("%s.stamp", k->initramfs);
	_cleanup_free_ char *have = NULL;

	if (access(k->initramfs, R_OK) < 0)
		return false;
	if (file_read_all(spath, 4096, &have, NULL) < 0)
		return false;
	return !strcmp(have, stamp);
}

/* Find DIR/PREFIX*SUFFIX (exactly one). */
static int find_one(const char *dir, const char *prefix, const char *suffix, char **ret)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *found = NULL;
	int r = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name), pl = strlen(prefix), sl = strlen(suffix);
		if (de->d_name[0] == '.' || n < pl + sl || strncmp(de->d_name, prefix, pl) ||
		    strcmp(de->d_name + n - sl, suffix))
			continue;
		if (found) {
			r = -EEXIST;
			break;
		}
		found = xstrdup(de->d_name);
	}
	closedir(d);
	if (r == 0 && !found)
		r = -ENOENT;
	if (r < 0) {
		free(found);
		return r;
	}
	*ret = found;
	return 0;
}

/* "sbx: ..." on stderr when level >= 1 (image.h). */
void image_say(int level, const char *fmt, ...)
{
	va_list ap;

	if (level < 1)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "sbx: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

/* Remove leftovers of an interrupted fetch (only the lock holder creates them). */
static void kernel_clean_stale(const char *kdir)
{
	DIR *d = opendir(kdir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, "dl.", 3) || strstr(de->d_name, ".tmp.")) {
			_cleanup_free_ char *path = xasprintf("%s/%s", kdir, de->d_name);
			rm_rf(path);
		}
	}
	closedir(d);
}

/* apt-get download PKG into dl (as the _apt user unless we are root). */
static int apt_download(const char *dl, const char *pkg, enum run_output mode, const char *hint)
{
	const char *sandbox = geteuid() == 0 ? "APT::Sandbox::User=root" : "APT::Sandbox::User=_apt";
	const char *argv[] = { "apt-get", "-q", "-o", sandbox, "download", pkg, NULL };
	int r = image_run(argv, dl, mode);

	if (r > 0) {
		log_err("apt-get download %s failed%s", pkg, hint);
		r = -EIO;
	}
	return r;
}

/* The kernel package that the meta package (downloaded into dl) depends on. */
static int kernel_pkg_name(const char *dl, char **ret_pkg)
{
	_cleanup_free_ char *meta = NULL, *depends = NULL, *path = NULL;
	char *s;
	int r;

	r = find_one(dl, KERNEL_META_PKG "_", ".deb", &meta);
	if (r < 0)
		return r;
	path = xasprintf("%s/%s", dl, meta);
	{
		const char *argv[] = { "dpkg-deb", "-f", path, "Depends", NULL };
		r = run_capture(argv, dl, 4096, &depends);
	}
	if (r < 0)
		return r;
	/* "linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)" */
	s = strstr(depends, "linux-image-");
	if (!s)
		return -EBADMSG;
	*ret_pkg = strndup(s, strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.+-"));
	return 0;
}

/* The meta package, then the kernel package it names: *ret_deb, a file in dl. */
static int kernel_download(const char *dl, bool verbose, char **ret_deb)
{
	enum run_output mode = verbose ? RUN_STREAM : RUN_QUIET;
	_cleanup_free_ char *pkg = NULL, *prefix = NULL;
	int r;

	image_say(verbose, "downloading %s (apt-get download)", KERNEL_META_PKG);
	r = apt_download(dl, KERNEL_META_PKG, mode, " (is the package list current? run: apt-get update)");
	if (r < 0)
		return r;
	r = kernel_pkg_name(dl, &pkg);
	if (r < 0)
		return r;
	image_say(verbose, "downloading %s", pkg);
	r = apt_download(dl, pkg, mode, "");
	if (r < 0)
		return r;
	prefix = xasprintf("%s_", pkg);
	return find_one(dl, prefix, ".deb", ret_deb);
}

/* Unpack the kernel .deb into dl/root (*ret_root) and depmod its one release (*ret_rel). */
static int kernel_unpack(const char *dl, const char *deb, bool verbose, char **ret_root, char **ret_rel)
{
	enum run_output mode = verbose ? RUN_STREAM : RUN_QUIET;
	_cleanup_free_ char *path = xasprintf("%s/%s", dl, deb);
	_cleanup_free_ char *root = xasprintf("%s/root", dl);
	_cleanup_free_ char *moddir = NULL, *rel = NULL;
	int r;

	image_say(verbose, "unpacking %s", deb);
	{
		const char *argv[] = { "dpkg-deb", "-x", path, root, NULL };
		r = image_run(argv, NULL, mode);
	}
	if (r > 0)
		r = -EIO;
	if (r < 0)
		return r;
	moddir = xasprintf("%s/lib/modules", root);
	r = find_one(moddir, "", "", &rel);
	if (r < 0 || !release_name_ok(rel)) {
		log_err("unexpected layout in %s: no single lib/modules/RELEASE", deb);
		return r < 0 ? r : -EBADMSG;
	}
	{
		const char *argv[] = { "depmod", "-b", root, rel, NULL };
		r = image_run(argv, NULL, mode);
	}
	if (r > 0)
		r = -EIO;
	if (r < 0)
		return r;
	*ret_root = TAKE_PTR(root);
	*ret_rel = TAKE_PTR(rel);
	return 0;
}

/* Extract vmlinux in root, then make root kdir/REL (an incomplete one there is replaced). */
static int kernel_place(const char *kdir, const char *root, const char *rel, bool verbose)
{
	_cleanup_free_ char *vmlinuz = xasprintf("%s/boot/vmlinuz-%s", root, rel);
	_cleanup_free_ char *vmlinux = xasprintf("%s/vmlinux", root);
	_cleanup_free_ char *final = NULL;
	int r;

	image_say(verbose, "extracting vmlinux");
	r = vmlinux_extract(vmlinuz, vmlinux);
	if (r < 0) {
		log_err("cannot extract an uncompressed vmlinux from %s: %s", vmlinuz, strerror(-r));
		return r;
	}
	/* The .deb itself is not needed any more; the release dir appears whole. */
	final = xasprintf("%s/%s", kdir, rel);
	if (access(final, F_OK) == 0) {
		struct kernel_info k = { 0 };
		bool ok;
		kernel_info_fill(&k, kdir, rel);
		ok = kernel_complete(&k);
		kernel_info_free(&k);
		if (!ok)
			rm_rf(final);
	}
	if (access(final, F_OK) < 0 && rename(root, final) < 0)
		return -errno;
	return 0;
}

/* Download the cloud kernel .deb, unpack it, depmod, extract vmlinux; into kdir/REL. */
static int kernel_fetch(const char *kdir, bool verbose, char **ret_release)
{
	_cleanup_free_ char *dl = xasprintf("%s/dl.XXXXXX", kdir);
	_cleanup_free_ char *deb = NULL, *root = NULL, *rel = NULL;
	int r;

	if (!mkdtemp(dl))
		return -errno;
	r = kernel_download(dl, verbose, &deb);
	if (r == 0)
		r = kernel_unpack(dl, deb, verbose, &root, &rel);
	if (r == 0)
		r = kernel_place(kdir, root, rel, verbose);
	if (r == 0)
		*ret_release = TAKE_PTR(rel);
	rm_rf(dl);
	return r;
}

int kernel_ensure(const struct sbx_paths *p, bool verbose, struct kernel_info *ret)
{
	_cleanup_free_ char *kdir = NULL, *rel = NULL, *stamp = NULL, *lockp = NULL;
	_cleanup_close_ int lock = -1;
	struct kernel_info k = { 0 };
	int r;

	if (!p || !p->cache || !p->guest_bin || !ret)
		return -EINVAL;
	kdir = xasprintf("%s/kernel", p->cache);
	r = guest_stamp(p->guest_bin, &stamp);
	if (r < 0) {
		log_err("guest binary %s: %s (run make)", p->guest_bin, strerror(-r));
		return r;
	}

	/* Fast path, lock-free: every file appears by rename once complete. */
	if (read_release(kdir, &rel) == 0) {
		kernel_info_fill(&k, kdir, rel);
		if (kernel_complete(&k) && initramfs_current(&k, stamp)) {
			*ret = k;
			return 0;
		}
		kernel_info_free(&k);
		free(rel);
		rel = NULL;
	}

	r = mkdir_p(kdir, 0700);
	if (r < 0)
		return r;
	lockp = xasprintf("%s/lock", kdir);
	lock = image_lock(lockp, verbose);
	if (lock < 0)
		return lock;
	kernel_clean_stale(kdir);

	if (read_release(kdir, &rel) == 0) {
		kernel_info_fill(&k, kdir, rel);
		if (!kernel_complete(&k)) {
			kernel_info_free(&k);
			free(rel);
			rel = NULL;
		}
	}
	if (!rel) {
		_cleanup_free_ char *relpath = xasprintf("%s/release", kdir);
		r = kernel_fetch(kdir, verbose, &rel);
		if (r < 0)
			return r;
		kernel_info_fill(&k, kdir, rel);
		if (!kernel_complete(&k)) {
			kernel_info_free(&k);
			return -EIO;
		}
		/* Initramfs first: a published release always has one. */
		image_say(verbose, "building initramfs for %s", rel);
		r = initramfs_build(k.initramfs, p->guest_bin, k.modules_dir, rel);
		if (r == 0) {
			_cleanup_free_ char *spath = xasprintf("%s.stamp", k.initramfs);
			r = file_write_atomic(spath, stamp, strlen(stamp), 0644);
		}
		if (r == 0) {
			_cleanup_free_ char *line = xasprintf("%s\n", rel);
			r = file_write_atomic(relpath, line, strlen(line), 0644);
		}
		if (r < 0) {
			log_err("cannot build the initramfs: %s", strerror(-r));
			kernel_info_free(&k);
			return r;
		}
		image_say(verbose, "kernel %s ready in %s", rel, kdir);
	} else if (!initramfs_current(&k, stamp)) {
		_cleanup_free_ char *spath = xasprintf("%s.stamp", k.initramfs);
		image_say(verbose, "rebuilding initramfs (sbx-guest changed)");
		r = initramfs_build(k.initramfs, p->guest_bin, k.modules_dir, rel);
		if (r == 0)
			r = file_write_atomic(spath, stamp, strlen(stamp), 0644);
		if (r < 0) {
			log_err("cannot build the initramfs: %s", strerror(-r));
			kernel_info_free(&k);
			return r;
		}
	}
	*ret = k;
	return 0;
}
