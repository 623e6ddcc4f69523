// SPDX-License-Identifier: MIT
/* fuzz_cp_extract.c: libFuzzer target: the tar stream a guest sends to `sbx cp`
 * (cp_extract.c, libarchive's tar reader under it).
 *
 * Input: one byte of flags (bit 0: without -r; bit 1: the destination already holds a
 * symlink "t" to a directory outside it; bit 2: it holds a directory "t" with a symlink
 * "t/l" to a file outside), then the archive; the top name is "t" (and kept "t").
 * Limits: 1 MiB of data, 2000 entries. Invariants: nothing outside the destination
 * changes (the outside directory keeps exactly its one file and its content, the
 * scratch directory exactly its two entries); a failure always has a reason and a
 * success none; after any run the destination holds only regular files without
 * setuid/setgid bits and with one link each, directories and symlinks.
 */
#include <assert.h>
#include <dirent.h>
#include <ftw.h>
#include <string.h>

#include "cp_extract.h"
#include "fuzzlib.h"

static char dest[128], outside[128], victim[160];

static int check_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)path, (void)flag, (void)f;
	if (S_ISREG(st->st_mode)) {
		assert(!(st->st_mode & (S_ISUID | S_ISGID)));
		assert(st->st_nlink == 1);
	} else {
		assert(S_ISDIR(st->st_mode) || S_ISLNK(st->st_mode));
	}
	if (S_ISDIR(st->st_mode))
		(void)chmod(path, 0700); /* so that it can be walked and removed */
	return 0;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *base = fz_tmpdir();
	struct cp_extract_opts o = { .top_in = "t", .top_out = "t", .lim = { .max_bytes = 1 << 20, .max_entries = 2000 } };
	char *err = NULL, *v = NULL;
	size_t vlen;
	uint8_t flags;
	int r;

	if (size < 1)
		return 0;
	flags = data[0];
	if (!dest[0]) {
		snprintf(dest, sizeof(dest), "%s/dest", base);
		snprintf(outside, sizeof(outside), "%s/outside", base);
		snprintf(victim, sizeof(victim), "%s/victim", outside);
		if (mkdir(outside, 0755) < 0)
			abort();
		fz_write(victim, "keep", 4, 0644);
	}
	if (mkdir(dest, 0755) < 0)
		abort();
	if (flags & 2) {
		_cleanup_free_ char *p = xasprintf("%s/t", dest);
		if (symlink(outside, p) < 0)
			abort();
	} else if (flags & 4) {
		_cleanup_free_ char *p = xasprintf("%s/t", dest), *l = xasprintf("%s/t/l", dest);
		if (mkdir(p, 0755) < 0 || symlink(victim, l) < 0)
			abort();
	}
	o.recursive = !(flags & 1);
	o.dest_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o.dest_fd < 0)
		abort();
	r = cp_extract_mem(data + 1, size - 1, &o, &err);
	close(o.dest_fd);
	assert(r == 0 ? err == NULL : err != NULL);
	free(err);

	assert(count_entries(outside) == 1);
	assert(count_entries(base) == 2);
	assert(file_read_all(victim, 64, &v, &vlen) == 0 && vlen == 4 && !memcmp(v, "keep", 4));
	free(v);
	assert(nftw(dest, check_entry, 16, FTW_PHYS) == 0);
	if (rm_rf(dest) < 0)
		abort();
	return 0;
}
