// SPDX-License-Identifier: MIT
/* sbxd.h: sbxd's state, shared by the daemon (daemon.c), its sandboxes (sandbox.c,
 * guestchan.c, egress_streams.c), exec relays (exec_relay.c) and clients. Types only: the
 * functions are in daemon.h, sandbox.h, guestchan.h, exec_relay.h, egress_streams.h. */
#ifndef SBX_SBXD_H
#define SBX_SBXD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "accel.h"
#include "conn.h"
#include "ev.h"
#include "proxy.h"
#include "image.h"
#include "paths.h"
#include "spec.h"
#include "cgroup.h"
#include "vm.h"

struct guestchan_events;
struct wsync_host;
struct wsync_writer;
struct settings;
struct json_object;
struct mux;
struct sbxd;

enum sb_state { SB_STOPPED, SB_STARTING, SB_RUNNING, SB_STOPPING };

struct relay;
struct port_listener;
struct port_conn;

/* What a host-opened stream (odd id) of a guest channel belongs to: the first member of
 * the struct given to mux_set_user(), so that guestchan.c routes its frames. */
enum chan_owner { CHAN_OWNER_EXEC = 1, CHAN_OWNER_PORT };

struct sandbox {
	struct sandbox *next;
	struct sbxd *d;
	struct spec spec;
	char *dir;         /* state/sandboxes/NAME */
	char *run_dir;     /* run/vms/NAME */
	enum sb_state state;
	struct vm_procs procs;
	struct sb_cgroup cg;    /* its QEMU's and virtiofsd's, while running (cgroup.h) */
	struct evsrc qemu_ev;   /* pidfd of qemu; fd -1 when none */
	struct conn chan;       /* ev.fd -1 when not connected (guestchan.c) */
	const struct guestchan_events *chan_events;   /* the lifecycle's, for guestchan.c */
	char *chan_failed;      /* a start failure the guest reported, handed on once its reader is out of the mux */
	uint64_t deadline_ms;   /* boot or stop deadline; 0 = none */
	uint64_t started_ms;
	uint64_t last_console_check_s;
	uint64_t relaunch_ms;   /* no HELLO by then: relaunch once (0 = watchdog off) */
	uint64_t last_active_ms;        /* idle.c: last exec session, egress stream or busy CPU */
	uint64_t cpu_sample_ms, cpu_sample_usec;        /* idle.c: the last CPU sample */
	bool relaunched;        /* this start already used its relaunch */
	struct relay *relays;
	char *error;            /* why the last start failed */
	char **cred_env;        /* service variables of the last caller's environment (memory only) */
	char *agent_sock;       /* the last caller's SSH_AUTH_SOCK (memory only) */
	bool agent_enabled;     /* forwarding offered to this boot of the guest */
	unsigned egress_n;      /* live egress streams (egress_streams.c), <= EGRESS_MAX_PER_SANDBOX */
	struct egress *egresses;        /* those streams (egress_streams.c's list) */
	bool egress_tx_waiting;         /* some wait for room in the channel's output */
	uint64_t egress_refused_ms;      /* last refusal logged */
	unsigned long egress_refused;    /* refusals since then */
	int64_t open_tokens;    /* OPEN rate bucket (egress_streams.c); < 0: held, in debt */
	uint64_t open_refill_ms;
	struct port_listener *port_listeners;   /* ports.c: while running, one per published port */
	struct port_conn *port_conns;           /* ports.c: their connections */
	unsigned port_conn_n;                   /* <= PORTS_CONN_MAX */
	bool ports_tx_waiting;                  /* some wait for room in the channel's output */
	bool dead;              /* removed; freed at the end of the loop turn */
	/* warm pool (pool.c, docs/warm-pool.md): on sbxd.pool, not sbxd.sandboxes, never
	 * sent OP_CONFIG and refused every stream until claimed */
	bool pooled;
	bool pool_ready;        /* its guest said HELLO */
	bool claim_config;      /* claimed: OP_CONFIG goes out once the create's caller is known */
	bool staged;            /* this boot's virtiofsd serves a stage (a claimed pool VM) */
	struct wsync_host *ws;  /* wsync_host.c: --workspace-mode sync while its guest runs */
	bool protect_git;       /* this boot's virtiofsd guards the git metadata (wsguard.h) */
};

