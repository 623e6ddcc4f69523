// SPDX-License-Identifier: MIT
/* cp_extract.h: `sbx cp` guest -> host: unpack a tar stream the guest made (hostile
 * bytes) under one host directory, never outside it. */
#ifndef SBX_CP_EXTRACT_H
#define SBX_CP_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what one copy may create (cp_extract_limits_default()). */
#define CP_MAX_BYTES (16ull << 30)     /* file data, all entries together */
#define CP_MAX_ENTRIES 1000000u
#define CP_MAX_PATH 4095u              /* an entry's name, and a symlink's target */
#define CP_MAX_NAME 255u               /* one component */
#define CP_MAX_DEPTH 256u              /* components in a name */

struct cp_limits {
	uint64_t max_bytes;
	uint32_t max_entries;
};

/*
 * Where and what to unpack. Every entry's name must be `top_in` or start with
 * `top_in/` (one leading "./" is dropped first); that first component is replaced by
 * `top_out`, and the result is created under the directory dest_fd (the caller's, not
 * closed). Names are checked before use: no absolute names, no empty, "." or ".."
 * components, bounded lengths and depth. Only regular files, directories and symbolic
 * links; hard links, devices, fifos and sockets are refused. The tree is walked with
 * O_NOFOLLOW from dest_fd for every entry, so nothing is written through a symlink,
 * whether the copy made it or it was there before; a regular file never replaces a
 * symlink or a directory. Files and symlinks are written to a temporary name and
 * renamed into place (an existing hard link elsewhere is not written through).
 * Permission bits are kept (setuid, setgid and sticky dropped); owners are the
 * caller's. Without `recursive` the archive must be one entry that is not a directory.
 * The first violation stops the copy: what was already created stays.
 */
struct cp_extract_opts {
	int dest_fd;
	const char *top_in, *top_out;
	bool recursive;
	struct cp_limits lim;
};

struct cp_limits cp_limits_default(void);

/* Unpack the tar stream read from fd, and read fd to its end (at most 1 MiB may follow
 * the archive: tar's padding), so that its writer sees no closed pipe. 0, or -errno with *ret_err (a
 * malloc'd, terminal-safe reason). */
int cp_extract_fd(int fd, const struct cp_extract_opts *o, char **ret_err);
/* The same from memory (tests, fuzzing). */
int cp_extract_mem(const void *data, size_t len, const struct cp_extract_opts *o, char **ret_err);

/* Defence in depth for the process that unpacks: Landlock lets it change the file
 * system only under dest_fd (and there make no device, fifo or socket), for the rest
 * of its life. 1 applied, 0 the kernel has no Landlock, -errno. */
int cp_extract_confine(int dest_fd);

#endif
