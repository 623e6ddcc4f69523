// SPDX-License-Identifier: MIT
/* review.h: snapshots of a workspace's trust-relevant files (review_rules.h), the
 * baseline kept in a sandbox's state directory, and comparing the two. */
#ifndef SBX_REVIEW_H
#define SBX_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "review_repos.h"
#include "review_rules.h"

/* Bounds of one scan. Beyond REVIEW_COPY_MAX (per file) or REVIEW_COPY_TOTAL_MAX
 * (all files) a file is hashed but its content is not kept: no diff for it. */
#define REVIEW_FILES_MAX 4096
#define REVIEW_COPY_MAX (1u << 20)
#define REVIEW_COPY_TOTAL_MAX (64u << 20)
#define REVIEW_DEPTH_MAX 12
#define REVIEW_VISIT_MAX 200000
#define REVIEW_HASH_MAX (256ull << 20)          /* per file */
#define REVIEW_HASH_TOTAL_MAX (1ull << 30)      /* per scan */

enum review_type { RT_FILE, RT_SYMLINK, RT_FIFO, RT_SOCKET, RT_CHARDEV, RT_BLOCKDEV, RT_OTHER };

/* Why a scan is incomplete (bit set). An incomplete scan may hide changes. */
enum {
	REVIEW_HIT_VISITS = 1 << 0,   /* more than REVIEW_VISIT_MAX entries */
	REVIEW_HIT_DEPTH = 1 << 1,    /* a directory deeper than REVIEW_DEPTH_MAX */
	REVIEW_HIT_FILES = 1 << 2,    /* more than REVIEW_FILES_MAX matching files */
	REVIEW_HIT_UNREAD = 1 << 3,   /* a matching file could not be read */
	REVIEW_HIT_HASH = 1 << 4,     /* hash budget used up, or a file past REVIEW_HASH_MAX */
	REVIEW_HIT_REPOS = 1 << 5,    /* more than REVIEW_REPOS_MAX git repositories */
	REVIEW_HIT_LAST = REVIEW_HIT_REPOS,
};

struct review_entry {
	char *path;                 /* workspace-relative, raw bytes */
	const struct review_rule *rule;
	enum review_type type;
	uint32_t mode;              /* st_mode & 07777 */
	uint64_t size;
	char sha256[65];            /* hex of the content (the target for a symlink); "" if not read */
	char *data;                 /* content (target for a symlink), NULL when not kept */
	size_t data_len;
	char *error;                /* why it could not be read, or NULL */
};

/* Owns its entries; entries sorted by path (strcmp). */
struct review_snap {
	struct review_entry *v;
	size_t n, cap;
	unsigned hits;              /* REVIEW_HIT_* */
	int64_t taken;              /* unix seconds */
	uint64_t copied;            /* bytes of content kept */
	struct review_repos repos;  /* git repositories met on the way (not stored in baselines) */
};

void review_snap_free(struct review_snap *s);
/* Append a zeroed entry for path (copied); the caller fills it in. */
struct review_entry *review_snap_add(struct review_snap *s, const char *path);

/* Walk the workspace (never following a symlink, never opening anything but regular
 * files and directories) and collect what matches the rules, with content, and the
 * git repositories host git would find (review_repos.h). A bare repository (a
 * directory that is a git directory, whatever its name) is walked like a .git: its
 * config, hooks and modules are entries, named by their real path, matched by the
 * .git rules. */
int review_scan(const char *workspace, struct review_snap *ret);
/* The same, plus (git_dir != NULL: a --branch sandbox) the repository's git directory
 * the VM shares too, walked with the git rules; its entries are named by absolute path. */
int review_scan_sandbox(const char *workspace, const char *git_dir, struct review_snap *ret);

/*
 * The baseline lives in DIR/baseline/: manifest.json (paths percent-encoded) and
 * blobs/SHA256 (content-addressed copies). Blobs are written first and synced, the
 * manifest last with file_write_atomic(); a lock file serialises writers.
 */
/* Scan and store as the baseline. */
int review_baseline_take(const char *sbdir, const char *workspace, const char *git_dir,
			 struct review_snap *ret_opt);
/* Store a scan as the baseline, replacing the old one (unreferenced blobs removed). */
int review_baseline_save(const char *sbdir, const struct review_snap *s);
/* Load it, with the content of every copied file. -ENOENT when there is none;
 * -EBADMSG when it does not parse or a blob does not match its hash. */
int review_baseline_load(const char *sbdir, struct review_snap *ret);

enum review_change {
	RC_ADDED = 1 << 0,
	RC_REMOVED = 1 << 1,
	RC_MODIFIED = 1 << 2,
	RC_MODE = 1 << 3,
	RC_TYPE = 1 << 4,
};

struct review_diff_item {
	const struct review_entry *old; /* NULL when added */
	const struct review_entry *cur; /* NULL when removed */
	unsigned changes;               /* RC_* */
};

/* Compare two sorted snapshots; *ret is malloc'd (entries point into old and cur). */
int review_compare(const struct review_snap *old, const struct review_snap *cur,
		   struct review_diff_item **ret, size_t *ret_n);

const char *review_type_name(enum review_type t);
/* "entries", "depth", "files", "unreadable", "hash" for a REVIEW_HIT_* bit. */
const char *review_hit_name(unsigned bit);
/* Sort entries by path (review_scan and review_baseline_load do). */
void review_snap_sort(struct review_snap *s);
/* Hex SHA-256 of buf; "" if the digest fails. */
void review_sha256_hex(const void *buf, size_t len, char out[65]);
/* Percent-encoding of raw names for the manifest (bytes <= 0x20, >= 0x7f and '%'). */
char *review_pct_encode(const char *s, size_t len);
/* Reverse it; -EINVAL on a bad sequence or an encoded NUL. */
int review_pct_decode(const char *s, char **ret, size_t *ret_len);

#endif
