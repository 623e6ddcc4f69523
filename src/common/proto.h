// SPDX-License-Identifier: MIT
/* proto.h: the meaning of OPEN and CTRL payloads on the guest channel (all TLV). */
#ifndef SBX_PROTO_H
#define SBX_PROTO_H

#define SBX_PROTO_VERSION 1u
#define SBX_CHANNEL_PORT "sbx.ctl"   /* virtserialport name */
#define SBX_WS_TAG "sbxws"           /* virtiofs tag of the workspace */

/* HELLO payload tags (after the magic). */
enum {
	HELLO_VERSION = 1,  /* u32 */
	HELLO_KERNEL = 2,   /* str, guest only */
	HELLO_UPTIME_MS = 3,/* u32, guest only */
};

/* OPEN payload tags. */
enum {
	OPEN_KIND = 1,      /* str: "exec" or "tcp" from the host; proxy, tproxy, dns, ssh-agent from the guest */
	OPEN_ARG = 2,       /* str, repeated, argv in order; at least one */
	OPEN_ENV = 3,       /* str "K=V", repeated */
	OPEN_CWD = 4,       /* str absolute path */
	OPEN_USER = 5,      /* str: "agent" or "root" (or a name/uid the guest resolves) */
	OPEN_TTY = 6,       /* u32: rows << 16 | cols; present = allocate a pty */
	/* Guest-opened egress streams (kinds "proxy", "tproxy", "dns"):
	 *   proxy:  the bytes of one TCP connection a guest client made to 127.0.0.1:3128
	 *   tproxy: one redirected TCP connection; OPEN_DST_ADDR/PORT = its original destination
	 *   dns:    one query: u16 big-endian length + DNS message each way (as DNS over TCP);
	 *           the host answers once and closes */
	OPEN_DST_ADDR = 7,  /* 4 or 16 bytes, network order */
	OPEN_DST_PORT = 8,  /* u32; also the guest port of a host-opened "tcp" stream (published port) */
	OPEN_DNS_TCP = 9,   /* u32 1: the query came over TCP (else UDP) */
	/* kind "ssh-agent": one connection of a guest client to $SSH_AUTH_SOCK; the bytes
	 * are the SSH agent protocol (u32 length + message), filtered by the host. */
};

