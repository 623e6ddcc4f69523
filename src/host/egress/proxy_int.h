// SPDX-License-Identifier: MIT
/* proxy_int.h: the egress engine's internal state, shared by proxy.c (core, forward and
 * transparent paths) and proxy_dns.c (DNS path). Not for other modules. */
#ifndef SBX_PROXY_INT_H
#define SBX_PROXY_INT_H

#include <ares.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "audit.h"
#include "hostaddr.h"
#include "buf.h"
#include "policy.h"
#include "proxy.h"
#include "proxy_dns.h"
#include "proxy_http.h"
#include "settings.h"

struct service_host;
struct ptls;
struct pxicpt;

#define PROXY_IN_MAX (1024u * 1024u)     /* client bytes not yet consumed (>= a mux window) */
#define PROXY_OUT_MAX (256u * 1024u)     /* bytes toward the client not yet taken */
#define PROXY_UOUT_MAX (256u * 1024u)    /* bytes toward the upstream (rewritten heads) */
#define PROXY_ADDRS_MAX 16
#define PROXY_HEAD_TIMEOUT_MS 30000u     /* no complete request head / first bytes */
#define PROXY_CONNECT_TIMEOUT_MS 10000u
#define PROXY_LINGER_TIMEOUT_MS 30000u   /* after we closed: wait this long for the client's EOF */
#define PROXY_DNS_TTL 60u
#define PROXY_REUSE_IDLE_MS 2000u        /* older idle upstreams may be closing: reconnect */

/* A bounded byte buffer: data[off, off+len), grown on demand up to max. */
/* A pending c-ares lookup. conn is cleared when the connection goes first. */
struct plookup {
	struct proxy *px;
	struct pconn *conn;
	uint16_t port;
};

struct ares_slot {
	struct evsrc ev;    /* fd -1: free */
};

/* One sandbox's synthetic DNS answers. */
struct psandbox {
	struct psandbox *next;
	char *name;
	struct dns_table *table;
};

struct proxy {
	const struct sbx_paths *paths;
	int epfd;
	struct policy *pol;           /* NULL: no preset chosen (everything denied) */
	struct settings *set;
	char *dns_csv;                /* proxy.dnsServers applied to the channel, NULL: system */
	bool dns_pending;             /* servers still to apply (channel was busy) */
	bool pol_warned, set_warned;  /* said once that a file is unusable */
	struct audit *audit;
	ares_channel ares;
	struct ares_slot **slots;
	size_t nslots;
	struct pconn *conns;
	struct psandbox *sandboxes;
	uint64_t gen;                 /* tick generation, for deferred frees */
	struct pxicpt *icpt;          /* interception (proxy_tls.c); NULL: disabled */
	struct hostaddr *hosts;       /* is an address this host's own (never for guests) */
};

enum pstate {
	/* forward */
	PS_HEAD,          /* waiting for a request head */
	PS_ROUTE,         /* resolving / connecting */
	PS_HTTP,          /* request body and response in flight */
	PS_PEEK,          /* CONNECT: 200 sent, peeking the ClientHello / transparent: first bytes */
	PS_TUNNEL,        /* raw bytes both ways */
	PS_CLOSING,       /* final answer queued: drain, then close; input discarded */
	PS_TLS,           /* CONNECT intercepted: TLS both ways, requests parsed (proxy_tls.c) */
	/* dns */
	PS_DNS_READ,
	PS_DNS_LOOKUP,
};

/* What the routing step decided; written to the audit log. */
struct proute {
	char *host;                   /* normalised */
	uint16_t port;
	bool is_ip;
	bool trusted;                 /* proxy.resolve or host.docker.internal: no class or host check */
	bool host_addr;               /* the address refused (or checked last) is the host's own */
	char rule[300];
	char reason[160];
	bool names_port;              /* policy: a rule names this port (raw tunnels allowed) */
	char addr[INET6_ADDRSTRLEN];  /* the address connected to (or refused) */
	struct sockaddr_storage addrs[PROXY_ADDRS_MAX];
	socklen_t alens[PROXY_ADDRS_MAX];
	int naddrs, next;
};

struct pconn {
	struct proxy *px;
	struct pconn *next, *prev;
	enum proxy_path path;
	char *sandbox;
	const struct proxy_down_ops *ops;
	void *down;                   /* NULL once the downstream is gone */
	bool dead;
	uint64_t dead_gen;
	enum pstate st;
	uint64_t deadline;            /* now_ms() value; 0: none */

	struct buf in;               /* client -> engine, not yet consumed */
	bool in_eof;
	struct buf out;              /* engine -> client, not yet taken by ops->write */
	bool down_closed;             /* ops->close called */
	bool close_after_flush;

	struct evsrc uev;             /* upstream socket (fd -1: none) */
	bool u_connected;
	bool u_eof;
	bool u_shut;                  /* SHUT_WR sent */
	struct buf uout;             /* rewritten heads toward the upstream */
	size_t body_pending;          /* framed request-body bytes at the front of in */
	struct buf uin;              /* upstream bytes awaiting HTTP response framing */

