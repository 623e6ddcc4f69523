// SPDX-License-Identifier: MIT
/* kernel.c: fetch and cache the guest kernel (.deb, never installed), vmlinux, initramfs. */
#include "image.h"
#include "progress.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

#define KERNEL_META_PKG "linux-image-cloud-amd64"

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
			r = image_spawn(argv, NULL, ifd, ofd, -1, NULL, &pid);
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

/* The size of PKG's candidate .deb from the local package lists (apt-cache show),
 * or 0 when not known: the total of the download's bar. */
static uint64_t apt_deb_size(const char *pkg)
{
	const char *argv[] = { "apt-cache", "show", "--no-all-versions", pkg, NULL };
	_cleanup_free_ char *out = NULL;
	const char *s;
	char *end;
	unsigned long long v;

	if (image_run_capture(argv, NULL, 64u << 10, &out) < 0)
		return 0;
	s = !strncmp(out, "Size: ", 6) ? out : strstr(out, "\nSize: ");
	if (!s)
		return 0;
	s += s == out ? 6 : 7;
	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || (*end != '\n' && *end) || v > (1ull << 34))
		return 0;
	return v;
}

/* apt-get download PKG into dl (as the _apt user unless we are root); a bar of the
 * bytes in dl when level is 1 and the size is known. */
static int apt_download(const char *dl, const char *pkg, int level, const char *hint)
{
	const char *sandbox = geteuid() == 0 ? "APT::Sandbox::User=root" : "APT::Sandbox::User=_apt";
	const char *argv[] = { "apt-get", "-q", "-o", sandbox, "download", pkg, NULL };
	struct progress *pg = NULL;
	struct image_watch iw;
	int r;

	/* apt-get download writes the .deb straight into dl: the bar counts what it adds */
	if (level == 1 && !progress_quiet())
		pg = progress_begin("download", apt_deb_size(pkg));
	image_watch_init(&iw, pg, WATCH_DIR, -1, dl);
	r = image_run_watch(argv, dl, level >= 2 ? RUN_STREAM : RUN_QUIET, NULL, &iw.w);
	progress_end(pg, r == 0);
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
		r = image_run_capture(argv, dl, 4096, &depends);
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
static int kernel_download(const char *dl, int level, char **ret_deb)
{
	_cleanup_free_ char *pkg = NULL, *prefix = NULL;
	int r;

	image_say(level, "downloading %s (apt-get download)", KERNEL_META_PKG);
	r = apt_download(dl, KERNEL_META_PKG, level, " (is the package list current? run: apt-get update)");
	if (r < 0)
		return r;
	r = kernel_pkg_name(dl, &pkg);
	if (r < 0)
		return r;
	image_say(level, "downloading %s", pkg);
	r = apt_download(dl, pkg, level, "");
	if (r < 0)
		return r;
	prefix = xasprintf("%s_", pkg);
	return find_one(dl, prefix, ".deb", ret_deb);
}

/* Unpack the kernel .deb into dl/root (*ret_root) and depmod its one release (*ret_rel). */
static int kernel_unpack(const char *dl, const char *deb, int level, char **ret_root, char **ret_rel)
{
	enum run_output mode = level >= 2 ? RUN_STREAM : RUN_QUIET;
	_cleanup_free_ char *path = xasprintf("%s/%s", dl, deb);
	_cleanup_free_ char *root = xasprintf("%s/root", dl);
	_cleanup_free_ char *moddir = NULL, *rel = NULL;
	int r;

	image_say(level, "unpacking %s", deb);
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
static int kernel_place(const char *kdir, const char *root, const char *rel, int level)
{
	_cleanup_free_ char *vmlinuz = xasprintf("%s/boot/vmlinuz-%s", root, rel);
	_cleanup_free_ char *vmlinux = xasprintf("%s/vmlinux", root);
	_cleanup_free_ char *final = NULL;
	int r;

	image_say(level, "extracting vmlinux");
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
static int kernel_fetch(const char *kdir, int level, char **ret_release)
{
	_cleanup_free_ char *dl = xasprintf("%s/dl.XXXXXX", kdir);
	_cleanup_free_ char *deb = NULL, *root = NULL, *rel = NULL;
	int r;

	if (!mkdtemp(dl))
		return -errno;
	r = kernel_download(dl, level, &deb);
	if (r == 0)
		r = kernel_unpack(dl, deb, level, &root, &rel);
	if (r == 0)
		r = kernel_place(kdir, root, rel, level);
	if (r == 0)
		*ret_release = TAKE_PTR(rel);
	rm_rf(dl);
	return r;
}

/* The initramfs for k, with a bar at level 1, and its stamp. */
static int kernel_initramfs(const struct kernel_info *k, const char *guest_bin, const char *stamp, int level)
{
	_cleanup_free_ char *spath = xasprintf("%s.stamp", k->initramfs);
	struct progress *pg = image_progress(level, "initramfs", 0);
	int r = initramfs_build(k->initramfs, guest_bin, k->modules_dir, k->release, pg);

	progress_end(pg, r == 0);
	if (r == 0)
		r = file_write_atomic(spath, stamp, strlen(stamp), 0644);
	return r;
}

int kernel_ensure(const struct sbx_paths *p, int level, struct kernel_info *ret)
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
	lock = image_lock(lockp, level >= 1);
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
		r = kernel_fetch(kdir, level, &rel);
		if (r < 0)
			return r;
		kernel_info_fill(&k, kdir, rel);
		if (!kernel_complete(&k)) {
			kernel_info_free(&k);
			return -EIO;
		}
		/* Initramfs first: a published release always has one. */
		image_say(level, "building initramfs for %s", rel);
		r = kernel_initramfs(&k, p->guest_bin, stamp, level);
		if (r == 0) {
			_cleanup_free_ char *line = xasprintf("%s\n", rel);
			r = file_write_atomic(relpath, line, strlen(line), 0644);
		}
		if (r < 0) {
			log_err("cannot build the initramfs: %s", strerror(-r));
			kernel_info_free(&k);
			return r;
		}
		image_say(level, "kernel %s ready in %s", rel, kdir);
	} else if (!initramfs_current(&k, stamp)) {
		image_say(level, "rebuilding initramfs (sbx-guest changed)");
		r = kernel_initramfs(&k, p->guest_bin, stamp, level);
		if (r < 0) {
			log_err("cannot build the initramfs: %s", strerror(-r));
			kernel_info_free(&k);
			return r;
		}
	}
	*ret = k;
	return 0;
}
