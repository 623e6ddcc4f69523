// SPDX-License-Identifier: MIT
/* wsync_int.h: the workspace sync engine's parts (docs/workspace-sync.md): its loop
 * (wsync_engine.c), comparing and copying paths (wsync_tree.c), its string map and
 * saved state (wsync_map.c). The engine is a child of sbx-guest running as the agent. */
#ifndef SBX_GUEST_WSYNC_INT_H
#define SBX_GUEST_WSYNC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proto.h"
#include "wsstate.h"

/* Names the engine makes for itself (temporary copies; proto.h's WSYNC_OWN_PREFIX)
 * are never synchronised. */
#define WSYNC_CONFLICT_TAG ".sbx-conflict-guest-"
#define WSYNC_DEPTH_MAX 128
#define WSYNC_WATCH_MAX 65536u   /* inotify watches on the local tree */

/* A string-keyed hash map; keys are copied, values owned by the caller. */
struct wmap_ent {
	char *key;
	void *val;
	struct wmap_ent *next;
};
struct wmap {
	struct wmap_ent **b;
	size_t nb, n;
};
void wmap_init(struct wmap *m);
void *wmap_get(const struct wmap *m, const char *k);
bool wmap_has(const struct wmap *m, const char *k);
/* Sets k; returns the value it replaced (NULL when new). */
void *wmap_put(struct wmap *m, const char *k, void *v);
/* Removes k; returns its value (NULL when absent). */
void *wmap_del(struct wmap *m, const char *k);
/* Every key (malloc'd array of the map's own key pointers, sorted by strcmp). */
const char **wmap_keys_sorted(const struct wmap *m, size_t *ret_n);
void wmap_clear(struct wmap *m, void (*free_val)(void *));


/* The last state both sides agreed on. */
struct wbase {
	struct ws_state st;
	uint32_t gen;
};

struct wsync {
	int lroot, sroot;      /* dirfds: the local copy, the share */
	int statedir;          /* dirfd of the engine's own files */
	int sock;              /* SOCK_SEQPACKET to sbx-guest */
	int ino;               /* inotify on the local copy */
	int sigfd;
	struct wmap base;      /* rel -> struct wbase */
	struct wmap dirty;     /* rel -> NULL: to compare soon */
	struct wmap wds;       /* "wd" -> rel (char *) */
	struct wmap failed;    /* rel -> struct ws_state: reported as not synced */
	unsigned nwatch;
	bool watch_full;
	uint32_t gen;
	bool base_changed;
	bool rescan;
	uint64_t first_dirty_ms, last_dirty_ms, saved_ms, next_scan_ms;
	uint32_t conflicts;
	time_t last_sync;
	/* the parent directories last opened on both sides (siblings come one after the
	 * other: on the uncached share each open is a round trip per component); dropped
	 * at every pass and whenever the engine changes a directory */
	char *pc_rel;
	int pc_l, pc_s;
	/* guest -> host in batches to the host's writer (wsync_batch.c) */
	bool fast;             /* the host has a writer and READY was said */
	int no_fast;           /* > 0: inside a comparison that acts on what it copies */
	struct wbatch *cur;    /* being filled */
	struct wbatch *out;    /* sent, oldest first, waiting for the answer */
	unsigned nout;
	uint32_t next_id;
	struct wmap inflight;  /* rel -> NULL: in a batch of this pass */
	struct wmap slow;      /* rel -> (void *)1 deep, (void *)2 not: compare the usual way after the answers */
	struct wdefer *defer;  /* host messages that came while answers were awaited */
	size_t ndefer;
};
void wsync_parents_drop(struct wsync *w);

/* wsync_tree.c */
/* Compare rel (depth: of the recursion) as below. */
int wsync_sync_one(struct wsync *w, const char *rel, int depth, bool deep);
/* The agreed state of rel is st / gone. */
void wsync_base_set(struct wsync *w, const char *rel, const struct ws_state *st);
void wsync_base_del(struct wsync *w, const char *rel);
char *wsync_child_rel(const char *rel, const char *name);
/* Bring rel ("" = the root) to one state on both sides; deep: also every entry below
 * a directory that is not new. 0 or -errno (the path stays for a later pass). */
int wsync_path(struct wsync *w, const char *rel, bool deep);
/* Compare everything, then forget what neither side has any more. */
int wsync_full_scan(struct wsync *w);
/* A relative path the engine accepts from the host: no "", "/", ".", ".." components. */
bool wsync_rel_valid(const char *rel);
bool wsync_is_own(const char *rel);
/* A directory beneath root ("" = root), never through a symlink; fd or -errno. */
int wsync_open_dir(int root, const char *rel);

/* wsync_engine.c: tell sbx-guest (and the host) about a conflict or a path not synced */
void wsync_event(struct wsync *w, uint32_t kind, const char *rel, const char *msg);

/* wsync_batch.c. A guest change of rel (the local copy differs from the agreed state)
 * goes into a batch for the host's writer, with the agreed state as the host state to
 * expect: 1. What cannot (large files, type changes from or to a directory, special
 * mode bits, or a comparison that must wait for the batches of this pass): 0, or 1 when
 * it was put on the list compared after them. -errno: nothing decided. */
int wsync_batch_try(struct wsync *w, const char *rel, int depth, bool deep);
/* Send what is batched, wait for every answer (the agreed states of what was written),
 * then compare the usual way what the writer refused or could not do, and what waited. */
void wsync_batch_finish(struct wsync *w);
/* A host message that came while answers were awaited (malloc'd, the caller frees);
 * false when there is none. */
bool wsync_batch_deferred(struct wsync *w, uint8_t **ret_msg, size_t *ret_len);
/* A host request someone waits for (WS_SEQ, non-zero): never dropped on the way to the
 * engine nor by it (the host sends one per waiting client). */
bool wsync_msg_awaited(const uint8_t *data, size_t len);

/* wsync_map.c: the saved state (statedir/state) */
int wsync_state_load(struct wsync *w);
int wsync_state_save(struct wsync *w);

/* Runs the engine until SIGTERM (then flushes) or until sbx-guest goes away. */
int wsync_engine_run(int lroot, int sroot, int statedir, int sock, bool writer);

#endif