	struct proute rt;
	struct plookup *lk;
	char *ukey;                   /* "host:port" of the open upstream, for keep-alive reuse */
	struct sockaddr_storage uss;  /* the address it is connected to */
	socklen_t ulen;
	bool utrusted;
	uint64_t u_idle_since;

	/* forward path, per request */
	struct http_scan scan;
	struct http_msg req;
	bool have_req;
	bool is_connect;
	bool req_close;               /* close the client connection after this exchange */
	char *req_path;
	struct http_scan rscan;
	size_t resp_hl;               /* a complete response head waiting for room in out */
	struct http_msg resp;
	bool have_resp;
	bool resp_done;
	bool head_req;
	int status;                   /* upstream status of the current exchange */

	/* plain HTTP bound to one name: transparent HTTP, and HTTP inside a CONNECT. Every
	 * request is parsed, must be origin-form with a Host naming bound_host (else 421),
	 * is checked against the policy and audited. NULL: absolute-form forward proxy
	 * requests (each routed by its own URL), or a transparent connection whose first
	 * request has not named it yet. */
	char *bound_host;
	uint16_t bound_port;
	bool raw;                     /* transparent: neither TLS nor HTTP: needs rt.names_port */

	/* interception (proxy_tls.c) */
	bool intercept;               /* decided for this CONNECT: take over after the SNI check */
	const struct service_host *svc_host;   /* credential host, NULL: inspect only */
	struct ptls *tls;             /* state while st == PS_TLS */

	/* transparent path */
	struct sockaddr_storage orig;
	bool have_orig;
	char *peek_name;

	/* dns path */
	bool dns_tcp;
	uint8_t *dns_q;
	size_t dns_qlen;
	uint16_t dns_qtype;
	uint16_t dns_id;
};

/* proxy.c: buffers, connections, upstream socket */
void pconn_out(struct pconn *c, const void *data, size_t len);   /* queue toward the client */
void pconn_flush(struct pconn *c);
void pconn_finish(struct pconn *c);    /* flush, then half-close toward the client */
void pconn_reset(struct pconn *c);     /* abort the downstream and forget it */
void pconn_consume(struct pconn *c, size_t n);   /* client bytes done with: credit back */
void pconn_up_write(struct pconn *c);  /* uout, then request body / tunnel bytes from in */
void pconn_up_close(struct pconn *c);
void pconn_up_update(struct pconn *c);   /* epoll interest from the state */
void pconn_lookup_cancel(struct pconn *c);
void pconn_exchange_clear(struct pconn *c);
void pconn_free(struct pconn *c);      /* the memory of a dead connection (proxy_tick) */
void pconn_timeout(struct pconn *c);   /* its deadline passed: what that means in its state */

/* proxy_route.c */
void proxy_sa_text(const struct sockaddr_storage *ss, char *out, size_t n);
void proxy_route_clear(struct proute *rt);
/* Decide for host:port (policy, resolution, address checks, connect); continues in
 * proxy_route_connected() or proxy_route_fail(). */
void proxy_route_start(struct pconn *c, const char *raw_host, uint16_t port);
/* 403 (denied) or 502/504: audit, answer HTTP clients, reset the others. reason NULL:
 * c->rt.reason. */
void proxy_route_fail(struct pconn *c, int status, const char *reason);
void proxy_send_response(struct pconn *c, int status, const char *reason_phrase, const char *body);
void proxy_send_error(struct pconn *c, int status, const char *text);
/* Connect to the next address of c->rt (after a failure, the one after it). */
void proxy_route_try_connect(struct pconn *c);
struct dns_table *proxy_sandbox_table(struct proxy *px, const char *sandbox, bool create);
void proxy_audit(struct pconn *c, const char *host, uint16_t port, bool allowed, const char *rule,
		 const char *reason, int status);
/* Start an asynchronous lookup of name; lookup_cb continues in the path's code (the
 * callback may run before this returns). */
int proxy_lookup(struct pconn *c, const char *name);
/* Check every address against the policy and the internal ranges: 0 when all pass,
 * else -EACCES with c->rt.rule/reason/addr set. */
int proxy_check_addrs(struct pconn *c, uint16_t port);
/* Is there a proxy.resolve mapping for name on any port? */
bool proxy_resolve_has_name(struct proxy *px, const char *name);

/* proxy_fwd.c */
void proxy_route_connected(struct pconn *c);
void proxy_fwd_input(struct pconn *c);
void proxy_fwd_response(struct pconn *c);
void proxy_tp_peek(struct pconn *c, bool timeout);

/* proxy_tls.c: see proxy_tls.h */

/* proxy_dns.c */
void proxy_dns_input(struct pconn *c);
void proxy_dns_lookup_done(struct pconn *c, int status);

#endif
