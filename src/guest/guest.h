// SPDX-License-Identifier: MIT
/* guest.h: sbx-guest (the VM's PID 1): the process context every handler gets. */
#ifndef SBX_GUEST_H
#define SBX_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"

/* RLIMIT_NOFILE of sbx-guest itself (egress relays are fds); its children get
 * GUEST_CHILD_NOFILE, the usual soft default, with this as the hard limit. */
#define GUEST_NOFILE 8192u
#define GUEST_CHILD_NOFILE 1024u

struct mux;
struct exec;
struct egress;

/*
 * One process context, passed to every handler. Its parts live in files of their
 * own, each with its header: loop.h (watched fds), console.h, power.h, mounts.h,
 * modules.h, chan.h, ctl.h, exec.h, egress.h, sshagent.h, dockerd.h. main.c owns
 * the loop and the boot sequence; no other file calls into it.
 */

enum port_state { PORT_NONE, PORT_WAIT, PORT_UP };

/* The first member of whatever a stream's owner hangs on it (mux_set_user): chan.c
 * routes host-opened streams (odd ids) by it, to exec.c or (published ports) egress.c. */
enum stream_owner { STREAM_OWNER_EXEC = 1, STREAM_OWNER_EGRESS };

struct guest {
	int epfd;
	struct watch sig;     /* signalfd for SIGCHLD */

	/* channel */
	enum port_state port_state;
	struct watch port;
	char *port_path;
	uint64_t port_next_ms;   /* next rescan (NONE) or connection poll (WAIT) */
	uint64_t port_since_ms;  /* when scanning started, to slow down later */
	bool port_warned;        /* "port not found" logged once */
	struct mux *mux;
	bool session_broken;     /* protocol violation: reset after the current read */

	/* configuration from the host (OP_CONFIG) */
	char *workspace;         /* mounted workspace path, or NULL */
	char **cfg_env;          /* "K=V" strings */
	size_t cfg_env_n;

	/* exec sessions */
	struct exec *execs;      /* live sessions */
	struct exec *graveyard;  /* unlinked, freed at the end of the loop iteration */
	size_t exec_count;

	uint8_t *iobuf;          /* scratch for child output */
	size_t iobuf_size;

	struct egress *egress;   /* egress.h: listeners, relays, DNS stub */
	struct watch ssh_agent;  /* sshagent.h: SSH_AUTH_SOCK listener, fd -1 when off */
	/* dockerd.c: the socket dockerd is started on; fd -1 when not armed (no dockerd
	 * on the disk, before the first configuration, or given up) */
	struct watch docker_sock;
	pid_t dockerd_pid;       /* 0 when not running */
	uint64_t dockerd_start_ms;
	unsigned dockerd_quick;  /* exits in a row soon after the start */
	char *pool_probe;        /* sbx.poolprobe=URL (tests): fetched while a warm pool VM */
	bool fail_config;        /* sbx.failconfig=1 (tests): a named configuration is refused */

	/* --workspace-mode sync (wsync.c): the engine and its socket; fd -1 when none */
	struct watch wsync;
	pid_t wsync_pid;
	bool wsync_ready_wait;   /* OP_READY waits for the engine's first comparison */
	struct wsync_q *wsync_q; /* wsync.c: host messages the busy engine did not take yet */
};

#endif
