// SPDX-License-Identifier: MIT
/* test_cp_extract.c: sbx cp's host-side unpacking of guest archives (cp_extract) and
 * the host packer (cp_pack) read back through it: valid trees, and every refusal. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cp_extract.h"
#include "cp_pack.h"
#include "testlib.h"
#include "util.h"

struct ent {
	const char *name;
	unsigned type;       /* AE_IF*; 0 = regular file */
	unsigned mode;
	const char *data;    /* file content, or symlink target / hard link target */
	int64_t size;        /* > 0: claimed size instead of strlen(data) */
};

static char base[PATH_MAX], dest[PATH_MAX + 8], outside[PATH_MAX + 16];
static uint8_t arc[1 << 20];

static size_t mk(const struct ent *e, size_t n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	size_t used = 0;

	archive_write_set_format_gnutar(a);
	archive_write_open_memory(a, arc, sizeof(arc), &used);
	for (size_t i = 0; i < n; i++) {
		unsigned type = e[i].type ? e[i].type : AE_IFREG;
		archive_entry_clear(ae);
		archive_entry_copy_pathname(ae, e[i].name);
		archive_entry_set_mode(ae, type | (e[i].mode ? e[i].mode : 0644));
		if (type == AE_IFLNK)
			archive_entry_copy_symlink(ae, e[i].data);
		if (type == AE_IFREG && e[i].data && e[i].size < 0)
			archive_entry_copy_hardlink(ae, e[i].data);
		archive_entry_set_size(ae, type == AE_IFREG && e[i].size >= 0 ?
						   (e[i].size > 0 ? e[i].size : (int64_t)strlen(e[i].data ?: "")) : 0);
		archive_write_header(a, ae);
		if (type == AE_IFREG && e[i].data && e[i].size == 0)
			archive_write_data(a, e[i].data, strlen(e[i].data));
	}
	archive_write_close(a);
	archive_entry_free(ae);
	archive_write_free(a);
	return used;
}

static char *path_in(const char *dir, const char *rel)
{
	return xasprintf("%s/%s", dir, rel);
}

static const char *outside_victim(void)
{
	static char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/victim", outside);
	return p;
}

/* Nothing outside dest changed: base holds dest and outside, outside only the victim. */
static bool outside_ok(void)
{
	_cleanup_free_ char *v = slurp(outside_victim());
	DIR *d = opendir(outside);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	d = opendir(base);
	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n == 3 && !strcmp(v, "keep");
}

static void fresh(void)
{
	rm_rf(dest);
	rm_rf(outside);
	CHECK(mkdir(dest, 0755) == 0);
	CHECK(mkdir(outside, 0755) == 0);
	CHECK(file_write_atomic(outside_victim(), "keep", 4, 0644) == 0);
}

static int run(const struct ent *e, size_t n, const char *top_in, const char *top_out, bool rec, char **err,
	       struct cp_limits lim)
{
	int dfd = open(dest, O_RDONLY | O_DIRECTORY);
	struct cp_extract_opts o = { .dest_fd = dfd, .top_in = top_in, .top_out = top_out, .recursive = rec,
				     .lim = lim };
	size_t len = mk(e, n);
	int r = cp_extract_mem(arc, len, &o, err);

	close(dfd);
	return r;
}

static mode_t mode_of(const char *rel)
{
	_cleanup_free_ char *p = path_in(dest, rel);
	struct stat st;

	if (lstat(p, &st) < 0)
		return (mode_t)-1;
	return st.st_mode;
}

