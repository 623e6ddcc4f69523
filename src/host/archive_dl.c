// SPDX-License-Identifier: MIT
/* archive_dl.c: libarchive loaded on first use, not at every sbx start: its libraries
 * (libxml2, ICU, libstdc++) cost every command 1.4 ms (docs/exec-profile.md), and
 * only sbx cp and template export/import use it. Each function sbx calls is defined
 * here with libarchive's own prototype and calls through to the loaded library. */
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define ARCHIVE_DL_SONAME "libarchive.so.13"

/* X(return type, name, parameters, arguments): every libarchive function sbx uses. */
#define ARCHIVE_FUNCS(X)                                                                                       \
	X(struct archive_entry *, archive_entry_clear, (struct archive_entry *e), (e))                           \
	X(const char *, archive_entry_hardlink, (struct archive_entry *e), (e))                                  \
	X(const char *, archive_entry_pathname, (struct archive_entry *e), (e))                                  \
	X(const char *, archive_entry_symlink, (struct archive_entry *e), (e))                                   \
	X(mode_t, archive_entry_filetype, (struct archive_entry *e), (e))                                        \
	X(mode_t, archive_entry_perm, (struct archive_entry *e), (e))                                            \
	X(la_int64_t, archive_entry_size, (struct archive_entry *e), (e))                                        \
	X(int, archive_entry_size_is_set, (struct archive_entry *e), (e))                                        \
	X(const char *, archive_error_string, (struct archive *a), (a))                                          \
	X(la_ssize_t, archive_read_data, (struct archive *a, void *b, size_t n), (a, b, n))                      \
	X(int, archive_read_data_block, (struct archive *a, const void **b, size_t *n, la_int64_t *o), (a, b, n, o)) \
	X(int, archive_read_free, (struct archive *a), (a))                                                      \
	X(int, archive_read_next_header, (struct archive *a, struct archive_entry **e), (a, e))                  \
	X(int, archive_read_open, (struct archive *a, void *d, archive_open_callback *o, archive_read_callback *r, \
				   archive_close_callback *c), (a, d, o, r, c))                                  \
	X(int, archive_read_open_fd, (struct archive *a, int fd, size_t bs), (a, fd, bs))                        \
	X(int, archive_read_open_memory, (struct archive *a, const void *b, size_t n), (a, b, n))                \
	X(int, archive_read_support_filter_zstd, (struct archive *a), (a))                                       \
	X(int, archive_read_support_format_tar, (struct archive *a), (a))                                        \
	X(int, archive_write_add_filter_zstd, (struct archive *a), (a))                                          \
	X(int, archive_write_close, (struct archive *a), (a))                                                    \
	X(la_ssize_t, archive_write_data, (struct archive *a, const void *b, size_t n), (a, b, n))               \
	X(int, archive_write_free, (struct archive *a), (a))                                                     \
	X(int, archive_write_header, (struct archive *a, struct archive_entry *e), (a, e))                       \
	X(int, archive_write_open_fd, (struct archive *a, int fd), (a, fd))                                      \
	X(int, archive_write_set_bytes_in_last_block, (struct archive *a, int n), (a, n))                        \
	X(int, archive_write_set_format_gnutar, (struct archive *a), (a))                                        \
	X(int, archive_write_set_format_pax_restricted, (struct archive *a), (a))

/* The same for functions that return nothing. */
#define ARCHIVE_VOID_FUNCS(X)                                                                                  \
	X(archive_entry_copy_gname, (struct archive_entry *e, const char *s), (e, s))                            \
	X(archive_entry_copy_pathname, (struct archive_entry *e, const char *s), (e, s))                         \
	X(archive_entry_copy_symlink, (struct archive_entry *e, const char *s), (e, s))                          \
	X(archive_entry_copy_uname, (struct archive_entry *e, const char *s), (e, s))                            \
	X(archive_entry_free, (struct archive_entry *e), (e))                                                    \
	X(archive_entry_set_filetype, (struct archive_entry *e, unsigned int t), (e, t))                         \
	X(archive_entry_set_mtime, (struct archive_entry *e, time_t t, long ns), (e, t, ns))                     \
	X(archive_entry_set_pathname, (struct archive_entry *e, const char *s), (e, s))                          \
	X(archive_entry_set_perm, (struct archive_entry *e, mode_t m), (e, m))                                   \
	X(archive_entry_set_size, (struct archive_entry *e, la_int64_t n), (e, n))

/* The constructors: NULL when the library cannot be loaded (callers handle NULL). */
#define ARCHIVE_NEW_FUNCS(X)                                                                                   \
	X(struct archive_entry *, archive_entry_new)                                                             \
	X(struct archive *, archive_read_new)                                                                    \
	X(struct archive *, archive_write_new)

#define PTR(r, n, p, a) r(*n) p;
#define VPTR(n, p, a) void(*n) p;
#define NPTR(r, n) r (*n)(void);
static struct {
	ARCHIVE_FUNCS(PTR)
	ARCHIVE_VOID_FUNCS(VPTR)
	ARCHIVE_NEW_FUNCS(NPTR)
	void (*archive_set_error)(struct archive *, int, const char *, ...);
} fn;
static int loaded; /* 0 not tried, 1 loaded, -1 failed (not retried) */

static bool archive_dl_load(void)
{
	void *h;

	if (loaded)
		return loaded > 0;
	loaded = -1;
	h = dlopen(ARCHIVE_DL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return false;
#define SYM(n) if (!(*(void **)&fn.n = dlsym(h, #n))) goto fail;
#define LOAD(r, n, p, a) SYM(n)
#define VLOAD(n, p, a) SYM(n)
#define NLOAD(r, n) SYM(n)
	ARCHIVE_FUNCS(LOAD)
	ARCHIVE_VOID_FUNCS(VLOAD)
	ARCHIVE_NEW_FUNCS(NLOAD)
	SYM(archive_set_error)
	loaded = 1;   /* never unloaded */
	return true;
fail:
	dlclose(h);
	return false;
}

/* Every other function gets an object one of the constructors made: loaded by then. */
static void archive_dl_need(void)
{
	if (!archive_dl_load()) {
		fprintf(stderr, "sbx: %s: libarchive used before it was loaded\n", ARCHIVE_DL_SONAME);
		abort();
	}
}

#define WRAP(r, n, p, a) r n p { archive_dl_need(); return fn.n a; }
#define VWRAP(n, p, a) void n p { archive_dl_need(); fn.n a; }
#define NWRAP(r, n) r n(void) { return archive_dl_load() ? fn.n() : NULL; }
ARCHIVE_FUNCS(WRAP)
ARCHIVE_VOID_FUNCS(VWRAP)
ARCHIVE_NEW_FUNCS(NWRAP)

void archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	archive_dl_need();
	fn.archive_set_error(a, err, "%s", msg);
}
