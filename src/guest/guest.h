// SPDX-License-Identifier: MIT
/* guest.h: sbx-guest (the VM's PID 1): the process context and the interfaces between its parts. */
#ifndef SBX_GUEST_H
#define SBX_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* RLIMIT_NOFILE of sbx-guest itself (egress relays are fds); its children get
 * GUEST_CHILD_NOFILE, the usual soft default, with this as the hard limit. */
#define GUEST_NOFILE 8192u
#define GUEST_CHILD_NOFILE 1024u

struct mux;
struct exec;
struct egress;

/*
 * Theory of operation.
 *
 * One thread, one epoll set, level-triggered. Every registered fd carries a
 * struct watch (epoll data.ptr) that says what it is and who owns it. Owners that
 * go away during an iteration are unlinked at once but freed only at the end of
 * the iteration (exec_collect()), so events already fetched for them are skipped
 * safely (their watch fd is -1).
 *
 * The channel port has three states: NONE (not found yet, rescanned on a timer),
 * WAIT (open, but no host connected: the port reports POLLHUP and read() gives 0,
 * so it stays out of epoll and is polled on a timer) and UP (in epoll; input is
 * fed to the mux, output is flushed after every iteration).
 */

enum watch_kind {
	WATCH_SIGNAL,
	WATCH_PORT,
	WATCH_EXEC_OUT,    /* child's stdout pipe, or the pty master (also stdin then) */
	WATCH_EXEC_ERR,    /* child's stderr pipe */
	WATCH_EXEC_IN,     /* child's stdin pipe (write end) */
	WATCH_EXEC_STATUS, /* CLOEXEC pipe: EOF = exec succeeded; data = failure message */
	WATCH_EGRESS_LISTEN,   /* egress listener (proxy, transparent, DNS over TCP) */
	WATCH_EGRESS_RELAY,    /* a relayed proxy/tproxy connection */
	WATCH_EGRESS_DNS_UDP,  /* the DNS stub's UDP socket */
	WATCH_EGRESS_DNS_CONN, /* a DNS-over-TCP client connection */
	WATCH_SSH_AGENT_LISTEN, /* SSH_AUTH_SOCK (sshagent.c) */
};

struct watch {
	int fd;               /* -1 when closed */
	enum watch_kind kind;
	uint32_t events;      /* currently registered events; 0 = not in epoll */
	void *owner;
};

enum port_state { PORT_NONE, PORT_WAIT, PORT_UP };

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
	pid_t dockerd_pid;       /* dockerd.c: 0 when not running */
};

/* dockerd.c: start the VM's own dockerd once, if the root disk has one; true when
 * pid was it (reaped). */
void dockerd_start(struct guest *g);
bool dockerd_exited(struct guest *g, pid_t pid, int wstatus);

/* main.c */
int watch_set(struct guest *g, struct watch *w, uint32_t events);
void watch_close(struct guest *g, struct watch *w);
/* Stop everything, sync, unmount, power off. Never returns. */
void guest_poweroff(struct guest *g, const char *why) __attribute__((noreturn));
/* Write one line to the console, without prefix (boot markers). */
void console_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t uptime_ms(void);

/* mounts.c */
int mounts_early(void);
/* Wait for the root disk, mount it and make it "/". Powers off when it never shows. */
void mounts_switch_root(void);
void mounts_late(void);
int mounts_workspace(const char *path);
/* A --branch share: SBX_WS_TAG holds these absolute paths (at most 4); bind each. */
int mounts_share_paths(char *const *paths, size_t n);
int mounts_is_mountpoint(const char *path, const char *fstype);
void mounts_final(const char *workspace);
int net_loopback_up(void);

/* modules.c */
void modules_load(const char *list_path);

/* chan.c */
int chan_init(struct guest *g);
void chan_on_event(struct guest *g, uint32_t events);
/* Timer work: rescan/poll the port. */
void chan_tick(struct guest *g, uint64_t now);
/* ms until chan_tick wants to run, or -1. */
int chan_timeout(struct guest *g, uint64_t now);
void chan_flush(struct guest *g);

/* ctl.c: stream 0 control messages */
void ctl_on_ctrl(struct guest *g, const uint8_t *data, size_t len);
/* Send CTRL {OP=op, MSG=msg if not NULL} on id. */
int ctl_send(struct guest *g, uint32_t id, uint32_t op, const char *msg);

/* exec.c */
int exec_open(struct guest *g, uint32_t id, const uint8_t *args, size_t len);
void exec_on_data(struct guest *g, uint32_t id, const uint8_t *data, size_t len);
void exec_on_ctrl(struct guest *g, uint32_t id, const uint8_t *data, size_t len);
void exec_on_window(struct guest *g, uint32_t id);
void exec_on_close(struct guest *g, uint32_t id);
void exec_on_reset(struct guest *g, uint32_t id);
void exec_on_event(struct guest *g, struct watch *w, uint32_t events);
void exec_child_exited(struct guest *g, pid_t pid, int wstatus);
/* Kill every session's process group and forget every session. */
void exec_kill_all(struct guest *g);
void exec_tick(struct guest *g, uint64_t now);
int exec_timeout(struct guest *g, uint64_t now);
/* Free sessions unlinked during this iteration. */
void exec_collect(struct guest *g);

#endif