static void test_good_tree(void)
{
	struct ent e[] = {
		{ "./top", AE_IFDIR, 0750, NULL, 0 },
		{ "./top/a", 0, 0640, "alpha", 0 },
		{ "./top/run", 0, 04755, "#!/bin/sh\n", 0 },
		{ "./top/l", AE_IFLNK, 0777, "../../etc/passwd", 0 },
		{ "./top/ro", AE_IFDIR, 0555, NULL, 0 },
		{ "./top/ro/in", 0, 0444, "in", 0 },
		{ "./top/deep/er/f", 0, 0600, "implied dirs", 0 },
	};
	char *err = NULL;
	char lnk[64] = { 0 };
	_cleanup_free_ char *lp = path_in(dest, "new/l");

	fresh();
	CHECK_EQ(run(e, ARRAY_SIZE(e), "top", "new", true, &err, cp_limits_default()), 0);
	if (err)
		fprintf(stderr, "unexpected: %s\n", err);
	CHECK_EQ(mode_of("new") & 07777, 0750);
	CHECK_EQ(mode_of("new/a") & 07777, 0640);
	CHECK_EQ(mode_of("new/run") & 07777, 0755); /* setuid dropped */
	CHECK(S_ISLNK(mode_of("new/l")));
	CHECK(readlink(lp, lnk, sizeof(lnk) - 1) > 0 && !strcmp(lnk, "../../etc/passwd"));
	CHECK_EQ(mode_of("new/ro") & 07777, 0555);
	CHECK_EQ(mode_of("new/ro/in") & 07777, 0444);
	CHECK_EQ(mode_of("new/deep/er/f") & 07777, 0600);
	{
		_cleanup_free_ char *p = path_in(dest, "new/a"), *c = slurp(p);
		CHECK_STR(c, "alpha");
	}
	CHECK(outside_ok());
	_cleanup_free_ char *ro = path_in(dest, "new/ro");
	chmod(ro, 0755);
}

/* An existing hard link in dest to a file elsewhere is replaced, not written through. */
static void test_replace_not_through_hardlink(void)
{
	struct ent e[] = { { "f", 0, 0644, "new", 0 } };
	_cleanup_free_ char *p = path_in(dest, "f");
	char *err = NULL;

	fresh();
	CHECK(link(outside_victim(), p) == 0);
	CHECK_EQ(run(e, 1, "f", "f", false, &err, cp_limits_default()), 0);
	_cleanup_free_ char *c = slurp(p);
	CHECK_STR(c, "new");
	CHECK(outside_ok());
}

static void refused(const struct ent *e, size_t n, bool rec, struct cp_limits lim, const char *says, int line)
{
	char *err = NULL;
	int r;

	fresh();
	r = run(e, n, "top", "top", rec, &err, lim);
	if (r >= 0 || !err || !strstr(err, says) || !outside_ok()) {
		fprintf(stderr, "line %d: r=%d err=%s (want '%s')\n", line, r, err ? err : "(none)", says);
		CHECK(false);
	} else {
		CHECK(true);
	}
	free(err);
}

#define REFUSED(rec, says, ...)                                                                   \
	do {                                                                                      \
		struct ent _e[] = { __VA_ARGS__ };                                                \
		refused(_e, ARRAY_SIZE(_e), rec, cp_limits_default(), says, __LINE__);            \
	} while (0)