/* CTRL payloads start with CTRL_OP (u32), then op-specific tags. */
enum { CTRL_OP = 1 };
enum ctrl_op {
	/* stream 0, host -> guest */
	OP_CONFIG = 1,      /* CFG_* tags; guest answers OP_READY or OP_ERROR */
	OP_POWEROFF = 2,    /* sync, stop everything, power off */
	/* stream 0, guest -> host */
	OP_READY = 3,
	/* any stream, either way */
	OP_ERROR = 4,       /* CTRL_MSG str */
	/* exec stream, host -> guest */
	OP_RESIZE = 5,      /* CTRL_ROWS, CTRL_COLS */
	OP_SIGNAL = 6,      /* CTRL_SIGNO */
	/* exec stream, guest -> host: sent once, before the guest's CLOSE */
	OP_EXIT = 7,        /* CTRL_STATUS: exit code, or 128+n for signal n */
	/* stream 0 of a CLI connection, CLI -> sbxd, right before a "create" request: the
	 * caller's service variables (CTRL_ENV, repeated). Kept out of the JSON requests so
	 * that every copy of a value can be zeroed; no answer. */
	OP_CRED_ENV = 8,
	/* --workspace-mode sync (docs/workspace-sync.md), stream 0.
	 * host -> guest: WS_PATH (repeated: paths relative to the workspace that changed on
	 * the host), WS_RESCAN (u32 1: compare everything), WS_SEQ (u32, non-zero: answer
	 * with OP_WSYNC_STATE carrying it), WS_FLUSH (u32 1: answer only once every guest
	 * change made before reached the host). */
	OP_WSYNC = 9,
	/* guest -> host: WS_SEQ (0: unasked), WS_PENDING, WS_CONFLICTS, WS_ERRORS (u32
	 * counts), WS_LAST_SYNC (u32 unix seconds), WS_FLUSHED (u32 1: the queue was empty) */
	OP_WSYNC_STATE = 10,
	/* guest -> host: WS_KIND (WSEV_*), WS_PATH, CTRL_MSG (what happened) */
	OP_WSYNC_EVENT = 11,
	/* guest -> host, with CFG_WS_WRITER: a batch of guest changes for the host's writer
	 * (docs/workspace-sync.md): WS_BATCH (u32 id), then items, each starting with
	 * WS_ITEM (u32 WSI_*) and followed by WS_PATH, WS_EXPECT (the host state the engine
	 * compared against: the agreed state, or type 0 "absent"), and for WSI_FILE /
	 * WSI_SYMLINK / WSI_MKDIR: WS_MODE (u32), WS_MTIME (8 bytes LE, ns); WSI_FILE and
	 * WSI_SYMLINK: WS_DATA (contents, at most WS_INLINE_MAX; symlink target < WS_PATH_MAX).
	 * At most WS_ITEMS_PER_MSG items; the whole within one CTRL frame. */
	OP_WSYNC_PUT = 12,
	/* host -> guest: WS_BATCH, then one WS_RESULT (u32: 0 done, WSR_MISMATCH, or an
	 * errno) per item, in order; also WS_PATH + WS_EXPECT pairs naming what was written
	 * (for sbxd's echo filter; the engine ignores them) */
	OP_WSYNC_PUT_DONE = 13,
};
enum { WSEV_CONFLICT = 1, WSEV_NOT_SYNCED = 2 };
enum { WSI_FILE = 1, WSI_SYMLINK = 2, WSI_MKDIR = 3, WSI_REMOVE = 4 };
#define WSR_MISMATCH 0x10000u   /* the host path is not in the state the engine expected */
#define WS_INLINE_MAX (32u * 1024u)  /* larger files go through the share */
#define WS_ITEMS_PER_MSG 256u
#define WS_STATE_LEN 21u        /* WS_EXPECT: type u8, mode u32, size u64, mtime_ns i64 (LE) */
#define WS_PATH_MAX 4096u     /* bytes of one relative path, either way */
#define WS_PATHS_PER_MSG 256u /* WS_PATH entries in one OP_WSYNC */
#define WSYNC_OWN_PREFIX ".sbx-wsync."  /* the engine's temporary names: never synced */
enum {
	CTRL_MSG = 2,       /* str */
	CTRL_ROWS = 3,      /* u32 */
	CTRL_COLS = 4,      /* u32 */
	CTRL_SIGNO = 5,     /* u32 */
	CTRL_STATUS = 6,    /* i32 */
	CTRL_ENV = 7,       /* str "K=V" */
	/* u32 1, in sbxd's OP_READY of an exec stream to the CLI: the workspace is the share
	 * itself (no --workspace-mode sync), so nothing needs flushing after the command */
	CTRL_WS_SHARE = 8,
	CFG_HOSTNAME = 10,  /* str */
	CFG_WORKSPACE = 11, /* str absolute path: mount SBX_WS_TAG there */
	CFG_UID = 12,       /* u32: uid of user "agent" */
	CFG_GID = 13,       /* u32 */
	CFG_ENV = 14,       /* str "K=V", repeated: default environment of every exec */
	CFG_TIME_NS = 15,   /* u64 as 8 bytes LE: host CLOCK_REALTIME, to set the guest clock */
	CFG_SSH_AGENT = 16, /* u32 1: serve SSH_AUTH_SOCK in the guest (ssh-agent streams) */
	CFG_CA_PEM = 17,    /* str: sbx's CA certificate (PEM) to trust in the guest */
	/* str absolute path, repeated (a --branch sandbox: its worktree and the git
	 * directory): SBX_WS_TAG then holds a tree of these host paths, each to be bound
	 * at the same path; CFG_WORKSPACE is one of them */
	CFG_SHARE_PATH = 18,
	/* 32 bytes from the host's getrandom, credited to the guest's entropy pool before
	 * anything else is applied (a warm pool VM booted long before its claim) */
	CFG_SEED = 19,
	/* u32 1: --workspace-mode sync: the share goes to a hidden place and the workspace
	 * is a copy on the guest's disk kept in step with it (docs/workspace-sync.md) */
	CFG_WS_SYNC = 20,
	/* str, repeated (at most LOCAL_DIRS_MAX): a directory of the workspace, relative
	 * (local_dir_valid), that lives on the guest's own disk instead (sbx run --local) */
	CFG_LOCAL_DIR = 21,
	WS_PATH = 30,       /* str */
	WS_RESCAN = 31,     /* u32 */
	WS_SEQ = 32,        /* u32 */
	WS_FLUSH = 33,      /* u32 */
	WS_PENDING = 34,    /* u32 */
	WS_CONFLICTS = 35,  /* u32 */
	WS_ERRORS = 36,     /* u32 */
	WS_LAST_SYNC = 37,  /* u32 */
	WS_FLUSHED = 38,    /* u32 */
	WS_KIND = 39,       /* u32 */
	/* u32 1: sbxd runs a writer for OP_WSYNC_PUT (with CFG_WS_SYNC) */
	CFG_WS_WRITER = 22,
	WS_BATCH = 40,      /* u32 */
	WS_ITEM = 41,       /* u32 WSI_* */
	WS_EXPECT = 42,     /* WS_STATE_LEN bytes */
	WS_MODE = 43,       /* u32 */
	WS_MTIME = 44,      /* 8 bytes LE */
	WS_DATA = 45,       /* bytes */
	WS_RESULT = 46,     /* u32 */
};

/* Exit status for exec failures inside the guest, as shells use them. */
#define EXEC_STATUS_NOT_EXEC 126
#define EXEC_STATUS_NOT_FOUND 127

#endif