/* One exec session: a client stream relayed to a guest stream. */
struct relay {
	enum chan_owner owner;         /* CHAN_OWNER_EXEC: first, see enum chan_owner */
	struct relay *next;            /* in sandbox->relays */
	struct sandbox *sb;
	struct client *cl;             /* NULL once the client is gone */
	uint32_t cid;                  /* stream on the client connection */
	uint32_t gid;                  /* stream on the guest channel, 0 until opened */
	struct json_object *req;       /* exec request until the guest stream opens */
	bool cli_closed, guest_closed;
};

enum wait_kind { WAIT_NONE, WAIT_START, WAIT_STOP, WAIT_SYNC };

struct client {
	struct client *next;
	struct sbxd *d;
	struct conn c;
	enum wait_kind wait;
	struct sandbox *wait_sb;
	uint32_t wait_seq;        /* WAIT_SYNC: the answer of this request (wsync_host.h) */
	char **cred_env;          /* OP_CRED_ENV for the next "create" (secrets_env_free) */
	bool have_cred_env;
	bool dead;
};

/* A sandbox whose state does not load (a corrupt spec.json, or a vm.json that no longer
 * says which VM runs): listed as broken with the reason, which names the file; never
 * started, stopped or removed by sbx, so nothing of it is lost while the user fixes it. */
struct broken_sandbox {
	char *name;
	char *error;
	struct broken_sandbox *next;
};

/* Warm pool VMs are kept for this many kinds of sandbox at most (pool.c). */
#define POOL_SHAPES_MAX 2

struct sbxd {
	struct sbx_paths *p;
	int epfd;
	struct ev_listen listen;
	struct evsrc signal_ev, timer_ev;
	int lock_fd;
	struct sandbox *sandboxes;
	struct sandbox *pool;         /* warm pool VMs (pool.c), booting or ready */
	unsigned pool_size;           /* pool.size */
	unsigned pool_seq;            /* pool VM names */
	uint64_t pool_retry_ms;       /* after a failed pool boot: not before then */
	unsigned pool_failures;       /* consecutive */
	uint64_t pool_check_ms;       /* last pool_tick() look */
	/* what new sandboxes were made of lately, most recent first: the pool keeps
	 * pool.size VMs of each (pool.c) */
	struct pool_shape {
		char *template_name;
		unsigned cpus, memory_mib;
		uid_t uid;
		gid_t gid;
		int64_t used;         /* unix seconds */
	} pool_shapes[POOL_SHAPES_MAX];
	unsigned pool_nshapes;
	struct broken_sandbox *broken; /* found at start-up; see struct broken_sandbox */
	struct client *clients;
	/* stopped sync-mode writers: an event of this loop turn may still name one; freed
	 * at its end (wsync_writer_reap) */
	struct wsync_writer *wsync_writers_dead;
	struct wsync_host *wsync_hosts_dead;   /* the same for the workspace watchers (wsync_host_reap) */
	enum accel accel;
	char *accel_reason;
	unsigned boot_timeout_ms;
	uint64_t heap_trim_ms;        /* last heap_trim_tick() check */
	uint64_t settings_check_ms;   /* last look at settings.json for idle_stop_ms */
	struct settings *settings;    /* as loaded then (NULL: none yet) */
	uint64_t idle_stop_ms;        /* sandbox.idleStop; 0: off */
	struct proxy *proxy;          /* egress engine */
	struct ca *ca;                /* sbx's CA (NULL: interception disabled, see log) */
	struct audit *audit;          /* audit log writer for the SSH agent filter */
	dev_t exe_dev;                /* the binary this daemon runs, to notice a rebuild */
	ino_t exe_ino;
	struct egress *egress_dead;   /* ended egress streams, freed after the loop turn */
	unsigned egress_n;            /* live egress streams of all sandboxes */
	unsigned egress_max;          /* EGRESS_MAX_TOTAL, lower when RLIMIT_NOFILE is */
	struct port_conn *port_dead;  /* ended published-port connections, freed after the loop turn */
	struct port_listener *port_ldead;
	unsigned port_conn_n;         /* <= PORTS_CONN_MAX_TOTAL */
	/* A sandbox's state changed: the daemon answers the clients waiting for it. The
	 * one way the lifecycle (sandbox.c) reaches the daemon's clients. */
	void (*sandbox_changed)(struct sbxd *d, struct sandbox *sb);
	bool quit;
};

#endif