static void test_refusals(void)
{
	char longc[300], longp[5000], deep[1200];
	char vict[PATH_MAX + 40];
	struct cp_limits small = { .max_bytes = 10, .max_entries = 3 };

	snprintf(vict, sizeof(vict), "%s", outside_victim());
	REFUSED(true, "'..' in the name", { "top/../../escape", 0, 0, "x", 0 });
	REFUSED(true, "'..' in the name", { "../escape", 0, 0, "x", 0 });
	REFUSED(true, "'..' in the name", { "top/./a", 0, 0, "x", 0 });
	REFUSED(true, "absolute name", { "/tmp/abs", 0, 0, "x", 0 });
	REFUSED(true, "empty component", { "top//a", 0, 0, "x", 0 });
	REFUSED(true, "not under 'top'", { "other", 0, 0, "x", 0 });
	REFUSED(true, "not under 'top'", { "top2/a", 0, 0, "x", 0 });
	REFUSED(true, "refusing to write through", { "top", AE_IFDIR, 0755, NULL, 0 },
		{ "top/l", AE_IFLNK, 0, outside, 0 }, { "top/l/pwned", 0, 0, "x", 0 });
	REFUSED(true, "exists as a symlink", { "top", AE_IFDIR, 0755, NULL, 0 },
		{ "top/l", AE_IFLNK, 0, vict, 0 }, { "top/l", 0, 0, "x", 0 });
	REFUSED(true, "hard link", { "top", AE_IFDIR, 0755, NULL, 0 }, { "top/h", 0, 0, vict, -1 });
	REFUSED(true, "device, fifo", { "top", AE_IFDIR, 0755, NULL, 0 }, { "top/c", AE_IFCHR, 0666, NULL, 0 });
	REFUSED(true, "device, fifo", { "top", AE_IFDIR, 0755, NULL, 0 }, { "top/f", AE_IFIFO, 0666, NULL, 0 });
	REFUSED(true, "device, fifo", { "top", AE_IFDIR, 0755, NULL, 0 }, { "top/b", AE_IFBLK, 0666, NULL, 0 });
	REFUSED(true, "not a directory", { "top", 0, 0, "file", 0 }, { "top", AE_IFDIR, 0755, NULL, 0 });
	REFUSED(true, "exists and is not a regular file", { "top", AE_IFDIR, 0755, NULL, 0 },
		{ "top/d", AE_IFDIR, 0755, NULL, 0 }, { "top/d", 0, 0, "x", 0 });
	REFUSED(true, "exists as a directory", { "top", AE_IFDIR, 0755, NULL, 0 },
		{ "top/d", AE_IFDIR, 0755, NULL, 0 }, { "top/d", AE_IFLNK, 0, "x", 0 });
	REFUSED(false, "use -r", { "top", AE_IFDIR, 0755, NULL, 0 });
	REFUSED(false, "more than one entry", { "top", 0, 0, "a", 0 }, { "top", 0, 0, "b", 0 });
	REFUSED(true, "would pass", { "top", 0, 0, "x", (int64_t)1 << 40 });
	memset(longc, 'a', sizeof(longc) - 1);
	longc[sizeof(longc) - 1] = '\0';
	{
		_cleanup_free_ char *nm = xasprintf("top/%s", longc);
		REFUSED(true, "component longer", { nm, 0, 0, "x", 0 });
	}
	memset(longp, 'b', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	memcpy(longp, "top/", 4);
	REFUSED(true, "longer than", { longp, 0, 0, "x", 0 });
	strcpy(deep, "top");
	for (int i = 0; i < 300; i++)
		strcat(deep, "/d");
	REFUSED(true, "levels deep", { deep, 0, 0, "x", 0 });
	{
		struct ent e[] = { { "top", AE_IFDIR, 0755, NULL, 0 }, { "top/a", 0, 0, "12345678", 0 },
				   { "top/b", 0, 0, "12345678", 0 } };
		refused(e, 3, true, small, "pass 10 bytes", __LINE__);
	}
	{
		struct ent e[] = { { "top", AE_IFDIR, 0755, NULL, 0 }, { "top/a", AE_IFDIR, 0, NULL, 0 },
				   { "top/b", AE_IFDIR, 0, NULL, 0 }, { "top/c", AE_IFDIR, 0, NULL, 0 } };
		refused(e, 4, true, small, "more than 3 entries", __LINE__);
	}
	{
		char *err = NULL;
		int dfd = open(dest, O_RDONLY | O_DIRECTORY);
		struct cp_extract_opts o = { .dest_fd = dfd, .top_in = "top", .top_out = "top", .recursive = true,
					     .lim = cp_limits_default() };
		CHECK(cp_extract_mem("garbage\x1b[31m", 12, &o, &err) < 0 && err && !strchr(err, '\x1b'));
		free(err);
		err = NULL;
		memset(arc, 0, 1024); /* only the end-of-archive blocks */
		CHECK(cp_extract_mem(arc, 1024, &o, &err) < 0 && err);
		free(err);
		close(dfd);
	}
}

/* cp_pack's stream, read back by cp_extract: the round trip keeps the tree. */
static void test_pack_roundtrip(void)
{
	_cleanup_free_ char *src = path_in(base, "src"), *f = path_in(base, "src/x.sh"), *l = path_in(base, "src/ln"),
			    *sub = path_in(base, "src/sub"), *pipe_path = path_in(dest, "../pack.tar");
	char *err = NULL;
	char lnk[64] = { 0 };
	int fd, dfd;

	fresh();
	rm_rf(src);
	CHECK(mkdir(src, 0751) == 0);
	CHECK(mkdir(sub, 0700) == 0);
	CHECK(file_write_atomic(f, "#!/bin/sh\n", 10, 0755) == 0);
	CHECK(symlink("/etc/shadow", l) == 0);
	fd = open(pipe_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(cp_pack(fd, src, "src", true, &err), 0);
	CHECK(cp_pack(fd, src, "src", false, &err) == -EISDIR);
	free(err);
	err = NULL;
	lseek(fd, 0, SEEK_SET);
	dfd = open(dest, O_RDONLY | O_DIRECTORY);
	{
		struct cp_extract_opts o = { .dest_fd = dfd, .top_in = "src", .top_out = "copy", .recursive = true,
					     .lim = cp_limits_default() };
		CHECK_EQ(cp_extract_fd(fd, &o, &err), 0);
	}
	close(dfd);
	close(fd);
	unlink(pipe_path);
	rm_rf(src);
	CHECK_EQ(mode_of("copy") & 07777, 0751);
	CHECK_EQ(mode_of("copy/sub") & 07777, 0700);
	CHECK_EQ(mode_of("copy/x.sh") & 07777, 0755);
	_cleanup_free_ char *lp = path_in(dest, "copy/ln");
	CHECK(readlink(lp, lnk, sizeof(lnk) - 1) > 0 && !strcmp(lnk, "/etc/shadow"));
	free(err);
}

/* Through an fd: tar's record padding after the archive is read and accepted; an
 * endless tail is not. */
static void test_fd_trailer(void)
{
	struct ent e[] = { { "top", 0, 0644, "x", 0 } };
	size_t len = mk(e, 1);
	_cleanup_free_ char *p = path_in(base, "trail.tar");
	static uint8_t zeros[64 * 1024];

	for (int big = 0; big < 2; big++) {
		char *err = NULL;
		int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600), dfd, r;

		fresh();
		CHECK(write_all(fd, arc, len) == 0);
		for (int i = 0; i < (big ? 20 : 1); i++)
			CHECK(write_all(fd, zeros, big ? sizeof(zeros) : 10240) == 0);
		lseek(fd, 0, SEEK_SET);
		dfd = open(dest, O_RDONLY | O_DIRECTORY);
		struct cp_extract_opts o = { .dest_fd = dfd, .top_in = "top", .top_out = "top", .lim = cp_limits_default() };
		r = cp_extract_fd(fd, &o, &err);
		CHECK(big ? r == -EPROTO && err && strstr(err, "after the end") : r == 0);
		off_t pos = lseek(fd, 0, SEEK_CUR);
		CHECK(big || pos == (off_t)(len + 10240));
		free(err);
		close(dfd);
		close(fd);
	}
	unlink(p);
}

/* In a child confined by cp_extract_confine: a tree still unpacks under dest, and
 * nothing can be made outside it (nor a fifo inside it). */
static void test_confine(void)
{
	pid_t pid;
	int st = -1;

	fresh();
	pid = fork();
	if (pid == 0) {
		struct ent e[] = { { "top", AE_IFDIR, 0755, NULL, 0 }, { "top/ro", AE_IFDIR, 0555, NULL, 0 },
				   { "top/ro/f", 0, 0644, "f", 0 }, { "top/l", AE_IFLNK, 0, "/x", 0 },
				   { "top/ro/f", 0, 0600, "again", 0 } };
		int dfd = open(dest, O_RDONLY | O_DIRECTORY), r = cp_extract_confine(dfd), fd;
		char *err = NULL;
		_cleanup_free_ char *out = path_in(outside, "new"), *fifo = path_in(dest, "fifo");

		if (r == 0)
			_exit(77);
		if (r != 1)
			_exit(10);
		fd = open(out, O_WRONLY | O_CREAT, 0644);
		if (fd >= 0 || errno != EACCES)
			_exit(11);
		fd = open(outside_victim(), O_WRONLY);
		if (fd >= 0 || errno != EACCES)
			_exit(12);
		if (mkfifo(fifo, 0644) == 0 || errno != EACCES)
			_exit(13);
		if (run(e, ARRAY_SIZE(e), "top", "top", true, &err, cp_limits_default()) != 0)
			_exit(14);
		_exit(0);
	}
	CHECK(pid > 0);
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		printf("test_confine: no Landlock in this kernel; skipped\n");
		return;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "test_confine: child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(mode_of("top/ro") & 07777, 0555);
	{
		_cleanup_free_ char *p = path_in(dest, "top/ro/f"), *c = slurp(p);
		CHECK_STR(c, "again");
	}
	CHECK(outside_ok());
	_cleanup_free_ char *ro = path_in(dest, "top/ro");
	chmod(ro, 0755);
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/sbx-test-cp-XXXXXX");
	if (!mkdtemp(base))
		return 1;
	snprintf(dest, sizeof(dest), "%s/dest", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	test_good_tree();
	test_replace_not_through_hardlink();
	test_refusals();
	test_pack_roundtrip();
	test_fd_trailer();
	test_confine();
	rm_rf(base);
	TEST_DONE();
}
