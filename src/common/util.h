// SPDX-License-Identifier: MIT
/* util.h: helpers shared by host and guest: cleanup attributes, logging, plain I/O. */
#ifndef SBX_UTIL_H
#define SBX_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define _cleanup_(f) __attribute__((cleanup(f)))
static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
/* Hand ownership out of a cleanup variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
/* Process-wide log settings, set once at start-up. */
void log_setup(const char *prefix, enum log_level max, bool timestamps);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
/* Print "prefix: message" and exit(1). Start-up and configuration only. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Loop over partial writes/reads and EINTR. Return 0 / bytes read, or -errno. */
int write_all(int fd, const void *buf, size_t len);
ssize_t read_full(int fd, void *buf, size_t len);

/* Write a file atomically: temp file in the same directory, fsync, rename, fsync dir. */
int file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode);
/* Read a whole file of at most max bytes (more is -EFBIG); *ret is NUL-terminated. */
int file_read_all(const char *path, size_t max, char **ret, size_t *ret_len);
/* The same from an open fd (read to its end; the fd stays open). */
int fd_read_all(int fd, size_t max, char **ret, size_t *ret_len);
/* Open (create, 0600, no symlink) path and flock it (how: LOCK_EX or LOCK_SH), waiting;
 * the fd, or -errno. Closing it releases the lock. */
int file_lock(const char *path, int how);
/* fdopendir() that owns fd: on failure fd is closed (errno kept); fd < 0 gives NULL. */
DIR *dir_from_fd(int fd);
/* mkdir -p; existing directories are fine. */
/* A workspace (or share) path the guest may mount over, at the same path as on the
 * host: absolute, normalised (no "//", ".", ".." or trailing slash), under 4096
 * bytes, and not a system directory of the VM ("/", /etc, /usr, ...) nor anything
 * under /proc, /sys or /dev. The guest refuses others; the CLI says so first. */
bool workspace_path_valid(const char *p);
/* A directory of the workspace kept on the VM's own disk (sbx run --local): relative,
 * 1-255 bytes of printable characters, normalised (no "", ".", ".." component, no
 * leading or trailing slash), and not in .git (the git guards own it). */
#define LOCAL_DIRS_MAX 16
#define LOCAL_DIR_LEN_MAX 255
bool local_dir_valid(const char *rel);

int mkdir_p(const char *path, mode_t mode);
/* Remove a directory tree without following symlinks or crossing file systems. */
int rm_rf(const char *path);

/* Did path change since *old was taken (had = a stat was taken; the file existed)?
 * Compares identity, size and mtime: cheap enough to poll for config reloads. */
struct stat;
bool file_changed_since(const char *path, bool had, const struct stat *old);

uint64_t now_ms(void);          /* CLOCK_MONOTONIC */
uint64_t now_us(void);
int fd_set_nonblock(int fd, bool on);
int fd_set_cloexec(int fd, bool on);

/* Equal strings, or both NULL (a NULL scope means "global" in the policy and the secret store). */
static inline bool streq_null(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* asprintf that dies on OOM; for short strings only. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), returns_nonnull));
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
char *xstrdup(const char *s);

/* Little-endian accessors used by the wire formats. */
/* Value of a hexadecimal digit, -1 for any other byte. */
static inline int hex_digit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline void put_le16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void put_le32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static inline uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
