// SPDX-License-Identifier: MIT
/* daemon.h: sbxd internals shared by daemon.c (loop, clients, requests) and
 * sandbox.c (VM lifecycle, guest channel, exec relays). */
#ifndef SBX_DAEMON_H
#define SBX_DAEMON_H

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
#include "vm.h"

struct guestchan_events;
struct json_object;
struct mux;
struct sbxd;

enum sb_state { SB_STOPPED, SB_STARTING, SB_RUNNING, SB_STOPPING };

struct relay;

struct sandbox {
	struct sandbox *next;
	struct sbxd *d;
	struct spec spec;
	char *dir;         /* state/sandboxes/NAME */
	char *run_dir;     /* run/vms/NAME */
	enum sb_state state;
	struct vm_procs procs;
	struct evsrc qemu_ev;   /* pidfd of qemu; fd -1 when none */
	struct conn chan;       /* ev.fd -1 when not connected (guestchan.c) */
	const struct guestchan_events *chan_events;   /* the lifecycle's, for guestchan.c */
	uint64_t deadline_ms;   /* boot or stop deadline; 0 = none */
	uint64_t started_ms;
	uint64_t last_console_check_s;
	uint64_t relaunch_ms;   /* no HELLO by then: relaunch once (0 = watchdog off) */
	bool relaunched;        /* this start already used its relaunch */
	struct relay *relays;
	char *error;            /* why the last start failed */
	char **cred_env;        /* service variables of the last caller's environment (memory only) */
	char *agent_sock;       /* the last caller's SSH_AUTH_SOCK (memory only) */
	bool agent_enabled;     /* forwarding offered to this boot of the guest */
	unsigned egress_n;      /* live egress streams (egress.c), <= EGRESS_MAX_PER_SANDBOX */
	struct egress *egresses;        /* those streams (egress.c's list) */
	bool egress_tx_waiting;         /* some wait for room in the channel's output */
	uint64_t egress_refused_ms;      /* last refusal logged */
	unsigned long egress_refused;    /* refusals since then */
	int64_t open_tokens;    /* OPEN rate bucket (egress.c); < 0: held, in debt */
	uint64_t open_refill_ms;
	bool dead;              /* removed; freed at the end of the loop turn */
};

/* One exec session: a client stream relayed to a guest stream. */
struct relay {
	struct relay *next;            /* in sandbox->relays */
	struct sandbox *sb;
	struct client *cl;             /* NULL once the client is gone */
	uint32_t cid;                  /* stream on the client connection */
	uint32_t gid;                  /* stream on the guest channel, 0 until opened */
	struct json_object *req;       /* exec request until the guest stream opens */
	bool cli_closed, guest_closed;
};

enum wait_kind { WAIT_NONE, WAIT_START, WAIT_STOP };

struct client {
	struct client *next;
	struct sbxd *d;
	struct conn c;
	enum wait_kind wait;
	struct sandbox *wait_sb;
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

struct sbxd {
	struct sbx_paths *p;
	int epfd;
	struct ev_listen listen;
	struct evsrc signal_ev, timer_ev;
	int lock_fd;
	struct sandbox *sandboxes;
	struct broken_sandbox *broken; /* found at start-up; see struct broken_sandbox */
	struct client *clients;
	enum accel accel;
	char *accel_reason;
	unsigned boot_timeout_ms;
	uint64_t heap_trim_ms;        /* last heap_trim_tick() check */
	struct proxy *proxy;          /* egress engine */
	struct ca *ca;                /* sbx's CA (NULL: interception disabled, see log) */
	struct audit *audit;          /* audit log writer for the SSH agent filter */
	dev_t exe_dev;                /* the binary this daemon runs, to notice a rebuild */
	ino_t exe_ino;
	struct egress *egress_dead;   /* ended egress streams, freed after the loop turn */
	unsigned egress_n;            /* live egress streams of all sandboxes */
	unsigned egress_max;          /* EGRESS_MAX_TOTAL, lower when RLIMIT_NOFILE is */
	bool quit;
};

/* daemon.c */
void client_reply(struct client *cl, struct json_object *resp);   /* takes resp */
void client_reply_error(struct client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sandbox.c and relay.c */
struct sandbox *sandbox_find(struct sbxd *d, const char *name);
/* Why sandbox NAME is broken (the message names the file), or NULL. */
const char *sandbox_broken(struct sbxd *d, const char *name);
void sandbox_broken_free_all(struct sbxd *d);
int sandbox_load_all(struct sbxd *d);
int sandbox_create(struct sbxd *d, struct spec *spec, char **ret_err, struct sandbox **ret);
int sandbox_start(struct sandbox *sb, char **ret_err);
int sandbox_stop(struct sandbox *sb);
int sandbox_remove(struct sandbox *sb, bool force, char **ret_err);
const char *sandbox_state_name(enum sb_state s);
void sandbox_on_qemu_exit(struct sandbox *sb);
void sandbox_tick(struct sandbox *sb, uint64_t now);
void sandbox_free(struct sandbox *sb);
/* A client asked to exec in sb: the relay starts the VM if needed and opens the guest
 * stream once the guest is ready. */
int relay_new(struct client *cl, uint32_t cid, struct sandbox *sb, struct json_object *req, char **ret_err);
void relay_client_data(struct relay *r, uint16_t flags, const uint8_t *data, size_t len);
void relay_client_ctrl(struct relay *r, const uint8_t *data, size_t len);
void relay_client_window(struct relay *r, uint32_t credit);
void relay_client_close(struct relay *r);
void relay_client_gone(struct relay *r);   /* client reset the stream or disconnected */
void relays_detach_client(struct sbxd *d, struct client *cl);
/* relay.c internals used by the channel code in guestchan.c. */
void relay_open_guest(struct relay *r);   /* the guest is ready: open its stream */
void relay_fail(struct relay *r, const char *msg);   /* tell the client, end both streams */
void relay_free(struct relay *r);
/* Called when the sandbox's state changed: answer waiting clients. */
void clients_notify(struct sbxd *d, struct sandbox *sb);
/* The create request's SSH agent socket, and the caller's service variables the client
 * sent just before it (*cred_env, taken over when have_cred is true). */
void sandbox_take_cred_env(struct sandbox *sb, struct json_object *req, bool have_cred, char ***cred_env);

int daemon_main(struct sbx_paths *p, bool foreground);

#endif
