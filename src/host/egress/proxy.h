// SPDX-License-Identifier: MIT
/* proxy.h: sbxd's egress engine: forward proxy, transparent connections and DNS
 * answers, policy-checked, with an audit log. Lives in sbxd's epoll loop. */
#ifndef SBX_PROXY_H
#define SBX_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ev.h"
#include "paths.h"

struct proxy;
struct pconn;
struct ca;

/* How the engine talks to its downstream (a guest stream, or a TCP client for the
 * bench entry point). */
struct proxy_down_ops {
	/* Queue bytes toward the client; returns how many were taken (credit), 0 = none now:
	 * the engine waits for proxy_conn_writable(). */
	size_t (*write)(void *down, const uint8_t *data, size_t len);
	/* The engine consumed n bytes of client input (sent upstream or parsed): return
	 * that much credit to the client. */
	void (*consumed)(void *down, size_t n);
	void (*close)(void *down);   /* no more bytes toward the client (half-close) */
	void (*reset)(void *down);   /* abort; the engine forgets the downstream after this */
};

enum proxy_path { PROXY_FORWARD, PROXY_TRANSPARENT, PROXY_DNS };

/* One engine per process. epfd: the loop the engine adds its fds to (EV_PROXY). */
int proxy_new(const struct sbx_paths *p, int epfd, struct proxy **ret);
void proxy_free(struct proxy *px);
/* Dispatch for EV_PROXY fds. */
void proxy_on_event(struct proxy *px, struct evsrc *ev, uint32_t events);
/* Called every ~200 ms: timeouts, policy/settings reload (changes apply within 1 s). */
void proxy_tick(struct proxy *px);

/* A new downstream connection for sandbox `sandbox`. For PROXY_TRANSPARENT, orig_dst
 * is the address the guest dialled. Returns NULL on allocation failure only. */
struct pconn *proxy_conn_new(struct proxy *px, enum proxy_path path, const char *sandbox,
			     const struct sockaddr *orig_dst, bool dns_tcp,
			     const struct proxy_down_ops *ops, void *down);
/* Client bytes (the engine buffers at most what the stream's window allows). */
void proxy_conn_input(struct pconn *c, const uint8_t *data, size_t len);
void proxy_conn_input_eof(struct pconn *c);
void proxy_conn_writable(struct pconn *c);
/* The downstream is gone: free everything (no ops are called after this). */
void proxy_conn_abort(struct pconn *c);

/*
 * Enable interception: ca is owned by the caller and outlives px. env_lookup returns the
 * caller-environment KEY=VALUE list handed over by `sbx run/create` for a sandbox (may be
 * NULL; the engine never stores it).
 *
 * From then on a CONNECT to port 443 of a host that receives a credential (a service
 * host with a value in the secret store or that list), or any CONNECT to port 443 when
 * proxy.inspect is "all", is terminated with a leaf certificate for exactly that host;
 * each request on it must carry that Host, gets the service's auth headers replaced by
 * the real one, and goes out over TLS verified against the system CAs plus
 * proxy.upstreamCA. Every other tunnel stays end-to-end, and the transparent path is
 * never intercepted.
 */
void proxy_set_interception(struct proxy *px, struct ca *ca,
			    const char *const *(*env_lookup)(void *ctx, const char *sandbox), void *ctx);

/* Forget a sandbox's synthetic DNS addresses (sbx rm). */
void proxy_sandbox_gone(struct proxy *px, const char *sandbox);

/* Lifetime (added by the engine): a pconn ends when the engine calls ops->reset, or
 * when the downstream calls proxy_conn_abort() (typically once both directions are
 * closed: the engine called ops->close and the downstream delivered input_eof). ops
 * callbacks must not call back into the engine, except proxy_conn_abort(). */


#endif
